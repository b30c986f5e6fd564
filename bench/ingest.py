"""Ingest benchmark: papers/s of a first ingest and of a no-op re-ingest, against the embedding ceiling.

Why: ingesting is meant to be incremental (README: "unchanged digests write
nothing"), and the embedding model is the one unavoidable cost of a first
ingest.  For each corpus size this answers, with the real offline model and the
real pipeline into an embedded Chroma:

* Is re-ingesting unchanged digests cheap?  Target: at most 10% of the first
  ingest, both for a second ``Engine.ingest`` in the same process (the bot) and
  for a fresh ``Engine`` on the same data dir (what a CLI re-run costs).
* How close is the first ingest to the embedding ceiling?  The ceiling is
  :func:`index.embedding.embed_batch` alone on exactly the texts the pipeline
  embeds (``Ingestor.texts_to_embed``: the same chunks with the same embedded
  metadata), so pipeline/ceiling compares like with like; the gap is parsing,
  LlamaIndex, the docstore and Chroma.  Target: the pipeline reaches at least
  70% of the ceiling's chunks/s.

Corpora:

* ``shared``: the two shared digests (150 papers), ingested ``--repeat`` times
  into temporary folders; the ceiling is timed inside each repeat, next to its
  first ingest, because CPU speed on a shared VM drifts too much for separate
  phases to compare.
* a paper count (10000, 100000): the synthetic corpus of ``bench/synth.py`` in
  ``bench/out/index-<N>-realistic/`` (``index-<N>`` for ``--shape short``: the
  folders ``bench/query.py`` and ``bench/memory.py`` reuse).  A first ingest at
  100k takes hours here with the model (about an hour with ``--standin``),
  so it runs once: its timing is saved in ``first-ingest.json`` next to the
  index and reused by later runs, which re-measure the re-ingests and the
  ceiling (on a seeded sample of 2,000 papers' texts).  An index without that
  record (built by another benchmark) is rebuilt so the first ingest is measured.

Synthetic corpora have the realistic shape by default (``--shape short``: the
former one-chunk papers).  ``--standin`` builds and measures the synthetic
indexes with bench/standin.py's fast stand-in vectors instead of the model's,
in their own folders (``index-<N>-<shape>-standin``): the way to get a 100k
index at the realistic shape within an hour here.  Its "first ingest" is the
pipeline, docstore and Chroma with near-free embedding, and its ceiling is the
stand-in alone; the model's rate comes from a real build at a size that fits.

Model load is done once before any timing and reported separately.  Prints a
markdown table and saves ``bench/out/ingest.png`` (papers/s per run; needs the
``bench`` extra, ``make bench-deps``).

Run from the repo root::

    .venv-dev/bin/python -m bench.ingest [--sizes shared,10000,100000] [--repeat 3] [--shape short] [--standin]
"""

from __future__ import annotations

import argparse
import datetime as dt
import functools
import json
import logging
import os
import random
import resource
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from bench import standin as standin_vectors
from bench.common import REPO_ROOT, STANDIN_LABEL, Corpus, add_corpus_options, corpus_for, parse_sizes, progress_printer
from config import Settings
from index import Engine, Ingestor, IngestReport, embed_batch, open_store, parse_sources

TARGET_REINGEST_PCT = 10.0
TARGET_CEILING_PCT = 70.0
CEILING_SAMPLE_PAPERS = 2000
RECORD_NAME = "first-ingest.json"


@dataclass
class Timing:
    """Seconds of one kind of run over the repeats, with the last report."""

    seconds: list[float] = field(default_factory=list)
    report: IngestReport | None = None

    @property
    def median(self) -> float:
        return statistics.median(self.seconds) if self.seconds else float("nan")


@dataclass
class FirstIngest:
    """A first ingest of a cached synthetic index, saved because it is too slow to repeat."""

    papers: int
    chunks: int
    seconds: float
    peak_rss_mb: float
    load_before: float
    load_after: float
    when: str
    #: "model" (the offline model) or "standin" (bench/standin.py).
    vectors: str = "model"


@dataclass
class SizeResult:
    """Everything measured for one corpus."""

    name: str
    papers: int = 0
    chunks: int = 0
    first: Timing = field(default_factory=Timing)
    again: Timing = field(default_factory=Timing)
    fresh: Timing = field(default_factory=Timing)
    #: (texts, seconds) of each ceiling timing.
    ceiling: list[tuple[int, float]] = field(default_factory=list)
    recorded: FirstIngest | None = None
    built_now: bool = True
    standin: bool = False

    @property
    def chunks_per_paper(self) -> float:
        return self.chunks / self.papers if self.papers else float("nan")

    @property
    def ceiling_texts_per_s(self) -> float:
        return statistics.median(n / s for n, s in self.ceiling) if self.ceiling else float("nan")

    @property
    def pipeline_chunks_per_s(self) -> float:
        return self.chunks / self.first.median

    @property
    def ceiling_pct(self) -> float:
        return 100.0 * self.pipeline_chunks_per_s / self.ceiling_texts_per_s

    @property
    def reingest_pct(self) -> float:
        return 100.0 * max(self.again.median, self.fresh.median) / self.first.median


