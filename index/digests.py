"""Markdown digest → :class:`Paper` records.

Three steps, one place each: :mod:`index.markdown` reads the markdown into
blocks (headings, paragraphs, list items, table rows); this module finds the
*paper units* among them and their fields; :mod:`index.identity` merges the
mentions of one paper.

A paper unit is a list item, a table row, or a heading with the blocks under it
(``### Title`` then ``**Authors:**``, a links line and the abstract).  Its title
is the paper's own title when the text gives one (a linked title, a heading, a
title column, a quoted title after "published a [paper](url)"), else the
digest's headline (the bold lead); the other is kept as an alias.  Dated
headings (often without a year) give the week.  What is not a paper (a table of
contents, "trends of the week" lists, items without a link in a section whose
papers have links) is reported as skipped with the reason.  It never raises on
any text: what it cannot use becomes a :class:`Skipped` entry.

Every regex here is linear-time (no nested quantifiers over the same text) and
per-unit text is capped.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import re
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from index.identity import merge_papers, normalise_title
from index.markdown import Block, parse_blocks
from index.models import Mention, Paper, ParseResult, Skipped
from index.topics import derive_topics

__all__ = ["arxiv_id_from_url", "canonical_url", "merge_papers", "normalise_title", "paper_id_for", "parse_digest"]

log = logging.getLogger(__name__)

MAX_ITEM_CHARS = 50_000
#: Longer "titles" mean the split into title and text went wrong: such a unit is reported, not indexed.
MAX_TITLE_CHARS = 300

_MONTHS = {
    name: i
    for i, names in enumerate(
        [("jan", "january"), ("feb", "february"), ("mar", "march"), ("apr", "april"), ("may",), ("jun", "june"),
         ("jul", "july"), ("aug", "august"), ("sep", "sept", "september"), ("oct", "october"),
         ("nov", "november"), ("dec", "december")],
        1,
    )
    for name in names
}
_MONTH_RE = (
    r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?"
    r"|sept?(?:ember)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)"
)
_DAY_MONTH_YEAR = re.compile(rf"\b(\d{{1,2}})(?:st|nd|rd|th)?\s+({_MONTH_RE})\.?,?(?:\s+(\d{{4}}))?\b", re.I)
_MONTH_DAY_YEAR = re.compile(rf"\b({_MONTH_RE})\.?\s+(\d{{1,2}})(?:st|nd|rd|th)?\b,?(?:\s+(\d{{4}}))?", re.I)
_ISO_DATE = re.compile(r"\b(\d{4})-(\d{2})-(\d{2})\b")
_YEAR = re.compile(r"\b(20\d{2})\b")

_LINK = re.compile(r"\[([^\[\]\n]{0,500})\]\((https?://[^()\s]{1,2000})\)")
_BARE_URL = re.compile(r"https?://[^\s<>()\[\]]{1,2000}")
_BOLD = re.compile(r"\*\*\*(.{1,5000}?)\*\*\*|\*\*(.{1,5000}?)\*\*|__(.{1,2000}?)__", re.S)
#: A quoted title shortly after a link: "[paper](url) “Title”", "[paper](url) on Science “Title”".
_QUOTED_AFTER_LINK = re.compile(r"[ \t:,–-]*[^“\"\n.\[\]]{0,40}?[“\"]([^”\"\n]{3,400})[”\"]")
_ARXIV = re.compile(
    r"^(?:https?://)?(?:www\.|export\.)?(?:arxiv\.org/(?:abs|pdf|html)/|huggingface\.co/papers/)"
    r"(\d{4}\.\d{4,5})(?:v\d+)?(?:\.pdf)?/?$",
    re.I,
)
_ARXIV_YYMM = re.compile(r"arxiv\.org/(?:abs|pdf|html)/(\d{4})\.\d{4,5}", re.I)
_HTML = re.compile(r"<br\s*/?>|</?(?:b|i|em|strong|p|span|div|sup|sub)\b[^>]{0,200}>", re.I)
_PUBLISH_VERB = (
    r"(?:published|released|introduced|proposed|presented|announced|unveiled|posted|shared|developed|propose|introduce)"
)
_ORG_LEAD = re.compile(
    rf"^\s*(?:{_MONTH_RE}\.?\s+\d{{1,2}}(?:st|nd|rd|th)?,?\s+(?:\d{{4}},?\s+)?)?(.{{2,300}}?)\s+(?:have\s+|has\s+|jointly\s+)?{_PUBLISH_VERB}\b",
    re.I,
)
_POSSESSIVE = re.compile(r"^([A-Z][\w.&-]{1,40}(?:\s(?:[A-Z][\w.&-]{0,40}|and|of|&)){0,5})[’']s\b")
_ON_QUOTE = re.compile(r"^([A-Z].{1,200}?)\s+on\s+[“\"]")
_CORP_SUFFIXES = frozenset({"inc", "ltd", "llc", "corp", "co", "gmbh", "plc"})
_TRACKING = ("utm_", "_bhlid", "ref", "fbclid", "gclid")
_NON_ORG = frozenset({"a", "an", "the", "this", "this paper", "the paper", "the study", "a paper", "researchers", "a new paper",
                      "the authors", "authors", "a study", "a new study", "it", "they", "we", "others", "collaborators"})


# -- urls and ids ------------------------------------------------------------------------
def arxiv_id_from_url(url: str | None) -> str | None:
    """The bare arXiv id (no version) of an arXiv or Hugging Face papers URL."""
    if not url:
        return None
    m = _ARXIV.match(url.strip())
    return m.group(1) if m else None


def canonical_url(url: str | None) -> str | None:
    """arXiv links → ``https://arxiv.org/abs/ID``; others https, tracking params removed."""
    if not url:
        return None
    url = url.strip().rstrip(".,;")
    arxiv = arxiv_id_from_url(url)
    if arxiv:
        return f"https://arxiv.org/abs/{arxiv}"
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None
    query = urlencode([(k, v) for k, v in parse_qsl(parts.query) if not k.lower().startswith(_TRACKING)])
    return urlunsplit(("https", parts.netloc.lower(), parts.path, query, ""))


