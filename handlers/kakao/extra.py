"""The `extra` our Kakao buttons and quick replies carry, which comes back as
`action.clientExtra`: built and parsed here only, and never trusted. Campaign-bound actions
carry the campaign id, so a button from another campaign is recognised as stale; a vote's
confirmation carries the votes it was made for (`v`), so it is recognised as stale once the
citizen's votes change (one without `v`, made before, is taken as stale too)."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from bot.search import MAX_CHARS

_MAX_ID = 10**9


class Act(StrEnum):
    MENU = "m"
    LIST = "l"
    PICK_DISTRICT = "fd"
    PICK_CATEGORY = "fc"
    CASE = "c"
    ASK_VOTE = "v"
    CONFIRM_VOTE = "y"
    MY_VOTE = "mv"
    SCHEDULE = "sc"
    HELP = "h"
    NOTIFY = "nt"
    LANGUAGE = "lg"
    SUBMIT = "sb"  # begin a case, or go back to the draft under way
    DRAFT = "dr"  # a button of a draft's step: `s` the step, `o` the choice
    MY_CASES = "mc"
    RESULTS = "rs"
    FORGET = "fg"  # "forget me": `on` true deletes, false keeps
    RECEIPT = "rc"  # check a receipt (after voting closes)
    MY_CASE = "mo"  # open one of one's own cases (`c`)
    WITHDRAW = "wd"  # withdraw one's own pending case `c`: `on` false asks, true does it


CAMPAIGN_BOUND = {Act.LIST, Act.PICK_DISTRICT, Act.PICK_CATEGORY, Act.CASE, Act.ASK_VOTE,
                  Act.CONFIRM_VOTE, Act.NOTIFY, Act.SUBMIT, Act.DRAFT, Act.RESULTS, Act.RECEIPT,
                  Act.MY_CASE, Act.WITHDRAW}


class Extra(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    a: Act
    k: int | None = Field(None, ge=1, lt=_MAX_ID)  # campaign id
    c: int | None = Field(None, ge=1, lt=_MAX_ID)  # case id
    # page of a list or of a picker, part of a case; a draft's page of choices, or part of
    # its preview (with `o` = "page")
    p: int = Field(0, ge=0, lt=10_000)
    d: int | None = Field(None, ge=0, lt=1000)  # district, as an index into the campaign's
    g: int | None = Field(None, ge=0, lt=1000)  # category, likewise
    # the search, whole: an extra has no 64-byte limit, and bot.search bounds it
    q: str | None = Field(None, min_length=1, max_length=MAX_CHARS)
    # on a case: the list page it was opened from, so "back to the list" returns there (with
    # `d`, `g`, `q`)
    lp: int = Field(0, ge=0, lt=10_000)
    on: bool | None = None
    lang: str | None = Field(None, pattern="^(ko|en)$")
    v: str | None = Field(None, pattern="^(0|[0-9a-f]{8})$")  # bot.domain.votes_token
    s: str | None = Field(None, pattern="^[a-z]{1,12}$")  # a draft's step (bot.drafts.Step)
    # a choice's index, or a word (bot.drafts: back, keep, skip, send, edit, e-<step>,
    # cancel, discard-<draft token>, here; handlers/kakao/submission.py: page)
    o: str | None = Field(None, pattern="^[a-z0-9-]{1,16}$")

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_none=True, exclude_defaults=True) | {
            "a": self.a.value}


def parse_extra(raw: dict[str, Any]) -> Extra | None:
    """The action a button stands for, or None for anything malformed or incomplete."""
    try:
        extra = Extra.model_validate(raw)
    except ValidationError:
        return None
    if extra.a in CAMPAIGN_BOUND and extra.k is None:
        return None
    if extra.a in (Act.CASE, Act.ASK_VOTE, Act.CONFIRM_VOTE, Act.MY_CASE, Act.WITHDRAW) \
            and extra.c is None:
        return None
    if extra.a in (Act.NOTIFY, Act.FORGET, Act.WITHDRAW) and extra.on is None:
        return None
    if extra.a is Act.LANGUAGE and extra.lang is None:
        return None
    if extra.a is Act.DRAFT and (extra.s is None or extra.o is None):
        return None
    return extra
