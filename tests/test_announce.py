"""Weekly digest announcements and index freshness, through the fake Discord.

The real bot runs against the fake Discord (``tests/support/discord``) as in ``test_discord_bot.py``,
with its clock injected: tests call ``AnnounceCog.run_due(now)`` with the times
they choose (the scheduler's only input) instead of waiting for a Monday, and
``AnnounceCog.refresh_sources()`` as the poll loop would.  Digest sources are
served from 127.0.0.1 by ``tests/support/digest_host.py`` (ETag / Last-Modified / 304).

What is proven here:

* ``/digest subscribe`` needs Manage Server (others get an ephemeral refusal,
  nothing is stored) and warns about permissions the bot lacks in the channel;
* a new digest week at a polled source is ingested (an unchanged one is a 304)
  and announced once at the slot: the post, its thread, inert text; a second run
  in the same minute, a restarted bot, and the next week's slot do not repeat it;
  after downtime only the newest missed week is posted;
* a channel that answers 403, a deleted channel (404) and an announcement that
  was claimed but never confirmed (a crash mid-post) are skipped, logged and
  shown in ``/digest status``, while the other channel is served;
* a question in the announcement thread is answered from that week's papers,
  and falls back to every digest, saying so, when the week has nothing on it;
* ``paperbot announce --dry-run`` prints the same messages the bot posts.
"""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from bot.discord_render import announcement
from bot.schedule import WeeklySlot
from bot.state import BotState
from config import Settings
from index.engine import Engine
from tests.conftest import FIXTURE_PAPERS
from tests.support.announce import MONDAY, SUNDAY, Clock, announcer
from tests.support.bot import TOKEN, bot_session, clean_env, run_paperbot, running_bot
from tests.support.digest_host import PAPERS, W1, W2, W3, W4, DigestHost, digest
from tests.support.discord import (
    CHANNEL_MESSAGE,
    EPHEMERAL,
    EVERYONE_PERMISSIONS,
    FORBIDDEN,
    MANAGE_GUILD,
    FakeDiscord,
    Request,
    error_response,
)
from tests.support.replies import assert_inert, callback, embeds, followups, links, thread_answer

#: A proxy from the environment must not intercept the digest host on 127.0.0.1.
pytestmark = pytest.mark.usefixtures("no_proxy")

ADMIN = EVERYONE_PERMISSIONS | MANAGE_GUILD
WEEK = timedelta(days=7)


async def subscribe(fake: FakeDiscord, channel_id: int, *, permissions: int = ADMIN, user_id: int = 4242) -> dict[str, Any]:
    """Run ``/digest subscribe channel:`` and return the (immediate) reply's data."""
    pending = await fake.slash("digest", subcommand="subscribe", user_id=user_id, permissions=permissions, channels={"channel": channel_id})
    reply = await callback(fake, pending)
    assert reply.status == 200, reply.errors
    assert reply.json["type"] == CHANNEL_MESSAGE
    return reply.json["data"]


async def status_of(fake: FakeDiscord, user_id: int = 4243) -> Request:
    pending = await fake.slash("digest", subcommand="status", user_id=user_id)
    (reply,) = await followups(fake, pending)
    assert reply.status == 200, reply.errors
    return reply


def titles(req: Request) -> list[str]:
    return [f["name"] for e in embeds(req) for f in e.get("fields", [])]


def threads_started(fake: FakeDiscord) -> list[Request]:
    return [r for r in fake.requests if r.method == "POST" and r.path.endswith("/threads")]


