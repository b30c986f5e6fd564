"""The fake's REST API under ``/api/v10``: one aiohttp route per Discord endpoint the bot calls.

Webhook and interaction routes authenticate with the token in their URL; every
other route needs ``Authorization: Bot TOKEN`` (401 otherwise, unknown paths
included).  A channel in ``World.channel_errors`` fails every call on it.
Anything without a route of its own gets Discord's 404.  The recording
middleware of the driver has already put the call's :class:`Request` on the
aiohttp request (``request[RECORD]``); handlers fill in its answer.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from tests.support.discord import payloads
from tests.support.discord.limits import choice_errors, message_errors
from tests.support.discord.protocol import (
    API_PREFIX,
    AUTOCOMPLETE_RESULT,
    CHANNEL_MESSAGE,
    DEFERRED_CHANNEL_MESSAGE,
    DEFERRED_UPDATE,
    EPHEMERAL,
    INTERACTION_DEADLINE,
    LOADING,
    RECORD,
    UPDATE_MESSAGE,
    PendingInteraction,
    Request,
    error_response,
    invalid_form,
    now_iso,
    ok,
)
from tests.support.discord.world import World

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
#: Sends a gateway DISPATCH event to the bot (THREAD_CREATE when a thread starts).
Dispatch = Callable[[str, dict[str, Any]], Awaitable[None]]

#: Message fields an edit may change.
EDITABLE = ("content", "embeds", "components")


def not_found(rec: Request) -> web.Response:
    return error_response(rec, 404, 0, "404: Not Found")


def body_of(rec: Request) -> Any:
    """The JSON body, or ``{}`` for none or a scalar."""
    return rec.json if isinstance(rec.json, (dict, list)) else {}


class RestApi:
    """The REST endpoints over one :class:`World`; ``routes()`` is the route table."""

    def __init__(self, world: World, *, dispatch: Dispatch, gateway_url: Callable[[], str]) -> None:
        self.world = world
        self._dispatch = dispatch
        self._gateway_url = gateway_url

    def routes(self) -> list[web.RouteDef]:
        bot, channel, api = self._bot_auth, self._channel, API_PREFIX
        return [
            web.get(api + "/gateway", bot(self.gateway)),
            web.get(api + "/gateway/bot", bot(self.gateway_bot)),
            web.get(api + "/users/@me", bot(self.me)),
            web.get(api + "/oauth2/applications/@me", bot(self.application)),
            web.route("*", api + "/applications/{app_id}/commands", bot(self.commands)),
            web.route("*", api + "/applications/{app_id}/guilds/{scope}/commands", bot(self.commands)),
            web.post(api + "/channels/{channel_id}/typing", channel(self.typing)),
            web.get(api + "/channels/{channel_id}/messages", channel(self.history)),
            web.post(api + "/channels/{channel_id}/messages", channel(self.create_message)),
            web.route("*", api + "/channels/{channel_id}/messages/{message_id}", channel(self.channel_message)),
            web.post(api + "/channels/{channel_id}/messages/{message_id}/threads", channel(self.start_thread)),
            web.put(api + "/channels/{channel_id}/messages/{message_id}/reactions/{reaction:.+}", channel(self.react)),
            web.delete(api + "/channels/{channel_id}/messages/{message_id}/reactions/{reaction:.+}", channel(self.react)),
            web.post(api + "/interactions/{interaction_id}/{token}/callback", self.callback),
            web.post(api + "/webhooks/{app_id}/{token}", self.follow_up),
            web.route("*", api + "/webhooks/{app_id}/{token}/messages/{message_id}", self.webhook_message),
            web.route("*", api + "/{tail:.*}", self.fallback),
        ]

    # -- checks shared by routes ------------------------------------------------------------
    def _authorized(self, rec: Request) -> bool:
        return rec.authorization == f"Bot {self.world.token}"

    def _bot_auth(self, handler: Handler) -> Handler:
        async def checked(request: web.Request) -> web.StreamResponse:
            rec = request[RECORD]
            if not self._authorized(rec):
                return error_response(rec, 401, 0, "401: Unauthorized")
            return await handler(request)

        return checked

    def _channel(self, handler: Handler) -> Handler:
        """Bot auth, then the channel's injected failure (``World.channel_errors``) if any."""

        async def checked(request: web.Request) -> web.StreamResponse:
            rec = request[RECORD]
            failure = self._channel_failure(rec, int(request.match_info["channel_id"]))
            return failure if failure is not None else await handler(request)

        return self._bot_auth(checked)

    def _channel_failure(self, rec: Request, channel_id: int) -> web.Response | None:
        if channel_id in self.world.channel_errors:
            status, code, message = self.world.channel_errors[channel_id]
            return error_response(rec, status, code, message)
        return None

    def _pending(self, rec: Request, app_id: str, token: str) -> PendingInteraction | web.Response:
        """The interaction a webhook URL belongs to, or Discord's Unknown Webhook."""
        pending = self.world.interactions_by_token.get(token)
        if app_id != str(self.world.app_id) or pending is None:
            return error_response(rec, 404, 10015, "Unknown Webhook")
        if pending.callback is None:
            return error_response(rec, 404, 10015, "Unknown Webhook")  # nothing to follow up yet
        return pending

    async def fallback(self, request: web.Request) -> web.StreamResponse:
        """No route: the same checks a real route would make first, then 404."""
        rec = request[RECORD]
        p = rec.parts
        if p[:1] not in (["webhooks"], ["interactions"]) and not self._authorized(rec):
            return error_response(rec, 401, 0, "401: Unauthorized")
        if p[:1] == ["channels"] and len(p) >= 2:
            failure = self._channel_failure(rec, int(p[1]))
            if failure is not None:
                return failure
        if p[:1] == ["webhooks"] and len(p) >= 3:
            pending = self._pending(rec, p[1], p[2])
            if isinstance(pending, web.Response):
                return pending
        return not_found(rec)

    # -- login and commands -------------------------------------------------------------------
    async def gateway(self, request: web.Request) -> web.Response:
        return ok(request[RECORD], {"url": self._gateway_url()})

    async def gateway_bot(self, request: web.Request) -> web.Response:
        return ok(
            request[RECORD],
            {
                "url": self._gateway_url(),
                "shards": 1,
                "session_start_limit": {"total": 1000, "remaining": 999, "reset_after": 0, "max_concurrency": 1},
            },
        )

    async def me(self, request: web.Request) -> web.Response:
        return ok(request[RECORD], payloads.bot_user(self.world))

    async def application(self, request: web.Request) -> web.Response:
        return ok(request[RECORD], payloads.application(self.world))

    async def commands(self, request: web.Request) -> web.Response:
        """``PUT`` (bulk overwrite) or ``GET`` the global or a guild's commands."""
        rec = request[RECORD]
        if request.match_info["app_id"] != str(self.world.app_id):
            return not_found(rec)
        scope = request.match_info.get("scope", "global")
        if rec.method == "PUT":
            body = body_of(rec)
            return ok(rec, self._register(scope, body if isinstance(body, list) else []))
        if rec.method == "GET":
            return ok(rec, self.world.commands.get(scope, []))
        return not_found(rec)

    def _register(self, scope: str, commands: list[dict[str, Any]]) -> list[dict[str, Any]]:
        known = {c["name"]: c["id"] for c in self.world.commands.get(scope, [])}
        registered = [payloads.command(self.world, scope, c, known.get(c["name"]) or str(self.world.snowflake())) for c in commands]
        self.world.commands[scope] = registered
        return registered

    # -- channels and messages -------------------------------------------------------------------
    async def typing(self, request: web.Request) -> web.Response:
        return ok(request[RECORD], None, 204)

    async def history(self, request: web.Request) -> web.Response:
        """``GET /channels/{id}/messages``: newest first; with ``after``, the ``limit``
        messages right after that id (still newest first), as Discord answers."""
        rec = request[RECORD]
        channel_id, query = int(request.match_info["channel_id"]), rec.query
        limit = min(int(query.get("limit", 50)), 100)
        found = sorted((m for m in self.world.messages.values() if int(m["channel_id"]) == channel_id), key=lambda m: int(m["id"]))
        if "after" in query:
            found = [m for m in found if int(m["id"]) > int(query["after"])][:limit]
        else:
            if "before" in query:
                found = [m for m in found if int(m["id"]) < int(query["before"])]
            found = found[-limit:]
        return ok(rec, list(reversed(found)))

    async def create_message(self, request: web.Request) -> web.Response:
        rec = request[RECORD]
        body = body_of(rec)
        errors = message_errors(body)
        if errors:
            return invalid_form(rec, errors)
        message = self.world.add_message(int(request.match_info["channel_id"]), body, author=payloads.bot_user(self.world))
        rec.ephemeral = False
        rec.message_id = int(message["id"])
        return ok(rec, message)

    async def channel_message(self, request: web.Request) -> web.Response:
        """``GET`` or ``PATCH`` one message (any call on an unknown one: Unknown Message)."""
        rec = request[RECORD]
        message = self.world.messages.get(int(request.match_info["message_id"]))
        if message is None:
            return error_response(rec, 404, 10008, "Unknown Message")
        if rec.method == "GET":
            return ok(rec, message)
        if rec.method == "PATCH":
            body = body_of(rec)
            errors = message_errors(body, creating=False)
            if errors:
                return invalid_form(rec, errors)
            message.update({k: v for k, v in body.items() if k in (*EDITABLE, "flags")})
            message["edited_timestamp"] = now_iso()
            return ok(rec, message)
        return not_found(rec)

    async def react(self, request: web.Request) -> web.Response:
        return ok(request[RECORD], None, 204)

    async def start_thread(self, request: web.Request) -> web.Response:
        """A public thread from a message: 403 in the no-threads channel, once per message."""
        rec = request[RECORD]
        channel_id, message_id = int(request.match_info["channel_id"]), int(request.match_info["message_id"])
        body = body_of(rec)
        world = self.world
        if channel_id not in world.channel_ids:
            return error_response(rec, 400, 50024, "Cannot execute action on this channel type")
        if message_id not in world.messages:
            return error_response(rec, 404, 10008, "Unknown Message")
        if channel_id == world.no_threads_channel_id:
            return error_response(rec, 403, 50013, "Missing Permissions")
        if message_id in world.threads:
            return error_response(rec, 400, 160004, "A thread has already been created for this message")
        name = str(body.get("name", ""))
        if not 1 <= len(name) <= 100:
            return invalid_form(rec, [f"thread name must be 1-100 characters, got {len(name)}"])
        thread = payloads.thread(world, channel_id, message_id, name, int(body.get("auto_archive_duration", 1440)))
        world.threads[message_id] = thread
        world.messages[message_id]["thread"] = thread
        await self._dispatch("THREAD_CREATE", {**thread, "newly_created": True})
        return ok(rec, thread, 201)

    # -- interactions --------------------------------------------------------------------------
    async def callback(self, request: web.Request) -> web.Response:
        """The interaction response: within :data:`INTERACTION_DEADLINE` of the event, once."""
        rec = request[RECORD]
        body = body_of(rec)
        pending = self.world.interactions.get(int(request.match_info["interaction_id"]))
        if pending is None or pending.token != request.match_info["token"]:
            return error_response(rec, 404, 10062, "Unknown interaction")
        if rec.at - pending.sent_at > INTERACTION_DEADLINE:
            return error_response(rec, 404, 10062, "Unknown interaction")
        if pending.callback is not None:
            return error_response(rec, 400, 40060, "Interaction has already been acknowledged.")
        kind = body.get("type")
        data = body.get("data") or {}
        resource: dict[str, Any] | None = None
        if kind == AUTOCOMPLETE_RESULT:
            errors = choice_errors(data.get("choices"))
            if errors:
                return invalid_form(rec, errors)
        elif kind in (CHANNEL_MESSAGE, DEFERRED_CHANNEL_MESSAGE):
            if kind == CHANNEL_MESSAGE:
                errors = message_errors(data)
                if errors:
                    return invalid_form(rec, errors)
            flags = int(data.get("flags") or 0)
            original = self.world.add_message(
                pending.channel_id,
                data if kind == CHANNEL_MESSAGE else {"content": "", "flags": flags | LOADING},
                author=payloads.bot_user(self.world),
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
                return invalid_form(rec, errors)
            target = self.world.messages.get(int(pending.payload.get("message", {}).get("id", 0)))
            if target is None:
                return invalid_form(rec, ["UPDATE_MESSAGE needs a component interaction"])
            target.update({k: v for k, v in data.items() if k in EDITABLE})
            target["edited_timestamp"] = now_iso()
            rec.message_id = int(target["id"])
            resource = {"type": kind, "message": target}
        elif kind != DEFERRED_UPDATE:
            return invalid_form(rec, [f"unsupported callback type {kind}"])
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
        return ok(rec, answer)

    async def follow_up(self, request: web.Request) -> web.Response:
        """A follow-up message; the first one after a defer fills the "thinking" message."""
        rec = request[RECORD]
        pending = self._pending(rec, request.match_info["app_id"], request.match_info["token"])
        if isinstance(pending, web.Response):
            return pending
        body = body_of(rec)
        errors = message_errors(body)
        if errors:
            return invalid_form(rec, errors)
        if pending.original_id and not pending.original_filled and not pending.original_deleted:
            # The first follow-up after a defer edits the "thinking" message; its
            # own ephemeral flag is ignored, the defer's visibility stays.
            message = self.world.messages[pending.original_id]
            message.update({k: v for k, v in body.items() if k in EDITABLE})
            message["flags"] = EPHEMERAL if pending.original_ephemeral else 0
            pending.original_filled = True
            rec.ephemeral = pending.original_ephemeral
        else:
            message = self.world.add_message(
                pending.channel_id, body, author=payloads.bot_user(self.world), webhook=True, interaction=pending
            )
            rec.ephemeral = bool(int(body.get("flags") or 0) & EPHEMERAL)
        rec.message_id = int(message["id"])
        return ok(rec, message)

    async def webhook_message(self, request: web.Request) -> web.Response:
        """``GET``, ``PATCH`` or ``DELETE`` the original response (``@original``) or a follow-up."""
        rec = request[RECORD]
        pending = self._pending(rec, request.match_info["app_id"], request.match_info["token"])
        if isinstance(pending, web.Response):
            return pending
        which = request.match_info["message_id"]
        target_id = pending.original_id if which == "@original" else int(which)
        message = self.world.messages.get(target_id or 0)
        if message is None or (which == "@original" and pending.original_deleted):
            return error_response(rec, 404, 10008, "Unknown Message")
        m = rec.method
        if m == "GET":
            return ok(rec, message)
        if m == "DELETE":
            self.world.messages.pop(int(message["id"]), None)
            if target_id == pending.original_id:
                pending.original_deleted = True
            return ok(rec, None, 204)
        if m == "PATCH":
            body = body_of(rec)
            errors = message_errors(body, creating=False)
            if errors:
                return invalid_form(rec, errors)
            message.update({k: v for k, v in body.items() if k in EDITABLE})
            message["edited_timestamp"] = now_iso()
            if target_id == pending.original_id:
                pending.original_filled = True
                message["flags"] = EPHEMERAL if pending.original_ephemeral else 0
            rec.ephemeral = bool(int(message.get("flags") or 0) & EPHEMERAL)
            rec.message_id = int(message["id"])
            return ok(rec, message)
        return not_found(rec)
