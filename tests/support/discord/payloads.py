"""Discord's JSON objects for the fake's one guild, as the real API shapes them.

Functions of the :class:`~tests.support.discord.world.World` they describe; they
build objects and store nothing (``World.add_message`` stores the messages).
"""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING, Any

from tests.support.discord.protocol import (
    BOT_PERMISSIONS,
    CREATE_PUBLIC_THREADS,
    EVERYONE_PERMISSIONS,
    PendingInteraction,
    now_iso,
)

if TYPE_CHECKING:
    from tests.support.discord.world import World


def bot_user(world: World) -> dict[str, Any]:
    """The bot's user object (READY, ``GET /users/@me``, author of what it posts)."""
    return {
        "id": str(world.bot_id),
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


def user(user_id: int, name: str | None = None) -> dict[str, Any]:
    """A user object of a member of the guild."""
    return {
        "id": str(user_id),
        "username": name or f"user{user_id % 100000}",
        "discriminator": "0",
        "global_name": name,
        "avatar": None,
        "public_flags": 0,
    }


def member(user_id: int, *, with_user: bool = True, permissions: int | None = None) -> dict[str, Any]:
    """A guild member object; ``permissions`` as an interaction carries them."""
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
        data["user"] = user(user_id)
    if permissions is not None:
        data["permissions"] = str(permissions)
    return data


def text_channel(world: World, channel_id: int, position: int = 0, guild_id: int | None = None) -> dict[str, Any]:
    """A text channel of the guild (or of ``guild_id``); the no-threads channel denies the bot's role thread creation."""
    overwrites = []
    if channel_id == world.no_threads_channel_id:
        overwrites = [{"id": str(world.bot_role_id), "type": 0, "allow": "0", "deny": str(CREATE_PUBLIC_THREADS)}]
    return {
        "id": str(channel_id),
        "type": 0,
        "guild_id": str(guild_id or world.guild_id),
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


def guild(world: World) -> dict[str, Any]:
    """GUILD_CREATE's guild: two roles (@everyone, the bot's), the bot as a member, the text channels."""
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
    bot_member = member(world.bot_id, with_user=False)
    bot_member["user"] = bot_user(world)
    bot_member["roles"] = [str(world.bot_role_id)]
    return {
        "id": str(world.guild_id),
        "name": "Paper Club",
        "icon": None,
        "splash": None,
        "discovery_splash": None,
        "banner": None,
        "description": None,
        "owner_id": str(world.owner_id),
        "afk_channel_id": None,
        "afk_timeout": 300,
        "verification_level": 0,
        "default_message_notifications": 0,
        "explicit_content_filter": 0,
        "roles": [
            {**role, "id": str(world.everyone_role_id), "name": "@everyone", "position": 0, "permissions": str(EVERYONE_PERMISSIONS)},
            {**role, "id": str(world.bot_role_id), "name": "paperbot", "position": 1, "managed": True, "permissions": str(BOT_PERMISSIONS), "tags": {"bot_id": str(world.bot_id)}},
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
        "channels": [text_channel(world, c, i) for i, c in enumerate(world.channel_ids)],
        "threads": [],
        "presences": [],
        "stage_instances": [],
        "guild_scheduled_events": [],
        "soundboard_sounds": [],
    }


def application(world: World) -> dict[str, Any]:
    """``GET /oauth2/applications/@me``."""
    return {
        "id": str(world.app_id),
        "name": "paperbot",
        "icon": None,
        "description": "",
        "rpc_origins": [],
        "bot_public": True,
        "bot_require_code_grant": False,
        "bot": bot_user(world),
        "owner": user(world.owner_id, "owner"),
        "team": None,
        "verify_key": "0" * 64,
        "flags": 0,
        "summary": "",
        "tags": [],
        "redirect_uris": [],
        "interactions_endpoint_url": None,
        "approximate_guild_count": 1,
    }


def message(
    world: World,
    channel_id: int,
    body: dict[str, Any],
    *,
    author: dict[str, Any],
    webhook: bool = False,
    interaction: PendingInteraction | None = None,
) -> dict[str, Any]:
    """A message object as Discord returns it; the caller stores it (``World.add_message``)."""
    message_id = world.snowflake()
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
    if channel_id in world.channel_ids or channel_id in world.threads:
        message["guild_id"] = str(world.guild_id)
    reference = body.get("message_reference")
    if reference:
        message["type"] = 19
        message["message_reference"] = reference
        message["referenced_message"] = world.messages.get(int(reference["message_id"]))
    if webhook:
        message["webhook_id"] = str(world.app_id)
        message["application_id"] = str(world.app_id)
    if interaction is not None:
        message["type"] = 20
        message["interaction_metadata"] = {
            "id": str(interaction.id),
            "type": interaction.type,
            "user": user(interaction.user_id),
            "authorizing_integration_owners": {"0": str(world.guild_id)},
        }
    return message


def interaction(
    world: World, kind: int, data: dict[str, Any], *, user_id: int, channel_id: int | None, permissions: int = EVERYONE_PERMISSIONS
) -> dict[str, Any]:
    """An INTERACTION_CREATE payload, with a fresh id and token."""
    channel_id = channel_id or world.channel_ids[0]
    channel = world.threads.get(channel_id) or text_channel(world, channel_id, world.channel_ids.index(channel_id) if channel_id in world.channel_ids else 0)
    return {
        "id": str(world.snowflake()),
        "application_id": str(world.app_id),
        "type": kind,
        "data": data,
        "guild": {"id": str(world.guild_id), "locale": "en-US", "features": []},
        "guild_id": str(world.guild_id),
        "channel": {**channel, "permissions": str(EVERYONE_PERMISSIONS)},
        "channel_id": str(channel_id),
        "member": member(user_id, permissions=permissions),
        "token": "itok-" + secrets.token_urlsafe(24),
        "version": 1,
        "app_permissions": str(BOT_PERMISSIONS),
        "locale": "en-US",
        "guild_locale": "en-US",
        "entitlements": [],
        "authorizing_integration_owners": {"0": str(world.guild_id)},
        "context": 0,
        "attachment_size_limit": 10 * 1024 * 1024,
    }


def thread(world: World, channel_id: int, message_id: int, name: str, auto_archive_duration: int) -> dict[str, Any]:
    """A public thread started from ``message_id``: Discord gives it that message's id."""
    return {
        "id": str(message_id),
        "guild_id": str(world.guild_id),
        "parent_id": str(channel_id),
        "owner_id": str(world.bot_id),
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
            "auto_archive_duration": auto_archive_duration,
            "archive_timestamp": now_iso(),
            "locked": False,
            "create_timestamp": now_iso(),
        },
        "member": {"id": str(message_id), "user_id": str(world.bot_id), "join_timestamp": now_iso(), "flags": 0},
    }


def command(world: World, scope: str, spec: dict[str, Any], command_id: str) -> dict[str, Any]:
    """An application command as Discord answers a bulk overwrite (``scope``: a guild id or "global")."""
    data = {
        "id": command_id,
        "application_id": str(world.app_id),
        "version": str(world.snowflake()),
        "type": spec.get("type", 1),
        "name": spec["name"],
        "description": spec.get("description", ""),
        "options": spec.get("options", []),
        "default_member_permissions": spec.get("default_member_permissions"),
        "dm_permission": spec.get("dm_permission", True),
        "nsfw": spec.get("nsfw", False),
    }
    if scope != "global":
        data["guild_id"] = scope
    return data


def ready(world: World, session_id: str, resume_url: str, identify: dict[str, Any]) -> dict[str, Any]:
    """READY for an IDENTIFY; the guild comes after it, in GUILD_CREATE."""
    data: dict[str, Any] = {
        "v": 10,
        "user": bot_user(world),
        "user_settings": {},
        "guilds": [{"id": str(world.guild_id), "unavailable": True}],
        "private_channels": [],
        "relationships": [],
        "presences": [],
        "session_id": session_id,
        "session_type": "normal",
        "resume_gateway_url": resume_url,
        "application": {"id": str(world.app_id), "flags": 0},
        "geo_ordered_rtc_regions": [],
    }
    if "shard" in identify:
        data["shard"] = identify["shard"]
    return data
