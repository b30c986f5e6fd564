"""One small SQLite file under the data dir, kept usable while the process runs.

Both the bot's state (``bot/state.py``) and the source ledger
(``index/freshness.py``) are a single SQLite file opened per call: SQLite from
the standard library gives atomic, crash-safe writes with no server, and a
connection per call is safe across the worker threads the bot runs them in.
This module is what they share, so the two behave the same:

* **Numbered migrations.**  A schema is a tuple of migrations (each a tuple of
  statements); ``PRAGMA user_version`` records how many were applied, and the
  missing ones run in one transaction each.  ``CREATE TABLE IF NOT EXISTS``
  alone would silently skip a column added later to an existing table.
* **A file that stops being a database** (overwritten, truncated, replaced by a
  bad copy) is moved aside with a timestamp, with its ``-wal``/``-shm`` files,
  and a fresh one is created; the backup is kept for whoever wants to dig in.
* **A file deleted while the process runs** is recreated on the next call.
  Either way the failing call is retried once on the new file and the incident
  is logged once, so a long-running bot recovers in place instead of failing
  every request until a restart.
* **A file that cannot be written** (read-only mount, full disk) is
  :class:`DatabaseUnavailable` naming the path and the likely cause, with one
  threshold for "the disk is full" shared with the index writer.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, TypeVar

T = TypeVar("T")

#: Below this much free space a failing write is reported as a full disk (the
#: state files, the source ledger and the Chroma index all use this one number).
LOW_DISK_BYTES = 16 * 1024 * 1024

_SQLITE_HEADER = b"SQLite format 3\x00"
#: SQLite's answers for a file that is not (or no longer) a usable database.
_CORRUPT_CODES = frozenset(
    code for code in (getattr(sqlite3, "SQLITE_CORRUPT", None), getattr(sqlite3, "SQLITE_NOTADB", None)) if code is not None
)

Health = Literal["ok", "missing", "empty", "garbage"]


class DatabaseUnavailable(RuntimeError):
    """The database cannot be opened or written; the message says where and why."""


@dataclass(frozen=True)
class Schema:
    """What a database file holds: its migrations in order, and its name for messages."""

    #: e.g. "bot state database"; used in log lines and errors.
    what: str
    #: Migration ``n`` (1-based) brings ``user_version`` from ``n - 1`` to ``n``.
    migrations: tuple[tuple[str, ...], ...]

    @property
    def version(self) -> int:
        return len(self.migrations)


def storage_problem(folder: Path) -> str | None:
    """"Read-only file system" or "the disk is full" when that is why ``folder`` cannot be written."""
    where = Path(folder)
    while not where.exists() and where != where.parent:
        where = where.parent
    try:
        info = os.statvfs(where)
    except OSError:
        return None
    if info.f_flag & os.ST_RDONLY:
        return "Read-only file system"
    free = info.f_bavail * info.f_frsize
    if free < LOW_DISK_BYTES:
        return f"the disk is full: {free // 1024} KB free"
    return None


def is_corrupt(exc: sqlite3.Error) -> bool:
    """Does this error say the file is not (or no longer) a sound database?"""
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None and _CORRUPT_CODES:
        return code in _CORRUPT_CODES
    text = str(exc).lower()
    return "not a database" in text or "malformed" in text


def _is_lost(exc: sqlite3.Error) -> bool:
    """Does this error mean the file under us changed (replaced, deleted and recreated empty)?"""
    return is_corrupt(exc) or "no such table" in str(exc).lower()


class SQLiteFile:
    """One SQLite file with a :class:`Schema`, opened per call, recovered in place.

    ``log`` is the owner's logger, so the one line about a lost file names the
    component whose data it was.  ``error`` is the owner's subclass of
    :class:`DatabaseUnavailable`.
    """

    def __init__(
        self,
        path: Path,
        schema: Schema,
        *,
        log: logging.Logger,
        error: type[DatabaseUnavailable] = DatabaseUnavailable,
    ) -> None:
        self.path = Path(path)
        self.schema = schema
        self.log = log
        self.error = error
        #: Serialises writes (and recovery) within the process.
        self.lock = threading.RLock()
        #: Where the last bad file was moved, if one was.
        self.backup: Path | None = None
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            if self._header() == "garbage":
                self.backup = self._move_aside("file is not a database")
            self._migrate()
        except sqlite3.DatabaseError as exc:
            if not is_corrupt(exc):
                raise self.unavailable(exc) from exc
            self.backup = self._move_aside(str(exc))
            try:
                self._migrate()
            except sqlite3.Error as again:
                raise self.unavailable(again) from again
        except OSError as exc:
            raise self.unavailable(exc) from exc

    # -- connections -------------------------------------------------------------------
    @contextmanager
    def connect(self) -> Iterator[sqlite3.Connection]:
        """A connection in autocommit mode (each statement is its own atomic write), always closed."""
        db = sqlite3.connect(self.path, timeout=10, isolation_level=None)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA foreign_keys=ON")
            yield db
        finally:
            db.close()

    def run(self, work: Callable[[sqlite3.Connection], T], *, write: bool = False) -> T:
        """``work`` on a fresh connection (under the write lock when ``write``).

        If the file was lost since the last call (deleted, overwritten), it is
        recovered and ``work`` runs once more on the new file; any other failure
        is :class:`DatabaseUnavailable` with the likely cause.
        """
        try:
            return self._attempt(work, write)
        except sqlite3.DatabaseError as exc:
            if not _is_lost(exc):
                raise self.unavailable(exc) from exc
            first = exc
        except OSError as exc:
            raise self.unavailable(exc) from exc
        try:
            self._recover(first)
            return self._attempt(work, write)
        except (sqlite3.Error, OSError) as again:
            raise self.unavailable(again) from again

    def _attempt(self, work: Callable[[sqlite3.Connection], T], write: bool) -> T:
        if not self.path.exists():
            # Deleted while running: without this check SQLite would quietly create
            # an empty file for a read, which then fails with "no such table".
            raise sqlite3.OperationalError("no such table: the database file is missing")
        if write:
            with self.lock, self.connect() as db:
                return work(db)
        with self.connect() as db:
            return work(db)

    # -- schema ---------------------------------------------------------------------------
    def _migrate(self) -> None:
        """Apply the migrations this file has not had yet, then check every page
        (a garbage file can pass the first statements; ``quick_check`` reads them all)."""
        with self.lock, self.connect() as db:
            while True:
                version = int(db.execute("PRAGMA user_version").fetchone()[0])
                if version >= self.schema.version:
                    break
                db.execute("BEGIN IMMEDIATE")
                try:
                    # Another process may have migrated between the read and the lock.
                    if int(db.execute("PRAGMA user_version").fetchone()[0]) == version:
                        for statement in self.schema.migrations[version]:
                            db.execute(statement)
                        db.execute(f"PRAGMA user_version = {version + 1}")
                    db.execute("COMMIT")
                except BaseException:
                    db.execute("ROLLBACK")
                    raise
            problem = db.execute("PRAGMA quick_check").fetchone()[0]
            if problem != "ok":
                raise sqlite3.DatabaseError(f"database disk image is malformed: {problem}")

    # -- recovery ---------------------------------------------------------------------------
    def _header(self) -> Health:
        """What the first bytes say, read without letting SQLite touch the file:
        opening garbage would replay a leftover write-ahead log into the very file
        we keep as the backup.  "ok" here only means "starts like SQLite"."""
        try:
            with self.path.open("rb") as fh:
                head = fh.read(len(_SQLITE_HEADER))
        except FileNotFoundError:
            return "missing"
        if not head:
            return "empty"
        return "ok" if head == _SQLITE_HEADER else "garbage"

    def _health(self) -> Health:
        """What is at the path now: missing, empty (no tables), garbage, or a sound database."""
        header = self._header()
        if header != "ok":
            return header
        try:
            with self.connect() as db:
                tables = db.execute("SELECT COUNT(*) FROM sqlite_master WHERE type = 'table'").fetchone()[0]
                if db.execute("PRAGMA quick_check").fetchone()[0] != "ok":
                    return "garbage"
        except sqlite3.DatabaseError as exc:
            if is_corrupt(exc):
                return "garbage"
            raise
        return "ok" if tables else "empty"

    def _recover(self, exc: sqlite3.Error) -> None:
        """Put a working database back at the path; logs once per incident (a call
        that finds another thread already recovered it just retries)."""
        with self.lock:
            health = self._health()
            if health == "ok":
                self._migrate()
                return
            if health == "garbage":
                self.backup = self._move_aside(str(exc))
            else:
                if health == "missing":
                    # A write-ahead log left by the deleted file must not be replayed into the new one.
                    for suffix in ("-wal", "-shm"):
                        self.path.with_name(self.path.name + suffix).unlink(missing_ok=True)
                self.log.error(
                    "the %s %s was deleted or emptied while running; started a new one"
                    " (what it held before is lost)",
                    self.schema.what,
                    self.path,
                )
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._migrate()

    def _move_aside(self, reason: str) -> Path:
        """Rename the bad file (and its WAL and shared-memory files) with a timestamp."""
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        backup = self.path.with_name(f"{self.path.name}.corrupt-{stamp}")
        n = 1
        while backup.exists():
            n += 1
            backup = self.path.with_name(f"{self.path.name}.corrupt-{stamp}-{n}")
        for suffix in ("", "-wal", "-shm"):
            src = self.path.with_name(self.path.name + suffix)
            try:
                os.replace(src, backup.with_name(backup.name + suffix))
            except FileNotFoundError:
                # The journal files come and go with connections: one that
                # closed a moment ago may have removed its own.
                continue
        self.log.error(
            "the %s %s is corrupt (%s): moved it to %s and started a new one;"
            " what it held before is only in the backup",
            self.schema.what,
            self.path,
            reason,
            backup,
        )
        return backup

    def unavailable(self, exc: BaseException) -> DatabaseUnavailable:
        """The error for a file that cannot be used, naming the likely cause:
        SQLite's own words ("unable to open database file", "disk I/O error") do not."""
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        cause = storage_problem(self.path.parent)
        if cause and cause.lower() not in reason.lower():
            reason = f"{reason} ({cause})"
        return self.error(f"cannot use the {self.schema.what} {self.path}: {reason}")
