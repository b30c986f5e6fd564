"""A fake Discord on 127.0.0.1 that speaks Discord's real protocol.

One ``aiohttp.web`` app serves both halves of the API the real discord.py client
uses: the REST API under ``/api/v10`` and the gateway websocket at ``/gateway``
(text JSON frames).  Tests drive the real ``PaperBot`` against it: they push
gateway events as Discord would (a user's message, a slash command, a button
click) and assert on the REST requests the bot really sent, each recorded with
its arrival time.

What it models, because the bot's correctness depends on it:

* login: ``GET /users/@me`` with ``Authorization: Bot TOKEN``, 401 for any other
  token (every bot-authenticated route checks it);
* the gateway handshake: HELLO, IDENTIFY → READY (``resume_gateway_url`` is this
  server again) → GUILD_CREATE with one guild, its text channels and the bot's
  member and role; heartbeats are ACKed; RESUME is answered with RESUMED;
* interactions: the callback must come within 3 s (later: 404 Unknown
  interaction, as on Discord) and only once (400 already acknowledged); it
  answers ``{"interaction": {...}, "resource": {...}}``; the first follow-up
  after a deferred response edits the "thinking" message and keeps the defer's
  visibility, ignoring its own ephemeral flag (Discord documents this);
* messages: Discord's limits are enforced (2000 characters of content, 10
  embeds, embed title 256 / description 4096 / 25 fields / field name 1-256
  and value 1-1024 (blank is empty) / footer 2048 / author 256 / 6000 in total /
  URLs of at most 2048 characters, http(s) only, 5 action rows of 5 buttons, 25 autocomplete
  choices with names and values of at most 100 characters): a payload over a
  limit gets 400 Invalid Form Body, like the real API, and is recorded with
  the errors;
* threads: starting a thread from a message gives the thread the message's id
  and sends THREAD_CREATE on the gateway; in ``no_threads_channel_id`` the bot's
  role is denied "create public threads" and Discord answers 403;
* broken channels: ``channel_errors[id] = FORBIDDEN`` (the bot lost its
  permissions there) or ``UNKNOWN_CHANNEL`` (the channel was deleted) makes
  every REST call on that channel fail as Discord would;
* who may run a command: ``slash(..., permissions=...)`` sets the invoking
  member's permissions (default: @everyone's, without Manage Server), and
  channel options (``channels={"channel": id}``) come with their resolved data
  (a channel of another server, ``other_guild_channels``, or an unknown one too);
* history: ``GET /channels/{id}/messages`` (``limit``, ``before``, ``after``);
* the privileged message-content intent: a bot that did not ask for it gets
  an empty ``content`` for messages that do not mention it;
* reconnects: ``reconnect()`` sends op 7; READY's ``resume_gateway_url`` is a
  distinct path of this server, so a test can see the bot resume there.

Everything the fake receives is kept in ``requests`` (REST) and
``gateway_received`` (frames from the bot); ``wait_for`` waits on them with a
timeout instead of sleeping.

Hooks let a test act at an exact point of the protocol: each of ``before``
runs when a REST request arrives and may answer it instead (a 500 from a broken
Discord); each of ``after`` runs once the fake has handled a request (the
message exists) but before the bot gets the answer, e.g. to kill the bot there.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import secrets
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Awaitable, Callable

from aiohttp import WSMsgType, web

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


class FakeDiscord:
    """The fake server; use as ``async with FakeDiscord(token) as fake:``."""

    def __init__(self, token: str, *, heartbeat_ms: int = 2000) -> None:
        self.token = token
        self.heartbeat_ms = heartbeat_ms
        self._ids = itertools.count(1)
        self.app_id = self.snowflake()
        self.bot_id = self.app_id  # a bot user shares its application's id
        self.owner_id = self.snowflake()
        self.guild_id = self.snowflake()
        self.everyone_role_id = self.guild_id
        self.bot_role_id = self.snowflake()
        self.channel_ids = [self.snowflake(), self.snowflake(), self.snowflake()]
        self.no_threads_channel_id = self.channel_ids[2]
        self.channel_errors: dict[int, tuple[int, int, str]] = {}
        #: A server the bot is not in, and channel ids (``slash(channels=...)``) that belong to it.
        self.other_guild_id = self.snowflake()
        self.other_guild_channels: set[int] = set()
        self.requests: list[Request] = []
        self.gateway_received: list[dict[str, Any]] = []
        self.gateway_sent: list[dict[str, Any]] = []
        self.messages: dict[int, dict[str, Any]] = {}
        self.threads: dict[int, dict[str, Any]] = {}
        self.interactions: dict[int, PendingInteraction] = {}
        self._by_token: dict[str, PendingInteraction] = {}
        self.commands: dict[str, list[dict[str, Any]]] = {}  # "global" or guild id -> registered commands
        self.intents = 0
        self.gateway_connections: list[str] = []  # the path each websocket connected to
        self.before: list[BeforeHook] = []
        self.after: list[AfterHook] = []
        self.identified = asyncio.Event()
        self.ready_sent = asyncio.Event()
        self.resumed = asyncio.Event()
        self._changed = asyncio.Condition()
        self._ws: web.WebSocketResponse | None = None
        self._sockets: set[web.WebSocketResponse] = set()
        self._ws_lock = asyncio.Lock()
        self._seq = 0
        self._session_id = secrets.token_hex(16)
        self._runner: web.AppRunner | None = None
        self.port = 0

    # -- lifecycle -----------------------------------------------------------------
    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}{API_PREFIX}"

    @property
    def gateway_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/gateway"

    @property
    def resume_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/gateway-resume"

    async def __aenter__(self) -> "FakeDiscord":
        app = web.Application(middlewares=[self._record])
        app.router.add_get("/gateway", self._gateway)
        app.router.add_get("/gateway-resume", self._gateway)
        app.router.add_route("*", API_PREFIX + "/{tail:.*}", self._rest)
        self._runner = web.AppRunner(app, handle_signals=False, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    async def __aexit__(self, *exc: object) -> None:
        for ws in list(self._sockets):
            await ws.close(code=1001)
        if self._runner is not None:
            await self._runner.cleanup()

    # -- ids and payloads ------------------------------------------------------------
    def snowflake(self) -> int:
        ms = int(time.time() * 1000) - DISCORD_EPOCH_MS
        return (ms << 22) | (next(self._ids) & 0xFFF)

    def bot_user(self) -> dict[str, Any]:
        return {
            "id": str(self.bot_id),
            "username": "paperbot",
            "discriminator": "0",
            "global_name": None,
            "avatar": None,
            "bot": True,
            "public_flags": 0,
            "flags": 0,
            "verified": True,
            "mfa_enabled": False,
        }

    def user(self, user_id: int, name: str | None = None) -> dict[str, Any]:
        return {
            "id": str(user_id),
            "username": name or f"user{user_id % 100000}",
            "discriminator": "0",
            "global_name": name,
            "avatar": None,
            "public_flags": 0,
        }

    def member(self, user_id: int, *, with_user: bool = True, permissions: int | None = None) -> dict[str, Any]:
        data: dict[str, Any] = {
            "roles": [],
            "joined_at": now_iso(),
            "deaf": False,
            "mute": False,
            "flags": 0,
            "pending": False,
            "nick": None,
            "avatar": None,
        }
        if with_user:
            data["user"] = self.user(user_id)
        if permissions is not None:
            data["permissions"] = str(permissions)
        return data

    def text_channel(self, channel_id: int, position: int = 0, guild_id: int | None = None) -> dict[str, Any]:
        overwrites = []
        if channel_id == self.no_threads_channel_id:
            overwrites = [{"id": str(self.bot_role_id), "type": 0, "allow": "0", "deny": str(CREATE_PUBLIC_THREADS)}]
        return {
            "id": str(channel_id),
            "type": 0,
            "guild_id": str(guild_id or self.guild_id),
            "name": f"papers-{position}",
            "position": position,
            "permission_overwrites": overwrites,
            "parent_id": None,
            "nsfw": False,
            "topic": None,
            "rate_limit_per_user": 0,
            "last_message_id": None,
            "flags": 0,
        }

    def guild(self) -> dict[str, Any]:
        role = {
            "hoist": False,
            "managed": False,
            "mentionable": False,
            "color": 0,
            "colors": {"primary_color": 0, "secondary_color": None, "tertiary_color": None},
            "icon": None,
            "unicode_emoji": None,
            "flags": 0,
        }
        bot_member = self.member(self.bot_id, with_user=False)
        bot_member["user"] = self.bot_user()
        bot_member["roles"] = [str(self.bot_role_id)]
        return {
            "id": str(self.guild_id),
            "name": "Paper Club",
            "icon": None,
            "splash": None,
            "discovery_splash": None,
            "banner": None,
            "description": None,
            "owner_id": str(self.owner_id),
            "afk_channel_id": None,
            "afk_timeout": 300,
            "verification_level": 0,
            "default_message_notifications": 0,
            "explicit_content_filter": 0,
            "roles": [
                {**role, "id": str(self.everyone_role_id), "name": "@everyone", "position": 0, "permissions": str(EVERYONE_PERMISSIONS)},
                {**role, "id": str(self.bot_role_id), "name": "paperbot", "position": 1, "managed": True, "permissions": str(BOT_PERMISSIONS), "tags": {"bot_id": str(self.bot_id)}},
            ],
            "emojis": [],
            "stickers": [],
            "features": [],
            "mfa_level": 0,
            "application_id": None,
            "system_channel_id": None,
            "system_channel_flags": 0,
            "rules_channel_id": None,
            "public_updates_channel_id": None,
            "safety_alerts_channel_id": None,
            "vanity_url_code": None,
            "premium_tier": 0,
            "premium_subscription_count": 0,
            "preferred_locale": "en-US",
            "nsfw_level": 0,
            "premium_progress_bar_enabled": False,
            "max_members": 500000,
            "joined_at": now_iso(),
            "large": False,
            "unavailable": False,
            "member_count": 3,
            "voice_states": [],
            "members": [bot_member],
            "channels": [self.text_channel(c, i) for i, c in enumerate(self.channel_ids)],
            "threads": [],
            "presences": [],
            "stage_instances": [],
            "guild_scheduled_events": [],
            "soundboard_sounds": [],
        }

    def application(self) -> dict[str, Any]:
        return {
            "id": str(self.app_id),
            "name": "paperbot",
            "icon": None,
            "description": "",
            "rpc_origins": [],
            "bot_public": True,
            "bot_require_code_grant": False,
            "bot": self.bot_user(),
            "owner": self.user(self.owner_id, "owner"),
            "team": None,
            "verify_key": "0" * 64,
            "flags": 0,
            "summary": "",
            "tags": [],
            "redirect_uris": [],
            "interactions_endpoint_url": None,
            "approximate_guild_count": 1,
        }

    # -- recording and waiting -----------------------------------------------------
    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    async def wait_for(self, predicate: Predicate, timeout: float = 15.0, count: int = 1) -> list[Request]:
        """The first ``count`` recorded requests matching ``predicate``, waiting up to ``timeout`` s."""

        def matching() -> list[Request]:
            return [r for r in self.requests if r.status and predicate(r)]

        async def wait() -> list[Request]:
            async with self._changed:
                await self._changed.wait_for(lambda: len(matching()) >= count)
            return matching()[:count]

        try:
            return await asyncio.wait_for(wait(), timeout)
        except asyncio.TimeoutError:
            seen = "\n".join(f"  {r.method} {r.path} -> {r.status} {r.errors or ''}" for r in self.requests[-30:])
            raise AssertionError(f"timed out after {timeout}s waiting for {count} matching request(s); last requests:\n{seen}") from None

    def for_interaction(self, pending: PendingInteraction) -> list[Request]:
        """Every REST call the bot made for one interaction (callback, follow-ups, edits), in order."""
        return [
            r
            for r in self.requests
            if (r.is_callback() and r.parts[1] == str(pending.id)) or (r.parts[:1] == ["webhooks"] and pending.token in r.parts)
        ]

    def sent_to(self, channel_id: int) -> list[Request]:
        """Messages the bot posted in a channel or thread, in order."""
        return [r for r in self.requests if r.method == "POST" and r.parts == ["channels", str(channel_id), "messages"]]

    @web.middleware
    async def _record(self, request: web.Request, handler: Callable[[web.Request], Any]) -> web.StreamResponse:
        if request.path.startswith("/gateway"):
            return await handler(request)
        body: Any = None
        if request.can_read_body:
            if (request.content_type or "").startswith("multipart/"):
                form = await request.post()
                raw = form.get("payload_json")
                body = json.loads(raw) if isinstance(raw, str) else None
            else:
                text = await request.text()
                body = json.loads(text) if text else None
        rec = Request(
            method=request.method,
            path=request.path[len(API_PREFIX):],
            query=dict(request.query),
            json=body,
            at=time.monotonic(),
            authorization=request.headers.get("Authorization"),
            content_type=request.headers.get("Content-Type"),
        )
        self.requests.append(rec)
        request[RECORD] = rec
        response: web.StreamResponse | None = None
        for hook in self.before:
            response = await hook(rec)
            if response is not None:
                break
        if response is None:
            try:
                response = await handler(request)
            except web.HTTPException as exc:
                response = exc
        rec.status = response.status
        for after in self.after:
            await after(rec)
        await self._notify()
        return response

    # -- REST ------------------------------------------------------------------------
    @staticmethod
    def _json(data: Any, status: int = 200) -> web.Response:
        # Exactly "application/json": discord.py ignores a charset suffix.
        return web.Response(body=json.dumps(data).encode(), status=status, headers={"Content-Type": "application/json"})

    def _error(self, rec: Request, status: int, code: int, message: str, errors: list[str] | None = None) -> web.Response:
        rec.errors = errors or [message]
        body: dict[str, Any] = {"code": code, "message": message}
        if errors:
            body["errors"] = {"_errors": [{"code": "BASE_TYPE_INVALID", "message": e} for e in errors]}
        rec.response = body
        return self._json(body, status)

    async def _rest(self, request: web.Request) -> web.StreamResponse:
        rec = request[RECORD]
        p = rec.parts
        m = rec.method
        body = rec.json if isinstance(rec.json, dict) or isinstance(rec.json, list) else {}
        # Webhook and interaction routes authenticate with their token in the URL;
        # every other route needs the bot token.
        if p[:1] not in (["webhooks"], ["interactions"]) and rec.authorization != f"Bot {self.token}":
            return self._error(rec, 401, 0, "401: Unauthorized")

        if m == "GET" and p == ["gateway"]:
            return self._ok(rec, {"url": self.gateway_url})
        if m == "GET" and p == ["gateway", "bot"]:
            return self._ok(
                rec,
                {
                    "url": self.gateway_url,
                    "shards": 1,
                    "session_start_limit": {"total": 1000, "remaining": 999, "reset_after": 0, "max_concurrency": 1},
                },
            )
        if m == "GET" and p == ["users", "@me"]:
            return self._ok(rec, self.bot_user())
        if m == "GET" and p == ["oauth2", "applications", "@me"]:
            return self._ok(rec, self.application())
        if p[:1] == ["applications"] and p[-1] == "commands" and p[1] == str(self.app_id):
            scope = p[3] if len(p) == 5 and p[2] == "guilds" else "global"
            if m == "PUT":
                return self._ok(rec, self._register(scope, body if isinstance(body, list) else []))
            if m == "GET":
                return self._ok(rec, self.commands.get(scope, []))
        if p[:1] == ["channels"] and len(p) >= 2:
            return await self._channel_route(rec, body)
        if p[:1] == ["interactions"] and len(p) == 4 and m == "POST" and p[3] == "callback":
            return await self._callback(rec, int(p[1]), p[2], body)
        if p[:1] == ["webhooks"] and len(p) >= 3:
            return self._webhook(rec, p, body)
        return self._error(rec, 404, 0, "404: Not Found")

    def _ok(self, rec: Request, data: Any, status: int = 200) -> web.Response:
        rec.response = data
        if status == 204:
            return web.Response(status=204)
        return self._json(data, status)

    def _register(self, scope: str, commands: list[dict[str, Any]]) -> list[dict[str, Any]]:
        known = {c["name"]: c["id"] for c in self.commands.get(scope, [])}
        registered = []
        for c in commands:
            data = {
                "id": known.get(c["name"]) or str(self.snowflake()),
                "application_id": str(self.app_id),
                "version": str(self.snowflake()),
                "type": c.get("type", 1),
                "name": c["name"],
                "description": c.get("description", ""),
                "options": c.get("options", []),
                "default_member_permissions": c.get("default_member_permissions"),
                "dm_permission": c.get("dm_permission", True),
                "nsfw": c.get("nsfw", False),
            }
            if scope != "global":
                data["guild_id"] = scope
            registered.append(data)
        self.commands[scope] = registered
        return registered

    async def _channel_route(self, rec: Request, body: Any) -> web.Response:
        p, m = rec.parts, rec.method
        channel_id = int(p[1])
        if channel_id in self.channel_errors:
            status, code, message = self.channel_errors[channel_id]
            return self._error(rec, status, code, message)
        if m == "POST" and p[2:] == ["typing"]:
            return self._ok(rec, None, 204)
        if m == "GET" and p[2:] == ["messages"]:
            return self._ok(rec, self._history(channel_id, rec.query))
        if m == "POST" and p[2:] == ["messages"]:
            errors = message_errors(body)
            if errors:
                return self._error(rec, 400, 50035, "Invalid Form Body", errors)
            message = self._new_message(channel_id, body, author=self.bot_user())
            rec.ephemeral = False
            rec.message_id = int(message["id"])
            return self._ok(rec, message)
        if len(p) == 4 and p[2] == "messages":
            message = self.messages.get(int(p[3]))
            if message is None:
                return self._error(rec, 404, 10008, "Unknown Message")
            if m == "GET":
                return self._ok(rec, message)
            if m == "PATCH":
                errors = message_errors(body, creating=False)
                if errors:
                    return self._error(rec, 400, 50035, "Invalid Form Body", errors)
                message.update({k: v for k, v in body.items() if k in ("content", "embeds", "components", "flags")})
                message["edited_timestamp"] = now_iso()
                return self._ok(rec, message)
        if m == "POST" and len(p) == 5 and p[2] == "messages" and p[4] == "threads":
            return await self._start_thread(rec, channel_id, int(p[3]), body)
        if m in ("PUT", "DELETE") and len(p) >= 6 and p[4] == "reactions":
            return self._ok(rec, None, 204)
        return self._error(rec, 404, 0, "404: Not Found")

    def _history(self, channel_id: int, query: dict[str, str]) -> list[dict[str, Any]]:
        """``GET /channels/{id}/messages``: newest first; with ``after``, the ``limit``
        messages right after that id (still newest first), as Discord answers."""
        limit = min(int(query.get("limit", 50)), 100)
        found = sorted((m for m in self.messages.values() if int(m["channel_id"]) == channel_id), key=lambda m: int(m["id"]))
        if "after" in query:
            found = [m for m in found if int(m["id"]) > int(query["after"])][:limit]
        else:
            if "before" in query:
                found = [m for m in found if int(m["id"]) < int(query["before"])]
            found = found[-limit:]
        return list(reversed(found))

    async def _start_thread(self, rec: Request, channel_id: int, message_id: int, body: dict[str, Any]) -> web.Response:
        if channel_id not in self.channel_ids:
            return self._error(rec, 400, 50024, "Cannot execute action on this channel type")
        if message_id not in self.messages:
            return self._error(rec, 404, 10008, "Unknown Message")
        if channel_id == self.no_threads_channel_id:
            return self._error(rec, 403, 50013, "Missing Permissions")
        if message_id in self.threads:
            return self._error(rec, 400, 160004, "A thread has already been created for this message")
        name = str(body.get("name", ""))
        if not 1 <= len(name) <= 100:
            return self._error(rec, 400, 50035, "Invalid Form Body", [f"thread name must be 1-100 characters, got {len(name)}"])
        thread = {
            "id": str(message_id),  # Discord gives a thread started from a message that message's id
            "guild_id": str(self.guild_id),
            "parent_id": str(channel_id),
            "owner_id": str(self.bot_id),
            "name": name,
            "type": 11,
            "last_message_id": None,
            "message_count": 0,
            "member_count": 1,
            "rate_limit_per_user": 0,
            "flags": 0,
            "total_message_sent": 0,
            "thread_metadata": {
                "archived": False,
                "auto_archive_duration": int(body.get("auto_archive_duration", 1440)),
                "archive_timestamp": now_iso(),
                "locked": False,
                "create_timestamp": now_iso(),
            },
            "member": {"id": str(message_id), "user_id": str(self.bot_id), "join_timestamp": now_iso(), "flags": 0},
        }
        self.threads[message_id] = thread
        self.messages[message_id]["thread"] = thread
        await self.dispatch("THREAD_CREATE", {**thread, "newly_created": True})
        return self._ok(rec, thread, 201)

    async def _callback(self, rec: Request, interaction_id: int, token: str, body: dict[str, Any]) -> web.Response:
        pending = self.interactions.get(interaction_id)
        if pending is None or pending.token != token:
            return self._error(rec, 404, 10062, "Unknown interaction")
        if rec.at - pending.sent_at > INTERACTION_DEADLINE:
            return self._error(rec, 404, 10062, "Unknown interaction")
        if pending.callback is not None:
            return self._error(rec, 400, 40060, "Interaction has already been acknowledged.")
        kind = body.get("type")
        data = body.get("data") or {}
        resource: dict[str, Any] | None = None
        if kind == AUTOCOMPLETE_RESULT:
            errors = choice_errors(data.get("choices"))
            if errors:
                return self._error(rec, 400, 50035, "Invalid Form Body", errors)
        elif kind in (CHANNEL_MESSAGE, DEFERRED_CHANNEL_MESSAGE):
            if kind == CHANNEL_MESSAGE:
                errors = message_errors(data)
                if errors:
                    return self._error(rec, 400, 50035, "Invalid Form Body", errors)
            flags = int(data.get("flags") or 0)
            original = self._new_message(
                pending.channel_id,
                data if kind == CHANNEL_MESSAGE else {"content": "", "flags": flags | LOADING},
                author=self.bot_user(),
                webhook=True,
                interaction=pending,
            )
            pending.original_id = int(original["id"])
            pending.original_ephemeral = bool(flags & EPHEMERAL)
            pending.original_filled = kind == CHANNEL_MESSAGE
            rec.ephemeral = pending.original_ephemeral if kind == CHANNEL_MESSAGE else None
            rec.message_id = pending.original_id
            resource = {"type": kind, "message": original}
        elif kind == UPDATE_MESSAGE:
            errors = message_errors(data, creating=False)
            if errors:
                return self._error(rec, 400, 50035, "Invalid Form Body", errors)
            target = self.messages.get(int(pending.payload.get("message", {}).get("id", 0)))
            if target is None:
                return self._error(rec, 400, 50035, "Invalid Form Body", ["UPDATE_MESSAGE needs a component interaction"])
            target.update({k: v for k, v in data.items() if k in ("content", "embeds", "components")})
            target["edited_timestamp"] = now_iso()
            rec.message_id = int(target["id"])
            resource = {"type": kind, "message": target}
        elif kind != DEFERRED_UPDATE:
            return self._error(rec, 400, 50035, "Invalid Form Body", [f"unsupported callback type {kind}"])
        pending.callback = rec
        answer: dict[str, Any] = {
            "interaction": {
                "id": str(pending.id),
                "type": pending.type,
                "response_message_id": str(pending.original_id) if pending.original_id else None,
                "response_message_loading": kind == DEFERRED_CHANNEL_MESSAGE,
                "response_message_ephemeral": pending.original_ephemeral,
            }
        }
        if resource is not None:
            answer["resource"] = resource
        return self._ok(rec, answer)

    def _webhook(self, rec: Request, p: list[str], body: dict[str, Any]) -> web.Response:
        if p[1] != str(self.app_id) or p[2] not in self._by_token:
            return self._error(rec, 404, 10015, "Unknown Webhook")
        pending = self._by_token[p[2]]
        if pending.callback is None:
            return self._error(rec, 404, 10015, "Unknown Webhook")  # nothing to follow up yet
        m = rec.method
        if len(p) == 3 and m == "POST":
            errors = message_errors(body)
            if errors:
                return self._error(rec, 400, 50035, "Invalid Form Body", errors)
            if pending.original_id and not pending.original_filled and not pending.original_deleted:
                # The first follow-up after a defer edits the "thinking" message; its
                # own ephemeral flag is ignored, the defer's visibility stays.
                message = self.messages[pending.original_id]
                message.update({k: v for k, v in body.items() if k in ("content", "embeds", "components")})
                message["flags"] = EPHEMERAL if pending.original_ephemeral else 0
                pending.original_filled = True
                rec.ephemeral = pending.original_ephemeral
            else:
                message = self._new_message(pending.channel_id, body, author=self.bot_user(), webhook=True, interaction=pending)
                rec.ephemeral = bool(int(body.get("flags") or 0) & EPHEMERAL)
            rec.message_id = int(message["id"])
            return self._ok(rec, message)
        if len(p) == 5 and p[3] == "messages":
            target_id = pending.original_id if p[4] == "@original" else int(p[4])
            message = self.messages.get(target_id or 0)
            if message is None or (p[4] == "@original" and pending.original_deleted):
                return self._error(rec, 404, 10008, "Unknown Message")
            if m == "GET":
                return self._ok(rec, message)
            if m == "DELETE":
                self.messages.pop(int(message["id"]), None)
                if target_id == pending.original_id:
                    pending.original_deleted = True
                return self._ok(rec, None, 204)
            if m == "PATCH":
                errors = message_errors(body, creating=False)
                if errors:
                    return self._error(rec, 400, 50035, "Invalid Form Body", errors)
                message.update({k: v for k, v in body.items() if k in ("content", "embeds", "components")})
                message["edited_timestamp"] = now_iso()
                if target_id == pending.original_id:
                    pending.original_filled = True
                    message["flags"] = EPHEMERAL if pending.original_ephemeral else 0
                rec.ephemeral = bool(int(message.get("flags") or 0) & EPHEMERAL)
                rec.message_id = int(message["id"])
                return self._ok(rec, message)
        return self._error(rec, 404, 0, "404: Not Found")

    def _new_message(
        self,
        channel_id: int,
        body: dict[str, Any],
        *,
        author: dict[str, Any],
        webhook: bool = False,
        interaction: PendingInteraction | None = None,
    ) -> dict[str, Any]:
        message_id = self.snowflake()
        message: dict[str, Any] = {
            "id": str(message_id),
            "channel_id": str(channel_id),
            "author": author,
            "content": body.get("content") or "",
            "timestamp": now_iso(),
            "edited_timestamp": None,
            "tts": False,
            "mention_everyone": False,
            "mentions": [],
            "mention_roles": [],
            "attachments": [],
            "embeds": body.get("embeds") or [],
            "components": body.get("components") or [],
            "pinned": False,
            "type": 0,
            "flags": int(body.get("flags") or 0),
        }
        if channel_id in self.channel_ids or channel_id in self.threads:
            message["guild_id"] = str(self.guild_id)
        reference = body.get("message_reference")
        if reference:
            message["type"] = 19
            message["message_reference"] = reference
            message["referenced_message"] = self.messages.get(int(reference["message_id"]))
        if webhook:
            message["webhook_id"] = str(self.app_id)
            message["application_id"] = str(self.app_id)
        if interaction is not None:
            message["type"] = 20
            message["interaction_metadata"] = {
                "id": str(interaction.id),
                "type": interaction.type,
                "user": self.user(interaction.user_id),
                "authorizing_integration_owners": {"0": str(self.guild_id)},
            }
        self.messages[message_id] = message
        return message

    # -- gateway ---------------------------------------------------------------------
    async def _gateway(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(autoping=True, max_msg_size=0)
        await ws.prepare(request)
        self._sockets.add(ws)
        self.gateway_connections.append(request.path)
        try:
            await self._send(ws, {"op": 10, "d": {"heartbeat_interval": self.heartbeat_ms}, "s": None, "t": None})
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    continue
                frame = json.loads(msg.data)
                self.gateway_received.append(frame)
                op, data = frame.get("op"), frame.get("d")
                if op == 1:
                    await self._send(ws, {"op": 11, "d": None, "s": None, "t": None})
                elif op == 2:
                    if data.get("token") != self.token:
                        await ws.close(code=4004, message=b"Authentication failed.")
                        break
                    self._ws = ws
                    self.intents = int(data.get("intents") or 0)
                    self.identified.set()
                    await self._ready(ws, data)
                elif op == 6:
                    if data.get("token") != self.token or data.get("session_id") != self._session_id:
                        await self._send(ws, {"op": 9, "d": False, "s": None, "t": None})
                        continue
                    self._ws = ws
                    await self._dispatch_on(ws, "RESUMED", {})
                    self.resumed.set()
                await self._notify()
        finally:
            self._sockets.discard(ws)
            if self._ws is ws:
                self._ws = None
        return ws

    async def _ready(self, ws: web.WebSocketResponse, identify: dict[str, Any]) -> None:
        self._seq = 0
        ready: dict[str, Any] = {
            "v": 10,
            "user": self.bot_user(),
            "user_settings": {},
            "guilds": [{"id": str(self.guild_id), "unavailable": True}],
            "private_channels": [],
            "relationships": [],
            "presences": [],
            "session_id": self._session_id,
            "session_type": "normal",
            "resume_gateway_url": self.resume_url,
            "application": {"id": str(self.app_id), "flags": 0},
            "geo_ordered_rtc_regions": [],
        }
        if "shard" in identify:
            ready["shard"] = identify["shard"]
        await self._dispatch_on(ws, "READY", ready)
        await self._dispatch_on(ws, "GUILD_CREATE", self.guild())
        self.ready_sent.set()

    async def _send(self, ws: web.WebSocketResponse, frame: dict[str, Any]) -> None:
        async with self._ws_lock:
            self.gateway_sent.append(frame)
            await ws.send_str(json.dumps(frame))

    async def _dispatch_on(self, ws: web.WebSocketResponse, event: str, data: dict[str, Any]) -> None:
        async with self._ws_lock:
            self._seq += 1
            frame = {"op": 0, "s": self._seq, "t": event, "d": data}
            self.gateway_sent.append(frame)
            await ws.send_str(json.dumps(frame))

    async def reconnect(self) -> None:
        """Ask the bot to reconnect (op 7), as Discord does now and then."""
        if self._ws is None:
            raise AssertionError("no bot is connected to the fake gateway")
        await self._send(self._ws, {"op": 7, "d": None, "s": None, "t": None})

    async def dispatch(self, event: str, data: dict[str, Any]) -> None:
        """Send a DISPATCH event to the connected bot."""
        if self._ws is None:
            raise AssertionError("no bot is connected to the fake gateway")
        await self._dispatch_on(self._ws, event, data)

    # -- what users do -----------------------------------------------------------------
    async def user_message(
        self,
        content: str,
        *,
        user_id: int,
        channel_id: int | None = None,
        mention_bot: bool = True,
        reference_id: int | None = None,
    ) -> dict[str, Any]:
        """A user posts a message (MESSAGE_CREATE); returns the message object."""
        channel_id = channel_id or self.channel_ids[0]
        message = self._new_message(channel_id, {"content": content}, author=self.user(user_id))
        message["member"] = self.member(user_id, with_user=False)
        if mention_bot:
            mentioned = self.bot_user()
            mentioned["member"] = self.member(self.bot_id, with_user=False)
            message["mentions"] = [mentioned]
        if not mention_bot and not self.intents & MESSAGE_CONTENT_INTENT:
            message["content"] = ""  # the privileged intent was not requested
        if reference_id is not None:
            message["type"] = 19
            message["message_reference"] = {"message_id": str(reference_id), "channel_id": str(channel_id), "guild_id": str(self.guild_id)}
            message["referenced_message"] = self.messages.get(reference_id)
        await self.dispatch("MESSAGE_CREATE", message)
        return message

    def _interaction_payload(
        self, kind: int, data: dict[str, Any], *, user_id: int, channel_id: int | None, permissions: int = EVERYONE_PERMISSIONS
    ) -> dict[str, Any]:
        channel_id = channel_id or self.channel_ids[0]
        channel = self.threads.get(channel_id) or self.text_channel(channel_id, self.channel_ids.index(channel_id) if channel_id in self.channel_ids else 0)
        return {
            "id": str(self.snowflake()),
            "application_id": str(self.app_id),
            "type": kind,
            "data": data,
            "guild": {"id": str(self.guild_id), "locale": "en-US", "features": []},
            "guild_id": str(self.guild_id),
            "channel": {**channel, "permissions": str(EVERYONE_PERMISSIONS)},
            "channel_id": str(channel_id),
            "member": self.member(user_id, permissions=permissions),
            "token": "itok-" + secrets.token_urlsafe(24),
            "version": 1,
            "app_permissions": str(BOT_PERMISSIONS),
            "locale": "en-US",
            "guild_locale": "en-US",
            "entitlements": [],
            "authorizing_integration_owners": {"0": str(self.guild_id)},
            "context": 0,
            "attachment_size_limit": 10 * 1024 * 1024,
        }

    async def interact(
        self,
        kind: int,
        data: dict[str, Any],
        *,
        user_id: int,
        channel_id: int | None = None,
        message: dict[str, Any] | None = None,
        permissions: int = EVERYONE_PERMISSIONS,
    ) -> PendingInteraction:
        """Send an INTERACTION_CREATE; returns what to wait on."""
        payload = self._interaction_payload(kind, data, user_id=user_id, channel_id=channel_id, permissions=permissions)
        if message is not None:
            payload["message"] = message
        pending = PendingInteraction(
            id=int(payload["id"]),
            token=payload["token"],
            type=kind,
            user_id=user_id,
            channel_id=int(payload["channel_id"]),
            sent_at=time.monotonic(),
            payload=payload,
        )
        self.interactions[pending.id] = pending
        self._by_token[pending.token] = pending
        await self.dispatch("INTERACTION_CREATE", payload)
        return pending

    def command_data(self, name: str, options: list[dict[str, Any]]) -> dict[str, Any]:
        """``data`` of an application command, with the id the bot registered it under."""
        registered = self.commands.get(str(self.guild_id)) or self.commands.get("global") or []
        found = next((c for c in registered if c["name"] == name), None)
        data: dict[str, Any] = {"id": found["id"] if found else str(self.snowflake()), "name": name, "type": 1, "options": options}
        if found and "guild_id" in found:
            data["guild_id"] = found["guild_id"]
        return data

    async def slash(
        self,
        name: str,
        *,
        user_id: int,
        channel_id: int | None = None,
        subcommand: str | None = None,
        permissions: int = EVERYONE_PERMISSIONS,
        channels: dict[str, int] | None = None,
        **options: str,
    ) -> PendingInteraction:
        """A user runs ``/name [subcommand] option:value ...``: string options, and
        channel options (``channels``) resolved the way Discord sends them."""
        opts: list[dict[str, Any]] = [{"name": k, "type": 3, "value": v} for k, v in options.items()]
        opts += [{"name": k, "type": 7, "value": str(v)} for k, v in (channels or {}).items()]
        if subcommand:
            opts = [{"name": subcommand, "type": 1, "options": opts}]
        data = self.command_data(name, opts)
        if channels:
            data["resolved"] = {
                "channels": {str(c): {**self.resolved_channel(c), "permissions": str(permissions)} for c in channels.values()}
            }
        return await self.interact(2, data, user_id=user_id, channel_id=channel_id, permissions=permissions)

    def resolved_channel(self, channel_id: int) -> dict[str, Any]:
        """A channel option as Discord resolves it: one of this guild's channels, a
        channel of ``other_guild_id``, or (any other id) a channel of this guild
        the bot has never been told about."""
        if channel_id in self.channel_ids:
            return self.text_channel(channel_id, self.channel_ids.index(channel_id))
        guild = self.other_guild_id if channel_id in self.other_guild_channels else self.guild_id
        return self.text_channel(channel_id, guild_id=guild)

    async def autocomplete(self, name: str, option: str, current: str, *, user_id: int) -> PendingInteraction:
        """A user types ``current`` into ``/name option:`` (type 4 interaction)."""
        opts = [{"name": option, "type": 3, "value": current, "focused": True}]
        return await self.interact(4, self.command_data(name, opts), user_id=user_id)

    async def click(self, message_id: int, custom_id: str, *, user_id: int) -> PendingInteraction:
        """A user clicks the button ``custom_id`` on a message the bot sent (type 3 interaction)."""
        message = self.messages[message_id]
        data = {"custom_id": custom_id, "component_type": 2}
        return await self.interact(3, data, user_id=user_id, channel_id=int(message["channel_id"]), message=message)


# -- Discord's documented limits -------------------------------------------------------
def message_errors(body: Any, creating: bool = True) -> list[str]:
    """What Discord would reject in a message payload (content, embeds, components);
    ``creating``: a new message, which must not be empty (an edit may change one field)."""
    if not isinstance(body, dict):
        return ["body must be a JSON object"]
    errors: list[str] = []
    content = body.get("content")
    if content is not None and len(content) > 2000:
        errors.append(f"content: must be 2000 or fewer in length (got {len(content)})")
    embeds = body.get("embeds") or []
    if len(embeds) > 10:
        errors.append("embeds: at most 10")
    total = 0
    for i, e in enumerate(embeds):
        for key, limit in (("title", 256), ("description", 4096)):
            if len(e.get(key) or "") > limit:
                errors.append(f"embeds.{i}.{key}: longer than {limit}")
        fields = e.get("fields") or []
        if len(fields) > 25:
            errors.append(f"embeds.{i}.fields: more than 25")
        for j, f in enumerate(fields):
            # Discord trims embed strings: a name or value of only spaces is empty.
            if not (f.get("name") or "").strip() or len(f["name"]) > 256:
                errors.append(f"embeds.{i}.fields.{j}.name: must be 1-256 characters")
            if not (f.get("value") or "").strip() or len(f["value"]) > 1024:
                errors.append(f"embeds.{i}.fields.{j}.value: must be 1-1024 characters")
        footer = (e.get("footer") or {}).get("text") or ""
        if len(footer) > 2048:
            errors.append(f"embeds.{i}.footer.text: longer than 2048")
        author = (e.get("author") or {}).get("name") or ""
        if len(author) > 256:
            errors.append(f"embeds.{i}.author.name: longer than 256")
        errors += [f"embeds.{i}.{where}: {problem}" for where, problem in embed_url_errors(e)]
        total += len(e.get("title") or "") + len(e.get("description") or "") + len(footer) + len(author)
        total += sum(len(f.get("name") or "") + len(f.get("value") or "") for f in fields)
    if total > 6000:
        errors.append(f"embeds: {total} characters in total, more than 6000")
    rows = body.get("components") or []
    if len(rows) > 5:
        errors.append("components: at most 5 action rows")
    for i, row in enumerate(rows):
        children = row.get("components") or []
        if row.get("type") != 1 or not 1 <= len(children) <= 5:
            errors.append(f"components.{i}: an action row holds 1-5 components")
        for c in children:
            if c.get("type") == 2 and c.get("style") != 5 and not 1 <= len(c.get("custom_id") or "") <= 100:
                errors.append(f"components.{i}: custom_id must be 1-100 characters")
    if "allowed_mentions" in body:
        parse = (body["allowed_mentions"] or {}).get("parse", [])
        if any(p not in ("roles", "users", "everyone") for p in parse):
            errors.append("allowed_mentions.parse: unknown value")
    if creating and not (content or embeds or rows or body.get("attachments") or body.get("sticker_ids") or body.get("poll")):
        errors.append("Cannot send an empty message")
    return errors


def embed_url_errors(embed: dict[str, Any]) -> list[tuple[str, str]]:
    """Discord's checks on an embed's URLs: at most 2048 characters, a well-formed
    http(s) URL (images may also be ``attachment://``)."""
    found = [("url", embed.get("url"))]
    for part, key in (("author", "url"), ("author", "icon_url"), ("footer", "icon_url"), ("image", "url"), ("thumbnail", "url")):
        found.append((f"{part}.{key}", (embed.get(part) or {}).get(key)))
    errors = []
    for where, url in found:
        if url is None:
            continue
        if not isinstance(url, str) or len(url) > 2048:
            errors.append((where, "Must be 2048 or fewer in length."))
            continue
        schemes = ("http://", "https://", "attachment://") if where.endswith(("image.url", "thumbnail.url", "icon_url")) else ("http://", "https://")
        if not url.lower().startswith(schemes) or any(ch.isspace() for ch in url):
            errors.append((where, "Not a well formed URL."))
    return errors


def choice_errors(choices: Any) -> list[str]:
    if not isinstance(choices, list):
        return ["choices: must be a list"]
    errors = []
    if len(choices) > 25:
        errors.append(f"choices: at most 25 (got {len(choices)})")
    for i, c in enumerate(choices):
        if not 1 <= len(str(c.get("name", ""))) <= 100:
            errors.append(f"choices.{i}.name: must be 1-100 characters")
        if isinstance(c.get("value"), str) and not 1 <= len(c["value"]) <= 100:
            errors.append(f"choices.{i}.value: must be 1-100 characters")
    return errors