def paper_id_for(arxiv_id: str | None, title: str) -> str:
    """Stable id from content: arXiv id (when known) plus a short hash of the title."""
    norm = normalise_title(title) or title.strip().lower()
    digest = hashlib.sha1(norm.encode("utf-8")).hexdigest()[:6]
    if arxiv_id:
        return f"{arxiv_id}-{digest}"
    slug = "-".join(norm.split()[:6])[:48].strip("-") or "paper"
    return f"{slug}-{digest}"


# -- dates -----------------------------------------------------------------------------
@dataclass
class _Date:
    month: int
    day: int
    year: int | None

    def resolve(self, near: dt.date | None, default_year: int) -> dt.date | None:
        """The date, taking a missing year from ``near`` (the closest candidate wins)."""
        if self.year:
            return _safe_date(self.year, self.month, self.day)
        if near is None:
            return _safe_date(default_year, self.month, self.day)
        candidates = [d for y in (near.year - 1, near.year, near.year + 1) if (d := _safe_date(y, self.month, self.day))]
        return min(candidates, key=lambda d: abs((d - near).days)) if candidates else None


def _safe_date(year: int, month: int, day: int) -> dt.date | None:
    try:
        return dt.date(year, month, day)
    except ValueError:
        return None


def _find_dates(text: str) -> list[tuple[int, _Date]]:
    """Every date in ``text`` with its position: ISO, "Oct 3, 2024", "31st July 2024"."""
    found: list[tuple[int, _Date]] = []
    for m in _ISO_DATE.finditer(text):
        found.append((m.start(), _Date(int(m.group(2)), int(m.group(3)), int(m.group(1)))))
    for m in _MONTH_DAY_YEAR.finditer(text):
        found.append(
            (m.start(), _Date(_MONTHS[m.group(1).lower().rstrip(".")], int(m.group(2)), int(m.group(3)) if m.group(3) else None))
        )
    for m in _DAY_MONTH_YEAR.finditer(text):
        found.append(
            (m.start(), _Date(_MONTHS[m.group(2).lower().rstrip(".")], int(m.group(1)), int(m.group(3)) if m.group(3) else None))
        )
    found.sort(key=lambda x: x[0])
    valid = [(p, d) for p, d in found if 1 <= d.month <= 12 and 1 <= d.day <= 31]
    if valid and all(d.year is None for _p, d in valid):
        year = _YEAR.search(text)
        if year:
            for _p, d in valid:
                d.year = int(year.group(1))
    return valid


