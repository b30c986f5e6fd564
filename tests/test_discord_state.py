"""The bot under abuse and accidents, through the fake Discord (issue 13, items 9, 13-16).

* A mention flood (one user 100 times, 20 users 5 times each, 30 empty mentions)
  gets one answer per user per cooldown window and at most one ⏳ reaction per
  user per window: no public "slow down" posts; ``/ask`` stays private.
* The state file deleted or overwritten while the bot runs: ``/ask``, feedback,
  mentions and ``/digest status`` keep working; the bad file is moved aside and
  the incident logged once.  A database made with the old schema gets the new
  columns (``PRAGMA user_version`` migrations).
* ``/digest subscribe`` with another server's channel or an unknown one: one
  friendly line, no traceback.
* ``PAPERBOT_LOG_LEVEL`` sets what ``paperbot run`` logs.
* kill -9 mid-announcement and mid-answer: the restarted bot finishes the
  announcement's thread (no message twice) and answers the orphaned question.

Every test builds its own small index from a digest written here: no ``../shared``.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import signal
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from bot.state import BotState
from config import Settings
from index.engine import Engine
from index.freshness import SourceLedger
from tests.support.bot import TOKEN, VPTQ_URL, BotProcess, bot_session, clean_env
from tests.support.discord import CHANNEL_MESSAGE, EPHEMERAL, EVERYONE_PERMISSIONS, MANAGE_GUILD, FakeDiscord, Request
from tests.support.replies import answered, buttons, callback, embeds, followups, links

WEEK = "2024-10-06"
ADMIN = EVERYONE_PERMISSIONS | MANAGE_GUILD
HOURGLASS = "\N{HOURGLASS}"

#: Three real papers, then synthetic ones so the week fills several digest pages.
REAL = [
    ("VPTQ: Extreme Low-bit Vector Post-Training Quantization for Large Language Models", "2409.17066",
     "Microsoft squeezes LLM weights to about two bits with vector quantization."),
    ("OLMoE: Open Mixture-of-Experts Language Models", "2409.02060", "A fully open sparse mixture-of-experts model from Ai2."),
    ("Contextual Document Embeddings", "2410.02525", "Document embeddings that also see their neighbours."),
]
SYNTHETIC = 23


def write_digest(path: Path) -> Path:
    lines = ["## Week of Sep 30 – Oct 6, 2024", ""]
    for i, (title, arxiv, summary) in enumerate(REAL, 1):
        lines.append(f"{i}. **[{title}](https://arxiv.org/abs/{arxiv})**: {summary}")
    for i in range(SYNTHETIC):
        lines.append(
            f"{len(REAL) + i + 1}. **[Synthetic Study {i} of Sparse Routing](https://arxiv.org/abs/2410.{20000 + i})**: "
            f"Lab {i % 4} measures routing method {i} on task {i % 5}."
        )
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def build_index(data_dir: Path, home: Path) -> Engine:
    engine = Engine(Settings.from_env(environ={}, dotenv_path=None, data_dir=data_dir))
    assert engine.ingest([str(write_digest(home / "digest.md"))]).papers == len(REAL) + SYNTHETIC
    return engine


@pytest.fixture(scope="module")
def small_index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data dir with the digest above indexed (the bot's state files are per test)."""
    home = tmp_path_factory.mktemp("state-index")
    build_index(home / "data", home)
    return home / "data"


@pytest.fixture
def engine(small_index: Path) -> Engine:
    return Engine(Settings.from_env(environ={}, dotenv_path=None, data_dir=small_index))


def reactions(fake: FakeDiscord) -> list[Request]:
    return [r for r in fake.requests if r.method == "PUT" and "reactions" in r.parts]


def is_thread_answer(fake: FakeDiscord, r: Request) -> bool:
    """An answer (a message with feedback buttons) posted in a thread."""
    return r.method == "POST" and r.parts[:1] == ["channels"] and int(r.parts[1]) in fake.threads and bool(buttons(r))


def thread_answers(fake: FakeDiscord) -> list[Request]:
    return [r for r in fake.requests if is_thread_answer(fake, r)]


