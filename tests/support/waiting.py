"""Waiting for something another thread or process does, without sleeping a fixed time."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

#: Long enough for a loaded 2-core box; the tests wait for an event, never for this.
DEADLINE_S = 60.0


def until(condition: Callable[[], Any], what: str, deadline_s: float = DEADLINE_S) -> Any:
    """Poll ``condition`` until it is truthy (returns it) or fail after the deadline."""
    end = time.monotonic() + deadline_s
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > end:
            pytest.fail(f"{what}: not within {deadline_s:.0f} s")
        time.sleep(0.05)  # polling for the event, not waiting out a delay
