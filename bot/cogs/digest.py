"""``/digest``: browse the weekly digests and manage their announcements.

* ``show [week]``: a week's digest as embeds, paged with buttons;
* ``subscribe channel:`` / ``unsubscribe channel:`` (Manage Server): which
  channels receive each new week;
* ``status``: subscriptions and their problems, the next run, index freshness.

Every ``/digest`` subcommand lives here because discord.py binds a command group
to one cog; the posting itself is the background job in ``bot/cogs/announce.py``,
which shares only the durable state with this cog.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.app import CANNOT_SEE_CHANNEL, UserFacingError, followup
from bot.discord_render import DigestStatus, digest_pages, status_text
from bot.schedule import WeeklySlot, utc_text
from index import StoreUnavailable

if TYPE_CHECKING:
    from bot.app import PaperBot

log = logging.getLogger(__name__)

PAGER_TIMEOUT = 600

#: What the bot needs in a channel to post the digest and open its thread.
NEEDED_PERMISSIONS = {
    "view_channel": "View Channel",
    "send_messages": "Send Messages",
    "embed_links": "Embed Links",
    "create_public_threads": "Create Public Threads",
    "send_messages_in_threads": "Send Messages in Threads",
}


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
    def __init__(self, bot: PaperBot) -> None:
        self.bot = bot
        self.slot = WeeklySlot.from_settings(bot.settings.announce_weekday, bot.settings.announce_time)
        super().__init__()

    @app_commands.command(name="show", description="Show a week's digest (the latest by default)")
    @app_commands.describe(week="Digest week, YYYY-MM-DD (autocompletes)")
    async def show(self, interaction: discord.Interaction, week: str | None = None) -> None:
        await interaction.response.defer(thinking=True)
        chosen, papers = await self.bot.to_thread(self.bot.engine.week_papers, week)
        if chosen is None:
            weeks = await self.bot.to_thread(self.bot.engine.weeks)
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
        try:
            weeks = await self.bot.to_thread(self.bot.engine.weeks)
        except StoreUnavailable:
            return []
        wanted = current.strip()[:20]
        found = [w for w in reversed(weeks) if wanted in w]
        return [app_commands.Choice(name=w, value=w) for w in found[:25]]

    # -- announcements -----------------------------------------------------------------
    @app_commands.command(name="subscribe", description="Post each new weekly digest in a channel (needs Manage Server)")
    @app_commands.describe(channel="The channel that gets the weekly digest")
    @app_commands.checks.has_permissions(manage_guild=True)
    async def subscribe(self, interaction: discord.Interaction, channel: discord.TextChannel) -> None:
        _same_server(interaction, channel)
        new = await self.bot.to_thread(self.bot.state.subscribe, channel.guild.id, channel.id, interaction.user.id)
        if new:
            text = f"Subscribed {channel.mention}: each new weekly digest will be posted there, {self.slot.describe()}."
        else:
            text = f"{channel.mention} is already subscribed."
        me = channel.guild.me
        granted = channel.permissions_for(me) if me is not None else discord.Permissions.none()
        missing = [name for flag, name in NEEDED_PERMISSIONS.items() if not getattr(granted, flag)]
        if missing:
            them = "it" if len(missing) == 1 else "them"
            text += f"\n⚠️ I'm missing {', '.join(missing)} in {channel.mention}: please grant {them} before the next digest."
        await interaction.response.send_message(text, ephemeral=True, allowed_mentions=discord.AllowedMentions.none())

    @app_commands.command(name="unsubscribe", description="Stop posting the weekly digest in a channel (needs Manage Server)")
    @app_commands.describe(channel="The channel that should stop getting the digest")
    @app_commands.checks.has_permissions(manage_guild=True)
    async def unsubscribe(self, interaction: discord.Interaction, channel: discord.TextChannel) -> None:
        _same_server(interaction, channel)
        removed = await self.bot.to_thread(self.bot.state.unsubscribe, channel.id)
        text = (
            f"Unsubscribed {channel.mention}: no more digests will be posted there."
            if removed
            else f"{channel.mention} was not subscribed."
        )
        await interaction.response.send_message(text, ephemeral=True, allowed_mentions=discord.AllowedMentions.none())

    @app_commands.command(name="status", description="Digest subscriptions here, the next post, and how fresh the index is")
    async def status(self, interaction: discord.Interaction) -> None:
        if interaction.guild_id is None:
            raise UserFacingError("Digest subscriptions belong to a server: run this in one of its channels.")
        await interaction.response.defer(ephemeral=True, thinking=True)
        bot = self.bot
        subscriptions = await bot.to_thread(bot.state.subscriptions, interaction.guild_id)
        records = await bot.to_thread(bot.engine.source_records)
        stats = await bot.to_thread(bot.engine.stats)
        report = DigestStatus(
            schedule=self.slot.describe(),
            next_run=await self._next_run(),
            subscriptions=subscriptions,
            papers=stats.papers,
            newest_week=stats.weeks[-1] if stats.weeks else None,
            sources=bot.settings.sources,
            records=records,
            poll_minutes=bot.settings.poll_minutes,
        )
        await interaction.followup.send(status_text(report), ephemeral=True, allowed_mentions=discord.AllowedMentions.none())

    async def _next_run(self) -> str:
        now = self.bot.clock()
        stored = await self.bot.to_thread(self.bot.state.last_slot)
        if stored is None or self.slot.latest(now) > datetime.fromisoformat(stored):
            return "due now"
        return utc_text(self.slot.next(now))


def _same_server(interaction: discord.Interaction, channel: discord.TextChannel) -> None:
    """Managing this server's subscriptions never reaches another server's channel,
    even one the bot is in (Discord's client offers none, a crafted request might)."""
    if channel.guild.id != interaction.guild_id:
        raise UserFacingError(CANNOT_SEE_CHANNEL)


async def setup(bot: PaperBot) -> None:
    await bot.add_cog(DigestCog(bot))
