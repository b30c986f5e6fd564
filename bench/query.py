"""Query benchmark: how fast paperbot answers once papers are indexed, at 150, 10k and 100k papers.

Why: every user-facing command runs on the query path, and the ingest benchmark
says nothing about it.  Autocomplete runs on every keystroke of ``/paper`` (Discord
drops choices that take longer than a few hundred ms end to end, so the engine's
share must be small), and ``/ask`` must answer before the interaction times out.
This measures, on the real engine with the real offline model and a real Chroma
store, the p50/p95 latency of:

* ``search`` in hybrid, BM25-only and dense-only mode (``Engine.search``, k=10);
* ``/paper`` lookup (``Engine.find_papers``): titles, partial titles, typos,
  arXiv ids and links, keywords, method names;
* autocomplete (``Engine.autocomplete``): 1-12 character prefixes of real titles,
  prefixes with a typo, and word starts inside titles;
* the extractive answer (``Engine.ask`` with no LLM configured).

Targets at 10k papers: autocomplete p95 <= 50 ms, extractive ask p95 <= 250 ms.

It also times what a (re)started bot pays before its first answer: cold (no
snapshot of the current catalogue version: catalogue read from Chroma, BM25 and
lookup index build, snapshot saved) and warm (the snapshot loaded), the first
dense query that loads the HNSW index, and what a running bot pays to refresh
after another process's ingest; and it checks that Chroma's approximate HNSW search loses nothing that
matters: recall@10 of the papers ``search(mode="dense")`` returns against an exact
brute-force cosine search over every vector in the collection (target >= 0.98).

Corpora: ``shared`` is the two shared digests (150 papers; ``150`` is accepted as
its alias); a number N is a synthetic corpus from ``bench/synth.py``.  Built
indexes are cached in ``bench/out/index-<name>/`` (git-ignored): a re-run calls
ingest again, which finds every paper unchanged and embeds nothing.  A first
10k build embeds 10k chunks at ~10-40 chunks/s on a 2-core box: minutes.  A
100k index takes hours (about one with stand-in vectors), so it is never built here: run
``python -m bench.ingest --sizes 100000`` first (it also records that first ingest).

Prints markdown tables and saves ``bench/out/query.png`` (p50/p95 per operation
and corpus size; needs the ``bench`` extra, ``make bench-deps``).

Run from the repo root::

    .venv-dev/bin/python -m bench.query [--sizes shared,10000,100000] [--papers N] [--repeat 2]
                                        [--profile ask,autocomplete] [--seed 0] [--shape short] [--standin]

Synthetic corpora have the realistic shape by default; ``--standin`` measures the
indexes bench/ingest.py built with stand-in vectors (labelled: dense search,
hybrid ranking and HNSW recall there say nothing about quality, the latencies
and start-up times are real).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import logging
import os
import pstats
import random
import re
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from bench.common import (
    OUT_DIR,
    REPO_ROOT,
    Corpus,
    Timing,
    add_corpus_options,
    corpus_for,
    make_engine,
    parse_sizes,
    progress_printer,
    time_calls,
)
from bench.workload import SHARED_QUESTIONS, Probe, autocomplete_probes, lookup_probes, synthetic_questions
from index import Engine, embed_batch, embed_query, open_store

OPERATIONS = ("search hybrid", "search bm25", "search dense", "lookup", "autocomplete", "ask")
#: (operation, smallest corpus it applies to) → p95 target in ms.
TARGETS_MS = {"autocomplete": 50.0, "ask": 250.0}
TARGET_FROM_PAPERS = 10_000
TARGET_RECALL = 0.98
#: Start-up steps the summary reports (see run_size).
COLD_STEP = "cold: read catalogue from Chroma, build BM25 + lookup, save snapshot"
WARM_STEP = "warm: load the catalogue snapshot (a new engine)"
REFRESH_STEP = "refresh after a new catalogue version: check, rebuild, swap"
RECALL_K = 10
#: Chunk-level recall depth: how many chunks dense search asks Chroma for (the
#: retriever's own depth, a tuning detail of index/retrieve.py, was 60 when this was
#: written; the HNSW-vs-exact comparison is meaningful at any fixed depth).
RECALL_CHUNKS = 60
_GET_PAGE = 2000

log = logging.getLogger("bench.query")

# -- profiling ------------------------------------------------------------------------------
def profile(fn: Callable[[Any], Any], inputs: Sequence[Any], top: int = 15) -> str:
    """cProfile of ``fn`` over all inputs: the top functions by cumulative time."""
    prof = cProfile.Profile()
    prof.enable()
    for x in inputs:
        fn(x)
    prof.disable()
    buf = io.StringIO()
    stats = pstats.Stats(prof, stream=buf)
    stats.sort_stats("cumulative").print_stats(top)
    text = buf.getvalue()
    # Keep the table, drop pstats' preamble; shorten paths to the repo / site-packages.
    lines = [ln for ln in text.splitlines() if ln.strip()]
    start = next((i for i, ln in enumerate(lines) if ln.lstrip().startswith("ncalls")), 0)
    head = [ln for ln in lines[:start] if "function calls" in ln]
    body = [re.sub(r"\S*/(site-packages|work/main)/", "", ln) for ln in lines[start:]]
    return "\n".join(head + body)


# -- HNSW recall ---------------------------------------------------------------------------------
@dataclass
class Recall:
    queries: int = 0
    paper_recall: float = float("nan")
    paper_min: float = float("nan")
    short_results: int = 0
    chunk_recall: float = float("nan")
    chunks: int = 0
    fetch_s: float = 0.0
    exact_ms: float = float("nan")
    hnsw: str = ""


def hnsw_recall(engine: Engine, queries: Sequence[str]) -> Recall:
    """Dense search against exact cosine over every stored vector.

    Paper level: the papers ``search(mode="dense", k=10)`` returns vs the 10 papers
    whose best chunk is most similar (what the retriever would return with exact
    search).  Chunk level: Chroma's top-60 chunks (what ``search`` asks Chroma for)
    vs the exact top 60, which isolates the HNSW index from the grouping.
    """
    coll = open_store(engine.settings, create=False).collection  # the vectors the engine searches
    started = time.perf_counter()
    ids: list[str] = []
    vectors: list[np.ndarray] = []
    owners: list[str] = []
    offset = 0
    while True:
        page = coll.get(include=["embeddings", "metadatas"], limit=_GET_PAGE, offset=offset)
        if not page["ids"]:
            break
        ids.extend(page["ids"])
        vectors.append(np.asarray(page["embeddings"], dtype=np.float32).reshape(len(page["ids"]), -1))
        owners.extend(str((m or {}).get("paper_id", "")) for m in page["metadatas"])
        if len(page["ids"]) < _GET_PAGE:
            break
        offset += _GET_PAGE
    fetch_s = time.perf_counter() - started
    matrix = np.concatenate([v for v in vectors if v.size], axis=0)
    matrix /= np.clip(np.linalg.norm(matrix, axis=1, keepdims=True), 1e-12, None)
    owner = np.asarray(owners)
    id_arr = np.asarray(ids)
    rec = Recall(chunks=len(ids), fetch_s=fetch_s, hnsw=_hnsw_config(coll))
    paper_scores, chunk_scores, exact_ms = [], [], []
    n_chunks = min(RECALL_CHUNKS, len(ids))
    for q in queries:
        v = np.asarray(embed_query(q), dtype=np.float32)  # the vector the retriever searches with
        v /= max(float(np.linalg.norm(v)), 1e-12)
        t0 = time.perf_counter()
        sims = matrix @ v
        order = np.argsort(-sims, kind="stable")
        exact_papers: list[str] = []
        for i in order:
            if owner[i] not in exact_papers:
                exact_papers.append(owner[i])
                if len(exact_papers) == RECALL_K:
                    break
        exact_ms.append((time.perf_counter() - t0) * 1000.0)
        exact_chunks = set(id_arr[order[:n_chunks]])
        got = coll.query(query_embeddings=[v.tolist()], n_results=n_chunks, include=[])
        chunk_scores.append(len(exact_chunks & set(got["ids"][0])) / max(len(exact_chunks), 1))
        dense = [h.paper.paper_id for h in engine.search(q, k=RECALL_K, mode="dense")]
        if len(dense) < min(RECALL_K, len(exact_papers)):
            rec.short_results += 1
        paper_scores.append(len(set(dense) & set(exact_papers)) / max(len(exact_papers), 1))
    rec.queries = len(queries)
    rec.paper_recall = float(np.mean(paper_scores))
    rec.paper_min = float(np.min(paper_scores))
    rec.chunk_recall = float(np.mean(chunk_scores))
    rec.exact_ms = statistics.median(exact_ms)
    return rec


def _hnsw_config(coll: Any) -> str:
    """The collection's HNSW settings as Chroma reports them (best effort)."""
    for attr in ("configuration_json", "configuration"):
        try:
            conf = getattr(coll, attr)
        except Exception:  # noqa: BLE001 - differs across Chroma versions
            continue
        if conf:
            hnsw = conf.get("hnsw") if isinstance(conf, dict) else None
            if hnsw:
                keys = ("space", "ef_search", "ef_construction", "max_neighbors")
                return ", ".join(f"{k}={hnsw[k]}" for k in keys if k in hnsw)
    return str(coll.metadata or "")


