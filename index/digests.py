"""Markdown digest → :class:`Paper` records.

Digests are written by people, so the parser expects mess: numbered or bulleted
items whose title is bold, linked or quoted after a "published a [paper](url)";
markdown tables with a title/paper column and link columns; section headings
that name a week or a date range, often without a year; restarted numbering;
items without links; two different papers given the same URL.  It never raises
on any text: what it cannot use becomes a :class:`Skipped` entry.

Every regex here is linear-time (no nested quantifiers over the same text) and
per-item text is capped, so a hostile 1 MB line costs milliseconds.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import re
import unicodedata
from dataclasses import dataclass, field, replace
from typing import Iterable
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from index.models import Mention, Paper, ParseResult, Skipped
from index.topics import derive_topics

log = logging.getLogger(__name__)

MAX_ITEM_CHARS = 50_000
MAX_LINE_CHARS = 200_000

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
_MONTH_RE = r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sept?(?:ember)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)"
_DAY_MONTH_YEAR = re.compile(rf"\b(\d{{1,2}})(?:st|nd|rd|th)?\s+({_MONTH_RE})\.?,?(?:\s+(\d{{4}}))?\b", re.I)
_MONTH_DAY_YEAR = re.compile(rf"\b({_MONTH_RE})\.?\s+(\d{{1,2}})(?:st|nd|rd|th)?\b,?(?:\s+(\d{{4}}))?", re.I)
_ISO_DATE = re.compile(r"\b(\d{4})-(\d{2})-(\d{2})\b")
_YEAR = re.compile(r"\b(20\d{2})\b")

_ITEM = re.compile(r"^ {0,3}(?:\d{1,4}[.)]|[-*+])[ \t]+(?=\S)")
_HEADING = re.compile(r"^ {0,3}#{1,6}[ \t]+(.*?)[ \t#]*$")
_EMPH_LINE = re.compile(r"^ {0,3}([*_]{1,3})([^*_\n]{1,80})\1[ \t]*$")
_TABLE_ROW = re.compile(r"^ {0,3}\|")
_TABLE_SEP = re.compile(r"^ {0,3}\|?[ \t]*:?-{2,}:?[ \t]*(?:\|[ \t]*:?-{2,}:?[ \t]*)*\|?[ \t]*$")
_LINK = re.compile(r"\[([^\[\]\n]{0,500})\]\((https?://[^()\s]{1,2000})\)")
_BARE_URL = re.compile(r"https?://[^\s<>()\[\]]{1,2000}")
_BOLD = re.compile(r"\*\*\*(.{1,5000}?)\*\*\*|\*\*(.{1,5000}?)\*\*|__(.{1,2000}?)__", re.S)
_QUOTED = re.compile(r"[“\"]([^”\"\n]{3,400})[”\"]")
_ARXIV = re.compile(
    r"^(?:https?://)?(?:www\.|export\.)?(?:arxiv\.org/(?:abs|pdf|html)/|huggingface\.co/papers/)"
    r"(\d{4}\.\d{4,5})(?:v\d+)?(?:\.pdf)?/?$",
    re.I,
)
_ARXIV_YYMM = re.compile(r"arxiv\.org/(?:abs|pdf|html)/(\d{4})\.\d{4,5}", re.I)
_HTML = re.compile(r"<br\s*/?>|</?(?:b|i|em|strong|p|span|div|sup|sub)\b[^>]{0,200}>", re.I)
_PUBLISH_VERB = r"(?:published|released|introduced|proposed|presented|announced|unveiled|posted|shared|developed|propose|introduce)"
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


def normalise_title(title: str) -> str:
    text = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode().lower()
    return " ".join(re.findall(r"[a-z0-9]+", text))


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
        found.append((m.start(), _Date(_MONTHS[m.group(1).lower().rstrip(".")], int(m.group(2)), int(m.group(3)) if m.group(3) else None)))
    for m in _DAY_MONTH_YEAR.finditer(text):
        found.append((m.start(), _Date(_MONTHS[m.group(2).lower().rstrip(".")], int(m.group(1)), int(m.group(3)) if m.group(3) else None)))
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


# -- the parser ------------------------------------------------------------------------------
@dataclass
class _Section:
    line: int
    dates: list[_Date]
    week: dt.date | None = None


@dataclass
class _Item:
    line: int
    lines: list[str] = field(default_factory=list)
    section: _Section | None = None


@dataclass
class _Row:
    line: int
    cells: dict[str, str]
    section: _Section | None


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
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    sections: list[_Section] = []
    items: list[_Item] = []
    rows: list[_Row] = []
    current: _Section | None = None
    item: _Item | None = None
    header: list[str] | None = None
    in_table = False
    for n, raw in enumerate(lines, 1):
        line = raw if len(raw) <= MAX_LINE_CHARS else raw[:MAX_LINE_CHARS]
        heading = _heading_dates(line)
        if heading is not None:
            current = _Section(n, heading)
            sections.append(current)
            item, in_table, header = None, False, None
            continue
        if _TABLE_ROW.match(line):
            if not in_table:
                header, in_table, item = _split_row(line), True, None
                continue
            if _TABLE_SEP.match(line):
                continue
            cells = _split_row(line)
            if header is None or len(cells) != len(header):
                result.skipped.append(Skipped(source, n, f"table row has {len(cells)} cells, the header has {len(header or [])}"))
                continue
            rows.append(_Row(n, dict(zip(_column_roles(header), cells)), current))
            continue
        in_table = False
        if _ITEM.match(line):
            item = _Item(n, [line], current)
            items.append(item)
        elif item is not None and sum(len(x) for x in item.lines) < MAX_ITEM_CHARS:
            item.lines.append(line)
    _resolve_weeks(sections, items, rows, source)
    for it in items:
        paper = _paper_from_item(it, source)
        if paper is not None:
            result.papers.append(paper)
    for row in rows:
        paper = _paper_from_row(row, source, result)
        if paper is not None:
            result.papers.append(paper)


def _heading_dates(line: str) -> list[_Date] | None:
    """The dates a section heading names, or None when the line is not a dated heading."""
    m = _HEADING.match(line)
    text = m.group(1) if m else None
    if text is None:
        e = _EMPH_LINE.match(line)
        text = e.group(2) if e else None
    if text is None or len(text) > 120:
        return None
    dates = [d for _p, d in _find_dates(text)]
    return dates or None


def _resolve_weeks(sections: list[_Section], items: list[_Item], rows: list[_Row], source: str) -> None:
    """Give every section a full date: years come from the section itself, the
    nearest section that has one, the dates in its items, or the file name."""
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
            texts = [" ".join(it.lines) for it in items if it.section is section]
            texts += [" ".join(r.cells.values()) for r in rows if r.section is section]
            near = _near_from_entries(texts)
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
    text = text.replace("***", "").replace("**", "").replace("__", "")
    return " ".join(text.split())


def _paper_from_item(item: _Item, source: str) -> Paper | None:
    raw = "\n".join(item.lines)[:MAX_ITEM_CHARS]
    body = _ITEM.sub("", raw, count=1)
    headline = ""
    rest = body
    bold = _BOLD.search(body)
    if bold and bold.start() < 5:
        headline_raw = next(g for g in bold.groups() if g is not None)
        rest = body[bold.end():]
        headline = _headline(headline_raw)
    links = [(m.group(1), m.group(2), m.start(), m.end()) for m in _LINK.finditer(body)]
    title, title_url = _title(body, rest, headline, links)
    if not title:
        return None
    urls = [u for _t, u, _s, _e in links] + _BARE_URL.findall(_LINK.sub(" ", body))
    summary = _summary(rest, title)
    week = item.section.week if item.section else None
    date = _item_date(rest or body, week)
    return _paper(
        title, urls, title_url, date, week, _orgs(summary, headline), headline, summary,
        derive_topics(title, headline, summary), source, item.line,
    )


def _paper(
    title: str, urls: list[str], preferred_url: str | None, date: dt.date | None, week: dt.date | None,
    orgs: list[str], headline: str, summary: str, topics: list[str], source: str, line: int,
) -> Paper:
    """The record for one digest entry, whatever its shape (item or table row).

    An arXiv link anywhere in the entry wins (canonical abs URL); otherwise the
    title's own link, else the first link.  An entry outside any dated section
    gets the week ending on the Sunday after its date.
    """
    arxiv = next((a for u in urls if (a := arxiv_id_from_url(u))), None)
    url = canonical_url(f"https://arxiv.org/abs/{arxiv}") if arxiv else canonical_url(preferred_url or (urls[0] if urls else None))
    if week is None and date is not None:
        week = _sunday_ending(date)
    week_iso = week.isoformat() if week else None
    return Paper(
        paper_id=paper_id_for(arxiv, title),
        title=title,
        url=url,
        arxiv_id=arxiv,
        date=date.isoformat() if date else None,
        week=week_iso,
        orgs=orgs,
        headline=headline,
        summary=summary,
        topics=topics,
        source=source,
        line=line,
        sources=[Mention(source, line, week_iso)],
    )


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


def _title(body: str, rest: str, headline: str, links: list[tuple[str, str, int, int]]) -> tuple[str, str | None]:
    """The paper's title and the link that belongs to it.

    In order: a bold or leading linked title (``**[Title](url)**``); a quoted title
    right after a link ("published a [paper](url) “Title”"); a quoted title after
    the word paper; the bold label before its colon; the first words of the item.
    """
    first = links[0] if links else None
    if first and first[2] <= 4 and len(first[0]) > 3:
        return _clean(first[0]), first[1]
    for text, url, _start, end in links:
        q = _QUOTED.match(body[end : end + 410].lstrip(" \t:,-–"))
        if q:
            return _clean(q.group(1)), url
    q = re.search(r"\bpaper[^.“\"\n]{0,40}[“\"]([^”\"\n]{3,400})[”\"]", rest)
    if q:
        return _clean(q.group(1)), None
    if headline:
        label = re.split(r":\s|\s[-–—]\s", headline, maxsplit=1)[0].strip(" :")
        return label[:300], None
    text = _clean(rest)
    return (text[:120].rsplit(" ", 1)[0] if len(text) > 120 else text), None


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
    "orgs": ("orgs", "org", "organisation", "organization", "organisations", "organizations", "affiliation", "affiliations", "lab", "institution"),
}


def _split_row(line: str) -> list[str]:
    body = line.strip()
    if body.startswith("|"):
        body = body[1:]
    if body.endswith("|") and not body.endswith("\\|"):
        body = body[:-1]
    return [c.strip() for c in re.split(r"(?<!\\)\|", body)]


def _column_roles(header: list[str]) -> list[str]:
    roles = []
    for cell in header:
        name = _clean(cell).lower().strip()
        role = next((r for r, names in _ROLE_NAMES.items() if name in names), None)
        roles.append(role if role and role not in roles else f"other:{name}")
    return roles


def _paper_from_row(row: _Row, source: str, result: ParseResult) -> Paper | None:
    cells = row.cells
    if "title" not in cells:
        result.skipped.append(Skipped(source, row.line, "table has no title/paper column"))
        return None
    title_cell = cells["title"]
    link = _LINK.search(title_cell)
    title = _clean(link.group(1) if link else title_cell)
    if not title:
        result.skipped.append(Skipped(source, row.line, "table row has an empty title"))
        return None
    urls = ([link.group(2)] if link else []) + [m.group(2) for m in _LINK.finditer(cells.get("link", ""))]
    urls += _BARE_URL.findall(_LINK.sub(" ", cells.get("link", "")))
    week = row.section.week if row.section else None
    found = _find_dates(cells.get("date", ""))
    date = found[0][1].resolve(week, week.year if week else dt.date.today().year) if found else None
    summary = _clean(cells.get("summary", ""))
    topics = [t for t in (_clean(x) for x in re.split(r"[,;]", cells.get("topics", ""))) if t]
    orgs = [o for o in (_clean(x) for x in re.split(r"[,;]", cells.get("orgs", ""))) if o]
    return _paper(
        title, urls, None, date, week, orgs, "", summary, topics or derive_topics(title, "", summary), source, row.line,
    )


# -- identity ------------------------------------------------------------------------------------
def same_title(a: str, b: str) -> bool:
    """Titles of one paper as two digests write it (case, punctuation, small edits)."""
    from rapidfuzz import fuzz

    na, nb = normalise_title(a), normalise_title(b)
    return na == nb or fuzz.ratio(na, nb) >= 90


#: Different titles compared (fuzzily) against one arXiv id before only exact
#: title matches count: real digests give one id a few titles at most, and a
#: hostile file repeating one link thousands of times must not cost n² comparisons.
MAX_TITLES_PER_ARXIV = 32


def merge_papers(papers: Iterable[Paper]) -> list[Paper]:
    """One paper per identity, every mention kept.

    The same arXiv id with the same (or nearly the same) title is one paper; a
    different title under the same id is a different paper that was given the
    wrong link, and is kept separately.  Papers without an arXiv id merge on
    their normalised title.  Linear in the number of entries: papers are grouped
    first and each group is merged once.
    """
    groups: dict[str, list[Paper]] = {}
    by_arxiv: dict[str, list[str]] = {}
    by_arxiv_title: dict[tuple[str, str], str] = {}
    by_title: dict[str, str] = {}
    for paper in papers:
        norm = normalise_title(paper.title)
        target: str | None = None
        if paper.paper_id in groups:
            target = paper.paper_id
        elif paper.arxiv_id:
            target = by_arxiv_title.get((paper.arxiv_id, norm))
            if target is None:
                candidates = by_arxiv.get(paper.arxiv_id, [])[:MAX_TITLES_PER_ARXIV]
                target = next((pid for pid in candidates if same_title(groups[pid][0].title, paper.title)), None)
        else:
            target = by_title.get(norm)
        if target is None:
            groups[paper.paper_id] = [paper]
            if paper.arxiv_id:
                by_arxiv.setdefault(paper.arxiv_id, []).append(paper.paper_id)
                by_arxiv_title.setdefault((paper.arxiv_id, norm), paper.paper_id)
            by_title.setdefault(norm, paper.paper_id)
            continue
        groups[target].append(paper)
        if paper.arxiv_id:
            by_arxiv_title.setdefault((paper.arxiv_id, norm), target)
    merged = [_merge_group(group) for group in groups.values()]
    return sorted(merged, key=lambda p: (p.source, p.line or 0, p.paper_id))


def _merge_group(group: list[Paper]) -> Paper:
    """The entries of one paper as one record: the first entry's identity, every
    mention (earliest week first), the first link and headline, the longest summary."""
    first = group[0]
    if len(group) == 1:
        return replace(first, sources=list(first.sources))
    mentions = list(dict.fromkeys(m for p in group for m in p.sources))
    mentions.sort(key=lambda m: (m.week or "9999", m.source, m.line or 0))
    return replace(
        first,
        url=next((p.url for p in group if p.url), None),
        date=min(filter(None, (p.date for p in group)), default=None),
        week=mentions[0].week or next((p.week for p in group if p.week), None),
        orgs=list(dict.fromkeys(o for p in group for o in p.orgs)),
        headline=next((p.headline for p in group if p.headline), ""),
        summary=max((p.summary for p in group), key=len),
        topics=list(dict.fromkeys(t for p in group for t in p.topics)),
        sources=mentions,
    )