def _sunday_ending(day: dt.date) -> dt.date:
    return day + dt.timedelta(days=(6 - day.weekday()))


# -- paper units ---------------------------------------------------------------------------
_ANCHOR = re.compile(r"\[([^\[\]\n]{0,500})\]\(#[^()\s]{0,200}\)")
_NUMBERING = re.compile(r"^\s{0,3}(?:\(?\d{1,4}[.)]|[ivxIVX]{1,5}[.)])\s+")
_AUTHORS = re.compile(r"^(?:\*\*)?\s*(?:authors?|by)\s*(?::\s*\*\*|\*\*\s*:|:)\s*(.+)$", re.I | re.S)
_FRONT_MATTER = re.compile(r"\A---[ \t]*\n(.{0,4000}?)\n---[ \t]*(?:\n|\Z)", re.S)
#: Headings of lists that are about the digest, not papers in it.
_NOT_PAPERS = re.compile(
    r"\b(?:contents|toc|trends?|takeaways?|categories|navigation|in this (?:issue|edition)|sponsors?|subscribe|about)\b", re.I
)
#: Link labels and hosts that say "this is the paper" (a heading followed by such a line is a paper).
_PAPER_LABEL = re.compile(r"^(?:arxiv|pdf|paper|abs|abstract|doi|openreview|html|hugging ?face|hf)\b", re.I)
_PAPER_HOST = re.compile(
    r"https?://(?:www\.)?(?:arxiv\.org|doi\.org|openreview\.net|huggingface\.co/papers|aclanthology\.org|proceedings\.)", re.I
)
_SOCIAL = re.compile(
    r"https?://(?:www\.|mobile\.)?(?:twitter\.com|x\.com|t\.co|linkedin\.com|youtube\.com|youtu\.be|facebook\.com|threads\.net|bsky\.app)/",
    re.I,
)


@dataclass
class _Section:
    """A dated heading: the week of the papers under it."""

    line: int
    dates: list[_Date]
    week: dt.date | None = None


@dataclass
class _Unit:
    """One candidate paper: a list item, a table row, or a heading with its blocks."""

    kind: str  # "item" | "row" | "heading"
    line: int
    section: _Section | None
    #: Which stretch between two headings it is in, and that stretch's heading.
    segment: int
    heading: str
    text: str = ""
    body: list[str] = field(default_factory=list)
    cells: dict[str, str] = field(default_factory=dict)

    def full_text(self) -> str:
        parts = [self.text, *self.body, *self.cells.values()]
        return "\n".join(p for p in parts if p)[:MAX_ITEM_CHARS]


@dataclass
class _Fields:
    """What a unit says about its paper, before it becomes a :class:`Paper`."""

    title: str
    own_title: bool
    urls: list[str]
    preferred_url: str | None = None
    headline: str = ""
    alias: str = ""
    summary: str = ""
    authors: list[str] = field(default_factory=list)
    orgs: list[str] = field(default_factory=list)
    topics: list[str] = field(default_factory=list)
    date_text: str = ""


def parse_digest(text: str, source: str) -> ParseResult:
    """Parse one digest's text; never raises."""
    result = ParseResult()
    try:
        _parse(text, source, result)
    except Exception as exc:  # a parser bug must not take an ingest down
        log.exception("parsing %s failed", source)
        result.skipped.append(Skipped(source, None, f"parser error: {type(exc).__name__}"))
    return result


