"""Ingest benchmark: how fast paperbot indexes the shared digests, and how cheap a re-run is.

Why: ingesting is meant to be incremental (README: "unchanged digests write
nothing"), and the embedding model is the one unavoidable cost of a first
ingest.  These numbers answer two questions with real data and the real
offline model:

* Is re-ingesting unchanged digests cheap?  Target: at most 10% of the first
  ingest, both for a second ``Engine.ingest`` in the same process (the bot) and
  for a fresh ``Engine`` on the same data dir (what a CLI re-run costs).
* How close is the first ingest to the embedding ceiling, i.e. the time just to
  embed one text per paper with :func:`index.embedding.embed_batch`?  The
  pipeline embeds several chunks per paper (the count is printed), so part of
  the gap is more text; the rest is parsing, LlamaIndex and Chroma overhead.
  The ceiling is timed inside each repeat, next to the first ingest, because
  CPU speed on a shared VM drifts too much for separate phases to compare.

Model load is done once before any timing and reported separately.  Prints a
markdown table and saves ``bench/out/ingest.png`` (papers/s per run; needs the
``bench`` extra, ``make bench-deps``).

Run from the repo root::

    .venv-dev/bin/python bench/ingest.py [--repeat 3] [--digests PATH ...]
"""

from __future__ import annotations

import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

import argparse  # noqa: E402
import logging  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from typing import Sequence  # noqa: E402

from config import Settings  # noqa: E402
from index.engine import Engine  # noqa: E402
from index.pipeline import IngestReport  # noqa: E402

DIGESTS_DIR = REPO_ROOT.parent / "shared" / "data" / "digests"
DEFAULT_DIGESTS = (
    DIGESTS_DIR / "weekly-digest-2024-08-26_2024-10-06.md",
    DIGESTS_DIR / "papers-table-2024-06-29_2024-07-31.md",
)
TARGET_REINGEST_PCT = 10.0


@dataclass
class Row:
    """One benchmark row: timings over the repeats and the last ingest report."""

    name: str
    papers: int = 0
    seconds: list[float] = field(default_factory=list)
    report: IngestReport | None = None
    chunks: int = 0

    @property
    def median(self) -> float:
        return statistics.median(self.seconds) if self.seconds else float("nan")

    @property
    def rate(self) -> float:
        return self.papers / self.median if self.median > 0 else float("nan")


def make_engine(data_dir: str) -> Engine:
    """An engine on ``data_dir`` with default settings (no environment, no .env)."""
    return Engine(Settings.from_env(environ={}, dotenv_path=None, data_dir=Path(data_dir)))


def load_model() -> float:
    """Load the embedding model once (it is a per-process singleton); return seconds."""
    with tempfile.TemporaryDirectory(prefix="paperbot-bench-") as tmp:
        engine = make_engine(tmp)
        started = time.perf_counter()
        engine.embed_model.get_text_embedding("warm up")
        return time.perf_counter() - started


def timed_ingest(engine: Engine, specs: Sequence[str]) -> tuple[float, IngestReport]:
    started = time.perf_counter()
    report = engine.ingest(specs)
    return time.perf_counter() - started, report


def paper_texts(specs: Sequence[str], max_bytes: int, timeout: float) -> list[str]:
    """One text per parsed paper: title, headline and summary (a proxy for the chunks embedded)."""
    from index.sources import parse_sources

    papers = parse_sources(specs, max_bytes=max_bytes, timeout=timeout).papers
    return ["\n\n".join(part for part in (p.title, p.headline, p.summary) if part) for p in papers]


def time_embedding(texts: Sequence[str]) -> float:
    """Seconds for ``embed_batch`` alone on ``texts`` (model already loaded)."""
    from index.embedding import embed_batch

    started = time.perf_counter()
    embed_batch(texts)
    return time.perf_counter() - started


