"""Unusual activity (bot/services/signals.py) told as staff read it, in any channel: one line
per signal from the catalog, in the campaign's time."""

from __future__ import annotations

from collections.abc import Callable
from zoneinfo import ZoneInfo

from bot.i18n import format_when, plain
from bot.services.signals import Signal


def signal_line(signal: Signal, zone: str, lang: str,
                text: Callable[..., str] = plain) -> str:
    """`text`: the catalog as the channel shows it (plain, or the chat's HTML `t`)."""
    return text(lang, f"signals.{signal.kind.value}", case=signal.case.text(lang).title,
                start=format_when(signal.start, zone, lang),
                end=signal.end.astimezone(ZoneInfo(zone)).strftime("%H:%M"),
                votes=signal.votes, window_votes=signal.window_votes,
                share=round(100 * signal.votes / signal.window_votes))
