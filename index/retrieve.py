"""Hybrid retrieval: dense (Chroma) + lexical (BM25), fused, one hit per paper.

Neither side is enough alone: BM25 nails names and acronyms (VPTQ, Scylla) but
misses paraphrases; MiniLM catches paraphrases but scores off-topic questions
almost as high as real ones.  The two are fused by relative score fusion: each
side's scores are min-max scaled over the query's candidates and averaged.
Unlike reciprocal rank fusion this keeps the size of a lead (a paper far ahead
on one side stays ahead), which measured better on the paraphrase set.  Questions about a
*set* of papers ("papers from Meta", "long-context benchmarks") are helped by the
metadata parsed at ingest: a paper whose organisations or topics the question
names gets a bonus equal to a few places of rank.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Literal

import numpy as np

from index.facts import CatalogueFacts
from index.lexical import STOPWORDS, LexicalIndex, raw_words, tokenize
from index.models import Paper

if TYPE_CHECKING:
    from index.store import PaperStore

log = logging.getLogger(__name__)

Mode = Literal["hybrid", "dense", "bm25"]
MODES: tuple[Mode, ...] = ("dense", "bm25", "hybrid")

#: Share of the dense side in the fused score (the lexical side has the rest).
DENSE_WEIGHT = 0.5
#: Chunks fetched from Chroma per question (several chunks per paper).
DENSE_CHUNKS = 60
#: Metadata bonuses on the fused score (which lies in [0, 1]).  A question about a
#: set of papers ("papers from Meta") is answered by metadata first; in any other
#: question an organisation's name is only a weak hint.
SET_ORG_BONUS = 1.5
SET_TOPIC_BONUS = 0.5
#: A question that spells out a paper's whole title is about that paper.
TITLE_BONUS = 0.5
_TITLE_MIN_WORDS = 2
ORG_HINT_BONUS = 0.15
#: Words that mark a question about a set of papers rather than one.
_SET_WORDS = frozenset("papers publish published publications works list".split())

#: Words that make up organisation names but do not identify one.
_ORG_FILLER = frozenset(
    """uni univ university universities of the and inst institute institutes lab labs laboratory research ai
    inc co corp corporation ltd llc college school center centre group team technology tech sciences science
    national state foundation department dept collaborators others et al for in at de la du des""".split()
)


@dataclass(frozen=True)
class SearchFilters:
    """Optional restrictions on which papers may be returned."""

    since: str | None = None
    until: str | None = None
    week: str | None = None
    topic: str | None = None
    #: Any of these digest weeks (a month, "early October").
    weeks: tuple[str, ...] = ()

    def allows(self, paper: Paper) -> bool:
        if self.week and self.week not in paper.weeks:
            return False
        if self.weeks and not set(self.weeks) & set(paper.weeks):
            return False
        if self.since and (paper.date or "") < self.since:
            return False
        if self.until and (paper.date or "9999") > self.until:
            return False
        if self.topic:
            wanted = self.topic.lower()
            if not any(wanted in t.lower() for t in paper.topics):
                return False
        return True

    @property
    def active(self) -> bool:
        return any((self.since, self.until, self.week, self.topic, self.weeks))


@dataclass
class Hit:
    """One paper returned for a question, with the evidence behind its rank."""

    paper: Paper
    score: float
    rank: int = 0
    dense_sim: float = 0.0
    dense_rank: int | None = None
    bm25_score: float = 0.0
    bm25_rank: int | None = None
    org_match: bool = False
    topic_match: bool = False
    title_match: bool = False
    dense_norm: float = 0.0
    bm25_norm: float = 0.0
    passages: list[str] = field(default_factory=list)


class Retriever:
    """Searches the paper catalogue; built once per catalogue version."""

    def __init__(
        self,
        papers: Sequence[Paper],
        store: PaperStore,
        embed_query: Callable[[str], Sequence[float]],
        lexical: LexicalIndex | None = None,
    ) -> None:
        """``lexical``: the catalogue's keyword index over these ``papers``, shared
        with the lookup (built here when not given).  The retriever's papers are in
        its order (:func:`~index.lexical.newest_first`)."""
        self.lexical = LexicalIndex.over(papers, lexical)
        self.papers = self.lexical.papers
        self.store = store
        self.embed_query = embed_query
        self.index_of = {p.paper_id: i for i, p in enumerate(self.papers)}
        # Inverted maps from a word to the papers it could match, so that the
        # metadata pass looks only at candidates, not at every paper per question.
        self._org_keys = [[_org_key(o) for o in p.orgs] for p in self.papers]
        self._topic_terms = [frozenset(tokenize(" ".join(p.topics))) for p in self.papers]
        self._titles = [_spaced_words(p.title) for p in self.papers]
        self._by_org_word: dict[str, set[int]] = {}
        self._by_topic_term: dict[str, set[int]] = {}
        self._by_title_word: dict[str, set[int]] = {}
        for i in range(len(self.papers)):
            for key in self._org_keys[i]:
                for word in key:
                    self._by_org_word.setdefault(word, set()).add(i)
            for term in self._topic_terms[i]:
                self._by_topic_term.setdefault(term, set()).add(i)
            title_words = self._titles[i].split()
            if len(title_words) >= _TITLE_MIN_WORDS:
                self._by_title_word.setdefault(title_words[0], set()).add(i)

    @cached_property
    def facts(self) -> CatalogueFacts:
        """Weeks, sources and paper names of this catalogue version, built once
        (with the catalogue, and saved in its snapshot) and then shared by every
        answer and front-end view of the version."""
        return CatalogueFacts(self.papers, self.lexical)

    def search(
        self, query: str, k: int = 10, mode: Mode = "hybrid", filters: SearchFilters | None = None
    ) -> list[Hit]:
        """The ``k`` best papers for ``query`` (one hit per paper, best first)."""
        if not self.papers or not query.strip():
            return []
        allowed = self._allowed(filters)
        if allowed is not None and not allowed.any():
            return []
        hits: dict[int, Hit] = {}
        if mode in ("dense", "hybrid"):
            self._dense(query, allowed, hits)
        if mode in ("bm25", "hybrid"):
            self._bm25(query, allowed, hits)
        set_query = False
        if mode == "hybrid":
            set_query = self._metadata(query, allowed, hits)
        if mode == "hybrid":
            self._normalise(hits)
        for hit in hits.values():
            hit.score = self._score(hit, mode, set_query)
        ranked = sorted(hits.values(), key=lambda h: (-h.score, h.paper.paper_id))
        ranked = [h for h in ranked if h.score > 0][:k]
        for i, hit in enumerate(ranked, 1):
            hit.rank = i
        return ranked

    def _allowed(self, filters: SearchFilters | None) -> np.ndarray | None:
        if filters is None or not filters.active:
            return None
        return np.array([filters.allows(p) for p in self.papers], dtype=bool)

    def _hit(self, hits: dict[int, Hit], i: int) -> Hit:
        if i not in hits:
            hits[i] = Hit(paper=self.papers[i], score=0.0)
        return hits[i]

    def _dense(self, query: str, allowed: np.ndarray | None, hits: dict[int, Hit]) -> None:
        vector = self.embed_query(query)
        ids = None if allowed is None else [self.papers[i].paper_id for i in np.flatnonzero(allowed)]
        best: dict[int, float] = {}
        for chunk in self.store.query(vector, DENSE_CHUNKS, paper_ids=ids):
            i = self.index_of.get(chunk.paper_id)
            if i is None:
                continue
            hit = self._hit(hits, i)
            if len(hit.passages) < 3:
                hit.passages.append(chunk.text)
            if chunk.similarity > best.get(i, -1.0):
                best[i] = chunk.similarity
        for rank, (i, sim) in enumerate(sorted(best.items(), key=lambda kv: -kv[1]), 1):
            hits[i].dense_sim = sim
            hits[i].dense_rank = rank

    def _bm25(self, query: str, allowed: np.ndarray | None, hits: dict[int, Hit]) -> None:
        scores = self.lexical.scores(query)
        if allowed is not None:
            scores = np.where(allowed, scores, 0.0)
        order = np.argsort(-scores, kind="stable")[: max(DENSE_CHUNKS, 50)]
        for rank, i in enumerate(order, 1):
            if scores[i] <= 0:
                break
            hit = self._hit(hits, int(i))
            hit.bm25_score = float(scores[i])
            hit.bm25_rank = rank

    def _metadata(self, query: str, allowed: np.ndarray | None, hits: dict[int, Hit]) -> bool:
        """Mark papers whose organisations or topics the query names; return
        whether the query asks for a set of papers."""
        all_words = set(raw_words(query))
        words = {w for w in all_words if w not in STOPWORDS}
        terms = set(tokenize(query))
        spaced_query = _spaced_words(query)
        org_words: set[str] = set()
        candidates: set[int] = set()
        for word in words:
            candidates |= self._by_org_word.get(word, set())
        for term in terms:
            candidates |= self._by_topic_term.get(term, set())
        title_candidates: set[int] = set()
        for word in all_words:
            title_candidates |= self._by_title_word.get(word, set())
        candidates |= title_candidates
        for i in sorted(candidates):
            if allowed is not None and not allowed[i]:
                continue
            matched = [key for key in self._org_keys[i] if key and key <= words]
            topic = bool(self._topic_terms[i]) and self._topic_terms[i] <= terms
            title = self._titles[i]
            named = i in title_candidates and title in spaced_query
            if matched or topic or named:
                hit = self._hit(hits, i)
                hit.org_match, hit.topic_match, hit.title_match = bool(matched), topic, named
                org_words.update(*matched)
        # A bare organisation name ("Meta", "Apple?") asks for its papers; a topic
        # that happens to contain one ("vector quantization" vs Vector Institute)
        # does not.
        return bool(all_words & _SET_WORDS) or (bool(org_words) and not (words - org_words))

    @staticmethod
    def _normalise(hits: dict[int, Hit]) -> None:
        """Min-max scale each retriever's scores over this query's candidates."""
        dense = [h.dense_sim for h in hits.values() if h.dense_rank]
        lexical = [h.bm25_score for h in hits.values() if h.bm25_rank]
        d_lo, d_hi = (min(dense), max(dense)) if dense else (0.0, 1.0)
        b_lo, b_hi = (min(lexical), max(lexical)) if lexical else (0.0, 1.0)
        for h in hits.values():
            h.dense_norm = _scale(h.dense_sim, d_lo, d_hi) if h.dense_rank else 0.0
            h.bm25_norm = _scale(h.bm25_score, b_lo, b_hi) if h.bm25_rank else 0.0

    @staticmethod
    def _score(hit: Hit, mode: Mode, set_query: bool = False) -> float:
        if mode == "dense":
            return hit.dense_sim if hit.dense_rank else 0.0
        if mode == "bm25":
            return hit.bm25_score
        score = DENSE_WEIGHT * hit.dense_norm + (1 - DENSE_WEIGHT) * hit.bm25_norm
        if hit.org_match:
            score += SET_ORG_BONUS if set_query else ORG_HINT_BONUS
        if hit.title_match:
            score += TITLE_BONUS
        if hit.topic_match and set_query:
            score += SET_TOPIC_BONUS
        return score


def _scale(value: float, lo: float, hi: float) -> float:
    """Min-max scaling where a lone candidate (or a tie) counts as the best: a
    name only one paper contains must keep its full lexical weight."""
    return (value - lo) / (hi - lo) if hi > lo else 1.0


def _spaced_words(text: str) -> str:
    """Lower-case words between single spaces and at both ends, for whole-word containment."""
    return " " + " ".join(raw_words(text)) + " "


def _org_key(org: str) -> frozenset[str]:
    """The identifying words of an organisation name ("Uni of Chicago" → {chicago})."""
    words = [w for w in raw_words(re.sub(r"[()]", " ", org)) if w not in _ORG_FILLER]
    return frozenset(w for w in words if w not in STOPWORDS)
