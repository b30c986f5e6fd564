"""``/paper`` lookup and autocomplete over the in-memory paper catalogue.

A user may type an arXiv id, an arXiv link (abs or pdf, any version), an exact
or partial title, a title with typos, or a few keywords.  Exact identifiers win
outright; titles are matched with rapidfuzz; keywords fall back to IDF-weighted
term overlap.  Autocomplete runs on every keystroke and never touches Chroma
or a model.

Nothing scans every title per keystroke: at 100k papers one Python pass over
the titles costs ~10 ms and a rapidfuzz pass ~100 ms.  Instead a character
trigram index over the titles gives, with a few numpy operations, the titles
that contain every trigram of the input (a superset of the substring matches,
verified afterwards) or share the most trigrams with it (the candidates for
typo-tolerant matching), and the catalogue's keyword index (index/lexical.py,
shared with retrieval) gives the keyword postings.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import chain, islice
from typing import Any

import numpy as np
from rapidfuzz import fuzz, process

from index.digests import arxiv_id_from_url, normalise_title
from index.lexical import LexicalIndex, tokenize
from index.models import Paper

log = logging.getLogger(__name__)

LABEL_LIMIT = 100
_ARXIV_IN_TEXT = re.compile(r"(?:arxiv:\s*)?(\d{4}\.\d{4,5})(?:v\d+)?", re.I)
_FUZZY_CUTOFF = 80.0
_PARTIAL_MIN_CHARS = 16
#: Titles handed to rapidfuzz per fuzzy match: those sharing the most trigrams with the input.
_FUZZY_CANDIDATES = 500
#: Best keyword matches re-ranked by title overlap.
_KEYWORD_TIES = 200
_URL = re.compile(r"https?://\S+")


@dataclass(frozen=True)
class LookupMatch:
    """One paper found for a lookup, with how it was found (for "did you mean")."""

    paper: Paper
    score: float
    how: str  # "paper_id" | "arxiv_id" | "url" | "title" | "fuzzy_title" | "keywords"


class PaperLookup:
    """Built once per catalogue version; all queries are read-only."""

    def __init__(self, papers: Sequence[Paper], lexical: LexicalIndex | None = None) -> None:
        """``lexical``: the catalogue's keyword index over these ``papers``, shared
        with the retriever (built here when not given).  The lookup's papers are in
        its order, newest first, which is how ties are broken."""
        self.lexical = LexicalIndex.over(papers, lexical)
        self.papers = self.lexical.papers
        # One entry per name of a paper (its title, then its aliases), in paper order;
        # ``_owner`` maps an entry back to its paper.
        self._titles: list[str] = []
        self._owner: list[int] = []
        for i, p in enumerate(self.papers):
            names = [n for n in dict.fromkeys(normalise_title(t) for t in [p.title, *p.aliases]) if n] or [""]
            self._titles.extend(names)
            self._owner.extend([i] * len(names))
        self._by_title: dict[str, list[int]] = {}
        self._by_arxiv: dict[str, list[Paper]] = {}
        self._by_url: dict[str, list[Paper]] = {}
        for i, title in enumerate(self._titles):
            self._by_title.setdefault(title, []).append(i)
        for p in self.papers:
            if p.arxiv_id:
                self._by_arxiv.setdefault(p.arxiv_id, []).append(p)
            if p.url:
                self._by_url.setdefault(p.url.rstrip("/").lower(), []).append(p)
        self._trigrams = _TrigramIndex(self._titles)
        self._labels = [_label(p) for p in self.papers]
        self._position = {p.paper_id: i for i, p in enumerate(self.papers)}

    def find(self, query: str, limit: int = 5) -> list[LookupMatch]:
        """Best matches for a lookup query, best first."""
        query = " ".join(query.split())[:500]
        if not query:
            return []
        exact = self._exact(query)
        if exact or _URL.fullmatch(query) or _ARXIV_IN_TEXT.fullmatch(query):
            return exact[:limit]  # an identifier names one paper or none, never a look-alike
        norm = normalise_title(query)
        matches: dict[str, LookupMatch] = {}
        if norm:
            for i in self._by_title.get(norm, []):
                self._keep(matches, LookupMatch(self._paper(i), 100.0, "title"))
            if len(norm) >= 4:
                for i in self._trigrams.containing(norm):
                    if norm in self._titles[i] and self._titles[i] != norm:
                        score = 90.0 + 10.0 * len(norm) / len(self._titles[i])
                        self._keep(matches, LookupMatch(self._paper(i), score, "title"))
            for i, score in self._fuzzy_titles(norm, limit):
                self._keep(matches, LookupMatch(self._paper(i), min(score, 95.0), "fuzzy_title"))
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
        chosen: list[int] = [self._position[m.paper.paper_id] for m in exact]  # papers, not title entries
        seen = set(chosen)
        # Titles that start with the input first, then titles with it at a word
        # start, newest first within each group.  Every such title contains all
        # trigrams of " " + input, since the index frames each title in spaces.
        spaced = f" {text}"
        candidates = self._trigrams.containing(spaced) if len(text) >= 2 else range(len(self._titles))
        wanted = limit + len(chosen)
        starts = list(islice((i for i in candidates if self._titles[i].startswith(text)), wanted))
        inside = (i for i in candidates if spaced in f" {self._titles[i]}") if len(starts) < limit else ()
        for entry in chain(starts, inside):
            if len(chosen) >= limit:
                break
            i = self._owner[entry]
            if i not in seen:
                chosen.append(i)
                seen.add(i)
        if len(chosen) < limit and len(text) >= 3:
            for entry, _score in self._fuzzy(text, fuzz.partial_ratio, limit, 70.0):
                i = self._owner[entry]
                if i not in seen:
                    chosen.append(i)
                    seen.add(i)
                if len(chosen) >= limit:
                    break
        return [(self._labels[i], self.papers[i].paper_id) for i in chosen[:limit]]

    # -- helpers --------------------------------------------------------------------
    def _paper(self, entry: int) -> Paper:
        """The paper a title entry (a title or an alias) names."""
        return self.papers[self._owner[entry]]

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
            for i, score in self._fuzzy(norm, scorer, limit, _FUZZY_CUTOFF):
                best[i] = max(best.get(i, 0.0), score)
        return sorted(best.items(), key=lambda kv: -kv[1])

    def _fuzzy(self, text: str, scorer: Any, limit: int, cutoff: float) -> list[tuple[int, float]]:
        """rapidfuzz over the titles that share the most trigrams with ``text``
        (all titles in a catalogue of at most 500)."""
        candidates = self._trigrams.sharing(text, _FUZZY_CANDIDATES)
        choices = {int(i): self._titles[i] for i in candidates}
        found = process.extract(text, choices, scorer=scorer, limit=limit, score_cutoff=cutoff)
        return [(int(i), float(score)) for _title, score, i in found]

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
        # A pasted link is an identifier, not keywords: "https" and "arxiv" match everything.
        terms = set(tokenize(_URL.sub(" ", query)))
        if not terms:
            return []
        weights = np.zeros(len(self.papers), dtype=np.float64)
        total = 0.0
        for t in terms:
            df = self.lexical.doc_freq(t)
            if df:
                idf = self.lexical.idf(t)
                np.add.at(weights, self.lexical.postings(t), idf)
                total += idf
        total = total or 1.0
        shares = weights / total
        top = np.flatnonzero(shares >= 0.3)
        top = top[np.lexsort((top, -shares[top]))][: max(limit, _KEYWORD_TIES)]
        # Papers that share as many keywords are told apart by how many of them
        # are in the title, which is what people quote when they name a paper.
        in_title = {int(i): len(terms & set(tokenize(self.papers[i].title))) for i in top}
        ranked = sorted(in_title, key=lambda i: (-round(float(shares[i]), 6), -in_title[i], i))[:limit]
        return [LookupMatch(self.papers[i], 70.0 * float(shares[i]) + min(in_title[i], 5) * 0.1, "keywords")
                for i in ranked]

    @staticmethod
    def _keep(matches: dict[str, LookupMatch], match: LookupMatch) -> None:
        old = matches.get(match.paper.paper_id)
        if old is None or match.score > old.score:
            matches[match.paper.paper_id] = match


class _TrigramIndex:
    """Which titles contain which character trigrams, as sorted numpy postings.

    Titles are normalised (lowercase ASCII letters, digits, single spaces) and
    framed in spaces, so a word start is the trigram " xy" and the index is
    built in one vectorised pass: about a second and 25 MB at 100k papers.
    """

    def __init__(self, titles: Sequence[str]) -> None:
        self.size = len(titles)
        framed = [f" {t} " for t in titles]
        raw = np.frombuffer("\0".join(framed).encode("ascii", "replace"), dtype=np.uint8)
        owner = np.repeat(np.arange(self.size, dtype=np.int64), [len(t) + 1 for t in framed])[: max(len(raw) - 2, 0)]
        codes = _codes(raw)
        keep = (raw[:-2] != 0) & (raw[1:-1] != 0) & (raw[2:] != 0) if len(raw) >= 3 else np.zeros(0, dtype=bool)
        # Sort and drop repeats by hand: np.unique hashes, several times slower here.
        pairs = np.sort(codes[keep] * max(self.size, 1) + owner[keep])
        pairs = pairs[np.append(True, pairs[1:] != pairs[:-1])] if len(pairs) else pairs
        self._ids = (pairs % max(self.size, 1)).astype(np.int32)
        codes = pairs // max(self.size, 1)
        starts = np.flatnonzero(np.append(True, codes[1:] != codes[:-1])) if len(codes) else np.zeros(0, np.int64)
        self._codes = codes[starts]
        self._starts = np.append(starts, len(pairs))

    def _posting(self, code: int) -> np.ndarray:
        at = int(np.searchsorted(self._codes, code))
        if at == len(self._codes) or self._codes[at] != code:
            return np.zeros(0, dtype=np.int32)
        return self._ids[self._starts[at] : self._starts[at + 1]]

    def _query_codes(self, text: str) -> list[int]:
        raw = np.frombuffer(text.encode("ascii", "replace"), dtype=np.uint8)
        return sorted({int(c) for c in _codes(raw)})

    def containing(self, text: str) -> list[int]:
        """Titles (ascending index) that contain every trigram of ``text`` (3+ characters)."""
        postings = sorted((self._posting(c) for c in self._query_codes(text)), key=len)
        if not postings:
            return list(range(self.size))
        found = postings[0]
        for posting in postings[1:]:
            if not len(found):
                break
            found = np.intersect1d(found, posting, assume_unique=True)
        return found.tolist()

    def sharing(self, text: str, k: int) -> list[int]:
        """Up to ``k`` titles sharing the most trigrams with ``text``; every title if there are at most ``k``."""
        if self.size <= k:
            return list(range(self.size))
        postings = [self._posting(c) for c in self._query_codes(text)]
        if not postings:
            return []
        counts = np.bincount(np.concatenate(postings), minlength=self.size)
        # Equal counts go to the lower index (the newer paper), as a full scan would.
        key = counts.astype(np.int64) * (self.size + 1) - np.arange(self.size)
        top = np.argpartition(-key, k)[:k]
        return sorted(top[counts[top] > 0].tolist())


def _codes(raw: np.ndarray) -> np.ndarray:
    """One int per trigram of a byte string."""
    if len(raw) < 3:
        return np.zeros(0, dtype=np.int64)
    wide = raw.astype(np.int64)
    return (wide[:-2] << 16) | (wide[1:-1] << 8) | wide[2:]


def _label(paper: Paper) -> str:
    """A choice label: title and date, one line, at most 100 characters."""
    suffix = f" ({paper.date})" if paper.date else ""
    title = " ".join(paper.title.split()) or paper.paper_id
    room = LABEL_LIMIT - len(suffix)
    if len(title) > room:
        title = title[: room - 1].rstrip() + "…"
    return (title + suffix)[:LABEL_LIMIT]