def _parse(text: str, source: str, result: ParseResult) -> None:
    default_week = _front_matter_week(text) or _file_name_week(source)
    sections, units = _find_units(parse_blocks(text), source, result)
    _resolve_weeks(sections, units, source)
    linked = {u.segment for u in units if u.kind == "item" and _web_links(u.full_text()) and _lead(u.text)}
    for unit in units:
        why = _not_a_paper(unit, linked)
        if why:
            result.skipped.append(Skipped(source, unit.line, why))
            continue
        fields = _fields(unit)
        if fields is None:
            result.skipped.append(Skipped(source, unit.line, "no title found in this entry"))
            continue
        if len(fields.title) > MAX_TITLE_CHARS:
            result.skipped.append(
                Skipped(
                    source,
                    unit.line,
                    f"title longer than {MAX_TITLE_CHARS} characters: the entry's title and text could not be told apart",
                )
            )
            continue
        result.papers.append(_paper(fields, unit, source, default_week))


def _find_units(blocks: list[Block], source: str, result: ParseResult) -> tuple[list[_Section], list[_Unit]]:
    """Walk the blocks in order: dated headings open sections, a heading that
    introduces one paper is a unit with the blocks under it, list items and
    table rows are units of the section they are in."""
    sections: list[_Section] = []
    units: list[_Unit] = []
    section: _Section | None = None
    segment, heading = 0, ""
    i = 0
    while i < len(blocks):
        block = blocks[i]
        if block.kind == "heading" or (block.kind == "paragraph" and block.emphasised):
            text = _clean(block.text)
            dates = _heading_dates(text)
            if dates:
                section = _Section(block.line, dates)
                sections.append(section)
                segment, heading = segment + 1, text
                i += 1
                continue
            if block.kind == "heading":
                segment, heading = segment + 1, text
                end = next((j for j in range(i + 1, len(blocks)) if blocks[j].kind == "heading"), len(blocks))
                body = blocks[i + 1 : end]
                if _paper_heading(block, body):
                    units.append(
                        _Unit("heading", block.line, section, segment, heading, block.text, [b.all_text() for b in body])
                    )
                    i = end
                    continue
        elif block.kind == "item":
            last = units[-1] if units and units[-1].segment == segment else None
            if last is not None and last.kind == "item" and _links_only(block.all_text()) and not _web_links(last.full_text()):
                # "1. What the paper does" then "  - Paper: https://…" indented too little
                # to be nested in it: the link is that entry's.
                last.body.append(block.all_text())
            else:
                units.extend(_item_units(block, section, segment, heading))
        elif block.kind == "table":
            units.extend(_row_units(block, section, segment, heading, source, result))
        i += 1
    return sections, units


def _paper_heading(heading: Block, body: list[Block]) -> bool:
    """A heading that is one paper's title: it links the paper, or the text under
    it (before any list of linked entries) names authors or links the paper."""
    text = _NUMBERING.sub("", heading.text)
    if _NOT_PAPERS.search(_clean(text)):
        return False
    if _LINK.match(text.replace("**", "")):
        return True
    if any(b.kind == "item" and _web_links(b.text) and _lead(b.text) for b in body):
        return False
    for block in body:
        if block.kind != "paragraph":
            continue
        if _AUTHORS.match(block.text):
            return True
        if any(_PAPER_HOST.match(url) or _PAPER_LABEL.match(label) for label, url in _LINK.findall(block.text)):
            return True
    return False


def _item_units(item: Block, section: _Section | None, segment: int, heading: str) -> list[_Unit]:
    """A list item is one unit with everything nested in it, unless it only
    groups nested entries (a category bullet over linked papers)."""
    nested = [b for b in item.blocks if b.kind == "item"]
    groups = not _web_links(item.text) and any(_web_links(b.text) and _lead(b.text) for b in nested)
    if not groups:
        return [_Unit("item", item.line, section, segment, heading, item.text, [b.all_text() for b in item.blocks])]
    units: list[_Unit] = []
    for block in nested:
        units.extend(_item_units(block, section, segment, heading))
    return units


def _row_units(
    table: Block, section: _Section | None, segment: int, heading: str, source: str, result: ParseResult
) -> list[_Unit]:
    roles = _column_roles(table.header)
    if "title" not in roles:
        if table.rows:
            result.skipped.append(Skipped(source, table.line, "table has no title/paper column"))
        return []
    units: list[_Unit] = []
    for row in table.rows:
        if row.source_cells != len(table.header):
            result.skipped.append(
                Skipped(source, row.line, f"table row has {row.source_cells} cells, the header has {len(table.header)}")
            )
            continue
        units.append(_Unit("row", row.line, section, segment, heading, cells=dict(zip(roles, row.cells, strict=False))))
    return units


