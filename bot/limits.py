"""A global cap on answers being computed, and bounded input (per-user cooldowns
are discord.py's ``CooldownMapping``, in bot/cogs/ask.py).

Answers cost CPU (embedding, BM25) or money (a paid LLM), so one user cannot
queue many, and the whole bot computes at most a few at once; anyone turned
away gets a short message saying when to try again instead of silence.  What a
user types is cut to a fixed length before any work is done with it, whatever
length Discord (or a client that ignores Discord's limits) delivers.
"""

from __future__ import annotations

import asyncio
import unicodedata


class Busy(Exception):
    """Every answer slot is taken and the queue is full."""


class AnswerSlots:
    """A semaphore with a bounded wait queue, so a burst cannot pile up forever."""

    def __init__(self, concurrent: int, queue: int = 64) -> None:
        self._sem = asyncio.Semaphore(concurrent)
        self._queue = queue
        self._waiting = 0

    async def __aenter__(self) -> AnswerSlots:
        if self._sem.locked() and self._waiting >= self._queue:
            raise Busy
        self._waiting += 1
        try:
            await self._sem.acquire()
        finally:
            self._waiting -= 1
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._sem.release()


def bounded_input(text: str, limit: int) -> str:
    """User text as the engine should see it: invisible characters dropped,
    whitespace collapsed, at most ``limit`` characters.

    Zero-width and other format characters (U+200B, U+FEFF, bidi overrides) and
    control characters change nothing a reader sees but defeat matching ("V\u200bPTQ"
    is not "VPTQ") and can smuggle text past a reader; dropping them makes the
    question the one the user sees.  The input is cut before it is cleaned, so a
    hostile 100 kB option costs no more than a ``limit``-sized one.
    """
    head = text[: limit * 4]
    visible = "".join(ch for ch in head if unicodedata.category(ch) not in ("Cf", "Cc") or ch in "\t\n")
    return " ".join(visible.split())[:limit]
