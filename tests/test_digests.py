"""Digest markdown → Paper records, on the two fixture digests (the shapes of the
real shared digests, with their mess) and on the
other shapes digests come in (bullets, linked titles, link-column tables,
headings without a year, items without links)."""

from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from index.digests import canonical_url, merge_papers, paper_id_for, parse_digest
from index.models import Paper, ParseResult
from index.sources import parse_sources
from tests.conftest import FIXTURE_PAPERS, TABLE_DIGEST, WEEKLY_DIGEST

WEEKLY_WEEKS = ["2024-09-01", "2024-09-08", "2024-09-15", "2024-09-22", "2024-09-29", "2024-10-06"]


def parse_file(path) -> ParseResult:  # type: ignore[no-untyped-def]
    return parse_digest(path.read_text(encoding="utf-8"), path.name)


@pytest.fixture(scope="module")
def weekly() -> ParseResult:
    return parse_file(WEEKLY_DIGEST)


@pytest.fixture(scope="module")
def table() -> ParseResult:
    return parse_file(TABLE_DIGEST)


def by_arxiv(papers: list[Paper], arxiv_id: str) -> list[Paper]:
    return [p for p in papers if p.arxiv_id == arxiv_id]


# -- the fixture digests ---------------------------------------------------------------
def test_weekly_digest_yields_every_item(weekly: ParseResult) -> None:
    assert len(weekly.papers) == 37
    assert weekly.skipped == []
    assert all(p.title and p.date and p.week for p in weekly.papers)
    # YOLO11 has no link at all: kept, without a url
    assert [p.title for p in weekly.papers if not p.url] == ["YOLO11 from Ultralytics"]


def test_weekly_headings_without_a_year_take_it_from_their_neighbours(weekly: ParseResult) -> None:
    # No heading has a year ("***Oct 06***"): the arXiv ids of the items give it.
    weeks = Counter(p.week for p in weekly.papers)
    assert sorted(weeks) == WEEKLY_WEEKS
    assert weeks["2024-10-06"] == 17


def test_weekly_item_fields(weekly: ParseResult) -> None:
    (vptq,) = by_arxiv(weekly.papers, "2409.17066")
    assert vptq.title == "VPTQ: Extreme Low-bit Vector Post-Training Quantization for Large Language Models"
    assert vptq.url == "https://arxiv.org/abs/2409.17066"  # the digest links the pdf
    assert (vptq.date, vptq.week) == ("2024-09-25", "2024-10-06")
    assert vptq.orgs == ["Microsoft", "USTC"]
    assert vptq.headline.startswith("Two-bit weights with vector quantization")
    assert "VPTQ" in vptq.headline and vptq.summary.startswith("Sep 25, Microsoft and USTC published")
    assert vptq.topics and (vptq.source, vptq.line) == (WEEKLY_DIGEST.name, 34)
    line = WEEKLY_DIGEST.read_text(encoding="utf-8").splitlines()[vptq.line - 1]
    assert line.startswith("21. ")


def test_two_titles_sharing_one_url_stay_two_papers(weekly: ParseResult) -> None:
    for arxiv_id, titles in {
        "2410.02762": {"Interpreting and Editing Vision-Language Representations", "Contextual Document Embeddings"},
        "2410.01748": {"Not All LLM Reasoners Are Created Equal", "Improving Autonomous AI Agents"},
    }.items():
        papers = merge_papers(by_arxiv(weekly.papers, arxiv_id))
        assert len(papers) == 2
        assert len({p.paper_id for p in papers}) == 2
        for fragment in titles:
            assert any(p.title.startswith(fragment) for p in papers), (fragment, [p.title for p in papers])


def test_table_digest_yields_every_row(table: ParseResult) -> None:
    assert len(table.papers) == 13
    assert table.skipped == []
    (llama,) = by_arxiv(table.papers, "2407.21783")
    assert llama.title == "The Llama 3 Herd of Models"
    assert llama.url == "https://arxiv.org/abs/2407.21783"  # http and v1 in the digest
    assert llama.date == "2024-07-31"  # "31st July 2024"
    assert llama.summary.startswith("Meta presents Llama 3")
    assert llama.topics == ["Foundation LLM"]


def test_both_digests_give_every_paper_with_stable_ids() -> None:
    first = parse_sources([str(WEEKLY_DIGEST), str(TABLE_DIGEST)], max_bytes=50 << 20, timeout=5)
    second = parse_sources([str(TABLE_DIGEST), str(WEEKLY_DIGEST)], max_bytes=50 << 20, timeout=5)
    assert len(first.papers) == FIXTURE_PAPERS
    assert sorted(p.paper_id for p in first.papers) == sorted(p.paper_id for p in second.papers)
    assert len({p.paper_id for p in first.papers}) == FIXTURE_PAPERS
    # derived from content only, so the same on every machine and run
    assert by_arxiv(first.papers, "2409.17066")[0].paper_id == "2409.17066-57d5f0"


# -- urls and identity -------------------------------------------------------------------
@pytest.mark.parametrize(
    "url",
    [
        "https://arxiv.org/pdf/2409.17066",
        "https://arxiv.org/pdf/2409.17066v3.pdf",
        "http://arxiv.org/abs/2409.17066v2",
        "arxiv.org/abs/2409.17066",
        "https://www.arxiv.org/html/2409.17066v1",
        "https://huggingface.co/papers/2409.17066",
    ],
)
def test_arxiv_urls_are_canonical(url: str) -> None:
    assert canonical_url(url) == "https://arxiv.org/abs/2409.17066"


