"""``FakeDiscord``: the fake server a test starts, drives and asserts on.

It serves the REST routes (:mod:`.routes`) and the gateway (:mod:`.gateway`) from
one ``aiohttp.web`` app on 127.0.0.1, records every REST call (:class:`Request`,
with its arrival time) before any route sees it, and offers what users do (a
message, a slash command, an autocomplete, a button click) as gateway events.
``wait_for`` waits on the recorded calls with a timeout instead of sleeping.

Hooks let a test act at an exact point of the protocol: each of ``before``
runs when a REST request arrives and may answer it instead (a 500 from a broken
Discord); each of ``after`` runs once the fake has handled a request (the
message exists) but before the bot gets the answer, e.g. to kill the bot there.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import Any

from aiohttp import web

from tests.support.discord import payloads
from tests.support.discord.gateway import GATEWAY_PATH, RESUME_PATH, Gateway
from tests.support.discord.protocol import (
    API_PREFIX,
    EVERYONE_PERMISSIONS,
    MESSAGE_CONTENT_INTENT,
    RECORD,
    AfterHook,
    BeforeHook,
    PendingInteraction,
    Predicate,
    Request,
)
from tests.support.discord.routes import RestApi
from tests.support.discord.world import World


class FakeDiscord(World):
    """The fake server; use as ``async with FakeDiscord(token) as fake:``."""

    def __init__(self, token: str, *, heartbeat_ms: int = 2000) -> None:
        super().__init__(token)
        self.requests: list[Request] = []
        self.before: list[BeforeHook] = []
        self.after: list[AfterHook] = []
        self._changed = asyncio.Condition()
        self.gateway = Gateway(self, heartbeat_ms=heartbeat_ms, resume_url=lambda: self.resume_url, changed=self._notify)
        self._rest = RestApi(self, dispatch=self.dispatch, gateway_url=lambda: self.gateway_url)
        self._runner: web.AppRunner | None = None
        self.port = 0

    # -- lifecycle -----------------------------------------------------------------
    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}{API_PREFIX}"

    @property
    def gateway_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}{GATEWAY_PATH}"

    @property
    def resume_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}{RESUME_PATH}"

    async def __aenter__(self) -> FakeDiscord:
        app = web.Application(middlewares=[self._record])
        app.add_routes(self.gateway.routes())
        app.add_routes(self._rest.routes())
        self._runner = web.AppRunner(app, handle_signals=False, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.gateway.close()
        if self._runner is not None:
            await self._runner.cleanup()

    # -- the gateway, as tests see it ------------------------------------------------------
    @property
    def gateway_received(self) -> list[dict[str, Any]]:
        """Frames the bot sent on the gateway."""
        return self.gateway.received

    @property
    def gateway_sent(self) -> list[dict[str, Any]]:
        return self.gateway.sent

    @property
    def gateway_connections(self) -> list[str]:
        """The path each gateway websocket connected to."""
        return self.gateway.connections

    @property
    def identified(self) -> asyncio.Event:
        return self.gateway.identified

    @property
    def ready_sent(self) -> asyncio.Event:
        return self.gateway.ready_sent

    @property
    def resumed(self) -> asyncio.Event:
        return self.gateway.resumed

    async def reconnect(self) -> None:
        """Ask the bot to reconnect (op 7), as Discord does now and then."""
        await self.gateway.reconnect()

    async def dispatch(self, event: str, data: dict[str, Any]) -> None:
        """Send a DISPATCH event to the connected bot."""
        await self.gateway.dispatch(event, data)

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
        if request.path.startswith(GATEWAY_PATH):
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
        message = self.add_message(channel_id, {"content": content}, author=payloads.user(user_id))
        message["member"] = payloads.member(user_id, with_user=False)
        if mention_bot:
            mentioned = payloads.bot_user(self)
            mentioned["member"] = payloads.member(self.bot_id, with_user=False)
            message["mentions"] = [mentioned]
        if not mention_bot and not self.intents & MESSAGE_CONTENT_INTENT:
            message["content"] = ""  # the privileged intent was not requested
        if reference_id is not None:
            message["type"] = 19
            message["message_reference"] = {"message_id": str(reference_id), "channel_id": str(channel_id), "guild_id": str(self.guild_id)}
            message["referenced_message"] = self.messages.get(reference_id)
        await self.dispatch("MESSAGE_CREATE", message)
        return message

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
        payload = payloads.interaction(self, kind, data, user_id=user_id, channel_id=channel_id, permissions=permissions)
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
        self.interactions_by_token[pending.token] = pending
        await self.dispatch("INTERACTION_CREATE", payload)
        return pending

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

    async def autocomplete(self, name: str, option: str, current: str, *, user_id: int) -> PendingInteraction:
        """A user types ``current`` into ``/name option:`` (type 4 interaction)."""
        opts = [{"name": option, "type": 3, "value": current, "focused": True}]
        return await self.interact(4, self.command_data(name, opts), user_id=user_id)

    async def click(self, message_id: int, custom_id: str, *, user_id: int) -> PendingInteraction:
        """A user clicks the button ``custom_id`` on a message the bot sent (type 3 interaction)."""
        message = self.messages[message_id]
        data = {"custom_id": custom_id, "component_type": 2}
        return await self.interact(3, data, user_id=user_id, channel_id=int(message["channel_id"]), message=message)
