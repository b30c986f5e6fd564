"""The questions a digest community asks, answered end to end on a small fixture
digest (tests/fixtures/questions/digest.md, three weeks, our own words): a
week's highlights, a time-scoped topic, "recent", a paper named by its short
name, follow-ups that are answered from the thread's paper or say the digest
does not tell.  Through the engine, the ``ask --json`` contract, the terminal
chat (a real subprocess on stdin) and a Discord thread (the real bot against
the fake Discord)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from config import Settings
from index.answer import Turn
from index.engine import Engine
from tests.conftest import REPO_ROOT
from tests.support.bot import bot_session
from tests.support.replies import embeds, links, thread_answer

FIXTURE = REPO_ROOT / "tests" / "fixtures" / "questions"
MOVIE_GEN = "https://arxiv.org/abs/2410.13720"
VPTQ = "https://arxiv.org/abs/2409.17066"


@pytest.fixture(scope="module")
def fixture_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data_dir = tmp_path_factory.mktemp("questions") / "data"
    engine = Engine(Settings.from_env(environ={}, dotenv_path=None, data_dir=data_dir))
    report = engine.ingest([str(FIXTURE)])
    assert report.new == 7, report
    return data_dir


@pytest.fixture(scope="module")
def engine(fixture_dir: Path) -> Engine:
    return Engine(Settings.from_env(environ={}, dotenv_path=None, data_dir=fixture_dir))


def test_whats_new_lists_the_newest_weeks_highlights_in_digest_order(engine: Engine) -> None:
    answer = engine.ask("what's new this week?")
    assert not answer.abstained
    assert answer.weeks == ["2024-10-06"]
    assert [c.url for c in answer.citations] == [MOVIE_GEN, VPTQ, "https://arxiv.org/abs/2410.01201"]
    assert "Highlights of the digest of 2024-10-06" in answer.text
    assert "`/digest show week:2024-10-06`" in answer.text
    assert "_From the digest of 2024-10-06._" in answer.text
    # one line per paper, each a whole sentence (no title fragment, no dateline)
    lines = [line for line in answer.text.splitlines() if line[:2] in ("1.", "2.", "3.")]
    assert len(lines) == 3 and all(line.endswith(".") for line in lines)
    assert "Oct 4, Meta." not in answer.text


def test_a_named_week_and_a_missing_one(engine: Engine) -> None:
    answer = engine.ask("what was in the digest of Sept 29, 2024?")
    assert answer.weeks == ["2024-09-29"] and len(answer.citations) == 2
    missing = engine.ask("what was in the digest for the week of August 18?")
    assert missing.abstained and "no digest for 2024-08-18" in missing.text


def test_a_time_scoped_topic_is_filtered_to_its_week(engine: Engine) -> None:
    answer = engine.ask("what quantization papers were in the October 6 digest?")
    assert not answer.abstained
    assert [c.url for c in answer.citations] == [VPTQ]
    assert answer.weeks == ["2024-10-06"] and answer.notice is None
    assert answer.text.endswith("_From the digest of 2024-10-06._")  # the week it used, said once
    # the same subject in a week that has nothing on it: said, then the other weeks
    elsewhere = engine.ask("what quantization papers were in the Sept 22 digest?")
    assert elsewhere.notice and elsewhere.notice.startswith("Nothing in the digest of 2024-09-22 is about quantization")
    assert VPTQ in [c.url for c in elsewhere.citations]


def test_covered_questions_are_answered_whatever_their_framing(engine: Engine) -> None:
    for question in ("what did the digests say about Movie Gen?", "tell me about Movie Gen", "explain Movie Gen simply"):
        answer = engine.ask(question)
        assert not answer.abstained, question
        assert answer.citations[0].url == MOVIE_GEN, question
        assert not answer.text.startswith("**Movie Gen: A Cast of Media Foundation Models** [1]: A Cast of"), answer.text
    frames = engine.ask("what is FRAMES?")  # a name the summary introduces
    assert not frames.abstained and frames.citations[0].url == "https://arxiv.org/abs/2409.12941"
    # what the digests lack still gets the abstention
    assert engine.ask("What is a good recipe for pizza dough?").abstained
    assert engine.ask("Summarize the Llama 2 paper.").abstained


def test_follow_ups_quote_what_addresses_them_or_say_the_digest_does_not(engine: Engine) -> None:
    first = engine.ask("tell me about Movie Gen")
    history = [Turn("tell me about Movie Gen", first.text)]
    size = engine.ask("how big is the largest model?", history=history)
    assert [c.url for c in size.citations] == [MOVIE_GEN]
    assert "30B parameters" in size.text
    data = engine.ask("what data was it trained on?", history=history)
    assert data.text.startswith("The digest doesn't give what data it uses for **Movie Gen")
    assert [c.url for c in data.citations] == [MOVIE_GEN]
    # a new question in the same conversation is not about Movie Gen
    assert engine.ask("What is a good recipe for pizza dough?", history=history).abstained


def test_ask_json_names_the_weeks(run_cli, fixture_dir: Path) -> None:  # noqa: ANN001
    result = run_cli("ask", "what quantization papers were in the October 6 digest?", "--json", "--data-dir", str(fixture_dir))
    data = json.loads(result.stdout)
    assert data["weeks"] == ["2024-10-06"]
    assert data["citations"][0]["week"] == "2024-10-06" and data["citations"][0]["url"] == VPTQ
    assert "_From the digest of 2024-10-06._" in data["answer"]


def test_chat_answers_a_week_question_and_a_follow_up(run_cli, fixture_dir: Path) -> None:  # noqa: ANN001
    script = "what's new this week?\n/new\ntell me about Movie Gen\nhow big is the largest model?\nwhat are its results?\n/quit\n"
    out = run_cli("chat", "--data-dir", str(fixture_dir), input=script).stdout
    assert "Highlights of the digest of 2024-10-06 (top 3 of 3 papers)" in out.replace("**", "")
    assert "/digest show week:2024-10-06" in out
    replies = out.split("you> ")
    size, results = replies[4], replies[5]
    assert "30B parameters" in size and "[1] Movie Gen: A Cast of Media Foundation Models" in size
    assert "Human raters preferred its clips" in results  # the sentence about how it did, not the summary again
    assert "30B parameters" not in results


async def test_discord_thread_week_question_and_follow_up(engine: Engine, tmp_path: Path) -> None:
    async with bot_session(engine, tmp_path) as s:
        fake = s.fake
        week_q = await fake.user_message(f"{s.mention} what's new this week?", user_id=7001)
        (week_reply,) = await thread_answer(fake, int(week_q["id"]))
        assert week_reply.status == 200, week_reply.errors
        content = week_reply.json["content"]
        assert "Highlights of the digest of 2024-10-06" in content and "/digest show week:2024-10-06" in content
        (sources,) = embeds(week_reply)
        assert links(sources)[:2] == [MOVIE_GEN, VPTQ]

        question = await fake.user_message(f"{s.mention} tell me about Movie Gen", user_id=7002, channel_id=fake.channel_ids[1])
        thread_id = int(question["id"])
        await thread_answer(fake, thread_id)
        await fake.user_message(f"{s.mention} how big is the largest model?", user_id=7002, channel_id=thread_id)
        follow_up = (await thread_answer(fake, thread_id, after=1))[-1]
        assert follow_up.status == 200, follow_up.errors
        assert "30B parameters" in follow_up.json["content"]
        (sources,) = embeds(follow_up)
        assert sources["title"] == "Sources" and links(sources) == [MOVIE_GEN]
        # the follow-up answers the question instead of repeating the first answer
        first = (await thread_answer(fake, thread_id))[0]
        assert follow_up.json["content"] != first.json["content"]
