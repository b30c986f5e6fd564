"""The bot's own durable state in SQLite: answers and feedback, digest
subscriptions, which week each channel was sent, the announcement schedule, and
the work in flight (announcement threads being posted, mentions being answered).

Only ids are stored about people (never names), and every call is short and
blocking, so the Discord layer runs them with ``asyncio.to_thread``.  The file
handling is :class:`index.sqlitedb.SQLiteFile`, shared with the source ledger:
numbered migrations, a file that stops being a database (at start or while the
bot runs) moved aside with a timestamp and recreated, a file deleted while the
bot runs recreated, and a data dir that cannot be written (read-only, full)
reported as :class:`StateUnavailable` with the path and the reason.  The paper
index lives elsewhere (Chroma) and is never touched here.

Exactly-once announcements rest on the ``announcements`` table, one row per
(channel, week) under a primary key: a row is *claimed* before the post is
sent and marked *sent* once Discord confirmed it.  A claim that was never
confirmed (the bot died between sending and recording) is resolved by the
announcer from the channel's history; the same claim-then-confirm rule covers
each message of the announcement's thread (``parts_done`` / ``part_claimed``).
"""

from __future__ import annotations

import json
import logging
import sqlite3
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal, TypeVar

from index import DatabaseUnavailable, Schema, SQLiteFile

log = logging.getLogger(__name__)

T = TypeVar("T")

#: Numbered migrations (``PRAGMA user_version``): append, never edit one that shipped.
SCHEMA = Schema(
    what="bot state database",
    migrations=(
        (
            """CREATE TABLE IF NOT EXISTS answers (
                answer_id INTEGER PRIMARY KEY AUTOINCREMENT,
                created REAL NOT NULL,
                guild_id INTEGER,
                channel_id INTEGER,
                user_id INTEGER,
                question TEXT NOT NULL,
                answer TEXT NOT NULL,
                citations TEXT NOT NULL,
                abstained INTEGER NOT NULL,
                backend TEXT NOT NULL
            )""",
            """CREATE TABLE IF NOT EXISTS feedback (
                answer_id INTEGER NOT NULL REFERENCES answers(answer_id),
                user_id INTEGER NOT NULL,
                vote INTEGER NOT NULL CHECK (vote IN (-1, 1)),
                created REAL NOT NULL,
                PRIMARY KEY (answer_id, user_id)
            )""",
            """CREATE TABLE IF NOT EXISTS subscriptions (
                channel_id INTEGER PRIMARY KEY,
                guild_id INTEGER NOT NULL,
                subscribed_by INTEGER,
                created REAL NOT NULL,
                problem TEXT,
                problem_at REAL
            )""",
            """CREATE TABLE IF NOT EXISTS announcements (
                channel_id INTEGER NOT NULL,
                week TEXT NOT NULL,
                state TEXT NOT NULL CHECK (state IN ('claimed', 'sent')),
                claimed REAL NOT NULL,
                sent REAL,
                message_id INTEGER,
                thread_id INTEGER,
                PRIMARY KEY (channel_id, week)
            )""",
            "CREATE INDEX IF NOT EXISTS announcements_thread ON announcements (thread_id)",
            "CREATE TABLE IF NOT EXISTS schedule (name TEXT PRIMARY KEY, value TEXT NOT NULL)",
        ),
        # 2: in-flight work survives a kill -9.  How far an announcement's thread got
        # (announcements from before this migration count as complete), and the
        # mentions that were accepted but not answered yet.
        (
            "ALTER TABLE announcements ADD COLUMN complete INTEGER NOT NULL DEFAULT 1",
            "ALTER TABLE announcements ADD COLUMN parts_done INTEGER NOT NULL DEFAULT 0",
            "ALTER TABLE announcements ADD COLUMN part_claimed REAL",
            "ALTER TABLE announcements ADD COLUMN last_part_id INTEGER",
            """CREATE TABLE IF NOT EXISTS pending_questions (
                message_id INTEGER PRIMARY KEY,
                channel_id INTEGER NOT NULL,
                guild_id INTEGER,
                user_id INTEGER NOT NULL,
                question TEXT NOT NULL,
                created REAL NOT NULL
            )""",
        ),
    ),
)

ClaimOutcome = Literal["claimed", "sent", "unconfirmed"]


