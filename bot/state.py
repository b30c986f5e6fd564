"""The bot's own durable state (feedback now; subscriptions later) in SQLite.

SQLite from the standard library gives atomic, crash-safe writes with no
server.  Only ids are stored about people (never names), and every call is
short and blocking, so the Discord layer runs them with ``asyncio.to_thread``.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from contextlib import contextmanager
from typing import Any, Iterator, Sequence

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
"""


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


class BotState:
    """One SQLite file under the data dir, opened per call (safe across threads)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as db:
            db.executescript(SCHEMA)

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
