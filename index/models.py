"""Records that cross module boundaries inside ``index/`` and out to the front ends.

They are plain dataclasses so every layer (parser, pipeline, retriever, answerer,
Discord renderer, CLI JSON) agrees on one shape without importing each other.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class Mention:
    """One place a paper appears: which digest file, which line, under which week."""

    source: str
    line: int | None
    week: str | None = None


@dataclass
class Paper:
    """One paper as the digests describe it.

    ``paper_id`` is derived from the content (arXiv id and normalised title), never
    from file order, so it is stable across runs and machines.  ``week`` is the ISO
    date of the digest section the paper sits under (the first mention's);
    ``sources`` keeps every mention so nothing is lost when two digests list it.
    """

    paper_id: str
    title: str
    url: str | None = None
    arxiv_id: str | None = None
    date: str | None = None
    week: str | None = None
    orgs: list[str] = field(default_factory=list)
    headline: str = ""
    summary: str = ""
    topics: list[str] = field(default_factory=list)
    source: str = ""
    line: int | None = None
    sources: list[Mention] = field(default_factory=list)
    #: Authors as the digest names them (empty when it does not).
    authors: list[str] = field(default_factory=list)
    #: Other names of the paper that lookup and search also match: the digest's
    #: headline when ``title`` is the paper's own title, and the reverse, and the
    #: titles other mentions gave it.
    aliases: list[str] = field(default_factory=list)
    #: The paper's own title when a digest gives it ("published a [paper] “…”",
    #: a linked title, a heading, a title column), empty when it only gives a
    #: headline; two mentions under one link with different own titles are two papers.
    own_title: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Paper:
        values = dict(data)
        values["sources"] = [Mention(**m) for m in values.get("sources", [])]
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in values.items() if k in known})

    @property
    def weeks(self) -> list[str]:
        """Every digest week that mentions the paper, oldest first."""
        return sorted({m.week for m in self.sources if m.week} | ({self.week} if self.week else set()))


@dataclass(frozen=True)
class Skipped:
    """Input that could not be used, reported instead of raised so one bad file
    or row never stops the rest of an ingest."""

    source: str
    line: int | None
    reason: str


@dataclass
class ParseResult:
    """What a digest parse yields: the papers found and everything skipped."""

    papers: list[Paper] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