def _lead(text: str) -> bool:
    """Does the text open with a bold or linked title (the shape of a digest entry)?"""
    body = _NUMBERING.sub("", text).lstrip()
    return body.startswith(("**", "[", "__"))


def _links_only(text: str) -> bool:
    """Is the text just links, with at most a short label ("Paper: https://…")?"""
    rest = _BARE_URL.sub(" ", _LINK.sub(" ", text))
    return bool(_web_links(text)) and len(re.findall(r"\w+", rest)) <= 3


def _web_links(text: str) -> list[str]:
    return [m.group(2) for m in _LINK.finditer(text)] + _BARE_URL.findall(_LINK.sub(" ", text))


def _not_a_paper(unit: _Unit, linked_segments: set[int]) -> str | None:
    """Why a unit is not a paper, or None when it is one."""
    text = unit.full_text()
    if unit.kind == "heading":
        return None
    links = _web_links(text)
    if not links and _ANCHOR.search(text):
        return "not a paper: a table of contents entry"
    if links and all(_SOCIAL.match(u) for u in links) and unit.kind == "item" and not _lead(unit.text):
        return "not a paper: only social links"
    if links:
        return None
    if unit.kind == "row":
        return (
            "not a paper: a row of a table without links under “" + unit.heading[:60] + "”"
            if _NOT_PAPERS.search(unit.heading)
            else None
        )
    if _NOT_PAPERS.search(unit.heading):
        return f"not a paper: an item without a link under “{unit.heading[:60]}”"
    if unit.segment not in linked_segments or not _lead(unit.text):
        return "not a paper: no link, and the entries around it with links are shaped differently"
    return None


# -- fields ------------------------------------------------------------------------------------
def _fields(unit: _Unit) -> _Fields | None:
    if unit.kind == "row":
        return _row_fields(unit.cells)
    if unit.kind == "heading":
        return _heading_fields(unit)
    return _item_fields(unit)


def _item_fields(unit: _Unit) -> _Fields | None:
    # Lines that only carry links ("- Paper: https://…") give links, not text.
    links_only = [b for b in unit.body if _links_only(b)]
    prose = [unit.text, *(b for b in unit.body if not _links_only(b))]
    body = _NUMBERING.sub("", "\n".join(prose)[:MAX_ITEM_CHARS], count=1)
    headline = ""
    rest = body
    bold = _BOLD.search(body)
    if bold and bold.start() < 5:
        headline_raw = next(g for g in bold.groups() if g is not None)
        rest = body[bold.end():]
        headline = _headline(headline_raw)
    links = [(m.group(1), m.group(2), m.start(), m.end()) for m in _LINK.finditer(body)]
    found = _title(body, rest, headline, links)
    if found is None:
        return None
    title, title_url, own = found
    summary = _summary(rest, title)
    alias = _headline_label(headline) if own and headline else ""
    return _Fields(
        title=title, own_title=own, urls=_web_links(body) + [u for b in links_only for u in _web_links(b)],
        preferred_url=title_url, headline=headline, alias=alias,
        summary=summary, orgs=_orgs(summary, headline), topics=derive_topics(title, headline, summary), date_text=rest or body,
    )


def _heading_fields(unit: _Unit) -> _Fields | None:
    text = _NUMBERING.sub("", unit.text)
    link = _LINK.match(text.replace("**", ""))
    title = _clean(link.group(1) if link else text)
    if not title:
        return None
    authors: list[str] = []
    prose: list[str] = []
    for part in unit.body:
        m = _AUTHORS.match(part)
        if m and not authors:
            authors = _split_names(_clean(m.group(1)))
            continue
        words = _clean(_LINK.sub(" ", part))
        if len(re.findall(r"\w{2,}", words)) >= 3:  # not a line of links ("arXiv · PDF")
            prose.append(_clean(part))
    summary = " ".join(prose)
    urls = ([link.group(2)] if link else []) + [u for part in unit.body for u in _web_links(part)]
    return _Fields(
        title=title, own_title=True, urls=urls, preferred_url=link.group(2) if link else None, summary=summary,
        authors=authors, orgs=_orgs(summary, ""), topics=derive_topics(title, "", summary), date_text=summary,
    )


