"""The bot's own durable state in SQLite: answers and feedback, digest
subscriptions, which week each channel was sent, and the announcement schedule.

SQLite from the standard library gives atomic, crash-safe writes with no
server.  Only ids are stored about people (never names), and every call is
short and blocking, so the Discord layer runs them with ``asyncio.to_thread``.

A state file that is not a SQLite database any more (overwritten, truncated by
a broken disk) is moved aside with a timestamp and a fresh one is started, so
the bot comes up; the backup is kept for whoever wants to dig in.  A data dir
that cannot be written (read-only, full) is :class:`StateUnavailable`, with the
path and the reason.  The paper index lives elsewhere (Chroma) and is never
touched here.

Exactly-once announcements rest on the ``announcements`` table, one row per
(channel, week) under a primary key: a row is *claimed* before the post is
sent and marked *sent* once Discord confirmed it.  A claim that was never
confirmed (the bot died between sending and recording) is treated as sent:
a possibly missed announcement is preferred over a duplicate.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from contextlib import contextmanager
from typing import Any, Iterator, Literal, Sequence

log = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS answers (
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
);
CREATE TABLE IF NOT EXISTS feedback (
    answer_id INTEGER NOT NULL REFERENCES answers(answer_id),
    user_id INTEGER NOT NULL,
    vote INTEGER NOT NULL CHECK (vote IN (-1, 1)),
    created REAL NOT NULL,
    PRIMARY KEY (answer_id, user_id)
);
CREATE TABLE IF NOT EXISTS subscriptions (
    channel_id INTEGER PRIMARY KEY,
    guild_id INTEGER NOT NULL,
    subscribed_by INTEGER,
    created REAL NOT NULL,
    problem TEXT,
    problem_at REAL
);
CREATE TABLE IF NOT EXISTS announcements (
    channel_id INTEGER NOT NULL,
    week TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('claimed', 'sent')),
    claimed REAL NOT NULL,
    sent REAL,
    message_id INTEGER,
    thread_id INTEGER,
    PRIMARY KEY (channel_id, week)
);
CREATE INDEX IF NOT EXISTS announcements_thread ON announcements (thread_id);
CREATE TABLE IF NOT EXISTS schedule (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
"""

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
        return {
            "answer_id": self.answer_id,
            "question": self.question,
            "answer": self.answer,
            "citations": self.citations,
            "abstained": self.abstained,
            "backend": self.backend,
            "up": self.up,
            "down": self.down,
        }


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


class StateUnavailable(RuntimeError):
    """The state database cannot be opened or written; the message says where and why."""


#: SQLite's answers for a file that is not (or no longer) a usable database.
_CORRUPT_CODES = frozenset({sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB}) if hasattr(sqlite3, "SQLITE_NOTADB") else frozenset()


_SQLITE_HEADER = b"SQLite format 3\x00"


def _is_corrupt(exc: sqlite3.Error) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None and _CORRUPT_CODES:
        return code in _CORRUPT_CODES
    text = str(exc).lower()
    return "not a database" in text or "malformed" in text


def _storage_problem(folder: Path) -> str | None:
    """"Read-only file system" or "the disk is full" when that is why ``folder`` cannot be written."""
    where = folder
    while not where.exists() and where != where.parent:
        where = where.parent
    try:
        info = os.statvfs(where)
    except OSError:
        return None
    if info.f_flag & os.ST_RDONLY:
        return "Read-only file system"
    if info.f_bavail * info.f_frsize < _LOW_DISK_BYTES:
        return f"the disk is full: {info.f_bavail * info.f_frsize // 1024} KB free"
    return None


#: Below this much free space a failing database is reported as a full disk.
_LOW_DISK_BYTES = 1024 * 1024


