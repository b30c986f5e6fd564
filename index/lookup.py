"""``/paper`` lookup and autocomplete over the in-memory paper catalogue.

A user may type an arXiv id, an arXiv link (abs or pdf, any version), an exact
or partial title, a title with typos, or a few keywords.  Exact identifiers win
outright; titles are matched with rapidfuzz; keywords fall back to IDF-weighted
term overlap.  Autocomplete runs on every keystroke, so it uses only
precomputed lowercase titles and one rapidfuzz pass (well under 50 ms at 10k
papers) and never touches Chroma or a model.
"""

from __future__ import annotations

import logging
import math
import re
from dataclasses import dataclass
from typing import Sequence

from rapidfuzz import fuzz, process

from index.digests import arxiv_id_from_url, normalise_title
from index.lexical import tokenize
from index.models import Paper

log = logging.getLogger(__name__)

LABEL_LIMIT = 100
_ARXIV_IN_TEXT = re.compile(r"(?:arxiv:\s*)?(\d{4}\.\d{4,5})(?:v\d+)?", re.I)
_FUZZY_CUTOFF = 80.0
_PARTIAL_MIN_CHARS = 16


@dataclass(frozen=True)
class LookupMatch:
    """One paper found for a lookup, with how it was found (for "did you mean")."""

    paper: Paper
    score: float
    how: str  # "paper_id" | "arxiv_id" | "url" | "title" | "fuzzy_title" | "keywords"