# -- item 9: mention floods ------------------------------------------------------------------------
async def test_a_mention_flood_gets_one_answer_per_user_and_no_public_slow_downs(
    engine: Engine, tmp_path: Path, figures: dict[str, object]
) -> None:
    async with bot_session(engine, tmp_path, env={"PAPERBOT_ASK_COOLDOWN": "60"}) as s:
        fake = s.fake
        channel = fake.channel_ids[0]
        flooder, silent = 70001, 70002
        crowd = [70100 + i for i in range(20)]
        for _ in range(100):
            await fake.user_message(f"{s.mention} what is VPTQ?", user_id=flooder)
        for _ in range(30):
            await fake.user_message(s.mention, user_id=silent)
        # An empty mention counts against the cooldown: a real question right after is held back too.
        late = await fake.user_message(f"{s.mention} what is OLMoE?", user_id=silent)
        for _ in range(5):
            for user in crowd:
                await fake.user_message(f"{s.mention} what is OLMoE?", user_id=user)

        # One answer per user who asked something (the flooder and the crowd), in its own thread.
        answers = await fake.wait_for(lambda r: is_thread_answer(fake, r), count=1 + len(crowd), timeout=90)
        # One ⏳ per user per window, on the first refused message: flooder, silent, each of the crowd.
        await fake.wait_for(lambda r: r.method == "PUT" and "reactions" in r.parts, count=2 + len(crowd), timeout=30)
        # Past the cooldown, /ask from the flooder is refused privately, as before.
        pending = await fake.slash("ask", user_id=flooder, question="what is OLMoE?")
        refused = await callback(fake, pending)
        assert refused.json["type"] == CHANNEL_MESSAGE and refused.json["data"]["flags"] & EPHEMERAL
        assert refused.json["data"]["content"].startswith("Slow down a little")
        # And /ask from someone new still answers.
        fresh = await fake.slash("ask", user_id=70999, question="what is VPTQ?")
        assert links(embeds((await answered(fake, fresh))[-1])[0])[0] == VPTQ_URL

        public = fake.sent_to(channel)
        threads = [r for r in fake.requests if r.path.endswith("/threads")]
        figures.update(
            requests=len(fake.requests), channel_posts=len(public), threads=len(threads),
            answers=len(thread_answers(fake)), reactions=len(reactions(fake)),
        )
        # The only public post is the usage hint for the first empty mention.
        assert len(public) == 1 and "what is VPTQ" in public[0].json["content"], [r.json for r in public]
        assert len(threads) == 1 + len(crowd) and len(thread_answers(fake)) == len(answers) == 1 + len(crowd)
        assert not any("Slow down" in ((r.json or {}).get("content") or "") for r in fake.requests if r.is_message_post() and not r.is_callback())
        assert len(reactions(fake)) == 2 + len(crowd)
        assert all(r.parts[-2] == HOURGLASS for r in reactions(fake))
        assert not any(r.path.endswith(f"/{late['id']}/threads") for r in fake.requests)


# -- item 13: the state file lost while running ------------------------------------------------------
async def _everything_works(s: Any, user: int) -> None:
    """/ask with feedback, a mention in a thread, /digest subscribe and status."""
    fake = s.fake
    pending = await fake.slash("ask", user_id=user, question="what is VPTQ?")
    last = (await answered(fake, pending))[-1]
    assert links(embeds(last)[0])[0] == VPTQ_URL
    up = next(b["custom_id"] for b in buttons(last) if b["custom_id"].endswith(":up"))
    click = await fake.click(last.message_id, up, user_id=user)
    assert (await callback(fake, click)).json["data"]["content"] == "Thanks for the feedback!"

    question = await fake.user_message(f"{s.mention} what is OLMoE?", user_id=user + 1)
    thread = int(question["id"])
    await fake.wait_for(lambda r: r.parts == ["channels", str(thread), "messages"] and bool(buttons(r)), timeout=30)

    channel = fake.channel_ids[1]
    pending = await fake.slash("digest", subcommand="subscribe", user_id=user + 2, permissions=ADMIN, channels={"channel": channel})
    assert (await callback(fake, pending)).json["data"]["content"].startswith(f"Subscribed <#{channel}>")
    pending = await fake.slash("digest", subcommand="status", user_id=user + 3)
    (status,) = await followups(fake, pending)
    assert status.status == 200 and f"<#{channel}>" in status.json["content"], status.json


