"""Facts about the paper catalogue that answers need besides retrieval.

Which digest weeks exist and which papers each holds in digest order, which
names a paper goes by (its title, the short name before a title's colon, the
names its summary introduces: "introduces Scylla", "proposes FRAMES (...)"), and
the papers an earlier answer was about.  Built once per catalogue version, next
to the retriever, in one pass over the papers (the versioned catalogue itself
is index/catalogue.py).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from index.lexical import STOPWORDS, LexicalIndex, tokenize
from index.models import Paper

#: A title's short name: "VPTQ: Extreme ..." → "VPTQ" (at most this many words).
_SHORT_NAME_WORDS = 5
#: Papers whose summaries are checked for a name a question gives (the best lexical matches).
NAME_CANDIDATES = 20
#: A name introduced in a summary counts only if one of its words is used by at most this many papers.
_NAME_MAX_PAPERS = 2
_NAME = r"[A-Z][\w.+-]*[\w+](?:\s(?:[A-Z0-9][\w.+-]*[\w+]|\d+))?"
#: A name the text introduces as its own: "introduces Scylla", "a method called CLOC",
#: "proposes FRAMES (Factuality, ...)", "Meta released MovieGen".
_INTRODUCED = re.compile(
    rf"\b(?:[Ii]ntroduc|[Pp]ropos|[Pp]resent|[Uu]nveil|[Rr]eleas|[Dd]evelop|[Ll]aunch|[Cc]all|[Nn]am|[Dd]ub|[Tt]erm)(?:e|es|ed|ing|s)?\s+[\"“]?({_NAME})"
)
#: The summary's own subject: a sentence opening with a name ("Coconut feeds ...").
_OPENING_NAME = re.compile(
    rf"^[\"“]?({_NAME})[\"”]?,?\s+(?:is|are|feeds|uses|makes|trains|turns|adds|learns|shows|lets|keeps|combines|replaces|reaches|scales|beats|outperforms|achieves|introduces|extends|builds|improves|reduces|generates)\b"
)
_DATE_PREFIX = re.compile(r"^[A-Z][a-z]{2,8}\.?\s+\d{1,2},\s*[^.]{0,200}\.\s+")
_ARTICLE = re.compile(r"(?i)^(?:the|a|an)\s+")
_BOLD = re.compile(r"\*\*(.+?)\*\*")


def normalised(text: str) -> str:
    """Letters and digits only, so "Movie Gen", "MovieGen" and "movie-gen" compare equal."""
    return "".join(re.findall(r"[a-z0-9]+", text.lower()))


def title_names(paper: Paper) -> set[str]:
    """Normalised names a paper's title gives it: the whole title and its short name."""
    names = {normalised(paper.title), normalised(_ARTICLE.sub("", paper.title))}
    head = paper.title.split(":", 1)[0] if ":" in paper.title else ""
    if head and len(head.split()) <= _SHORT_NAME_WORDS:
        names |= {normalised(head), normalised(_ARTICLE.sub("", head))}
    return {n for n in names if len(n) >= 2}


def introduced_names(paper: Paper) -> set[str]:
    """Names the paper's text introduces ("introduces Scylla", "Coconut feeds ..."),
    as written; the catalogue drops those that are ordinary words."""
    text = f"{paper.headline} {paper.summary}"
    names = {m.group(1) for m in _INTRODUCED.finditer(text)}
    body = _DATE_PREFIX.sub("", paper.summary.strip(), count=1)
    m = _OPENING_NAME.match(body)
    if m:
        names.add(m.group(1))
    return names


@dataclass
class CatalogueFacts:
    """Weeks, sources, names and titles of one catalogue version.

    Title names are indexed up front; names a summary introduces are looked
    for only in the few papers that contain the asked name (the best BM25
    matches of the version's keyword index), because scanning every summary
    costs seconds per 10k papers.  Built with the catalogue and saved in its
    snapshot (indexing the title names takes ~2 s at 100k papers, which a
    starting bot or a CLI command would otherwise pay before its first answer).
    """

    papers: Sequence[Paper]
    lexical: LexicalIndex
    weeks: list[str] = field(init=False)
    #: The digest files and URLs the papers were read from.
    sources: list[str] = field(init=False)
    _by_name: dict[str, list[Paper]] = field(init=False, repr=False)
    _by_title: dict[str, Paper] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.weeks = sorted({w for p in self.papers for w in p.weeks})
        self.sources = sorted({m.source for p in self.papers for m in p.sources})
        self._by_name = {}
        self._by_title = {}
        for paper in self.papers:
            self._by_title.setdefault(normalised(paper.title), paper)
            for name in title_names(paper):
                self._by_name.setdefault(name, []).append(paper)

    def named(self, name: str) -> list[Paper]:
        """Papers that go by ``name``: by their title or its short name, else by
        a name their summary introduces.  A "name" made only of words many
        papers use ("Software", "Language Model") is ordinary words, not a name."""
        key = normalised(name)
        if len(key) < 2 or key in STOPWORDS:
            return []
        if key in self._by_name:
            return list(self._by_name[key])
        terms = tokenize(name)
        # "FRAMES", "xLAM", "YOLO11" are shaped like names; "Software" needs to be rare to be one.
        shaped = bool(re.search(r"[A-Za-z][A-Z]|\d", name))
        if not terms or (not shaped and all(self.lexical.doc_freq(t) > _NAME_MAX_PAPERS for t in terms)):
            return []
        return [p for p in self._candidates(name) if key in {normalised(n) for n in introduced_names(p)}]

    def _candidates(self, name: str) -> list[Paper]:
        """The papers that match ``name`` best by BM25."""
        scores = self.lexical.scores(name)
        top = [int(i) for i in np.argsort(-scores)[:NAME_CANDIDATES] if scores[i] > 0]
        return [self.lexical.papers[i] for i in top]

    def week_papers(self, week: str) -> list[Paper]:
        """One digest week's papers in the digest's own order (that week's mention of each)."""
        in_week = [p for p in self.papers if week in p.weeks]

        def position(paper: Paper) -> tuple[str, int]:
            mention = next((m for m in paper.sources if m.week == week), None)
            if mention is None:
                return paper.source, paper.line or 0
            return mention.source, mention.line or 0

        return sorted(in_week, key=position)

    def titled_in(self, text: str) -> list[Paper]:
        """Papers whose full title an answer shows in bold (``**Title**``), in order."""
        found: list[Paper] = []
        for m in _BOLD.finditer(text):
            paper = self._by_title.get(normalised(m.group(1)))
            if paper is not None and paper not in found:
                found.append(paper)
        return found