# -- one corpus ---------------------------------------------------------------------------------
@dataclass
class SizeResult:
    corpus: Corpus
    papers: int = 0
    chunks: int = 0
    ingest_s: float = 0.0
    ingest_new: int = 0
    ingest_unchanged: int = 0
    startup: list[tuple[str, float]] = field(default_factory=list)
    timings: dict[str, Timing] = field(default_factory=dict)
    inputs: dict[str, int] = field(default_factory=dict)
    quality: list[str] = field(default_factory=list)
    recall: Recall | None = None
    profiles: dict[str, str] = field(default_factory=dict)
    load: list[float] = field(default_factory=list)


def run_size(corpus: Corpus, seed: int, repeat: int, profile_ops: set[str]) -> SizeResult:
    res = SizeResult(corpus)
    res.load.append(_load())
    engine = make_engine(corpus.data_dir)
    print(f"[{corpus.name}] ingesting {len(corpus.specs)} digest file(s) into {corpus.data_dir}",
          file=sys.stderr, flush=True)
    started = time.perf_counter()
    report = engine.ingest(corpus.specs, progress=progress_printer(corpus.name, started))
    res.ingest_s = time.perf_counter() - started
    res.ingest_new, res.ingest_unchanged = report.new + report.updated, report.unchanged
    print(f"[{corpus.name}] ingest: {report.new} new, {report.updated} updated, {report.unchanged} unchanged, "
          f"{len(report.skipped)} skipped in {res.ingest_s:.1f} s", file=sys.stderr, flush=True)

    # A restarted bot: a new engine on the same data dir pays these before its first answer.
    # Cold: no snapshot of the current catalogue version yet (the first process after
    # an ingest); warm: the snapshot that cold start saved (every later start).
    engine = make_engine(corpus.data_dir)
    engine.snapshot_path.unlink(missing_ok=True)
    warm = make_engine(corpus.data_dir)
    for step, fn in (
        ("open store + count chunks", lambda: open_store(engine.settings, create=False).count_chunks()),
        ("read the catalogue version (collection metadata)", engine.catalogue_version),
        (COLD_STEP, engine.catalogue),
        (WARM_STEP, warm.catalogue),
        ("first dense query (loads HNSW + embeds)", lambda: engine.search("warm up the index", mode="dense")),
    ):
        t0 = time.perf_counter()
        fn()
        res.startup.append((step, (time.perf_counter() - t0) * 1000.0))
    # Another process's ingest as a running bot sees it: a new version, then the
    # watcher's check, rebuild and swap (the staleness bound is the check interval
    # plus this).  Only the version is stamped, so the cached index is unchanged.
    open_store(engine.settings, create=False).stamp_catalogue_version()
    t0 = time.perf_counter()
    warm.sync_catalogue()
    res.startup.append((REFRESH_STEP, (time.perf_counter() - t0) * 1000.0))
    engine = warm  # at the current version: no miss below triggers a refresh of its own
    papers = engine.papers()
    res.papers = len(papers)
    res.chunks = open_store(engine.settings, create=False).count_chunks()

    rng = random.Random(seed)
    questions = SHARED_QUESTIONS if not corpus.synthetic else synthetic_questions(papers, rng)
    lookups = lookup_probes(papers, rng)
    completions = autocomplete_probes(papers, rng)
    print(f"[{corpus.name}] timing {len(questions)} questions, {len(lookups)} lookups, "
          f"{len(completions)} autocomplete inputs", file=sys.stderr, flush=True)

    ops: dict[str, tuple[Callable[[Any], Any], list[Any], int]] = {
        "search hybrid": (lambda q: engine.search(q, k=10, mode="hybrid"), list(questions), repeat),
        "search bm25": (lambda q: engine.search(q, k=10, mode="bm25"), list(questions), repeat),
        "search dense": (lambda q: engine.search(q, k=10, mode="dense"), list(questions), repeat),
        "lookup": (lambda p: engine.find_papers(p.text), lookups, repeat),
        "autocomplete": (lambda p: engine.autocomplete(p.text), completions, repeat),
        "ask": (lambda q: engine.ask(q), list(questions), repeat),
    }
    results: dict[str, list[Any]] = {}
    for name, (fn, inputs, reps) in ops.items():
        res.timings[name], results[name] = time_calls(name, fn, inputs, reps)
        res.inputs[name] = len(inputs)
    res.load.append(_load())
    res.quality = quality_lines(lookups, results["lookup"], completions, results["autocomplete"], results["ask"])

    print(f"[{corpus.name}] HNSW recall vs exact cosine", file=sys.stderr, flush=True)
    res.recall = hnsw_recall(engine, questions)

    missed = {op for op in TARGETS_MS if _verdict(res, op) == "MISSED"}
    for op in sorted(profile_ops | missed):
        fn, inputs, _ = ops[op]
        res.profiles[op] = profile(fn, inputs)
    return res


