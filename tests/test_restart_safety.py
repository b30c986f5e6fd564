"""kill -9 at the worst moment, then restart: nothing duplicated, nothing lost.

* The bot (``paperbot run``, a real subprocess against the fake Discord served
  from this process) is killed with SIGKILL exactly when Discord has accepted the
  weekly announcement in the first subscribed channel but before the bot heard
  back.  After a restart that channel is not posted again (the restarted bot
  finds the post in the channel's history, records it and opens its thread),
  the second channel, never reached, gets its post once, and subscriptions,
  feedback, announced weeks and the paper count are what they were.
* ``paperbot ingest`` is killed with SIGKILL after its first batch reached Chroma
  and before the last; running it again gives every paper exactly once (same
  paper count, one chunk set per paper), and a third run changes nothing.

A kill while the rest of a week's digest is being posted into the announcement
thread, and one while a mention is being answered, are in ``test_discord_state.py``.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sqlite3
import sys
from pathlib import Path

from bot.state import BotState
from config import Settings
from index.engine import Engine, open_store
from tests.support.bot import TOKEN, BotProcess, clean_env, run_paperbot
from tests.support.digests import DIGEST
from tests.support.discord import FakeDiscord, Request

WEEK = "2024-10-06"


def index_digest(data_dir: Path, tmp_path: Path) -> Engine:
    digest = tmp_path / "digest.md"
    digest.write_text(DIGEST, encoding="utf-8")
    engine = Engine(Settings.from_env(environ={}, dotenv_path=None, data_dir=data_dir))
    assert engine.ingest([str(digest)]).papers == 3
    return engine


async def test_kill_9_mid_announcement_then_restart_duplicates_and_loses_nothing(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    engine = await asyncio.to_thread(index_digest, data_dir, tmp_path)
    async with FakeDiscord(TOKEN) as fake:
        first, second = fake.channel_ids[0], fake.channel_ids[1]
        state = BotState(data_dir / "bot.sqlite3")
        state.subscribe(fake.guild_id, first, 1)
        state.subscribe(fake.guild_id, second, 1)
        answer_id = state.record_answer(
            question="what is VPTQ?", answer="A quantizer [1].", citations=[], abstained=False, backend="extractive",
            guild_id=fake.guild_id, channel_id=first, user_id=5,
        )
        state.record_vote(answer_id, 5, 1)
        state.record_vote(answer_id, 6, -1)
        subscriptions_before = [(s.channel_id, s.guild_id) for s in state.subscriptions()]
        feedback_before = state.feedback()

        env = clean_env(DISCORD_TOKEN=TOKEN, DISCORD_API_URL=fake.api_url, PAPERBOT_DATA_DIR=str(data_dir))
        bot = BotProcess(tmp_path, env)

        async def kill_when_posted(rec: Request) -> None:
            # Discord has the message; the bot dies before it hears so.
            if rec.method == "POST" and rec.parts == ["channels", str(first), "messages"] and rec.status == 200:
                bot.kill()

        fake.after.append(kill_when_posted)
        await bot.start()
        try:
            code = await bot.wait()
            assert code == -signal.SIGKILL, f"exit {code} before the post:\n" + "\n".join(bot.lines[-20:])
            fake.after.clear()
            assert [r.status for r in fake.sent_to(first)] == [200] and fake.sent_to(second) == []

            restarted = BotProcess(tmp_path, env)
            await restarted.start()
            try:
                warning = await restarted.wait_for_line("was posted but not recorded")
                assert str(first) in warning and WEEK in warning
                await restarted.wait_for_line(f"announced the digest of week {WEEK} in channel {second}")
                await fake.wait_for(lambda r: r.parts == ["channels", str(second), "messages"] and r.status == 200)
                await asyncio.to_thread(_wait_for_slot, data_dir)
            finally:
                if restarted.proc is not None and restarted.proc.returncode is None:
                    restarted.proc.send_signal(signal.SIGTERM)
                assert await restarted.wait() == 0, "\n".join(restarted.lines[-20:])
        finally:
            bot.kill()
            if bot.proc is not None and bot.proc.returncode is None:
                await bot.wait()

    # Each channel has the week exactly once.
    assert len(fake.sent_to(first)) == 1 and len(fake.sent_to(second)) == 1
    assert "week of 2024-10-06" in fake.sent_to(second)[0].json["content"]
    state = BotState(data_dir / "bot.sqlite3")
    assert [(s.channel_id, s.guild_id) for s in state.subscriptions()] == subscriptions_before
    assert state.feedback() == feedback_before
    assert state.claim_announcement(first, WEEK).outcome == "sent"  # found in the channel, recorded, never re-posted
    assert state.claim_announcement(second, WEEK).outcome == "sent"
    problems = {s.channel_id: s.problem for s in state.subscriptions()}
    assert problems[first] is None and problems[second] is None
    assert {s.channel_id: s.last_week for s in state.subscriptions()} == {first: WEEK, second: WEEK}
    # The first channel's questions thread was opened by the restarted bot, from the post it found.
    threads = [r for r in fake.requests if r.path.endswith("/threads")]
    assert sorted(r.parts[1] for r in threads) == sorted([str(first), str(second)]) and all(r.status == 201 for r in threads)
    assert open_store(engine.settings).count_papers() == 3


def _wait_for_slot(data_dir: Path) -> None:
    """Until the restarted bot has recorded the slot as handled (its last write of the run)."""
    import time

    deadline = time.monotonic() + 30
    while BotState(data_dir / "bot.sqlite3").last_slot() is None:
        if time.monotonic() > deadline:
            raise AssertionError("the restarted bot never finished the announcement run")
        time.sleep(0.05)  # polling another process's database: there is no event to await


def queued_vectors(data_dir: Path) -> int:
    path = data_dir / "chroma" / "chroma.sqlite3"
    if not path.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=1) as db:
            return int(db.execute("SELECT COUNT(*) FROM embeddings_queue").fetchone()[0])
    except sqlite3.Error:
        return 0  # not created yet


async def test_kill_9_mid_ingest_then_a_rerun_has_every_paper_once(tmp_path: Path, figures: dict[str, object]) -> None:
    papers = 150
    lines = ["## Week of Sep 30 – Oct 6, 2024", ""]
    for i in range(papers):
        lines.append(
            f"{i + 1}. **[Synthetic Paper {i} on Topic {i % 7}](https://arxiv.org/abs/2410.{10000 + i})**: Oct 2, "
            f"Lab {i % 5} published a paper on method {i} for task {i % 11}, with results on benchmark {i % 13}."
        )
    digest = tmp_path / "synthetic-2024.md"
    digest.write_text("\n".join(lines) + "\n", encoding="utf-8")
    data_dir = tmp_path / "data"
    env = clean_env()
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot.cli", "ingest", str(digest), "--json", "--data-dir", str(data_dir),
        cwd=tmp_path, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    killed_at = 0
    try:
        while proc.returncode is None:
            killed_at = await asyncio.to_thread(queued_vectors, data_dir)
            if 0 < killed_at < papers:
                proc.send_signal(signal.SIGKILL)  # the first batch is in Chroma, the rest is not
                break
            try:
                await asyncio.wait_for(asyncio.shield(proc.wait()), 0.02)  # poll another process's database
            except asyncio.TimeoutError:
                pass
        await proc.communicate()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode == -signal.SIGKILL, f"the ingest finished before it could be killed ({killed_at} vectors)"

    code, out, err = await run_paperbot(tmp_path, "ingest", str(digest), "--json", "--data-dir", str(data_dir), env=env)
    assert code == 0, err
    assert json.loads(out)["papers"] == papers
    code, out, err = await run_paperbot(tmp_path, "ingest", str(digest), "--json", "--data-dir", str(data_dir), env=env)
    report = json.loads(out)
    assert (report["papers"], report["new"], report["updated"], report["unchanged"]) == (papers, 0, 0, papers)
    engine = Engine(Settings.from_env(environ={}, dotenv_path=None, data_dir=data_dir))
    assert open_store(engine.settings).count_papers() == papers
    assert open_store(engine.settings).count_chunks() == papers  # each short entry is one chunk: none written twice
    assert 0 < killed_at < papers
    figures.update(vectors_in_chroma_at_kill=killed_at, papers=papers)
