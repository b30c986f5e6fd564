"""Logging set-up shared by the CLI and the bot, with secrets redacted.

Tokens end up in logs in surprising ways (an exception repr, a URL, a library's
debug line), so every record passes a filter that replaces any configured secret
before it is written anywhere.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable

_REDACTED = "[redacted]"


class RedactSecrets(logging.Filter):
    """Replace every known secret in a record's rendered message and traceback."""

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        self.secrets = [s for s in secrets if s and len(s) >= 6]

    def _clean(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, _REDACTED)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        if not self.secrets:
            return True
        record.msg = self._clean(record.getMessage())
        record.args = None
        if record.exc_info and record.exc_info[1] is not None:
            formatter = logging.Formatter()
            record.exc_text = self._clean(formatter.formatException(record.exc_info))
            record.exc_info = None
        if record.stack_info:
            record.stack_info = self._clean(record.stack_info)
        return True


class QuietLibraries(logging.Filter):
    """Keep chatty libraries to warnings and above.

    A filter on our handler rather than levels on their loggers, because a
    library may reset its own logger's level when it is first imported, which
    happens lazily, after logging is set up.
    """

    NOISY = ("chromadb", "httpx", "httpcore", "urllib3", "discord.http", "discord.gateway")

    def __init__(self, level: int) -> None:
        super().__init__()
        self.level = level

    def filter(self, record: logging.LogRecord) -> bool:
        noisy = any(record.name == n or record.name.startswith(n + ".") for n in self.NOISY)
        return not noisy or record.levelno >= self.level


def setup_logging(level: str = "INFO", secrets: Iterable[str] = ()) -> None:
    """Log to stderr (stdout stays clean for ``--json`` output), secrets redacted."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s"))
    handler.addFilter(RedactSecrets(secrets))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    handler.addFilter(QuietLibraries(max(logging.WARNING, logging.getLevelName(level))))
