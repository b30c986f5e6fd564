"""Questions: @mentions (answered in a thread) and ``/ask``, with feedback buttons.

A mention in a channel starts a thread from that message and answers there;
follow-ups in the thread that mention or reply to the bot are answered with the
thread's earlier turns as history, so "what about its memory use?" resolves.
In the thread under a weekly digest announcement, questions are answered from
that week's papers first (``Engine.ask(prefer_week=...)``, which the answerer serves).
"""

from __future__ import annotations

import logging
import re
from collections import OrderedDict
from contextlib import AbstractAsyncContextManager, nullcontext
from typing import TYPE_CHECKING, Any, Protocol

import discord
from discord import app_commands
from discord.ext import commands

from bot.app import BUSY, THREAD_ALREADY_CREATED, UserFacingError, followup
from bot.discord_render import MessagePart, answer_messages
from bot.limits import Busy, bounded_input
from index import DatabaseUnavailable, Turn, truncate

if TYPE_CHECKING:
    from discord.abc import MessageableChannel

    from bot.app import PaperBot
    from index import Answer

log = logging.getLogger(__name__)

MAX_QUESTION = 1000
THREAD_NAME_LIMIT = 100
REMEMBERED_THREADS = 2000
TURNS_KEPT = 6


class FeedbackButton(discord.ui.DynamicItem[discord.ui.Button], template=r"paperbot:fb:(?P<answer>\d+):(?P<vote>up|down)"):
    """👍/👎 under an answer; dynamic so the buttons keep working after a restart."""

    def __init__(self, answer_id: int, vote: str) -> None:
        self.answer_id = answer_id
        self.vote = vote
        super().__init__(
            discord.ui.Button(
                emoji="👍" if vote == "up" else "👎",
                style=discord.ButtonStyle.secondary,
                custom_id=f"paperbot:fb:{answer_id}:{vote}",
            )
        )

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str]
    ) -> FeedbackButton:
        return cls(int(match["answer"]), match["vote"])

    async def callback(self, interaction: discord.Interaction) -> None:
        bot: PaperBot = interaction.client  # type: ignore[assignment]
        ok = await bot.to_thread(bot.state.record_vote, self.answer_id, interaction.user.id, 1 if self.vote == "up" else -1)
        message = "Thanks for the feedback!" if ok else "That answer is too old to rate."
        await interaction.response.send_message(message, ephemeral=True)


def feedback_view(answer_id: int) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    view.add_item(FeedbackButton(answer_id, "up"))
    view.add_item(FeedbackButton(answer_id, "down"))
    return view


#: What an empty question gets: how to ask.
HOW_TO_ASK = "Ask me about a paper or a topic from the digests, e.g. *what is VPTQ?*"
#: The reaction on a mention that came too soon after the user's last question.
COOLING_DOWN = "\N{HOURGLASS}"
#: Mentions left unanswered by a stopped bot are answered after a restart if younger than this.
RESUME_WITHIN_S = 6 * 3600


class EmptyQuestion(UserFacingError):
    """Nothing left to ask once mentions and decoration are removed."""


class Place(Protocol):
    """Where a question was asked and how its answer goes out: ``/ask`` or a mention."""

    user_id: int
    guild_id: int | None

    async def start(self, question: str) -> None:
        """Acknowledge the question (defer, open a thread) before the slow part."""

    def typing(self) -> AbstractAsyncContextManager[Any]:
        """Shown while the answer is computed."""

    async def context(self) -> tuple[list[Turn], str | None, int | None]:
        """(earlier turns, announcement week, channel id the answer goes to)."""

    async def send(self, part: MessagePart, view: discord.ui.View | None, first: bool) -> None:
        """Post one part of the answer."""

    def answered(self, turn: Turn) -> None:
        """The whole answer is out."""


