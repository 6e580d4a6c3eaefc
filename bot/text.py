"""Cutting long texts into parts that fit a message, at paragraph, sentence or word breaks;
and Telegram-style HTML made plain, for channels that show no markup."""

from __future__ import annotations

import html
import re

BREAKS = ("\n\n", "\n", ". ", "다. ", "? ", "! ", " ")


def split_text(text: str, limit: int) -> list[str]:
    """Parts of at most `limit` characters, cut at the best break near the end of each part."""
    if limit <= 0:
        raise ValueError("limit must be positive")
    parts: list[str] = []
    rest = text.strip()
    while len(rest) > limit:
        window = rest[:limit]
        cut = -1
        for mark in BREAKS:
            at = window.rfind(mark)
            if at >= limit // 2:
                cut = at + len(mark)
                break
        if cut <= 0:
            cut = limit
        parts.append(rest[:cut].strip())
        rest = rest[cut:].strip()
    if rest or not parts:
        parts.append(rest)
    return parts


def shorten(text: str, limit: int) -> str:
    """One line of at most `limit` characters, with an ellipsis when cut."""
    return clip(" ".join(text.split()), limit)


def clip(text: str, limit: int) -> str:
    """At most `limit` characters, line breaks kept, with an ellipsis when cut."""
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


_TAGS = re.compile(r"</?(b|i|code|u|s|a)( [^>]*)?>")


def plain_text(telegram_html: str) -> str:
    """The catalogs' HTML without its tags, entities decoded: what `t()` filled in comes back
    exactly as given (it escaped every <, > and &). Only for HTML: campaign text and what
    people typed are plain already, and would lose their "<b>" or "&amp;" here."""
    return html.unescape(_TAGS.sub("", telegram_html))
