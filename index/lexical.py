"""Lexical side of retrieval and lookup: one tokenizer and one keyword index over papers.

Paper names are the hard case for dense models (VPTQ, R-MCTS, OLMoE mean nothing
to MiniLM), so the tokenizer keeps them whole *and* split: ``R-MCTS`` yields
``rmcts``, ``r`` and ``mcts``.  Words are lower-cased and Snowball-stemmed, and the
same function tokenizes papers, queries and the answerer's overlap checks so
they always agree.
"""

from __future__ import annotations

import logging
import math
import re
from array import array
from collections.abc import Sequence
from functools import lru_cache
from itertools import chain

import numpy as np

from index.models import Paper

log = logging.getLogger(__name__)

_TOKEN = re.compile(r"[A-Za-z0-9]+(?:[-.'’][A-Za-z0-9]+)*")
_SPLIT = re.compile(r"[-.'’]")
#: BM25 (Lucene variant) term-frequency saturation and length normalisation.
K1 = 1.5
B = 0.75

#: English function words plus question words that say nothing about a paper.
STOPWORDS = frozenset(
    """a about above after again against all also am an and any are as at be because been before being
    below between both but by can could did do does doing down during each few for from further had has
    have having he her here hers herself him himself his how i if in into is it its itself just me more
    most my myself no nor not now of off on once only or other our ours ourselves out over own same she
    should so some such than that the their theirs them themselves then there these they this those
    through to too under until up very was we were what when where which while who whom why will with
    would you your yours yourself yourselves s t don isn aren wasn weren doesn didn won wouldn shouldn
    couldn let us via use used using within without whose whether among across per vs etc
    tell explain describe summarize summarise show give know find get say said mean means
    paper papers study studies work works research article digest digests publish published propose
    proposed proposes introduce introduced introduces present presents presented new recent
    please anyone something anything thing things way ways one two much many lot like make made""".split()
)


@lru_cache(maxsize=1)
def _stemmer():  # noqa: ANN202 - PyStemmer has no type stubs
    import Stemmer

    return Stemmer.Stemmer("english")


def raw_words(text: str) -> list[str]:
    """Lower-cased word tokens, hyphenated names kept whole (``r-mcts``)."""
    return _TOKEN.findall(text.lower().replace("’", "'"))


#: (word, keep_stopwords) -> its index terms.  Digests reuse a small vocabulary,
#: so a dictionary hit replaces splitting and stemming for most words, which is
#: most of the time it takes to build the index.
_TERMS: dict[tuple[str, bool], tuple[str, ...]] = {}
_TERM_CACHE_LIMIT = 500_000


def _word_terms(word: str, keep_stopwords: bool) -> tuple[str, ...]:
    """A word's stemmed terms; a compound (``r-mcts``) also yields its parts."""
    stem = _stemmer().stemWord
    parts = [p for p in _SPLIT.split(word) if p]
    out: list[str] = []
    if len(parts) > 1:
        out.append("".join(parts))
        candidates = parts
    else:
        candidates = [word]
    for part in candidates:
        if not keep_stopwords and part in STOPWORDS:
            continue
        if len(part) == 1 and not part.isdigit() and len(parts) == 1:
            continue
        out.append(stem(part))
    return tuple(out)


def tokenize(text: str, *, keep_stopwords: bool = False) -> list[str]:
    """Stemmed index terms of ``text``; compound names also yield their parts."""
    out: list[str] = []
    for word in raw_words(text):
        key = (word, keep_stopwords)
        terms = _TERMS.get(key)
        if terms is None:
            terms = _word_terms(word, keep_stopwords)
            if len(_TERMS) < _TERM_CACHE_LIMIT:
                _TERMS[key] = terms
        out.extend(terms)
    return out


def paper_text(paper: Paper) -> str:
    """What the lexical index sees of a paper: the title counts twice, on purpose,
    because a question naming a paper's title words is about that paper; its
    other names (aliases) and its authors ("papers by Ozgur Ercetin") count too."""
    return "\n".join(
        [
            paper.title, paper.title, *paper.aliases, paper.headline, paper.summary,
            " ".join(paper.orgs), " ".join(paper.topics), ", ".join(paper.authors),
        ]
    )


def newest_first(papers: Sequence[Paper]) -> list[Paper]:
    """The catalogue's one paper order: newest first, then by paper id (descending).

    Lookup and autocomplete break ties towards the newer paper by taking the lower
    position, and the retriever and lookup share one index, so both use this order.
    """
    return sorted(papers, key=lambda p: (p.date or "", p.paper_id), reverse=True)


