"""Retrieval and answer evaluation on JSONL question sets.

Each line is ``{"q": question, "expect": [arXiv id or title fragment, ...]}``.
A returned paper matches an expectation when its arXiv id or title contains it
(case-insensitive).  Files with one expectation per question are scored by
hit@1 / hit@5 / MRR, files with several by recall@10, files without ``expect``
by the share of questions the answerer abstains on.  The three retrievers are
reported side by side so a change that helps one and hurts another shows.

Three kinds score whole answers (the answerer run on each retriever in turn):

* time questions, ``{"q": ..., "weeks": [digest weeks]}`` (optionally ``expect``):
  right when the answer does not abstain and every week it used is expected;
* covered conversational questions, ``{"q": ..., "expect": [...], "kind": "covered"}``:
  the digests cover them, so any abstention is a false one, and the answer must
  cite the paper;
* follow-up pairs, ``{"turns": [first, second], "expect": [...]}`` (optionally
  ``contains``, a phrase the second answer should quote): the second answer,
  given the first as history, must cite the first one's paper.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from index.models import Paper
from index.retrieve import MODES

if TYPE_CHECKING:
    from index.answer import Answer
    from index.engine import Engine

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Question:
    q: str
    expect: tuple[str, ...] = ()
    weeks: tuple[str, ...] = ()
    turns: tuple[str, ...] = ()
    kind: str = ""
    contains: str = ""


@dataclass
class FileReport:
    """Metrics for one question file; ``retrievers`` maps mode → metric → value."""

    path: str
    kind: str  # "single" | "multi" | "abstain" | "time" | "covered" | "follow_up"
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
        if not isinstance(item, dict):
            raise QuestionFileError(f'{path}:{n}: expected {{"q": "question", "expect": [...]}}')
        turns = item.get("turns") or ()
        if not isinstance(turns, (list, tuple)) or not all(isinstance(t, str) and t.strip() for t in turns):
            raise QuestionFileError(f'{path}:{n}: "turns" must be a list of questions')
        q = item.get("q", turns[-1] if turns else None)
        if not isinstance(q, str) or not q.strip():
            raise QuestionFileError(f'{path}:{n}: expected {{"q": "question", "expect": [...]}}')
        fields = {}
        for key in ("expect", "weeks"):
            value = item.get(key) or ()
            if isinstance(value, str) or not isinstance(value, (list, tuple)):
                raise QuestionFileError(f'{path}:{n}: "{key}" must be a list')
            fields[key] = tuple(str(v) for v in value)
        questions.append(
            Question(
                q=q,
                expect=fields["expect"],
                weeks=fields["weeks"],
                turns=tuple(turns),
                kind=str(item.get("kind") or ""),
                contains=str(item.get("contains") or ""),
            )
        )
    if not questions:
        raise QuestionFileError(f"{path} has no questions")
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


def evaluate_file(engine: Engine, path: str | Path, questions: Sequence[Question] | None = None) -> FileReport:
    """Score one question file; ``questions``, when the caller has already loaded
    (and so checked) them, saves reading the file again."""
    questions = list(load_questions(path) if questions is None else questions)
    answer_kind = _answer_kind(questions)
    if answer_kind:
        return _evaluate_answers(engine, str(path), answer_kind, questions)
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


def _evaluate_abstain(engine: Engine, path: str, questions: Sequence[Question]) -> FileReport:
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


def _answer_kind(questions: Sequence[Question]) -> str:
    if any(q.turns for q in questions):
        return "follow_up"
    if any(q.weeks for q in questions):
        return "time"
    if any(q.kind == "covered" for q in questions):
        return "covered"
    return ""


def _cites(answer: Answer, expect: Sequence[str]) -> bool:
    return any(
        any(e.lower() in (c.arxiv_id or "").lower() or e.lower() in c.title.lower() for e in expect)
        for c in answer.citations
    )


def _evaluate_answers(engine: Engine, path: str, kind: str, questions: Sequence[Question]) -> FileReport:
    """Whole answers, once per retriever: the answerer's understanding of the
    question is the same for all three, so differences come from retrieval."""
    from index.answer import Turn
    from index.question import understand

    report = FileReport(path=path, kind=kind, questions=len(questions))
    answerer = engine.answerer()
    for mode in MODES:
        right: list[float] = []
        cited: list[float] = []
        quoted: list[float] = []
        ranked: list[int | None] = []
        for q in questions:
            if kind == "follow_up":
                first = answerer.answer(q.turns[0], mode=mode)
                answer = answerer.answer(q.turns[-1], history=[Turn(q.turns[0], first.text)], mode=mode)
                first_ids = {c.paper_id for c in first.citations}
                ok = (
                    _cites(first, q.expect)
                    and bool(first_ids & {c.paper_id for c in answer.citations})
                    and _cites(answer, q.expect)
                )
                right.append(float(ok))
                if q.contains:
                    quoted.append(float(q.contains.lower() in answer.text.lower()))
                problem = None if ok else "the follow-up did not cite the thread's paper"
            elif kind == "time":
                answer = answerer.answer(q.q, mode=mode)
                ok = not answer.abstained and bool(answer.weeks) and set(answer.weeks) <= set(q.weeks)
                right.append(float(ok))
                if q.expect:
                    cited.append(float(_cites(answer, q.expect)))
                problem = (
                    None if ok else f"answered from {answer.weeks or 'no week'}" + (" (abstained)" if answer.abstained else "")
                )
            else:
                answer = answerer.answer(q.q, mode=mode)
                right.append(float(not answer.abstained))
                cited.append(float(_cites(answer, q.expect)))
                # Retrieval alone on what the answerer searches for (framing removed),
                # before a named paper is put first: where the retrievers differ.
                query = understand(q.q, answerer.catalogue().weeks).query
                ranked.append(_first_hit_rank([h.paper for h in engine.search(query, k=5, mode=mode)], q.expect))
                problem = "abstained" if answer.abstained else (None if cited[-1] else "did not cite the paper")
            if mode == "hybrid" and problem:
                report.misses.append({"q": " → ".join(q.turns) or q.q, "problem": problem})
        metrics = {
            "time": {"right_weeks": _mean(right)},
            "covered": {
                "answered": _mean(right),
                "cites_expected": _mean(cited),
                "search_hit@1": _mean([1.0 if r == 1 else 0.0 for r in ranked]),
            },
            "follow_up": {"cites_thread_paper": _mean(right)},
        }[kind]
        if kind == "time" and cited:
            metrics["cites_expected"] = _mean(cited)
        if quoted:
            metrics["quotes_expected"] = _mean(quoted)
        report.retrievers[mode] = metrics
    return report


def _mean(values: Sequence[float]) -> float:
    return round(sum(values) / len(values), 4) if values else 0.0