def make_engine(data_dir: Path) -> Engine:
    """An engine on ``data_dir`` with default settings (no environment, no .env)."""
    return Engine(Settings.from_env(environ={}, dotenv_path=None, data_dir=data_dir))


def load_model() -> float:
    """Load the embedding model once (it is a per-process singleton); return seconds."""
    started = time.perf_counter()
    embed_batch(["warm up"])
    return time.perf_counter() - started


def timed(fn: Callable[[], IngestReport]) -> tuple[float, IngestReport]:
    started = time.perf_counter()
    report = fn()
    return time.perf_counter() - started, report


def embed_texts(specs: Sequence[str], sample: int | None, seed: int = 0) -> list[str]:
    """The texts the pipeline embeds for the papers in ``specs`` (a seeded sample of papers if asked)."""
    defaults = Settings.from_env(environ={}, dotenv_path=None)
    papers = parse_sources(specs, max_bytes=int(defaults.max_digest_mb * 1024 * 1024), timeout=30.0).papers
    if sample is not None and len(papers) > sample:
        papers = random.Random(seed).sample(papers, sample)
    return Ingestor.texts_to_embed(papers)


def time_ceiling(texts: Sequence[str], standin: bool = False) -> tuple[int, float]:
    """``embed_batch`` alone on ``texts`` (model already loaded), or the stand-in
    embedding when the index is built with it: (texts, seconds)."""
    started = time.perf_counter()
    if standin:
        standin_vectors.StandInEmbedding().get_text_embedding_batch(list(texts))
    else:
        embed_batch(texts)
    return len(texts), time.perf_counter() - started


def engine_for(corpus: Corpus) -> Engine:
    """The corpus's engine; with the stand-in embedding (through the engine's public
    ``embed_model``) when the corpus is a stand-in one."""
    engine = make_engine(corpus.data_dir)
    if corpus.standin:
        engine.embed_model = standin_vectors.StandInEmbedding()  # type: ignore[assignment]
    return engine


def load_average() -> float:
    try:
        return os.getloadavg()[0]
    except OSError:
        return float("nan")


def run_shared(corpus: Corpus, repeat: int) -> SizeResult:
    """Per repeat in a new temporary folder: first ingest, ceiling, re-ingest on the same engine, on a new one."""
    res = SizeResult(corpus.name)
    texts = embed_texts(corpus.specs, sample=None)
    for _ in range(repeat):
        with tempfile.TemporaryDirectory(prefix="paperbot-bench-") as tmp:
            engine = make_engine(Path(tmp))
            seconds, res.first.report = timed(functools.partial(engine.ingest, corpus.specs))
            res.first.seconds.append(seconds)
            res.ceiling.append(time_ceiling(texts))
            seconds, res.again.report = timed(functools.partial(engine.ingest, corpus.specs))
            res.again.seconds.append(seconds)
            seconds, res.fresh.report = timed(lambda: make_engine(Path(tmp)).ingest(corpus.specs))
            res.fresh.seconds.append(seconds)
            res.chunks = open_store(engine.settings).count_chunks()
    res.papers = res.first.report.papers if res.first.report else 0
    return res


def run_synthetic(corpus: Corpus, repeat: int) -> SizeResult:
    """First ingest once (recorded next to the cached index), then re-ingests and the ceiling."""
    res = SizeResult(corpus.label, standin=corpus.standin)
    record_path = corpus.data_dir / RECORD_NAME
    if record_path.is_file():
        res.recorded = FirstIngest(**json.loads(record_path.read_text(encoding="utf-8")))
        res.built_now = False
        print(f"[{corpus.name}] reusing the first ingest recorded {res.recorded.when} in {record_path}",
              file=sys.stderr, flush=True)
    else:
        for stale in corpus.data_dir.iterdir():
            if stale.name != "digests":
                shutil.rmtree(stale) if stale.is_dir() else stale.unlink()
        print(f"[{corpus.name}] first ingest into {corpus.data_dir}", file=sys.stderr, flush=True)
        if corpus.standin:
            standin_vectors.mark(corpus.data_dir)
        engine = engine_for(corpus)
        load_before = load_average()
        started = time.perf_counter()
        seconds, report = timed(lambda: engine.ingest(corpus.specs, progress=progress_printer(corpus.name, started)))
        res.recorded = FirstIngest(
            papers=report.papers,
            chunks=open_store(engine.settings).count_chunks(),
            seconds=seconds,
            peak_rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
            load_before=load_before,
            load_after=load_average(),
            when=dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            vectors="standin" if corpus.standin else "model",
        )
        res.first.report = report
        record_path.write_text(json.dumps(asdict(res.recorded), indent=2) + "\n", encoding="utf-8")
    res.first.seconds.append(res.recorded.seconds)
    res.papers, res.chunks = res.recorded.papers, res.recorded.chunks

    texts = embed_texts(corpus.specs, sample=CEILING_SAMPLE_PAPERS)
    engine = engine_for(corpus)
    for _ in range(repeat):
        res.ceiling.append(time_ceiling(texts, corpus.standin))
        seconds, res.again.report = timed(lambda: engine.ingest(corpus.specs))
        res.again.seconds.append(seconds)
        seconds, res.fresh.report = timed(lambda: engine_for(corpus).ingest(corpus.specs))
        res.fresh.seconds.append(seconds)
    return res


