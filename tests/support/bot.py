"""The real bot against the fake Discord: in this process (``bot_session``,
``running_bot``) or as ``paperbot run`` in a subprocess (``run_paperbot``,
:class:`BotProcess`).

In process, the bot is built the way ``bot/runner.py`` builds it (``point_at``
aims discord.py at the fake, ``BotState`` under the data dir, ``make_bot``,
``login``, ``connect``), so what a test sees is what users get.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import discord

from bot.app import PaperBot, make_bot
from bot.runner import point_at, state_path
from bot.state import BotState
from config import Settings
from index.engine import Engine
from tests.support.discord import FakeDiscord, PendingInteraction

REPO_ROOT = Path(__file__).resolve().parents[2]

#: A canary: if this string shows up in any log line, the token leaked.
TOKEN = "MTIz.canary-token.Xq9-not-a-real-token-7f3c2b"
#: A paper of the fixture digests, the answer to "what is VPTQ?".
VPTQ_URL = "https://arxiv.org/abs/2409.17066"


@dataclass
class Session:
    """A running bot and the fake Discord it is connected to."""

    fake: FakeDiscord
    bot: PaperBot
    settings: Settings

    @property
    def mention(self) -> str:
        return f"<@{self.fake.bot_id}>"


def bot_settings(fake: FakeDiscord, data_dir: Path, env: dict[str, str] | None = None) -> Settings:
    """Settings aiming the bot at ``fake`` (commands synced to its guild, no /ask cooldown unless ``env`` sets one)."""
    environ = {
        "DISCORD_TOKEN": fake.token,
        "DISCORD_API_URL": fake.api_url,
        "DISCORD_DEV_GUILD_ID": str(fake.guild_id),
        "PAPERBOT_ASK_COOLDOWN": "0",
        **(env or {}),
    }
    return Settings.from_env(environ=environ, dotenv_path=None, data_dir=data_dir)


@asynccontextmanager
async def bot_session(
    engine: Engine, data_dir: Path, *, token: str = TOKEN, env: dict[str, str] | None = None, **options: Any
) -> AsyncIterator[Session]:
    """A fake Discord and the real bot connected to it; both stopped on exit, whatever happens."""
    async with FakeDiscord(token) as fake:
        async with running_bot(fake, engine, data_dir, env=env, **options) as session:
            yield session


@asynccontextmanager
async def running_bot(
    fake: FakeDiscord, engine: Engine, data_dir: Path, *, env: dict[str, str] | None = None, **options: Any
) -> AsyncIterator[Session]:
    """The real bot, built as ``bot/runner.py`` builds it, connected to a running fake
    (so a test can restart the bot against the same Discord); ``options`` go to ``make_bot``."""
    saved = (discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY)
    settings = bot_settings(fake, data_dir, env)
    point_at(settings)
    try:
        assert discord.http.Route.BASE == fake.api_url
        assert str(discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY) == fake.gateway_url
        state = await asyncio.to_thread(BotState, state_path(settings))
        bot = make_bot(engine, state, settings, guild_ready_timeout=0.05, **options)
        assert isinstance(bot, PaperBot)
        async with bot:
            await bot.login(settings.discord_token.reveal())
            runner = asyncio.create_task(bot.connect(reconnect=False), name="bot-connect")
            ready = asyncio.create_task(bot.wait_until_ready(), name="bot-ready")
            try:
                done, _ = await asyncio.wait({runner, ready}, timeout=20, return_when=asyncio.FIRST_COMPLETED)
                if ready not in done:
                    if runner in done:
                        runner.result()  # raises why the bot could not connect
                    raise AssertionError("the bot did not become ready within 20 s")
                yield Session(fake, bot, settings)
            finally:
                ready.cancel()
                await bot.close()
                try:
                    await asyncio.wait_for(runner, 10)
                except asyncio.CancelledError:
                    pass
    finally:
        discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = saved


# -- paperbot as a subprocess ------------------------------------------------------------------
def clean_env(**extra: str) -> dict[str, str]:
    """The environment of a ``paperbot`` subprocess: nothing of the caller's but PATH, plus ``extra``."""
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": "/nonexistent", "NO_COLOR": "1", "PYTHONPATH": str(REPO_ROOT), **extra}


async def run_paperbot(cwd: Path, *args: str, env: dict[str, str], timeout: float = 60) -> tuple[int, str, str]:
    """``paperbot ARGS...`` to completion: (exit code, stdout, stderr); killed after ``timeout`` s."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot.cli", *args, cwd=cwd, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    return proc.returncode or 0, out.decode(), err.decode()


class BotProcess:
    """``paperbot run`` as a subprocess, its stderr read line by line as it comes."""

    def __init__(self, cwd: Path, env: dict[str, str]) -> None:
        self.cwd = cwd
        self.env = env
        self.proc: asyncio.subprocess.Process | None = None
        self.lines: list[str] = []
        self._changed = asyncio.Condition()
        self._reader: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot.cli", "run", cwd=self.cwd, env=self.env,
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
        )
        self._reader = asyncio.create_task(self._read(), name="bot-stderr")

    async def _read(self) -> None:
        assert self.proc is not None and self.proc.stderr is not None
        async for raw in self.proc.stderr:
            async with self._changed:
                self.lines.append(raw.decode(errors="replace").rstrip("\n"))
                self._changed.notify_all()

    async def wait_for_line(self, fragment: str, timeout: float = 60) -> str:
        async def seen() -> str:
            async with self._changed:
                await self._changed.wait_for(lambda: any(fragment in line for line in self.lines))
            return next(line for line in self.lines if fragment in line)

        try:
            return await asyncio.wait_for(seen(), timeout)
        except asyncio.TimeoutError:
            raise AssertionError(f"no log line with {fragment!r} within {timeout}s:\n" + "\n".join(self.lines[-30:])) from None

    async def wait(self, timeout: float = 60) -> int:
        assert self.proc is not None
        code = await asyncio.wait_for(self.proc.wait(), timeout)
        if self._reader is not None:
            await self._reader
        return code

    def kill(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.send_signal(signal.SIGKILL)


async def tasks_left_by_load(before: set[asyncio.Task[Any]], grace: float = 5.0) -> set[asyncio.Task[Any]]:
    """The tasks started since ``before`` that are still running after ``grace``
    seconds to finish: a load's leaks.  The fake's side of kept-alive HTTP
    connections (one handler task per connection the bot's pool opened) lives on
    with the connection, and is not the bot's."""

    def started() -> set[asyncio.Task[Any]]:
        return {
            t
            for t in asyncio.all_tasks() - before - {asyncio.current_task()}
            if not t.done() and t.get_coro().__qualname__ != "RequestHandler.start"  # type: ignore[union-attr]
        }

    if started():
        await asyncio.wait(started(), timeout=grace)
    return started()


async def asks_on_schedule(
    fake: FakeDiscord, offsets: Sequence[float], questions: Sequence[str], user_id: Callable[[], int]
) -> tuple[list[PendingInteraction], float]:
    """``/ask`` sent ``offsets`` seconds from now (sorted), the i-th with
    ``questions[i % len]`` from ``user_id()``: a load's interactions, and the
    seconds the sending took (the load test and ``bench/load.py`` share it)."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    sent = []
    for i, offset in enumerate(offsets):
        await asyncio.sleep(max(0.0, start + offset - loop.time()))  # the load's schedule, not a wait for an event
        sent.append(await fake.slash("ask", user_id=user_id(), question=questions[i % len(questions)]))
    return sent, loop.time() - start