class LexicalIndex:
    """The catalogue's one keyword index: BM25 for retrieval, document frequencies
    for the answerer and the catalogue facts, postings for ``/paper`` lookup.

    Stored compactly as CSR rows, one per stemmed term: ``_rows`` maps a term to its
    row, ``_indptr[row]:_indptr[row + 1]`` slices ``_docs`` (int32 paper positions,
    ascending) and ``_weights`` (float32 BM25 weight of the term in that paper).
    The weight is Lucene's BM25 (what bm25s computes by default; k1=1.5, b=0.75):
    ``idf * tf / (tf + k1 * (1 - b + b * dl / avgdl))`` with
    ``idf = ln(1 + (N - df + 0.5) / (df + 0.5))``, so a query's scores are a sum of
    row slices.  A paper's position is its place in :attr:`papers`, which are in
    :func:`newest_first` order.  Rebuilt in memory per catalogue version (0.5 s at
    10k papers, 6-9 s at 100k on a loaded 2-core box; 63 MiB at 100k) and saved
    with the catalogue's snapshot, which is simpler than keeping a second persisted
    index in step with Chroma.
    """

    def __init__(self, papers: Sequence[Paper]) -> None:
        self.papers = newest_first(papers)
        n = len(self.papers)
        rows: dict[str, int] = {}
        # word -> its term rows, for this build: most words recur, so this replaces
        # tokenizing and the vocabulary lookups for most of the corpus, and a paper
        # whose words are all known is indexed by one C-level pass over them.
        word_rows: dict[str, tuple[int, ...]] = {}
        rows_of = word_rows.__getitem__
        flat = array("i")  # every paper's term rows, one paper after another
        lengths = np.zeros(n, dtype=np.int64)
        for doc, paper in enumerate(self.papers):
            words = raw_words(paper_text(paper))
            start = len(flat)
            try:
                flat.extend(chain.from_iterable(map(rows_of, words)))
            except KeyError:  # words not seen before: learn them, then index the paper again
                del flat[start:]
                for word in words:
                    if word not in word_rows:
                        word_rows[word] = tuple(rows.setdefault(term, len(rows)) for term in tokenize(word))
                flat.extend(chain.from_iterable(map(rows_of, words)))
            lengths[doc] = len(flat) - start
        self._rows = rows
        self._indptr, self._docs, self._weights = _bm25_csr(np.frombuffer(flat, dtype=np.int32), lengths, len(rows))
        log.debug("lexical index: %d papers, %d terms, %d postings", n, len(rows), len(self._docs))

    @classmethod
    def over(cls, papers: Sequence[Paper], given: LexicalIndex | None) -> LexicalIndex:
        """``given`` (the catalogue's shared index) when it indexes these ``papers``,
        else a new index over them; what the retriever and the lookup start from."""
        if given is None:
            return cls(papers)
        if len(given.papers) != len(papers):
            raise ValueError("the lexical index is over another set of papers")
        return given

    def doc_freq(self, term: str) -> int:
        """How many papers contain ``term`` (a stemmed term, as :func:`tokenize` makes)."""
        row = self._rows.get(term)
        return 0 if row is None else int(self._indptr[row + 1] - self._indptr[row])

    def idf(self, term: str) -> float:
        """Inverse document frequency (BM25's), for weighting which query words matter."""
        df = self.doc_freq(term)
        return math.log(1 + (len(self.papers) - df + 0.5) / (df + 0.5))

    def postings(self, term: str) -> np.ndarray:
        """Positions (ascending, int32) of the papers that contain ``term``; a view, not a copy."""
        row = self._rows.get(term)
        if row is None:
            return np.zeros(0, dtype=np.int32)
        return self._docs[self._indptr[row] : self._indptr[row + 1]]

    def contains(self, doc: int, term: str) -> bool:
        """Whether the paper at position ``doc`` contains ``term``."""
        found = self.postings(term)
        at = int(np.searchsorted(found, doc))
        return at < len(found) and int(found[at]) == doc

    def scores(self, query: str) -> np.ndarray:
        """BM25 score of every paper for ``query`` (zeros when no term is known).

        A term the query repeats counts again, as in bm25s."""
        out = np.zeros(len(self.papers), dtype=np.float32)
        for term in tokenize(query):
            row = self._rows.get(term)
            if row is not None:
                start, end = self._indptr[row], self._indptr[row + 1]
                # np.add.at, not ``out[docs] += w``: its one pass is 2-3x faster on long rows.
                np.add.at(out, self._docs[start:end], self._weights[start:end])
        return out


def _bm25_csr(terms: np.ndarray, lengths: np.ndarray, n_terms: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """CSR rows (indptr, paper positions, BM25 weights) from every paper's term ids
    (``terms``, papers one after another, ``lengths`` each), in a few numpy passes."""
    n = len(lengths)
    if n == 0 or len(terms) == 0:
        return np.zeros(n_terms + 1, dtype=np.int64), np.zeros(0, dtype=np.int32), np.zeros(0, dtype=np.float32)
    docs = np.repeat(np.arange(n, dtype=np.int64), lengths)
    # One key per (term, paper) occurrence; sorted, equal keys are one posting and
    # their count is the term frequency.
    keys = np.sort(terms.astype(np.int64) * n + docs)
    starts = np.flatnonzero(np.concatenate(([True], keys[1:] != keys[:-1])))
    tf = np.diff(np.append(starts, len(keys))).astype(np.float64)
    keys = keys[starts]
    rows, docs = np.divmod(keys, n)
    df = np.bincount(rows, minlength=n_terms)
    indptr = np.concatenate(([0], np.cumsum(df)))
    # A paper with no terms counts as one token long, as bm25s indexes it (a placeholder token).
    doc_len = np.maximum(lengths, 1).astype(np.float64)
    # The IDF is rounded to float32 first, as bm25s stores it, so the weights are bm25s' to the bit.
    idf = np.log(1 + (n - df + 0.5) / (df + 0.5)).astype(np.float32).astype(np.float64)
    norm = K1 * (1 - B + B * doc_len[docs] / doc_len.mean())
    weights = (idf[rows] * tf / (tf + norm)).astype(np.float32)
    return indptr, docs.astype(np.int32), weights
