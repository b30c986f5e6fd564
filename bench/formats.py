"""Digest formats: parser quality per fixture format, markdown parser speed, and
a 1 MB dair-ai-shaped digest ingested end to end.

Why: communities feed the bot digests in shapes nobody here wrote (issue 11).
This prints, as markdown tables:

1. per fixture format in ``tests/fixtures/formats``: papers found / expected,
   exact titles, non-papers that would be indexed (``paperbot eval --formats``);
2. markdown-it-py against mistune (when importable) reading the same 1 MB
   digest: the choice of parser in ``index/markdown.py``;
3. the generated digest (one ``## Top ML Papers of the Week (…) - YYYY``
   table per week, ``| N) **Title** - description | [Paper](…), [Tweet](…) |``
   rows, a few rows with a run-on title cell longer than 300 characters)
   parsed and then ingested into a fresh index with the real pipeline and
   model: papers, skipped, seconds, papers/s.  The digest is generated, not
   committed.

Run from the repo root: ``.venv-dev/bin/python -m bench.formats [--rows 1800] [--no-ingest]``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from bench.common import REPO_ROOT
from bench.synth import generate

FORMATS = REPO_ROOT / "tests" / "fixtures" / "formats"
#: Every this many rows, one title cell runs on past 300 characters (no bold, no " - ").
RUN_ON_EVERY = 500


def dairai_digest(rows: int, seed: int = 3) -> tuple[str, int]:
    """A dair-ai-shaped digest of ``rows`` table rows, newest week first, and the
    number of rows that are papers (the rest have run-on titles and must be
    reported, not indexed)."""
    papers = generate(rows, seed=seed)
    weeks: dict[dt.date, list[int]] = {}
    for i, paper in enumerate(papers):
        weeks.setdefault(paper.week_end, []).append(i)
    parts = ["# ML Papers of the Week (generated)\n", "A generated digest in the shape of a well-known weekly list.\n"]
    good = 0
    for week_end in sorted(weeks, reverse=True):
        start = week_end - dt.timedelta(days=6)
        parts.append(f"\n## Top ML Papers of the Week ({start:%B} {start.day} - {week_end:%B} {week_end.day}) - {week_end.year}\n")
        parts.append("| **Paper**  | **Links** |\n| ------------- | ------------- |")
        for n, i in enumerate(weeks[week_end], 1):
            paper = papers[i]
            summary = paper.summary.replace("|", "/")
            if i % RUN_ON_EVERY == RUN_ON_EVERY - 1:
                cell = f"{n}) {paper.title} {summary} {summary}"[:1200]
            else:
                cell = f"{n}) **{paper.title}** - {summary}"
                good += 1
            parts.append(f"| {cell} | [Paper]({paper.url}), [Tweet](https://x.com/example/status/{1800000000000000000 + i}) |")
    return "\n".join(parts) + "\n", good


def format_table() -> list[str]:
    from index import score_formats

    lines = ["| format | found / expected | exact titles | non-papers indexed |", "|---|---:|---:|---:|"]
    for s in score_formats(FORMATS):
        lines.append(f"| {s.name} | {s.found}/{s.expected} | {s.exact_title_rate:.0%} | {s.non_papers} ({s.non_paper_rate:.0%}) |")
    return lines


def parser_table(text: str) -> list[str]:
    """The two libraries alone, each with tables on (paperbot's own parse of the same
    text, markdown-it-py tokens → blocks → papers, is the first row of the next table)."""
    from markdown_it import MarkdownIt

    lines = [f"| parser ({len(text) / 1e6:.2f} MB) | seconds |", "|---|---:|"]
    started = time.perf_counter()
    MarkdownIt("commonmark").enable("table").parse(text)
    lines.append(f"| markdown-it-py tokens | {time.perf_counter() - started:.2f} |")
    try:
        import mistune  # not a dependency: measured only where it is installed
    except ImportError:
        lines.append("| mistune | not installed |")
    else:
        started = time.perf_counter()
        mistune.create_markdown(renderer=None, plugins=["table"])(text)
        lines.append(f"| mistune AST (no line numbers) | {time.perf_counter() - started:.2f} |")
    return lines


def ingest_table(text: str, good: int, ingest: bool) -> list[str]:
    from config import Settings
    from index import parse_digest

    lines = ["| step | papers | skipped | seconds | papers/s |", "|---|---:|---:|---:|---:|"]
    started = time.perf_counter()
    parsed = parse_digest(text, "generated-dairai-2024.md")
    took = time.perf_counter() - started
    lines.append(f"| parse ({good} papers expected) | {len(parsed.papers)} | {len(parsed.skipped)} | {took:.2f} | {len(parsed.papers) / took:.0f} |")
    if not ingest:
        return lines
    from index import Engine

    with tempfile.TemporaryDirectory(prefix="paperbot-formats-") as home:
        digest = Path(home) / "generated-dairai-2024.md"
        digest.write_text(text, encoding="utf-8")
        engine = Engine(Settings.from_env(environ={}, dotenv_path=None, data_dir=Path(home) / "data"))
        started = time.perf_counter()
        report = engine.ingest([str(digest)])
        took = time.perf_counter() - started
        lines.append(
            f"| ingest end to end (parse, embed, Chroma) | {report.papers} | {len(report.skipped)} | {took:.1f} | {report.papers / took:.1f} |"
        )
        reasons = sorted({s.reason.split(":")[0] for s in report.skipped})
        lines.append(f"\nskipped reasons: {', '.join(reasons) or 'none'}; new {report.new}, updated {report.updated}")
    return lines


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rows", type=int, default=1800, help="table rows of the generated digest (1800 ≈ 1 MB)")
    parser.add_argument("--no-ingest", action="store_true", help="parse only, skip the end-to-end ingest")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    text, good = dairai_digest(args.rows)
    for table in (format_table(), parser_table(text), ingest_table(text, good, not args.no_ingest)):
        print("\n".join(table) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