def test_other_urls_lose_tracking_parameters() -> None:
    assert canonical_url("http://Example.com/post?utm_source=x&id=3#top") == "https://example.com/post?id=3"
    assert canonical_url("not a url") is None


def test_same_paper_in_two_digests_is_one_paper_with_both_mentions() -> None:
    a = parse_digest("## Oct 6, 2024\n\n1. **[Differential Transformer](https://arxiv.org/abs/2410.05258)**: noise-cancelling attention.\n", "a.md")
    b = parse_digest("## Oct 13, 2024\n\n- [Differential transformer](https://arxiv.org/pdf/2410.05258v2) - two softmax maps.\n", "b.md")
    (paper,) = merge_papers([*a.papers, *b.papers])
    assert [(m.source, m.week) for m in paper.sources] == [("a.md", "2024-10-06"), ("b.md", "2024-10-13")]
    assert paper.weeks == ["2024-10-06", "2024-10-13"]


def test_paper_ids_do_not_depend_on_position() -> None:
    assert paper_id_for("2410.05258", "Differential Transformer") == paper_id_for("2410.05258", "differential  transformer!")
    assert paper_id_for(None, "A Paper Without A Link").startswith("a-paper-without-a-link-")


# -- other digest shapes ----------------------------------------------------------------------
BULLETS = """# AI papers, week of Sep 30 to Oct 6

- [Contextual Document Embeddings](https://arxiv.org/pdf/2410.02525v2) — embeddings that also look at neighbouring documents.
- **[MLE-bench: Evaluating Machine Learning Agents on Machine Learning Engineering](https://arxiv.org/abs/2410.07095)**: Kaggle tasks as a benchmark for agents.
* **Depth Pro**: sharp monocular depth in under a second. No link yet.
"""

TABLE = """## Papers of Oct 14 – Oct 20

| Paper | Links | Notes |
|---|---|---|
| Differential Transformer | [arXiv](https://arxiv.org/abs/2410.05258v1) · [code](https://github.com/microsoft/unilm) | attention as the difference of two softmax maps |
| Broken row | only two |
| Thinking LLMs | https://arxiv.org/pdf/2410.10630.pdf | thought preference optimization |
"""

RESTARTED = """### Sep 23 - Sep 29

1. **Molmo and PixMo**: open multimodal models and their data. Sep 25, 2024 [paper](https://arxiv.org/abs/2409.17146)
1. **A note without a link**: numbering restarts and there is no URL.

### Sep 30 - Oct 6

1. **Movie Gen**: a cast of media foundation models. [paper](https://arxiv.org/abs/2410.13720)
"""


def test_bulleted_items_with_linked_or_bold_titles() -> None:
    result = parse_digest(BULLETS, "bullets.md")
    assert [(p.title, p.url) for p in result.papers] == [
        ("Contextual Document Embeddings", "https://arxiv.org/abs/2410.02525"),
        ("MLE-bench: Evaluating Machine Learning Agents on Machine Learning Engineering", "https://arxiv.org/abs/2410.07095"),
        ("Depth Pro", None),
    ]
    # no year anywhere: the arXiv ids (2410 = October 2024) fix it
    assert {p.week for p in result.papers} == {"2024-10-06"}
    assert result.papers[0].summary == "embeddings that also look at neighbouring documents."


def test_table_with_a_links_column_and_a_broken_row() -> None:
    result = parse_digest(TABLE, "table.md")
    assert [(p.title, p.arxiv_id) for p in result.papers] == [
        ("Differential Transformer", "2410.05258"),
        ("Thinking LLMs", "2410.10630"),
    ]
    assert result.papers[0].summary == "attention as the difference of two softmax maps"
    assert {p.week for p in result.papers} == {"2024-10-20"}
    assert [(s.line, "cells" in s.reason) for s in result.skipped] == [(6, True)]


def test_restarted_numbering_and_items_without_links() -> None:
    result = parse_digest(RESTARTED, "restarted.md")
    assert [(p.title, p.url, p.week) for p in result.papers] == [
        ("Molmo and PixMo", "https://arxiv.org/abs/2409.17146", "2024-09-29"),
        ("A note without a link", None, "2024-09-29"),
        ("Movie Gen", "https://arxiv.org/abs/2410.13720", "2024-10-06"),
    ]
    assert result.papers[0].date == "2024-09-25"


# -- hostile text -------------------------------------------------------------------------------
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=2000))
def test_parser_never_raises_on_random_text(text: str) -> None:
    result = parse_digest(text, "random.md")
    assert not any(s.reason.startswith("parser error") for s in result.skipped)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sampled_from(["|", "**", "[", "](", "http://", "1. ", "- ", "\n", "## Oct 6", " x ", "<br>", "\x00", "“"]), max_size=300))
def test_parser_survives_markdown_fragments(parts: list[str]) -> None:
    text = "".join(parts)
    result = parse_digest(BULLETS + text, "mixed.md")
    assert not any(s.reason.startswith("parser error") for s in result.skipped)
    assert len(result.papers) >= 2  # the well-formed entries before the noise still come out


def test_a_one_megabyte_line_is_handled() -> None:
    text = RESTARTED + "1. **Huge**: " + "word " * 200_000 + "\n"
    result = parse_digest(text, "huge.md")
    assert [p.title for p in result.papers][:3] == ["Molmo and PixMo", "A note without a link", "Movie Gen"]
