"""Scale benchmark without Chroma: parsing, lookup, autocomplete and BM25 at 10k and 100k papers.

Why: the Chroma-backed benchmarks need a built index, and a 100k-paper index
takes hours to embed on this 2-core box (``python -m bench.ingest --sizes
100000`` builds it once; ``bench/query.py`` and ``bench/memory.py`` then measure
ask, search and memory on it).  This script needs no index and no model, so it
runs in a minute or two and isolates the pure-Python work over the catalogue:

* parsing the synthetic digests (``index.sources.parse_sources``: read, parse,
  merge), the first step of every ingest;
* decoding the catalogue records (JSON -> ``Paper``), the Python half of what a
  starting bot pays to read its catalogue from Chroma;
* building the keyword index (``LexicalIndex``: BM25, document frequencies and
  postings), then over it the ``/paper`` lookup index (``PaperLookup``) and the
  metadata index (``Retriever`` without a vector store), as a starting bot does;
* ``/paper`` lookup, autocomplete and BM25-only search latency, p50/p95, on the
  same index objects the engine's catalogue holds (built here in memory, so no
  Chroma is opened);
* the resident memory those structures add (VmRSS deltas: approximate, since
  Python keeps freed memory).

Corpora come from ``bench/synth.py`` (realistic shape by default, ``--shape short``
for the one-chunk papers) and are cached in the digests folder of the index
folders ``bench/query.py`` uses (``bench/out/index-<N>-realistic/digests``).  Saves ``bench/out/scale.png``
(p50/p95 per operation and corpus size) when matplotlib is installed.

Run from the repo root::

    .venv-dev/bin/python -m bench.scale [--sizes 10000,100000] [--repeat 2]
"""

from __future__ import annotations

import argparse
import gc
import json
import logging
import os
import random
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench import synth, workload
from bench.common import OUT_DIR, REPO_ROOT, Timing, add_corpus_options, index_dir, parse_sizes, time_calls
from config import Settings

OPERATIONS = ("lookup", "autocomplete", "search bm25")
TARGETS_MS = {"autocomplete": 50.0}


def rss_mb() -> float:
    gc.collect()
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


@dataclass
class SizeResult:
    papers: int
    files: int = 0
    megabytes: float = 0.0
    steps: list[tuple[str, float, float]] = field(default_factory=list)  # (step, seconds, MiB added)
    timings: dict[str, Timing] = field(default_factory=dict)
    inputs: dict[str, int] = field(default_factory=dict)
    found: dict[str, str] = field(default_factory=dict)


def run_size(n: int, repeat: int, seed: int = 0, shape: str = "realistic") -> SizeResult:
    from index import LexicalIndex, Paper, PaperLookup, Retriever, parse_sources

    data_dir = index_dir(n, seed, shape)
    print(f"[{n}] writing / checking the synthetic corpus in {data_dir / 'digests'}", file=sys.stderr, flush=True)
    files = synth.write_corpus(data_dir / "digests", n, seed, shape=shape)
    res = SizeResult(n, len(files), sum(f.stat().st_size for f in files) / 1e6)
    settings = Settings.from_env(environ={}, dotenv_path=None, data_dir=data_dir)

    def step(name: str, fn: Any) -> Any:
        before = rss_mb()
        started = time.perf_counter()
        out = fn()
        seconds = time.perf_counter() - started
        res.steps.append((name, seconds, rss_mb() - before))
        print(f"[{n}] {name}: {seconds:.2f} s", file=sys.stderr, flush=True)
        return out

    specs = [str(f) for f in files]
    max_bytes = int(settings.max_digest_mb * 1024 * 1024)
    parsed = step("parse digests (read + parse + merge)", lambda: parse_sources(specs, max_bytes=max_bytes, timeout=5.0))
    papers = parsed.papers
    res.papers = len(papers)
    records = [json.dumps(p.to_dict(), sort_keys=True, ensure_ascii=False) for p in papers]  # as the store writes them
    step("decode catalogue records (JSON -> Paper)", lambda: [Paper.from_dict(json.loads(r)) for r in records])

    # The indexes the engine's catalogue holds, built the same way but with no
    # Chroma: the engine would read its catalogue (and on a miss, its version) from the store.
    # One keyword index (BM25, document frequencies, postings) shared by both, as Catalogue.build does.
    lexical = step("build keyword index (LexicalIndex: BM25 + postings)", lambda: LexicalIndex(papers))
    lookup = step("build lookup index (PaperLookup, on the keyword index)", lambda: PaperLookup(papers, lexical))
    retriever = step("build metadata index (Retriever, on the keyword index)",
                     lambda: Retriever(papers, None, None, lexical))  # type: ignore[arg-type]

    rng = random.Random(seed)
    lookups = workload.lookup_probes(papers, rng)
    completions = workload.autocomplete_probes(papers, rng)
    questions = workload.synthetic_questions(papers, rng)
    ops = {
        "lookup": (lambda p: lookup.find(p.text), lookups),
        "autocomplete": (lambda p: lookup.autocomplete(p.text), completions),
        "search bm25": (lambda q: retriever.search(q, k=10, mode="bm25"), questions),
    }
    for name, (fn, inputs) in ops.items():
        print(f"[{n}] timing {name} over {len(inputs)} inputs x {repeat}", file=sys.stderr, flush=True)
        res.timings[name], results = time_calls(name, fn, inputs, repeat)
        res.inputs[name] = len(inputs)
        if name == "lookup":
            hits = sum(1 for probe, got in zip(inputs, results, strict=True) if got and got[0].paper.paper_id == probe.expected)
            res.found[name] = f"{100.0 * hits / len(inputs):.0f}% right @1"
        elif name == "autocomplete":
            hits = sum(1 for probe, got in zip(inputs, results, strict=True) if probe.expected in [pid for _l, pid in got])
            res.found[name] = f"{100.0 * hits / len(inputs):.0f}% in the 25 choices"
    return res


