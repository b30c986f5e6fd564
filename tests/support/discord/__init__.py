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
timeout instead of sleeping; ``before`` / ``after`` hooks act at an exact point
of the protocol (see :mod:`.driver`).

One module per concern: :mod:`.protocol` (constants, the recorded
:class:`Request`), :mod:`.world` (the guild's ids and what exists in it),
:mod:`.payloads` (Discord's JSON objects), :mod:`.limits` (what Discord rejects),
:mod:`.routes` (the REST route table), :mod:`.gateway` (the websocket) and
:mod:`.driver` (``FakeDiscord``: serving, recording, waiting, what users do).
Tests import from this package only.
"""

from __future__ import annotations

from tests.support.discord.driver import FakeDiscord
from tests.support.discord.limits import choice_errors, embed_url_errors, message_errors
from tests.support.discord.protocol import (
    AUTOCOMPLETE_RESULT,
    BOT_PERMISSIONS,
    CHANNEL_MESSAGE,
    CREATE_PUBLIC_THREADS,
    DEFERRED_CHANNEL_MESSAGE,
    DEFERRED_UPDATE,
    EPHEMERAL,
    EVERYONE_PERMISSIONS,
    FORBIDDEN,
    INTERACTION_DEADLINE,
    LOADING,
    MANAGE_GUILD,
    MESSAGE_CONTENT_INTENT,
    PONG,
    UNKNOWN_CHANNEL,
    UPDATE_MESSAGE,
    AfterHook,
    BeforeHook,
    PendingInteraction,
    Predicate,
    Request,
    error_response,
)

__all__ = [
    "AUTOCOMPLETE_RESULT",
    "BOT_PERMISSIONS",
    "CHANNEL_MESSAGE",
    "CREATE_PUBLIC_THREADS",
    "DEFERRED_CHANNEL_MESSAGE",
    "DEFERRED_UPDATE",
    "EPHEMERAL",
    "EVERYONE_PERMISSIONS",
    "FORBIDDEN",
    "INTERACTION_DEADLINE",
    "LOADING",
    "MANAGE_GUILD",
    "MESSAGE_CONTENT_INTENT",
    "PONG",
    "UNKNOWN_CHANNEL",
    "UPDATE_MESSAGE",
    "AfterHook",
    "BeforeHook",
    "FakeDiscord",
    "PendingInteraction",
    "Predicate",
    "Request",
    "choice_errors",
    "embed_url_errors",
    "error_response",
    "message_errors",
]
