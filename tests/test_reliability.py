"""Faults, load and secrets, at the level users and operators see them.

* Faults: a Chroma server that is down when the bot starts (the bot stays on
  Discord, says the index is unavailable, retries with backoff, and answers again
  once the server is back, also after a second outage); a state database that is
  garbage (moved aside with a timestamp, recreated, the paper index untouched);
  a read-only or full data dir for the state database (one clear line, exit 3).
* Load: 200 ``/ask`` from 50 users spread over 10 s through the fake Discord:
  every one acknowledged (the fake, like Discord, refuses a callback later than
  3 s) and answered or told to slow down, no task left behind.  The latency and
  event-loop lag distributions under this load depend on the machine, so they
  are measured by ``python -m bench.load``, not asserted here.
* Secrets: a canary token and a canary LLM API key never show up in log records
  (DEBUG), in anything Discord received, in ``paperbot stats``, or in the output
  of a crash whose exception text carries the token; ``.env`` is git-ignored and
  kept out of the Docker build context.

LLM endpoint failures (500, timeout, garbage) and a Chroma server killed during
an ingest are covered in ``test_answer.py`` and ``test_chroma_server.py``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import random
import re
import subprocess
from contextlib import suppress
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from bot.app import PaperBot
from config import Settings
from index.engine import Engine, open_store
from tests.conftest import FIXTURE_PAPERS, REPO_ROOT
from tests.support.bot import (
    TOKEN,
    VPTQ_URL,
    asks_on_schedule,
    bot_session,
    clean_env,
    run_paperbot,
    running_bot,
    tasks_left_by_load,
)
from tests.support.chroma import ChromaServer
from tests.support.digests import DIGEST
from tests.support.discord import AUTOCOMPLETE_RESULT, CHANNEL_MESSAGE, DEFERRED_CHANNEL_MESSAGE, EPHEMERAL, FakeDiscord, Request
from tests.support.fake_openai import FakeOpenAI
from tests.support.replies import answer_finished, answered, buttons, callback, embeds, followups, links

log = logging.getLogger(__name__)

EXIT_UNAVAILABLE = 3
EXIT_CRASH = 70
LLM_KEY = "sk-canary-llm-key-5b1f0c9e7d2a4f68"


def final_reply(fake: FakeDiscord, pending: Any) -> Request:
    return [r for r in fake.for_interaction(pending) if r.is_followup()][-1]


# -- Online means ready -------------------------------------------------------------------------
async def test_the_bot_goes_online_with_its_index_loaded(fixture_data_dir: Path, tmp_path: Path) -> None:
    """A member who sees the bot come online and asks at once gets an answer at once:
    the bot connects to the gateway only after its catalogue and model are loaded
    (seconds at 100k papers), so READY never comes before the index is warm."""
    import shutil

    data_dir = tmp_path / "data"
    shutil.copytree(fixture_data_dir, data_dir)
    shutil.rmtree(data_dir / "catalogue", ignore_errors=True)  # read and built from the store: the slow start
    engine = Engine(Settings.from_env(environ={}, dotenv_path=None, data_dir=data_dir))
    async with bot_session(engine, data_dir) as s:
        assert s.bot.index_ready.is_set()
        pending = await s.fake.slash("ask", user_id=21101, question="what is VPTQ?")
        assert links(embeds((await answered(s.fake, pending))[-1])[0])[0] == VPTQ_URL


# -- Chroma down at start, and back ---------------------------------------------------------------
async def test_chroma_down_at_start_then_back_without_restarting_the_bot(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    caplog.set_level(logging.INFO)
    monkeypatch.setattr(PaperBot, "index_retry_delays", (0.2, 0.4, 0.8))
    server = ChromaServer(tmp_path / "server")
    (tmp_path / "server").mkdir()
    env = {"CHROMA_HOST": "127.0.0.1", "CHROMA_PORT": str(server.port)}
    digest = tmp_path / "digest.md"
    digest.write_text(DIGEST, encoding="utf-8")
    try:
        # The index exists on the server; then the server goes down.
        await asyncio.to_thread(server.start)
        writer = Engine(Settings.from_env(environ=env, dotenv_path=None, data_dir=tmp_path / "writer"))
        assert (await asyncio.to_thread(writer.ingest, [str(digest)])).papers == 3
        server.kill()

        engine = Engine(Settings.from_env(environ=env, dotenv_path=None, data_dir=tmp_path / "bot"))
        async with bot_session(engine, tmp_path / "bot") as s:
            fake = s.fake
            # Down: questions get a short private "unavailable", autocomplete an empty list.
            pending = await fake.slash("ask", user_id=21001, question="what is VPTQ?")
            assert (await callback(fake, pending)).json["type"] == DEFERRED_CHANNEL_MESSAGE
            (sorry,) = await followups(fake, pending)
            assert "the paper index is unavailable right now" in sorry.json["content"] and len(sorry.json["content"]) < 150
            assert sorry.ephemeral is True and "Chroma" not in sorry.json["content"]
            question = await fake.user_message(f"{s.mention} what is VPTQ?", user_id=21002)
            (in_thread,) = await fake.wait_for(lambda r: r.parts == ["channels", question["id"], "messages"])
            assert "index is unavailable" in in_thread.json["content"]
            typed = await fake.autocomplete("paper", "query", "vptq", user_id=21003)
            empty = await callback(fake, typed)
            assert empty.json["type"] == AUTOCOMPLETE_RESULT and empty.json["data"]["choices"] == []
            assert not s.bot.is_closed() and not s.bot.index_ready.is_set()

            # Back: the retry loop opens it, and answers work without a restart.
            await asyncio.to_thread(server.start)
            await asyncio.wait_for(s.bot.index_ready.wait(), 30)
            pending = await fake.slash("ask", user_id=21004, question="what is VPTQ?")
            assert links(embeds((await answered(fake, pending))[-1])[0])[0] == VPTQ_URL

            # Down again while running, and back: the same, with no restart either.
            server.kill()
            pending = await fake.slash("ask", user_id=21005, question="what is OLMoE?")
            (sorry,) = await followups(fake, pending)
            assert "index is unavailable" in sorry.json["content"] and sorry.ephemeral is True
            await asyncio.to_thread(server.start)
            pending = await fake.slash("ask", user_id=21006, question="what is OLMoE?")
            assert "https://arxiv.org/abs/2409.02060" in links(embeds((await answered(fake, pending))[-1])[0])
            # Connected all along: one gateway session, never resumed or re-identified.
            assert fake.gateway_connections == ["/gateway"]
            assert len([f for f in fake.gateway_received if f["op"] == 2]) == 1
    finally:
        server.stop()
    retries = [r.getMessage() for r in caplog.records if r.name == "bot.app" and "retrying in" in r.getMessage()]
    assert len(retries) >= 2, retries
    assert "the paper index is unavailable (cannot open Chroma server 127.0.0.1" in retries[0]
    delays = [float(re.search(r"retrying in ([\d.]+)s", m).group(1)) for m in retries]  # type: ignore[union-attr]
    assert delays[:3] == sorted(delays[:3]) and delays[1] > delays[0], delays  # backing off
    assert any("available again" in r.getMessage() for r in caplog.records)


# -- the state database ----------------------------------------------------------------------------
async def test_a_corrupt_state_db_is_backed_up_and_recreated_without_touching_the_index(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    data_dir = tmp_path / "data"
    digest = tmp_path / "digest.md"
    digest.write_text(DIGEST, encoding="utf-8")
    engine = Engine(Settings.from_env(environ={}, dotenv_path=None, data_dir=data_dir))
    assert (await asyncio.to_thread(engine.ingest, [str(digest)])).papers == 3
    chroma_files = {p: p.stat().st_size for p in (data_dir / "chroma").rglob("*") if p.is_file()}

    async with FakeDiscord(TOKEN) as fake:
        async with running_bot(fake, engine, data_dir) as s:
            await asyncio.to_thread(s.bot.state.subscribe, fake.guild_id, fake.channel_ids[0], 1)
        state_file = data_dir / "bot.sqlite3"
        garbage = os.urandom(4096) + b"not a database at all" * 100
        # A new file in its place (as a restore or a bad copy would leave it): a
        # write still draining from the stopped bot's worker thread goes to the
        # old file, not into the garbage.
        scratch = data_dir / "garbage.tmp"
        scratch.write_bytes(garbage)
        os.replace(scratch, state_file)

        caplog.set_level(logging.INFO)
        async with running_bot(fake, engine, data_dir) as s:
            backup = s.bot.state.backup
            assert backup is not None and backup.parent == data_dir
            assert re.fullmatch(r"bot\.sqlite3\.corrupt-\d{8}T\d{6}Z", backup.name), backup.name
            assert backup.read_bytes() == garbage  # kept, for whoever wants to look
            assert await asyncio.to_thread(s.bot.state.subscriptions) == []  # a fresh, working database
            assert await asyncio.to_thread(s.bot.state.subscribe, fake.guild_id, fake.channel_ids[1], 1)
            pending = await fake.slash("ask", user_id=22001, question="what is VPTQ?")
            assert links(embeds((await answered(fake, pending))[-1])[0])[0] == VPTQ_URL
    (error,) = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert error.name == "bot.state" and "corrupt" in error.getMessage() and backup.name in error.getMessage()
    assert open_store(engine.settings).count_papers() == 3
    for path in chroma_files:  # nothing under the index was removed
        assert path.exists(), path


async def test_a_read_only_or_full_data_dir_for_the_state_is_one_clear_line(small_tmpfs: Path, tmp_path: Path) -> None:
    data_dir = small_tmpfs / "data"
    data_dir.mkdir()
    async with FakeDiscord(TOKEN) as fake:
        env = clean_env(DISCORD_TOKEN=TOKEN, DISCORD_API_URL=fake.api_url)
        subprocess.run(["mount", "-o", "remount,ro", str(small_tmpfs)], check=True)
        code, out, err = await run_paperbot(tmp_path, "run", "--data-dir", str(data_dir), env=env)
        assert code == EXIT_UNAVAILABLE, err
        (line,) = err.strip().splitlines()
        assert line.startswith(f"paperbot: bot state unavailable: cannot use the bot state database {data_dir / 'bot.sqlite3'}: ")
        assert "Read-only file system" in line

        subprocess.run(["mount", "-o", "remount,rw", str(small_tmpfs)], check=True)
        with suppress(OSError), (small_tmpfs / "filler").open("wb") as filler:
            while True:
                filler.write(b"\0" * 4096)
                filler.flush()
        code, out, err = await run_paperbot(tmp_path, "run", "--data-dir", str(data_dir), env=env)
        assert code == EXIT_UNAVAILABLE, err
        (line,) = err.strip().splitlines()
        assert line.startswith("paperbot: bot state unavailable: cannot use the bot state database") and "the disk is full" in line
        assert TOKEN not in err and "Traceback" not in err
        assert fake.gateway_connections == []  # it stopped before going online


# -- load ---------------------------------------------------------------------------------------------
QUESTIONS = ["what is VPTQ?", "what is OLMoE?", "what is Scylla?", "what is DiVA?", "what is R-MCTS?"]


async def test_200_asks_from_50_users_in_10s_are_acknowledged_answered_and_leave_no_tasks(
    fixture_engine: Engine, tmp_path: Path, figures: dict[str, object]
) -> None:
    rng = random.Random(7)
    cooldown = 5.0
    async with bot_session(fixture_engine, tmp_path, env={"PAPERBOT_ASK_COOLDOWN": str(cooldown)}) as s:
        fake = s.fake
        await asyncio.wait_for(s.bot.index_ready.wait(), 30)
        before = set(asyncio.all_tasks())
        offsets = sorted(rng.uniform(0, 10.0) for _ in range(200))
        sent, spread = await asks_on_schedule(fake, offsets, QUESTIONS, lambda: 30000 + rng.randrange(50))
        acks = {int(r.parts[1]): r for r in await fake.wait_for(lambda r: r.is_callback(), count=200, timeout=15)}
        deferred = [p for p in sent if acks[p.id].json["type"] == DEFERRED_CHANNEL_MESSAGE]

        await fake.wait_for(answer_finished, count=len(deferred), timeout=60)
        # Everything the load started finishes by itself; what does not is a leak.
        leaked = await tasks_left_by_load(before)
        tasks_after = len(asyncio.all_tasks())
        connections = len([t for t in asyncio.all_tasks() if t.get_coro().__qualname__ == "RequestHandler.start"])  # type: ignore[union-attr]

    latencies = [acks[p.id].at - p.sent_at for p in sent]
    cooled, answers = [], []
    for p in sent:
        ack = acks[p.id]
        # Accepted: the fake answers a callback later than Discord's 3 s with 404 Unknown interaction.
        assert ack.status == 200, (ack.status, ack.errors)
        if ack.json["type"] == CHANNEL_MESSAGE:
            data = ack.json["data"]
            assert data["flags"] & EPHEMERAL and data["content"].startswith("Slow down"), data
            cooled.append(p)
        else:
            assert ack.json["type"] == DEFERRED_CHANNEL_MESSAGE
            reply = final_reply(fake, p)
            assert reply.status == 200 and buttons(reply), ("not answered", reply.json)  # an answer, not "busy"
            assert embeds(reply) and links(embeds(reply)[0]), reply.json
            answers.append(p)
    assert len(cooled) + len(answers) == 200 and answers and cooled
    assert not leaked, [t.get_name() for t in leaked]
    figures.update(
        interactions=len(sent),
        sent_over_s=spread,
        answered=len(answers),
        cooldown=len(cooled),
        ack_max_s=max(latencies),
        ack_median_s=sorted(latencies)[len(latencies) // 2],
        tasks_before=len(before),
        tasks_after=tasks_after,
        of_which_fake_http_connections=connections,
        leaked=len(leaked),
    )


# -- secrets ------------------------------------------------------------------------------------------
class KeyedOpenAI(FakeOpenAI):
    """The fake LLM, also recording the Authorization header (to prove the key was used)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        self.authorizations: list[str | None] = []

    async def _chat(self, request: web.Request) -> web.Response:
        self.authorizations.append(request.headers.get("Authorization"))
        return await super()._chat(request)