def render(results: Sequence[SizeResult], model_load: float, repeat: int) -> str:
    """The markdown table and the verdicts."""
    lines = [
        f"model load (once, excluded below): {model_load:.2f} s; {os.cpu_count()} cores; "
        f"median of {repeat} run(s) (a cached first ingest ran once)",
        "",
        "| corpus | papers | chunks | run | median s | papers/s | new | updated | unchanged |",
        "|---|---:|---:|---|---:|---:|---:|---:|---:|",
    ]
    for res in results:
        for label, timing in (("first ingest", res.first), ("re-ingest, same engine", res.again),
                              ("re-ingest, new engine", res.fresh)):
            r = timing.report
            counts = (r.new, r.updated, r.unchanged) if r is not None else ("–",) * 3
            lines.append(
                f"| {res.name} | {res.papers} | {res.chunks} | {label} | {timing.median:.2f} | "
                f"{res.papers / timing.median:.1f} | " + " | ".join(str(c) for c in counts) + " |"
            )
    lines += [
        "",
        "| corpus | chunks/paper | pipeline chunks/s | ceiling texts/s | pipeline / ceiling | re-ingest / first |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for res in results:
        ceiling_ok = ("n/a: stand-in" if res.standin
                      else "OK" if res.ceiling_pct >= TARGET_CEILING_PCT else "MISSED")
        reingest_ok = "OK" if res.reingest_pct <= TARGET_REINGEST_PCT else "MISSED"
        lines.append(
            f"| {res.name} | {res.chunks_per_paper:.2f} | {res.pipeline_chunks_per_s:.1f} | "
            f"{res.ceiling_texts_per_s:.1f} | {res.ceiling_pct:.0f}% ({ceiling_ok}) | "
            f"{res.reingest_pct:.1f}% ({reingest_ok}) |"
        )
    if any(res.standin for res in results):
        lines += ["", f"Stand-in corpora ({STANDIN_LABEL}): their first ingest is the pipeline, docstore and Chroma "
                      "with bench/standin.py's hashed bag-of-words vectors, and their ceiling is that stand-in alone, "
                      "so neither says how fast the model ingests."]
    lines += ["", f"targets: pipeline >= {TARGET_CEILING_PCT:.0f}% of the ceiling; "
                  f"re-ingest of unchanged data <= {TARGET_REINGEST_PCT:.0f}% of the first ingest (worse of the two)"]
    for res in results:
        if res.recorded is not None:
            rec = res.recorded
            origin = "measured in this run" if res.built_now else f"recorded {rec.when}"
            lines.append(
                f"{res.name}: first ingest {origin}: {rec.seconds:.0f} s, peak RSS {rec.peak_rss_mb:.0f} MiB, "
                f"1-min load {rec.load_before:.1f} before / {rec.load_after:.1f} after; "
                f"ceiling timed now on {res.ceiling[0][0]} texts of at most {CEILING_SAMPLE_PAPERS} sampled papers"
            )
    return "\n".join(lines)


def plot(results: Sequence[SizeResult], repeat: int) -> Path | None:
    """``bench/out/ingest.png``: papers/s of each run per corpus, and the ceiling in papers/s."""
    from bench.plots import rate_plot

    rows: list[tuple[str, float]] = []
    for res in results:
        rows += [
            (f"{res.name}: first ingest", res.papers / res.first.median),
            (f"{res.name}: embedding ceiling", res.ceiling_texts_per_s / res.chunks_per_paper),
            (f"{res.name}: re-ingest, same engine", res.papers / res.again.median),
            (f"{res.name}: re-ingest, new engine", res.papers / res.fresh.median),
        ]
    return rate_plot(
        REPO_ROOT / "bench" / "out" / "ingest.png",
        "paperbot ingest throughput, offline model, embedded Chroma",
        rows,
        note=f"median of {repeat} run(s); ceiling = embed_batch alone on the pipeline's own chunk texts, "
             "in papers/s at that corpus's chunks/paper",
    )


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--sizes", default="shared,10000",
                        help="comma-separated corpora: 'shared' or a synthetic paper count (default: shared,10000)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement; the median is reported")
    add_corpus_options(parser)
    args = parser.parse_args(argv)
    args.sizes = parse_sizes(parser, args.sizes)
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger().setLevel(logging.WARNING)
    model_load = load_model()
    results = []
    for size in args.sizes:
        corpus = corpus_for(size, seed=0, building=True, shape=args.shape, standin=args.standin)
        results.append(run_synthetic(corpus, args.repeat) if corpus.synthetic else run_shared(corpus, args.repeat))
    print(render(results, model_load, args.repeat))
    png = plot(results, args.repeat)
    if png is not None:
        print(f"\nplot: {png.relative_to(REPO_ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
