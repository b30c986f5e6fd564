"""Question understanding (index/question.py): intent, subject and time scope,
resolved against a fixed list of digest weeks; no index or model needed."""

from __future__ import annotations

import datetime as dt

import pytest

from index.question import aspect_of, name_of, understand, week_of, weeks_between

#: Sunday-labelled digest weeks with a gap in August, like a real digest history.
WEEKS = [
    "2024-06-30", "2024-07-07", "2024-07-14", "2024-07-21", "2024-07-28", "2024-08-04",
    "2024-09-01", "2024-09-08", "2024-09-15", "2024-09-22", "2024-09-29", "2024-10-06",
]


@pytest.mark.parametrize(
    ("question", "weeks"),
    [
        ("what's new this week?", ("2024-10-06",)),
        ("summarize the latest digest", ("2024-10-06",)),
        ("tl;dr of the newest digest", ("2024-10-06",)),
        ("what's new?", ("2024-10-06",)),
        ("what did last week's digest cover?", ("2024-09-29",)),
        ("give me the highlights from two weeks ago", ("2024-09-22",)),
        ("What was in the digest for the week of September 15?", ("2024-09-15",)),
        ("show me the papers from the Sept 22, 2024 digest", ("2024-09-22",)),
        ("what was in the 2024-09-29 digest?", ("2024-09-29",)),
        ("what came out in the digest of 1 September 2024?", ("2024-09-01",)),
        ("what were the highlights in September 2024?", ("2024-09-08", "2024-09-15", "2024-09-22", "2024-09-29")),
        ("which papers showed up in July 2024?", ("2024-07-07", "2024-07-14", "2024-07-21", "2024-07-28")),
        ("anything interesting in early October?", ("2024-10-06",)),
        ("highlights of mid-September", ("2024-09-15", "2024-09-22")),
        ("papers from the digest dated September 1", ("2024-09-01",)),
        ("what got covered in August 2024?", ("2024-08-04", "2024-09-01")),
    ],
)
def test_week_questions_resolve_against_the_digest_weeks(question: str, weeks: tuple[str, ...]) -> None:
    understood = understand(question, WEEKS)
    assert understood.intent == "week", understood
    assert understood.scope is not None and understood.scope.weeks == weeks
    assert understood.subject == ""


def test_relative_dates_count_from_the_newest_digest_not_the_clock() -> None:
    older = WEEKS[:6]  # the newest digest here is 2024-08-04
    assert understand("what's new this week?", older).scope.weeks == ("2024-08-04",)  # type: ignore[union-attr]
    assert understand("what did last week's digest cover?", older).scope.weeks == ("2024-07-28",)  # type: ignore[union-attr]


def test_a_date_without_a_digest_is_reported_not_moved() -> None:
    understood = understand("What was in the digest of August 18?", WEEKS)
    assert understood.scope is not None and understood.scope.weeks == ()
    assert understood.scope.label == "no digest for 2024-08-18"


def test_a_time_scoped_topic_keeps_its_subject_and_its_week() -> None:
    understood = understand("what quantization papers were in the October 6 digest?", WEEKS)
    assert understood.intent == "topic"
    assert understood.subject == "quantization"
    assert understood.scope is not None and understood.scope.weeks == ("2024-10-06",) and not understood.scope.recent
    assert "October" not in understood.query  # the date is not something to retrieve on


def test_recent_is_a_preference_for_the_last_month_not_a_week() -> None:
    understood = understand("any recent papers on agents?", WEEKS)
    assert understood.intent == "topic" and understood.subject == "agents"
    assert understood.scope is not None and understood.scope.recent
    assert understood.scope.weeks == ("2024-09-15", "2024-09-22", "2024-09-29", "2024-10-06")


@pytest.mark.parametrize(
    ("question", "intent", "subject"),
    [
        ("what did the digests say about Time-MoE?", "paper", "Time-MoE"),
        ("tell me about Movie Gen", "paper", "Movie Gen"),
        ("explain DeepSeek-R1 simply", "define", "DeepSeek-R1"),
        ("what is FRAMES?", "define", "FRAMES"),
        ("help", "help", "help"),
        ("what can you do?", "help", ""),
    ],
)
def test_framing_words_are_not_the_subject(question: str, intent: str, subject: str) -> None:
    understood = understand(question, WEEKS)
    assert understood.intent == intent
    if intent != "help":
        assert understood.subject == subject
        assert understood.scope is None


def test_comparisons_have_two_sides() -> None:
    understood = understand("compare DeepSeek-R1 and Kimi k1.5", WEEKS)
    assert understood.intent == "compare" and understood.compared == ("DeepSeek-R1", "Kimi k1.5")
    assert understand("VPTQ vs Spectra?", WEEKS).compared == ("VPTQ", "Spectra")


def test_follow_up_signals() -> None:
    assert understand("what are its results?", WEEKS).refers_back
    assert not understand("what's new this week?", WEEKS).refers_back  # "this week" points at a date, not a paper
    assert not understand("how big is the largest model?", WEEKS).refers_back
    assert aspect_of("how big is the largest model?").name == "size"  # type: ignore[union-attr]
    assert aspect_of("what are its results?").name == "results"  # type: ignore[union-attr]
    assert aspect_of("what data was it trained on?").name == "data"  # type: ignore[union-attr]
    assert aspect_of("who cares") is None


def test_a_month_name_that_is_a_word_is_no_date() -> None:
    assert understand("May I ask about Llama 3?", WEEKS).scope is None


def test_week_arithmetic() -> None:
    assert week_of(dt.date(2024, 10, 3), WEEKS) == "2024-10-06"  # a paper dated Oct 3 sits in the Oct 6 digest
    assert week_of(dt.date(2024, 10, 7), WEEKS) is None  # after the newest digest
    # a week belongs to the month most of its days are in
    assert weeks_between(dt.date(2024, 8, 1), dt.date(2024, 8, 31), WEEKS) == ("2024-08-04", "2024-09-01")
    assert name_of("the Scylla framework") == "Scylla"


def test_no_weeks_no_scope() -> None:
    understood = understand("what's new this week?", [])
    assert understood.scope is None or understood.scope.weeks == ()
