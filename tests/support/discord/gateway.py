"""The fake's gateway: the websocket half of Discord's API (text JSON frames).

HELLO, then IDENTIFY → READY (``resume_gateway_url`` is this server again, at a
path of its own) → GUILD_CREATE; heartbeats are ACKed; RESUME with the right
session is answered with RESUMED, a wrong one with INVALID_SESSION.  Frames the
bot sent are kept in ``received``, frames sent to it in ``sent``.
"""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import WSMsgType, web

from tests.support.discord import payloads
from tests.support.discord.world import World

GATEWAY_PATH = "/gateway"
RESUME_PATH = "/gateway-resume"


class Gateway:
    """Serves the websocket at :data:`GATEWAY_PATH` and :data:`RESUME_PATH`;
    ``changed`` runs after every frame the bot sent, so waiters can look again."""

    def __init__(self, world: World, *, heartbeat_ms: int, resume_url: Callable[[], str], changed: Callable[[], Awaitable[None]]) -> None:
        self.world = world
        self.heartbeat_ms = heartbeat_ms
        self._resume_url = resume_url
        self._changed = changed
        self.received: list[dict[str, Any]] = []
        self.sent: list[dict[str, Any]] = []
        self.connections: list[str] = []  # the path each websocket connected to
        self.identified = asyncio.Event()
        self.ready_sent = asyncio.Event()
        self.resumed = asyncio.Event()
        self._ws: web.WebSocketResponse | None = None
        self._sockets: set[web.WebSocketResponse] = set()
        self._lock = asyncio.Lock()
        self._seq = 0
        self._session_id = secrets.token_hex(16)

    def routes(self) -> list[web.RouteDef]:
        return [web.get(GATEWAY_PATH, self._serve), web.get(RESUME_PATH, self._serve)]

    async def close(self) -> None:
        for ws in list(self._sockets):
            await ws.close(code=1001)

    async def _serve(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(autoping=True, max_msg_size=0)
        await ws.prepare(request)
        self._sockets.add(ws)
        self.connections.append(request.path)
        try:
            await self._send(ws, {"op": 10, "d": {"heartbeat_interval": self.heartbeat_ms}, "s": None, "t": None})
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    continue
                frame = json.loads(msg.data)
                self.received.append(frame)
                op, data = frame.get("op"), frame.get("d")
                if op == 1:
                    await self._send(ws, {"op": 11, "d": None, "s": None, "t": None})
                elif op == 2:
                    if data.get("token") != self.world.token:
                        await ws.close(code=4004, message=b"Authentication failed.")
                        break
                    self._ws = ws
                    self.world.intents = int(data.get("intents") or 0)
                    self.identified.set()
                    await self._ready(ws, data)
                elif op == 6:
                    if data.get("token") != self.world.token or data.get("session_id") != self._session_id:
                        await self._send(ws, {"op": 9, "d": False, "s": None, "t": None})
                        continue
                    self._ws = ws
                    await self._dispatch_on(ws, "RESUMED", {})
                    self.resumed.set()
                await self._changed()
        finally:
            self._sockets.discard(ws)
            if self._ws is ws:
                self._ws = None
        return ws

    async def _ready(self, ws: web.WebSocketResponse, identify: dict[str, Any]) -> None:
        self._seq = 0
        await self._dispatch_on(ws, "READY", payloads.ready(self.world, self._session_id, self._resume_url(), identify))
        await self._dispatch_on(ws, "GUILD_CREATE", payloads.guild(self.world))
        self.ready_sent.set()

    async def _send(self, ws: web.WebSocketResponse, frame: dict[str, Any]) -> None:
        async with self._lock:
            self.sent.append(frame)
            await ws.send_str(json.dumps(frame))

    async def _dispatch_on(self, ws: web.WebSocketResponse, event: str, data: dict[str, Any]) -> None:
        async with self._lock:
            self._seq += 1
            frame = {"op": 0, "s": self._seq, "t": event, "d": data}
            self.sent.append(frame)
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
