"""Answers, paper cards and digest pages as Discord messages and embeds.

Two rules hold for everything this module builds:

* Digest text is text.  Titles, summaries and organisation names come from
  markdown files anyone can write, so :func:`digest_text` (and, for answers,
  :func:`answer_markdown`) renders them inert: markdown escaped, masked links
  shown as their text and their real destination, URLs as inline code, bidi
  controls and zero-width characters dropped.  The only links in a message are
  the ones this module makes, to the papers' own URLs.
* Discord rejects a whole message when any embed limit is exceeded, so every
  embed passes :func:`within_limits` (title 256, description 4096, 25 fields of
  name 1-256 and value 1-1024, footer 2048, author 256, URLs 2048, 6000 in
  total) before it leaves this module; builders size their content to fit, and
  that check is the backstop.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import discord

from bot.render import MESSAGE_LIMIT, neutralise_mentions, paper_blurb, split_message
from bot.schedule import utc_text
from index import truncate

if TYPE_CHECKING:
    from bot.state import Subscription
    from index import Answer, Paper, SourceRecord

log = logging.getLogger(__name__)

TITLE_LIMIT = 256
DESCRIPTION_LIMIT = 4096
FIELD_VALUE_LIMIT = 1024
FIELDS_LIMIT = 25
EMBED_TOTAL_LIMIT = 6000
FOOTER_LIMIT = 2048
FIELD_NAME_LIMIT = 256
AUTHOR_LIMIT = 256
#: Discord refuses longer URLs in an embed (its link, author, footer icon, images).
URL_LIMIT = 2048
#: A link inside a list (Sources, "Did you mean") longer than this would crowd out
#: the other entries: the entry is shown by its title alone (``/paper`` links it).
INLINE_LINK_LIMIT = 512
ACCENT = discord.Colour(0x5865F2)
PAPERS_PER_PAGE = 8
THREAD_NAME_LIMIT = 100


@dataclass
class MessagePart:
    """One message to send: text and optionally one embed."""

    content: str | None
    embed: discord.Embed | None = None

    async def send_to(self, target: discord.abc.Messageable, **options: Any) -> discord.Message:
        """Post this part in ``target``; ``options`` are ``send``'s (view, reference,
        allowed_mentions).  No embed is sent as no ``embed`` argument at all."""
        if self.embed is None:
            return await target.send(content=self.content, **options)
        return await target.send(content=self.content, embed=self.embed, **options)


#: Discord server invites, with or without a scheme (Discord links both and shows an invite card).
_INVITE = re.compile(
    r"(?<![`\w./])(?:https?://)?(?:www\.)?(?:discord(?:app)?\.com/invite|discord\.gg|discord\.me|dsc\.gg)/[\w-]+",
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


def link_target(url: str | None, limit: int = URL_LIMIT) -> str | None:
    """The URL to link a paper's title to, or None: only a web URL Discord accepts
    (http(s), at most ``limit`` characters), never a Discord invite (digest text
    cannot make the bot advertise a server)."""
    url = (url or "").strip()
    if not url or is_invite(url) or len(url) > limit or not _WEB_URL.fullmatch(url):
        return None
    return url


def inert(text: str) -> str:
    """User or digest text made inert: no pings, no invite links or previews."""
    return defuse_invites(neutralise_mentions(discord.utils.escape_mentions(text)))


def shown_input(text: str, limit: int) -> str:
    """A user's own input shown back to them (and the channel) as plain text:
    markdown, masked links, mentions and invites all inert; cut to ``limit`` characters
    before escaping, so an escape is never cut in half."""
    return inert(discord.utils.escape_markdown(truncate(text, limit)))


# -- digest text as text ---------------------------------------------------------------------
#: Characters that reorder or hide text without being seen: bidi embeddings,
#: overrides and isolates (U+202A-E, U+2066-9), direction marks (U+200E/F, U+061C)
#: and zero-width characters (U+200B-D, U+2060-4, U+FEFF, U+180E).  A title with
#: U+202E shows its letters in an order the digest did not write.
_INVISIBLE = re.compile("[\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff\u061c\u180e]")
#: A markdown link, with a plain or angle-bracket destination and an optional title.
_MASKED_LINK = re.compile(r"\[([^\[\]\n]*)\]\(\s*<?([^\s<>()]*(?:\([^\s<>()]*\)[^\s<>()]*)*)>?(?:\s+[\"'][^\n]*?[\"'])?\s*\)")
#: Anything Discord could turn into a link: a scheme, ``://`` and what follows (also in ``<…>``).
_ANY_URL = re.compile(r"<?\b([a-z][a-z0-9+.\-]*://[^\s<>`]+)>?", re.I)
_WEB_URL = re.compile(r"https?://[^\s<>`\"]+", re.I)
#: Characters that start inline markdown (emphasis, strike, spoiler, code, links, escapes).
_INLINE_MARKDOWN = re.compile(r"([\\*_~|`\[\]])")
#: Spoilers and code: the markup that hides or restyles text even inside an answer.
_ANSWER_INLINE = re.compile(r"([|`])")
#: A line that Discord would show as a heading, subtext, quote or list item.
_LINE_MARKDOWN = re.compile(r"^([ \t]*)([#>+*\-]|\d+[.)])", re.M)
_ANSWER_LINE = re.compile(r"^([ \t]*)(#|>|-#)", re.M)


def strip_invisible(text: str) -> str:
    """``text`` without bidi controls and zero-width characters."""
    return _INVISIBLE.sub("", text)


def digest_text(text: str, *, one_line: bool = False) -> str:
    """Text from a digest (title, summary, organisation) as it must appear on
    Discord: exactly the words the digest wrote, none of its markup.

    Markdown is escaped (emphasis, spoilers, code fences, headings, quotes,
    lists); a masked link ``[text](url)`` becomes its text followed by its real
    destination; every URL is inline code, readable but not clickable; bidi
    controls and zero-width characters are dropped; mentions and invites are
    inert.  The paper's own link is added by the caller, never taken from here.
    ``one_line`` collapses line breaks (titles, field names).
    """
    text = strip_invisible(text)
    if one_line:
        text = " ".join(text.split())
    return inert(_defang(text, allowed=frozenset(), inline=_INLINE_MARKDOWN, line=_LINE_MARKDOWN))


def answer_markdown(text: str, links: Sequence[str | None]) -> str:
    """An answer's text (the engine's markdown, quoting digest text) made safe to post.

    The answer's own emphasis, lists and ``[n]`` citations stay; what could
    deceive goes: masked links and URLs that are not one of ``links`` (the cited
    papers' URLs) become text and inline code, spoilers and code are escaped,
    headings and quotes are flattened, invisible characters dropped.
    """
    allowed = frozenset(u for u in links if u)
    return inert(_defang(strip_invisible(text), allowed=allowed, inline=_ANSWER_INLINE, line=_ANSWER_LINE))


def _defang(text: str, *, allowed: frozenset[str], inline: re.Pattern[str], line: re.Pattern[str]) -> str:
    """Escape ``inline`` and ``line`` markdown in ``text``; links other than ``allowed`` become text."""

    def unmask(m: re.Match[str]) -> str:
        label, url = m.group(1), m.group(2)
        if url in allowed:
            return f"[{label.strip()}]({url})"
        return f"{label} ({url})" if url else label

    text = _MASKED_LINK.sub(unmask, text)
    out: list[str] = []
    last = 0
    for kind, start, end, piece in _link_spans(text, allowed):
        out.append(_escape(text[last:start], inline))
        out.append(piece if kind == "keep" else f"`{piece}`")
        last = end
    out.append(_escape(text[last:], inline))
    return line.sub(_escape_line_start, "".join(out))


def _link_spans(text: str, allowed: frozenset[str]) -> list[tuple[str, int, int, str]]:
    """Every URL in ``text`` as (``keep`` or ``code``, start, end, URL): an allowed
    link (bare, or as a masked link made by :func:`_defang`) is kept, any other
    URL is shown as code; angle brackets and trailing punctuation are left out."""
    spans: list[tuple[str, int, int, str]] = []
    kept = [(m.start(), m.end()) for m in re.finditer(r"\[[^\[\]\n]*\]\(([^)\s]+)\)", text) if m.group(1) in allowed]
    for m in _ANY_URL.finditer(text):
        if any(s <= m.start() < e for s, e in kept):
            continue
        url = _trim_url(m.group(1))
        start = m.start() if m.group(0).startswith("<") else m.start(1)
        end = m.end() if (m.group(0).endswith(">") and url == m.group(1)) else m.start(1) + len(url)
        spans.append(("keep" if url in allowed else "code", start, end, url))
    spans += [("keep", s, e, text[s:e]) for s, e in kept]
    return sorted(spans, key=lambda span: span[1])


def _trim_url(url: str) -> str:
    """A URL without the sentence punctuation after it (and without an unbalanced ")")."""
    while url and (url[-1] in ".,;:!?'\"*_~|" or (url[-1] == ")" and url.count("(") < url.count(")"))):
        url = url[:-1]
    return url


def _escape_line_start(m: re.Match[str]) -> str:
    """``# x`` → ``\\# x``; ``1. x`` → ``1\\. x`` (a backslash before a digit would show)."""
    indent, mark = m.group(1), m.group(2)
    if mark[0].isdigit():
        return f"{indent}{mark[:-1]}\\{mark[-1]}"
    return f"{indent}\\{mark}"


def _escape(text: str, inline: re.Pattern[str]) -> str:
    return inline.sub(r"\\\1", text)


def _md_link(title: str, url: str | None, limit: int = INLINE_LINK_LIMIT) -> str:
    """``title`` (already rendered text) linked to ``url`` when that is a usable
    link short enough to sit in a list; the title alone otherwise."""
    title = title.replace("[", "(").replace("]", ")").replace("\\(", "(").replace("\\)", ")")
    target = link_target(url, limit)
    if not target:
        return title
    target = target.replace("(", "%28").replace(")", "%29")
    return f"[{title}]({target})"


# -- messages and embeds ------------------------------------------------------------------------
def answer_messages(answer: Answer, limit: int = 2000) -> list[MessagePart]:
    """The answer text split under ``limit``, with the Sources embed on the last part."""
    text = answer_markdown(answer.text, [c.url for c in answer.citations])
    if answer.notice:
        text = f"{text}\n\n-# {digest_text(answer.notice, one_line=True)}"
    parts = split_message(text, limit)
    out = [MessagePart(content=p) for p in parts] or [MessagePart(content="…")]
    if answer.citations:
        out[-1].embed = sources_embed(answer)
    return out


def sources_embed(answer: Answer) -> discord.Embed:
    title = "Nearest papers in the digests" if answer.abstained else "Sources"
    lines = []
    for c in answer.citations:
        line = f"`[{c.n}]` {_md_link(digest_text(truncate(c.title, 200), one_line=True), c.url)}"
        if c.date:
            line += f" · {digest_text(c.date, one_line=True)}"
        lines.append(line)
    description = _join_within("\n", lines, DESCRIPTION_LIMIT)
    embed = discord.Embed(title=title, description=description or None, colour=ACCENT)
    if answer.weeks:
        embed.set_footer(text="Digest weeks: " + ", ".join(answer.weeks))
    return within_limits(embed)


def paper_embed(paper: Paper, did_you_mean: Sequence[Paper] = ()) -> discord.Embed:
    """A paper card: linked title, date, authors, orgs, summary, topics, digest weeks."""
    embed = discord.Embed(
        title=digest_text(truncate(paper.title, TITLE_LIMIT - 20), one_line=True) or "Untitled paper",
        url=link_target(paper.url),
        description=digest_text(truncate(paper.summary or paper_blurb(paper), 1500, at_sentence=True)) or None,
        colour=ACCENT,
    )
    if paper.date:
        embed.add_field(name="Date", value=digest_text(paper.date, one_line=True), inline=True)
    if paper.arxiv_id:
        embed.add_field(name="arXiv", value=digest_text(paper.arxiv_id, one_line=True), inline=True)
    if paper.authors:
        authors = digest_text(truncate(", ".join(paper.authors), FIELD_VALUE_LIMIT - 100), one_line=True)
        embed.add_field(name="Authors", value=authors, inline=False)
    if paper.orgs:
        orgs = digest_text(truncate(", ".join(paper.orgs), FIELD_VALUE_LIMIT - 100), one_line=True)
        embed.add_field(name="Organisations", value=orgs, inline=False)
    if paper.topics:
        topics = digest_text(truncate(", ".join(paper.topics), FIELD_VALUE_LIMIT - 100), one_line=True)
        embed.add_field(name="Topics", value=topics, inline=False)
    if paper.weeks:
        embed.add_field(name="In the digests of", value=", ".join(paper.weeks), inline=False)
    lines = [f"• {_md_link(digest_text(truncate(p.title, 150), one_line=True), p.url)}" for p in did_you_mean[:5]]
    maybe = _join_within("\n", lines, FIELD_VALUE_LIMIT)
    if maybe:
        embed.add_field(name="Did you mean", value=maybe, inline=False)
    return within_limits(embed)


def digest_pages(week: str, papers: Sequence[Paper], per_page: int = PAPERS_PER_PAGE) -> list[discord.Embed]:
    """A week's digest as embeds for paging buttons: every paper on exactly one page.

    A page holds at most ``per_page`` papers and closes early when the next
    paper would take it past Discord's 6000 characters per embed, so no paper
    is ever dropped to fit; each footer says which papers of how many it shows.
    """
    title = truncate(f"AI paper digest — week of {week}", TITLE_LIMIT)
    fields = [_digest_field(paper) for paper in papers]
    budget = EMBED_TOTAL_LIMIT - len(title) - 120  # the footer and a margin
    chunks: list[list[tuple[str, str]]] = [[]]
    size = 0
    for name, value in fields:
        cost = len(name) + len(value)
        if chunks[-1] and (len(chunks[-1]) >= per_page or size + cost > budget):
            chunks.append([])
            size = 0
        chunks[-1].append((name, value))
        size += cost
    pages: list[discord.Embed] = []
    first = 1
    for number, chunk in enumerate(chunks, 1):
        embed = discord.Embed(title=title, colour=ACCENT)
        for name, value in chunk:
            embed.add_field(name=name, value=value, inline=False)
        if not chunk:
            embed.description = "No papers in this week's digest."
        last = first + len(chunk) - 1
        shown = f"papers {first}–{last} of {len(papers)}" if len(chunk) > 1 else f"paper {first} of {len(papers)}"
        if len(chunks) == 1:
            shown = f"{len(papers)} paper{'s' if len(papers) != 1 else ''}"
        embed.set_footer(text=f"Page {number}/{len(chunks)} · {shown} · ask about them with /ask")
        pages.append(within_limits(embed))
        first = last + 1
    return pages


def _digest_field(paper: Paper) -> tuple[str, str]:
    """One paper on a digest page: its title as the field name; its blurb and link as the value.

    A link too long for the field is left out rather than cut (a cut URL leads
    somewhere else): ``/paper`` shows it as the card's link.
    """
    name = digest_text(truncate(paper.title, FIELD_NAME_LIMIT - 40), one_line=True) or "Untitled paper"
    blurb = digest_text(truncate(paper_blurb(paper), 300, at_sentence=True)) or "—"
    url = paper.url
    if url and is_invite(url):
        return name, f"{blurb}\n{defuse_invites(url)}"
    target = link_target(url, FIELD_VALUE_LIMIT - len(blurb) - 1)
    if target:
        return name, f"{blurb}\n{target}"
    if link_target(url):
        return name, f"{blurb}\n_(link too long to show here: /paper links it)_"
    return name, blurb


@dataclass
class Announcement:
    """A week's digest as the bot posts it to a subscribed channel.

    The first message goes in the channel (heading, the week's top papers, how
    to ask about them); a thread is opened from it for questions, and the rest
    of the week's papers follow inside that thread so the channel stays tidy.
    ``paperbot announce --dry-run`` prints this same object.
    """

    week: str
    channel_message: MessagePart
    thread_name: str
    thread_messages: list[MessagePart] = field(default_factory=list)

    @property
    def messages(self) -> list[tuple[str, MessagePart]]:
        """Every message in posting order, with where it goes ("channel" or "thread")."""
        return [("channel", self.channel_message)] + [("thread", m) for m in self.thread_messages]


def announcement(week: str, papers: Sequence[Paper], bot_name: str = "paperbot") -> Announcement:
    """The announcement of ``week``: digest pages, the first one in the channel."""
    pages = digest_pages(week, papers)
    count = len(papers)
    more = count - len(pages[0].fields)
    lines = [
        f"📰 **New AI paper digest: week of {week}** ({count} paper{'s' if count != 1 else ''})",
        f"Questions about them? Ask in the thread below and mention @{inert(bot_name)}, or use /ask anywhere.",
    ]
    if more > 0:
        lines.append(f"The other {more} papers are in the thread.")
    return Announcement(
        week=week,
        channel_message=MessagePart(content="\n".join(lines), embed=pages[0]),
        thread_name=truncate(f"Questions about this week ({week})", THREAD_NAME_LIMIT),
        thread_messages=[MessagePart(content=None, embed=page) for page in pages[1:]],
    )


def message_text(message: MessagePart) -> str:
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
    subscriptions: Sequence[Subscription]
    papers: int
    newest_week: str | None
    sources: Sequence[str]
    records: Sequence[SourceRecord]
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
                lines.append(f"  ⚠️ {inert(sub.problem)} ({utc_text(sub.problem_at)})")
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
                lines.append(f"  ⚠️ {inert(truncate(record.spec, 120))}: {inert(record.error)} ({utc_text(record.failed_at)})")
    else:
        lines.append("**Sources**: none configured (PAPERBOT_SOURCES); digests are added with `paperbot ingest`.")
    return truncate("\n".join(lines), MESSAGE_LIMIT)


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


def within_limits(embed: discord.Embed) -> discord.Embed:
    """The embed as Discord accepts it: the one check every embed passes before it is sent.

    Discord answers 400 to the whole message when one part of one embed is out
    of bounds, so strings are clipped to their limits, a URL Discord would refuse
    is dropped, fields with an empty name or value are removed, at most 25 are
    kept and trailing fields go until the total is at most 6000.  Builders size
    their content to fit; anything this has to remove is a rendering bug, logged.
    """
    if embed.title is not None:
        embed.title = truncate(embed.title, TITLE_LIMIT) or None
    if embed.description is not None:
        embed.description = truncate(embed.description, DESCRIPTION_LIMIT) or None
    if embed.url is not None and link_target(embed.url) != embed.url:
        log.warning("embed %r: dropped a link Discord would refuse (%d characters)", embed.title, len(embed.url))
        embed.url = None
    if embed.author.name is not None:
        author_url = link_target(embed.author.url)
        embed.set_author(
            name=truncate(embed.author.name, AUTHOR_LIMIT) or "—", url=author_url, icon_url=link_target(embed.author.icon_url)
        )
    if embed.footer.text is not None or embed.footer.icon_url is not None:
        text = truncate(embed.footer.text or "", FOOTER_LIMIT) or None
        embed.set_footer(text=text, icon_url=link_target(embed.footer.icon_url))
    fields = [
        (truncate(f.name or "", FIELD_NAME_LIMIT), truncate(f.value or "", FIELD_VALUE_LIMIT), bool(f.inline))
        for f in embed.fields
    ]
    kept = [f for f in fields if f[0] and f[1]]
    if len(kept) != len(fields):
        log.warning("embed %r: dropped %d field(s) with an empty name or value", embed.title, len(fields) - len(kept))
    if len(kept) > FIELDS_LIMIT:
        log.warning("embed %r: %d fields, keeping the first %d", embed.title, len(kept), FIELDS_LIMIT)
        kept = kept[:FIELDS_LIMIT]
    embed.clear_fields()
    for name, value, inline in kept:
        embed.add_field(name=name, value=value, inline=inline)
    while len(embed) > EMBED_TOTAL_LIMIT and embed.fields:
        log.warning("embed %r: %d characters, more than %d; dropping its last field", embed.title, len(embed), EMBED_TOTAL_LIMIT)
        embed.remove_field(len(embed.fields) - 1)
    if len(embed) > EMBED_TOTAL_LIMIT and embed.description:
        embed.description = truncate(embed.description, max(1, len(embed.description) - (len(embed) - EMBED_TOTAL_LIMIT)))
    return embed
