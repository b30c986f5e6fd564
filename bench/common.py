"""What the benchmark scripts share: where things are, the corpora and their cached
indexes, the ``--sizes`` option, ingest progress on stderr, and latency timing.

The scripts run from the repo root as ``python -m bench.<name>``; ``bench`` is a
package, so they import this module (and each other's data) without touching
``sys.path``.  Importing it costs only the standard library (the engine is imported
when an engine is made), so ``bench.coldstart``'s child process still measures the
first import of paperbot's packages itself.
"""

from __future__ import annotations

import argparse
import gc
import math
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench import synth

if TYPE_CHECKING:
    from index import Engine

REPO_ROOT = Path(__file__).resolve().parents[1]
DIGESTS_DIR = REPO_ROOT.parent / "shared" / "data" / "digests"
SHARED_DIGESTS = (
    DIGESTS_DIR / "weekly-digest-2024-08-26_2024-10-06.md",
    DIGESTS_DIR / "papers-table-2024-06-29_2024-07-31.md",
)
OUT_DIR = REPO_ROOT / "bench" / "out"
#: Larger synthetic indexes are built only by ``bench.ingest``.
MAX_BUILD_PAPERS = 10_000


# -- corpora and indexes ----------------------------------------------------------------------
#: What labels every number measured on an index built with stand-in vectors.
STANDIN_LABEL = "stand-in vectors: dense ranking is meaningless; timings, sizes and memory are real"


@dataclass
class Corpus:
    """A benchmark corpus: its digest files and the data dir its index is cached in."""

    name: str  # "shared" or the synthetic paper count
    specs: list[str]
    data_dir: Path
    synthetic: bool
    shape: str = "realistic"  # of a synthetic corpus (bench/synth.py's SHAPES)
    #: Its index holds stand-in vectors (bench/standin.py), not the model's.
    standin: bool = False

    @property
    def label(self) -> str:
        """How tables name it: the size, the shape when it is not the default, and
        the stand-in warning when its vectors are not the model's."""
        if not self.synthetic:
            return "150 (shared)"
        text = f"{int(self.name):,}" + ("" if self.shape == "realistic" else f" ({self.shape})")
        return text + (f" [{STANDIN_LABEL}]" if self.standin else "")


def index_dir(n: int, seed: int = 0, shape: str = "realistic", standin: bool = False) -> Path:
    """Where the index of a synthetic corpus is cached.  Every shape and kind of
    vectors has its own folder, so a stand-in index is never taken for a real one;
    the one-chunk ``short`` shape keeps the folder name it had before there were
    shapes, so its old caches stay usable."""
    name = f"index-{n}" + ("" if shape == "short" else f"-{shape}") + ("-standin" if standin else "")
    return OUT_DIR / (name + ("" if seed == 0 else f"-seed{seed}"))


def corpus_for(size: str, seed: int, building: bool = False, shape: str = "realistic",
               standin: bool = False) -> Corpus:
    """The corpus of ``size``; a synthetic one over MAX_BUILD_PAPERS (or with
    stand-in vectors) must be built already unless ``building`` (``bench.ingest``,
    which times that build)."""
    if size in ("shared", "150"):
        missing = [str(p) for p in SHARED_DIGESTS if not p.exists()]
        if missing:
            raise SystemExit(f"shared digests not found: {', '.join(missing)}")
        return Corpus("shared", [str(p) for p in SHARED_DIGESTS], OUT_DIR / "index-shared", False)
    n = int(size)
    data_dir = index_dir(n, seed, shape, standin)
    if (n > MAX_BUILD_PAPERS or standin) and not building and not (data_dir / "chroma").is_dir():
        how = f"python -m bench.ingest --sizes {n} --shape {shape}" + (" --standin" if standin else "")
        raise SystemExit(f"no index of {n} papers in {data_dir}: run `{how}` first")
    files = synth.write_corpus(data_dir / "digests", n, seed, shape=shape)
    return Corpus(str(n), [str(f) for f in files], data_dir, True, shape, standin)


def add_corpus_options(parser: argparse.ArgumentParser, standin: bool = True) -> None:
    """``--shape`` (and ``--standin``) of the scripts that measure synthetic corpora."""
    parser.add_argument("--shape", choices=synth.SHAPES, default="realistic",
                        help="synthetic corpus shape: realistic (the shared digests' lengths, ~2.7 chunks per "
                             "paper; default) or short (one chunk per paper, as tables before the realistic shape)")
    if standin:
        parser.add_argument("--standin", action="store_true",
                            help=f"use the synthetic indexes built with stand-in vectors ({STANDIN_LABEL})")


def make_engine(data_dir: Path) -> Engine:
    """The real engine over ``data_dir``, with default settings and no environment."""
    from config import Settings
    from index import Engine

    return Engine(Settings.from_env(environ={}, dotenv_path=None, data_dir=data_dir))


def progress_printer(name: str, started: float) -> Callable[[int, int], None]:
    """Ingest progress on stderr every 5% (a 100k first ingest runs for an hour)."""
    state = {"next": 0.0}

    def report(done: int, total: int) -> None:
        if done / total >= state["next"] or done == total:
            elapsed = time.perf_counter() - started
            print(f"  [{name}] ingest {done}/{total} papers, {elapsed:.0f} s, "
                  f"{done / max(elapsed, 1e-9):.1f} papers/s", file=sys.stderr, flush=True)
            state["next"] = done / total + 0.05

    return report


def parse_sizes(parser: argparse.ArgumentParser, text: str, *, shared: bool = True) -> list[str]:
    """A ``--sizes`` value of the bench scripts: 'shared' (alias 150) and/or positive
    paper counts; only counts when ``shared`` is false (synthetic corpora only)."""
    sizes = [s.strip() for s in text.split(",") if s.strip()]
    for s in sizes:
        if shared and s not in ("shared", "150") and not (s.isdigit() and int(s) > 0):
            parser.error(f"--sizes: {s!r} is neither 'shared' nor a positive paper count")
        if not shared and not (s.isdigit() and int(s) > 0):
            parser.error(f"--sizes: {s!r} is not a positive paper count")
    if not sizes:
        parser.error("--sizes: no corpus given")
    return sizes


# -- timing ---------------------------------------------------------------------------------
@dataclass
class Timing:
    """Latencies of one operation, in ms, with nearest-rank percentiles."""

    name: str
    ms: list[float] = field(default_factory=list)

    def pct(self, q: float) -> float:
        if not self.ms:
            return float("nan")
        ordered = sorted(self.ms)
        # Nearest-rank percentile: p95 of 80 samples is the 76th smallest.
        rank = max(1, math.ceil(q / 100.0 * len(ordered)))
        return ordered[rank - 1]

    @property
    def p50(self) -> float:
        return statistics.median(self.ms) if self.ms else float("nan")

    @property
    def p95(self) -> float:
        return self.pct(95)


def time_calls(name: str, fn: Callable[[Any], Any], inputs: Sequence[Any], repeat: int) -> tuple[Timing, list[Any]]:
    """Call ``fn`` on every input ``repeat`` times; return the timings and the first results."""
    for x in inputs[:3]:  # warm caches (regexes, stemmer, sessions) outside the timing
        fn(x)
    timing = Timing(name)
    results: list[Any] = []
    gc.collect()
    for r in range(repeat):
        for x in inputs:
            started = time.perf_counter()
            out = fn(x)
            timing.ms.append((time.perf_counter() - started) * 1000.0)
            if r == 0:
                results.append(out)
    return timing, results
