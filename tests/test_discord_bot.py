"""The real Discord bot, end to end, against a fake Discord on 127.0.0.1.

The bot under test is the real ``PaperBot`` built the way ``bot/runner.py``
builds it (``point_at`` aims discord.py at the fake, ``BotState`` under the data
dir, ``make_bot``, ``login``, ``connect``) over the real engine with both fixture
digests ingested.  The fake (``tests/support/discord``) speaks Discord's REST
API and gateway; tests push what users do (a mention, a slash command, a button
click) as gateway events and assert on the requests the bot really sent.
LLM answers, where a test needs a particular text, come from the fake OpenAI
server: the LLM is outside the machine, so faking it at the protocol is fair.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import signal
import sys
from pathlib import Path
from typing import Any

import discord
import pytest

from bot.runner import EXIT_BAD_TOKEN, EXIT_NO_TOKEN, state_path
from bot.state import BotState
from config import Settings
from index.engine import Engine
from tests.support.bot import TOKEN, VPTQ_URL, bot_session, clean_env, run_paperbot
from tests.support.chroma import free_port
from tests.support.discord import (
    AUTOCOMPLETE_RESULT,
    CHANNEL_MESSAGE,
    DEFERRED_CHANNEL_MESSAGE,
    EPHEMERAL,
    UPDATE_MESSAGE,
    FakeDiscord,
)
from tests.support.fake_openai import Behaviour, FakeOpenAI
from tests.support.replies import answered, assert_inert, buttons, callback, embeds, followups, links, replied_to, thread_answer


# -- mentions and threads ------------------------------------------------------------------
async def test_mention_opens_a_thread_and_answers_there_with_sources(
    fixture_engine: Engine, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    async with bot_session(fixture_engine, tmp_path) as s:
        fake = s.fake
        # The bot registered its commands in the dev guild at start.
        names = {c["name"] for c in fake.commands[str(fake.guild_id)]}
        assert {"ask", "paper", "digest"} <= names

        question = await fake.user_message(f"{s.mention} what is VPTQ?", user_id=1001)
        (created,) = await fake.wait_for(lambda r: r.path.endswith("/threads"))
        assert created.parts == ["channels", str(fake.channel_ids[0]), "messages", question["id"], "threads"]
        assert created.status == 201 and created.json["name"] == "what is VPTQ?"
        thread_id = int(question["id"])

        (reply,) = await thread_answer(fake, thread_id)
        assert reply.status == 200, reply.errors
        assert "VPTQ" in reply.json["content"] and "[1]" in reply.json["content"]
        (sources,) = embeds(reply)
        assert sources["title"] == "Sources"
        cited = (await asyncio.to_thread(fixture_engine.ask, "what is VPTQ?")).citations
        assert links(sources) == [c.url for c in cited] and links(sources)[0] == VPTQ_URL
        assert {b["custom_id"].rsplit(":", 1)[1] for b in buttons(reply)} == {"up", "down"}
        assert_inert(reply)
        # Nothing was posted in the channel itself: the answer lives in the thread.
        assert fake.sent_to(fake.channel_ids[0]) == []
        assert any(r.parts == ["channels", str(thread_id), "typing"] for r in fake.requests)
    # A normal question logs no warning or error (a mention is not a failed text command).
    noisy = [f"{r.name}: {r.getMessage()}" for r in caplog.records if r.levelno >= logging.WARNING]
    assert not noisy, noisy


async def test_follow_up_in_the_thread_is_answered_with_its_history(fixture_engine: Engine, tmp_path: Path) -> None:
    # Control: on its own the follow-up names nothing the digests cover.
    alone = await asyncio.to_thread(fixture_engine.ask, "how low can it go?")
    assert alone.abstained

    async with bot_session(fixture_engine, tmp_path) as s:
        fake = s.fake
        question = await fake.user_message(f"{s.mention} what is VPTQ?", user_id=1001)
        thread_id = int(question["id"])
        await thread_answer(fake, thread_id)

        await fake.user_message(f"{s.mention} how low can it go?", user_id=1001, channel_id=thread_id)
        replies = await thread_answer(fake, thread_id, after=1)
        follow_up = replies[-1]
        assert follow_up.status == 200, follow_up.errors
        (sources,) = embeds(follow_up)
        assert sources["title"] == "Sources", follow_up.json  # answered, not "nearest papers"
        assert VPTQ_URL in links(sources)
        assert "don't cover" not in follow_up.json["content"]
        # Still one thread: the follow-up did not start another.
        assert len([r for r in fake.requests if r.path.endswith("/threads")]) == 1


async def test_replies_to_the_bot_in_a_thread(fixture_engine: Engine, tmp_path: Path) -> None:
    async with bot_session(fixture_engine, tmp_path) as s:
        fake = s.fake
        question = await fake.user_message(f"{s.mention} what is VPTQ?", user_id=1101)
        thread_id = int(question["id"])
        (answer,) = await thread_answer(fake, thread_id)

        # A reply with the ping on mentions the bot: answered, with the thread's history.
        await fake.user_message("how low can it go?", user_id=1101, channel_id=thread_id, reference_id=answer.message_id)
        follow_up = (await thread_answer(fake, thread_id, after=1))[-1]
        assert embeds(follow_up)[0]["title"] == "Sources" and VPTQ_URL in links(embeds(follow_up)[0])

        # With the ping off, Discord hides the text (no message-content intent): the
        # bot says how to be heard instead of pretending nothing was asked.
        hidden = await fake.user_message(
            "and its memory use?", user_id=1101, channel_id=thread_id, reference_id=answer.message_id, mention_bot=False
        )
        assert hidden["content"] == ""
        (hint,) = await fake.wait_for(
            lambda r: r.parts == ["channels", str(thread_id), "messages"] and replied_to(r) == hidden["id"]
        )
        assert "mention me" in hint.json["content"]
        assert_inert(hint)

        # A bare mention gets a short usage hint.
        bare = await fake.user_message(s.mention, user_id=1102, channel_id=fake.channel_ids[1])
        (usage,) = await fake.wait_for(lambda r: replied_to(r) == bare["id"])
        assert usage.parts == ["channels", str(fake.channel_ids[1]), "messages"] and "what is VPTQ" in usage.json["content"]

        # Someone else's message that does not mention the bot is none of its business.
        before = len(fake.requests)
        other = await fake.user_message("what is VPTQ?", user_id=1103, channel_id=fake.channel_ids[1], mention_bot=False)
        probe = await fake.user_message(s.mention, user_id=1104, channel_id=fake.channel_ids[1])
        await fake.wait_for(lambda r: replied_to(r) == probe["id"])
        assert not any(replied_to(r) == other["id"] or r.path.endswith(f"/{other['id']}/threads") for r in fake.requests[before:])


async def test_without_thread_permission_the_answer_is_a_reply_in_the_channel(fixture_engine: Engine, tmp_path: Path) -> None:
    async with bot_session(fixture_engine, tmp_path) as s:
        fake = s.fake
        channel = fake.no_threads_channel_id
        question = await fake.user_message(f"{s.mention} what is VPTQ?", user_id=1201, channel_id=channel)
        (refused,) = await fake.wait_for(lambda r: r.path.endswith("/threads"))
        assert refused.status == 403
        (reply,) = await fake.wait_for(lambda r: r.parts == ["channels", str(channel), "messages"] and bool(buttons(r)))
        assert reply.status == 200, reply.errors
        assert replied_to(reply) == question["id"]
        assert not reply.json["allowed_mentions"].get("replied_user")  # a reply that does not ping (Discord: default false)
        assert links(embeds(reply)[0])[0] == VPTQ_URL


async def test_the_bot_resumes_after_discord_asks_it_to_reconnect(fixture_engine: Engine, tmp_path: Path) -> None:
    async with bot_session(fixture_engine, tmp_path) as s:
        fake = s.fake
        await fake.reconnect()
        # discord.py reconnects to READY's resume_gateway_url and sends RESUME.
        await asyncio.wait_for(fake.resumed.wait(), 15)
        resume = next(f for f in fake.gateway_received if f["op"] == 6)
        assert fake.gateway_connections == ["/gateway", "/gateway-resume"]
        assert resume["d"]["token"] == TOKEN and resume["d"]["seq"] >= 2

        pending = await fake.slash("ask", user_id=1301, question="what is VPTQ?")
        assert (await callback(fake, pending)).json["type"] == DEFERRED_CHANNEL_MESSAGE
        await answered(fake, pending)


async def test_the_sharded_bot_connects_and_answers(fixture_engine: Engine, tmp_path: Path) -> None:
    async with bot_session(fixture_engine, tmp_path, env={"PAPERBOT_SHARDED": "true"}) as s:
        fake = s.fake
        assert isinstance(s.bot, discord.AutoShardedClient)
        assert any(r.path == "/gateway/bot" for r in fake.requests)  # the sharded client asks for the shard count
        identify = next(f for f in fake.gateway_received if f["op"] == 2)
        assert identify["d"]["shard"] == [0, 1]
        pending = await fake.slash("ask", user_id=1401, question="what is VPTQ?")
        assert (await callback(fake, pending)).json["type"] == DEFERRED_CHANNEL_MESSAGE
        await answered(fake, pending)


# -- /ask ---------------------------------------------------------------------------------------
async def test_ask_is_deferred_within_3s_then_the_followup_holds_the_answer(fixture_engine: Engine, tmp_path: Path) -> None:
    async with bot_session(fixture_engine, tmp_path) as s:
        fake = s.fake
        pending = await fake.slash("ask", user_id=2001, question="what is VPTQ?")
        first = await callback(fake, pending)
        assert first.json["type"] == DEFERRED_CHANNEL_MESSAGE
        # Accepted: the fake answers a callback later than Discord's 3 s with 404 Unknown interaction.
        assert first.status == 200, first.errors
        parts = await answered(fake, pending)
        calls = fake.for_interaction(pending)
        assert calls[0] is first and all(r.at >= first.at for r in calls)
        answer = parts[-1]
        assert answer.status == 200, answer.errors
        assert answer.ephemeral is False  # the public "thinking" message became the answer
        assert "[1]" in parts[0].json["content"]
        (sources,) = embeds(answer)
        assert links(sources)[0] == VPTQ_URL
        for r in parts:
            assert_inert(r)


async def test_cooldown_answers_a_second_ask_with_a_short_ephemeral_message(fixture_engine: Engine, tmp_path: Path) -> None:
    async with bot_session(fixture_engine, tmp_path, env={"PAPERBOT_ASK_COOLDOWN": "30"}) as s:
        fake = s.fake
        first = await fake.slash("ask", user_id=3001, question="what is VPTQ?")
        assert (await callback(fake, first)).json["type"] == DEFERRED_CHANNEL_MESSAGE
        await answered(fake, first)

        again = await fake.slash("ask", user_id=3001, question="and OLMoE?")
        refused = await callback(fake, again)
        assert refused.json["type"] == CHANNEL_MESSAGE
        data = refused.json["data"]
        assert data["flags"] & EPHEMERAL
        assert data["content"].startswith("Slow down") and len(data["content"]) < 120
        assert re.search(r"again in (2\d|30)s", data["content"]), data["content"]
        assert refused.ephemeral is True

        # Another user is not held back by the first one's cooldown.
        other = await fake.slash("ask", user_id=3002, question="what is OLMoE?")
        assert (await callback(fake, other)).json["type"] == DEFERRED_CHANNEL_MESSAGE
        await answered(fake, other)


async def test_backend_failure_gives_a_friendly_ephemeral_message_and_logs_the_traceback(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # A real backend failure: the index lives on a Chroma server that is down.
    broken = Engine(
        Settings.from_env(
            environ={"CHROMA_HOST": "127.0.0.1", "CHROMA_PORT": str(free_port())},
            dotenv_path=None,
            data_dir=tmp_path / "index",
        )
    )
    caplog.set_level(logging.INFO)
    async with bot_session(broken, tmp_path) as s:
        fake = s.fake
        pending = await fake.slash("ask", user_id=4001, question="what is VPTQ?")
        assert (await callback(fake, pending)).json["type"] == DEFERRED_CHANNEL_MESSAGE
        (reply,) = await followups(fake, pending)
        assert reply.status == 200, reply.errors
        text = reply.json["content"]
        assert "something went wrong" in text and len(text) < 150
        assert "Chroma" not in text and "Traceback" not in text
        assert reply.ephemeral is True, "Discord would show this error to everyone"

        # A mention fails the same way: a short message in the thread, not silence.
        question = await fake.user_message(f"{s.mention} what is VPTQ?", user_id=4002)
        (sorry,) = await fake.wait_for(lambda r: r.parts == ["channels", question["id"], "messages"])
        assert "something went wrong" in sorry.json["content"]

    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    # Both went through the one error handler: /ask and the mention.
    assert [r.name for r in errors] == ["bot.app", "bot.app"], [r.getMessage()[:200] for r in errors]
    assert errors[1].getMessage().startswith("answering a mention failed")
    for record in errors:
        logged = logging.Formatter().format(record)
        assert "Traceback" in logged and "StoreUnavailable" in logged, logged


async def test_fifty_concurrent_asks_are_all_acknowledged_within_3s_and_answered(
    fixture_engine: Engine, tmp_path: Path, figures: dict[str, object]
) -> None:
    questions = ["what is VPTQ?", "what is OLMoE?", "what is Scylla?", "what is DiVA?", "what is R-MCTS?"]
    async with bot_session(fixture_engine, tmp_path) as s:
        fake = s.fake
        sent = await asyncio.gather(
            *(fake.slash("ask", user_id=5000 + i, question=questions[i % len(questions)]) for i in range(50))
        )
        acks = await fake.wait_for(lambda r: r.is_callback(), count=50, timeout=15)
        by_id = {int(r.parts[1]): r for r in acks}
        for pending in sent:
            ack = by_id[pending.id]
            # Accepted: the fake answers a callback later than Discord's 3 s with 404 Unknown interaction.
            assert ack.status == 200 and ack.json["type"] == DEFERRED_CHANNEL_MESSAGE, (ack.status, ack.errors)
        slowest = max(by_id[p.id].at - p.sent_at for p in sent)

        done = await fake.wait_for(
            lambda r: r.is_followup() and any("paperbot:fb:" in b.get("custom_id", "") for b in buttons(r)), count=50, timeout=90
        )
        assert {next(p.id for p in sent if p.token in r.parts) for r in done} == {p.id for p in sent}
        assert all(r.status == 200 for r in done)
        for pending in sent:
            answer = [r for r in fake.for_interaction(pending) if r.is_followup()][-1]
            assert embeds(answer) and links(embeds(answer)[0]), answer.json
        figures.update(slowest_ack_s=slowest, all_answered_after_s=max(r.at for r in done) - sent[0].sent_at)


# -- feedback buttons ---------------------------------------------------------------------------
async def test_feedback_buttons_store_votes(fixture_engine: Engine, tmp_path: Path) -> None:
    async with bot_session(fixture_engine, tmp_path) as s:
        fake = s.fake
        pending = await fake.slash("ask", user_id=6001, question="what is VPTQ?")
        last = (await answered(fake, pending))[-1]
        ids = {b["custom_id"].rsplit(":", 1)[1]: b["custom_id"] for b in buttons(last)}
        assert set(ids) == {"up", "down"}

        votes = [(6001, "up"), (6002, "down"), (6003, "up")]
        for user_id, vote in votes:
            click = await fake.click(last.message_id, ids[vote], user_id=user_id)
            thanks = await callback(fake, click)
            assert thanks.json["type"] == CHANNEL_MESSAGE and thanks.json["data"]["flags"] & EPHEMERAL
            assert thanks.json["data"]["content"] == "Thanks for the feedback!"
        # The same user changing their mind replaces their vote.
        change = await fake.click(last.message_id, ids["down"], user_id=6003)
        await callback(fake, change)

    rows = BotState(state_path(s.settings)).feedback()
    assert [(r.question, r.up, r.down) for r in rows] == [("what is VPTQ?", 1, 2)]
    assert rows[0].citations[0]["url"] == VPTQ_URL

    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot.cli", "feedback", "--json", "--data-dir", str(tmp_path),
        cwd=tmp_path, env=clean_env(), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, err.decode()
    exported = json.loads(out)["feedback"]
    assert [(f["question"], f["up"], f["down"]) for f in exported] == [("what is VPTQ?", 1, 2)]


# -- /paper ---------------------------------------------------------------------------------------
async def test_paper_autocomplete_offers_at_most_25_short_choices(fixture_engine: Engine, tmp_path: Path) -> None:
    async with bot_session(fixture_engine, tmp_path) as s:
        fake = s.fake
        for current in ("", "quant", "vptq", "a"):
            pending = await fake.autocomplete("paper", "query", current, user_id=7001)
            result = await callback(fake, pending)
            assert result.status == 200, result.errors
            assert result.json["type"] == AUTOCOMPLETE_RESULT
            choices = result.json["data"]["choices"]
            assert len(choices) <= 25
            assert all(1 <= len(c["name"]) <= 100 and 1 <= len(c["value"]) <= 100 for c in choices), choices
            if current == "vptq":
                assert "VPTQ" in choices[0]["name"]
            if current == "a":
                assert len(choices) == 25  # most of the 50 titles match: the list is full, and cut to Discord's limit


async def test_paper_shows_a_card_with_the_title_linked(fixture_engine: Engine, tmp_path: Path) -> None:
    async with bot_session(fixture_engine, tmp_path) as s:
        fake = s.fake
        for query in ("VPTQ", "2409.17066", VPTQ_URL):
            pending = await fake.slash("paper", user_id=7002, query=query)
            assert (await callback(fake, pending)).json["type"] == DEFERRED_CHANNEL_MESSAGE
            (card,) = await followups(fake, pending)
            assert card.status == 200, card.errors
            (embed,) = embeds(card)
            assert "VPTQ" in embed["title"] and embed["url"] == VPTQ_URL
            assert {"Date", "arXiv"} <= {f["name"] for f in embed.get("fields", [])}
            assert_inert(card)

        # An autocomplete pick sends the paper id as the value.
        pick = await fake.autocomplete("paper", "query", "vptq", user_id=7002)
        value = (await callback(fake, pick)).json["data"]["choices"][0]["value"]
        pending = await fake.slash("paper", user_id=7002, query=value)
        (card,) = await followups(fake, pending)
        assert embeds(card)[0]["url"] == VPTQ_URL

        pending = await fake.slash("paper", user_id=7002, query="zzzz qqqq xxxx")
        (none,) = await followups(fake, pending)
        assert none.status == 200 and "No paper" in none.json["content"]


# -- /digest show ----------------------------------------------------------------------------------
async def test_digest_show_pages_with_buttons(fixture_engine: Engine, tmp_path: Path) -> None:
    latest = fixture_engine.weeks()[-1]
    count = len(fixture_engine.week_papers(latest)[1])
    assert count > 8  # more than one page
    async with bot_session(fixture_engine, tmp_path) as s:
        fake = s.fake
        pending = await fake.slash("digest", subcommand="show", user_id=8001)
        assert (await callback(fake, pending)).json["type"] == DEFERRED_CHANNEL_MESSAGE
        (page1,) = await followups(fake, pending)
        assert page1.status == 200, page1.errors
        (embed,) = embeds(page1)
        assert latest in embed["title"]
        pages = -(-count // 8)
        assert embed["footer"]["text"].startswith(f"Page 1/{pages}")
        assert len(embed["fields"]) == 8
        prev, nxt = buttons(page1)
        assert prev.get("disabled") is True and not nxt.get("disabled")
        assert_inert(page1)

        click = await fake.click(page1.message_id, nxt["custom_id"], user_id=8001)
        turned = await callback(fake, click)
        assert turned.status == 200, turned.errors
        assert turned.json["type"] == UPDATE_MESSAGE
        (embed2,) = turned.json["data"]["embeds"]
        assert embed2["footer"]["text"].startswith(f"Page 2/{pages}")
        assert {f["name"] for f in embed2["fields"]}.isdisjoint({f["name"] for f in embed["fields"]})
        prev2, _ = buttons(turned)
        assert not prev2.get("disabled")
        # The fake applied the edit to the message users see.
        assert fake.messages[page1.message_id]["embeds"][0]["footer"]["text"].startswith(f"Page 2/{pages}")

        # An explicit week, picked with autocomplete.
        week = fixture_engine.weeks()[0]
        pick = await fake.interact(
            4,
            fake.command_data("digest", [{"name": "show", "type": 1, "options": [{"name": "week", "type": 3, "value": week[:7], "focused": True}]}]),
            user_id=8001,
        )
        choices = (await callback(fake, pick)).json["data"]["choices"]
        assert week in [c["value"] for c in choices] and len(choices) <= 25
        pending = await fake.slash("digest", subcommand="show", user_id=8001, week=week)
        (shown,) = await followups(fake, pending)
        assert week in embeds(shown)[0]["title"]

        # An unknown week: a short message only the user sees.
        pending = await fake.slash("digest", subcommand="show", user_id=8001, week="1999-01-04")
        (unknown,) = await followups(fake, pending)
        assert "no digest for that week" in unknown.json["content"]
        assert unknown.ephemeral is True, "Discord would show this to everyone"


# -- long answers and mentions inside answers (LLM text from the fake OpenAI server) ----------------
def long_reply(messages: list[dict[str, Any]]) -> str:
    sentence = "VPTQ quantizes the weights of large language models to about two bits with vector codebooks [1]. "
    paragraphs = [sentence * 6 + f"Point {i} about its accuracy and memory use [1]." for i in range(8)]
    return "\n\n".join(paragraphs)


async def test_a_5000_character_answer_is_split_within_discord_limits(llm_engine: tuple[Engine, FakeOpenAI], tmp_path: Path) -> None:
    engine, llm = llm_engine
    llm.behaviour = Behaviour(reply=long_reply)
    expected = await asyncio.to_thread(engine.ask, "what is VPTQ?")
    assert expected.backend.startswith("openai") and len(expected.text) >= 5000

    async with bot_session(engine, tmp_path) as s:
        fake = s.fake
        pending = await fake.slash("ask", user_id=9001, question="what is VPTQ?")
        parts = await answered(fake, pending)
        assert len(parts) >= 3
        assert all(r.status == 200 for r in parts), [r.errors for r in parts]
        contents = [r.json["content"] for r in parts]
        assert all(0 < len(c) <= 2000 for c in contents), [len(c) for c in contents]
        # Nothing lost, nothing cut inside a citation marker.
        assert " ".join(" ".join(contents).split()) == " ".join(expected.text.split())
        assert all(not c.rstrip().endswith("[") and not c.lstrip().startswith("1]") for c in contents)
        # The Sources embed and the buttons come once, with the last part.
        assert [bool(embeds(r)) for r in parts] == [False] * (len(parts) - 1) + [True]
        assert [bool(buttons(r)) for r in parts] == [False] * (len(parts) - 1) + [True]
        assert links(embeds(parts[-1])[0]) == [VPTQ_URL]

        # The same answer to a mention: split the same way in the thread.
        question = await fake.user_message(f"{s.mention} what is VPTQ?", user_id=9002)
        posted = await thread_answer(fake, int(question["id"]))
        assert len(posted) == len(parts) and all(r.status == 200 and len(r.json["content"]) <= 2000 for r in posted)


def pinging_reply(messages: list[dict[str, Any]]) -> str:
    return "VPTQ is a quantization method @everyone should try [1]. Tell @here and <@&123456789012345678> and <@98765432109876543> [1]."


async def test_mentions_in_an_answer_never_ping(llm_engine: tuple[Engine, FakeOpenAI], tmp_path: Path) -> None:
    engine, llm = llm_engine
    llm.behaviour = Behaviour(reply=pinging_reply)
    async with bot_session(engine, tmp_path) as s:
        fake = s.fake
        pending = await fake.slash("ask", user_id=9101, question="what is VPTQ?")
        (answer,) = await answered(fake, pending)
        assert "@\u200beveryone" in answer.json["content"] and "@\u200bhere" in answer.json["content"]

        question = await fake.user_message(f"{s.mention} what is VPTQ? @everyone", user_id=9102)
        (in_thread,) = await thread_answer(fake, int(question["id"]))
        assert "@\u200beveryone" in in_thread.json["content"]

        click = await fake.click(answer.message_id, buttons(answer)[0]["custom_id"], user_id=9101)
        await callback(fake, click)

        messages = [r for r in fake.requests if r.is_message_post()]
        assert len(messages) >= 3
        for r in messages:
            assert_inert(r)


# -- the token ------------------------------------------------------------------------------------------
async def test_run_without_a_token_says_so_in_one_line(tmp_path: Path) -> None:
    code, out, err = await run_paperbot(tmp_path, "run", "--data-dir", str(tmp_path / "data"), env=clean_env())
    assert code == EXIT_NO_TOKEN
    assert err.strip().splitlines() == ["paperbot: DISCORD_TOKEN is not set: put your bot token in .env or the environment"]
    assert out == ""


async def test_run_with_a_rejected_token_says_so_in_one_line(tmp_path: Path) -> None:
    async with FakeDiscord(TOKEN) as fake:
        wrong = "MTIz.wrong-canary-token.Zz9-rejected-by-the-fake"
        env = clean_env(DISCORD_TOKEN=wrong, DISCORD_API_URL=fake.api_url)
        code, out, err = await run_paperbot(tmp_path, "run", "--data-dir", str(tmp_path / "data"), env=env)
        login = [r for r in fake.requests if r.path == "/users/@me"]
        assert [r.status for r in login] == [401] and login[0].authorization == f"Bot {wrong}"
    assert code == EXIT_BAD_TOKEN
    assert "Traceback" not in err and wrong not in err and wrong not in out
    lines = [line for line in err.strip().splitlines() if line.startswith("paperbot:")]
    assert lines == ["paperbot: Discord rejected DISCORD_TOKEN: check the token in the developer portal"]
    assert err.strip().splitlines()[-1] == lines[0]


async def test_run_serves_and_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    async with FakeDiscord(TOKEN) as fake:
        env = clean_env(DISCORD_TOKEN=TOKEN, DISCORD_API_URL=fake.api_url, PAPERBOT_DATA_DIR=str(tmp_path / "data"))
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot.cli", "run", cwd=tmp_path, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
        )
        try:
            await asyncio.wait_for(fake.ready_sent.wait(), 60)
            identify = next(f for f in fake.gateway_received if f["op"] == 2)
            assert identify["d"]["intents"] == discord.Intents(guilds=True, guild_messages=True).value
            # It serves: a question gets a thread and a reply (the index is empty here).
            question = await fake.user_message(f"<@{fake.bot_id}> what is VPTQ?", user_id=9201)
            (reply,) = await fake.wait_for(lambda r: r.parts == ["channels", question["id"], "messages"], timeout=60)
            assert reply.status == 200 and reply.json["content"], reply.errors
            proc.send_signal(signal.SIGTERM)
            out, err = await asyncio.wait_for(proc.communicate(), 30)
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
    text = err.decode()
    assert proc.returncode == 0, text
    assert TOKEN not in text and "Traceback" not in text, text
    assert "signal received; closing" in text
    assert "WARNING" not in text and "ERROR" not in text, text


async def test_sync_registers_the_slash_commands(tmp_path: Path) -> None:
    async with FakeDiscord(TOKEN) as fake:
        env = clean_env(DISCORD_TOKEN=TOKEN, DISCORD_API_URL=fake.api_url)
        code, _out, err = await run_paperbot(tmp_path, "sync", "--guild", str(fake.guild_id), "--data-dir", str(tmp_path / "data"), env=env)
        assert code == 0, err
        code, _out, err = await run_paperbot(tmp_path, "sync", "--data-dir", str(tmp_path / "data"), env=env)
        assert code == 0, err
    assert "synced 3 global commands" in err and TOKEN not in err
    puts = [r for r in fake.requests if r.method == "PUT"]
    assert [r.path for r in puts] == [
        f"/applications/{fake.app_id}/guilds/{fake.guild_id}/commands",
        f"/applications/{fake.app_id}/commands",
    ]
    commands = {c["name"]: c for c in puts[1].json}
    assert set(commands) == {"ask", "paper", "digest"}
    (question,) = commands["ask"]["options"]
    assert question["name"] == "question" and question["required"] and question["max_length"] == 1000
    (query,) = commands["paper"]["options"]
    assert query["autocomplete"] is True
    digest = {o["name"]: o for o in commands["digest"]["options"]}
    assert set(digest) == {"show", "subscribe", "unsubscribe", "status"}
    assert all(o["type"] == 1 for o in digest.values())
    assert digest["show"]["options"][0]["autocomplete"] is True
    (channel,) = digest["subscribe"]["options"]
    assert channel["type"] == 7 and channel["required"] and channel["channel_types"] == [0, 5]
    # Nothing else: sync logs in, registers and leaves without opening the gateway.
    assert fake.gateway_connections == []


async def test_the_token_never_reaches_the_logs(fixture_engine: Engine, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    async with bot_session(fixture_engine, tmp_path) as s:
        fake = s.fake
        pending = await fake.slash("ask", user_id=9301, question="what is VPTQ?")
        await answered(fake, pending)
        question = await fake.user_message(f"{s.mention} what is OLMoE?", user_id=9302)
        await thread_answer(fake, int(question["id"]))
        assert any(f["op"] == 2 and f["d"]["token"] == TOKEN for f in fake.gateway_received)  # it was really used
    assert caplog.records
    formatter = logging.Formatter()
    for record in caplog.records:
        rendered = formatter.format(record)
        assert TOKEN not in rendered, f"token in a {record.name} log record"
