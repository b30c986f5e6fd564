"""Text rendering shared by the terminal (CLI, local chat) and Discord.

One formatter for every front end keeps what a user reads in the terminal the
same as what they read on Discord.  Nothing here imports discord: the Discord
layer turns these strings into messages and embeds, and this module enforces
the limits that make those valid (2000 characters per message, splitting only
at paragraph or sentence boundaries, never inside a link or a citation).  The
terminal gets the answers' markdown rendered (:func:`markdown_for_terminal`).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

from index import truncate

if TYPE_CHECKING:
    from index import Answer, Paper

MESSAGE_LIMIT = 2000

_MENTION = re.compile(r"@(everyone|here)|<@[!&]?\d+>|<#\d+>")
_LINK = re.compile(r"\[[^\]\n]*\]\([^)\s]*\)|https?://\S+|\[\d+(?:\s*,\s*\d+)*\]")


# Inline markdown, as answers write it (the extractive answerer's ``**title** [1]`` and
# ``_From the digest of ..._``, and whatever an LLM adds): code first, so nothing
# inside backticks is read as emphasis; a backslash escape is a literal character.
_MD_INLINE = re.compile(
    r"(?P<code>`+)(?P<code_text>.+?)(?P=code)"
    r"|\\(?P<escaped>[\\`*_{}\[\]()#+\-.!|~>])"
    r"|\[(?P<link_text>[^\]\n]+)\]\(<?(?P<link_url>[^)\s>]+)>?(?:\s+\"[^\"]*\")?\)"
    r"|<(?P<autolink>https?://[^>\s]+)>"
    r"|(?P<strong>\*\*|__)(?P<strong_text>(?:(?!(?P=strong)).)+?)(?P=strong)"
    r"|(?<![\w*])(?P<em>[*_])(?P<em_text>[^\s*_](?:[^*_\n]*[^\s*_])?)(?P=em)(?![\w*])"
    r"|~~(?P<strike_text>.+?)~~"
)
_MD_HEADING = re.compile(r"^#{1,6}\s+(.*?)\s*#*\s*$")
_MD_BULLET = re.compile(r"^(\s*)[*+-]\s+")


class Styler(Protocol):
    def bold(self, text: str) -> str: ...
    def dim(self, text: str) -> str: ...
    def cyan(self, text: str) -> str: ...
    def yellow(self, text: str) -> str: ...


class Plain:
    """No styling; the default for Discord and captured output."""

    def bold(self, text: str) -> str:
        return text

    def dim(self, text: str) -> str:
        return text

    def cyan(self, text: str) -> str:
        return text

    def yellow(self, text: str) -> str:
        return text


def neutralise_mentions(text: str) -> str:
    """Make @everyone, @here and <@id> mentions inert text (a zero-width space
    after the @ or <), whatever ``allowed_mentions`` a later layer sets."""
    return _MENTION.sub(lambda m: m.group(0)[0] + "\u200b" + m.group(0)[1:], text)


def markdown_for_terminal(text: str, style: Styler | None = None) -> str:
    """Discord-style markdown as a terminal shows it: emphasis as bold or dim text
    (plain when not on a terminal), never the raw ``**`` and ``_``; a link as
    "text (url)" so the address stays readable and clickable; headings bold;
    bullets as "•"; backslash escapes resolved."""
    s = style or Plain()

    def inline(line: str) -> str:
        def replace(m: re.Match[str]) -> str:
            if m.group("code") is not None:
                return m.group("code_text").strip()
            if m.group("escaped") is not None:
                return m.group("escaped")
            if m.group("link_text") is not None:
                label, url = inline(m.group("link_text")), m.group("link_url")
                return s.cyan(url) if label.strip() in (url, "") else f"{label} ({s.cyan(url)})"
            if m.group("autolink") is not None:
                return s.cyan(m.group("autolink"))
            if m.group("strong_text") is not None:
                return s.bold(inline(m.group("strong_text")))
            if m.group("em_text") is not None:
                return s.dim(inline(m.group("em_text")))
            return inline(m.group("strike_text"))

        return _MD_INLINE.sub(replace, line)

    lines = []
    for line in text.splitlines():
        heading = _MD_HEADING.match(line)
        if heading:
            lines.append(s.bold(inline(heading.group(1))))
            continue
        bullet = _MD_BULLET.match(line)
        if bullet:
            line = f"{bullet.group(1)}• {line[bullet.end():]}"
        lines.append(inline(line))
    return "\n".join(lines)


def unknown_week_text(week: str, weeks: Sequence[str]) -> str:
    """Why ``week`` has no digest, and the known weeks nearest to it.  Weeks are
    named by their closing Sunday (index/digests.py), which people rarely guess."""
    if not weeks:
        return f"no digest for the week {week}: no digest has been ingested yet"
    try:
        day = dt.date.fromisoformat(week)
    except ValueError:
        return f"no digest for the week {week!r}: weeks are written YYYY-MM-DD; known weeks: {', '.join(weeks[-4:])}"

    def distance(known: str) -> int:
        try:
            return abs((dt.date.fromisoformat(known) - day).days)
        except ValueError:
            return 1 << 30

    nearest = sorted(sorted(weeks, key=distance)[:2])
    sunday = "" if day.weekday() == 6 else f" ({week} is a {day:%A}; weeks are named by their closing Sunday)"
    return f"no digest for the week {week}{sunday}; nearest known weeks: {', '.join(nearest)}"


def answer_text(answer: Answer, style: Styler | None = None, with_sources: bool = True) -> str:
    """An answer for a terminal: the cited answer (its markdown rendered), a notice
    if any, then numbered sources with their links."""
    s = style or Plain()
    parts = [markdown_for_terminal(answer.text.strip(), s)]
    if answer.notice:
        parts.append(s.yellow(f"Note: {answer.notice}"))
    if with_sources and answer.citations:
        label = "Nearest papers:" if answer.abstained else "Sources:"
        lines = [s.bold(label)]
        for c in answer.citations:
            link = f" — {s.cyan(c.url)}" if c.url else ""
            lines.append(f"[{c.n}] {c.title}{link}")
        parts.append("\n".join(lines))
    return "\n\n".join(parts)


def paper_card_text(paper: Paper, style: Styler | None = None) -> str:
    """Everything a paper card shows, as text."""
    s = style or Plain()
    lines = [s.bold(paper.title)]
    if paper.url:
        lines.append(s.cyan(paper.url))
    if paper.authors:
        lines.append(f"Authors: {', '.join(paper.authors)}")
    facts = [f for f in (paper.date, ", ".join(paper.orgs)) if f]
    if facts:
        lines.append(s.dim(" · ".join(facts)))
    if paper.summary:
        lines.append("")
        lines.append(truncate(paper.summary, 900, at_sentence=True))
    if paper.topics:
        lines.append("")
        lines.append(f"Topics: {', '.join(paper.topics)}")
    if paper.weeks:
        lines.append(s.dim(f"In the digests of: {', '.join(paper.weeks)}"))
    return "\n".join(lines)


def split_message(text: str, limit: int = MESSAGE_LIMIT) -> list[str]:
    """Split text into messages of at most ``limit`` characters.

    Prefers paragraph breaks, then line breaks, then sentence ends, then spaces;
    a markdown link, URL or citation marker is never cut in two.
    """
    text = text.strip()
    chunks: list[str] = []
    while len(text) > limit:
        cut = _best_cut(text, limit)
        chunks.append(text[:cut].rstrip())
        text = text[cut:].lstrip()
    if text:
        chunks.append(text)
    return chunks


def _best_cut(text: str, limit: int) -> int:
    protected = [(m.start(), m.end()) for m in _LINK.finditer(text, 0, limit + 200)]

    def outside_links(i: int) -> bool:
        return all(not (start < i < end) for start, end in protected)

    window = text[:limit]
    for pattern in ("\n\n", "\n", ". ", "! ", "? ", "; ", ", ", " "):
        i = window.rfind(pattern)
        while i > limit // 4:
            cut = i + len(pattern.rstrip(" ")) if pattern.strip() else i + len(pattern)
            if outside_links(cut):
                return cut
            i = window.rfind(pattern, 0, i)
    for i in range(limit, limit // 4, -1):
        if outside_links(i):
            return i
    return limit


def paper_blurb(paper: Paper) -> str:
    """What a digest page says about a paper: its headline, unless the headline
    only repeats the title (digests whose bold lead is the linked title), else
    its summary."""
    if paper.headline and _letters(paper.headline) != _letters(paper.title):
        return paper.headline
    return paper.summary or paper.headline


def _letters(text: str) -> str:
    return "".join(ch for ch in text.lower() if ch.isalnum())
