"""What the fake Discord knows: one guild's ids and everything the bot created in it.

The REST routes, the gateway and the driver all read and change this one object;
``FakeDiscord`` *is* a :class:`World`, so a test reads ``fake.channel_ids``,
``fake.messages`` or ``fake.commands`` directly.
"""

from __future__ import annotations

import itertools
import time
from typing import Any

from tests.support.discord import payloads
from tests.support.discord.protocol import DISCORD_EPOCH_MS, PendingInteraction


class World:
    """One guild with three text channels (the last denies the bot "create public
    threads"), a server the bot is not in, and the messages, threads, interactions
    and commands that came to exist."""

    def __init__(self, token: str) -> None:
        self.token = token
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
        self.messages: dict[int, dict[str, Any]] = {}
        self.threads: dict[int, dict[str, Any]] = {}
        self.interactions: dict[int, PendingInteraction] = {}
        self.interactions_by_token: dict[str, PendingInteraction] = {}
        self.commands: dict[str, list[dict[str, Any]]] = {}  # "global" or guild id -> registered commands
        #: The gateway intents the bot identified with.
        self.intents = 0

    def snowflake(self) -> int:
        ms = int(time.time() * 1000) - DISCORD_EPOCH_MS
        return (ms << 22) | (next(self._ids) & 0xFFF)

    def add_message(
        self,
        channel_id: int,
        body: dict[str, Any],
        *,
        author: dict[str, Any],
        webhook: bool = False,
        interaction: PendingInteraction | None = None,
    ) -> dict[str, Any]:
        """A new message in ``channel_id``, stored; returns its object."""
        message = payloads.message(self, channel_id, body, author=author, webhook=webhook, interaction=interaction)
        self.messages[int(message["id"])] = message
        return message

    def command_data(self, name: str, options: list[dict[str, Any]]) -> dict[str, Any]:
        """``data`` of an application command, with the id the bot registered it under."""
        registered = self.commands.get(str(self.guild_id)) or self.commands.get("global") or []
        found = next((c for c in registered if c["name"] == name), None)
        data: dict[str, Any] = {"id": found["id"] if found else str(self.snowflake()), "name": name, "type": 1, "options": options}
        if found and "guild_id" in found:
            data["guild_id"] = found["guild_id"]
        return data

    def resolved_channel(self, channel_id: int) -> dict[str, Any]:
        """A channel option as Discord resolves it: one of this guild's channels, a
        channel of ``other_guild_id``, or (any other id) a channel of this guild
        the bot has never been told about."""
        if channel_id in self.channel_ids:
            return payloads.text_channel(self, channel_id, self.channel_ids.index(channel_id))
        guild = self.other_guild_id if channel_id in self.other_guild_channels else self.guild_id
        return payloads.text_channel(self, channel_id, guild_id=guild)