def _load() -> float:
    """The 1-minute load average: on a shared 2-core VM, numbers taken above ~2 are inflated."""
    try:
        return os.getloadavg()[0]
    except OSError:
        return float("nan")


def quality_lines(lookups: Sequence[Probe], found: Sequence[Any], completions: Sequence[Probe],
                  choices: Sequence[Any], answers: Sequence[Any]) -> list[str]:
    """Side checks that the fast paths still find the right thing."""
    rows = ["| check | kind | inputs | found @1 | found in results |", "|---|---|---:|---:|---:|"]
    kinds: dict[str, list[tuple[bool, bool]]] = {}
    for probe, matches in zip(lookups, found, strict=True):
        ids = [m.paper.paper_id for m in matches]
        kinds.setdefault(probe.kind, []).append((bool(ids) and ids[0] == probe.expected, probe.expected in ids))
    for kind, marks in kinds.items():
        rows.append(f"| lookup (top 5) | {kind} | {len(marks)} | {_pct(m[0] for m in marks)} | {_pct(m[1] for m in marks)} |")
    groups: dict[str, list[tuple[bool, bool]]] = {}
    for probe, got in zip(completions, choices, strict=True):
        ids = [pid for _label, pid in got]
        if probe.kind.startswith("prefix "):
            length = int(probe.kind.split()[1])
            kind = "prefix 1-4" if length <= 4 else "prefix 5-8" if length <= 8 else "prefix 9-12"
        else:
            kind = probe.kind
        groups.setdefault(kind, []).append((bool(ids) and ids[0] == probe.expected, probe.expected in ids))
    for kind in sorted(groups):
        marks = groups[kind]
        rows.append(f"| autocomplete (25) | {kind} | {len(marks)} | {_pct(m[0] for m in marks)} | {_pct(m[1] for m in marks)} |")
    abstained = sum(1 for a in answers if a.abstained)
    rows.append(f"| ask | abstained | {len(answers)} | {abstained} abstained | {len(answers) - abstained} answered |")
    return rows


