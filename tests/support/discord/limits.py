"""Discord's documented limits on what a bot sends, as the fake enforces them.

A payload over a limit gets 400 Invalid Form Body from the fake, as from the real
API, with these messages recorded on the request; tests also call
:func:`message_errors` directly on what the bot would send.
"""

from __future__ import annotations

from typing import Any


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
    """What Discord would reject in an autocomplete result: at most 25 choices,
    names and (string) values of 1-100 characters."""
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
