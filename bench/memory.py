"""Memory benchmark: peak RSS of ``paperbot`` commands and of a bot-like process.

Why: the bot runs for weeks on small machines, and every CLI command loads the
ONNX model, Chroma and the BM25 index.  This measures, at 150 papers (the shared
digests) and at 10k papers (the synthetic corpus of ``bench/query.py``):

* ``paperbot --help``, ``paperbot search`` and ``paperbot ask`` as users run them:
  a child process each, its peak RSS taken from the kernel's rusage of that child
  (``os.wait4``, i.e. what ``/usr/bin/time -v`` reports as "Maximum resident set
  size");
* a **proxy** for a running bot: a child process that imports the Discord bot's
  modules, builds the bot object and loads its cogs (no connection to Discord), builds the
  :class:`~index.engine.Engine` and warms the retriever and the lookup index as
  the bot does at start (``PaperBot._open_index``), then answers 20 questions,
  20 ``/paper`` lookups and 100 autocomplete inputs.  It reports its peak and its
  current RSS afterwards (the steady state).  It is not the real bot: the gateway
  connection, the interaction handling and discord.py's caches of a live guild are
  missing, so treat it as a lower bound of a real bot's memory.

Indexes are the cached ones of ``bench/query.py`` (``bench/out/index-shared`` and
``bench/out/index-10000``); a missing one is built first (a 10k build embeds 10k
papers: ~15 min on 2 cores).  100k papers is not measured here: building a
100k index embeds 100k papers, ~2 h on this box (bench/scale.py measures what it
can at 100k without Chroma).

Run from the repo root::

    .venv-dev/bin/python bench/memory.py [--sizes shared,10000] [--runs 3]
"""

from __future__ import annotations

import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import random  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import time  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from typing import Sequence  # noqa: E402

QUESTION = "which methods improve long-context retrieval?"
SEARCH = "quantization of language model weights"
PROXY_QUESTIONS = 20


@dataclass
class Sample:
    what: str
    corpus: str
    rss_mb: list[float] = field(default_factory=list)
    wall_s: list[float] = field(default_factory=list)
    steady_mb: list[float] = field(default_factory=list)
    note: str = ""


