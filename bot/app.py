"""The Discord bot: a ``commands.Bot`` with its dependencies injected.

Intents: ``guilds`` (to know channels, threads and permissions) and
``guild_messages`` (to receive messages that mention the bot).  The privileged
message-content intent is *not* requested: Discord still delivers the content of
messages that mention the bot, which is all the bot reads.

Everything slow (retrieval, embedding, LLM calls, SQLite) runs in worker
threads; the event loop only talks to Discord.
"""

from __future__ import annotations

import asyncio
import logging
import traceback
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

import discord
from discord import app_commands
from discord.ext import commands

from bot.limits import AnswerSlots
from bot.schedule import utc_now
from index import StoreUnavailable

if TYPE_CHECKING:
    from bot.state import BotState
    from config import Settings
    from index import CatalogueWatcher, Engine

log = logging.getLogger(__name__)

T = TypeVar("T")

COGS = ("bot.cogs.ask", "bot.cogs.paper", "bot.cogs.digest", "bot.cogs.announce")

#: Discord's names for the permissions commands check, as users see them.
PERMISSION_NAMES = {"manage_guild": "Manage Server"}

#: What users are told while the paper index (Chroma) cannot be reached.
INDEX_UNAVAILABLE = "Sorry, something went wrong: the paper index is unavailable right now. Please try again in a few minutes."
#: Generic failure message: no internals, nothing from the exception.
SOMETHING_WENT_WRONG = "Sorry, something went wrong while answering. Please try again in a moment."

#: Waits between attempts to open the index while it is unavailable (then the last, repeated).
INDEX_RETRY_DELAYS = (1.0, 2.0, 5.0, 10.0, 30.0, 60.0)
#: How long the bot waits for its first attempt to open the index before it
#: connects to the gateway anyway (an unavailable store is retried once online).
WARM_BEFORE_CONNECT_S = 60.0


def failure_message(error: BaseException) -> str:
    """The user's message for an unexpected failure: the index being down is worth
    saying (it is temporary and not their fault); anything else stays generic."""
    return INDEX_UNAVAILABLE if isinstance(error, StoreUnavailable) else SOMETHING_WENT_WRONG


class UserFacingError(Exception):
    """An error whose message is written for the user (short, no internals)."""


#: Discord's error code for starting a second thread from one message (a thread opened
#: before a restart: Discord gives a thread started from a message that message's id).
THREAD_ALREADY_CREATED = 160004
#: A channel option the bot cannot resolve in this server (another server's, deleted, hidden).
CANNOT_SEE_CHANNEL = "I can't see that channel: pick a text channel of this server that I can read."
#: The reply to a request that came in while every answer slot and the queue are taken.
BUSY = "I'm answering a lot of questions right now; please ask again in a minute."


class PaperTree(app_commands.CommandTree):
    """The one error handler of the bot: short message to the user, full traceback
    to the log.  Slash commands get it through :meth:`on_error`; the mention path
    asks :meth:`error_message` for the same words and delivers them in its place."""

    def error_message(self, error: BaseException, where: str) -> str:
        """What to tell the user about ``error``; unexpected errors are logged with
        their traceback (``where``: the command or event that failed)."""
        original = getattr(error, "original", error)
        if isinstance(original, UserFacingError):
            return str(original)
        if isinstance(error, app_commands.CommandOnCooldown):
            return f"Slow down a little: you can ask again in {max(error.retry_after, 1):.0f}s."
        if isinstance(error, app_commands.MissingPermissions):
            names = [PERMISSION_NAMES.get(p, p.replace("_", " ").title()) for p in error.missing_permissions]
            return f"You need the {' and '.join(names)} permission to do that."
        if isinstance(error, app_commands.TransformerError) and error.type is discord.AppCommandOptionType.channel:
            # A channel of another server, or one the bot cannot see: Discord's own
            # client never offers one, so this is a stale list or a crafted request.
            return CANNOT_SEE_CHANNEL
        if isinstance(error, app_commands.CheckFailure):
            return "You can't use that command here."
        log.error("%s failed:\n%s", where, "".join(traceback.format_exception(original)))
        return failure_message(original)

    async def on_error(self, interaction: discord.Interaction, error: app_commands.AppCommandError) -> None:
        where = f"command {interaction.command.qualified_name}" if interaction.command else "a command"
        await respond(interaction, self.error_message(error, where), ephemeral=True)


