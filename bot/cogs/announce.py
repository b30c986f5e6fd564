"""Background jobs: keep the index fresh and post each new weekly digest.

Two ``tasks.loop`` jobs, both waiting for the gateway in ``before_loop`` and
cancelled in ``cog_unload``:

* ``poll`` (every ``PAPERBOT_POLL_MINUTES``, only when ``PAPERBOT_SOURCES`` is
  set) runs :meth:`index.engine.Engine.refresh` in a worker thread.  Deciding
  what changed (ETag / Last-Modified / content hash) is the engine's business,
  in ``index/freshness.py``; this cog only decides when.
* ``tick`` (every minute) calls :meth:`AnnounceCog.run_due` with the bot's
  clock.  ``run_due(now)`` is the whole scheduler, public and clock-injected, so
  tests move time forward instead of sleeping.

The ``/digest subscribe|unsubscribe|status`` commands live in the ``/digest``
group cog (``bot/cogs/digest.py``): discord.py binds a command group to one cog.
The two cogs share nothing but the durable state and the engine, so either
works (or fails to load) without the other.

Exactly once per channel and week:

* a run handles the latest weekly slot at or before ``now`` once; the handled
  slot is stored, so a second run in the same minute, a restart, or the next
  minute's tick does nothing until the following slot;
* a slot posts only the *newest* digest week, so a bot that was down for three
  weeks posts one catch-up announcement, not three;
* per channel, the (channel, week) row is claimed before sending and marked sent
  after Discord confirmed the post.  If Discord refuses (403, 404, 5xx) nothing
  was shown, so the claim is released and the channel retried at the next slot.
  If the bot dies between sending and recording, the claim stays unconfirmed;
  the next run reads the channel's history: the post found there is recorded
  and finished, a post not found is made now, and when the history cannot be
  read the claim is treated as sent (logged, and shown in ``/digest status``):
  a possibly missed announcement is preferred over a duplicate;
* the questions thread and each message in it follow the same rule (claimed
  before, recorded after, looked up in the thread when a kill left it open), so
  a restart finishes an announcement that was cut short, once, before anything
  else (:meth:`AnnounceCog.resume_unfinished`).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Literal

import discord
from discord.ext import commands, tasks

from bot.app import THREAD_ALREADY_CREATED
from bot.discord_render import Announcement, MessagePart, announcement
from bot.schedule import WeeklySlot, utc_text
from bot.state import Progress

if TYPE_CHECKING:
    from discord.abc import MessageableChannel

    from bot.app import PaperBot
    from bot.state import Subscription
    from index import RefreshReport

log = logging.getLogger(__name__)

#: Threads opened under announcements stay open for a week of questions.
THREAD_ARCHIVE_MINUTES: Literal[10080] = 10080
#: Messages read back when checking whether an interrupted post reached Discord.
HISTORY_LOOKUP = 50
#: How far before its claim an interrupted post is looked for (clocks differ a little).
CLOCK_SLACK_S = 60.0


class _LookupFailed:
    """:meth:`AnnounceCog._find` could not read the history, so nobody knows."""


LOOKUP_FAILED = _LookupFailed()

Outcome = Literal["posted", "up_to_date", "unconfirmed", "failed"]


@dataclass(frozen=True)
class Delivery:
    """What one run did for one subscribed channel."""

    channel_id: int
    week: str
    outcome: Outcome
    detail: str | None = None


class Undeliverable(Exception):
    """A channel the bot cannot post in; the message says why, for ``/digest status``."""


def describe_failure(exc: discord.HTTPException) -> str:
    """Why Discord refused a post, in words for ``/digest status``."""
    if isinstance(exc, discord.Forbidden):
        return "missing permissions: I can't post there (Discord said 403)"
    if isinstance(exc, discord.NotFound):
        return "channel not found: deleted, or I was removed (Discord said 404)"
    return f"Discord refused the post (HTTP {exc.status}); retrying at the next run"


class AnnounceCog(commands.Cog):
    def __init__(self, bot: PaperBot) -> None:
        self.bot = bot
        self.slot = WeeklySlot.from_settings(bot.settings.announce_weekday, bot.settings.announce_time)
        self._run_lock = asyncio.Lock()
        self._refresh_lock = asyncio.Lock()
        self._handled: datetime | None = None
        self._resumed = False

    async def cog_load(self) -> None:
        self.tick.start()
        if self.bot.settings.sources:
            self.poll.change_interval(minutes=self.bot.settings.poll_minutes)
            self.poll.start()

    async def cog_unload(self) -> None:
        self.tick.cancel()
        self.poll.cancel()

    # -- the jobs -------------------------------------------------------------------
    @tasks.loop(minutes=1)
    async def tick(self) -> None:
        try:
            await self.run_due(self.bot.clock())
        except Exception:
            # The loop must survive anything (a store outage, a Discord blip): next minute tries again.
            log.exception("the digest announcement run failed; trying again in a minute")

    @tick.before_loop
    async def _tick_after_ready(self) -> None:
        await self.bot.wait_until_ready()

    @tasks.loop(minutes=60)
    async def poll(self) -> None:
        await self.refresh_sources()

    @poll.before_loop
    async def _poll_after_ready(self) -> None:
        await self.bot.wait_until_ready()

    async def refresh_sources(self) -> RefreshReport | None:
        """Ingest what changed in the configured sources; None when the poll failed as a whole."""
        async with self._refresh_lock:
            try:
                report = await self.bot.to_thread(self.bot.engine.refresh, self.bot.settings.sources)
            except Exception:
                log.exception("polling the digest sources failed; retrying at the next poll")
                return None
        if report.ingest is not None:
            log.info(
                "digest sources changed (%s): %d new, %d updated papers",
                ", ".join(report.specs("changed")),
                report.ingest.new,
                report.ingest.updated,
            )
        return report

    # -- the scheduler ------------------------------------------------------------------
    async def handled_slot(self) -> datetime | None:
        """The last slot fully handled (stored, so restarts know it)."""
        if self._handled is None:
            stored = await self.bot.to_thread(self.bot.state.last_slot)
            self._handled = datetime.fromisoformat(stored) if stored else None
        return self._handled

    async def run_due(self, now: datetime) -> list[Delivery]:
        """Announce the newest digest week if a slot has passed since the last handled one.

        Safe to call any number of times: the lock serialises overlapping calls and
        the stored slot makes every call after the first a no-op until the next slot.
        """
        async with self._run_lock:
            if not self._resumed:
                # Once per start, first: what a killed bot left half posted.
                await self.resume_unfinished()
                self._resumed = True
            slot = self.slot.latest(now)
            handled = await self.handled_slot()
            if handled is not None and slot <= handled:
                return []
            log.info("announcement slot %s is due", utc_text(slot))
            deliveries = await self._announce_newest()
            await self.bot.to_thread(self.bot.state.set_last_slot, slot.isoformat())
            self._handled = slot
            return deliveries

    async def _announce_newest(self) -> list[Delivery]:
        subscriptions = await self.bot.to_thread(self.bot.state.subscriptions)
        if not subscriptions:
            return []
        if self.bot.settings.sources:
            await self.refresh_sources()  # a digest published just before the slot makes it in
        week, papers = await self.bot.to_thread(self.bot.engine.week_papers, None)
        if week is None:
            log.info("no digest is indexed yet; nothing to announce")
            return []
        me = self.bot.user
        rendered = announcement(week, papers, me.display_name if me else "paperbot")
        deliveries = []
        for subscription in subscriptions:
            try:
                deliveries.append(await self._deliver(subscription, rendered))
            except Exception as exc:
                # Not a refusal from Discord (those are handled inside) but e.g. a dropped
                # connection mid-post: the post may or may not be out.  A claim made before
                # stays unconfirmed, so the next run reports it instead of posting twice.
                log.exception("announcing week %s in channel %s failed", week, subscription.channel_id)
                problem = f"the last attempt failed unexpectedly ({type(exc).__name__}); see the bot's log"
                await self.bot.to_thread(self.bot.state.record_problem, subscription.channel_id, problem)
                deliveries.append(Delivery(subscription.channel_id, week, "failed", problem))
        return deliveries

    async def _deliver(self, subscription: Subscription, rendered: Announcement) -> Delivery:
        state = self.bot.state
        channel_id, week = subscription.channel_id, rendered.week
        if subscription.last_week is not None and subscription.last_week >= week:
            return Delivery(channel_id, week, "up_to_date")
        try:
            channel = await self._channel(channel_id)
        except Undeliverable as exc:
            return await self._refused(channel_id, week, str(exc))
        claim = await self.bot.to_thread(state.claim_announcement, channel_id, week)
        if claim.outcome == "sent":
            return Delivery(channel_id, week, "up_to_date")
        if claim.outcome == "unconfirmed" and claim.since is not None:  # an unconfirmed claim always has its time
            found = await self._find(channel, rendered.channel_message, after=_snowflake(claim.since - CLOCK_SLACK_S))
            if found is LOOKUP_FAILED:
                log.warning(
                    "week %s in channel %s was claimed at %s but its post was never confirmed (the bot stopped mid-post?),"
                    " and the channel's history cannot be read to check; not posting it again, to avoid a duplicate",
                    week,
                    channel_id,
                    utc_text(claim.since),
                )
                problem = f"the post of week {week} was interrupted before Discord confirmed it; not repeated"
                await self.bot.to_thread(state.record_problem, channel_id, problem)
                return Delivery(channel_id, week, "unconfirmed", problem)
            if isinstance(found, discord.Message):
                log.warning(
                    "week %s in channel %s was posted but not recorded (the bot stopped mid-post); finishing it",
                    week,
                    channel_id,
                )
                await self._posted(subscription, week, found.id, rendered, channel)
                return Delivery(channel_id, week, "posted")
            log.warning(
                "week %s in channel %s was claimed but never reached Discord (the bot stopped); posting it", week, channel_id
            )
        first = rendered.channel_message
        try:
            message = await first.send_to(channel, allowed_mentions=discord.AllowedMentions.none())
        except discord.HTTPException as exc:
            await self.bot.to_thread(state.release_announcement, channel_id, week)
            return await self._refused(channel_id, week, describe_failure(exc))
        log.info("announced the digest of week %s in channel %s", week, channel_id)
        await self._posted(subscription, week, message.id, rendered, channel)
        return Delivery(channel_id, week, "posted")

    async def _posted(
        self, subscription: Subscription, week: str, message_id: int, rendered: Announcement, channel: discord.TextChannel
    ) -> None:
        """The channel post is out: record it for good, then open its thread and post the rest."""
        state = self.bot.state
        await self.bot.to_thread(state.confirm_announcement, subscription.channel_id, week, message_id)
        if subscription.problem:
            await self.bot.to_thread(state.record_problem, subscription.channel_id, None)
        progress = Progress(subscription.channel_id, week, message_id, None, 0, None, message_id)
        await self._post_rest(channel, progress, rendered)

    # -- finishing what a stopped bot left half done --------------------------------------
    async def resume_unfinished(self) -> int:
        """Post the unposted parts (questions thread, remaining pages) of announcements
        whose channel post went out before the bot stopped; returns how many."""
        unfinished = await self.bot.to_thread(self.bot.state.unfinished_announcements)
        me = self.bot.user
        for progress in unfinished:
            try:
                channel = await self._channel(progress.channel_id)
            except Undeliverable as exc:
                log.warning("cannot finish week %s in channel %s: %s", progress.week, progress.channel_id, exc)
                await self.bot.to_thread(self.bot.state.finish_announcement, progress.channel_id, progress.week)
                continue
            week, papers = await self.bot.to_thread(self.bot.engine.week_papers, progress.week)
            if week is None:
                log.warning(
                    "week %s is not in the index any more; its thread in %s stays unfinished", progress.week, progress.channel_id
                )
                await self.bot.to_thread(self.bot.state.finish_announcement, progress.channel_id, progress.week)
                continue
            log.info(
                "finishing the announcement of week %s in channel %s (%d thread messages were out)",
                week,
                progress.channel_id,
                progress.parts_done,
            )
            rendered = announcement(week, papers, me.display_name if me else "paperbot")
            await self._post_rest(channel, progress, rendered)
        return len(unfinished)

    async def _post_rest(self, channel: discord.TextChannel, progress: Progress, rendered: Announcement) -> None:
        """Open the questions thread (unless it is open) and post the thread messages not
        out yet, each claimed before and recorded after it is sent; a message whose
        fate a kill left open is looked up in the thread before it is posted again."""
        state = self.bot.state
        key = (progress.channel_id, progress.week)
        target = await self._questions_thread(channel, progress, rendered)
        parts = rendered.thread_messages
        done, last_id = progress.parts_done, progress.last_part_id
        if progress.part_claimed is not None and done < len(parts):
            landed = await self._find(target, parts[done], after=last_id)
            if landed is LOOKUP_FAILED:
                log.warning("message %d of week %s in %s may or may not be out; skipping it", done + 1, progress.week, target.id)
                done += 1
                await self.bot.to_thread(state.part_posted, *key, done, None)
            elif isinstance(landed, discord.Message):
                done += 1
                await self.bot.to_thread(state.part_posted, *key, done, landed.id)
        for index in range(done, len(parts)):
            await self.bot.to_thread(state.claim_part, *key)
            sent = await self._send(target, parts[index])
            if sent is None:
                break  # Discord refused: nothing was shown, and the rest would fail alike
            await self.bot.to_thread(state.part_posted, *key, index + 1, sent.id)
        await self.bot.to_thread(state.finish_announcement, *key)

    async def _questions_thread(
        self, channel: discord.TextChannel, progress: Progress, rendered: Announcement
    ) -> MessageableChannel:
        """The announcement's thread: the recorded one, a new one, or the one a stopped
        bot opened without recording it; the channel when no thread can be opened."""
        if progress.thread_id is not None:
            return self.bot.get_channel(progress.thread_id) or self.bot.get_partial_messageable(  # type: ignore[return-value]
                progress.thread_id, guild_id=channel.guild.id
            )
        message = channel.get_partial_message(progress.message_id)
        try:
            thread: MessageableChannel = await message.create_thread(
                name=rendered.thread_name, auto_archive_duration=THREAD_ARCHIVE_MINUTES
            )
            thread_id = thread.id
        except discord.HTTPException as exc:
            if exc.code != THREAD_ALREADY_CREATED:
                log.warning("no questions thread for week %s in channel %s (%s)", rendered.week, channel.id, exc)
                problem = f"posted, but could not open the questions thread (Discord said {exc.status})"
                await self.bot.to_thread(self.bot.state.record_problem, channel.id, problem)
                return channel
            # Opened before a restart: Discord gives a thread started from a message that message's id.
            thread_id = progress.message_id
            thread = self.bot.get_partial_messageable(thread_id, guild_id=channel.guild.id)
        await self.bot.to_thread(self.bot.state.set_announcement_thread, channel.id, rendered.week, thread_id)
        return thread

    async def _find(
        self, target: discord.abc.Messageable, part: MessagePart, *, after: int | None
    ) -> discord.Message | None | _LookupFailed:
        """The bot's message with this content after message id ``after`` in ``target``:
        the message, None if it is not there, :data:`LOOKUP_FAILED` if Discord cannot say."""
        me = self.bot.user
        marker = discord.Object(id=after) if after else None
        try:
            async for message in target.history(limit=HISTORY_LOOKUP, after=marker, oldest_first=True):
                if me is not None and message.author.id == me.id and _same_message(message, part):
                    return message
        except discord.HTTPException as exc:
            log.info("cannot read the history of %s (%s)", getattr(target, "id", "?"), exc)
            return LOOKUP_FAILED
        return None

    async def _channel(self, channel_id: int) -> discord.TextChannel:
        channel = self.bot.get_channel(channel_id)
        if channel is None:
            try:
                channel = await self.bot.fetch_channel(channel_id)
            except discord.HTTPException as exc:
                raise Undeliverable(describe_failure(exc)) from exc
        if not isinstance(channel, discord.TextChannel):
            raise Undeliverable("not a text channel any more")
        return channel

    async def _send(self, target: discord.abc.Messageable, part: MessagePart) -> discord.Message | None:
        try:
            return await part.send_to(target, allowed_mentions=discord.AllowedMentions.none())
        except discord.HTTPException:
            log.warning("could not post the rest of the digest in %s", getattr(target, "id", "?"), exc_info=True)
            return None

    async def _refused(self, channel_id: int, week: str, problem: str) -> Delivery:
        log.warning("could not announce week %s in channel %s: %s", week, channel_id, problem)
        await self.bot.to_thread(self.bot.state.record_problem, channel_id, problem)
        return Delivery(channel_id, week, "failed", problem)


def _snowflake(epoch_seconds: float | None) -> int | None:
    """The smallest Discord id of a message created at that time."""
    if epoch_seconds is None:
        return None
    return discord.utils.time_snowflake(datetime.fromtimestamp(epoch_seconds, timezone.utc))


def _same_message(message: discord.Message, part: MessagePart) -> bool:
    """Is ``message`` the post of ``part`` (same text, same embed title)?"""
    titles = [embed.title for embed in message.embeds]
    return message.content == (part.content or "") and titles == ([part.embed.title] if part.embed else [])


async def setup(bot: PaperBot) -> None:
    await bot.add_cog(AnnounceCog(bot))
