"""When two mentions are one paper, and how their records become one.

The one place that decides "same paper", used both when the digests of one
ingest are parsed (:func:`merge_papers`) and when a parsed paper meets what the
store already holds (:func:`combine`, :func:`adopt_stored_ids`):

- the same arXiv id (any form of link), DOI or canonical link is one paper,
  with every mention, and the titles the mentions gave it kept as aliases;
- unless the mentions clearly name different papers: both give the paper's own
  title and the titles differ, or both name authors and none is shared (digests
  copy-paste a link under the wrong paper);
- without a link, the same title is one paper.

Every step is linear in the number of mentions: a hostile digest repeating one
link thousands of times costs one dictionary lookup per repeat.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import replace

from index.models import Mention, Paper

#: Different groups compared against one identifier before a new one is opened:
#: real digests give one link a few papers at most.
MAX_GROUPS_PER_KEY = 32

_DOI = re.compile(r"\b(10\.\d{4,9}/[^\s?#]+)", re.I)


def normalise_title(title: str) -> str:
    text = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode().lower()
    return " ".join(re.findall(r"[a-z0-9]+", text))


def same_title(a: str, b: str) -> bool:
    """Titles of one paper as two digests write it: case, punctuation and small
    edits, or one is the other's beginning ("Movie Gen" and "Movie Gen: A Cast of
    Media Foundation Models")."""
    from rapidfuzz import fuzz

    na, nb = normalise_title(a), normalise_title(b)
    if not na or not nb:
        return False
    if na == nb or f"{nb} ".startswith(f"{na} ") or f"{na} ".startswith(f"{nb} "):
        return True
    return fuzz.ratio(na, nb) >= 90


def _author_key(name: str) -> str:
    words = normalise_title(name).split()
    return words[-1] if words else ""


def conflicting(a: Paper, b: Paper) -> bool:
    """Do two mentions under one link clearly name different papers?"""
    if a.arxiv_id and b.arxiv_id and a.arxiv_id != b.arxiv_id:
        return True
    if a.own_title and b.own_title and not same_title(a.own_title, b.own_title):
        return True
    if a.authors and b.authors:
        return not ({_author_key(x) for x in a.authors} & {_author_key(x) for x in b.authors})
    return False


def identity_key(paper: Paper) -> str | None:
    """The identifier a paper is known by: arXiv id, else DOI, else its link."""
    if paper.arxiv_id:
        return f"arxiv:{paper.arxiv_id}"
    doi = _DOI.search(paper.url or "")
    if doi:
        return f"doi:{doi.group(1).lower().rstrip('/.')}"
    return f"url:{paper.url}" if paper.url else None


def titles_of(paper: Paper) -> list[str]:
    """Every name of a paper: its title and its aliases."""
    return [paper.title, *paper.aliases]


def merge_papers(papers: Iterable[Paper]) -> list[Paper]:
    """One paper per identity, every mention kept, in the order of first mention."""
    groups: list[list[Paper]] = []
    by_key: dict[str, list[int]] = {}
    by_title: dict[str, list[int]] = {}
    by_id: dict[str, int] = {}
    for paper in papers:
        target = by_id.get(paper.paper_id)
        key = identity_key(paper)
        if target is None and key:
            target = next((g for g in by_key.get(key, []) if not conflicting(groups[g][0], paper)), None)
        if target is None:
            for name in {normalise_title(t) for t in titles_of(paper)} - {""}:
                target = next((g for g in by_title.get(name, []) if not conflicting(groups[g][0], paper)), None)
                if target is not None:
                    break
        if target is None:
            target = len(groups)
            groups.append([paper])
            by_id[paper.paper_id] = target
        else:
            groups[target].append(paper)
        if key:
            keyed = by_key.setdefault(key, [])
            if target not in keyed and len(keyed) < MAX_GROUPS_PER_KEY:
                keyed.append(target)
        name = normalise_title(paper.title)
        titled = by_title.setdefault(name, [])
        if name and target not in titled and len(titled) < MAX_GROUPS_PER_KEY:
            titled.append(target)
    merged = [merge_group(group) for group in groups]
    return sorted(merged, key=lambda p: (p.source, p.line or 0, p.paper_id))


