"""Catalogue catch-up benchmark: what the first process after an ingest pays, and
how long a running bot takes to reach the new version, with the catalogue carried
forward by the ingest (its snapshot saved before the version is stamped) against
the rebuild from Chroma that every such process paid before.

Why: at 100k papers reading every record from Chroma and building the search
and lookup indexes takes ~33 s, and before this every ingest made the next
process (a CLI command, a bot start, the bot's watcher) pay it.  The measurement
depends on the number and size of the stored records, not on what the vectors
mean, so the index here is written straight into Chroma with random unit
vectors (seconds instead of hours); only the two one-paper ingests timed below
go through the real pipeline and model.  Dense search on this index is
meaningless and is not measured.

Steps, on ``bench/out/carry-<N>/`` (rebuilt when missing):

1. *before*: a one-paper ingest that finds no snapshot of the version before it
   (so it carries nothing forward), then a fresh engine's first catalogue (read
   every record, build, save) and a running engine's ``sync_catalogue`` (the
   same rebuild, in the watcher's thread);
2. *after*: a one-paper ingest with the previous version's snapshot at hand (it
   loads it, adds its paper, builds and saves the new version's snapshot, then
   stamps), a fresh engine's first catalogue (the snapshot) and the running
   engine's ``sync_catalogue`` (the snapshot).

Also the snapshot's size.  Run from the repo root::

    .venv-dev/bin/python -m bench.carry [--sizes 10000,100000]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench import synth
from bench.common import OUT_DIR, make_engine, parse_sizes

DIMENSIONS = 384
_ADD_BATCH = 2000


@dataclass
class Result:
    papers: int
    rows: list[tuple[str, float, str]] = field(default_factory=list)  # (what, seconds, note)


def build_index(n: int, seed: int) -> Path:
    """A collection of the synthetic corpus's ``n`` papers, one chunk each, with
    random unit vectors and the records the pipeline writes on chunk 0."""
    import numpy as np

    from index import open_store, parse_sources

    data_dir = OUT_DIR / f"carry-{n}"
    marker = data_dir / "BUILT.txt"
    if marker.is_file():
        return data_dir
    files = synth.write_corpus(OUT_DIR / f"index-{n}" / "digests", n, seed)
    papers = parse_sources([str(f) for f in files], max_bytes=1 << 30, timeout=5.0).papers
    engine = make_engine(data_dir)
    store = open_store(engine.settings)
    collection = store.collection
    rng = np.random.default_rng(seed)
    started = time.perf_counter()
    for start in range(0, len(papers), _ADD_BATCH):
        batch = papers[start : start + _ADD_BATCH]
        vectors = rng.standard_normal((len(batch), DIMENSIONS)).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        collection.add(
            ids=[f"{p.paper_id}#0" for p in batch],
            embeddings=vectors,
            documents=["\n\n".join(filter(None, (p.headline, p.summary))) or p.title for p in batch],
            metadatas=[{"paper_id": p.paper_id, "chunk": 0, "week": p.week or "",
                        "paper_json": json.dumps(p.to_dict(), sort_keys=True, ensure_ascii=False)} for p in batch],
        )
        print(f"[{n}] added {start + len(batch)}/{len(papers)} records, {time.perf_counter() - started:.0f} s",
              file=sys.stderr, flush=True)
    store.stamp_catalogue_version()
    marker.write_text(f"bench/carry.py: {len(papers)} synthetic papers with random vectors (seed {seed})\n",
                      encoding="utf-8")
    return data_dir


def one_paper_digest(path: Path, tag: str) -> str:
    """A digest of one paper no synthetic corpus holds."""
    number = random.Random(tag).randrange(10000, 99999)
    path.write_text(
        f"## Week of Dec 1, 2025\n\n1. **[Carried forward catalogue probe {tag}](https://arxiv.org/abs/2512.{number})**: "
        f"a probe paper about catalogue freshness ({tag}).\n",
        encoding="utf-8",
    )
    return str(path)


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    out = fn()
    return time.perf_counter() - started, out


def run_size(n: int, seed: int) -> Result:
    data_dir = build_index(n, seed)
    res = Result(n)
    probe_dir = data_dir / "probes"
    probe_dir.mkdir(exist_ok=True)
    stamp = f"{time.time():.0f}"

    # A running bot at the current version.
    bot = make_engine(data_dir)
    seconds, catalogue = timed(bot.catalogue)
    res.papers = len(catalogue.papers)
    snap = bot.snapshot_path
    size = f", snapshot {snap.stat().st_size / 1e6:.0f} MB" if snap.is_file() else ""
    res.rows.append(("running bot: first catalogue (setup)", seconds, catalogue.origin + size))

    # Before: the ingest finds no snapshot of the version before it.
    snap.unlink(missing_ok=True)
    seconds, report = timed(lambda: make_engine(data_dir).ingest([one_paper_digest(probe_dir / "a.md", f"a{stamp}")]))
    res.rows.append(("before: one-paper ingest (nothing carried forward)", seconds,
                     "carried" if report.carried_forward else "not carried"))
    fresh = make_engine(data_dir)
    seconds, catalogue = timed(fresh.catalogue)
    res.rows.append(("before: fresh process, first catalogue", seconds, catalogue.origin))
    del fresh, catalogue
    snap.unlink(missing_ok=True)  # what the fresh process saved: the bot must not find it either
    seconds, _ = timed(bot.sync_catalogue)
    res.rows.append(("before: running bot catches up (sync_catalogue)", seconds, bot.catalogue().origin))

    # After: the previous version's snapshot is at hand (the bot's rebuild saved it).
    seconds, report = timed(lambda: make_engine(data_dir).ingest([one_paper_digest(probe_dir / "b.md", f"b{stamp}")]))
    res.rows.append(("after: one-paper ingest (carries the catalogue forward)", seconds,
                     "carried" if report.carried_forward else "NOT carried"))
    del report
    fresh = make_engine(data_dir)
    seconds, catalogue = timed(fresh.catalogue)
    res.rows.append(("after: fresh process, first catalogue", seconds, catalogue.origin))
    del fresh, catalogue
    seconds, _ = timed(bot.sync_catalogue)
    res.rows.append(("after: running bot catches up (sync_catalogue)", seconds, bot.catalogue().origin))
    return res


def render(results: Sequence[Result]) -> str:
    lines = [f"Catalogue catch-up after an ingest (bench/carry.py), {os.cpu_count()} cores, "
             f"load {os.getloadavg()[0]:.1f}", "", "| step | " +
             " | ".join(f"{r.papers:,} papers: s | note" for r in results) + " |",
             "|---|" + "---:|---|" * len(results)]
    for i, (what, _s, _n) in enumerate(results[0].rows):
        cells = " | ".join(f"{r.rows[i][1]:.2f} | {r.rows[i][2]}" for r in results)
        lines.append(f"| {what} | {cells} |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s", stream=sys.stderr)
    for noisy in ("chromadb", "httpx", "bm25s"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    results = [run_size(int(size), args.seed) for size in parse_sizes(parser, args.sizes, shared=False)]
    print(render(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