def secret_free(text: str) -> bool:
    return TOKEN not in text and LLM_KEY not in text


class Leaky:
    """An engine whose /paper lookup fails with the API key in the exception text
    (as a client library might put a URL with ``?key=`` in its error)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def __getattr__(self, name: str) -> Any:
        return getattr(self.engine, name)

    def find_papers(self, query: str, limit: int = 5) -> Any:
        raise RuntimeError(f"GET https://llm.example/v1/x?key={LLM_KEY} failed (token {TOKEN})")


async def test_canary_token_and_api_key_never_reach_logs_discord_or_users(
    fixture_data_dir: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    with KeyedOpenAI() as llm:
        env = {
            "PAPERBOT_LLM": "openai",
            "PAPERBOT_LLM_BASE_URL": llm.base_url,
            "PAPERBOT_LLM_MODEL": "fake",
            "PAPERBOT_LLM_API_KEY": LLM_KEY,
            "PAPERBOT_LLM_TIMEOUT": "10",
        }
        settings = Settings.from_env(environ=env, dotenv_path=None, data_dir=fixture_data_dir)
        engine = Engine(settings)
        async with bot_session(Leaky(engine), tmp_path, env=env) as s:  # type: ignore[arg-type]
            fake = s.fake
            pending = await fake.slash("ask", user_id=23001, question="what is VPTQ?")
            await answered(fake, pending)
            question = await fake.user_message(f"{s.mention} what is OLMoE?", user_id=23002)
            await fake.wait_for(lambda r: r.parts == ["channels", question["id"], "messages"] and bool(buttons(r)))
            # A failure whose exception text holds both secrets: the user gets the generic line.
            failing = await fake.slash("paper", user_id=23003, query="VPTQ")
            (sorry,) = await followups(fake, failing)
            assert sorry.json["content"].startswith("Sorry, something went wrong") and sorry.ephemeral is True
            assert repr(s.settings.discord_token) == "Secret('***')" and str(s.settings.llm_api_key) == "***"
            secrets = s.settings.secrets()
        assert llm.authorizations and set(llm.authorizations) == {f"Bearer {LLM_KEY}"}  # both were really used
        assert any(f["op"] == 2 and f["d"]["token"] == TOKEN for f in fake.gateway_received)

    for r in fake.requests:  # nothing the bot sent to Discord
        assert secret_free(json.dumps(r.json)) and secret_free(r.path), (r.method, r.path)
    leaked = []
    for record in caplog.records:
        rendered = logging.Formatter().format(record)
        if not secret_free(rendered):
            leaked.append(record)
    # Only the test's own deliberately leaky exception may carry them, and only in
    # the raw record: the production log handler redacts (checked below).
    assert all("find_papers" in logging.Formatter().format(r) for r in leaked), [r.getMessage()[:200] for r in leaked]
    from config.logs import RedactSecrets

    assert set(secrets) == {TOKEN, LLM_KEY}
    redact = RedactSecrets(secrets)
    for record in leaked:
        redact.filter(record)
        assert secret_free(logging.Formatter().format(record))


async def test_canaries_stay_out_of_stats_and_crash_output(fixture_data_dir: Path, tmp_path: Path) -> None:
    env = clean_env(DISCORD_TOKEN=TOKEN, PAPERBOT_LLM_API_KEY=LLM_KEY)
    for args in (["stats"], ["stats", "--json"], ["stats", "-v"]):
        code, out, err = await run_paperbot(tmp_path, *args, "--data-dir", str(fixture_data_dir), env=env)
        assert code == 0, err
        assert str(FIXTURE_PAPERS) in out and secret_free(out + err), args

    # A crash: Discord answers the login with an error that echoes the request's
    # Authorization header; the exception text (and so the traceback) holds the token.
    async def echo_headers(rec: Request) -> web.StreamResponse | None:
        if rec.path != "/users/@me":
            return None
        body = {"code": 0, "message": f"bad request, you sent {rec.authorization} with key {LLM_KEY}"}
        return web.Response(body=json.dumps(body).encode(), status=400, headers={"Content-Type": "application/json"})

    async with FakeDiscord(TOKEN) as fake:
        fake.before.append(echo_headers)
        crash_env = {**env, "DISCORD_API_URL": fake.api_url}
        code, out, err = await run_paperbot(tmp_path, "run", "--data-dir", str(tmp_path / "data"), env=crash_env)
    assert code == EXIT_CRASH, err
    assert secret_free(out + err), err
    assert "HTTPException" in err and "[redacted]" in err  # the details are there, the secrets are not
    assert err.strip().splitlines()[-1] == "paperbot: unexpected error (HTTPException); the details are in the log above"


def _docker_pattern(pattern: str) -> re.Pattern[str]:
    """A .dockerignore pattern as a regex (``**`` spans folders, ``*`` and ``?`` do not)."""
    out = ""
    i = 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out, i = out + "(?:.*/)?", i + 3
        elif pattern.startswith("**", i):
            out, i = out + ".*", i + 2
        elif pattern[i] == "*":
            out, i = out + "[^/]*", i + 1
        elif pattern[i] == "?":
            out, i = out + "[^/]", i + 1
        else:
            out, i = out + re.escape(pattern[i]), i + 1
    return re.compile(out)


def dockerignore_excludes(path: str) -> bool:
    """Whether Docker leaves ``path`` out of the build context: the last rule of
    .dockerignore that matches the path or one of its folders wins, ``!`` re-includes."""
    parts = path.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    excluded = False
    for raw in (REPO_ROOT / ".dockerignore").read_text().splitlines():
        rule = raw.strip()
        if not rule or rule.startswith("#"):
            continue
        negate = rule.startswith("!")
        regex = _docker_pattern(rule.lstrip("!").strip().strip("/"))
        if any(regex.fullmatch(prefix) for prefix in prefixes):
            excluded = not negate
    return excluded


def test_env_files_are_git_ignored_and_never_in_the_docker_build_context() -> None:
    check = subprocess.run(["git", "check-ignore", "-q", ".env"], cwd=REPO_ROOT, capture_output=True)
    if check.returncode == 128:
        pytest.skip("not a git work tree")
    assert check.returncode == 0, ".env is not git-ignored"
    for path in (".env", ".env.local", "bot/.env", "config/.env.production", "data/bot.sqlite3", ".git/config"):
        assert dockerignore_excludes(path), f"{path} would be sent to the Docker build"
    for path in ("bot/app.py", "config/settings.py", "pyproject.toml"):
        assert not dockerignore_excludes(path), path
    dockerfile = (REPO_ROOT / "Dockerfile").read_text()
    # No secret is baked in: no ENV/ARG sets a token or key, and .env is never copied.
    for line in dockerfile.splitlines():
        if re.match(r"\s*(ENV|ARG)\b", line):
            assert not re.search(r"(TOKEN|API_KEY|SECRET|PASSWORD)\s*=\s*\S", line), line
    assert ".env" not in " ".join(line for line in dockerfile.splitlines() if line.lstrip().startswith(("COPY", "ADD")))
