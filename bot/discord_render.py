"""Answers, paper cards and digest pages as Discord messages and embeds.

Discord rejects a whole message when any limit is exceeded, so every string that
goes into an embed is clipped here to its documented limit (title 256,
description 4096, 25 fields, field value 1024, 6000 per message in total), and
every piece of text from users or digests is made mention-inert.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Sequence

import discord

from bot.render import MESSAGE_LIMIT, neutralise_mentions, shorten, split_message
from bot.schedule import utc_text

if TYPE_CHECKING:
    from bot.state import Subscription
    from index.answer import Answer
    from index.freshness import SourceRecord
    from index.models import Paper

TITLE_LIMIT = 256
DESCRIPTION_LIMIT = 4096
FIELD_VALUE_LIMIT = 1024
FIELDS_LIMIT = 25
EMBED_TOTAL_LIMIT = 6000
FOOTER_LIMIT = 2048
ACCENT = discord.Colour(0x5865F2)
PAPERS_PER_PAGE = 8
THREAD_NAME_LIMIT = 100


@dataclass
class Outgoing:
    """One message to send: text and optionally one embed."""

    content: str | None
    embed: discord.Embed | None = None


def clip(text: str, limit: int) -> str:
    text = text.strip()
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


#: Discord server invites, with or without a scheme (Discord links both and shows an invite card).
_INVITE = re.compile(
    r"(?<![`\w.])(?:https?://)?(?:www\.)?(?:discord(?:app)?\.com/invite|discord\.gg|discord\.me|dsc\.gg)/[\w-]+",
    re.I,
)


def defuse_invites(text: str) -> str:
    """Show invite links as inline code: readable, but neither a link nor an invite card.

    Inline code rather than a broken link (a zero-width space inside it): the
    text stays exactly what the digest says, copyable by a reader who really
    wants it, and nothing about it is clickable, in message content and embeds alike.
    """
    return _INVITE.sub(lambda m: f"`{m.group(0)}`", text)


def is_invite(url: str | None) -> bool:
    return bool(url and _INVITE.match(url.strip()))


def link_target(url: str | None) -> str | None:
    """The URL to link a title to; never a Discord invite (digest text cannot make the bot advertise a server)."""
    return None if is_invite(url) else url


def safe(text: str) -> str:
    """User or digest text made inert: no pings, no invite links or previews."""
    return defuse_invites(neutralise_mentions(discord.utils.escape_mentions(text)))


def echo(text: str, limit: int) -> str:
    """A user's own input shown back to them (and the channel) as plain text:
    markdown, masked links, mentions and invites all inert; cut to ``limit`` characters
    before escaping, so an escape is never cut in half."""
    return safe(discord.utils.escape_markdown(clip(text, limit)))


def _md_link(title: str, url: str | None) -> str:
    title = title.replace("[", "(").replace("]", ")")
    url = link_target(url)
    return f"[{title}]({url})" if url else title


def answer_messages(answer: "Answer", limit: int = 2000) -> list[Outgoing]:
    """The answer text split under ``limit``, with the Sources embed on the last part."""
    text = answer.text
    if answer.notice:
        text = f"{text}\n\n-# {answer.notice}"
    parts = split_message(safe(text), limit)
    out = [Outgoing(content=p) for p in parts] or [Outgoing(content="…")]
    if answer.citations:
        out[-1].embed = sources_embed(answer)
    return out


def sources_embed(answer: "Answer") -> discord.Embed:
    title = "Nearest papers in the digests" if answer.abstained else "Sources"
    lines = []
    for c in answer.citations:
        line = f"`[{c.n}]` {_md_link(clip(safe(c.title), 200), c.url)}"
        if c.date:
            line += f" · {c.date}"
        lines.append(line)
    description = _join_within("\n", lines, DESCRIPTION_LIMIT)
    embed = discord.Embed(title=title, description=description, colour=ACCENT)
    if answer.weeks:
        embed.set_footer(text=clip("Digest weeks: " + ", ".join(answer.weeks), FOOTER_LIMIT))
    return embed


def paper_embed(paper: "Paper", did_you_mean: Sequence["Paper"] = ()) -> discord.Embed:
    """A paper card: linked title, date, authors, orgs, summary, topics, digest weeks."""
    embed = discord.Embed(
        title=clip(safe(paper.title), TITLE_LIMIT),
        url=link_target(paper.url) or None,
        description=clip(safe(shorten(paper.summary or paper.headline, 1500)), DESCRIPTION_LIMIT),
        colour=ACCENT,
    )
    if paper.date:
        embed.add_field(name="Date", value=paper.date, inline=True)
    if paper.arxiv_id:
        embed.add_field(name="arXiv", value=paper.arxiv_id, inline=True)
    if paper.authors:
        embed.add_field(name="Authors", value=clip(safe(", ".join(paper.authors)), FIELD_VALUE_LIMIT), inline=False)
    if paper.orgs:
        embed.add_field(name="Organisations", value=clip(safe(", ".join(paper.orgs)), FIELD_VALUE_LIMIT), inline=False)
    if paper.topics:
        embed.add_field(name="Topics", value=clip(safe(", ".join(paper.topics)), FIELD_VALUE_LIMIT), inline=False)
    if paper.weeks:
        embed.add_field(name="In the digests of", value=clip(", ".join(paper.weeks), FIELD_VALUE_LIMIT), inline=False)
    if did_you_mean:
        lines = [f"• {_md_link(clip(safe(p.title), 150), p.url)}" for p in did_you_mean[:5]]
        embed.add_field(name="Did you mean", value=_join_within("\n", lines, FIELD_VALUE_LIMIT), inline=False)
    return _fit(embed)


def digest_pages(week: str, papers: Sequence["Paper"], per_page: int = PAPERS_PER_PAGE) -> list[discord.Embed]:
    """A week's digest as embeds of ``per_page`` papers each, for paging buttons."""
    pages: list[discord.Embed] = []
    chunks = [papers[i : i + per_page] for i in range(0, len(papers), per_page)] or [[]]
    for number, chunk in enumerate(chunks, 1):
        embed = discord.Embed(title=clip(f"AI paper digest — week of {week}", TITLE_LIMIT), colour=ACCENT)
        for paper in chunk:
            blurb = shorten(paper.headline or paper.summary, 300) or "—"
            link = f"\n{defuse_invites(paper.url)}" if paper.url else ""
            embed.add_field(
                name=clip(safe(paper.title), TITLE_LIMIT),
                value=clip(safe(blurb) + link, FIELD_VALUE_LIMIT),
                inline=False,
            )
        if not chunk:
            embed.description = "No papers in this week's digest."
        embed.set_footer(text=f"Page {number}/{len(chunks)} · {len(papers)} papers · ask about them with /ask")
        pages.append(_fit(embed))
    return pages