@dataclass(frozen=True)
class FeedbackRow:
    answer_id: int
    question: str
    answer: str
    citations: list[dict[str, Any]]
    abstained: bool
    backend: str
    up: int
    down: int

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Subscription:
    """A channel that receives the weekly digest, with what it was last sent."""

    channel_id: int
    guild_id: int
    subscribed_by: int | None
    created: float
    #: Why the last delivery failed (deleted channel, lost permission), until one succeeds.
    problem: str | None = None
    problem_at: float | None = None
    last_week: str | None = None
    last_sent: float | None = None


@dataclass(frozen=True)
class Claim:
    """The result of claiming (channel, week) before posting it.

    ``claimed``: this caller owns the post; ``sent``: it went out before;
    ``unconfirmed``: an earlier attempt claimed it at ``since`` and never
    recorded Discord's confirmation.
    """

    outcome: ClaimOutcome
    since: float | None = None


class StateUnavailable(DatabaseUnavailable):
    """The state database cannot be opened or written; the message says where and why."""


@dataclass(frozen=True)
class Progress:
    """An announcement whose channel post is out but whose thread is not finished."""

    channel_id: int
    week: str
    message_id: int
    thread_id: int | None
    #: Thread messages posted and confirmed so far.
    parts_done: int
    #: When the next part was claimed, if a kill may have cut its post short.
    part_claimed: float | None
    #: The last message of this announcement Discord confirmed (the channel post at first).
    last_part_id: int | None


@dataclass(frozen=True)
class PendingQuestion:
    """A mention that was accepted but whose answer was not posted yet."""

    message_id: int
    channel_id: int
    guild_id: int | None
    user_id: int
    question: str
    created: float


