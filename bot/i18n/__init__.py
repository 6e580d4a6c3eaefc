"""Message catalogs: every text a citizen reads, in Korean (default) and English, with the same
keys and placeholders (a test checks). Texts are Telegram-style HTML; `t()` escapes the values
it fills in unless they are marked `Safe`.

A Korean particle after a value is written as the placeholder's format: `{title:을}` is the
title followed by 을 or 를, whichever its last syllable takes (`bot.i18n.korean`); `{title:~을}`
is the particle alone, for a value already closed by quotes: `「{title}」{title:~을}`. Every
form is accepted (`{x:를}` is `{x:을}`): 을/를, 이/가, 은/는, 과/와, 으로/로.

An English count takes its noun the same way: `{votes:vote|votes}` is "1 vote", "2 votes"."""

from __future__ import annotations

import html
import re
import string
import tomllib
from datetime import datetime
from functools import cache
from pathlib import Path
from zoneinfo import ZoneInfo

from bot.domain import LANGUAGES
from bot.i18n.korean import PARTICLES, particle

CATALOG_DIR = Path(__file__).parent


class Safe(str):
    """Text that is already HTML (e.g. a rendered fragment): filled in as it is."""


def _flatten(table: dict, prefix: str = "") -> dict[str, str]:
    flat: dict[str, str] = {}
    for key, value in table.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat


@cache
def catalog(language: str) -> dict[str, str]:
    """`ko.toml` plus every `ko.<part>.toml` (one part per staff function, say)."""
    merged: dict[str, str] = {}
    for path in [CATALOG_DIR / f"{language}.toml",
                 *sorted(CATALOG_DIR.glob(f"{language}.*.toml"))]:
        with open(path, "rb") as f:
            part = _flatten(tomllib.load(f))
        clash = set(part) & set(merged)
        if clash:
            raise ValueError(f"{path.name}: keys defined twice: {sorted(clash)[:3]}")
        merged.update(part)
    return merged


_TAG = re.compile(r"<[^>]*>")


class _Filler(string.Formatter):
    """Fills a template in: particles after values, and HTML escaping when `escape` is set."""

    def __init__(self, escape: bool) -> None:
        self.escape = escape

    def format_field(self, value: object, format_spec: str) -> str:
        if "|" in format_spec:
            one, many = format_spec.split("|", 1)
            return f"{self._text(value)} {one if str(value) == '1' else many}"
        spelling = format_spec.removeprefix("~")
        if spelling in PARTICLES:
            text = self._text(value)
            spoken = html.unescape(_TAG.sub("", text)) if isinstance(value, Safe) else str(value)
            ending = particle(spoken, spelling)
            return ending if format_spec.startswith("~") else text + ending
        return self._text(format(value, format_spec) if format_spec else value,
                          safe=isinstance(value, Safe))

    def _text(self, value: object, safe: bool = False) -> str:
        if not self.escape or safe or isinstance(value, Safe):
            return str(value)
        return html.escape(str(value), quote=False)


_HTML, _PLAIN = _Filler(escape=True), _Filler(escape=False)


def t(language: str, key: str, **params: object) -> str:
    """The text for `key` in `language` (Korean when missing), with `params` filled in."""
    if language not in LANGUAGES:
        language = "ko"
    template = catalog(language).get(key) or catalog("ko")[key]
    if not params:
        return template
    return _HTML.format(template, **params)


def plain(language: str, key: str, **params: object) -> str:
    """For places that take no HTML (button labels, alerts): values filled in unescaped."""
    if language not in LANGUAGES:
        language = "ko"
    template = catalog(language).get(key) or catalog("ko")[key]
    return _PLAIN.format(template, **params) if params else template


_KO_WEEKDAYS = "월화수목금토일"
_EN_WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_EN_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def format_when(instant: datetime, timezone: str, language: str, seconds: bool = False) -> str:
    """A date and time as people read it where the campaign runs: 11월 28일(목) 09:00."""
    local = instant.astimezone(ZoneInfo(timezone))
    clock = local.strftime("%H:%M:%S" if seconds else "%H:%M")
    if language == "en":
        return f"{_EN_WEEKDAYS[local.weekday()]} {local.day} {_EN_MONTHS[local.month - 1]} {clock}"
    return f"{local.month}월 {local.day}일({_KO_WEEKDAYS[local.weekday()]}) {clock}"
