"""The citizen's phone number in a request from the phone block (CHAMYEO_KAKAO_PHONE_BLOCK_ID):
the one place that knows how Kakao's phone number plugin hands it to a skill.

The shape could not be confirmed against a real channel. What is accepted, from the block's
action parameters (`action.params`, and the resolved `action.detailParams[...].value`):
  - the plugin's value as a JSON object, or a JSON string of one, with `phone_number` written
    as Kakao writes numbers elsewhere ("+82 10-1234-5678");
  - a bare number as text.
Anything else (a number as a JSON number, garbage, no parameter, two different numbers) is no
number. Nothing here logs: the number never reaches a log line."""

from __future__ import annotations

import json
from typing import Any

from bot.services.identity import normalize_phone
from handlers.kakao.models import SkillRequest

PHONE_FIELD = "phone_number"
_MAX_TEXT = 2000  # a plugin's value is short: more is not one


def phone_from_request(request: SkillRequest) -> str | None:
    """The number in E.164, or None when the request carries none (or more than one)."""
    found = set()
    for value in _candidates(request):
        number = _number_in(value)
        if number is not None:
            found.add(number)
    return found.pop() if len(found) == 1 else None


def _candidates(request: SkillRequest) -> list[Any]:
    action = request.action
    values = list(action.params.values())
    values += [detail.get("value") for detail in action.detail_params.values()
               if isinstance(detail, dict)]
    return values


def _number_in(value: Any) -> str | None:
    if isinstance(value, str):
        text = value.strip()
        if not text or len(text) > _MAX_TEXT:
            return None
        if not text.startswith("{"):
            return normalize_phone(text)
        try:
            value = json.loads(text)
        except ValueError:
            return None
    if isinstance(value, dict):
        number = value.get(PHONE_FIELD)
        return normalize_phone(number) if isinstance(number, str) else None
    return None
