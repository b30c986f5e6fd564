"""Questions: @mentions (answered in a thread) and ``/ask``, with feedback buttons.

A mention in a channel starts a thread from that message and answers there;
follow-ups in the thread that mention or reply to the bot are answered with the
thread's earlier turns as history, so "what about its memory use?" resolves.
In the thread under a weekly digest announcement, questions are answered from
that week's papers first (``Engine.ask_week``).
"""

from __future__ import annotations

import logging
import re
from collections import OrderedDict
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.app import failure_message, followup
from bot.discord_render import answer_messages, clip
from bot.limits import Busy, bounded_input
from index.answer import Turn

if TYPE_CHECKING:
    from bot.app import PaperBot
    from index.answer import Answer

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
        cls, interaction: discord.Interaction, item: discord.ui.Button, match: re.Match[str]
    ) -> "FeedbackButton":
        return cls(int(match["answer"]), match["vote"])

    async def callback(self, interaction: discord.Interaction) -> None:
        bot: PaperBot = interaction.client  # type: ignore[assignment]
        ok = await bot.blocking(bot.state.record_vote, self.answer_id, interaction.user.id, 1 if self.vote == "up" else -1)
        message = "Thanks for the feedback!" if ok else "That answer is too old to rate."
        await interaction.response.send_message(message, ephemeral=True)


def feedback_view(answer_id: int) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    view.add_item(FeedbackButton(answer_id, "up"))
    view.add_item(FeedbackButton(answer_id, "down"))
    return view


class AskCog(commands.Cog):
    def __init__(self, bot: "PaperBot") -> None:
        self.bot = bot
        self.threads: OrderedDict[int, list[Turn]] = OrderedDict()

    # -- shared ------------------------------------------------------------------
    async def compute(self, question: str, history: list[Turn], week: str | None = None) -> "Answer":
        """The answer, from one digest week's papers first when ``week`` is given."""
        async with self.bot.slots:
            if week is not None:
                return await self.bot.blocking(self.bot.engine.ask_week, question, week, history)
            return await self.bot.blocking(self.bot.engine.ask, question, history)

    async def remember(self, answer: "Answer", *, guild_id: int | None, channel_id: int | None, user_id: int) -> int:
        return await self.bot.blocking(
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

    def _history(self, thread_id: int) -> list[Turn]:
        turns = self.threads.get(thread_id, [])
        if thread_id in self.threads:
            self.threads.move_to_end(thread_id)
        return list(turns)

    def _add_turn(self, thread_id: int, turn: Turn) -> None:
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
        question = question_text(message.content)
        if not question:
            if me not in message.mentions:
                # A reply to the bot with its ping turned off: without the privileged
                # message-content intent Discord sends such a message with no text.
                hint = f"I can only read messages that mention me: reply again with @{me.display_name} in it."
            else:
                hint = "Ask me about a paper or a topic from the digests, e.g. *what is VPTQ?*"
            await self._send(message.channel, hint, reference=message)
            return
        wait = self.bot.cooldown.retry_after(message.author.id)
        if wait:
            await self._send(message.channel, f"Slow down a little: you can ask again in {wait:.0f}s.", reference=message)
            return
        in_thread = isinstance(message.channel, discord.Thread)
        target: discord.abc.Messageable = message.channel
        if not in_thread:
            target = await self._open_thread(message, question)
        history = self._history(target.id) if isinstance(target, discord.Thread) else []
        week = await self.bot.blocking(self.bot.state.announcement_week, target.id) if in_thread else None
        try:
            async with target.typing():
                answer = await self.compute(question, history, week)
        except Busy:
            await self._send(target, "I'm answering a lot of questions right now; please ask again in a minute.")
            return
        except Exception as exc:
            log.exception("answering a mention failed")
            await self._send(target, failure_message(exc))
            return
        answer_id = await self.remember(answer, guild_id=message.guild.id if message.guild else None, channel_id=target.id, user_id=message.author.id)
        parts = answer_messages(answer)
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            await target.send(
                content=part.content,
                embed=part.embed,
                view=feedback_view(answer_id) if last else discord.utils.MISSING,
                reference=message if (i == 0 and target is message.channel) else None,
                allowed_mentions=discord.AllowedMentions.none(),
            )
        if isinstance(target, discord.Thread):
            self._add_turn(target.id, Turn(question=question, answer=answer.text))

    async def _open_thread(self, message: discord.Message, question: str) -> discord.abc.Messageable:
        """A thread from the question's message, or the channel itself when threads are not allowed."""
        name = clip(question.replace("\n", " "), THREAD_NAME_LIMIT) or "Question"
        try:
            return await message.create_thread(name=name, auto_archive_duration=1440)
        except (discord.Forbidden, discord.HTTPException, ValueError, AttributeError) as exc:
            log.info("no thread in channel %s (%s); answering in place", message.channel.id, exc)
            return message.channel

    async def _send(self, target: Any, content: str, reference: discord.Message | None = None) -> None:
        try:
            await target.send(content, reference=reference, allowed_mentions=discord.AllowedMentions.none())
        except discord.HTTPException:
            log.warning("could not send to channel %s", getattr(target, "id", "?"), exc_info=True)

    # -- /ask -----------------------------------------------------------------------
    @app_commands.command(name="ask", description="Ask a question about the papers in the digests")
    @app_commands.describe(question="What do you want to know? e.g. what is VPTQ?")
    async def ask(self, interaction: discord.Interaction, question: app_commands.Range[str, 1, MAX_QUESTION]) -> None:
        # Discord enforces the option's max_length, but nothing here relies on it.
        question = question_text(question)
        if not question:
            await interaction.response.send_message(
                "Ask me about a paper or a topic from the digests, e.g. *what is VPTQ?*", ephemeral=True
            )
            return
        wait = self.bot.cooldown.retry_after(interaction.user.id)
        if wait:
            await interaction.response.send_message(f"Slow down a little: you can ask again in {wait:.0f}s.", ephemeral=True)
            return
        await interaction.response.defer(thinking=True)
        try:
            answer = await self.compute(question, [])
        except Busy:
            await followup(
                interaction,
                "I'm answering a lot of questions right now; please ask again in a minute.",
                ephemeral=True,
                allowed_mentions=discord.AllowedMentions.none(),
            )
            return
        answer_id = await self.remember(answer, guild_id=interaction.guild_id, channel_id=interaction.channel_id, user_id=interaction.user.id)
        parts = answer_messages(answer)
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            kwargs: dict[str, Any] = {"allowed_mentions": discord.AllowedMentions.none()}
            if part.embed is not None:
                kwargs["embed"] = part.embed
            if last:
                kwargs["view"] = feedback_view(answer_id)
            await followup(interaction, part.content or "…", **kwargs)


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


async def setup(bot: "PaperBot") -> None:
    bot.add_dynamic_items(FeedbackButton)
    await bot.add_cog(AskCog(bot))
