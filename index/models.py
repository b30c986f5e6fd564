"""Records that cross module boundaries inside ``index/`` and out to the front ends.

They are plain dataclasses so every layer (parser, pipeline, retriever, answerer,
Discord renderer, CLI JSON) agrees on one shape without importing each other.
"""

from __future__ import annotations

import sys
import zlib
from dataclasses import asdict, dataclass, field, fields
from typing import Any


def _interned(value: Any) -> Any:
    """One shared object per distinct week, date, source, organisation or topic:
    a handful of values repeated over 100k papers, each otherwise its own string
    after a JSON decode (and a snapshot pickles a shared string once)."""
    return sys.intern(value) if type(value) is str else value


@dataclass(frozen=True, slots=True)
class Mention:
    """One place a paper appears: which digest file, which line, under which week."""

    source: str
    line: int | None
    week: str | None = None

    def __reduce__(self) -> tuple[type[Mention], tuple[str, int | None, str | None]]:
        """Pickled as its three values: a frozen slotted dataclass otherwise goes
        through a Python ``__setstate__`` per object (0.3 s of a 100k snapshot's load)."""
        return type(self), (self.source, self.line, self.week)


@dataclass(slots=True)
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

    def __reduce__(self) -> tuple[type[Paper], tuple[Any, ...]]:
        """Pickled as its field values in order, rebuilt by one constructor call:
        a snapshot of 100k papers unpickles faster than from per-object state dicts."""
        return type(self), tuple(getattr(self, name) for name in _PAPER_FIELDS)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Paper:
        """The paper of a stored record (``to_dict``'s output, decoded from JSON),
        sharing repeated strings: the few weeks, dates, sources, organisations and
        topics of the whole corpus, and a title that is also the record's own
        title, headline or alias (about a third less memory per paper)."""
        values = {k: v for k, v in data.items() if k in _PAPER_FIELDS}
        texts: dict[str, str] = {}

        def shared(text: Any) -> Any:
            return texts.setdefault(text, text) if type(text) is str else text

        for name in ("title", "own_title", "headline"):
            if name in values:
                values[name] = shared(values[name])
        for name in ("week", "date", "source"):
            if name in values:
                values[name] = _interned(values[name])
        values["aliases"] = [shared(a) for a in values.get("aliases", [])]
        values["orgs"] = [_interned(o) for o in values.get("orgs", [])]
        values["topics"] = [_interned(t) for t in values.get("topics", [])]
        values["sources"] = [
            Mention(_interned(m.get("source")), m.get("line"), _interned(m.get("week"))) for m in values.get("sources", [])
        ]
        return cls(**values)

    @property
    def weeks(self) -> list[str]:
        """Every digest week that mentions the paper, oldest first."""
        return sorted({m.week for m in self.sources if m.week} | ({self.week} if self.week else set()))


#: Paper's fields in constructor order (for ``__reduce__`` and ``from_dict``).
_PAPER_FIELDS = tuple(f.name for f in fields(Paper))
_SUMMARY_AT = _PAPER_FIELDS.index("summary")


class CataloguePaper(Paper):
    """A paper as a catalogue keeps it in memory: its summary stored as
    zlib-compressed UTF-8, unpacked on each read.

    Summaries are most of a catalogue's paper records (at the shared digests'
    lengths, ~265 MiB of 360 at 100k papers, since one curly quote makes Python
    store a whole string at two bytes a character); packed they take ~80 MiB.
    Only the few papers an answer or a card shows are read, at ~10 µs each.
    Everything else is a :class:`Paper`: same fields, ``to_dict``, pickling.
    """

    __slots__ = ("_packed",)

    @property
    def summary(self) -> str:
        packed = self._packed
        return zlib.decompress(packed).decode("utf-8") if packed else ""

    @summary.setter
    def summary(self, text: str) -> None:
        self._packed = zlib.compress(text.encode("utf-8"), 1) if text else b""

    @classmethod
    def of(cls, paper: Paper) -> CataloguePaper:
        """``paper`` as a catalogue paper (itself when it already is one)."""
        if isinstance(paper, CataloguePaper):
            return paper
        return cls(*(getattr(paper, name) for name in _PAPER_FIELDS))

    def __eq__(self, other: object) -> bool:
        """Equal to any :class:`Paper` with the same fields, packed or not (and,
        defining ``__eq__``, unhashable like every mutable Paper)."""
        if not isinstance(other, Paper):
            return NotImplemented
        return all(getattr(self, name) == getattr(other, name) for name in _PAPER_FIELDS)

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        """Pickled with the summary still packed, so a snapshot neither unpacks nor
        repacks 100k summaries."""
        values = [getattr(self, name) for name in _PAPER_FIELDS]
        values[_SUMMARY_AT] = ""
        return _packed_paper, (tuple(values), self._packed)


def _packed_paper(values: tuple[Any, ...], packed: bytes) -> CataloguePaper:
    paper = CataloguePaper(*values)
    paper._packed = packed
    return paper


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