def _row_fields(cells: dict[str, str]) -> _Fields | None:
    """A table row: the title cell is a linked title, a bold title followed by a
    description (``2) **Title** - what it does``), or a plain title."""
    cell = _NUMBERING.sub("", cells["title"])
    link = _LINK.search(cell)
    bold = _BOLD.match(cell.lstrip())
    extra = ""
    own = True
    title_url: str | None = None
    if link and link.start() <= 4:
        title, title_url, extra = _clean(link.group(1)), link.group(2), cell[link.end():]
    elif bold:
        title = _clean(next(g for g in bold.groups() if g is not None)).rstrip(":").strip()
        extra, own = cell.lstrip()[bold.end():], False
    else:
        title, sep, extra = _clean(cell).partition(" - ")
        if len(title) > MAX_TITLE_CHARS:
            title, extra = _clean(cell), ""
    if not title:
        return None
    extra = _clean(extra).lstrip(" :–—-|").strip()
    summary = " ".join(p for p in (extra, _clean(cells.get("summary", ""))) if p)
    links_cell = cells.get("link", "")
    labelled = [m.group(2) for m in _LINK.finditer(links_cell) if _PAPER_LABEL.match(m.group(1).strip())]
    urls = (
        ([title_url] if title_url else [])
        + labelled
        + _web_links(links_cell)
        + ([link.group(2)] if link and not title_url else [])
    )
    preferred = title_url or next(iter(labelled), None) or next((u for u in urls if not _SOCIAL.match(u)), None)
    topics = [t for t in (_clean(x) for x in re.split(r"[,;]", cells.get("topics", ""))) if t]
    orgs = [o for o in (_clean(x) for x in re.split(r"[,;]", cells.get("orgs", ""))) if o]
    return _Fields(
        title=title, own_title=own, urls=urls, preferred_url=preferred, summary=summary,
        authors=_split_names(_clean(cells.get("authors", ""))), orgs=orgs,
        topics=topics or derive_topics(title, "", summary), date_text=cells.get("date", "") or summary,
    )


def _paper(fields: _Fields, unit: _Unit, source: str, default_week: dt.date | None) -> Paper:
    """The record for one unit, whatever its shape.

    An arXiv link anywhere in the unit wins (canonical abs URL); otherwise the
    title's own link, else the first link that is not a social post.  A unit
    outside any dated section gets the week ending on the Sunday after its
    date, else the digest's own date (front matter, file name).
    """
    urls = fields.urls
    arxiv = next((a for u in urls if (a := arxiv_id_from_url(u))), None)
    fallback = fields.preferred_url or next((u for u in urls if not _SOCIAL.match(u)), urls[0] if urls else None)
    url = canonical_url(f"https://arxiv.org/abs/{arxiv}") if arxiv else canonical_url(fallback)
    week = unit.section.week if unit.section else None
    date = _item_date(fields.date_text, week)
    if arxiv and date:
        date = _agree_with_arxiv(date, arxiv)
    if week is None:
        week = _sunday_ending(date) if date else default_week
    week_iso = week.isoformat() if week else None
    return Paper(
        paper_id=paper_id_for(arxiv, fields.title),
        title=fields.title,
        url=url,
        arxiv_id=arxiv,
        date=date.isoformat() if date else None,
        week=week_iso,
        orgs=fields.orgs,
        headline=fields.headline,
        summary=fields.summary,
        topics=fields.topics,
        source=source,
        line=unit.line,
        sources=[Mention(source, unit.line, week_iso)],
        authors=fields.authors,
        aliases=[fields.alias] if fields.alias and normalise_title(fields.alias) != normalise_title(fields.title) else [],
        own_title=fields.title if fields.own_title else "",
    )


