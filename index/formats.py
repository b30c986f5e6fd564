"""How well the parser reads digests of known shapes: fixture digests, each with
a sidecar ``NAME.expected.json`` listing its papers (title, url, week, and
authors where the digest names them).

For each format: how many expected papers were found (same link, or the same
title for an entry without one, in the right week), how many of those carry the
exact expected title, right authors, and how many parsed "papers" are not in
the list (non-papers that would be indexed).  Used by ``paperbot eval
--formats DIR`` and tests/test_formats.py.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from index.digests import canonical_url
from index.identity import normalise_title
from index.models import Paper
from index.sources import parse_sources

log = logging.getLogger(__name__)

EXPECTED_SUFFIX = ".expected.json"


@dataclass
class FormatScore:
    """One fixture digest against its expected list."""

    name: str
    description: str
    expected: int
    found: int = 0
    exact_titles: int = 0
    right_authors: int = 0
    with_authors: int = 0
    parsed: int = 0
    non_papers: int = 0
    skipped: int = 0
    misses: list[str] = field(default_factory=list)

    @property
    def found_rate(self) -> float:
        return self.found / self.expected if self.expected else 1.0

    @property
    def exact_title_rate(self) -> float:
        return self.exact_titles / self.expected if self.expected else 1.0

    @property
    def non_paper_rate(self) -> float:
        return self.non_papers / self.parsed if self.parsed else 0.0

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data.update(found_rate=round(self.found_rate, 4), exact_title_rate=round(self.exact_title_rate, 4),
                    non_paper_rate=round(self.non_paper_rate, 4))
        return data


def score_formats(folder: Path) -> list[FormatScore]:
    """Every ``*.md`` in ``folder`` that has a sidecar expected list, by name."""
    scores = []
    for digest in sorted(Path(folder).glob("*.md")):
        expected = digest.with_name(digest.name[: -len(".md")] + EXPECTED_SUFFIX)
        if expected.is_file():
            scores.append(score_format(digest, expected))
        else:
            log.warning("%s has no %s next to it; not scored", digest.name, expected.name)
    return scores


def score_format(digest: Path, expected_path: Path) -> FormatScore:
    spec = json.loads(expected_path.read_text(encoding="utf-8"))
    wanted: list[dict[str, Any]] = spec["papers"]
    parsed = parse_sources([str(digest)], max_bytes=50 << 20, timeout=5)
    score = FormatScore(digest.name, spec.get("format", ""), len(wanted), parsed=len(parsed.papers), skipped=len(parsed.skipped))
    unclaimed = list(parsed.papers)
    for entry in wanted:
        paper = _claim(entry, unclaimed)
        if paper is None:
            score.misses.append(f"not found: {entry['title']} ({entry.get('url')}, week {entry.get('week')})")
            continue
        score.found += 1
        if paper.title == entry["title"]:
            score.exact_titles += 1
        else:
            score.misses.append(f"title: expected {entry['title']!r}, got {paper.title!r}")
        if "authors" in entry:
            score.with_authors += 1
            if paper.authors == entry["authors"]:
                score.right_authors += 1
            else:
                score.misses.append(f"authors of {entry['title']!r}: expected {entry['authors']}, got {paper.authors}")
        if entry.get("date") and paper.date != entry["date"]:
            score.misses.append(f"date of {entry['title']!r}: expected {entry['date']}, got {paper.date}")
    score.non_papers = len(unclaimed)
    score.misses += [f"not a paper: {p.title!r} (line {p.line})" for p in unclaimed]
    return score


def _claim(entry: dict[str, Any], papers: list[Paper]) -> Paper | None:
    """The parsed paper for an expected entry (removed from ``papers``): same link
    and week, the closest title first; an entry without a link by its title."""
    url = canonical_url(entry.get("url"))
    week = entry.get("week")
    title = normalise_title(entry["title"])

    def names(p: Paper) -> set[str]:
        return {normalise_title(t) for t in [p.title, *p.aliases]}

    if url:
        candidates = [p for p in papers if p.url == url and (week is None or week in p.weeks)]
        candidates.sort(key=lambda p: (title not in names(p), p.line or 0))
    else:
        candidates = [p for p in papers if title in names(p) and (week is None or week in p.weeks)]
    if not candidates:
        return None
    papers.remove(candidates[0])
    return candidates[0]