async def respond(interaction: discord.Interaction, content: str, *, ephemeral: bool = False, **kwargs: Any) -> None:
    """Reply whether or not the interaction was already acknowledged."""
    kwargs.setdefault("allowed_mentions", discord.AllowedMentions.none())
    try:
        if interaction.response.is_done():
            await followup(interaction, content, ephemeral=ephemeral, **kwargs)
        else:
            await interaction.response.send_message(content, ephemeral=ephemeral, **kwargs)
    except discord.HTTPException:
        log.warning("could not deliver a reply to interaction %s", interaction.id, exc_info=True)


_PLACEHOLDER_USED = "paperbot:placeholder-used"


async def followup(
    interaction: discord.Interaction, content: Any = discord.utils.MISSING, *, ephemeral: bool = False, **kwargs: Any
) -> None:
    """A follow-up message that keeps the visibility it asks for.

    Discord turns the first follow-up after a deferred response into an edit of
    the "thinking…" message and keeps the defer's visibility, ignoring the
    follow-up's own ephemeral flag.  Commands defer publicly (answers are for
    everyone), so a private message (an error, "try again later") sent while the
    placeholder is still unused would be shown to the whole channel: delete the
    placeholder first, and the follow-up becomes a new message that can be private.
    """
    deferred = interaction.response.type is discord.InteractionResponseType.deferred_channel_message
    if ephemeral and deferred and not interaction.extras.get(_PLACEHOLDER_USED):
        try:
            await interaction.delete_original_response()
        except discord.HTTPException:
            log.info("could not delete the deferred response of interaction %s", interaction.id, exc_info=True)
    await interaction.followup.send(content, ephemeral=ephemeral, **kwargs)
    interaction.extras[_PLACEHOLDER_USED] = True


def _user(user_id: int) -> int:
    """Cooldown buckets are per user id (a mention and ``/ask`` share one)."""
    return user_id


def intents() -> discord.Intents:
    wanted = discord.Intents.none()
    wanted.guilds = True
    wanted.guild_messages = True
    return wanted