async def test_the_state_file_deleted_or_overwritten_while_running_is_recovered_in_place(
    engine: Engine, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    state_file = tmp_path / "bot.sqlite3"
    async with bot_session(engine, tmp_path) as s:
        await _everything_works(s, 71000)
        errors_before = [r for r in caplog.records if r.levelno >= logging.ERROR]
        assert errors_before == []

        # Deleted (with its journal files) while the bot runs.
        for suffix in ("", "-wal", "-shm"):
            Path(f"{state_file}{suffix}").unlink(missing_ok=True)
        await _everything_works(s, 71100)
        deleted = [r for r in caplog.records if r.levelno >= logging.ERROR]
        assert len(deleted) == 1, [r.getMessage() for r in deleted]
        assert deleted[0].name == "bot.state" and "deleted" in deleted[0].getMessage()

        # Overwritten with junk while the bot runs (its write-ahead log gone too: left
        # beside the junk, SQLite would checkpoint the old pages into it, and the
        # backup would no longer be the junk byte for byte).
        junk = os.urandom(2048) + b"definitely not sqlite" * 50
        scratch = tmp_path / "junk.tmp"
        scratch.write_bytes(junk)
        for suffix in ("-wal", "-shm"):
            Path(f"{state_file}{suffix}").unlink(missing_ok=True)
        os.replace(scratch, state_file)
        await _everything_works(s, 71200)
        errors = [r for r in caplog.records if r.levelno >= logging.ERROR][1:]
        assert len(errors) == 1, [r.getMessage() for r in errors]
        (backup,) = tmp_path.glob("bot.sqlite3.corrupt-*")
        assert backup.read_bytes() == junk and backup.name in errors[0].getMessage()
        assert s.bot.state.backup == backup

        # The source ledger behind /digest status recovers the same way.
        ledger = tmp_path.parent / "ledger-junk.tmp"
        ledger.write_bytes(junk)
        ledger_file = Path(engine.settings.data_dir) / "sources.sqlite3"
        await asyncio.to_thread(engine.source_records)  # opened before the damage
        os.replace(ledger, ledger_file)
        pending = await s.fake.slash("digest", subcommand="status", user_id=71300)
        (status,) = await followups(s.fake, pending)
        assert "went wrong" not in status.json["content"]
    assert [r.name for r in caplog.records if r.levelno >= logging.ERROR][-1] == "index.freshness"


def test_a_database_made_with_the_old_schema_gets_the_new_columns(tmp_path: Path) -> None:
    path = tmp_path / "bot.sqlite3"
    with sqlite3.connect(path) as db:  # bot/state.py's SCHEMA before user_version
        db.executescript(
            """
            CREATE TABLE answers (answer_id INTEGER PRIMARY KEY AUTOINCREMENT, created REAL NOT NULL, guild_id INTEGER,
                channel_id INTEGER, user_id INTEGER, question TEXT NOT NULL, answer TEXT NOT NULL, citations TEXT NOT NULL,
                abstained INTEGER NOT NULL, backend TEXT NOT NULL);
            CREATE TABLE feedback (answer_id INTEGER NOT NULL REFERENCES answers(answer_id), user_id INTEGER NOT NULL,
                vote INTEGER NOT NULL CHECK (vote IN (-1, 1)), created REAL NOT NULL, PRIMARY KEY (answer_id, user_id));
            CREATE TABLE subscriptions (channel_id INTEGER PRIMARY KEY, guild_id INTEGER NOT NULL, subscribed_by INTEGER,
                created REAL NOT NULL, problem TEXT, problem_at REAL);
            CREATE TABLE announcements (channel_id INTEGER NOT NULL, week TEXT NOT NULL,
                state TEXT NOT NULL CHECK (state IN ('claimed', 'sent')), claimed REAL NOT NULL, sent REAL,
                message_id INTEGER, thread_id INTEGER, PRIMARY KEY (channel_id, week));
            CREATE TABLE schedule (name TEXT PRIMARY KEY, value TEXT NOT NULL);
            INSERT INTO subscriptions VALUES (10, 1, 2, 0, NULL, NULL);
            INSERT INTO announcements VALUES (10, '2024-09-29', 'sent', 0, 1, 555, 556);
            """
        )
    state = BotState(path)
    with sqlite3.connect(path) as db:
        columns = {row[1] for row in db.execute("PRAGMA table_info(announcements)")}
        version = db.execute("PRAGMA user_version").fetchone()[0]
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"complete", "parts_done", "part_claimed", "last_part_id"} <= columns
    assert "pending_questions" in tables and version == 2
    # What was there is kept; the old announcement counts as finished, so nothing is re-posted.
    assert [(x.channel_id, x.last_week) for x in state.subscriptions()] == [(10, "2024-09-29")]
    assert state.unfinished_announcements() == []
    # Opening again changes nothing; a second process sees the same.
    assert BotState(path).subscriptions() == state.subscriptions()

    ledger = SourceLedger(tmp_path / "sources.sqlite3")
    assert ledger.records() == []