@dataclass
class Announcement:
    """A week's digest as the bot posts it to a subscribed channel.

    The first message goes in the channel (heading, the week's top papers, how
    to ask about them); a thread is opened from it for questions, and the rest
    of the week's papers follow inside that thread so the channel stays tidy.
    ``paperbot announce --dry-run`` prints this same object.
    """

    week: str
    channel_message: Outgoing
    thread_name: str
    thread_messages: list[Outgoing] = field(default_factory=list)

    @property
    def messages(self) -> list[tuple[str, Outgoing]]:
        """Every message in posting order, with where it goes ("channel" or "thread")."""
        return [("channel", self.channel_message)] + [("thread", m) for m in self.thread_messages]


def announcement(week: str, papers: Sequence["Paper"], bot_name: str = "paperbot") -> Announcement:
    """The announcement of ``week``: digest pages, the first one in the channel."""
    pages = digest_pages(week, papers)
    count = len(papers)
    more = count - len(pages[0].fields)
    lines = [
        f"📰 **New AI paper digest: week of {week}** ({count} paper{'s' if count != 1 else ''})",
        f"Questions about them? Ask in the thread below and mention @{safe(bot_name)}, or use /ask anywhere.",
    ]
    if more > 0:
        lines.append(f"The other {more} papers are in the thread.")
    return Announcement(
        week=week,
        channel_message=Outgoing(content="\n".join(lines), embed=pages[0]),
        thread_name=clip(f"Questions about this week ({week})", THREAD_NAME_LIMIT),
        thread_messages=[Outgoing(content=None, embed=page) for page in pages[1:]],
    )


