"""Digests in the shapes found in the wild (issue 11): the fixture formats in
tests/fixtures/formats, each with the papers it must give, through the parser,
the identity rules, a real ingest and every CLI command with ``--json``."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bench.formats import dairai_digest
from config import Settings
from index.digests import merge_papers, parse_digest
from index.engine import Engine
from index.formats import score_formats
from index.models import Paper
from index.sources import parse_sources

FORMATS = Path(__file__).parent / "fixtures" / "formats"
SCORES = {s.name: s for s in score_formats(FORMATS)}


def by_arxiv(papers: list[Paper], arxiv_id: str) -> list[Paper]:
    return [p for p in papers if p.arxiv_id == arxiv_id]


def parse_fixture(name: str):  # type: ignore[no-untyped-def]
    path = FORMATS / name
    return parse_digest(path.read_text(encoding="utf-8"), path.name)


# -- per format ---------------------------------------------------------------------------------
@pytest.mark.parametrize("name", sorted(SCORES))
def test_every_format_gives_its_papers_with_exact_titles_and_no_non_papers(name: str) -> None:
    score = SCORES[name]
    assert score.expected >= 8
    assert (score.found, score.exact_titles, score.non_papers) == (score.expected, score.expected, 0), score.misses
    assert score.right_authors == score.with_authors, score.misses
    assert not any(m.startswith("date of") for m in score.misses), score.misses


def test_all_five_shapes_are_covered() -> None:
    assert len(SCORES) == 5


def test_non_papers_are_reported_with_a_reason() -> None:
    toc = parse_fixture("headings-authors.md")
    assert [(s.line, s.reason) for s in toc.skipped] == [(n, "not a paper: a table of contents entry") for n in (10, 11, 12)]
    trends = parse_fixture("linked-headings-2024-10-20.md")
    assert [s.line for s in trends.skipped] == [57, 58, 59]
    assert all("Trends of the Week" in s.reason for s in trends.skipped)
    dair = parse_fixture("dairai-style-2024.md")
    assert {s.reason for s in dair.skipped} == {"not a paper: a table of contents entry"}


def test_dairai_rows_split_title_from_description_and_prefer_the_paper_link() -> None:
    result = parse_fixture("dairai-style-2024.md")
    (rnn,) = merge_papers(by_arxiv(result.papers, "2410.01201"))  # listed twice in one week: one paper
    assert rnn.title == "Were RNNs All We Needed?"
    assert rnn.summary.startswith("revisits RNNs and shows")
    assert len(rnn.sources) == 2
    (movie,) = [p for p in result.papers if p.title == "Movie Gen"]
    assert movie.url == "https://ai.meta.com/static-resource/movie-gen-research-paper"  # not the Tweet


def test_heading_units_carry_authors_links_and_the_abstract() -> None:
    result = parse_fixture("headings-authors.md")
    (paged,) = by_arxiv(result.papers, "2309.06180")
    assert paged.authors == ["Woosuk Kwon", "Zhuohan Li", "Siyuan Zhuang", "Ying Sheng"]
    assert paged.summary.startswith("Manages the key-value cache in pages")
    assert "arXiv" not in paged.summary and "http" not in paged.summary
    assert paged.week == "2024-10-13"  # from the front matter


def test_linked_headings_keep_their_bullets_as_text_not_as_papers() -> None:
    result = parse_fixture("linked-headings-2024-10-20.md")
    titles = [p.title for p in result.papers]
    assert not any(t.startswith(("Why it matters", "Contribution", "Category", "Agents everywhere")) for t in titles)
    (moa,) = by_arxiv(result.papers, "2406.04692")
    assert "proposer models write answers" in moa.summary and "Takeaway" in moa.summary


def test_weekly_shape_own_title_headline_alias_and_the_arxiv_month() -> None:
    result = parse_fixture("weekly-numbered.md")
    (gsm,) = by_arxiv(result.papers, "2410.05229")
    assert gsm.own_title == gsm.title
    assert gsm.aliases == ["Math benchmarks that move the numbers"]
    # "Oct 2" next to "(McCoy et al., 2023)": the arXiv id 2410.x says October 2024.
    (o1,) = by_arxiv(result.papers, "2410.01792")
    assert o1.date == "2024-10-02"
    (science,) = [p for p in result.papers if p.url and "science.org" in p.url]
    assert science.title == "Durably reducing conspiracy beliefs through dialogues with AI"  # after "on Science"
    assert science.aliases == ["Talking people out of conspiracy theories"]


# -- identity across formats ------------------------------------------------------------------------
@pytest.fixture(scope="module")
def everything() -> list[Paper]:
    return parse_sources([str(FORMATS)], max_bytes=1 << 20, timeout=1).papers


def test_one_arxiv_id_in_several_digests_is_one_paper_with_every_name(everything: list[Paper]) -> None:
    (gsm,) = by_arxiv(everything, "2410.05229")
    assert gsm.title == "GSM-Symbolic: Understanding the Limitations of Mathematical Reasoning in Large Language Models"
    assert set(gsm.aliases) == {"Math benchmarks that move the numbers", "GSM-Symbolic"}
    assert sorted(m.source for m in gsm.sources) == ["dairai-style-2024.md", "weekly-numbered.md"]
    (kan,) = by_arxiv(everything, "2404.19756")  # abs/v4 in one digest, http + v1 in the other
    assert {m.source for m in kan.sources} == {"linked-headings-2024-10-20.md", "papers-table-2024.md"}


def test_one_link_under_two_different_own_titles_stays_two_papers(everything: list[Paper]) -> None:
    shared = by_arxiv(everything, "2410.02762")
    assert sorted(p.title for p in shared) == [
        "Contextual Document Embeddings",
        "Interpreting and Editing Vision-Language Representations to Mitigate Hallucinations",
    ]
    assert len({p.paper_id for p in shared}) == 2
    # and the same title under another arXiv id is a different record too
    assert [p.title for p in by_arxiv(everything, "2410.02525")] == ["Contextual Document Embeddings"]


# -- titles, links and sizes -----------------------------------------------------------------------
def test_angle_bracket_links_are_links_and_run_on_titles_are_reported() -> None:
    text = (
        "## Oct 6, 2024\n\n"
        "1. **[Differential Transformer](<https://arxiv.org/abs/2410.05258>)**: two softmax maps.\n"
        "2. [Thinking LLMs](<https://arxiv.org/pdf/2410.10630v1>) — thought before the answer.\n\n"
        "| Paper | Links |\n|---|---|\n"
        f"| {'a run-on cell that never says where its title ends ' * 8} | [Paper](https://arxiv.org/abs/2410.07095) |\n"
    )
    result = parse_digest(text, "angle.md")
    assert [(p.title, p.url) for p in result.papers] == [
        ("Differential Transformer", "https://arxiv.org/abs/2410.05258"),
        ("Thinking LLMs", "https://arxiv.org/abs/2410.10630"),
    ]
    assert all("<" not in p.summary and "http" not in p.summary for p in result.papers)
    assert [(s.line, s.reason.startswith("title longer than 300")) for s in result.skipped] == [(8, True)]


def test_a_generated_one_megabyte_dairai_digest_parses_every_row() -> None:
    text, good = dairai_digest(1800)
    assert len(text.encode("utf-8")) > 900_000
    result = parse_digest(text, "generated-dairai-2024.md")
    assert len(result.papers) == good
    assert all(len(p.title) <= 300 and p.arxiv_id and p.week for p in result.papers)
    assert len(result.skipped) == 1800 - good and all(s.reason.startswith("title longer") for s in result.skipped)


# -- a real ingest and the CLI -----------------------------------------------------------------------
#: A title of 290 characters that is more tokens than a whole 200-token chunk: it
#: aborted the ingest ("Metadata length (209) is longer than chunk size (200)").
ODD_TITLE = ("x1 " * 100)[:290].strip()
ODD_DIGEST = f"""## Oct 6, 2024