def child_env() -> dict[str, str]:
    """The caller's environment minus anything that would point paperbot elsewhere."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PAPERBOT_", "CHROMA_", "DISCORD_"))}
    env["NO_COLOR"] = "1"
    return env


def run_measured(argv: Sequence[str]) -> tuple[float, float, str]:
    """Run ``argv``; return (peak RSS of that child in MiB, wall seconds, stdout)."""
    started = time.perf_counter()
    proc = subprocess.Popen(list(argv), stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=child_env(), cwd=REPO_ROOT)
    # wait4 gives this child's own rusage (RUSAGE_CHILDREN would be the max over all children so far).
    out = proc.stdout.read() if proc.stdout else b""
    err = proc.stderr.read() if proc.stderr else b""
    _pid, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed ({proc.returncode}):\n{err.decode(errors='replace')[-2000:]}")
    return usage.ru_maxrss / 1024.0, wall, out.decode(errors="replace")  # ru_maxrss is in KiB on Linux


def paperbot(*args: str) -> list[str]:
    return [sys.executable, "-m", "bot.cli", *args]


def ensure_index(size: str) -> tuple[str, Path, bool]:
    """(corpus label, data dir, synthetic?) of a cached index, built if missing."""
    from bench import query

    corpus = query.corpus_for(size, 0)
    chroma = corpus.data_dir / "chroma" / "chroma.sqlite3"
    if not chroma.exists():
        print(f"[{corpus.name}] no cached index in {corpus.data_dir}: building it (bench/query.py's cache)",
              file=sys.stderr, flush=True)
        started = time.perf_counter()
        query.make_engine(corpus.data_dir).ingest(corpus.specs, progress=query._progress(started))
    return corpus.name, corpus.data_dir, corpus.synthetic


# -- the bot proxy (runs in its own child process) --------------------------------------------
def _rss_now_mb() -> float:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


def bot_proxy(data_dir: Path, synthetic: bool) -> int:
    """Child side: import the bot, build it, warm the engine, serve a few requests."""
    import asyncio
    import resource
    import tempfile

    import discord  # noqa: F401 - the real bot's import footprint
    from bench import query
    from bot.app import COGS, make_bot
    from bot.state import BotState
    from config import Settings
    from index.engine import Engine

    settings = Settings.from_env(environ={}, dotenv_path=None, data_dir=data_dir)
    engine = Engine(settings)
    started = time.perf_counter()

    async def build(state_dir: str) -> None:
        bot = make_bot(engine, BotState(Path(state_dir) / "state.sqlite3"), settings)
        for name in COGS:  # what PaperBot.setup_hook loads, without syncing or connecting
            await bot.load_extension(name)
        await bot.close()

    with tempfile.TemporaryDirectory(prefix="paperbot-memory-") as state_dir:
        asyncio.run(build(state_dir))
    engine.retriever()  # what PaperBot._open_index warms
    engine.lookup()
    warmed = time.perf_counter() - started
    papers = engine.papers()
    rng = random.Random(0)
    questions = (query.synthetic_questions(papers, rng, n=PROXY_QUESTIONS) if synthetic
                 else query.SHARED_QUESTIONS[:PROXY_QUESTIONS])[:PROXY_QUESTIONS]
    for q in questions:
        engine.ask(q)
    for probe in query.lookup_probes(papers, rng, n=20):
        engine.find_papers(probe.text)
    for probe in query.autocomplete_probes(papers, rng, n=100):
        engine.autocomplete(probe.text)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    print(json.dumps({"papers": len(papers), "questions": len(questions), "warm_s": warmed,
                      "peak_mb": peak, "steady_mb": _rss_now_mb()}))
    return 0


# -- the parent --------------------------------------------------------------------------------
def measure(sizes: Sequence[str], runs: int) -> list[Sample]:
    samples: list[Sample] = []
    baseline = Sample("python -c pass (interpreter alone)", "–")
    for _ in range(runs):
        rss, wall, _ = run_measured([sys.executable, "-c", "pass"])
        baseline.rss_mb.append(rss)
        baseline.wall_s.append(wall)
    samples.append(baseline)
    helps = Sample("paperbot --help", "–")
    for _ in range(runs):
        rss, wall, _ = run_measured(paperbot("--help"))
        helps.rss_mb.append(rss)
        helps.wall_s.append(wall)
    samples.append(helps)
    for size in sizes:
        name, data_dir, synthetic = ensure_index(size)
        label = "150 (shared)" if name == "shared" else f"{int(name):,}"
        search = Sample("paperbot search --json", label)
        ask = Sample("paperbot ask --json", label)
        proxy = Sample(f"bot proxy: warm + {PROXY_QUESTIONS} asks, 20 lookups, 100 autocompletes", label)
        for _ in range(runs):
            print(f"[{name}] paperbot search / ask / bot proxy", file=sys.stderr, flush=True)
            rss, wall, _ = run_measured(paperbot("search", SEARCH, "--json", "--data-dir", str(data_dir)))
            search.rss_mb.append(rss)
            search.wall_s.append(wall)
            rss, wall, _ = run_measured(paperbot("ask", QUESTION, "--json", "--data-dir", str(data_dir)))
            ask.rss_mb.append(rss)
            ask.wall_s.append(wall)
            rss, wall, out = run_measured([sys.executable, str(Path(__file__).resolve()), "--bot-proxy", str(data_dir)]
                                          + (["--synthetic"] if synthetic else []))
            report = json.loads(out.strip().splitlines()[-1])
            proxy.rss_mb.append(rss)
            proxy.wall_s.append(wall)
            proxy.steady_mb.append(report["steady_mb"])
            proxy.note = f"{report['papers']} papers; warm-up {report['warm_s']:.1f} s"
        samples += [search, ask, proxy]
    return samples


def render(samples: Sequence[Sample], runs: int) -> str:
    lines = [
        f"Peak RSS (kernel rusage of each child: ru_maxrss), median of {runs} run(s); "
        f"{os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}",
        "",
        "| process | papers | peak RSS MiB (median) | max | RSS after the run MiB | wall s (median) | note |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for s in samples:
        steady = f"{statistics.median(s.steady_mb):.0f}" if s.steady_mb else "–"
        lines.append(
            f"| {s.what} | {s.corpus} | {statistics.median(s.rss_mb):.0f} | {max(s.rss_mb):.0f} | {steady} | "
            f"{statistics.median(s.wall_s):.2f} | {s.note} |"
        )
    lines += [
        "",
        "The bot proxy is not the live bot (no gateway connection, no guild caches): a lower bound.",
        "Not measured: 100k papers (building a 100k index takes ~2 h on this machine).",
    ]
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--sizes", default="shared,10000", help="corpora: 'shared' (alias 150) and/or paper counts")
    parser.add_argument("--runs", type=int, default=3, help="runs of each process; the median is reported")
    parser.add_argument("--bot-proxy", type=Path, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--synthetic", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.sizes = [s.strip() for s in args.sizes.split(",") if s.strip()]
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.bot_proxy is not None:
        import logging

        logging.basicConfig(level=logging.WARNING)
        return bot_proxy(args.bot_proxy, args.synthetic)
    samples = measure(args.sizes, args.runs)
    print(render(samples, args.runs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