def _pct(marks: Any) -> str:
    marks = list(marks)
    return f"{100.0 * sum(marks) / len(marks):.0f}%" if marks else "–"


def _target(res: SizeResult, op: str) -> float | None:
    if op in TARGETS_MS and res.corpus.synthetic and res.papers >= TARGET_FROM_PAPERS:
        return TARGETS_MS[op]
    return None


def _verdict(res: SizeResult, op: str) -> str:
    target = _target(res, op)
    if target is None:
        return ""
    return "OK" if res.timings[op].p95 <= target else "MISSED"


# -- output ---------------------------------------------------------------------------------------
def render_size(res: SizeResult) -> str:
    c = res.corpus
    title = "shared digests" if not c.synthetic else f"synthetic corpus ({c.label} papers)"
    lines = [f"## {title}: {res.papers} papers, {res.chunks} chunks ({res.chunks / max(res.papers, 1):.2f}/paper)", ""]
    if res.ingest_new:
        lines.append(
            f"ingest (built now): {res.ingest_new} papers embedded in {res.ingest_s:.1f} s = "
            f"{res.ingest_new / res.ingest_s:.1f} papers/s, {res.chunks / res.ingest_s:.1f} chunks/s"
        )
    else:
        lines.append(f"ingest (cached index in {c.data_dir.relative_to(REPO_ROOT)}): "
                     f"{res.ingest_unchanged} unchanged, re-ingest took {res.ingest_s:.1f} s")
    lines.append(
        f"machine load (1-min average; {os.cpu_count()} cores): {res.load[0]:.1f} before ingest, "
        f"{res.load[-1]:.1f} after the latency runs"
    )
    lines += ["", "Start-up (a new Engine on this data dir, in order):", "",
              "| step | ms |", "|---|---:|"]
    lines += [f"| {step} | {ms:.0f} |" for step, ms in res.startup]
    lines.append("")
    lines += ["| operation | inputs x repeat | p50 ms | p95 ms | max ms | mean ms | target p95 | verdict |",
              "|---|---:|---:|---:|---:|---:|---:|---|"]
    for op in OPERATIONS:
        t = res.timings[op]
        target = _target(res, op)
        lines.append(
            f"| {op} | {res.inputs[op]} x {len(t.ms) // max(res.inputs[op], 1)} | {t.p50:.1f} | {t.p95:.1f} | "
            f"{max(t.ms):.1f} | {statistics.fmean(t.ms):.1f} | {f'<= {target:.0f}' if target else '–'} | "
            f"{_verdict(res, op) or '–'} |"
        )
    lines += ["", *res.quality]
    r = res.recall
    if r is not None:
        verdict = "OK" if r.paper_recall >= TARGET_RECALL else "MISSED"
        lines += [
            "",
            f"Dense search vs exact cosine over all {r.chunks} stored vectors (fetched in {r.fetch_s:.1f} s; "
            f"HNSW: {r.hnsw or 'defaults'}):",
            "",
            "| queries | paper recall@10 (search, dense) | worst query | results with < 10 papers | "
            "chunk recall@60 (Chroma query) | exact numpy top-10 ms | target | verdict |",
            "|---:|---:|---:|---:|---:|---:|---:|---|",
            f"| {r.queries} | {r.paper_recall:.3f} | {r.paper_min:.2f} | {r.short_results} | {r.chunk_recall:.3f} | "
            f"{r.exact_ms:.1f} | >= {TARGET_RECALL} | {verdict} |",
        ]
    for op, text in res.profiles.items():
        lines += ["", f"cProfile of {op} over its {res.inputs[op]} inputs (top by cumulative time):", "",
                  "```", text, "```"]
    return "\n".join(lines)