# -- subscribe → new digest polled → announced once, across restarts --------------------------
async def test_a_new_digest_is_polled_and_announced_once_across_restarts(tmp_path: Path, host: DigestHost) -> None:
    host.pages["/digest.md"] = digest(W1)
    url = host.url("/digest.md")
    data_dir = tmp_path / "data"
    engine = Engine(Settings.from_env(environ={}, dotenv_path=None, data_dir=data_dir))
    env = {"PAPERBOT_SOURCES": url}
    clock = Clock(SUNDAY)
    async with FakeDiscord(TOKEN) as fake:
        channel = fake.channel_ids[0]
        async with running_bot(fake, engine, data_dir, env=env, clock=clock) as s:
            cog = await announcer(s)
            await cog.refresh_sources()  # after (or instead of) the start-up poll
            assert engine.weeks() == ["2024-09-29"]

            # Only Manage Server may subscribe; others are told so, privately.
            refused = await subscribe(fake, channel, permissions=EVERYONE_PERMISSIONS)
            assert refused["flags"] & EPHEMERAL
            assert refused["content"] == "You need the Manage Server permission to do that."
            assert await asyncio.to_thread(s.bot.state.subscriptions) == []
            done = await subscribe(fake, channel)
            assert done["flags"] & EPHEMERAL
            assert done["content"].startswith(f"Subscribed <#{channel}>") and "Mondays at 09:00 UTC" in done["content"]
            assert "missing" not in done["content"]

            # The source gains a week: the next poll downloads and ingests it; then it is a 304.
            host.pages["/digest.md"] = digest(W1, W2)
            report = await cog.refresh_sources()
            assert report is not None and report.specs("changed") == [url]
            assert report.ingest is not None and report.ingest.new == len(PAPERS[W2])
            quiet = await cog.refresh_sources()
            assert quiet is not None and quiet.specs("unchanged") == [url] and quiet.ingest is None
            assert host.statuses("/digest.md")[-1] == 304

            # Monday 09:00: the new week is posted once, with a thread for questions.
            assert fake.sent_to(channel) == []
            clock.now = MONDAY
            (delivery,) = await cog.run_due(MONDAY)
            assert (delivery.channel_id, delivery.week, delivery.outcome) == (channel, "2024-10-06", "posted")
            (post,) = fake.sent_to(channel)
            assert post.status == 200, post.errors
            assert "week of 2024-10-06" in post.json["content"] and "/ask" in post.json["content"]
            assert "@paperbot" in post.json["content"]  # how to ask: mention the bot in the thread
            week, papers = engine.week_papers("2024-10-06")
            assert titles(post) == [p.title.replace("@everyone", "@\u200beveryone") for p in papers]
            assert all(p.url and p.url in f["value"] for p, f in zip(papers, embeds(post)[0]["fields"], strict=True))
            expected = announcement(week, papers, "paperbot")
            assert post.json["content"] == expected.channel_message.content
            assert embeds(post) == [expected.channel_message.embed.to_dict()]  # what `announce --dry-run` prints
            assert_inert(post)
            (thread,) = threads_started(fake)
            assert thread.status == 201
            assert thread.parts == ["channels", str(channel), "messages", str(post.message_id), "threads"]
            assert thread.json["name"] == "Questions about this week (2024-10-06)"

            # Two runs in the same minute: the second does nothing.
            assert await cog.run_due(MONDAY + timedelta(seconds=30)) == []
            assert len(fake.sent_to(channel)) == 1

        # A new bot object on the same data dir (a restart): nothing is posted again.
        async with running_bot(fake, engine, data_dir, env=env, clock=clock) as s:
            cog = await announcer(s)
            assert await cog.run_due(MONDAY + timedelta(seconds=40)) == []
            clock.now = MONDAY + WEEK  # the next slot, and no newer week
            assert [d.outcome for d in await cog.run_due(clock.now)] == ["up_to_date"]
            assert len(fake.sent_to(channel)) == 1

            # Down for three slots while two weeks were published: only the newest is posted
            # (the run polls the sources first, so a digest published just before counts).
            host.pages["/digest.md"] = digest(W1, W2, W3, W4)
            clock.now = MONDAY + 4 * WEEK
            (delivery,) = await cog.run_due(clock.now)
            assert (delivery.week, delivery.outcome) == ("2024-10-20", "posted")
            posts = fake.sent_to(channel)
            assert len(posts) == 2 and "week of 2024-10-20" in posts[1].json["content"]
            assert not any("2024-10-13" in (r.json or {}).get("content", "") for r in fake.requests if r.is_message_post())
            assert engine.weeks()[-2:] == ["2024-10-13", "2024-10-20"]
    for r in fake.requests:
        if r.is_message_post():
            assert_inert(r)