class SlashPlace:
    """``/ask``: deferred publicly, the answer in the follow-ups."""

    def __init__(self, interaction: discord.Interaction) -> None:
        self.interaction = interaction
        self.user_id = interaction.user.id
        self.guild_id = interaction.guild_id

    async def start(self, question: str) -> None:
        await self.interaction.response.defer(thinking=True)

    def typing(self) -> AbstractAsyncContextManager[Any]:
        return nullcontext()

    async def context(self) -> tuple[list[Turn], str | None, int | None]:
        return [], None, self.interaction.channel_id

    async def send(self, part: MessagePart, view: discord.ui.View | None, first: bool) -> None:
        kwargs: dict[str, Any] = {"allowed_mentions": discord.AllowedMentions.none()}
        if part.embed is not None:
            kwargs["embed"] = part.embed
        if view is not None:
            kwargs["view"] = view
        await followup(self.interaction, part.content or "…", **kwargs)

    def answered(self, turn: Turn) -> None:
        return None


class MentionPlace:
    """A mention: answered in a new thread from the message (in place where threads
    are not allowed, or in the thread it was asked in), remembered in the state
    database from acceptance to answer so a restart can finish it."""

    def __init__(
        self,
        cog: AskCog,
        message: discord.Message | discord.PartialMessage,
        *,
        user_id: int,
        in_thread: bool,
    ) -> None:
        self.cog = cog
        self.message = message
        self.user_id = user_id
        self.guild_id = message.guild.id if message.guild else None
        self.in_thread = in_thread
        #: Where the answer goes; the channel itself until a thread is open.
        self.target: MessageableChannel = message.channel
        self.begun = False

    async def start(self, question: str) -> None:
        bot = self.cog.bot
        channel_id = self.message.channel.id
        try:
            await bot.to_thread(bot.state.begin_question, self.message.id, channel_id, self.guild_id, self.user_id, question)
            self.begun = True
        except DatabaseUnavailable:
            # Answering matters more than being able to resume the answer after a crash.
            log.warning("could not record the question of message %s; answering anyway", self.message.id, exc_info=True)
        if not self.in_thread:
            self.target = await self.cog.open_thread(self.message, question)

    def typing(self) -> AbstractAsyncContextManager[Any]:
        return self.target.typing()

    @property
    def threaded(self) -> bool:
        """Is the answer going into a thread (a new one, or the one it was asked in)?"""
        return self.in_thread or self.target is not self.message.channel

    async def context(self) -> tuple[list[Turn], str | None, int | None]:
        bot = self.cog.bot
        target_id = int(self.target.id)
        if not self.threaded:
            return [], None, target_id
        # Only a thread the question was asked in can be an announcement's thread.
        week = await bot.to_thread(bot.state.announcement_week, target_id) if self.in_thread else None
        return self.cog.history(target_id), week, target_id

    async def send(self, part: MessagePart, view: discord.ui.View | None, first: bool) -> None:
        await part.send_to(
            self.target,
            view=view or discord.utils.MISSING,
            reference=self.message if (first and not self.threaded) else None,
            allowed_mentions=discord.AllowedMentions.none(),
        )

    def answered(self, turn: Turn) -> None:
        if self.threaded:
            self.cog.add_turn(int(self.target.id), turn)

    async def note(self, text: str) -> None:
        """A short message in the answer's place: in the new thread once it is open,
        else a reply to the question where it was asked."""
        await self.cog.send_text(self.target, text, reference=self.message if self.target is self.message.channel else None)

    async def close(self) -> None:
        if self.begun:
            bot = self.cog.bot
            await bot.to_thread(bot.state.end_question, self.message.id)


