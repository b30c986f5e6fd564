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


class QuestionFileError(ValueError):
    """A question file that cannot be evaluated; the message names the file (and line)."""


def load_questions(path: str | Path) -> list[Question]:
    """The questions of one JSONL file; every way it can be unusable (missing, a
    folder, not UTF-8, a line that is not a question, no questions at all) is a
    :class:`QuestionFileError` whose message is one line for the user."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise QuestionFileError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise QuestionFileError(f"{path} is a folder; give a .jsonl file of questions") from None
    except UnicodeDecodeError:
        raise QuestionFileError(f"{path} is not UTF-8 text") from None
    except OSError as exc:
        raise QuestionFileError(f"cannot read {path}: {exc.strerror or exc}") from None
    questions = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except ValueError:
            raise QuestionFileError(f"{path}:{n}: not a JSON line") from None
        if not isinstance(item, dict) or not isinstance(item.get("q"), str) or not item["q"].strip():
            raise QuestionFileError(f'{path}:{n}: expected {{"q": "question", "expect": [...]}}')
        expect = item.get("expect") or ()
        if isinstance(expect, str) or not isinstance(expect, (list, tuple)):
            raise QuestionFileError(f'{path}:{n}: "expect" must be a list of arXiv ids or title fragments')
        questions.append(Question(q=item["q"], expect=tuple(str(e) for e in expect)))
    if not questions:
        raise QuestionFileError(f"{path} has no questions")
    return questions


def matches(paper: Paper, expectation: str) -> bool:
    e = expectation.lower()
    return e in (paper.arxiv_id or "").lower() or e in paper.title.lower()


def _first_hit_rank(papers: Sequence[Paper], expect: Sequence[str]) -> int | None:
    for rank, paper in enumerate(papers, 1):
        if any(matches(paper, e) for e in expect):
            return rank
    return None


def evaluate_file(engine: "Engine", path: str | Path, questions: Sequence[Question] | None = None) -> FileReport:
    """Score one question file; ``questions``, when the caller has already loaded
    (and so checked) them, saves reading the file again."""
    questions = list(load_questions(path) if questions is None else questions)
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
        for q in questions:
            answer = engine.ask(q.q)
            if not answer.abstained:
                answered += 1
                if any(any(e.lower() in (c.arxiv_id or "").lower() or e.lower() in c.title.lower() for e in q.expect) for c in answer.citations):
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