def render(results: Sequence[SizeResult], repeat: int) -> str:
    lines = [f"In-memory scale run (no Chroma, no embedding), {os.cpu_count()} cores, "
             f"load {os.getloadavg()[0]:.1f}", ""]
    head = "| step | " + " | ".join(f"{r.papers:,} papers: s / +MiB RSS" for r in results) + " |"
    lines += [head, "|---|" + "---:|" * len(results)]
    names = [name for name, _s, _m in results[0].steps]
    for i, name in enumerate(names):
        lines.append(f"| {name} | " + " | ".join(f"{r.steps[i][1]:.2f} / {r.steps[i][2]:+.0f}" for r in results) + " |")
    lines.append("| corpus on disk | " + " | ".join(f"{r.files} files, {r.megabytes:.1f} MB" for r in results) + " |")
    lines.append("| parse rate | " + " | ".join(f"{r.papers / r.steps[0][1]:,.0f} papers/s" for r in results) + " |")
    lines += ["", "| operation | " + " | ".join(f"{r.papers:,}: p50 / p95 ms" for r in results)
              + " | target p95 | quality |", "|---|" + "---:|" * len(results) + "---|---|"]
    for op in OPERATIONS:
        cells = [f"{r.timings[op].p50:.2f} / {r.timings[op].p95:.2f}" for r in results]
        target = TARGETS_MS.get(op)
        quality = "; ".join(f"{r.papers // 1000}k: {r.found[op]}" for r in results if op in r.found)
        lines.append(f"| {op} | " + " | ".join(cells) + f" | {f'<= {target:.0f} ms' if target else '–'} | "
                     f"{quality or '–'} |")
    lines += [
        "",
        f"{repeat} pass(es) over each input list; nearest-rank percentiles.",
        "No Chroma and no model here: ingest, dense/hybrid search, ask and process memory at 100k come from "
        "bench/ingest.py, bench/query.py and bench/memory.py with --sizes 100000.",
    ]
    return "\n".join(lines)


def plot(results: Sequence[SizeResult], repeat: int) -> Path | None:
    from bench.plots import latency_plot

    series = {f"{r.papers:,} papers": {op: (r.timings[op].p50, r.timings[op].p95) for op in OPERATIONS}
              for r in results}
    return latency_plot(OUT_DIR / "scale.png", "paperbot catalogue operations in memory (no Chroma)",
                        OPERATIONS, series, TARGETS_MS,
                        note=f"{os.cpu_count()} cores; {repeat} pass(es) per input list; dense search and ask "
                             f"are not in this run")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--sizes", default="10000,100000", help="comma-separated paper counts")
    parser.add_argument("--repeat", type=int, default=2, help="passes over each input list")
    add_corpus_options(parser, standin=False)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger().setLevel(logging.WARNING)
    sizes = [int(s) for s in parse_sizes(parser, args.sizes, shared=False)]
    results = [run_size(n, args.repeat, shape=args.shape) for n in sizes]
    print(render(results, args.repeat))
    png = plot(results, args.repeat)
    if png is not None:
        print(f"\nplot: {png.relative_to(REPO_ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
