"""Lexical side of retrieval: one tokenizer and a BM25 index (bm25s) over papers.

Paper names are the hard case for dense models (VPTQ, R-MCTS, OLMoE mean nothing
to MiniLM), so the tokenizer keeps them whole *and* split: ``R-MCTS`` yields
``rmcts``, ``r`` and ``mcts``.  Words are lower-cased and Snowball-stemmed, and the
same function tokenizes papers, queries and the answerer's overlap checks so
they always agree.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from functools import lru_cache

import numpy as np

from index.models import Paper

log = logging.getLogger(__name__)

_TOKEN = re.compile(r"[A-Za-z0-9]+(?:[-.'’][A-Za-z0-9]+)*")
_SPLIT = re.compile(r"[-.'’]")

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


class LexicalIndex:
    """BM25 over the paper catalogue, rebuilt in memory when the catalogue changes.

    Rebuilding takes well under a second for thousands of papers, which is cheaper
    and simpler than keeping a second persisted index in step with Chroma.
    """

    def __init__(self, papers: Sequence[Paper]) -> None:
        import bm25s

        self.papers = list(papers)
        self.doc_terms: list[frozenset[str]] = []
        corpus: list[list[str]] = []
        for paper in self.papers:
            terms = tokenize(paper_text(paper))
            corpus.append(terms or ["<empty>"])
            self.doc_terms.append(frozenset(terms))
        self._bm25 = bm25s.BM25()
        if corpus:
            self._bm25.index(corpus, show_progress=False)
        self.vocab = set(self._bm25.vocab_dict) if corpus else set()
        self.doc_freq: dict[str, int] = {}
        for doc in self.doc_terms:
            for term in doc:
                self.doc_freq[term] = self.doc_freq.get(term, 0) + 1

    def scores(self, query: str) -> np.ndarray:
        """BM25 score of every paper for ``query`` (zeros when no term is known)."""
        terms = [t for t in tokenize(query) if t in self.vocab]
        if not self.papers or not terms:
            return np.zeros(len(self.papers), dtype=np.float32)
        return np.asarray(self._bm25.get_scores(terms), dtype=np.float32)

    def idf(self, term: str) -> float:
        """Inverse document frequency, for weighting which query words matter."""
        n = len(self.papers) or 1
        return float(np.log(1 + (n - self.doc_freq.get(term, 0) + 0.5) / (self.doc_freq.get(term, 0) + 0.5)))
