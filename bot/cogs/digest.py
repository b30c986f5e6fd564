"""``/digest show [week]``: a week's digest as embeds, paged with buttons."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.app import followup
from bot.discord_render import digest_pages

if TYPE_CHECKING:
    from bot.app import PaperBot

log = logging.getLogger(__name__)

PAGER_TIMEOUT = 600


class Pager(discord.ui.View):
    """◀ / ▶ buttons over a list of embeds; disabled at the ends."""

    def __init__(self, pages: list[discord.Embed], timeout: float = PAGER_TIMEOUT) -> None:
        super().__init__(timeout=timeout)
        self.pages = pages
        self.index = 0
        self._update()

    def _update(self) -> None:
        self.previous.disabled = self.index == 0
        self.next.disabled = self.index >= len(self.pages) - 1

    async def _show(self, interaction: discord.Interaction) -> None:
        self._update()
        await interaction.response.edit_message(embed=self.pages[self.index], view=self)

    @discord.ui.button(label="◀", style=discord.ButtonStyle.secondary)
    async def previous(self, interaction: discord.Interaction, button: discord.ui.Button) -> None:
        self.index = max(0, self.index - 1)
        await self._show(interaction)

    @discord.ui.button(label="▶", style=discord.ButtonStyle.secondary)
    async def next(self, interaction: discord.Interaction, button: discord.ui.Button) -> None:
        self.index = min(len(self.pages) - 1, self.index + 1)
        await self._show(interaction)


class DigestCog(commands.GroupCog, group_name="digest", group_description="The weekly AI paper digests"):
    def __init__(self, bot: "PaperBot") -> None:
        self.bot = bot
        super().__init__()

    @app_commands.command(name="show", description="Show a week's digest (the latest by default)")
    @app_commands.describe(week="Digest week, YYYY-MM-DD (autocompletes)")
    async def show(self, interaction: discord.Interaction, week: str | None = None) -> None:
        await interaction.response.defer(thinking=True)
        chosen, papers = await self.bot.blocking(self.bot.engine.week_papers, week)
        if chosen is None:
            weeks = await self.bot.blocking(self.bot.engine.weeks)
            hint = f" Known weeks: {', '.join(weeks[-6:])}." if weeks else " No digest has been ingested yet."
            await followup(interaction, f"There is no digest for that week.{hint}", ephemeral=True)
            return
        pages = digest_pages(chosen, papers)
        if len(pages) == 1:
            await followup(interaction, embed=pages[0], allowed_mentions=discord.AllowedMentions.none())
            return
        await followup(interaction, embed=pages[0], view=Pager(pages), allowed_mentions=discord.AllowedMentions.none())

    @show.autocomplete("week")
    async def week_autocomplete(self, interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        weeks = await self.bot.blocking(self.bot.engine.weeks)
        found = [w for w in reversed(weeks) if current.strip() in w]
        return [app_commands.Choice(name=w, value=w) for w in found[:25]]


async def setup(bot: "PaperBot") -> None:
    await bot.add_cog(DigestCog(bot))