class BotState:
    """One SQLite file under the data dir, opened per call (safe across threads)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        #: Where a corrupt state file was moved at start, if it was.
        self.backup: Path | None = None
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._check_header()
            self._open()
        except sqlite3.DatabaseError as exc:
            if not _is_corrupt(exc):
                raise self._unavailable(exc) from exc
            self.backup = self._move_aside(exc)
            try:
                self._open()
            except sqlite3.Error as again:
                raise self._unavailable(again) from again
        except OSError as exc:
            raise self._unavailable(exc) from exc

    def _check_header(self) -> None:
        """Refuse a file that is not SQLite before SQLite opens it: opening would
        replay a leftover write-ahead log into the garbage and change the very
        file we keep as the backup."""
        try:
            with self.path.open("rb") as fh:
                head = fh.read(len(_SQLITE_HEADER))
        except FileNotFoundError:
            return
        if head and head != _SQLITE_HEADER:
            raise sqlite3.DatabaseError("file is not a database")

    def _open(self) -> None:
        """Create the tables and check the file is a sound database (a garbage file
        can pass the first statements; ``quick_check`` reads every page)."""
        with self._connect() as db:
            db.executescript(SCHEMA)
            problem = db.execute("PRAGMA quick_check").fetchone()[0]
            if problem != "ok":
                raise sqlite3.DatabaseError(f"database disk image is malformed: {problem}")

    def _move_aside(self, exc: sqlite3.Error) -> Path:
        """Rename the corrupt file (and its WAL and shared-memory files) with a timestamp."""
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        backup = self.path.with_name(f"{self.path.name}.corrupt-{stamp}")
        n = 1
        while backup.exists():
            n += 1
            backup = self.path.with_name(f"{self.path.name}.corrupt-{stamp}-{n}")
        try:
            for suffix in ("", "-wal", "-shm"):
                src = self.path.with_name(self.path.name + suffix)
                try:
                    os.replace(src, backup.with_name(backup.name + suffix))
                except FileNotFoundError:
                    # The journal files come and go with connections: one that
                    # closed a moment ago may have removed its own.
                    continue
        except OSError as move:
            raise self._unavailable(move) from exc
        log.error(
            "the bot state database %s is corrupt (%s): moved it to %s and started a new one;"
            " subscriptions, feedback and announcement records from before are only in the backup",
            self.path,
            exc,
            backup,
        )
        return backup

    def _unavailable(self, exc: BaseException) -> StateUnavailable:
        """The error for a state file that cannot be used, naming the likely cause:
        SQLite's own words ("unable to open database file", "disk I/O error") do not."""
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        cause = _storage_problem(self.path.parent)
        if cause and cause.lower() not in reason.lower():
            reason = f"{reason} ({cause})"
        return StateUnavailable(f"cannot use the bot state database {self.path}: {reason}")

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        """A connection in autocommit mode (each statement is its own atomic write), always closed."""
        db = sqlite3.connect(self.path, timeout=10, isolation_level=None)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA foreign_keys=ON")
            yield db
        finally:
            db.close()

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
        with self._lock, self._connect() as db:
            cur = db.execute(
                "INSERT INTO answers (created, guild_id, channel_id, user_id, question, answer, citations, abstained, backend)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (time.time(), guild_id, channel_id, user_id, question, answer, json.dumps(list(citations)), int(abstained), backend),
            )
            return int(cur.lastrowid or 0)

    def record_vote(self, answer_id: int, user_id: int, vote: int) -> bool:
        """One vote per user per answer (a second click changes it); False if unknown answer."""
        with self._lock, self._connect() as db:
            if db.execute("SELECT 1 FROM answers WHERE answer_id = ?", (answer_id,)).fetchone() is None:
                return False
            db.execute(
                "INSERT INTO feedback (answer_id, user_id, vote, created) VALUES (?, ?, ?, ?)"
                " ON CONFLICT(answer_id, user_id) DO UPDATE SET vote = excluded.vote, created = excluded.created",
                (answer_id, user_id, 1 if vote > 0 else -1, time.time()),
            )
            return True

    def feedback(self) -> list[FeedbackRow]:
        """Every answer that received a vote, with its tallies."""
        with self._connect() as db:
            rows = db.execute(
                "SELECT a.answer_id, a.question, a.answer, a.citations, a.abstained, a.backend,"
                " SUM(f.vote = 1), SUM(f.vote = -1)"
                " FROM answers a JOIN feedback f ON f.answer_id = a.answer_id"
                " GROUP BY a.answer_id ORDER BY a.answer_id"
            ).fetchall()
        return [
            FeedbackRow(r[0], r[1], r[2], json.loads(r[3]), bool(r[4]), r[5], int(r[6] or 0), int(r[7] or 0))
            for r in rows
        ]

    # -- digest subscriptions ------------------------------------------------------
    def subscribe(self, guild_id: int, channel_id: int, user_id: int | None) -> bool:
        """Subscribe a channel; False if it already was (its problem, if any, is cleared
        so the next run tries it again)."""
        with self._lock, self._connect() as db:
            cur = db.execute(
                "INSERT INTO subscriptions (channel_id, guild_id, subscribed_by, created) VALUES (?, ?, ?, ?)"
                " ON CONFLICT(channel_id) DO NOTHING",
                (channel_id, guild_id, user_id, time.time()),
            )
            if cur.rowcount == 1:
                return True
            db.execute("UPDATE subscriptions SET problem = NULL, problem_at = NULL WHERE channel_id = ?", (channel_id,))
            return False

    def unsubscribe(self, channel_id: int) -> bool:
        """Stop announcing in a channel; False if it was not subscribed.  What it was
        sent is kept, so subscribing again never repeats a week."""
        with self._lock, self._connect() as db:
            return db.execute("DELETE FROM subscriptions WHERE channel_id = ?", (channel_id,)).rowcount == 1

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
        with self._connect() as db:
            rows = db.execute(query + " ORDER BY s.created, s.channel_id", params).fetchall()
        return [Subscription(*row) for row in rows]

    def record_problem(self, channel_id: int, problem: str | None) -> None:
        """Note why delivering to a channel failed (None: it works again)."""
        with self._lock, self._connect() as db:
            db.execute(
                "UPDATE subscriptions SET problem = ?, problem_at = ? WHERE channel_id = ?",
                (problem, time.time() if problem else None, channel_id),
            )

    # -- exactly-once announcements ---------------------------------------------------
    def claim_announcement(self, channel_id: int, week: str) -> Claim:
        """Claim the right to post ``week`` in a channel; the primary key makes this
        atomic, so two runs (or two processes) can never both own it."""
        with self._lock, self._connect() as db:
            cur = db.execute(
                "INSERT INTO announcements (channel_id, week, state, claimed) VALUES (?, ?, 'claimed', ?)"
                " ON CONFLICT(channel_id, week) DO NOTHING",
                (channel_id, week, time.time()),
            )
            if cur.rowcount == 1:
                return Claim("claimed")
            state, claimed = db.execute(
                "SELECT state, claimed FROM announcements WHERE channel_id = ? AND week = ?", (channel_id, week)
            ).fetchone()
        return Claim("sent" if state == "sent" else "unconfirmed", claimed)

    def confirm_announcement(self, channel_id: int, week: str, message_id: int) -> None:
        """Discord accepted the post: the week is sent to this channel for good."""
        with self._lock, self._connect() as db:
            db.execute(
                "UPDATE announcements SET state = 'sent', sent = ?, message_id = ? WHERE channel_id = ? AND week = ?",
                (time.time(), message_id, channel_id, week),
            )

    def release_announcement(self, channel_id: int, week: str) -> None:
        """Discord refused the post, so nothing was shown: drop the claim so a later run may try again."""
        with self._lock, self._connect() as db:
            db.execute(
                "DELETE FROM announcements WHERE channel_id = ? AND week = ? AND state = 'claimed'", (channel_id, week)
            )

    def set_announcement_thread(self, channel_id: int, week: str, thread_id: int) -> None:
        with self._lock, self._connect() as db:
            db.execute(
                "UPDATE announcements SET thread_id = ? WHERE channel_id = ? AND week = ?", (thread_id, channel_id, week)
            )

    def announcement_week(self, thread_id: int) -> str | None:
        """The digest week whose announcement opened this thread, if it is one."""
        with self._connect() as db:
            row = db.execute("SELECT week FROM announcements WHERE thread_id = ?", (thread_id,)).fetchone()
        return row[0] if row else None

    def sent_channels(self, week: str) -> set[int]:
        """Channels that were sent (or claimed) ``week`` already."""
        with self._connect() as db:
            rows = db.execute("SELECT channel_id FROM announcements WHERE week = ?", (week,)).fetchall()
        return {row[0] for row in rows}

    # -- the schedule ------------------------------------------------------------------
    def last_slot(self) -> str | None:
        """The last announcement slot (ISO UTC) that was fully handled."""
        with self._connect() as db:
            row = db.execute("SELECT value FROM schedule WHERE name = 'announce_slot'").fetchone()
        return row[0] if row else None

    def set_last_slot(self, slot: str) -> None:
        with self._lock, self._connect() as db:
            db.execute(
                "INSERT INTO schedule (name, value) VALUES ('announce_slot', ?)"
                " ON CONFLICT(name) DO UPDATE SET value = excluded.value",
                (slot,),
            )