def message_text(message: Outgoing) -> str:
    """A message as plain text (content, then the embed's title, fields and footer),
    for printing what the bot would post."""
    lines = [message.content] if message.content else []
    embed = message.embed
    if embed is not None:
        if embed.title:
            lines.append(f"## {embed.title}" + (f" <{embed.url}>" if embed.url else ""))
        if embed.description:
            lines.append(embed.description)
        for f in embed.fields:
            value = (f.value or "").replace("\n", "\n  ")
            lines.append(f"- {f.name}\n  {value}")
        if embed.footer.text:
            lines.append(f"-- {embed.footer.text}")
    return "\n".join(lines)


@dataclass(frozen=True)
class DigestStatus:
    """Everything ``/digest status`` reports for one server."""

    schedule: str
    next_run: str
    subscriptions: Sequence["Subscription"]
    papers: int
    newest_week: str | None
    sources: Sequence[str]
    records: Sequence["SourceRecord"]
    poll_minutes: float


def status_text(status: DigestStatus) -> str:
    """``/digest status`` as one message: subscriptions and their problems, the
    next run, and how fresh the index is."""
    lines = [f"**Weekly digest**: posted {status.schedule}; next run {status.next_run}."]
    if status.subscriptions:
        lines.append("**Subscribed channels**")
        for sub in status.subscriptions:
            last = f"week of {sub.last_week} ({utc_text(sub.last_sent)})" if sub.last_week else "nothing yet"
            lines.append(f"• <#{sub.channel_id}>: last posted {last}")
            if sub.problem:
                lines.append(f"  ⚠️ {safe(sub.problem)} ({utc_text(sub.problem_at)})")
    else:
        lines.append("No channel here is subscribed: use `/digest subscribe` (needs Manage Server).")
    newest = f", newest digest week {status.newest_week}" if status.newest_week else ""
    lines.append(f"**Index**: {status.papers} papers{newest}.")
    if status.sources:
        ingested = [r.ingested_at for r in status.records if r.ingested_at]
        last = utc_text(max(ingested)) if ingested else "never"
        lines.append(
            f"**Sources**: {len(status.sources)} polled every {status.poll_minutes:g} min; last new content ingested {last}."
        )
        configured = set(status.sources)
        for record in status.records:
            if record.error and record.spec in configured:
                lines.append(f"  ⚠️ {safe(clip(record.spec, 120))}: {safe(record.error)} ({utc_text(record.failed_at)})")
    else:
        lines.append("**Sources**: none configured (PAPERBOT_SOURCES); digests are added with `paperbot ingest`.")
    return clip("\n".join(lines), MESSAGE_LIMIT)


def _join_within(sep: str, lines: Sequence[str], limit: int) -> str:
    out: list[str] = []
    size = 0
    for line in lines:
        extra = len(line) + (len(sep) if out else 0)
        if size + extra > limit:
            break
        out.append(line)
        size += extra
    return sep.join(out)


def _fit(embed: discord.Embed) -> discord.Embed:
    """Drop trailing fields until the embed is within Discord's 6000-character total."""
    while len(embed) > EMBED_TOTAL_LIMIT and embed.fields:
        embed.remove_field(len(embed.fields) - 1)
    while len(embed.fields) > FIELDS_LIMIT:
        embed.remove_field(len(embed.fields) - 1)
    return embed