def _agree_with_arxiv(date: dt.date, arxiv_id: str) -> dt.date:
    """The date, moved to the year that puts it nearest the month the arXiv id
    was submitted (``2410.x`` is October 2024) when the two are more than a month
    apart: a digest's "Oct 2" next to a "(McCoy et al., 2023)" is not 2023."""
    submitted = _safe_date(2000 + int(arxiv_id[:2]), int(arxiv_id[2:4]), 15)
    if submitted is None or abs((date - submitted).days) <= 46:
        return date
    candidates = [
        d for y in (submitted.year - 1, submitted.year, submitted.year + 1) if (d := _safe_date(y, date.month, date.day))
    ]
    return min(candidates, key=lambda d: abs((d - submitted).days), default=date)


def _split_names(text: str) -> list[str]:
    parts = re.split(r",\s*(?:and\s+)?|;\s*|\s+and\s+|\s*&\s*", text)
    return [p.strip(" .") for p in parts if 1 < len(p.strip(" .")) <= 80][:50]


def _front_matter_week(text: str) -> dt.date | None:
    """The week a digest's YAML front matter names (``date:`` or ``week:``)."""
    m = _FRONT_MATTER.match(text)
    if not m:
        return None
    for line in m.group(1).splitlines():
        key, _sep, value = line.partition(":")
        if key.strip().lower() in ("date", "week"):
            iso = _ISO_DATE.search(value)
            if iso:
                return _safe_date(int(iso.group(1)), int(iso.group(2)), int(iso.group(3)))
    return None


def _file_name_week(source: str) -> dt.date | None:
    """The last ISO date in a digest's file name (``digest-2024-10-06.md``)."""
    dates = _ISO_DATE.findall(source)
    return _safe_date(int(dates[-1][0]), int(dates[-1][1]), int(dates[-1][2])) if dates else None


def _heading_dates(text: str) -> list[_Date] | None:
    """The dates a section heading names, or None when it names none."""
    if len(text) > 120:
        return None
    dates = [d for _p, d in _find_dates(text)]
    return dates or None


def _resolve_weeks(sections: list[_Section], units: list[_Unit], source: str) -> None:
    """Give every section a full date: years come from the section itself, the
    nearest section that has one, the dates in its entries, or the file name."""
    file_years = [int(y) for y in _YEAR.findall(source)]
    default_year = file_years[-1] if file_years else dt.date.today().year
    anchors = [(i, s.dates[-1]) for i, s in enumerate(sections) if s.dates[-1].year]
    for i, section in enumerate(sections):
        end = section.dates[-1]
        near: dt.date | None = None
        if anchors:
            _j, anchor = min(anchors, key=lambda a: abs(a[0] - i))
            near = _safe_date(anchor.year or default_year, anchor.month, anchor.day)
        else:
            near = _near_from_entries([u.full_text() for u in units if u.section is section])
        section.week = end.resolve(near, default_year)


def _near_from_entries(texts: list[str]) -> dt.date | None:
    """A date that fixes the year of a section with none: the first full date in
    its items or rows, else the month its newest arXiv id was submitted (``2410.x`` is
    October 2024), since digests list papers of the last few weeks."""
    months: list[dt.date] = []
    for entry in texts:
        text = entry[:2000]
        dated = [d for _p, d in _find_dates(text) if d.year]
        if dated:
            return _safe_date(dated[0].year or 0, dated[0].month, dated[0].day)
        for yymm in _ARXIV_YYMM.findall(text):
            month = _safe_date(2000 + int(yymm[:2]), int(yymm[2:]), 15)
            if month:
                months.append(month)
    return max(months) if months else None


def _clean(text: str) -> str:
    text = _HTML.sub(" ", text)
    text = _LINK.sub(lambda m: m.group(1), text)
    text = _ANCHOR.sub(lambda m: m.group(1), text)
    text = text.replace("***", "").replace("**", "").replace("__", "")
    return " ".join(text.split())


def _summary(rest: str, title: str) -> str:
    """The item's text after its title, without the separator that followed it."""
    text = _clean(rest) if rest.strip() else ""
    if title and text.startswith(title):
        text = text[len(title):]
    return text.lstrip(" :–—-|").strip()


