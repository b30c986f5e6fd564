"""A fixture for the figures a test measures (latencies, loop lag, task counts).

They are written to the terminal as one line per test, and to the log, so a
run shows them without ``-s`` and without print debugging in the tests.
"""

from __future__ import annotations

import logging
from typing import Iterator

import pytest

log = logging.getLogger("tests.figures")


@pytest.fixture
def figures(request: pytest.FixtureRequest) -> Iterator[dict[str, object]]:
    """A dict the test fills with ``name: value``; reported when the test ends."""
    found: dict[str, object] = {}
    yield found
    if not found:
        return
    line = f"{request.node.name}: " + ", ".join(f"{k}={v:.3f}" if isinstance(v, float) else f"{k}={v}" for k, v in found.items())
    log.info(line)
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    if reporter is not None and capture is not None:
        with capture.global_and_fixture_disabled():  # past pytest's output capture, as pytest's docs show
            reporter.ensure_newline()
            reporter.write_line(f"[figures] {line}")
