"""Reading what the bot sent to the fake Discord: embeds, buttons, links, and
waiting for an interaction's callback, its follow-ups or a thread's answer."""

from __future__ import annotations

import re
from typing import Any

from tests.support.discord import FakeDiscord, PendingInteraction, Request


def embeds(req: Request) -> list[dict[str, Any]]:
    return req.message_payload().get("embeds") or []


def buttons(req: Request) -> list[dict[str, Any]]:
    return [c for row in req.message_payload().get("components") or [] for c in row.get("components", [])]


def answer_finished(r: Request) -> bool:
    """An /ask answer's last part (with the feedback buttons) or a private refusal."""
    return r.is_followup() and (any("paperbot:fb:" in b.get("custom_id", "") for b in buttons(r)) or r.ephemeral is True)


def links(embed: dict[str, Any]) -> list[str]:
    return re.findall(r"\]\((https?://[^)\s]+)\)", embed.get("description") or "")


def replied_to(req: Request) -> str | None:
    """The id of the message this post replies to, if any."""
    reference = (req.json or {}).get("message_reference") if isinstance(req.json, dict) else None
    return str(reference["message_id"]) if reference else None


def assert_inert(req: Request) -> None:
    """No ping can come out of this message: allowed_mentions parses nothing, text is escaped."""
    payload = req.message_payload()
    allowed = payload.get("allowed_mentions")
    assert allowed is not None, f"{req.method} {req.path} sent no allowed_mentions: {payload}"
    assert allowed.get("parse") == [], allowed
    assert not allowed.get("users") and not allowed.get("roles") and not allowed.get("replied_user"), allowed
    texts = [payload.get("content") or ""]
    for e in payload.get("embeds") or []:
        texts += [e.get("title") or "", e.get("description") or "", (e.get("footer") or {}).get("text") or ""]
        texts += [f.get("name", "") + f.get("value", "") for f in e.get("fields") or []]
    for text in texts:
        assert not re.search(r"@(everyone|here)|<@[!&]?\d+>", text), text


async def followups(fake: FakeDiscord, pending: PendingInteraction, count: int = 1, timeout: float = 30) -> list[Request]:
    return await fake.wait_for(lambda r: r.is_followup() and pending.token in r.parts, timeout=timeout, count=count)


async def callback(fake: FakeDiscord, pending: PendingInteraction, timeout: float = 10) -> Request:
    (req,) = await fake.wait_for(lambda r: r.is_callback() and r.parts[1] == str(pending.id), timeout=timeout)
    return req


async def answered(fake: FakeDiscord, pending: PendingInteraction, timeout: float = 30) -> list[Request]:
    """Follow-ups of an answer, up to the one that carries the feedback buttons (the last part)."""
    await fake.wait_for(
        lambda r: r.is_followup() and pending.token in r.parts and any("paperbot:fb:" in b.get("custom_id", "") for b in buttons(r)),
        timeout=timeout,
    )
    return [r for r in fake.for_interaction(pending) if r.is_followup()]


async def thread_answer(fake: FakeDiscord, thread_id: int, after: int = 0, timeout: float = 30) -> list[Request]:
    """Messages posted in a thread, up to the one carrying the feedback buttons."""
    def done(r: Request) -> bool:
        return r.parts == ["channels", str(thread_id), "messages"] and bool(buttons(r))

    await fake.wait_for(done, timeout=timeout, count=after + 1)
    return fake.sent_to(thread_id)