class PaperBot(commands.Bot):
    """paperbot on Discord.  Built by :func:`make_bot` with its engine, state and
    clock (the scheduler reads the time only through ``clock``, so tests set it)."""

    def __init__(
        self,
        engine: Engine,
        state: BotState,
        settings: Settings,
        *,
        clock: Callable[[], datetime] = utc_now,
        **options: Any,
    ) -> None:
        # The bot has no voice features: discord.py's start-up warnings that the
        # voice libraries are missing would only send operators looking for a fault.
        discord.VoiceClient.warn_nacl = False
        discord.VoiceClient.warn_dave = False
        super().__init__(
            command_prefix=commands.when_mentioned,
            intents=intents(),
            allowed_mentions=discord.AllowedMentions.none(),
            help_command=None,
            tree_cls=PaperTree,
            **options,
        )
        self.engine = engine
        self.state = state
        self.settings = settings
        self.clock = clock
        #: One question per ``PAPERBOT_ASK_COOLDOWN`` per user, by mention or ``/ask``.
        self.cooldown: commands.CooldownMapping[int] = commands.CooldownMapping.from_cooldown(1, settings.ask_cooldown, _user)
        #: At most one cooldown reaction per user per window, so a flood gets one, not one per message.
        self.cooldown_notes: commands.CooldownMapping[int] = commands.CooldownMapping.from_cooldown(
            1, settings.ask_cooldown, _user
        )
        self.slots = AnswerSlots(settings.max_concurrent_answers)
        self.sync_on_start: int | None = settings.discord_dev_guild_id
        #: Set once the paper index has been opened (see :meth:`_open_index`).
        self.index_ready = asyncio.Event()
        #: Set when the first attempt to open the index has ended, either way.
        self._first_attempt_done = asyncio.Event()
        self._index_task: asyncio.Task[None] | None = None
        #: Keeps the catalogue in step with ingests by other processes (index/catalogue.py).
        self._watcher: CatalogueWatcher | None = None

    async def to_thread(self, func: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run engine or state work in a thread so the gateway heartbeat never stalls."""
        return await asyncio.to_thread(func, *args, **kwargs)

    async def setup_hook(self) -> None:
        for name in COGS:
            try:
                await self.load_extension(name)
            except commands.ExtensionError:
                log.exception("could not load %s; the bot runs without it", name)
        if self.sync_on_start:
            guild = discord.Object(id=self.sync_on_start)
            self.tree.copy_global_to(guild=guild)
            synced = await self.tree.sync(guild=guild)
            log.info("synced %d commands to dev guild %s", len(synced), self.sync_on_start)
        # Open and warm the indexes off the loop so the first question is fast; while
        # the index is unavailable this keeps trying, and the bot serves meanwhile.
        self._index_task = asyncio.get_running_loop().create_task(self._open_index(), name="paperbot-open-index")
        # Connect to the gateway only once the first attempt has ended: a bot that
        # shows as online answers at once (a 100k-paper catalogue takes seconds to
        # load), and a store that is down is retried while the bot is online.
        try:
            await asyncio.wait_for(self._first_attempt_done.wait(), WARM_BEFORE_CONNECT_S)
        except asyncio.TimeoutError:
            log.warning("the paper index is still loading after %.0f s; connecting anyway", WARM_BEFORE_CONNECT_S)

    #: Seconds between attempts to open an unavailable index (the last one repeats).
    index_retry_delays: tuple[float, ...] = INDEX_RETRY_DELAYS

    async def _open_index(self) -> None:
        """Open the paper index, retrying with backoff until it works.

        A Chroma server that is down when the bot starts must not stop the bot: it
        stays connected to Discord, questions are told the index is unavailable,
        and once this succeeds (or any question gets through) answers work again,
        since the engine caches only a store that opened.
        """
        delays = self.index_retry_delays
        attempt = 0
        while True:
            try:
                await self.to_thread(self.engine.warm_up)
            except StoreUnavailable as exc:
                delay = delays[min(attempt, len(delays) - 1)]
                attempt += 1
                # A warning, not an error: the bot is healthy and recovers by itself.
                log.warning("the paper index is unavailable (%s); retrying in %.3gs (attempt %d)", exc, delay, attempt)
                self.index_ready.clear()
                self._first_attempt_done.set()
                await asyncio.sleep(delay)
                continue
            except Exception:
                log.warning("warming the index failed; questions will report it", exc_info=True)
            else:
                if attempt:
                    log.info("the paper index is available again after %d failed attempts", attempt)
                self.index_ready.set()
            self._first_attempt_done.set()
            # From now on, papers that other processes ingest reach this bot too.
            self._watcher = self.engine.watch_catalogue()
            return

    async def close(self) -> None:
        task = getattr(self, "_index_task", None)
        if task is not None and not task.done():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        watcher, self._watcher = getattr(self, "_watcher", None), None
        if watcher is not None:
            await self.to_thread(watcher.stop)  # may wait for a rebuild in progress
        await super().close()

    async def on_command_error(self, context: commands.Context[Any], exception: commands.CommandError, /) -> None:
        """Every question mentions the bot and the mention is the command prefix, so
        the first word of a question ("what") is looked up as a text command; that
        it is not one is expected, not an error to log with a traceback."""
        if isinstance(exception, commands.CommandNotFound):
            return
        await super().on_command_error(context, exception)

    async def on_ready(self) -> None:
        log.info("logged in as %s (%s) in %d guilds", self.user, getattr(self.user, "id", "?"), len(self.guilds))


def make_bot(engine: Engine, state: BotState, settings: Settings, **options: Any) -> PaperBot:
    """The bot class for the settings: sharded for large deployments, plain otherwise."""
    if settings.sharded:
        sharded = type("ShardedPaperBot", (PaperBot, commands.AutoShardedBot), {})
        return sharded(engine, state, settings, **options)
    return PaperBot(engine, state, settings, **options)