# -- item 14: a channel the bot cannot see -------------------------------------------------------------
async def test_subscribing_a_channel_of_another_server_or_an_unknown_one_says_so(
    engine: Engine, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    async with bot_session(engine, tmp_path) as s:
        fake = s.fake
        foreign = fake.snowflake()
        fake.other_guild_channels.add(foreign)
        unknown = fake.snowflake()
        for command in ("subscribe", "unsubscribe"):
            for channel in (foreign, unknown):
                pending = await fake.slash("digest", subcommand=command, user_id=72001, permissions=ADMIN, channels={"channel": channel})
                reply = await callback(fake, pending)
                assert reply.json["type"] == CHANNEL_MESSAGE and reply.json["data"]["flags"] & EPHEMERAL
                assert reply.json["data"]["content"].startswith("I can't see that channel"), reply.json
        assert await asyncio.to_thread(s.bot.state.subscriptions) == []
    noisy = [f"{r.name}: {r.getMessage()[:120]}" for r in caplog.records if r.levelno >= logging.WARNING]
    assert noisy == []


# -- item 15: PAPERBOT_LOG_LEVEL ----------------------------------------------------------------------
@pytest.mark.parametrize("level", ["DEBUG", "WARNING"])
async def test_the_log_level_setting_applies_to_paperbot_run(level: str, tmp_path: Path) -> None:
    async with FakeDiscord(TOKEN) as fake:
        env = clean_env(
            DISCORD_TOKEN=TOKEN, DISCORD_API_URL=fake.api_url, PAPERBOT_DATA_DIR=str(tmp_path / "data"), PAPERBOT_LOG_LEVEL=level
        )
        bot = BotProcess(tmp_path, env)
        await bot.start()
        try:
            await asyncio.wait_for(fake.ready_sent.wait(), 60)
            question = await fake.user_message(f"<@{fake.bot_id}> what is VPTQ?", user_id=73001)
            await fake.wait_for(lambda r: r.parts == ["channels", question["id"], "messages"], timeout=60)
        finally:
            if bot.proc is not None and bot.proc.returncode is None:
                bot.proc.send_signal(signal.SIGTERM)
            code = await bot.wait()
    assert code == 0, "\n".join(bot.lines[-20:])
    levels = {m.group(1) for line in bot.lines if (m := re.match(r"\S+ \S+ (DEBUG|INFO|WARNING|ERROR)", line))}
    assert TOKEN not in "\n".join(bot.lines)
    if level == "DEBUG":
        assert {"DEBUG", "INFO"} <= levels, bot.lines[:20]
    else:
        assert levels <= {"WARNING", "ERROR"}, bot.lines[:20]


# -- item 16: kill -9 loose ends ------------------------------------------------------------------------
def page_titles(req: Request) -> list[str]:
    return [e.get("title") or "" for e in embeds(req)]


async def test_kill_9_mid_announcement_then_restarts_finish_it_without_repeating_anything(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    engine = await asyncio.to_thread(build_index, data_dir, tmp_path)
    async with FakeDiscord(TOKEN) as fake:
        first, second = fake.channel_ids[0], fake.channel_ids[1]
        state = BotState(data_dir / "bot.sqlite3")
        state.subscribe(fake.guild_id, first, 1)
        state.subscribe(fake.guild_id, second, 1)
        env = clean_env(DISCORD_TOKEN=TOKEN, DISCORD_API_URL=fake.api_url, PAPERBOT_DATA_DIR=str(data_dir))

        async def run_until_killed(kill_at: Any) -> None:
            bot = BotProcess(tmp_path, env)

            async def hook(rec: Request) -> None:
                if rec.status == 200 and kill_at(rec):
                    bot.kill()

            fake.after.append(hook)
            await bot.start()
            try:
                assert await bot.wait() == -signal.SIGKILL, "\n".join(bot.lines[-20:])
            finally:
                fake.after.clear()
                bot.kill()

        # 1: Discord has the channel post; the bot dies before it hears so.
        await run_until_killed(lambda r: r.method == "POST" and r.parts == ["channels", str(first), "messages"])
        (post,) = fake.sent_to(first)
        thread = post.message_id
        assert thread is not None and not any(r.path.endswith("/threads") for r in fake.requests)
        # 2: the restart finds the post, opens its thread; the first page in it is accepted, then kill.
        await run_until_killed(lambda r: r.method == "POST" and r.parts == ["channels", str(thread), "messages"])
        assert len(fake.sent_to(thread)) == 1
        # 3: the restart posts the rest of that thread, then the second channel's whole announcement.
        bot = BotProcess(tmp_path, env)
        await bot.start()
        try:
            week, papers = await asyncio.to_thread(engine.week_papers, WEEK)
            pages = -(-len(papers) // 8) - 1
            assert pages >= 2
            await fake.wait_for(lambda r: r.parts[:2] == ["channels", str(thread)] and r.method == "POST", count=pages, timeout=60)
            (second_post,) = await fake.wait_for(lambda r: r.parts == ["channels", str(second), "messages"], timeout=60)
            await fake.wait_for(lambda r: r.parts == ["channels", str(second_post.message_id), "messages"], count=pages, timeout=60)
            pending = await fake.slash("digest", subcommand="status", user_id=74001)
            (status,) = await followups(fake, pending)
        finally:
            if bot.proc is not None and bot.proc.returncode is None:
                bot.proc.send_signal(signal.SIGTERM)
            assert await bot.wait() == 0, "\n".join(bot.lines[-20:])

    # Each channel: one post, one thread, every page once and in order, the same pages in both.
    assert len(fake.sent_to(first)) == 1 and len(fake.sent_to(second)) == 1
    first_pages = [t for r in fake.sent_to(thread) for t in page_titles(r)]
    second_pages = [t for r in fake.sent_to(second_post.message_id) for t in page_titles(r)]
    assert len(fake.sent_to(thread)) == pages and first_pages == second_pages
    shown = [f["name"] for r in [post, *fake.sent_to(thread)] for e in embeds(r) for f in e.get("fields", [])]
    assert len(shown) == len(papers) and len(set(shown)) == len(papers)
    created = [r for r in fake.requests if r.path.endswith("/threads") and r.status == 201]
    assert sorted(r.parts[3] for r in created) == sorted([str(thread), str(second_post.message_id)])
    text = status.json["content"]
    for channel in (first, second):
        assert f"<#{channel}>: last posted week of {WEEK} (" in text, text
    assert "interrupted" not in text
    assert BotState(data_dir / "bot.sqlite3").unfinished_announcements() == []


async def test_kill_9_mid_answer_then_the_restart_answers_the_question(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    await asyncio.to_thread(build_index, data_dir, tmp_path)
    async with FakeDiscord(TOKEN) as fake:
        # Nobody is subscribed, so the start-up announcement run posts nothing.
        env = clean_env(DISCORD_TOKEN=TOKEN, DISCORD_API_URL=fake.api_url, PAPERBOT_DATA_DIR=str(data_dir))
        bot = BotProcess(tmp_path, env)

        async def kill_at_thread(rec: Request) -> None:
            if rec.path.endswith("/threads") and rec.status == 201:
                bot.kill()  # the thread is open, the answer never comes

        fake.after.append(kill_at_thread)
        await bot.start()
        await asyncio.wait_for(fake.ready_sent.wait(), 60)
        question = await fake.user_message(f"<@{fake.bot_id}> what is VPTQ?", user_id=75001)
        assert await bot.wait() == -signal.SIGKILL
        fake.after.clear()
        thread = int(question["id"])
        assert fake.sent_to(thread) == []

        fake.ready_sent.clear()
        restarted = BotProcess(tmp_path, env)
        await restarted.start()
        try:
            (reply,) = await fake.wait_for(lambda r: r.parts == ["channels", str(thread), "messages"] and bool(buttons(r)), timeout=60)
            # The record is closed right after the post: wait for that, not a fixed time.
            deadline = asyncio.get_running_loop().time() + 30
            while await asyncio.to_thread(BotState(data_dir / "bot.sqlite3").pending_questions, 3600):
                assert asyncio.get_running_loop().time() < deadline, "the answered question stayed pending"
                await asyncio.sleep(0.05)
        finally:
            if restarted.proc is not None and restarted.proc.returncode is None:
                restarted.proc.send_signal(signal.SIGTERM)
            assert await restarted.wait() == 0, "\n".join(restarted.lines[-20:])
    assert links(embeds(reply)[0])[0] == VPTQ_URL
    assert len(fake.sent_to(thread)) == 1
    # One thread: the restart reused the one Discord already had.
    assert [r.status for r in fake.requests if r.path.endswith("/threads")] == [201, 400]
    assert BotState(data_dir / "bot.sqlite3").pending_questions(3600) == []
