"""Starting and stopping the Discord bot: endpoints, token checks, signals, sync.

Kept apart from the bot class so tests can build a bot against a fake Discord
while ``paperbot run`` gets the production behaviour: one clear line and a
non-zero exit for a missing or rejected token, a clean close on SIGTERM.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit, urlunsplit

import aiohttp
import discord
import yarl

from config.settings import DISCORD_API

if TYPE_CHECKING:
    from config import Settings
    from index import Engine

log = logging.getLogger(__name__)

EXIT_UNREACHABLE = 69  # EX_UNAVAILABLE
EXIT_NO_TOKEN = 78  # EX_CONFIG
EXIT_BAD_TOKEN = 77  # EX_NOPERM


class TokenError(RuntimeError):
    """The token is missing or Discord rejected it; the message is for the user."""


class DiscordUnreachable(RuntimeError):
    """Logging in failed for want of a connection (no network, DNS, refused, timed
    out); the message is for the user.  Once connected, discord.py reconnects by itself."""


def gateway_for(api_url: str, gateway_url: str | None) -> str | None:
    """The gateway URL: explicit, else derived from a non-default API host, else Discord's."""
    if gateway_url:
        return gateway_url
    if api_url.rstrip("/") == DISCORD_API:
        return None
    parts = urlsplit(api_url)
    scheme = "wss" if parts.scheme == "https" else "ws"
    return urlunsplit((scheme, parts.netloc, "/gateway", "", ""))


def point_at(settings: Settings) -> None:
    """Aim discord.py at the configured Discord-compatible server (before login)."""
    discord.http.Route.BASE = settings.discord_api_url.rstrip("/")
    gateway = gateway_for(settings.discord_api_url, settings.discord_gateway_url)
    if gateway:
        discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(gateway)


def state_path(settings: Settings) -> Path:
    return Path(settings.data_dir) / "bot.sqlite3"


async def run_bot(settings: Settings, engine: Engine, sync_only: int | str | None = None) -> int:
    """Log in and serve until closed.  ``sync_only``: sync commands ("global" or a
    guild id) and exit instead of serving."""
    from bot.app import make_bot
    from bot.state import BotState

    token = settings.discord_token.reveal()
    if not token:
        raise TokenError("DISCORD_TOKEN is not set: put your bot token in .env or the environment")
    point_at(settings)
    state = await asyncio.to_thread(BotState, state_path(settings))
    bot = make_bot(engine, state, settings)
    if sync_only is not None:
        bot.sync_on_start = None
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        try:
            loop.add_signal_handler(sig, stop.set)
        except (NotImplementedError, RuntimeError):
            pass
    async with bot:
        try:
            await bot.login(token)
        except discord.LoginFailure as exc:
            raise TokenError("Discord rejected DISCORD_TOKEN: check the token in the developer portal") from exc
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            host = urlsplit(settings.discord_api_url).netloc
            log.debug("login failed", exc_info=True)
            raise DiscordUnreachable(
                f"cannot reach Discord at {host} ({_reason(exc)}): check the network or DISCORD_API_URL"
            ) from exc
        if sync_only is not None:
            return await _sync(bot, sync_only)
        runner = asyncio.create_task(bot.connect(reconnect=True))
        stopper = asyncio.create_task(stop.wait())
        done, _pending = await asyncio.wait({runner, stopper}, return_when=asyncio.FIRST_COMPLETED)
        if stopper in done:
            log.info("signal received; closing")
        await bot.close()
        for task in (runner, stopper):
            task.cancel()
        await asyncio.gather(runner, stopper, return_exceptions=True)
        if runner in done and runner.exception() is not None:
            raise runner.exception()  # type: ignore[misc]
    return 0


def _reason(exc: BaseException) -> str:
    """A connection failure in a few words: aiohttp's own text repeats the URL and the
    OS error, and a DNS failure's is a paragraph."""
    if isinstance(exc, aiohttp.ClientConnectorDNSError):
        return "host name not found"
    if isinstance(exc, (asyncio.TimeoutError, aiohttp.ServerTimeoutError)):
        return "timed out"
    error = exc.os_error if isinstance(exc, aiohttp.ClientConnectorError) else exc
    if isinstance(error, OSError) and error.errno:
        return os.strerror(error.errno).lower()
    return type(exc).__name__


async def _sync(bot: discord.Client, target: int | str) -> int:
    tree = bot.tree  # type: ignore[attr-defined]
    if target == "global":
        synced = await tree.sync()
        log.warning("synced %d global commands (Discord may take up to an hour to show them)", len(synced))
    else:
        guild = discord.Object(id=int(target))
        tree.copy_global_to(guild=guild)
        synced = await tree.sync(guild=guild)
        log.warning("synced %d commands to guild %s", len(synced), target)
    return 0
