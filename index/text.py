"""The one way text is cut to a length, for the index's metadata and both front ends."""

from __future__ import annotations


def truncate(text: str, limit: int, *, at_sentence: bool = False) -> str:
    """``text``, stripped, in at most ``limit`` characters.

    Too long, it is cut at the limit and ends with "…".  ``at_sentence`` prefers
    the end of the last whole sentence when that keeps more than half the limit,
    else the last whole word (a summary reads better whole than cut mid-word).
    """
    text = text.strip()
    if len(text) <= limit:
        return text
    head = text[: limit - 1]
    if not at_sentence:
        return head.rstrip() + "…"
    cut = max(head.rfind(". "), head.rfind("! "), head.rfind("? "))
    if cut > limit // 2:
        return head[: cut + 1]
    return head.rsplit(" ", 1)[0] + "…"