def run(specs: Sequence[str], texts: Sequence[str], repeat: int) -> list[Row]:
    """Per repeat: first ingest, embedding ceiling, re-ingest on the same engine, then on a fresh one.

    The ceiling is timed right after the first ingest of the same repeat so both
    see the same machine speed (on a shared VM it drifts by up to 2x over a minute).
    """
    first = Row("first ingest", len(texts))
    again = Row("re-ingest (same engine)", len(texts))
    fresh = Row("re-ingest (new engine)", len(texts))
    ceiling = Row("embedding ceiling", len(texts))
    for _ in range(repeat):
        with tempfile.TemporaryDirectory(prefix="paperbot-bench-") as tmp:
            engine = make_engine(tmp)
            seconds, first.report = timed_ingest(engine, specs)
            first.seconds.append(seconds)
            first.chunks = engine.store.count_chunks()
            ceiling.seconds.append(time_embedding(texts))
            seconds, again.report = timed_ingest(engine, specs)
            again.seconds.append(seconds)
            # A CLI re-run: new Engine (new store handle, new docstore load).  The
            # ONNX model is a process-wide singleton and is loaded lazily, so this
            # only includes it if the re-ingest actually embeds something.
            started = time.perf_counter()
            fresh.report = make_engine(tmp).ingest(specs)
            fresh.seconds.append(time.perf_counter() - started)
    return [first, again, fresh, ceiling]


def render(rows: Sequence[Row], model_load: float, repeat: int, texts: int) -> str:
    """The markdown table and the summary ratios."""
    lines = [
        f"model load (once, excluded below): {model_load:.2f} s; median of {repeat} run(s)",
        "",
        "| run | papers | median s | min s | papers/s | new | updated | unchanged | in store |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        r = row.report
        counts = (r.new, r.updated, r.unchanged, r.papers) if r is not None else ("–",) * 4
        lines.append(
            f"| {row.name} | {row.papers} | {row.median:.3f} | {min(row.seconds):.3f} | {row.rate:.1f} | "
            + " | ".join(str(c) for c in counts)
            + " |"
        )
    first, again, fresh, ceiling = rows
    texts_per_s = texts / ceiling.median
    lines.append("")
    lines.append(f"embedding ceiling: {texts_per_s:.1f} texts/s, {ceiling.rate:.1f} papers/s")
    if first.chunks:
        lines.append(
            f"first ingest embedded {first.chunks} chunks ({first.chunks / max(first.papers, 1):.2f}/paper): "
            f"{first.chunks / first.median:.1f} chunks/s vs the ceiling's {texts_per_s:.1f} texts/s"
        )
    worst = max(again.median, fresh.median)
    pct = 100.0 * worst / first.median
    verdict = "OK" if pct <= TARGET_REINGEST_PCT else "ABOVE TARGET"
    lines.append(
        f"re-ingest / first ingest = {pct:.1f}% (target <= {TARGET_REINGEST_PCT:.0f}%: {verdict}; "
        f"same engine {100.0 * again.median / first.median:.1f}%, "
        f"new engine {100.0 * fresh.median / first.median:.1f}%)"
    )
    paired = statistics.median(f / c for f, c in zip(first.seconds, ceiling.seconds))
    lines.append(
        f"pipeline / embedding ceiling = {100.0 * first.median / ceiling.median:.0f}% "
        f"(median of per-run pairs: {100.0 * paired:.0f}%)"
    )
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--digests",
        nargs="+",
        type=Path,
        default=list(DEFAULT_DIGESTS),
        metavar="PATH",
        help="digest files or folders to ingest (default: the two shared digests)",
    )
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement; the median is reported")
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    missing = [str(p) for p in args.digests if not p.exists()]
    if missing:
        parser.error(f"no such digest: {', '.join(missing)}")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger().setLevel(logging.WARNING)
    specs = [str(p) for p in args.digests]

    defaults = Settings.from_env(environ={}, dotenv_path=None)
    texts = paper_texts(specs, int(defaults.max_digest_mb * 1024 * 1024), timeout=5.0)
    model_load = load_model()
    rows = run(specs, texts, args.repeat)
    print(render(rows, model_load, args.repeat, len(texts)))
    png = plot(rows, args.repeat)
    if png is not None:
        print(f"\nplot: {png.relative_to(REPO_ROOT)}")
    return 0


def plot(rows: Sequence[Row], repeat: int) -> Path | None:
    """``bench/out/ingest.png``: papers/s of each run (median of the repeats)."""
    from bench.plots import rate_plot

    first = rows[0]
    return rate_plot(
        REPO_ROOT / "bench" / "out" / "ingest.png",
        f"paperbot ingest throughput, {first.papers} papers ({first.chunks} chunks), offline model",
        [(row.name, row.rate) for row in rows],
        note=f"median of {repeat} run(s); embedding ceiling = embed_batch alone on one text per paper",
    )


if __name__ == "__main__":
    sys.exit(main())
