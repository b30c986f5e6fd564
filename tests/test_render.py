"""Rendering within Discord's limits, with mentions made inert."""

from __future__ import annotations

import re

from bot.discord_render import answer_messages, digest_pages, paper_embed
from bot.render import neutralise_mentions, split_message
from index.answer import Answer, Citation
from index.models import Mention, Paper


def long_answer(chars: int = 5000) -> Answer:
    sentence = "VPTQ compresses weights with vector quantization [1] and see [the paper](https://arxiv.org/abs/2409.17066). "
    text = (sentence * (chars // len(sentence) + 1))[:chars]
    citations = [Citation(n=1, paper_id="p1", title="VPTQ", url="https://arxiv.org/abs/2409.17066", arxiv_id="2409.17066", week="2024-09-29")]
    return Answer(question="q", text=text, citations=citations, weeks=["2024-09-29"])


def test_split_respects_limit_and_never_cuts_links_or_citations() -> None:
    parts = split_message(long_answer().text, 2000)
    assert len(parts) >= 3
    assert all(len(p) <= 2000 for p in parts)
    for p in parts:
        # every markdown link and citation is whole within one part
        assert p.count("[") == p.count("]")
        assert p.count("(https://") == len(re.findall(r"\]\(https://[^)]+\)", p))


def test_split_prefers_paragraphs() -> None:
    text = ("a" * 1500) + "\n\n" + ("b. " * 300)
    parts = split_message(text, 2000)
    assert parts[0] == "a" * 1500


def test_answer_messages_put_sources_on_the_last_part() -> None:
    out = answer_messages(long_answer())
    assert all(len(m.content or "") <= 2000 for m in out)
    assert out[-1].embed is not None and all(m.embed is None for m in out[:-1])
    assert "arxiv.org/abs/2409.17066" in out[-1].embed.description


def test_mentions_are_inert() -> None:
    text = neutralise_mentions("hi @everyone and @here, <@123> <@&456>")
    assert "@everyone" not in text and "@here" not in text
    assert "<@123>" not in text and "<@&456>" not in text


def _paper(i: int, text: str = "x") -> Paper:
    return Paper(
        paper_id=f"p{i}",
        title=("A very long title " * 30) + str(i),
        url=f"https://arxiv.org/abs/2409.{10000 + i}",
        summary=text * 5000,
        headline=text * 3000,
        orgs=["Org"] * 300,
        topics=["topic"] * 300,
        week="2024-09-29",
        sources=[Mention("a.md", i, "2024-09-29")],
    )


def test_embeds_stay_within_discord_limits() -> None:
    embed = paper_embed(_paper(1), did_you_mean=[_paper(i) for i in range(2, 9)])
    assert len(embed) <= 6000 and len(embed.title) <= 256 and len(embed.description) <= 4096
    assert all(len(f.value) <= 1024 and len(f.name) <= 256 for f in embed.fields)
    pages = digest_pages("2024-09-29", [_paper(i) for i in range(30)])
    assert len(pages) >= 4
    for page in pages:
        assert len(page) <= 6000 and len(page.fields) <= 25