def _headline(raw: str) -> str:
    """The bold lead of an item: its label and blurb, joined readably."""
    parts = [p for p in (_clean(x) for x in re.split(r"<br\s*/?>", raw, flags=re.I)) if p]
    if not parts:
        return ""
    label = parts[0]
    if len(parts) > 1 and not label.endswith((":", ".", "?", "!")):
        label += ":"
    return " ".join([label, *parts[1:]])


def _title(body: str, rest: str, headline: str, links: list[tuple[str, str, int, int]]) -> tuple[str, str | None, bool] | None:
    """The title, the link that belongs to it, and whether it is the paper's own.

    In order: a bold or leading linked title (``**[Title](url)**``); a quoted title
    shortly after a link ("published a [paper](url) on Science “Title”"); a
    quoted title after the word paper; the bold headline's label; the first
    words of the item.
    """
    first = links[0] if links else None
    if first and first[2] <= 4 and len(first[0]) > 3:
        return _clean(first[0]), first[1], True
    for _text, url, _start, end in links:
        q = _QUOTED_AFTER_LINK.match(body, end, end + 450)
        if q:
            return _clean(q.group(1)), url, True
    q = re.search(r"\bpaper[^.“\"\n]{0,40}[“\"]([^”\"\n]{3,400})[”\"]", rest)
    if q:
        return _clean(q.group(1)), None, True
    if headline:
        return _headline_label(headline), None, False
    text = _clean(rest.split("\n", 1)[0]).rstrip(" :")
    if not text:
        return None
    return (text[:120].rsplit(" ", 1)[0] if len(text) > 120 else text), None, False


def _headline_label(headline: str) -> str:
    """A headline's label: the part before its blurb, without a trailing
    `` - description``."""
    return re.split(r":\s|\s[-–—]\s", headline, maxsplit=1)[0].strip(" :")


def _item_date(text: str, week: dt.date | None) -> dt.date | None:
    found = _find_dates(text[:600])
    if not found:
        return None
    return found[0][1].resolve(week, week.year if week else dt.date.today().year)


def _orgs(summary: str, headline: str) -> list[str]:
    """Organisations from "Oct 3, Harvard Uni, MIT and Meta published a [paper]",
    "X on “Title”" headlines or a possessive headline ("Apple’s CLOC")."""
    m = _ORG_LEAD.match(summary[:400])
    names: list[str] = []
    if m:
        names = _split_orgs(m.group(1))
    if not names and headline:
        o = _ON_QUOTE.match(headline)
        if o:
            names = _split_orgs(o.group(1))
    if not names and headline:
        p = _POSSESSIVE.match(headline)
        if p:
            names = _split_orgs(p.group(1))
    return names


def _split_orgs(text: str) -> list[str]:
    text = re.sub(r"\bet al\.?", "", text)
    text = re.sub(r"\b(?:and|&)\s+(?:others|collaborators|colleagues)\b", "", text)
    parts = re.split(r",\s*(?:and\s+)?|\s+and\s+|\s*&\s*", text)
    out = []
    for part in parts:
        name = part.strip(" .;:")
        if not name or name.lower() in _NON_ORG or name.lower() in _CORP_SUFFIXES or len(name) > 80 or not name[0].isupper():
            continue
        if name not in out:
            out.append(name)
    return out[:12]


# -- tables ------------------------------------------------------------------------------------
_ROLE_NAMES = {
    "title": ("title", "paper", "paper title", "name", "paper name"),
    "link": ("link", "links", "url", "arxiv", "pdf", "paper link", "paper url", "arxiv link"),
    "date": ("date", "published", "day"),
    "summary": ("abstract", "summary", "description", "tl;dr", "tldr", "notes", "details"),
    "topics": ("topics", "topic", "tags", "tag", "category", "categories", "area"),
    "authors": ("authors", "author", "by"),
    "orgs": (
        "orgs",
        "org",
        "organisation",
        "organization",
        "organisations",
        "organizations",
        "affiliation",
        "affiliations",
        "lab",
        "institution",
    ),
}


def _column_roles(header: list[str]) -> list[str]:
    roles = []
    for cell in header:
        name = _clean(cell).lower().strip()
        role = next((r for r, names in _ROLE_NAMES.items() if name in names), None)
        roles.append(role if role and role not in roles else f"other:{name}")
    return roles
