"""Retrieval and answer evaluation on JSONL question sets.

Each line is ``{"q": question, "expect": [arXiv id or title fragment, ...]}``.
A returned paper matches an expectation when its arXiv id or title contains it
(case-insensitive).  Files with one expectation per question are scored by
hit@1 / hit@5 / MRR, files with several by recall@10, files without ``expect``
by the share of questions the answerer abstains on.  The three retrievers are
reported side by side so a change that helps one and hurts another shows.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

from index.models import Paper
from index.retrieve import MODES

if TYPE_CHECKING:
    from index.engine import Engine

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Question:
    q: str
    expect: tuple[str, ...] = ()


@dataclass
class FileReport:
    """Metrics for one question file; ``retrievers`` maps mode → metric → value."""

    path: str
    kind: str  # "single" | "multi" | "abstain"
    questions: int
    retrievers: dict[str, dict[str, float]] = field(default_factory=dict)
    answers: dict[str, float] = field(default_factory=dict)
    misses: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "file": self.path,
            "kind": self.kind,
            "questions": self.questions,
            "retrievers": self.retrievers,
            "answers": self.answers,
            "misses": self.misses,
        }


def load_questions(path: str | Path) -> list[Question]:
    questions = []
    for n, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
            questions.append(Question(q=str(item["q"]), expect=tuple(str(e) for e in item.get("expect") or ())))
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"{path}:{n}: not a question line ({exc})") from exc
    return questions


def matches(paper: Paper, expectation: str) -> bool:
    """By arXiv id or any name of the paper: its title or an alias (the digest's
    headline when the title is the paper's own)."""
    e = expectation.lower()
    return e in (paper.arxiv_id or "").lower() or any(e in name.lower() for name in [paper.title, *paper.aliases])


def _first_hit_rank(papers: Sequence[Paper], expect: Sequence[str]) -> int | None:
    for rank, paper in enumerate(papers, 1):
        if any(matches(paper, e) for e in expect):
            return rank
    return None


def evaluate_file(engine: "Engine", path: str | Path) -> FileReport:
    questions = load_questions(path)
    if all(not q.expect for q in questions):
        return _evaluate_abstain(engine, str(path), questions)
    kind = "multi" if any(len(q.expect) > 1 for q in questions) else "single"
    report = FileReport(path=str(path), kind=kind, questions=len(questions))
    for mode in MODES:
        ranks: list[int | None] = []
        recalls: list[float] = []
        for q in questions:
            papers = [h.paper for h in engine.search(q.q, k=10, mode=mode)]
            if kind == "multi":
                found = sum(1 for e in q.expect if any(matches(p, e) for p in papers))
                recalls.append(found / len(q.expect))
                if mode == "hybrid" and found < len(q.expect):
                    missing = [e for e in q.expect if not any(matches(p, e) for p in papers)]
                    report.misses.append({"q": q.q, "missing": missing})
            else:
                rank = _first_hit_rank(papers, q.expect)
                ranks.append(rank)
                if mode == "hybrid" and rank != 1:
                    report.misses.append({"q": q.q, "rank": rank, "top": papers[0].title if papers else None})
        if kind == "multi":
            report.retrievers[mode] = {"recall@10": _mean(recalls)}
        else:
            report.retrievers[mode] = {
                "hit@1": _mean([1.0 if r == 1 else 0.0 for r in ranks]),
                "hit@5": _mean([1.0 if r is not None and r <= 5 else 0.0 for r in ranks]),
                "mrr": _mean([1.0 / r if r else 0.0 for r in ranks]),
            }
    if kind == "single":
        answered = cited = 0
        catalogue = {p.paper_id: p for p in engine.papers()}
        for q in questions:
            answer = engine.ask(q.q)
            if not answer.abstained:
                answered += 1
                cited_papers = [catalogue[c.paper_id] for c in answer.citations if c.paper_id in catalogue]
                if any(matches(p, e) for p in cited_papers for e in q.expect):
                    cited += 1
                else:
                    report.misses.append({"q": q.q, "ask": "answered without citing the expected paper"})
            else:
                report.misses.append({"q": q.q, "ask": "abstained"})
        report.answers = {"answered": answered / len(questions), "cites_expected": cited / len(questions)}
    return report


def _evaluate_abstain(engine: "Engine", path: str, questions: Sequence[Question]) -> FileReport:
    report = FileReport(path=path, kind="abstain", questions=len(questions))
    abstained = 0
    for q in questions:
        answer = engine.ask(q.q)
        if answer.abstained:
            abstained += 1
        else:
            report.misses.append({"q": q.q, "answered_with": [c.title for c in answer.citations]})
    report.answers = {"abstained": abstained / len(questions) if questions else 0.0}
    return report


def _mean(values: Sequence[float]) -> float:
    return round(sum(values) / len(values), 4) if values else 0.0
