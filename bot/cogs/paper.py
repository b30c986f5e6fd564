"""``/paper query:`` with autocomplete: a paper card, plus "did you mean" when unsure."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.app import followup
from bot.discord_render import paper_embed, shown_input, strip_invisible
from bot.limits import bounded_input
from index import StoreUnavailable

if TYPE_CHECKING:
    from bot.app import PaperBot

log = logging.getLogger(__name__)

MAX_QUERY = 300
#: A second match this close to the best one means the query was ambiguous.
AMBIGUOUS = 0.9


class PaperCog(commands.Cog):
    def __init__(self, bot: PaperBot) -> None:
        self.bot = bot

    @app_commands.command(name="paper", description="Look a paper up by arXiv id, link, title or keywords")
    @app_commands.describe(query="arXiv id, arXiv link, title (typos are fine) or keywords")
    async def paper(self, interaction: discord.Interaction, query: app_commands.Range[str, 1, MAX_QUERY]) -> None:
        query = bounded_input(query, MAX_QUERY)
        await interaction.response.defer(thinking=True)
        matches = await self.bot.to_thread(self.bot.engine.find_papers, query, 6) if query else []
        if not matches:
            # The query is echoed to the whole channel: as plain text, never as
            # markdown, links or mentions the user slipped in.
            await followup(
                interaction,
                f"No paper in the digests matches “{shown_input(query, 100)}”. Try a title, an arXiv id or a few keywords.",
                allowed_mentions=discord.AllowedMentions.none(),
            )
            return
        best = matches[0]
        if best.how in ("arxiv_id", "url"):
            # An exact link or id: any other match is a different paper the digest
            # gave the same link, and must be shown, not hidden.
            others = [m.paper for m in matches[1:] if m.how == best.how]
        elif best.how == "paper_id":
            others = []
        else:
            others = [m.paper for m in matches[1:] if m.score >= AMBIGUOUS * best.score]
        await followup(
            interaction,
            embed=paper_embed(best.paper, did_you_mean=others),
            allowed_mentions=discord.AllowedMentions.none(),
        )

    @paper.autocomplete("query")
    async def paper_autocomplete(self, interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        # One of these comes per keystroke: keep the work bounded and never fail loudly.
        try:
            pairs = await self.bot.to_thread(self.bot.engine.autocomplete, bounded_input(current, MAX_QUERY), 25)
        except StoreUnavailable:
            return []
        # Choice names are shown as plain text, but bidi controls in a digest title
        # would still reorder what the user reads.
        choices = [(" ".join(strip_invisible(label).split())[:100], value[:100]) for label, value in pairs[:25]]
        return [app_commands.Choice(name=label, value=value) for label, value in choices if label and value]


async def setup(bot: PaperBot) -> None:
    await bot.add_cog(PaperCog(bot))
