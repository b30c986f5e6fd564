"""PNG plots of the benchmark results, next to the markdown tables.

matplotlib comes from the ``bench`` extra (``make bench`` installs it), not from
the runtime dependencies: without it the benchmarks still print their tables and
say that the plot was skipped.  Plots are written with the non-interactive Agg
backend, so no display is needed.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

#: One colour per corpus size / series, readable in colour and in greyscale.
COLOURS = ("#4C72B0", "#DD8452", "#55A868", "#C44E52", "#8172B3", "#937860")


def _pyplot() -> Any | None:
    try:
        import matplotlib
    except ImportError:
        print("plot skipped: matplotlib is not installed (make bench-deps, or pip install -e '.[bench]')",
              file=sys.stderr)
        return None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def latency_plot(
    path: Path,
    title: str,
    operations: Sequence[str],
    series: Mapping[str, Mapping[str, tuple[float, float]]],
    targets_ms: Mapping[str, float] | None = None,
    note: str = "",
) -> Path | None:
    """Horizontal grouped bars: for each operation one bar per series (corpus size),
    the full bar is p95 and the dark inner bar p50, on a log axis (latencies span
    0.01 ms to seconds).  ``series`` maps a label to {operation: (p50, p95)}."""
    plt = _pyplot()
    if plt is None:
        return None
    labels = list(series)
    n = max(len(labels), 1)
    height = 0.8 / n
    fig, ax = plt.subplots(figsize=(9, 1.6 + 0.55 * len(operations) * max(n, 2) / 2 + 0.6))
    for i, label in enumerate(labels):
        colour = COLOURS[i % len(COLOURS)]
        ys = [k + (i - (n - 1) / 2) * height for k in range(len(operations))]
        p50 = [series[label].get(op, (float("nan"), float("nan")))[0] for op in operations]
        p95 = [series[label].get(op, (float("nan"), float("nan")))[1] for op in operations]
        ax.barh(ys, p95, height=height * 0.92, color=colour, alpha=0.35, label=f"{label}: p95")
        ax.barh(ys, p50, height=height * 0.5, color=colour, alpha=1.0, label=f"{label}: p50")
        for y, v in zip(ys, p95, strict=True):
            if v == v:  # not NaN
                ax.text(v * 1.08, y, _ms(v), va="center", fontsize=7.5, color="#333333")
    for k, op in enumerate(operations):
        target = (targets_ms or {}).get(op)
        if target:
            ax.plot([target, target], [k - 0.45, k + 0.45], color="#C44E52", linestyle="--", linewidth=1.4)
            ax.text(target, k - 0.47, f" target p95 {target:.0f} ms", fontsize=7, color="#C44E52", va="bottom")
    ax.set_yticks(range(len(operations)))
    ax.set_yticklabels(operations)
    ax.invert_yaxis()
    ax.set_xscale("log")
    ax.set_xlabel("latency per call, ms (log scale): pale bar = p95, dark bar = p50")
    ax.set_title(title, fontsize=11)
    ax.grid(axis="x", which="major", alpha=0.3)
    smallest = min((v for ops in series.values() for pair in ops.values() for v in pair if v == v and v > 0),
                   default=0.01)
    _left, right = ax.get_xlim()
    ax.set_xlim(smallest / 2, right * 3)  # every bar visible; room for the value labels
    # The legend and the note go in a band below the axes that is kept free of them.
    fig_height = fig.get_size_inches()[1]
    note_band = 0.22 if note else 0.0
    legend_band = 0.3
    handles, names = ax.get_legend_handles_labels()
    fig.legend(handles, names, fontsize=7.5, loc="lower center", ncol=max(2, 2 * len(labels)), frameon=False,
               bbox_to_anchor=(0.5, note_band / fig_height))
    if note:
        fig.text(0.01, 0.04 / fig_height, note, fontsize=7, color="#555555", va="bottom")
    fig.tight_layout(rect=(0, (note_band + legend_band) / fig_height, 1, 1))
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=130)
    plt.close(fig)
    return path


def rate_plot(
    path: Path,
    title: str,
    rows: Sequence[tuple[str, float]],
    unit: str = "papers/s",
    note: str = "",
) -> Path | None:
    """Horizontal bars of throughput (log axis: a no-op re-ingest is ~100x a first ingest)."""
    plt = _pyplot()
    if plt is None:
        return None
    fig, ax = plt.subplots(figsize=(9, 1.4 + 0.45 * len(rows)))
    names = [name for name, _ in rows]
    values = [value for _, value in rows]
    ax.barh(range(len(rows)), values, color=[COLOURS[i % len(COLOURS)] for i in range(len(rows))])
    for i, v in enumerate(values):
        ax.text(v * 1.08, i, f"{v:,.1f} {unit}", va="center", fontsize=8)
    ax.set_yticks(range(len(rows)))
    ax.set_yticklabels(names)
    ax.invert_yaxis()
    ax.set_xscale("log")
    left, right = ax.get_xlim()
    ax.set_xlim(left, right * 4)
    ax.set_xlabel(f"{unit} (log scale; higher is better)")
    ax.set_title(title, fontsize=11)
    ax.grid(axis="x", which="major", alpha=0.3)
    return _save(plt, fig, path, note)


def bar_plot(
    path: Path,
    title: str,
    rows: Sequence[tuple[str, float]],
    unit: str,
    targets: Mapping[str, float] | None = None,
    note: str = "",
) -> Path | None:
    """Horizontal bars on a linear axis (lower is better), with a dashed mark on
    the rows that have a target; for memory and start-up times."""
    plt = _pyplot()
    if plt is None:
        return None
    fig, ax = plt.subplots(figsize=(9, 1.4 + 0.45 * len(rows)))
    values = [value for _, value in rows]
    ax.barh(range(len(rows)), values, color=[COLOURS[i % len(COLOURS)] for i in range(len(rows))])
    for i, (name, v) in enumerate(rows):
        ax.text(v, i, f" {v:,.2f} {unit}" if v < 10 else f" {v:,.0f} {unit}", va="center", fontsize=8)
        target = (targets or {}).get(name)
        if target:
            ax.plot([target, target], [i - 0.45, i + 0.45], color="#C44E52", linestyle="--", linewidth=1.4)
            ax.text(target, i - 0.47, f" target {target:g} {unit}", fontsize=7, color="#C44E52", va="bottom")
    ax.set_yticks(range(len(rows)))
    ax.set_yticklabels([name for name, _ in rows], fontsize=8)
    ax.invert_yaxis()
    _left, right = ax.get_xlim()
    ax.set_xlim(0, right * 1.2)
    ax.set_xlabel(f"{unit} (lower is better)")
    ax.set_title(title, fontsize=11)
    ax.grid(axis="x", alpha=0.3)
    return _save(plt, fig, path, note)


def _save(plt: Any, fig: Any, path: Path, note: str) -> Path:
    """The note in a strip under the axes, then the PNG; the figure is closed."""
    if note:
        fig.text(0.01, 0.005, note, fontsize=7, color="#555555", va="bottom")
    fig.tight_layout(rect=(0, 0.04 if note else 0, 1, 1))
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=130)
    plt.close(fig)
    return path


def _ms(v: float) -> str:
    return f"{v:.2f}" if v < 1 else f"{v:.1f}" if v < 100 else f"{v:.0f}"
