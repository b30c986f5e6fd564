"""Many processes, one index: a running bot sees what a separate ``paperbot ingest``
process writes into the same Chroma server, within the freshness bound, and a
second bot agrees with it.

Everything is real: ``chroma run`` on 127.0.0.1 (the one of the server pass,
``PAPERBOT_TEST_CHROMA``, or one this module starts), ``paperbot ingest`` and
``paperbot paper`` as subprocesses, the real bot through the fake Discord of
tests/support/discord/ with its default catalogue check interval.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from config import Settings
from index.engine import Engine
from tests.conftest import TEST_CHROMA, _test_server, paperbot_subprocess
from tests.support.bot import TOKEN, running_bot
from tests.support.chroma import ChromaServer
from tests.support.digests import DIGEST, NEXT_WEEK, write_digest
from tests.support.discord import FakeDiscord
from tests.support.replies import answered, embeds, followups

RUNS_ON_CHROMA_SERVER = True

#: The issue's bound: a paper ingested elsewhere reaches a running bot within this.
FRESHNESS_BOUND_S = 30.0
NEW_ARXIV = "2410.01044"


@pytest.fixture(scope="module")
def chroma_address(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """The server pass's Chroma server, or a ``chroma run`` of this module's own."""
    if TEST_CHROMA:
        yield _test_server()
        return
    server = ChromaServer(tmp_path_factory.mktemp("chroma-many"))
    server.start()
    try:
        yield "127.0.0.1", str(server.port)
    finally:
        server.stop()


@pytest.fixture
def server_env(chroma_address: tuple[str, str]) -> dict[str, str]:
    """What every process of one test is given: the server and a database of its own."""
    host, port = chroma_address
    return {"CHROMA_HOST": host, "CHROMA_PORT": port, "CHROMA_DATABASE": f"many-{uuid.uuid4().hex[:12]}"}


def ingest_process(home: Path, data_dir: Path, env: dict[str, str], *digests: str) -> dict:
    """``paperbot ingest --json`` in a process of its own, as a scheduled job runs it."""
    result = paperbot_subprocess(home, "ingest", *digests, "--json", "--data-dir", str(data_dir), env=env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def has_new_paper(engine: Engine) -> bool:
    """Does the engine's current catalogue hold the new paper?  (Looks, never triggers a check.)"""
    return any(p.arxiv_id == NEW_ARXIV for p in engine.catalogue().papers)


async def within(deadline_s: float, what: str, engine: Engine) -> float:
    """Seconds until ``engine`` holds the new paper; fails past ``deadline_s``."""
    started = time.monotonic()
    while not has_new_paper(engine):
        if time.monotonic() - started > deadline_s:
            pytest.fail(f"{what} did not see the paper ingested by another process within {deadline_s:.0f} s")
        await asyncio.sleep(0.1)  # polling for the swap, not waiting out a delay
    return time.monotonic() - started


