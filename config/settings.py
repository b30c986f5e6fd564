"""The one typed settings object, read from the environment and ``.env``.

Every knob the bot has lives here so the CLI, the Discord bot and the tests build
their components from the same values.  Parsing is strict: a bad value names the
variable in a one-line :class:`SettingsError` instead of surfacing later as a
traceback deep inside Chroma or discord.py.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from dotenv import dotenv_values


class SettingsError(ValueError):
    """A setting that cannot be used; the message is meant for the user as is."""


class Secret(str):
    """A string that never shows itself in logs, reprs or error messages."""

    def __repr__(self) -> str:
        return "Secret('***')" if self else "Secret('')"

    def __str__(self) -> str:
        return "***" if self else ""

    def reveal(self) -> str:
        """The real value, for the one call that needs it (logging in)."""
        return str.__str__(self)


DEFAULT_DATA_DIR = Path("data")
DISCORD_API = "https://discord.com/api/v10"
LLM_BACKENDS = ("extractive", "openai", "ollama", "llamacpp")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def _optional_str(raw: str) -> str | None:
    return raw.strip() or None


def _int(raw: str) -> int:
    return int(raw.strip())


def _positive_int(raw: str) -> int:
    value = int(raw.strip())
    if value <= 0:
        raise ValueError("must be a positive integer")
    return value


def _non_negative_float(raw: str) -> float:
    value = float(raw.strip())
    if value < 0:
        raise ValueError("must not be negative")
    return value


def _positive_float(raw: str) -> float:
    value = float(raw.strip())
    if value <= 0:
        raise ValueError("must be positive")
    return value


def _optional_port(raw: str) -> int | None:
    if not raw.strip():
        return None
    value = int(raw.strip())
    if not 0 < value < 65536:
        raise ValueError("must be a TCP port (1-65535)")
    return value


def _chroma_database(raw: str) -> str:
    value = raw.strip() or "default_database"
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{1,510}[A-Za-z0-9]", value):
        raise ValueError(
            "must be 3-512 characters of letters, digits, '.', '_' or '-', starting and ending with a letter or digit"
        )
    return value


def _optional_id(raw: str) -> int | None:
    if not raw.strip():
        return None
    value = int(raw.strip())
    if value <= 0:
        raise ValueError("must be a Discord snowflake id")
    return value


def _data_dir(raw: str) -> Path:
    """A folder; empty means the default, never ``Path("")``, which is the current directory."""
    value = raw.strip()
    return Path(value).expanduser() if value else DEFAULT_DATA_DIR


def _url(schemes: tuple[str, ...], default: str | None) -> Callable[[str], str | None]:
    """A parser for an absolute URL with one of ``schemes`` and a host (empty means
    ``default``): a typo caught here is one line naming the variable, not a traceback
    from the HTTP client when the bot connects."""

    def parse(raw: str) -> str | None:
        value = raw.strip()
        if not value:
            return default
        parts = urlsplit(value)
        if parts.scheme.lower() not in schemes or not parts.hostname:
            raise ValueError(f"must be a URL like {schemes[0]}://host/...")
        try:
            parts.port  # noqa: B018 - raises ValueError on a port out of range or not a number
        except ValueError:
            raise ValueError("has an invalid port") from None
        return value

    return parse


def _secret(raw: str) -> Secret:
    return Secret(raw.strip())


def _csv(raw: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in raw.split(",") if part.strip())


def _backend(raw: str) -> str:
    value = raw.strip().lower() or "extractive"
    if value in ("none", "off", ""):
        value = "extractive"
    if value not in LLM_BACKENDS:
        raise ValueError(f"must be one of {', '.join(LLM_BACKENDS)}")
    return value


def _bool(raw: str) -> bool:
    value = raw.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off", ""):
        return False
    raise ValueError("must be true or false")


def _weekday(raw: str) -> str:
    value = raw.strip().lower()[:3]
    if value not in WEEKDAYS:
        raise ValueError(f"must be a weekday ({', '.join(WEEKDAYS)})")
    return value


def _hhmm(raw: str) -> str:
    hours, sep, minutes = raw.strip().partition(":")
    if not sep or not (0 <= int(hours) < 24 and 0 <= int(minutes) < 60):
        raise ValueError("must be a UTC time HH:MM")
    return f"{int(hours):02d}:{int(minutes):02d}"


def _log_level(raw: str) -> str:
    value = raw.strip().upper()
    if value not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
        raise ValueError("must be DEBUG, INFO, WARNING, ERROR or CRITICAL")
    return value


def _env(name: str, parse: Callable[[str], Any], default: Any, doc: str) -> Any:
    """A dataclass field bound to an environment variable and its parser."""
    return field(default=default, metadata={"env": name, "parse": parse, "doc": doc})


@dataclass(frozen=True)
class Settings:
    """Everything configurable about paperbot; see ``.env.example`` for each variable."""

    data_dir: Path = _env("PAPERBOT_DATA_DIR", _data_dir, DEFAULT_DATA_DIR, "where the Chroma store and bot state live")
    top_k: int = _env("PAPERBOT_TOP_K", _positive_int, 5, "papers retrieved per question")
    sources: tuple[str, ...] = _env(
        "PAPERBOT_SOURCES", _csv, (), "digest files, folders or URLs; the bot polls them and ingests what changed"
    )
    max_digest_mb: float = _env("PAPERBOT_MAX_DIGEST_MB", _positive_float, 20.0, "larger digest files are skipped")
    fetch_timeout: float = _env("PAPERBOT_FETCH_TIMEOUT", _positive_float, 20.0, "seconds to fetch a digest URL")
    chroma_host: str | None = _env("CHROMA_HOST", _optional_str, None, "Chroma server host; unset = embedded store")
    chroma_port: int | None = _env("CHROMA_PORT", _optional_port, None, "Chroma server port")
    chroma_database: str = _env(
        "CHROMA_DATABASE", _chroma_database, "default_database",
        "database on the Chroma server, created on first use; one per bot lets several bots share a server",
    )
    llm_backend: str = _env("PAPERBOT_LLM", _backend, "extractive", "extractive, openai, ollama or llamacpp")
    llm_base_url: str | None = _env("PAPERBOT_LLM_BASE_URL", _optional_str, None, "OpenAI-compatible or Ollama URL")
    llm_model: str | None = _env("PAPERBOT_LLM_MODEL", _optional_str, None, "model name, or GGUF path for llamacpp")
    llm_api_key: Secret = _env("PAPERBOT_LLM_API_KEY", _secret, Secret(""), "API key for the LLM endpoint")
    llm_timeout: float = _env("PAPERBOT_LLM_TIMEOUT", _positive_float, 30.0, "seconds before falling back")
    discord_token: Secret = _env("DISCORD_TOKEN", _secret, Secret(""), "bot token; unset = local chat")
    discord_dev_guild_id: int | None = _env("DISCORD_DEV_GUILD_ID", _optional_id, None, "guild synced at start")
    discord_api_url: str = _env(
        "DISCORD_API_URL", _url(("https", "http"), DISCORD_API), DISCORD_API, "Discord-compatible REST base URL"
    )
    discord_gateway_url: str | None = _env(
        "DISCORD_GATEWAY_URL", _url(("wss", "ws"), None), None, "gateway websocket URL (default: derived)"
    )
    ask_cooldown: float = _env("PAPERBOT_ASK_COOLDOWN", _non_negative_float, 10.0, "seconds between asks per user")
    max_concurrent_answers: int = _env(
        "PAPERBOT_MAX_CONCURRENT_ANSWERS", _positive_int, 4, "answers computed at once"
    )
    announce_weekday: str = _env(
        "PAPERBOT_ANNOUNCE_WEEKDAY", _weekday, "mon", "weekday the bot posts the newest digest to subscribed channels (UTC)"
    )
    announce_time: str = _env("PAPERBOT_ANNOUNCE_TIME", _hhmm, "09:00", "time of the digest post, HH:MM UTC")
    poll_minutes: float = _env("PAPERBOT_POLL_MINUTES", _positive_float, 60.0, "minutes between polls of PAPERBOT_SOURCES")
    catalogue_check_seconds: float = _env(
        "PAPERBOT_CATALOGUE_CHECK_SECONDS", _positive_float, 10.0,
        "seconds between the bot's checks for papers another process ingested into the same index",
    )
    sharded: bool = _env("PAPERBOT_SHARDED", _bool, False, "use AutoShardedBot for large deployments")
    log_level: str = _env("PAPERBOT_LOG_LEVEL", _log_level, "INFO", "logging level")

    @classmethod
    def from_env(
        cls,
        environ: Mapping[str, str] | None = None,
        dotenv_path: str | os.PathLike[str] | None = ".env",
        **overrides: Any,
    ) -> Settings:
        """Read settings; real environment variables win over ``.env`` entries.

        ``overrides`` (already-typed values, e.g. from CLI flags) win over both.
        """
        values: dict[str, str] = {}
        if dotenv_path is not None and Path(dotenv_path).is_file():
            values.update({k: v for k, v in dotenv_values(dotenv_path).items() if v is not None})
        values.update(os.environ if environ is None else environ)
        kwargs: dict[str, Any] = {}
        for f in fields(cls):
            name = f.metadata["env"]
            if f.name in overrides and overrides[f.name] is not None:
                kwargs[f.name] = overrides[f.name]
            elif name in values:
                kwargs[f.name] = _parse(name, f.metadata["parse"], values[name])
        settings = cls(**kwargs)
        settings.validate()
        return settings

    def validate(self) -> None:
        """Cross-field checks that a single variable's parser cannot make."""
        if self.chroma_port is not None and not self.chroma_host:
            raise SettingsError("CHROMA_PORT is set but CHROMA_HOST is not: set both to use a Chroma server")
        if self.chroma_database != "default_database" and not self.chroma_host:
            raise SettingsError("CHROMA_DATABASE is set but CHROMA_HOST is not: databases are a Chroma server feature")
        if self.llm_backend == "openai" and not self.llm_base_url:
            raise SettingsError("PAPERBOT_LLM=openai needs PAPERBOT_LLM_BASE_URL (e.g. https://api.openai.com/v1)")
        if self.llm_backend in ("openai", "ollama", "llamacpp") and not self.llm_model:
            raise SettingsError(f"PAPERBOT_LLM={self.llm_backend} needs PAPERBOT_LLM_MODEL")

    @property
    def chroma_server(self) -> bool:
        return bool(self.chroma_host)

    def secrets(self) -> list[str]:
        """Every secret value in force, so log filters can redact them."""
        return [s.reveal() for s in (self.discord_token, self.llm_api_key) if s]


def _parse(name: str, parse: Callable[[str], Any], raw: str) -> Any:
    try:
        return parse(raw)
    except (ValueError, TypeError) as exc:
        detail = str(exc) if isinstance(exc, ValueError) and "invalid literal" not in str(exc) else ""
        shown = raw if len(raw) <= 40 else raw[:37] + "..."
        hint = f": {detail}" if detail and "could not convert" not in detail else ""
        raise SettingsError(f"{name}={shown!r} is not valid{hint}") from None


def documented_variables() -> list[tuple[str, str]]:
    """(variable, description) for every setting; a test keeps .env.example in step."""
    return [(f.metadata["env"], f.metadata["doc"]) for f in fields(Settings)]