def merge_group(group: Sequence[Paper]) -> Paper:
    """The mentions of one paper as one record.

    Its identity (id and title) is the first mention's that gives the paper's own
    title, else the first mention's; the other titles become aliases.  Every
    mention is kept (earliest week first), with the first link and headline,
    the earliest date and the longest summary.
    """
    first = next((p for p in group if p.own_title), group[0])
    if len(group) == 1:
        return replace(first, sources=list(first.sources))
    mentions = sorted(dict.fromkeys(m for p in group for m in p.sources), key=mention_key)
    return replace(
        first,
        url=first.url or next((p.url for p in group if p.url), None),
        arxiv_id=first.arxiv_id or next((p.arxiv_id for p in group if p.arxiv_id), None),
        date=min(filter(None, (p.date for p in group)), default=None),
        week=mentions[0].week or next((p.week for p in group if p.week), None),
        source=mentions[0].source,
        line=mentions[0].line,
        orgs=_union(p.orgs for p in group),
        authors=first.authors or next((p.authors for p in group if p.authors), []),
        headline=first.headline or next((p.headline for p in group if p.headline), ""),
        summary=max((p.summary for p in group), key=len),
        topics=_union(p.topics for p in group),
        aliases=_aliases(first.title, [t for p in group for t in titles_of(p)]),
        sources=mentions,
    )


def combine(stored: Paper | None, fresh: Paper, ingested_sources: set[str]) -> Paper:
    """Fold a freshly parsed paper into what the store already holds.

    Mentions from the sources being ingested now are replaced (so an edited entry
    is updated in place, and re-runs never grow the mention list); mentions from
    other digests are kept, and so are their names and richer text.
    """
    if stored is None:
        return fresh
    kept = [m for m in stored.sources if m.source not in ingested_sources]
    if not kept:
        return fresh
    older = replace(stored, sources=kept)
    merged = merge_group([fresh, older] if fresh.own_title or not stored.own_title else [older, fresh])
    return replace(merged, paper_id=stored.paper_id)


def adopt_stored_ids(fresh: Sequence[Paper], stored: Sequence[Paper]) -> list[Paper]:
    """Parsed papers, each given the id of the stored paper it is the same paper
    as (same arXiv id, not conflicting), so a paper a later digest names
    differently is updated, not indexed twice."""
    by_arxiv: dict[str, list[Paper]] = {}
    for paper in stored:
        if paper.arxiv_id:
            by_arxiv.setdefault(paper.arxiv_id, []).append(paper)
    taken = {p.paper_id for p in fresh}
    out: list[Paper] = []
    for paper in fresh:
        if paper.arxiv_id and not any(s.paper_id == paper.paper_id for s in by_arxiv.get(paper.arxiv_id, [])):
            match = next(
                (s for s in by_arxiv.get(paper.arxiv_id, []) if s.paper_id not in taken and not conflicting(s, paper)), None
            )
            if match is not None:
                taken.add(match.paper_id)
                paper = replace(paper, paper_id=match.paper_id)
        out.append(paper)
    return out


def mention_key(m: Mention) -> tuple[str, str, int]:
    return (m.week or "9999", m.source, m.line or 0)


def _union(lists: Iterable[list[str]]) -> list[str]:
    return list(dict.fromkeys(x for xs in lists for x in xs))


def _aliases(title: str, names: Iterable[str]) -> list[str]:
    """Distinct names other than the title (compared normalised), in order."""
    seen = {normalise_title(title)}
    out: list[str] = []
    for name in names:
        norm = normalise_title(name)
        if norm and norm not in seen:
            seen.add(norm)
            out.append(name)
    return out