# -- channels that refuse, are gone, or were interrupted ------------------------------------------
async def test_a_refusing_or_deleted_channel_is_skipped_and_shown_in_status(
    fixture_engine: Engine, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    week, papers = fixture_engine.week_papers(None)
    assert week == "2024-10-06" and len(papers) > 16  # the rest of the week fills several messages in the thread
    clock = Clock(SUNDAY)
    async with bot_session(fixture_engine, tmp_path, clock=clock) as s:
        fake = s.fake
        cog = await announcer(s)
        ok, refusing, interrupted = fake.channel_ids
        for channel in (ok, refusing):
            assert (await subscribe(fake, channel))["content"].startswith(f"Subscribed <#{channel}>")
        warned = (await subscribe(fake, interrupted))["content"]  # the bot may not open threads there
        assert warned.startswith(f"Subscribed <#{interrupted}>") and "missing Create Public Threads" in warned
        ghost = fake.snowflake()  # subscribed once, deleted since
        await asyncio.to_thread(s.bot.state.subscribe, fake.guild_id, ghost, 4242)
        # The bot died last time between claiming this post and recording Discord's answer,
        # and it may not read that channel's history to find out whether the post went out.
        await asyncio.to_thread(s.bot.state.claim_announcement, interrupted, week)

        async def no_history(rec: Request) -> Any:
            if rec.method == "GET" and rec.parts == ["channels", str(interrupted), "messages"]:
                return error_response(rec, 403, 50001, "Missing Access")
            return None

        fake.before.append(no_history)
        fake.channel_errors[refusing] = FORBIDDEN

        clock.now = MONDAY
        outcome = {d.channel_id: d for d in await cog.run_due(MONDAY)}
        assert outcome[ok].outcome == "posted"
        assert outcome[refusing].outcome == "failed" and "403" in (outcome[refusing].detail or "")
        assert outcome[ghost].outcome == "failed" and "404" in (outcome[ghost].detail or "")
        assert outcome[interrupted].outcome == "unconfirmed"

        # The working channel got the week: the top papers in the channel, the rest in its thread.
        (post,) = fake.sent_to(ok)
        rest = fake.sent_to(post.message_id)
        assert len(rest) == -(-len(papers) // 8) - 1 and all(r.status == 200 for r in rest), [r.errors for r in rest]
        assert titles(post) + [t for r in rest for t in titles(r)] == [p.title for p in papers]
        for r in [post, *rest]:
            assert_inert(r)
        assert [r.status for r in fake.sent_to(refusing)] == [403]
        assert fake.sent_to(interrupted) == []
        warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING and r.name == "bot.cogs.announce"]
        assert any(str(refusing) in w and "403" in w for w in warnings), warnings
        assert any(str(ghost) in w and "404" in w for w in warnings), warnings
        assert any(str(interrupted) in w and "never confirmed" in w for w in warnings), warnings

        reply = await status_of(fake)
        assert reply.ephemeral is True
        text = reply.json["content"]
        assert f"<#{ok}>: last posted week of 2024-10-06 (" in text
        lines = text.splitlines()
        problem = {c: lines[lines.index(next(line for line in lines if line.startswith(f"• <#{c}>"))) + 1] for c in (refusing, ghost, interrupted)}
        assert "missing permissions" in problem[refusing]
        assert "channel not found" in problem[ghost]
        assert "interrupted" in problem[interrupted]
        assert "next run 2024-10-14 09:00 UTC" in text and f"{FIXTURE_PAPERS} papers, newest digest week 2024-10-06" in text
        assert "none configured (PAPERBOT_SOURCES)" in text
        assert_inert(reply)

        # Permission given back: the next slot serves that channel; nobody gets a repeat.
        del fake.channel_errors[refusing]
        clock.now = MONDAY + WEEK
        outcome = {d.channel_id: d.outcome for d in await cog.run_due(clock.now)}
        assert outcome == {ok: "up_to_date", refusing: "posted", ghost: "failed", interrupted: "unconfirmed"}
        assert len(fake.sent_to(ok)) == 1 and fake.sent_to(interrupted) == []
        problems = {sub.channel_id: sub.problem for sub in await asyncio.to_thread(s.bot.state.subscriptions)}
        assert problems[refusing] is None and problems[ok] is None

        # Unsubscribing takes Manage Server too.
        for permissions, expected in ((EVERYONE_PERMISSIONS, "You need the Manage Server"), (ADMIN, "Unsubscribed")):
            pending = await fake.slash("digest", subcommand="unsubscribe", user_id=4244, permissions=permissions, channels={"channel": interrupted})
            answer = (await callback(fake, pending)).json["data"]
            assert answer["flags"] & EPHEMERAL and answer["content"].startswith(expected), answer
        assert interrupted not in {sub.channel_id for sub in await asyncio.to_thread(s.bot.state.subscriptions)}


# -- questions in the announcement thread ------------------------------------------------------------
async def test_questions_in_the_announcement_thread_are_answered_from_that_week(fixture_engine: Engine, tmp_path: Path) -> None:
    week = fixture_engine.weeks()[-1]
    # Controls: over every digest, the speech question is answered from another week.
    overall = await asyncio.to_thread(fixture_engine.ask, "what's new in speech models?")
    assert {c.week for c in overall.citations} != {week}
    clock = Clock(SUNDAY)
    async with bot_session(fixture_engine, tmp_path, clock=clock) as s:
        fake = s.fake
        cog = await announcer(s)
        channel = fake.channel_ids[0]
        await asyncio.to_thread(s.bot.state.subscribe, fake.guild_id, channel, 4242)
        clock.now = MONDAY
        assert [d.outcome for d in await cog.run_due(MONDAY)] == ["posted"]
        thread_id = fake.sent_to(channel)[0].message_id

        await fake.user_message(f"{s.mention} what's new in speech models?", user_id=4301, channel_id=thread_id)
        reply = (await thread_answer(fake, thread_id))[-1]
        assert reply.status == 200, reply.errors
        cited = links(embeds(reply)[0])
        in_week = {p.url for p in fixture_engine.week_papers(week)[1]}
        assert cited and set(cited) <= in_week, cited
        assert "Nothing in the digest" not in reply.json["content"]

        # OLMoE is in an older digest: answered from every digest, and the answer says so.
        await fake.user_message(f"{s.mention} what is OLMoE?", user_id=4301, channel_id=thread_id)
        reply = (await thread_answer(fake, thread_id, after=1))[-1]
        assert "https://arxiv.org/abs/2409.02060" in links(embeds(reply)[0])
        assert f"Nothing in the digest of {week} covers this" in reply.json["content"]


# -- paperbot announce --dry-run ---------------------------------------------------------------------
async def test_announce_dry_run_prints_what_would_be_posted(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    engine = Engine(Settings.from_env(environ={}, dotenv_path=None, data_dir=data_dir))
    source = tmp_path / "digest.md"
    source.write_bytes(digest(W1, W2))
    await asyncio.to_thread(engine.ingest, [str(source)])
    state = BotState(data_dir / "bot.sqlite3")
    waiting, claimed, behind = 101, 102, 103
    for channel in (waiting, claimed, behind):
        state.subscribe(1, channel, 7)
    state.claim_announcement(claimed, "2024-10-06")
    state.claim_announcement(behind, "2024-09-29")
    state.confirm_announcement(behind, "2024-09-29", 555)

    code, out, err = await run_paperbot(tmp_path, "announce", "--dry-run", "--json", "--data-dir", str(data_dir), env=clean_env())
    assert code == 0, err
    shown = json.loads(out)
    week, papers = engine.week_papers(None)
    expected = announcement(week, papers)
    assert shown["week"] == "2024-10-06" and shown["channels"] == [waiting, behind]
    assert shown["thread_name"] == expected.thread_name
    assert shown["messages"] == [
        {"where": where, "content": m.content, "embeds": [m.embed.to_dict()] if m.embed else []} for where, m in expected.messages
    ]

    code, out, err = await run_paperbot(
        tmp_path, "announce", "--dry-run", "--week", "2024-09-29", "--data-dir", str(data_dir), env=clean_env()
    )
    assert code == 0, err
    assert "New AI paper digest: week of 2024-09-29" in out and "Questions about this week (2024-09-29)" in out
    for title, _blurb, arxiv_id in PAPERS[W1]:
        assert title in out and f"https://arxiv.org/abs/{arxiv_id}" in out
    assert "nothing is posted" in out

    code, _out, err = await run_paperbot(tmp_path, "announce", "--dry-run", "--week", "1999-01-03", "--data-dir", str(data_dir), env=clean_env())
    assert code == 1 and "no digest for the week 1999-01-03" in err and "2024-10-06" in err


# -- the pieces underneath: slot arithmetic and the claim table ------------------------------------
def test_the_weekly_slot_is_the_latest_moment_at_or_before_now() -> None:
    monday_nine = WeeklySlot.from_settings("mon", "09:00")
    assert monday_nine.latest(MONDAY) == MONDAY  # exactly at the slot: due
    assert monday_nine.latest(MONDAY - timedelta(seconds=1)) == MONDAY - WEEK
    assert monday_nine.next(MONDAY) == MONDAY + WEEK
    # Any time zone in, UTC out: 04:59 in New York on Monday is 08:59 UTC, before the slot.
    new_york = timezone(timedelta(hours=-4))
    assert monday_nine.latest(datetime(2024, 10, 7, 4, 59, tzinfo=new_york)) == MONDAY - WEEK
    sunday_late = WeeklySlot.from_settings("sun", "23:30")
    assert sunday_late.latest(MONDAY) == datetime(2024, 10, 6, 23, 30, tzinfo=timezone.utc)
    assert monday_nine.describe() == "Mondays at 09:00 UTC"


def test_a_claim_is_exclusive_and_survives_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "bot.sqlite3"
    state = BotState(path)
    assert state.subscribe(1, 10, 7) is True and state.subscribe(1, 10, 7) is False
    assert state.claim_announcement(10, "2024-10-06").outcome == "claimed"
    # A second run (or process) cannot own it too; reopened after a "crash", it is unconfirmed.
    again = BotState(path).claim_announcement(10, "2024-10-06")
    assert again.outcome == "unconfirmed" and again.since is not None
    state.confirm_announcement(10, "2024-10-06", 99)
    assert state.claim_announcement(10, "2024-10-06").outcome == "sent"
    state.release_announcement(10, "2024-10-06")  # only an unconfirmed claim can be released
    assert state.claim_announcement(10, "2024-10-06").outcome == "sent"
    # A refused post releases its claim, so the week may be tried again later.
    assert state.claim_announcement(10, "2024-10-13").outcome == "claimed"
    state.release_announcement(10, "2024-10-13")
    assert state.claim_announcement(10, "2024-10-13").outcome == "claimed"
    # Unsubscribing keeps what was sent: subscribing again never repeats a week.
    assert state.unsubscribe(10) is True and state.unsubscribe(10) is False
    state.subscribe(1, 10, 7)
    (sub,) = state.subscriptions(1)
    assert (sub.last_week, sub.problem) == ("2024-10-06", None)
    state.record_problem(10, "missing permissions")
    assert state.subscribe(1, 10, 7) is False and state.subscriptions()[0].problem is None