class BotState:
    """One SQLite file under the data dir, opened per call (safe across threads),
    recovered in place if it is deleted or overwritten while the bot runs."""

    def __init__(self, path: Path) -> None:
        self.db = SQLiteFile(path, SCHEMA, log=log, error=StateUnavailable)
        self.path = self.db.path

    @property
    def backup(self) -> Path | None:
        """Where a corrupt state file was last moved, if one was."""
        return self.db.backup

    def _write(self, work: Callable[[sqlite3.Connection], T]) -> T:
        return self.db.run(work, write=True)

    def _read(self, work: Callable[[sqlite3.Connection], T]) -> T:
        return self.db.run(work)

    def record_answer(
        self,
        *,
        question: str,
        answer: str,
        citations: Sequence[dict[str, Any]],
        abstained: bool,
        backend: str,
        guild_id: int | None,
        channel_id: int | None,
        user_id: int | None,
    ) -> int:
        """Store an answer so later feedback can point at it; returns its id."""
        row = (time.time(), guild_id, channel_id, user_id, question, answer, json.dumps(list(citations)), int(abstained), backend)

        def insert(db: sqlite3.Connection) -> int:
            cur = db.execute(
                "INSERT INTO answers (created, guild_id, channel_id, user_id, question, answer, citations, abstained, backend)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                row,
            )
            return int(cur.lastrowid or 0)

        return self._write(insert)

    def record_vote(self, answer_id: int, user_id: int, vote: int) -> bool:
        """One vote per user per answer (a second click changes it); False if unknown answer."""

        def upsert(db: sqlite3.Connection) -> bool:
            if db.execute("SELECT 1 FROM answers WHERE answer_id = ?", (answer_id,)).fetchone() is None:
                return False
            db.execute(
                "INSERT INTO feedback (answer_id, user_id, vote, created) VALUES (?, ?, ?, ?)"
                " ON CONFLICT(answer_id, user_id) DO UPDATE SET vote = excluded.vote, created = excluded.created",
                (answer_id, user_id, 1 if vote > 0 else -1, time.time()),
            )
            return True

        return self._write(upsert)

    def feedback(self) -> list[FeedbackRow]:
        """Every answer that received a vote, with its tallies."""
        rows = self._read(
            lambda db: db.execute(
                "SELECT a.answer_id, a.question, a.answer, a.citations, a.abstained, a.backend,"
                " SUM(f.vote = 1), SUM(f.vote = -1)"
                " FROM answers a JOIN feedback f ON f.answer_id = a.answer_id"
                " GROUP BY a.answer_id ORDER BY a.answer_id"
            ).fetchall()
        )
        return [
            FeedbackRow(r[0], r[1], r[2], json.loads(r[3]), bool(r[4]), r[5], int(r[6] or 0), int(r[7] or 0))
            for r in rows
        ]

    # -- digest subscriptions ------------------------------------------------------
    def subscribe(self, guild_id: int, channel_id: int, user_id: int | None) -> bool:
        """Subscribe a channel; False if it already was (its problem, if any, is cleared
        so the next run tries it again)."""

        def insert(db: sqlite3.Connection) -> bool:
            cur = db.execute(
                "INSERT INTO subscriptions (channel_id, guild_id, subscribed_by, created) VALUES (?, ?, ?, ?)"
                " ON CONFLICT(channel_id) DO NOTHING",
                (channel_id, guild_id, user_id, time.time()),
            )
            if cur.rowcount == 1:
                return True
            db.execute("UPDATE subscriptions SET problem = NULL, problem_at = NULL WHERE channel_id = ?", (channel_id,))
            return False

        return self._write(insert)

    def unsubscribe(self, channel_id: int) -> bool:
        """Stop announcing in a channel; False if it was not subscribed.  What it was
        sent is kept, so subscribing again never repeats a week."""
        return self._write(lambda db: db.execute("DELETE FROM subscriptions WHERE channel_id = ?", (channel_id,)).rowcount == 1)

    def subscriptions(self, guild_id: int | None = None) -> list[Subscription]:
        """Subscribed channels (of one guild, or all), oldest subscription first."""
        query = (
            "SELECT s.channel_id, s.guild_id, s.subscribed_by, s.created, s.problem, s.problem_at, a.week, a.sent"
            " FROM subscriptions s LEFT JOIN announcements a ON a.channel_id = s.channel_id AND a.state = 'sent'"
            " AND a.week = (SELECT MAX(week) FROM announcements b WHERE b.channel_id = s.channel_id AND b.state = 'sent')"
        )
        params: tuple[Any, ...] = ()
        if guild_id is not None:
            query += " WHERE s.guild_id = ?"
            params = (guild_id,)
        rows = self._read(lambda db: db.execute(query + " ORDER BY s.created, s.channel_id", params).fetchall())
        return [Subscription(*row) for row in rows]

    def record_problem(self, channel_id: int, problem: str | None) -> None:
        """Note why delivering to a channel failed (None: it works again)."""
        self._write(
            lambda db: db.execute(
                "UPDATE subscriptions SET problem = ?, problem_at = ? WHERE channel_id = ?",
                (problem, time.time() if problem else None, channel_id),
            )
        )

    # -- exactly-once announcements ---------------------------------------------------
    def claim_announcement(self, channel_id: int, week: str) -> Claim:
        """Claim the right to post ``week`` in a channel; the primary key makes this
        atomic, so two runs (or two processes) can never both own it."""

        def claim(db: sqlite3.Connection) -> Claim:
            cur = db.execute(
                "INSERT INTO announcements (channel_id, week, state, claimed, complete) VALUES (?, ?, 'claimed', ?, 0)"
                " ON CONFLICT(channel_id, week) DO NOTHING",
                (channel_id, week, time.time()),
            )
            if cur.rowcount == 1:
                return Claim("claimed")
            state, claimed = db.execute(
                "SELECT state, claimed FROM announcements WHERE channel_id = ? AND week = ?", (channel_id, week)
            ).fetchone()
            return Claim("sent" if state == "sent" else "unconfirmed", claimed)

        return self._write(claim)

    def confirm_announcement(self, channel_id: int, week: str, message_id: int) -> None:
        """Discord accepted the post: the week is sent to this channel for good."""
        self._write(
            lambda db: db.execute(
                "UPDATE announcements SET state = 'sent', sent = ?, message_id = ?, last_part_id = ?"
                " WHERE channel_id = ? AND week = ?",
                (time.time(), message_id, message_id, channel_id, week),
            )
        )

    def release_announcement(self, channel_id: int, week: str) -> None:
        """Discord refused the post, so nothing was shown: drop the claim so a later run may try again."""
        self._write(
            lambda db: db.execute(
                "DELETE FROM announcements WHERE channel_id = ? AND week = ? AND state = 'claimed'", (channel_id, week)
            )
        )

    def set_announcement_thread(self, channel_id: int, week: str, thread_id: int) -> None:
        self._write(
            lambda db: db.execute(
                "UPDATE announcements SET thread_id = ? WHERE channel_id = ? AND week = ?", (thread_id, channel_id, week)
            )
        )

    def claim_part(self, channel_id: int, week: str) -> None:
        """About to post the next thread message: if the bot dies now, a restart
        knows that this one may or may not be out."""
        self._write(
            lambda db: db.execute(
                "UPDATE announcements SET part_claimed = ? WHERE channel_id = ? AND week = ?", (time.time(), channel_id, week)
            )
        )

    def part_posted(self, channel_id: int, week: str, parts_done: int, message_id: int | None) -> None:
        """``parts_done`` thread messages are out; ``message_id`` is the last one (None: skipped)."""
        self._write(
            lambda db: db.execute(
                "UPDATE announcements SET parts_done = ?, part_claimed = NULL, last_part_id = COALESCE(?, last_part_id)"
                " WHERE channel_id = ? AND week = ?",
                (parts_done, message_id, channel_id, week),
            )
        )

    def finish_announcement(self, channel_id: int, week: str) -> None:
        """Everything of this announcement was posted (or given up on): nothing to resume."""
        self._write(
            lambda db: db.execute(
                "UPDATE announcements SET complete = 1, part_claimed = NULL WHERE channel_id = ? AND week = ?", (channel_id, week)
            )
        )

    def unfinished_announcements(self) -> list[Progress]:
        """Announcements whose channel post is out but whose thread was cut short."""
        rows = self._read(
            lambda db: db.execute(
                "SELECT channel_id, week, message_id, thread_id, parts_done, part_claimed, last_part_id FROM announcements"
                " WHERE state = 'sent' AND complete = 0 AND message_id IS NOT NULL ORDER BY sent"
            ).fetchall()
        )
        return [Progress(*row) for row in rows]

    def announcement_week(self, thread_id: int) -> str | None:
        """The digest week whose announcement opened this thread, if it is one."""
        row = self._read(lambda db: db.execute("SELECT week FROM announcements WHERE thread_id = ?", (thread_id,)).fetchone())
        return row[0] if row else None

    def sent_channels(self, week: str) -> set[int]:
        """Channels that were sent (or claimed) ``week`` already."""
        rows = self._read(lambda db: db.execute("SELECT channel_id FROM announcements WHERE week = ?", (week,)).fetchall())
        return {row[0] for row in rows}

    # -- the schedule ------------------------------------------------------------------
    def last_slot(self) -> str | None:
        """The last announcement slot (ISO UTC) that was fully handled."""
        row = self._read(lambda db: db.execute("SELECT value FROM schedule WHERE name = 'announce_slot'").fetchone())
        return row[0] if row else None

    def set_last_slot(self, slot: str) -> None:
        self._write(
            lambda db: db.execute(
                "INSERT INTO schedule (name, value) VALUES ('announce_slot', ?)"
                " ON CONFLICT(name) DO UPDATE SET value = excluded.value",
                (slot,),
            )
        )

    # -- mentions being answered ----------------------------------------------------------
    def begin_question(self, message_id: int, channel_id: int, guild_id: int | None, user_id: int, question: str) -> None:
        """A mention was accepted; until :meth:`end_question`, a restart owes it an answer."""
        self._write(
            lambda db: db.execute(
                "INSERT OR REPLACE INTO pending_questions (message_id, channel_id, guild_id, user_id, question, created)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (message_id, channel_id, guild_id, user_id, question, time.time()),
            )
        )

    def end_question(self, message_id: int) -> None:
        """The mention got its answer (or a message saying why not)."""
        self._write(lambda db: db.execute("DELETE FROM pending_questions WHERE message_id = ?", (message_id,)))

    def pending_questions(self, max_age: float) -> list[PendingQuestion]:
        """Mentions left unanswered by a stopped bot, oldest first; older than
        ``max_age`` seconds are dropped (a late answer to a stale question helps nobody)."""
        horizon = time.time() - max_age

        def take(db: sqlite3.Connection) -> list[Any]:
            db.execute("DELETE FROM pending_questions WHERE created < ?", (horizon,))
            return db.execute(
                "SELECT message_id, channel_id, guild_id, user_id, question, created FROM pending_questions ORDER BY created"
            ).fetchall()

        return [PendingQuestion(*row) for row in self._write(take)]
