"""Cold-start benchmark: how long a ``paperbot`` command takes from a new process.

Why: people feel start-up on every command.  Targets (issue 6), on this 2-core
machine with the default offline backend: ``paperbot --help`` <= 0.3 s and a cold
``paperbot search`` <= 1.2 s at 150 papers (the shared digests).  "Cold" means a
new process every run (imports, opening Chroma, reading the catalogue, building
BM25, loading the ONNX model and embedding the query); the OS file cache is warm,
as it is for anyone who runs a second command.

Timing uses ``hyperfine`` when it is on PATH (Debian: ``apt-get install
hyperfine``), with one warm-up run and ``--shell=none``; otherwise the same
commands run ``--runs`` times with ``subprocess`` and the median is reported.

When a target is missed (or with ``--profile``) it names the top costs of a cold
``search``: ``python -X importtime`` (cumulative import time of the top-level
imports and of the known heavy packages) and a cProfile of the whole command.

Run from the repo root::

    .venv-dev/bin/python -m bench.coldstart [--runs 10] [--profile]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import pstats
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bench.common import REPO_ROOT, corpus_for, make_engine

QUERY = "quantization of language model weights"
TARGETS_S = {"paperbot --help": 0.3, "paperbot search": 1.2}
HEAVY = ("chromadb", "onnxruntime", "llama_index", "numpy", "tokenizers", "discord", "httpx", "pydantic",
         "rapidfuzz", "Stemmer", "nltk", "sqlalchemy", "openai", "opentelemetry", "tiktoken", "fsspec", "aiohttp")


@dataclass
class Result:
    name: str
    argv: list[str]
    median: float = float("nan")
    mean: float = float("nan")
    low: float = float("nan")
    high: float = float("nan")
    runs: int = 0
    tool: str = ""


def child_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PAPERBOT_", "CHROMA_", "DISCORD_"))}
    env["NO_COLOR"] = "1"
    return env


def paperbot_exe() -> str:
    """The console script users run (falls back to ``python -m bot.cli``)."""
    exe = Path(sys.executable).with_name("paperbot")
    return str(exe) if exe.exists() else ""


def commands(data_dir: Path) -> list[Result]:
    exe = paperbot_exe()
    base = [exe] if exe else [sys.executable, "-m", "bot.cli"]
    d = ["--data-dir", str(data_dir)]
    return [
        Result("python -c pass (interpreter)", [sys.executable, "-c", "pass"]),
        Result("paperbot --help", [*base, "--help"]),
        Result("paperbot stats", [*base, "stats", *d]),
        Result("paperbot search", [*base, "search", QUERY, *d]),
        Result("paperbot ask", [*base, "ask", QUERY, *d]),
    ]


def with_hyperfine(result: Result, runs: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "h.json"
        subprocess.run(
            ["hyperfine", "--shell=none", "--warmup", "1", "--runs", str(runs), "--style", "none",
             "--export-json", str(out), subprocess.list2cmdline(result.argv)],
            check=True, env=child_env(), cwd=REPO_ROOT, stdout=subprocess.DEVNULL,
        )
        data = json.loads(out.read_text())["results"][0]
    times = data["times"]
    result.median, result.mean = statistics.median(times), statistics.fmean(times)
    result.low, result.high, result.runs, result.tool = min(times), max(times), len(times), "hyperfine"


def with_subprocess(result: Result, runs: int) -> None:
    times = []
    for i in range(runs + 1):
        started = time.perf_counter()
        subprocess.run(result.argv, check=True, env=child_env(), cwd=REPO_ROOT,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if i:  # the first run warms the file cache and is dropped, like hyperfine's --warmup 1
            times.append(time.perf_counter() - started)
    result.median, result.mean = statistics.median(times), statistics.fmean(times)
    result.low, result.high, result.runs, result.tool = min(times), max(times), len(times), "subprocess"


def verdict(result: Result) -> str:
    target = TARGETS_S.get(result.name)
    if target is None:
        return ""
    return "OK" if result.median <= target else "MISSED"


def render(results: Sequence[Result]) -> str:
    lines = [
        f"Cold start, 150 papers (shared digests), {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}; "
        f"one warm-up run, then the median of the rest",
        "",
        "| command | runs | tool | median s | mean s | min s | max s | target | verdict |",
        "|---|---:|---|---:|---:|---:|---:|---:|---|",
    ]
    for r in results:
        target = TARGETS_S.get(r.name)
        lines.append(
            f"| {r.name} | {r.runs} | {r.tool} | {r.median:.3f} | {r.mean:.3f} | {r.low:.3f} | {r.high:.3f} | "
            f"{f'<= {target:.1f}' if target else '–'} | {verdict(r) or '–'} |"
        )
    return "\n".join(lines)


# -- profiling ---------------------------------------------------------------------------------
def import_times(argv: Sequence[str]) -> str:
    """``-X importtime`` of a command: top-level imports and heavy packages, by cumulative time."""
    done = subprocess.run([sys.executable, "-X", "importtime", *argv], env=child_env(), cwd=REPO_ROOT,
                          capture_output=True, text=True, check=True)
    rows: list[tuple[int, int, str]] = []  # (cumulative us, depth, name)
    for line in done.stderr.splitlines():
        m = re.match(r"import time:\s+(\d+) \|\s+(\d+) \| (\s*)(\S+)", line)
        if m:
            rows.append((int(m.group(2)), len(m.group(3)) // 2, m.group(4)))
    total = sum(cum for cum, depth, _ in rows if depth == 0)
    top = sorted((r for r in rows if r[1] == 0), reverse=True)[:12]
    heavy: dict[str, int] = {}
    for cum, _depth, name in rows:
        root = name.split(".")[0]
        if root in HEAVY and name == root or (root == "llama_index" and name == "llama_index.core"):
            heavy[name] = max(heavy.get(name, 0), cum)
    lines = [f"all imports: {total / 1e6:.2f} s", "", "| top-level import (as the command runs) | cumulative s |",
             "|---|---:|"]
    lines += [f"| {name} | {cum / 1e6:.3f} |" for cum, _d, name in top]
    lines += ["", "| heavy package (first import, wherever it happens) | cumulative s |", "|---|---:|"]
    lines += [f"| {name} | {cum / 1e6:.3f} |" for name, cum in sorted(heavy.items(), key=lambda kv: -kv[1])]
    return "\n".join(lines)


def cprofile(argv: Sequence[str], top: int = 25) -> str:
    """cProfile of a whole command (imports included), top functions by cumulative time."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "p.prof"
        subprocess.run([sys.executable, "-m", "cProfile", "-o", str(out), *argv], env=child_env(), cwd=REPO_ROOT,
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        buf = io.StringIO()
        stats = pstats.Stats(str(out), stream=buf)
        # Our code and the libraries' entry points; import machinery is shown by -X importtime instead.
        stats.sort_stats("cumulative").print_stats(r"work/main/(bot|index|config)/", top)
    lines = [ln for ln in buf.getvalue().splitlines() if ln.strip()]
    start = next((i for i, ln in enumerate(lines) if ln.lstrip().startswith("ncalls")), 0)
    head = [ln for ln in lines[:start] if "function calls" in ln]
    return "\n".join(head + [re.sub(r"\S*/work/main/", "", ln) for ln in lines[start:]])


def stages(data_dir: Path) -> int:
    """Child side of ``--stages``: a cold search's steps, one after the other, timed."""
    clock = time.perf_counter
    marks: list[tuple[str, float]] = []

    def mark(name: str, since: float) -> float:
        now = clock()
        marks.append((name, now - since))
        return now

    t = clock()
    import bot.cli  # noqa: F401 - what `paperbot` imports before dispatching
    from config import Settings

    t = mark("import bot.cli + config", t)
    import chromadb  # noqa: F401

    t = mark("import chromadb", t)
    from index import Engine

    engine = Engine(Settings.from_env(environ={}, dotenv_path=None, data_dir=data_dir))
    t = mark("import the engine (index.engine)", t)
    engine.catalogue_version()  # opens the client and the collection, reads one metadata field
    t = mark("open Chroma: PersistentClient + collection + version", t)
    from index import Retriever  # noqa: F401 - its module's import cost is the step

    t = mark("import the retriever (Stemmer, rapidfuzz, ...)", t)
    engine.papers()
    t = mark("the catalogue: its snapshot, or read from Chroma + BM25 and lookup built", t)
    from index import embed_query

    embed_query("warm up")
    t = mark("load the ONNX model + embed one text (overlaps the step above in paperbot)", t)
    engine.search(QUERY, k=10)
    mark("embed the query + hybrid search", t)
    print(json.dumps(marks))
    return 0


def stage_table(data_dir: Path, runs: int = 5) -> str:
    """Median of each step over ``runs`` fresh processes."""
    per_step: dict[str, list[float]] = {}
    for _ in range(runs):
        done = subprocess.run([sys.executable, "-m", "bench.coldstart", "--stages", str(data_dir)],
                              env=child_env(), cwd=REPO_ROOT, capture_output=True, text=True, check=True)
        for name, seconds in json.loads(done.stdout.strip().splitlines()[-1]):
            per_step.setdefault(name, []).append(seconds)
    lines = ["| step (sequential, in a fresh process) | median s |", "|---|---:|"]
    lines += [f"| {name} | {statistics.median(v):.3f} |" for name, v in per_step.items()]
    total = sum(statistics.median(v) for v in per_step.values())
    lines.append(f"| **sum (plus ~0.02 s interpreter start)** | **{total:.3f}** |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=10, help="timed runs per command (after one warm-up)")
    parser.add_argument("--profile", action="store_true", help="profile a cold search even if the targets are met")
    parser.add_argument("--stages", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.stages is not None:
        return stages(args.stages)

    corpus = corpus_for("shared", 0)
    if not (corpus.data_dir / "chroma" / "chroma.sqlite3").exists():
        print(f"building the 150-paper index in {corpus.data_dir}", file=sys.stderr, flush=True)
        make_engine(corpus.data_dir).ingest(corpus.specs)
    results = commands(corpus.data_dir)
    use_hyperfine = shutil.which("hyperfine") is not None
    for r in results:
        print(f"timing {r.name}", file=sys.stderr, flush=True)
        (with_hyperfine if use_hyperfine else with_subprocess)(r, args.runs)
    print(render(results))
    from bench.plots import bar_plot

    png = bar_plot(REPO_ROOT / "bench" / "out" / "coldstart.png", "paperbot cold start, 150 papers",
                   [(r.name, r.median) for r in results], "s", targets=TARGETS_S,
                   note=f"median of {args.runs} fresh processes after one warm-up ({results[0].tool})")
    if png is not None:
        print(f"\nplot: {png.relative_to(REPO_ROOT)}")
    search = next(r for r in results if r.name == "paperbot search")
    if args.profile or any(verdict(r) == "MISSED" for r in results):
        cli = [a for a in search.argv[1:]] if search.argv[0] != sys.executable else search.argv[3:]
        module_argv = ["-m", "bot.cli", *cli]
        print("\n### Where a cold `paperbot search` spends its time\n")
        print(stage_table(corpus.data_dir))
        print("\n`python -X importtime`:\n")
        print(import_times(module_argv))
        print("\ncProfile of the whole command (paperbot's own functions, by cumulative time):\n\n```")
        print(cprofile(module_argv))
        print("```")
    return 0


if __name__ == "__main__":
    sys.exit(main())