def render_summary(results: Sequence[SizeResult]) -> str:
    head = "| operation | " + " | ".join(f"{r.corpus.label} p50 / p95 ms" for r in results) + " | target p95 (10k) |"
    lines = ["## Summary", "", head, "|---|" + "---:|" * len(results) + "---|"]
    for op in OPERATIONS:
        cells = []
        for r in results:
            t = r.timings[op]
            v = _verdict(r, op)
            cells.append(f"{t.p50:.1f} / {t.p95:.1f}" + (f" {v}" if v else ""))
        target = TARGETS_MS.get(op)
        lines.append(f"| {op} | " + " | ".join(cells) + f" | {f'<= {target:.0f} ms' if target else '–'} |")
    for label, step in (("catalogue at start, cold ms", COLD_STEP), ("catalogue at start, from snapshot ms", WARM_STEP),
                        ("refresh after another process's ingest ms", REFRESH_STEP)):
        lines.append(f"| {label} | " + " | ".join(f"{dict(r.startup).get(step, float('nan')):.0f}" for r in results)
                     + " | – |")
    lines.append("| dense recall@10 vs exact | " + " | ".join(
        f"{r.recall.paper_recall:.3f}" if r.recall else "–" for r in results) + f" | >= {TARGET_RECALL} |")
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--sizes", default=None,
                        help="comma-separated corpora: 'shared' (alias 150) or a synthetic paper count "
                             "(default: shared,10000)")
    parser.add_argument("--papers", type=int, default=10_000,
                        help="synthetic corpus size when --sizes is not given (default 10000)")
    parser.add_argument("--repeat", type=int, default=2, help="passes over each input list (default 2)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the synthetic corpus and the query sample")
    add_corpus_options(parser)
    parser.add_argument("--profile", default="", help=f"comma-separated operations to cProfile ({', '.join(OPERATIONS)}); "
                        "operations that miss a target are always profiled")
    args = parser.parse_args(argv)
    args.sizes = parse_sizes(parser, args.sizes or f"shared,{args.papers}")
    args.profile = {p.strip() for p in args.profile.split(",") if p.strip()}
    unknown = args.profile - set(OPERATIONS)
    if unknown:
        parser.error(f"--profile: unknown operation(s) {', '.join(sorted(unknown))}")
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger().setLevel(logging.WARNING)
    OUT_DIR.mkdir(parents=True, exist_ok=True)

    t0 = time.perf_counter()
    embed_batch(["warm up"])  # the ONNX model is a per-process singleton
    model_load = time.perf_counter() - t0

    results = []
    for size in args.sizes:
        corpus = corpus_for(size, args.seed, shape=args.shape, standin=args.standin)
        results.append(run_size(corpus, args.seed, args.repeat, args.profile))
        print(render_size(results[-1]), flush=True)
        print(flush=True)
    print(f"model load (once, excluded): {model_load:.2f} s; {args.repeat} pass(es) over each input list; "
          f"nearest-rank percentiles; extractive answers (no LLM)")
    print()
    print(render_summary(results))
    png = plot(results, args.repeat)
    if png is not None:
        print(f"\nplot: {png.relative_to(REPO_ROOT)}")
    return 0


def plot(results: Sequence[SizeResult], repeat: int) -> Path | None:
    """``bench/out/query.png``: p50/p95 of each operation, one bar per corpus size."""
    from bench.plots import latency_plot

    series = {
        (f"{r.papers:,} papers" + (" (shared)" if not r.corpus.synthetic else " (stand-in)" if r.corpus.standin else "")): {
            op: (r.timings[op].p50, r.timings[op].p95) for op in OPERATIONS
        }
        for r in results
    }
    loads = ", ".join(f"{r.load[-1]:.1f}" for r in results)
    return latency_plot(
        OUT_DIR / "query.png",
        "paperbot query latency (extractive answers, offline model, embedded Chroma)",
        OPERATIONS,
        series,
        targets_ms=TARGETS_MS,
        note=f"{os.cpu_count()} cores; {repeat} pass(es) per input list; 1-min load after runs: {loads}; "
             f"targets apply at {TARGET_FROM_PAPERS:,} papers",
    )


if __name__ == "__main__":
    sys.exit(main())
