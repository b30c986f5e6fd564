"""The catalogue's one keyword index (index/lexical.py): BM25 scores, document
frequencies and postings from one CSR structure, shared by retrieval and lookup.

What these tests prove:

* BM25 scores equal a hand computation of Lucene's BM25 (k1=1.5, b=0.75, the
  variant bm25s computed before this index replaced it) on a three-paper corpus,
  including a paper with no terms and a query that repeats a word;
* on the fixture digests, every score equals a plain-Python BM25 written from
  the formula (per-paper term counts, no CSR), for every title and headline as
  the query, and document frequencies and postings equal a direct count;
* the index orders papers newest first, and ``Catalogue.build`` hands the same
  index to the retriever and the lookup, whose papers are in that order.
"""

from __future__ import annotations

import math
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from index.lexical import LexicalIndex, newest_first, paper_text, tokenize
from index.models import Paper
from index.sources import parse_sources

FIXTURES = Path(__file__).parent / "fixtures" / "digests"


def test_bm25_scores_equal_a_hand_computation_on_a_tiny_corpus() -> None:
    papers = [
        Paper("b", "Gravity waves", date="2024-01-02"),
        Paper("c", "The", date="2024-01-01"),  # only a stopword: a paper with no terms
        Paper("a", "Quantum quantum gravity", date="2024-01-03"),
    ]
    index = LexicalIndex(papers)
    assert [p.paper_id for p in index.papers] == ["a", "b", "c"]  # newest first
    # The title counts twice: a has quantum x4, gravity x2 (6 tokens); b has gravity x2,
    # wave x2 (4); c has none and counts as one token long.  N = 3, avgdl = 11/3.
    avgdl = 11 / 3

    def weight(tf: int, df: int, dl: int) -> float:
        idf = math.log(1 + (3 - df + 0.5) / (df + 0.5))
        return idf * tf / (tf + 1.5 * (1 - 0.75 + 0.75 * dl / avgdl))

    expected = [weight(4, 1, 6) + weight(2, 2, 6), weight(2, 2, 4), 0.0]
    assert index.scores("quantum gravity").tolist() == pytest.approx(expected, rel=1e-6)
    assert index.scores("gravity gravity").tolist() == pytest.approx([2 * weight(2, 2, 6), 2 * weight(2, 2, 4), 0.0],
                                                                     rel=1e-6)
    assert index.scores("unknown words").tolist() == [0.0, 0.0, 0.0]
    gravity, quantum = tokenize("gravity quantum")
    assert (index.doc_freq(gravity), index.doc_freq(quantum), index.doc_freq("absent")) == (2, 1, 0)
    assert index.idf(quantum) == pytest.approx(math.log(1 + 2.5 / 1.5))
    assert index.postings(gravity).tolist() == [0, 1] and index.postings("absent").tolist() == []
    assert index.contains(0, quantum) and not index.contains(1, quantum) and not index.contains(2, gravity)


def test_an_empty_catalogue_scores_nothing() -> None:
    index = LexicalIndex([])
    assert index.scores("anything").shape == (0,)
    assert index.doc_freq("anything") == 0 and index.postings("anything").tolist() == []


def test_scores_and_postings_equal_a_plain_bm25_on_the_fixture_digests() -> None:
    papers = parse_sources([str(p) for p in sorted(FIXTURES.glob("*.md"))], max_bytes=10_000_000, timeout=5.0).papers
    assert len(papers) >= 40
    index = LexicalIndex(papers)
    docs = [Counter(tokenize(paper_text(p))) for p in index.papers]
    n = len(docs)
    lengths = [max(sum(d.values()), 1) for d in docs]
    avgdl = sum(lengths) / n
    df = Counter(t for d in docs for t in d)

    def plain_bm25(query: str) -> list[float]:
        out = []
        for doc, dl in zip(docs, lengths, strict=True):
            score = 0.0
            for term in tokenize(query):
                if term in doc:
                    idf = math.log(1 + (n - df[term] + 0.5) / (df[term] + 0.5))
                    score += idf * doc[term] / (doc[term] + 1.5 * (1 - 0.75 + 0.75 * dl / avgdl))
            out.append(score)
        return out

    for query in [p.title for p in papers] + [p.headline for p in papers] + ["papers from Meta on R-MCTS"]:
        got = index.scores(query)
        want = np.array(plain_bm25(query))
        assert got == pytest.approx(want, rel=1e-5, abs=1e-6), query
        # The same ranking (ties aside): the best paper scores the most either way.
        if want.max() > 0:
            assert want[int(np.argmax(got))] == pytest.approx(want.max(), rel=1e-5)
    for term, count in df.items():
        assert index.doc_freq(term) == count
        assert index.postings(term).tolist() == [i for i, d in enumerate(docs) if term in d]


def test_the_catalogue_builds_one_index_for_retrieval_and_lookup() -> None:
    from index.catalogue import Catalogue
    from index.store import CatalogueVersion

    papers = parse_sources([str(p) for p in sorted(FIXTURES.glob("*.md"))], max_bytes=10_000_000, timeout=5.0).papers
    catalogue = Catalogue.build(CatalogueVersion("collection", "stamp", 0.0), papers, None, lambda _q: [])  # type: ignore[arg-type]
    assert catalogue.retriever.lexical is catalogue.lookup.lexical
    ordered = [p.paper_id for p in newest_first(papers)]
    assert [p.paper_id for p in catalogue.papers] == ordered
    assert [p.paper_id for p in catalogue.retriever.papers] == ordered
    assert [p.paper_id for p in catalogue.lookup.papers] == ordered
