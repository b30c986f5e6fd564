"""`make eval`: answer quality on the real shared digests, against the targets.

The test suite runs on the repo's fixture digests so that a fresh clone passes;
this script is where the real digests (``../shared/data/digests``) and the dev sets
(``../shared/eval``) plus our own held-out sets (``bench/eval``) are measured.  It
ingests both shared digests into a temp data dir, checks the ingest (150 papers;
a second ingest changes nothing), evaluates every set with the dense, BM25 and
hybrid retrievers side by side, prints markdown tables, and exits 1 when a
target regresses, so CI fails on a quality regression as it does on a test.

The targets are the ones the issues set; none was fitted to these lists.

Usage: python -m bench.quality [--shared DIR] [--json]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from bench.common import REPO_ROOT
from config import Settings
from config.logs import setup_logging
from index import MODES, Engine, FileReport, evaluate_file

HOLDOUT = REPO_ROOT / "bench" / "eval"
#: Papers in the two shared digests (112 weekly items + 38 table rows).
SHARED_PAPERS = 150


@dataclass(frozen=True)
class Target:
    """One bound: ``report.<section>[<key>]`` (``retrievers`` go through ``mode``) ≥ ``minimum``."""

    name: str
    section: str  # "retrievers" or "answers"
    key: str
    minimum: float
    mode: str = "hybrid"

    def value(self, report: FileReport) -> float:
        if self.section == "retrievers":
            return report.retrievers[self.mode][self.key]
        return report.answers[self.key]


#: Question file (relative to its root) → the targets it must meet.
TARGETS: dict[str, tuple[Target, ...]] = {
    "dev_questions.jsonl": (
        Target("plain hit@1", "retrievers", "hit@1", 0.97),
        Target("plain hit@5", "retrievers", "hit@5", 0.99),
    ),
    "dev_hard.jsonl": (
        Target("hard hit@1", "retrievers", "hit@1", 0.93),
        Target("hard: ask cites the paper", "answers", "cites_expected", 0.90),
    ),
    "dev_multi.jsonl": (Target("multi recall@10", "retrievers", "recall@10", 0.95),),
    "dev_abstain.jsonl": (Target("abstain", "answers", "abstained", 7 / 8),),
    "holdout_hard.jsonl": (
        Target("held-out hard hit@1", "retrievers", "hit@1", 0.90),
        Target("held-out hard hit@5", "retrievers", "hit@5", 0.97),
        Target("held-out hard: ask cites the paper", "answers", "cites_expected", 0.90),
    ),
    "holdout_multi.jsonl": (Target("held-out multi recall@10", "retrievers", "recall@10", 0.90),),
    "holdout_abstain.jsonl": (Target("held-out abstain", "answers", "abstained", 7 / 8),),
    # The questions people ask (issue 12): week/time, covered conversational, follow-ups.
    "dev_time.jsonl": (Target("time: answered from the right weeks", "retrievers", "right_weeks", 0.90),),
    "dev_covered.jsonl": (Target("covered: no false abstention", "retrievers", "answered", 1.0),),
    "dev_followup.jsonl": (Target("follow-up cites the thread's paper", "retrievers", "cites_thread_paper", 0.90),),
    "holdout_time.jsonl": (Target("held-out time: right weeks", "retrievers", "right_weeks", 0.90),),
    "holdout_covered.jsonl": (Target("held-out covered: no false abstention", "retrievers", "answered", 1.0),),
    "holdout_followup.jsonl": (
        Target("held-out follow-up cites the thread's paper", "retrievers", "cites_thread_paper", 0.90),
    ),
}


def question_files(shared: Path) -> list[Path]:
    """The shared dev sets, then our own held-out sets, in a stable order."""
    return sorted((shared / "eval").glob("*.jsonl")) + sorted(HOLDOUT.glob("*.jsonl"))


def check_ingest(engine: Engine, digests: list[str]) -> list[str]:
    """Ingest the shared digests twice; the problems found (empty when all is well)."""
    first = engine.ingest(digests)
    again = engine.ingest(digests)
    problems = []
    if first.papers != SHARED_PAPERS:
        problems.append(f"shared digests gave {first.papers} papers, expected {SHARED_PAPERS}")
    if again.new or again.updated:
        problems.append(f"re-ingest changed the index: {again.new} new, {again.updated} updated")
    print(
        f"ingest: {first.papers} papers ({first.new} new); re-ingest {again.new} new / {again.updated} updated",
        file=sys.stderr,
    )
    return problems


def retriever_table(reports: list[FileReport]) -> str:
    lines = ["| set | n | metric | " + " | ".join(MODES) + " |", "|---|---:|---|" + "---:|" * len(MODES)]
    for report in reports:
        for metric in report.retrievers.get("hybrid", {}):
            cells = " | ".join(f"{report.retrievers[m][metric]:.3f}" for m in MODES)
            lines.append(f"| {Path(report.path).name} | {report.questions} | {metric} | {cells} |")
        for metric, value in report.answers.items():
            lines.append(f"| {Path(report.path).name} | {report.questions} | ask {metric} | | | {value:.3f} |")
    return "\n".join(lines)


def check_targets(reports: list[FileReport]) -> tuple[str, list[str]]:
    """The target table and the failures.  Besides its bounds, hybrid may lose to
    neither retriever alone on any metric a set is judged by (and on MRR)."""
    lines = ["| target | value | minimum | |", "|---|---:|---:|---|"]
    failures: list[str] = []
    for report in reports:
        name = Path(report.path).name
        targets = list(TARGETS.get(name, ()))
        judged = {t.key for t in targets if t.section == "retrievers"} | ({"mrr"} & set(report.retrievers.get("hybrid", {})))
        for key in sorted(judged):
            best_single = max(report.retrievers[m][key] for m in MODES if m != "hybrid")
            targets.append(Target(f"{name}: hybrid {key} ≥ best single retriever", "retrievers", key, best_single))
        for target in targets:
            value = target.value(report)
            ok = value >= target.minimum - 1e-9
            lines.append(f"| {target.name} | {value:.3f} | {target.minimum:.3f} | {'ok' if ok else 'REGRESSED'} |")
            if not ok:
                failures.append(f"{target.name}: {value:.3f} < {target.minimum:.3f}")
    return "\n".join(lines), failures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=REPO_ROOT.parent / "shared", help="the shared folder (default ../shared)")
    parser.add_argument("--json", action="store_true", help="print the reports as one JSON document instead of tables")
    args = parser.parse_args(argv)
    setup_logging("WARNING")

    digests = sorted(str(p) for p in (args.shared / "data" / "digests").glob("*.md"))
    if not digests:
        print(f"eval: no shared digests under {args.shared}/data/digests", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="paperbot-eval-") as tmp:
        engine = Engine(Settings.from_env(environ={}, dotenv_path=None, data_dir=Path(tmp) / "data"))
        problems = check_ingest(engine, digests)
        reports = [evaluate_file(engine, path) for path in question_files(args.shared)]
    table, failures = check_targets(reports)
    failures = problems + failures
    if args.json:
        print(json.dumps({"reports": [r.to_json() for r in reports], "failures": failures}, indent=2))
    else:
        print("\n" + retriever_table(reports) + "\n\n" + table)
        for report in reports:
            for miss in report.misses:
                print(f"miss ({Path(report.path).name}): {json.dumps(miss, ensure_ascii=False)}")
    if failures:
        print("eval: " + "; ".join(failures), file=sys.stderr)
        return 1
    print(f"eval: all {sum(len(TARGETS.get(Path(r.path).name, ())) for r in reports)} targets met", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
