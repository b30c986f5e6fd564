"""The ``/paper`` lookup requirement, on the two fixture digests.

What these tests prove:

* ``Engine.find_papers`` puts the right paper first for every way a user names
  it: a bare or prefixed arXiv id (any version), an arXiv abs/pdf link (http or
  https, any version, ``.pdf`` or not), the exact title, part of the title, a
  title with a typo or two, or a few keywords.
* A link that the digest uses for two different titles returns both papers.
* A query about something the digests never mention yields no match, or only
  weak keyword matches -- never a claimed title match -- and the CLI says so.
* A match carries everything a paper card shows (title, url, date, orgs,
  summary, topics, sources).
* Autocomplete gives at most 25 ``(label, value)`` pairs, labels of at most 100
  characters, values that ``Engine.find_papers`` resolves back to the same
  paper (the bot's ``/paper`` receives the value), the paper whose title the
  input begins first, and copes with empty and 4000-character inputs.
* ``paperbot paper --json`` and ``paperbot search --json`` keep the JSON
  contracts of the design notes, and ``paperbot paper 2409.17066`` prints the
  title and the link.

Everything runs on the session fixtures, so the index is built once.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

VPTQ_ID = "2409.17066"
VPTQ_TITLE = "VPTQ: Extreme Low-bit Vector Post-Training Quantization for Large Language Models"
VPTQ_URL = "https://arxiv.org/abs/2409.17066"
LLAMA3_TITLE = "The Llama 3 Herd of Models"  # from the table digest

# Two digest items link the same arXiv page under two different titles.
SHARED_LINKS = {
    "2410.02762": {
        "Interpreting and Editing Vision-Language Representations to Mitigate Hallucinations",
        "Contextual Document Embeddings",
    },
    "2410.01748": {
        "Not All LLM Reasoners Are Created Equal",
        "Improving Autonomous AI Agents with Reflective Tree Search and Self-Learning",
    },
}

# "authors" and "aliases" were added with issue 11 (the contract allows new fields).
PAPER_KEYS = {"paper_id", "title", "url", "arxiv_id", "date", "orgs", "authors", "aliases", "summary", "topics", "sources"}
HIT_KEYS = {"rank", "paper_id", "title", "url", "arxiv_id", "score", "date"}
NO_MATCH_TEXT = "no paper matches"


def _by_title(engine, title: str):  # noqa: ANN001, ANN202
    found = [p for p in engine.papers() if p.title == title]
    assert len(found) == 1, f"expected exactly one paper titled {title!r}, found {len(found)}"
    return found[0]


def _first_title(engine, query: str) -> str:  # noqa: ANN001
    matches = engine.find_papers(query)
    assert matches, f"no match for {query!r}"
    return matches[0].paper.title


# -- identifiers -------------------------------------------------------------------------
@pytest.mark.parametrize("query", ["2409.17066", "arXiv:2409.17066v2", "arxiv:2409.17066", "  2409.17066v1 "])
def test_arxiv_id_finds_the_paper(fixture_engine, query: str) -> None:
    matches = fixture_engine.find_papers(query)
    assert [m.paper.title for m in matches] == [VPTQ_TITLE]
    assert matches[0].paper.arxiv_id == VPTQ_ID


@pytest.mark.parametrize(
    "query",
    [
        "https://arxiv.org/abs/2409.17066",
        "http://arxiv.org/abs/2409.17066v2",
        "https://arxiv.org/pdf/2409.17066",
        "http://arxiv.org/pdf/2409.17066v3",
        "https://arxiv.org/pdf/2409.17066v1.pdf",
    ],
)
def test_arxiv_url_finds_the_paper(fixture_engine, query: str) -> None:
    matches = fixture_engine.find_papers(query)
    assert [m.paper.title for m in matches] == [VPTQ_TITLE]


@pytest.mark.parametrize("arxiv_id", sorted(SHARED_LINKS))
@pytest.mark.parametrize("form", ["https://arxiv.org/abs/{}", "https://arxiv.org/pdf/{}v1", "{}"])
def test_link_shared_by_two_titles_returns_both(fixture_engine, arxiv_id: str, form: str) -> None:
    matches = fixture_engine.find_papers(form.format(arxiv_id))
    assert {m.paper.title for m in matches} == SHARED_LINKS[arxiv_id]
    assert len({m.paper.paper_id for m in matches}) == 2


# -- titles and keywords -------------------------------------------------------------------
@pytest.mark.parametrize("title", [VPTQ_TITLE, LLAMA3_TITLE, "Contextual Document Embeddings", "Qwen2 Technical Report"])
def test_exact_title_comes_first(fixture_engine, title: str) -> None:
    assert _first_title(fixture_engine, title) == title
    assert _first_title(fixture_engine, title.lower()) == title


@pytest.mark.parametrize(
    ("query", "title"),
    [
        ("Extreme Low-bit Vector", VPTQ_TITLE),
        ("Llama 3 Herd", LLAMA3_TITLE),
        ("Not All LLM Reasoners", "Not All LLM Reasoners Are Created Equal"),
        (
            "Interpreting and Editing Vision-Language Representations",
            "Interpreting and Editing Vision-Language Representations to Mitigate Hallucinations",
        ),
    ],
)
def test_partial_title_comes_first(fixture_engine, query: str, title: str) -> None:
    assert _first_title(fixture_engine, query) == title


@pytest.mark.parametrize(
    ("query", "title"),
    [
        ("VPQT: Extreme Low-bit Vector Post-Trainng Quantization", VPTQ_TITLE),
        ("Contextual Document Embedings", "Contextual Document Embeddings"),
        ("Not All LLM Reasoners Are Created Equl", "Not All LLM Reasoners Are Created Equal"),
        ("The Llama 3 Herd of Modles", LLAMA3_TITLE),
        (
            "Scaling Laws with Vocabluary: Larger Models Deserve Larger Vocabularies",
            "Scaling Laws with Vocabulary: Larger Models Deserve Larger Vocabularies",
        ),
        (
            "Intrepreting and Editing Vision-Language Representations",
            "Interpreting and Editing Vision-Language Representations to Mitigate Hallucinations",
        ),
    ],
)
def test_title_with_typos_comes_first(fixture_engine, query: str, title: str) -> None:
    assert _first_title(fixture_engine, query) == title


@pytest.mark.parametrize("query", ["vector quantization low-bit", "VPTQ quantization"])
def test_keywords_find_the_paper(fixture_engine, query: str) -> None:
    assert _first_title(fixture_engine, query) == VPTQ_TITLE


@pytest.mark.parametrize("query", ["sourdough bread baking", "how to bake sourdough bread with a starter"])
def test_unknown_topic_gives_no_title_match(fixture_engine, query: str) -> None:
    """Nothing in the digests is about bread: no match, or only weak keyword matches."""
    matches = fixture_engine.find_papers(query)
    claimed = [(m.how, round(m.score, 1), m.paper.title) for m in matches if m.how != "keywords"]
    assert claimed == [], f"{query!r} claimed title matches: {claimed}"
    assert all(m.score < 80 for m in matches)


# -- what a paper card needs -----------------------------------------------------------------
def test_match_carries_the_paper_card_fields(fixture_engine) -> None:
    paper = fixture_engine.find_papers("arXiv:2409.17066")[0].paper
    assert paper.title == VPTQ_TITLE
    assert paper.url == VPTQ_URL
    assert paper.arxiv_id == VPTQ_ID
    assert paper.date == "2024-09-25"
    assert paper.orgs == ["Microsoft", "USTC"]
    assert "VPTQ" in paper.summary and len(paper.summary) > 100
    assert "efficiency & quantization" in paper.topics
    assert [Path(m.source).name for m in paper.sources] == ["weekly-digest.md"]

    table_paper = fixture_engine.find_papers(LLAMA3_TITLE)[0].paper
    assert table_paper.url == "https://arxiv.org/abs/2407.21783"
    assert table_paper.date == "2024-07-31"
    assert table_paper.summary
    assert [Path(m.source).name for m in table_paper.sources] == ["papers-table.md"]


# -- autocomplete ------------------------------------------------------------------------------
AUTOCOMPLETE_INPUTS = ["", "a", "model", "Llama", "vptq", "2409.17066", "https://arxiv.org/abs/2410.02762", "sourdough"]


@pytest.mark.parametrize("prefix", AUTOCOMPLETE_INPUTS)
def test_autocomplete_choices_fit_discord_and_resolve(fixture_engine, prefix: str) -> None:
    choices = fixture_engine.autocomplete(prefix)
    assert len(choices) <= 25
    assert len({value for _, value in choices}) == len(choices), "a paper offered twice"
    for label, value in choices:
        assert 0 < len(label) <= 100, label
        assert 0 < len(value) <= 100, value
        matches = fixture_engine.find_papers(value)
        assert matches and matches[0].paper.paper_id == value
        title = matches[0].paper.title
        assert label.startswith(title[:40].rstrip()), (label, title)


def test_autocomplete_empty_and_broad_inputs_fill_the_list(fixture_engine) -> None:
    assert len(fixture_engine.autocomplete("")) == 25
    assert len(fixture_engine.autocomplete("   ")) == 25
    assert len(fixture_engine.autocomplete("a")) == 25  # 50 papers: a broad prefix fills the list


@pytest.mark.parametrize(
    ("prefix", "title"),
    [
        ("VPTQ: Extr", VPTQ_TITLE),
        ("vptq", VPTQ_TITLE),
        ("Contextual Doc", "Contextual Document Embeddings"),
        ("Not All LLM", "Not All LLM Reasoners Are Created Equal"),
        ("Scaling Laws with Voc", "Scaling Laws with Vocabulary: Larger Models Deserve Larger Vocabularies"),
        ("The Llama", LLAMA3_TITLE),
        ("2409.17066", VPTQ_TITLE),
    ],
)
def test_autocomplete_title_prefix_comes_first(fixture_engine, prefix: str, title: str) -> None:
    choices = fixture_engine.autocomplete(prefix)
    assert choices, f"no choices for {prefix!r}"
    first = fixture_engine.find_papers(choices[0][1])[0].paper
    assert first.title == title, f"{prefix!r} offered {[label for label, _ in choices[:3]]}"


def test_autocomplete_shared_link_offers_both_papers(fixture_engine) -> None:
    values = [value for _, value in fixture_engine.autocomplete("https://arxiv.org/abs/2410.02762")]
    titles = {fixture_engine.find_papers(v)[0].paper.title for v in values[:2]}
    assert titles == SHARED_LINKS["2410.02762"]


@pytest.mark.parametrize(
    "text",
    [
        "x" * 4000,
        ("Extreme Low-bit Vector Post-Training Quantization " * 100)[:4000],
        ("https://arxiv.org/abs/2409.17066 " * 200)[:4000],
    ],
)
def test_very_long_input_does_not_raise(fixture_engine, text: str) -> None:
    assert len(text) == 4000
    choices = fixture_engine.autocomplete(text)
    assert len(choices) <= 25
    assert all(len(label) <= 100 for label, _ in choices)
    assert len(fixture_engine.find_papers(text)) <= 5


# -- the CLI -----------------------------------------------------------------------------------
def test_cli_paper_json_contract(run_cli, fixture_data_dir: Path) -> None:
    query = "https://arxiv.org/abs/2410.02762"
    data = json.loads(run_cli("paper", query, "--json", "--data-dir", str(fixture_data_dir)).stdout)
    assert set(data) == {"query", "matches"}
    assert data["query"] == query
    assert {m["title"] for m in data["matches"]} == SHARED_LINKS["2410.02762"]
    for m in data["matches"]:
        assert set(m) == PAPER_KEYS
        assert m["url"] == query and m["arxiv_id"] == "2410.02762" and m["date"] == "2024-10-03"
        assert m["orgs"] and all(isinstance(o, str) for o in m["orgs"])
        assert isinstance(m["summary"], str) and m["summary"]
        assert m["topics"] and all(isinstance(t, str) for t in m["topics"])
        assert [Path(s).name for s in m["sources"]] == ["weekly-digest.md"]


def test_cli_search_json_contract(run_cli, fixture_data_dir: Path) -> None:
    query = "low-bit quantization"
    out = run_cli("search", query, "--json", "-k", "5", "--data-dir", str(fixture_data_dir)).stdout
    data = json.loads(out)
    assert set(data) == {"query", "hits"}
    assert data["query"] == query
    hits = data["hits"]
    assert [h["rank"] for h in hits] == [1, 2, 3, 4, 5]
    for h in hits:
        assert set(h) == HIT_KEYS
        assert isinstance(h["score"], (int, float))
    scores = [h["score"] for h in hits]
    assert scores == sorted(scores, reverse=True)
    assert VPTQ_TITLE in [h["title"] for h in hits]


def test_cli_paper_human_output_shows_title_and_link(run_cli, fixture_data_dir: Path) -> None:
    out = run_cli("paper", "2409.17066", "--data-dir", str(fixture_data_dir)).stdout
    assert VPTQ_TITLE in out
    assert VPTQ_URL in out
    assert NO_MATCH_TEXT not in out


@pytest.mark.parametrize(
    "query", ["https://arxiv.org/abs/2501.00001", "https://example.org/papers/vector-quantization", "2501.00001v2"]
)
def test_an_identifier_not_in_the_digests_matches_nothing(fixture_engine, query: str) -> None:
    """A pasted link or id names one paper: when the digests lack it, "no match"
    beats look-alikes found through words like "arxiv", "https" or "quantization"."""
    assert fixture_engine.find_papers(query) == []


@pytest.mark.parametrize("query", ["sourdough bread baking", "how to bake sourdough bread with a starter"])
def test_cli_paper_human_output_says_when_nothing_matches(run_cli, fixture_data_dir: Path, query: str) -> None:
    result = run_cli("paper", query, "--data-dir", str(fixture_data_dir))
    assert NO_MATCH_TEXT in result.stdout
    assert "arxiv.org" not in result.stdout


def test_cli_search_piped_into_a_reader_that_stops_early(fixture_data_dir: Path, tmp_path: Path) -> None:
    """`paperbot search ... | head -1`: the reader closes the pipe before the
    command writes; that is a normal end, not an "unexpected error"."""
    import os
    import subprocess
    import sys

    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp_path), "NO_COLOR": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot.cli", "search", "quantization", "--data-dir", str(fixture_data_dir)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=tmp_path,
    )
    assert proc.stdout is not None
    proc.stdout.close()  # long before the command has loaded anything
    _out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert b"unexpected error" not in err and b"Traceback" not in err, err