class PaperLookup:
    """Built once per catalogue version; all queries are read-only."""

    def __init__(self, papers: Sequence[Paper]) -> None:
        self.papers = sorted(papers, key=lambda p: (p.date or "", p.paper_id), reverse=True)
        self._titles = [normalise_title(p.title) for p in self.papers]
        self._spaced_titles = [f" {t}" for t in self._titles]
        self._by_arxiv: dict[str, list[Paper]] = {}
        self._by_url: dict[str, list[Paper]] = {}
        for p in self.papers:
            if p.arxiv_id:
                self._by_arxiv.setdefault(p.arxiv_id, []).append(p)
            if p.url:
                self._by_url.setdefault(p.url.rstrip("/").lower(), []).append(p)
        self._terms = [frozenset(tokenize(" ".join([p.title, p.headline, p.summary, *p.topics, *p.orgs]))) for p in self.papers]
        df: dict[str, int] = {}
        for terms in self._terms:
            for t in terms:
                df[t] = df.get(t, 0) + 1
        n = len(self.papers) or 1
        self._idf = {t: math.log(1 + n / c) for t, c in df.items()}
        self._labels = [_label(p) for p in self.papers]
        self._position = {p.paper_id: i for i, p in enumerate(self.papers)}

    def find(self, query: str, limit: int = 5) -> list[LookupMatch]:
        """Best matches for a lookup query, best first."""
        query = " ".join(query.split())[:500]
        if not query:
            return []
        exact = self._exact(query)
        if exact:
            return exact[:limit]
        norm = normalise_title(query)
        matches: dict[str, LookupMatch] = {}
        if norm:
            for i, title in enumerate(self._titles):
                if title == norm:
                    self._keep(matches, LookupMatch(self.papers[i], 100.0, "title"))
                elif len(norm) >= 4 and norm in title:
                    self._keep(matches, LookupMatch(self.papers[i], 90.0 + 10.0 * len(norm) / len(title), "title"))
            for i, score in self._fuzzy_titles(norm, limit):
                self._keep(matches, LookupMatch(self.papers[i], min(score, 95.0), "fuzzy_title"))
        for match in self._keywords(query, limit):
            self._keep(matches, match)
        return sorted(matches.values(), key=lambda m: (-m.score, m.paper.paper_id))[:limit]

    def autocomplete(self, prefix: str, limit: int = 25) -> list[tuple[str, str]]:
        """Up to ``limit`` (label, paper_id) choices for a partial input."""
        limit = min(limit, 25)
        text = normalise_title(prefix)[:100]
        if not text:
            return [(self._labels[i], self.papers[i].paper_id) for i in range(min(limit, len(self.papers)))]
        exact = self._exact(prefix.strip())
        chosen: list[int] = [self._position[m.paper.paper_id] for m in exact]
        seen = set(chosen)
        # Titles that start with the input first, then titles with it at a word
        # start; each scan stops as soon as the list is full.
        word_start = f" {text}"
        for matches in (
            (i for i, title in enumerate(self._titles) if title.startswith(text)),
            (i for i, title in enumerate(self._spaced_titles) if word_start in title),
        ):
            for i in matches:
                if len(chosen) >= limit:
                    break
                if i not in seen:
                    chosen.append(i)
                    seen.add(i)
        if len(chosen) < limit and len(text) >= 3:
            for _t, _score, i in process.extract(
                text, self._titles, scorer=fuzz.partial_ratio, limit=limit, score_cutoff=70.0
            ):
                if i not in seen:
                    chosen.append(i)
                    seen.add(i)
                if len(chosen) >= limit:
                    break
        return [(self._labels[i], self.papers[i].paper_id) for i in chosen[:limit]]

    # -- helpers --------------------------------------------------------------------
    def _fuzzy_titles(self, norm: str, limit: int) -> list[tuple[int, float]]:
        """Titles within a few typos of the query, whole or in part.

        Whole-title similarity catches a mistyped full title; partial similarity
        (the best-aligned stretch of a title) catches a mistyped beginning of one,
        but only for queries long enough that a shared common word ("with", "a")
        cannot pass for a title.  Token-set scorers such as WRatio are avoided for
        exactly that reason.
        """
        best: dict[int, float] = {}
        scorers = [fuzz.ratio] + ([fuzz.partial_ratio] if len(norm) >= _PARTIAL_MIN_CHARS else [])
        for scorer in scorers:
            for _title, score, i in process.extract(
                norm, self._titles, scorer=scorer, limit=limit, score_cutoff=_FUZZY_CUTOFF
            ):
                best[i] = max(best.get(i, 0.0), float(score))
        return sorted(best.items(), key=lambda kv: -kv[1])

    def _exact(self, query: str) -> list[LookupMatch]:
        """Identifiers that name papers outright: a paper id (what autocomplete
        hands back), an arXiv link or id, or any other digest link."""
        position = self._position.get(query.strip())
        if position is not None:
            return [LookupMatch(self.papers[position], 100.0, "paper_id")]
        arxiv = arxiv_id_from_url(query)
        if arxiv:
            return [LookupMatch(p, 100.0, "url") for p in self._by_arxiv.get(arxiv, [])]
        if query.startswith(("http://", "https://")):
            return [LookupMatch(p, 100.0, "url") for p in self._by_url.get(query.rstrip("/").lower(), [])]
        m = _ARXIV_IN_TEXT.fullmatch(query.strip())
        if m:
            return [LookupMatch(p, 100.0, "arxiv_id") for p in self._by_arxiv.get(m.group(1), [])]
        return []

    def _keywords(self, query: str, limit: int) -> list[LookupMatch]:
        terms = set(tokenize(query))
        if not terms:
            return []
        total = sum(self._idf.get(t, 0.0) for t in terms) or 1.0
        scored = []
        for i, doc in enumerate(self._terms):
            weight = sum(self._idf.get(t, 0.0) for t in terms & doc)
            if weight:
                scored.append((weight / total, i))
        scored.sort(reverse=True)
        return [LookupMatch(self.papers[i], 70.0 * share, "keywords") for share, i in scored[:limit] if share >= 0.3]

    @staticmethod
    def _keep(matches: dict[str, LookupMatch], match: LookupMatch) -> None:
        old = matches.get(match.paper.paper_id)
        if old is None or match.score > old.score:
            matches[match.paper.paper_id] = match


def _label(paper: Paper) -> str:
    """A choice label: title and date, one line, at most 100 characters."""
    suffix = f" ({paper.date})" if paper.date else ""
    title = " ".join(paper.title.split()) or paper.paper_id
    room = LABEL_LIMIT - len(suffix)
    if len(title) > room:
        title = title[: room - 1].rstrip() + "…"
    return (title + suffix)[:LABEL_LIMIT]
