"""The wire vocabulary shared by the fake's halves: Discord's constants, one
recorded REST call (:class:`Request`), one interaction the fake sent
(:class:`PendingInteraction`), and the JSON responses the REST API answers with.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from aiohttp import web

DISCORD_EPOCH_MS = 1420070400000
API_PREFIX = "/api/v10"

# Permission bits given to the bot's role (view, send, send in threads, create
# public threads, embed links, read history, add reactions, use app commands).
BOT_PERMISSIONS = (1 << 10) | (1 << 11) | (1 << 38) | (1 << 35) | (1 << 14) | (1 << 16) | (1 << 6) | (1 << 31)
EVERYONE_PERMISSIONS = (1 << 10) | (1 << 11) | (1 << 16) | (1 << 31) | (1 << 38)

CREATE_PUBLIC_THREADS = 1 << 35
MANAGE_GUILD = 1 << 5

#: (HTTP status, Discord error code, message) for ``FakeDiscord.channel_errors``.
FORBIDDEN = (403, 50013, "Missing Permissions")
UNKNOWN_CHANNEL = (404, 10003, "Unknown Channel")
MESSAGE_CONTENT_INTENT = 1 << 15

EPHEMERAL = 1 << 6
LOADING = 1 << 7

# Interaction callback types.
PONG, CHANNEL_MESSAGE, DEFERRED_CHANNEL_MESSAGE, DEFERRED_UPDATE, UPDATE_MESSAGE, AUTOCOMPLETE_RESULT = 1, 4, 5, 6, 7, 8

#: Seconds Discord gives a bot to answer an interaction before the token dies.
INTERACTION_DEADLINE = 3.0

Predicate = Callable[["Request"], bool]
#: Runs when a REST request arrives; a response it returns is sent instead of the fake's own.
BeforeHook = Callable[["Request"], Awaitable["web.StreamResponse | None"]]
#: Runs after the fake handled a REST request, before the answer goes back.
AfterHook = Callable[["Request"], Awaitable[None]]


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat()


@dataclass
class Request:
    """One REST call the bot made, as the fake received and answered it."""

    method: str
    path: str  # relative to /api/v10, e.g. "/channels/1/messages"
    query: dict[str, str]
    json: Any
    at: float  # time.monotonic() on arrival
    authorization: str | None
    content_type: str | None
    status: int = 0
    response: Any = None
    errors: list[str] = field(default_factory=list)
    #: For message-creating calls: would Discord show the result only to the user?
    ephemeral: bool | None = None
    #: For follow-ups: the message the call created or edited.
    message_id: int | None = None

    @property
    def parts(self) -> list[str]:
        return [p for p in self.path.split("/") if p]

    def is_message_post(self) -> bool:
        """A call that puts a message in front of users (channel post, follow-up, callback with a message)."""
        p = self.parts
        if self.method == "POST" and len(p) == 3 and p[0] == "channels" and p[2] == "messages":
            return True
        if self.method == "POST" and len(p) == 3 and p[0] == "webhooks":
            return True
        if self.method == "PATCH" and p and p[0] == "webhooks" and "messages" in p:
            return True
        if self.is_callback() and (self.json or {}).get("type") in (CHANNEL_MESSAGE, UPDATE_MESSAGE):
            return True
        return False

    def is_callback(self) -> bool:
        p = self.parts
        return self.method == "POST" and len(p) == 4 and p[0] == "interactions" and p[3] == "callback"

    def is_followup(self) -> bool:
        p = self.parts
        return self.method == "POST" and len(p) == 3 and p[0] == "webhooks"

    def message_payload(self) -> dict[str, Any]:
        """The message fields of this call (a callback's ``data``, otherwise the body)."""
        body = self.json or {}
        if self.is_callback():
            return body.get("data") or {}
        return body


#: Where the recording middleware leaves the :class:`Request` for the route handlers.
RECORD = web.RequestKey("record", Request)


@dataclass
class PendingInteraction:
    """An INTERACTION_CREATE the fake sent; what came back for it."""

    id: int
    token: str
    type: int
    user_id: int
    channel_id: int
    sent_at: float
    payload: dict[str, Any]
    callback: Request | None = None
    original_id: int | None = None
    original_ephemeral: bool = False
    original_deleted: bool = False
    original_filled: bool = False


# -- responses ---------------------------------------------------------------------------
def json_response(data: Any, status: int = 200) -> web.Response:
    # Exactly "application/json": discord.py ignores a charset suffix.
    return web.Response(body=json.dumps(data).encode(), status=status, headers={"Content-Type": "application/json"})


def ok(rec: Request, data: Any, status: int = 200) -> web.Response:
    """A success answer to ``rec``, kept on the record."""
    rec.response = data
    if status == 204:
        return web.Response(status=204)
    return json_response(data, status)


def error_response(rec: Request, status: int, code: int, message: str, errors: list[str] | None = None) -> web.Response:
    """A Discord error body (``code``, ``message``, and form ``errors`` if any), kept on the record;
    a ``before`` hook may return one to make Discord fail a call."""
    rec.errors = errors or [message]
    body: dict[str, Any] = {"code": code, "message": message}
    if errors:
        body["errors"] = {"_errors": [{"code": "BASE_TYPE_INVALID", "message": e} for e in errors]}
    rec.response = body
    return json_response(body, status)


def invalid_form(rec: Request, errors: list[str]) -> web.Response:
    """400 Invalid Form Body: a payload over one of Discord's limits."""
    return error_response(rec, 400, 50035, "Invalid Form Body", errors)