class AskCog(commands.Cog):
    def __init__(self, bot: PaperBot) -> None:
        self.bot = bot
        self.threads: OrderedDict[int, list[Turn]] = OrderedDict()
        self._resumed = False

    # -- the one way a question is answered --------------------------------------------
    async def answer(self, place: Place, raw: str, *, hint: str = HOW_TO_ASK, cooldown: bool = True) -> None:
        """Answer ``raw`` where it was asked, for ``/ask`` and mentions alike.

        Every question counts against the user's cooldown, an empty one too, so a
        flood of mentions costs one answer per window.  Refusals are raised, for
        the tree's error handler to word: :class:`app_commands.CommandOnCooldown`,
        :class:`EmptyQuestion`, and a :class:`UserFacingError` when the answer slots
        are full.  If the state database cannot record the answer, it is still
        posted, without feedback buttons.
        """
        if cooldown:
            bucket = self.bot.cooldown.get_bucket(place.user_id)
            retry_after = bucket.update_rate_limit() if bucket is not None else None
            if bucket is not None and retry_after and retry_after > 0:
                raise app_commands.CommandOnCooldown(bucket, retry_after)
        question = question_text(raw)
        if not question:
            raise EmptyQuestion(hint)
        await place.start(question)
        history, week, channel_id = await place.context()
        try:
            async with place.typing():
                answer = await self.answer_for(question, history, week)
        except Busy:
            raise UserFacingError(BUSY) from None
        answer_id: int | None
        try:
            answer_id = await self.remember(answer, guild_id=place.guild_id, channel_id=channel_id, user_id=place.user_id)
        except DatabaseUnavailable:
            log.warning("could not record an answer; posting it without feedback buttons", exc_info=True)
            answer_id = None
        parts = answer_messages(answer)
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            await place.send(part, feedback_view(answer_id) if last and answer_id is not None else None, i == 0)
        place.answered(Turn(question=question, answer=answer.text))

    async def answer_for(self, question: str, history: list[Turn], week: str | None = None) -> Answer:
        """The answer, from one digest week's papers first when ``week`` is given."""
        async with self.bot.slots:
            return await self.bot.to_thread(self.bot.engine.ask, question, history, prefer_week=week)

    async def remember(self, answer: Answer, *, guild_id: int | None, channel_id: int | None, user_id: int) -> int:
        return await self.bot.to_thread(
            self.bot.state.record_answer,
            question=answer.question,
            answer=answer.text,
            citations=[c.to_json() for c in answer.citations],
            abstained=answer.abstained,
            backend=answer.backend,
            guild_id=guild_id,
            channel_id=channel_id,
            user_id=user_id,
        )

    def history(self, thread_id: int) -> list[Turn]:
        turns = self.threads.get(thread_id, [])
        if thread_id in self.threads:
            self.threads.move_to_end(thread_id)
        return list(turns)

    def add_turn(self, thread_id: int, turn: Turn) -> None:
        turns = self.threads.setdefault(thread_id, [])
        turns.append(turn)
        del turns[:-TURNS_KEPT]
        self.threads.move_to_end(thread_id)
        while len(self.threads) > REMEMBERED_THREADS:
            self.threads.popitem(last=False)

    # -- @mentions -----------------------------------------------------------------
    @commands.Cog.listener()
    async def on_message(self, message: discord.Message) -> None:
        me = self.bot.user
        if me is None or message.author.bot or message.webhook_id:
            return
        replied_to_me = bool(
            message.reference
            and isinstance(message.reference.resolved, discord.Message)
            and message.reference.resolved.author.id == me.id
        )
        if me not in message.mentions and not replied_to_me:
            return
        if me not in message.mentions:
            # A reply to the bot with its ping turned off: without the privileged
            # message-content intent Discord sends such a message with no text.
            hint = f"I can only read messages that mention me: reply again with @{me.display_name} in it."
        else:
            hint = HOW_TO_ASK
        place = MentionPlace(self, message, user_id=message.author.id, in_thread=isinstance(message.channel, discord.Thread))
        await self._answer_mention(place, message.content, hint=hint)

    async def _answer_mention(self, place: MentionPlace, raw: str, *, hint: str = HOW_TO_ASK, cooldown: bool = True) -> None:
        """:meth:`answer` for a mention, its refusals delivered without crowding the
        channel: a cooldown is one reaction per user per window, never a post."""
        try:
            await self.answer(place, raw, hint=hint, cooldown=cooldown)
        except app_commands.CommandOnCooldown:
            await self._cooling_down(place)
        except Exception as exc:
            await place.note(self.bot.tree.error_message(exc, "answering a mention"))  # type: ignore[attr-defined]
        finally:
            try:
                await place.close()
            except DatabaseUnavailable:
                log.warning("could not record that a mention was answered", exc_info=True)

    async def _cooling_down(self, place: MentionPlace) -> None:
        bucket = self.bot.cooldown_notes.get_bucket(place.user_id)
        if bucket is not None and bucket.update_rate_limit():
            return  # this window's reaction is already on an earlier message
        try:
            await place.message.add_reaction(COOLING_DOWN)
        except discord.HTTPException:
            log.info("could not react to message %s in channel %s", place.message.id, place.message.channel.id)

    async def open_thread(
        self, message: discord.Message | discord.PartialMessage, question: str
    ) -> MessageableChannel:
        """A thread from the question's message, or the channel itself when threads are
        not allowed.  A thread that exists already (opened before a restart) is reused:
        Discord gives a thread started from a message that message's id."""
        name = truncate(question.replace("\n", " "), THREAD_NAME_LIMIT) or "Question"
        try:
            return await message.create_thread(name=name, auto_archive_duration=1440)
        except discord.HTTPException as exc:
            if exc.code == THREAD_ALREADY_CREATED:
                return self.bot.get_partial_messageable(message.id, guild_id=message.guild.id if message.guild else None)
            log.info("no thread in channel %s (%s); answering in place", message.channel.id, exc)
        except (ValueError, AttributeError) as exc:
            log.info("no thread in channel %s (%s); answering in place", message.channel.id, exc)
        return message.channel

    async def send_text(self, target: Any, content: str, reference: Any = None) -> None:
        try:
            await target.send(content, reference=reference, allowed_mentions=discord.AllowedMentions.none())
        except discord.HTTPException:
            log.warning("could not send to channel %s", getattr(target, "id", "?"), exc_info=True)

    # -- after a restart -------------------------------------------------------------------
    @commands.Cog.listener()
    async def on_ready(self) -> None:
        if self._resumed:
            return
        self._resumed = True
        try:
            await self.resume_pending()
        except Exception:
            log.exception("answering the questions left by the last run failed")

    async def resume_pending(self) -> int:
        """Answer the mentions a stopped bot accepted and never answered (it was
        killed mid-answer); returns how many were answered now."""
        me = self.bot.user
        pending = await self.bot.to_thread(self.bot.state.pending_questions, RESUME_WITHIN_S)
        done = 0
        for record in pending:
            cached = self.bot.get_channel(record.channel_id)
            in_thread = not isinstance(cached, discord.TextChannel)
            channel = cached or self.bot.get_partial_messageable(record.channel_id, guild_id=record.guild_id)
            message = channel.get_partial_message(record.message_id)  # type: ignore[union-attr]
            place = MentionPlace(self, message, user_id=record.user_id, in_thread=in_thread)
            place.begun = True
            answer_in = self.bot.get_partial_messageable(record.message_id) if not in_thread else channel
            if me is not None and await self._answered_since(answer_in, record.message_id, me.id):
                await place.close()  # the answer went out; only its record was missing
                continue
            log.info("answering message %s, left unanswered when the bot stopped", record.message_id)
            await self._answer_mention(place, record.question, cooldown=False)
            done += 1
        return done

    async def _answered_since(self, target: Any, message_id: int, me: int) -> bool:
        """Did the bot post in ``target`` after the question?  False if Discord cannot say."""
        try:
            async for posted in target.history(after=discord.Object(id=message_id), limit=20):
                if posted.author.id == me:
                    return True
        except discord.HTTPException:
            return False
        return False

    # -- /ask -----------------------------------------------------------------------
    @app_commands.command(name="ask", description="Ask a question about the papers in the digests")
    @app_commands.describe(question="What do you want to know? e.g. what is VPTQ?")
    async def ask(self, interaction: discord.Interaction, question: app_commands.Range[str, 1, MAX_QUESTION]) -> None:
        # Discord enforces the option's max_length, but nothing here relies on it.
        await self.answer(SlashPlace(interaction), question)


#: Mentions of anyone (users, roles, channels, @everyone) and markdown decoration:
#: they address people or style text, and only make retrieval miss ("what is
#: **VPTQ**? cc @everyone" is the question "what is VPTQ?").
_MENTION_MARKUP = re.compile(r"<(?:@[!&]?|#)\d+>|@(?:everyone|here)\b")
_DECORATION = re.compile(r"\*\*|__|~~|\|\||`")


def question_text(content: str, limit: int = MAX_QUESTION) -> str:
    """What a user asked, as the engine should get it: no mentions or markdown
    decoration, invisible characters dropped, at most ``limit`` characters."""
    text = _MENTION_MARKUP.sub(" ", content[: limit * 4])
    return bounded_input(_DECORATION.sub("", text), limit)


async def setup(bot: PaperBot) -> None:
    bot.add_dynamic_items(FeedbackButton)
    await bot.add_cog(AskCog(bot))