1. **[{ODD_TITLE}](https://arxiv.org/abs/2410.09999)**: a paper with an odd, long title.
2. **[Differential Transformer](https://arxiv.org/abs/2410.05258)**: attention as the difference of two maps.
"""


@pytest.fixture(scope="module")
def formats_index(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path, dict[str, Any]]]:
    home = tmp_path_factory.mktemp("formats")
    digests = home / "digests"
    digests.mkdir()
    for path in FORMATS.glob("*.md"):
        (digests / path.name).write_text(path.read_text(encoding="utf-8"), encoding="utf-8")
    (digests / "odd-2024.md").write_text(ODD_DIGEST, encoding="utf-8")
    data_dir = home / "data"
    engine = Engine(Settings.from_env(environ={}, dotenv_path=None, data_dir=data_dir))
    report = engine.ingest([str(digests)])
    yield data_dir, digests, report.to_json()


def engine_for(data_dir: Path) -> Engine:
    return Engine(Settings.from_env(environ={}, dotenv_path=None, data_dir=data_dir))


def test_an_odd_title_does_not_stop_the_ingest(formats_index: tuple[Path, Path, dict[str, Any]]) -> None:
    data_dir, digests, report = formats_index
    papers = engine_for(data_dir).papers()
    assert any(p.title == ODD_TITLE for p in papers)
    # every parsed paper (mentions of one paper in several digests merged) is indexed
    parsed = parse_sources([str(digests)], max_bytes=1 << 20, timeout=1)
    assert report["papers"] == report["new"] == len(papers) == len(parsed.papers)
    assert not any(s["reason"].startswith("paper “") for s in report["skipped"]), report["skipped"]


def test_authors_and_aliases_are_searchable(formats_index: tuple[Path, Path, dict[str, Any]]) -> None:
    engine = engine_for(formats_index[0])
    (hit, *_rest) = engine.search("papers by Ozgur Ercetin", k=3)
    assert hit.paper.title == "Semantic Communication for Edge Inference"
    assert hit.paper.authors == ["Ozgur Ercetin", "Mina Rahimi"]
    (match, *_more) = engine.find_papers("Math benchmarks that move the numbers")
    assert match.paper.arxiv_id == "2410.05229" and match.how == "title"
    (match, *_more) = engine.find_papers("Talking people out of conspiracy theories")
    assert match.paper.title == "Durably reducing conspiracy beliefs through dialogues with AI"


def test_reingest_writes_nothing(formats_index: tuple[Path, Path, dict[str, Any]]) -> None:
    data_dir, digests, _report = formats_index
    again = engine_for(data_dir).ingest([str(digests)]).to_json()
    assert (again["new"], again["updated"]) == (0, 0), again


def test_every_command_prints_exactly_one_json_document(run_cli, formats_index: tuple[Path, Path, dict[str, Any]]) -> None:  # type: ignore[no-untyped-def]
    data_dir, digests, _report = formats_index
    where = ["--json", "--data-dir", str(data_dir)]
    commands: list[list[str]] = [
        ["ingest", str(digests), *where],
        ["ingest", str(digests / "odd-2024.md"), *where],
        ["stats", *where],
        ["search", "papers by Ozgur Ercetin", *where],
        ["paper", "GSM-Symbolic", *where],
        ["ask", "what is the differential transformer?", *where],
        ["eval", "--formats", str(FORMATS), *where],
        ["feedback", *where],
        ["announce", "--dry-run", *where],
    ]
    for args in commands:
        result = run_cli(*args)
        data = json.loads(result.stdout)  # the whole of stdout is one document
        assert isinstance(data, dict) and data, args
    paper = json.loads(run_cli("paper", "GSM-Symbolic", *where).stdout)["matches"][0]
    assert paper["arxiv_id"] == "2410.05229" and "GSM-Symbolic" in paper["aliases"]


def test_the_paper_card_shows_the_authors() -> None:
    from bot.discord_render import paper_embed
    from bot.render import paper_card_text

    (paper,) = [p for p in parse_fixture("headings-authors.md").papers if p.title.startswith("Semantic Communication")]
    assert "Authors: Ozgur Ercetin, Mina Rahimi" in paper_card_text(paper).splitlines()
    fields = {f.name: f.value for f in paper_embed(paper).fields}
    assert fields["Authors"] == "Ozgur Ercetin, Mina Rahimi"


def test_a_link_line_under_a_sentence_entry_is_that_entrys_link() -> None:
    """The oldest dair-ai weeks: a sentence per paper, its link on a bullet
    indented too little to be nested in it."""
    text = (
        "**Top ML Papers of the Week (Jan 1-8):**\n"
        "1. A masked generative transformer for text-to-image, faster than diffusion models.\n"
        "  - Paper: https://arxiv.org/abs/2301.00704\n"
        "2. Text-to-speech trained as conditional language modeling:\n"
        "  - https://valle-demo.github.io/\n"
    )
    result = parse_digest(text, "old-shape.md")
    assert [(p.title, p.url) for p in result.papers] == [
        ("A masked generative transformer for text-to-image, faster than diffusion models.", "https://arxiv.org/abs/2301.00704"),
        ("Text-to-speech trained as conditional language modeling", "https://valle-demo.github.io/"),
    ]
    assert result.skipped == [] and all(p.week == "2023-01-01" for p in result.papers)


def test_a_later_digest_naming_a_stored_paper_differently_updates_it(tmp_path: Path) -> None:
    engine = engine_for(tmp_path / "data")
    engine.ingest([str(FORMATS / "weekly-numbered.md")])
    report = engine.ingest([str(FORMATS / "dairai-style-2024.md")])
    # VPTQ, Molmo, GSM-Symbolic and the Differential Transformer were known: updated, not new
    assert report.updated == 4 and report.new == 12 - 4, report.to_json()
    (vptq,) = [p for p in engine_for(tmp_path / "data").papers() if p.arxiv_id == "2409.17066"]
    assert vptq.title.startswith("VPTQ: Extreme Low-bit")
    assert "VPTQ" in vptq.aliases
    assert {m.source for m in vptq.sources} == {"weekly-numbered.md", "dairai-style-2024.md"}