async def test_a_running_bot_sees_another_process_ingest_and_a_second_bot_agrees(
    tmp_path: Path, server_env: dict[str, str]
) -> None:
    first, second = write_digest(tmp_path / "first.md", DIGEST), write_digest(tmp_path / "second.md", NEXT_WEEK)
    assert ingest_process(tmp_path, tmp_path / "ingest-job", server_env, first)["new"] == 3

    def engine(name: str) -> Engine:  # each bot its own data dir, as on its own machine
        return Engine(Settings.from_env(environ=server_env, dotenv_path=None, data_dir=tmp_path / name))

    bot_engine, other_engine = engine("bot"), engine("other-bot")
    async with FakeDiscord(TOKEN) as fake:
        async with running_bot(fake, bot_engine, tmp_path / "bot", env=server_env) as session:
            await asyncio.wait_for(session.bot.index_ready.wait(), 60)
            assert not has_new_paper(bot_engine)
            # The second bot: loaded before the ingest, keeping itself fresh the same way.
            await asyncio.to_thread(other_engine.catalogue)
            watcher = other_engine.watch_catalogue()
            try:
                report = await asyncio.to_thread(ingest_process, tmp_path, tmp_path / "ingest-job", server_env, second)
                assert (report["new"], report["papers"]) == (1, 4)
                # Both catch up by themselves (no request asked for the paper yet).
                await within(FRESHNESS_BOUND_S, "the running bot", bot_engine)
                await within(FRESHNESS_BOUND_S, "the second bot", other_engine)
            finally:
                await asyncio.to_thread(watcher.stop)

            pending = await fake.slash("paper", user_id=5001, query="RATIONALYST")
            (card,) = await followups(fake, pending)
            assert card.status == 200, card.errors
            (embed,) = embeds(card)
            assert embed["title"].startswith("RATIONALYST") and embed["url"] == f"https://arxiv.org/abs/{NEW_ARXIV}"

            pending = await fake.slash("ask", user_id=5002, question="What is RATIONALYST?")
            parts = await answered(fake, pending)
            sources = [e for r in parts for e in embeds(r) if e.get("title") == "Sources"]
            assert sources and f"https://arxiv.org/abs/{NEW_ARXIV}" in sources[0]["description"], [r.json for r in parts]

    # The two bots agree, and so does a fresh process.
    ours = await asyncio.to_thread(bot_engine.find_papers, "RATIONALYST", 3)
    theirs = await asyncio.to_thread(other_engine.find_papers, "RATIONALYST", 3)
    assert [m.paper.paper_id for m in ours] == [m.paper.paper_id for m in theirs]
    assert bot_engine.stats().to_json() == other_engine.stats().to_json()
    fresh = paperbot_subprocess(tmp_path, "paper", "RATIONALYST", "--json", "--data-dir", str(tmp_path / "cli"), env=server_env)
    assert fresh.returncode == 0, fresh.stderr
    assert json.loads(fresh.stdout)["matches"][0]["paper_id"] == ours[0].paper.paper_id


async def test_a_lookup_for_a_paper_ingested_elsewhere_finds_it_before_the_next_check(
    tmp_path: Path, server_env: dict[str, str]
) -> None:
    first, second = write_digest(tmp_path / "first.md", DIGEST), write_digest(tmp_path / "second.md", NEXT_WEEK)
    ingest_process(tmp_path, tmp_path / "job", server_env, first)
    env = {**server_env, "PAPERBOT_CATALOGUE_CHECK_SECONDS": "3600"}  # the watcher will not help here
    bot_engine = Engine(Settings.from_env(environ=env, dotenv_path=None, data_dir=tmp_path / "bot"))
    async with FakeDiscord(TOKEN) as fake:
        async with running_bot(fake, bot_engine, tmp_path / "bot", env=env) as session:
            await asyncio.wait_for(session.bot.index_ready.wait(), 60)
            await asyncio.to_thread(ingest_process, tmp_path, tmp_path / "job", server_env, second)
            assert not has_new_paper(bot_engine)
            pending = await fake.slash("paper", user_id=5101, query=NEW_ARXIV)
            (card,) = await followups(fake, pending)
            (embed,) = embeds(card)  # the miss checked the version and waited for the new catalogue
            assert embed["title"].startswith("RATIONALYST")


@pytest.mark.skipif(bool(TEST_CHROMA), reason="the embedded store; the embedded pass runs it")
def test_embedded_two_processes_on_one_data_dir(tmp_path: Path) -> None:
    """The same without a server: ``paperbot ingest`` in another process writes into
    the data dir a running engine reads.  The catalogue, BM25 and lookup follow its
    version; Chroma's embedded HNSW index is loaded once per process, so the new
    paper's *vectors* reach this process only when it reopens the store (a restart):
    several processes on one index is what the Chroma server is for."""
    first, second = write_digest(tmp_path / "first.md", DIGEST), write_digest(tmp_path / "second.md", NEXT_WEEK)
    data = tmp_path / "data"
    ingest_process(tmp_path, data, {}, first)
    bot_engine = Engine(Settings.from_env(environ={}, dotenv_path=None, data_dir=data))
    bot_engine.warm_up()
    before = bot_engine.catalogue_version()
    assert ingest_process(tmp_path, data, {}, second)["new"] == 1
    assert bot_engine.catalogue_version().stamp != before.stamp
    assert bot_engine.sync_catalogue() and has_new_paper(bot_engine)
    assert bot_engine.find_papers("RATIONALYST")[0].paper.arxiv_id == NEW_ARXIV
    assert bot_engine.search("RATIONALYST", k=1, mode="bm25")[0].paper.arxiv_id == NEW_ARXIV
