"""Searching the cases for typed words: how a typed text becomes words, and whether a case
matches them. Pure functions, no I/O.

Every word must be found (AND), each in any of the case's texts in either language (title,
summary, organisation, body) or its place: the district's key or name, the neighbourhood's
name. Matching is done here in Python rather than with SQL LIKE/ILIKE, so SQLite and
PostgreSQL agree on case (SQLite folds only ASCII; PostgreSQL's folding depends on the
server's locale) and no user word is ever a pattern: `%`, `_` and quotes are plain letters."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from enum import Enum

from bot.domain import Campaign, Case

MAX_WORDS = 10  # a sentence-long phrase fits; a pasted page does not
MAX_CHARS = 100  # of the searched text, words joined by single spaces


@dataclass(frozen=True)
class SearchText:
    text: str  # what is searched (and shown): the first words of what was typed
    cut: bool  # the typed text was longer than that


def clean_search(typed: str | None) -> SearchText | None:
    """What a typed text searches for: its first words, at most MAX_WORDS of them and
    MAX_CHARS in all (a longer first word is cut to fit); None when no word is left."""
    if typed is None:
        return None
    words = "".join(ch for ch in typed if ch.isprintable() or ch.isspace()).split()
    kept: list[str] = []
    for word in words[:MAX_WORDS]:
        room = MAX_CHARS - len(" ".join(kept)) - (1 if kept else 0)
        if room <= 0:
            break
        kept.append(word[:room])
        if len(word) > room:
            break
    text = " ".join(kept)
    if not text:
        return None
    return SearchText(text, text != " ".join(words))


def fold(text: str) -> str:
    """Text as compared: Unicode-normalised (NFKC: full-width letters, composed Hangul) and
    case-folded."""
    return unicodedata.normalize("NFKC", text).casefold()


def words_of(search: str | None) -> tuple[str, ...]:
    """The folded words of a search text, each once."""
    if not search:
        return ()
    return tuple(dict.fromkeys(fold(search).split()))


_KO_NUMBERED_DONG = re.compile(r"(?<=\D)\d+(?=동$)")
_EN_NUMBERED_DONG = re.compile(r"\s*\d+(?=-dong$)")


def _place_names(name: str) -> list[str]:
    """A neighbourhood's folded name and, for a numbered one, its unnumbered form: citizens
    say 온천동 for 온천1동 and 온천2동 (Oncheon-dong for Oncheon 1-dong)."""
    folded = fold(name)
    short = _EN_NUMBERED_DONG.sub("", _KO_NUMBERED_DONG.sub("", folded))
    return [folded] if short == folded else [folded, short]


def place_texts(campaign: Campaign, case: Case) -> list[str]:
    """The folded names of where a case is: district key and names, neighbourhood names."""
    texts = [fold(case.district)]
    if case.neighbourhood:
        texts += _place_names(case.neighbourhood)
    district = campaign.district(case.district)
    if district is not None:
        texts += [fold(name) for name in (district.name.ko, district.name.en) if name]
        for hood in district.neighbourhoods:
            if hood.ko == case.neighbourhood and hood.en:
                texts += _place_names(hood.en)
    return texts


class Match(Enum):
    NONE = 0
    ELSEWHERE = 1  # every word found, none of them in a title
    TITLE = 2  # every word found, at least one in a title (listed first)


def match(campaign: Campaign, case: Case, words: tuple[str, ...]) -> Match:
    if not words:
        return Match.ELSEWHERE
    texts = [case.ko] + ([case.en] if case.en is not None else [])
    titles = [fold(t.title) for t in texts]
    others = [fold(value) for t in texts for value in (t.summary, t.organization, t.body)]
    others += place_texts(campaign, case)
    everything = titles + others
    if not all(any(word in text for text in everything) for word in words):
        return Match.NONE
    if any(word in title for word in words for title in titles):
        return Match.TITLE
    return Match.ELSEWHERE
