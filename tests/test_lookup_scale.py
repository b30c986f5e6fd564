"""``/paper`` lookup and autocomplete on a catalogue larger than the fixture digests.

The fixture digests hold 50 papers, fewer than the 500 titles the lookup hands
rapidfuzz per query, so there the trigram pre-selection never drops a title.
These tests use 3,000 made-up papers with overlapping vocabulary, where it
does, and check what users see: a mistyped title or prefix still finds its
paper, substring and word-start matches equal those of a plain scan, and the
newest paper wins among equals.
"""

from __future__ import annotations

import random

import pytest

from index.digests import normalise_title
from index.lookup import PaperLookup
from index.models import Paper

WORDS = (
    "sparse attention retrieval augmented generation quantization low bit diffusion policy reward model "
    "long context vision language agents planning reasoning chain thought mixture experts speculative "
    "decoding tokenizer free graph neural networks protein folding code synthesis evaluation benchmark"
).split()


def _catalogue(n: int = 3000) -> list[Paper]:
    rng = random.Random(7)
    titles: set[str] = set()
    papers = []
    while len(papers) < n:
        title = " ".join(rng.sample(WORDS, rng.randint(4, 8))).capitalize()
        if normalise_title(title) in titles:
            continue
        titles.add(normalise_title(title))
        i = len(papers)
        papers.append(Paper(paper_id=f"p{i:05d}", title=title, date=f"2024-{1 + i % 12:02d}-{1 + i % 28:02d}",
                            summary=f"About {title.lower()}."))
    return papers


@pytest.fixture(scope="module")
def lookup() -> PaperLookup:
    return PaperLookup(_catalogue())


def _typo(text: str, at: int) -> str:
    return text[:at] + text[at + 1] + text[at] + text[at + 2 :]


def test_a_mistyped_title_finds_its_paper(lookup: PaperLookup) -> None:
    for paper in random.Random(1).sample(lookup.papers, 25):
        query = _typo(paper.title, len(paper.title) // 2)
        assert lookup.find(query)[0].paper.paper_id == paper.paper_id, query


def test_a_mistyped_prefix_still_autocompletes(lookup: PaperLookup) -> None:
    found = 0
    sample = random.Random(2).sample(lookup.papers, 25)
    for paper in sample:
        prefix = _typo(paper.title[:24], 5)
        found += paper.paper_id in [value for _label, value in lookup.autocomplete(prefix)]
    assert found >= 23, f"{found}/{len(sample)}"


@pytest.mark.parametrize("text", ["spa", "sparse att", "retrieval augmented", "ure expe", "decoding tokenizer free"])
def test_substring_and_word_start_matches_equal_a_full_scan(lookup: PaperLookup, text: str) -> None:
    titles = [normalise_title(p.title) for p in lookup.papers]
    if len(text) >= 4:  # shorter inputs are too unspecific for a substring match
        expected = {p.paper_id for p, t in zip(lookup.papers, titles, strict=True) if text in t}
        found = lookup.find(text, limit=len(lookup.papers))
        assert expected <= {m.paper.paper_id for m in found}
        assert all(m.score >= 90 for m in found if m.paper.paper_id in expected)

    starts = [i for i, t in enumerate(titles) if t.startswith(text)]
    inside = [i for i, t in enumerate(titles) if f" {text}" in f" {t}" and i not in starts]
    want = [lookup.papers[i].paper_id for i in (starts + inside)[:25]]
    got = [value for _label, value in lookup.autocomplete(text)]
    assert got[: len(want)] == want


def test_equal_keyword_matches_prefer_the_title_then_the_newest(lookup: PaperLookup) -> None:
    matches = lookup.find("protein folding benchmark", limit=10)
    assert matches and all(m.how in ("keywords", "fuzzy_title", "title") for m in matches)
    newest_first = [lookup.papers.index(m.paper) for m in matches if m.score == matches[0].score]
    assert newest_first == sorted(newest_first)
