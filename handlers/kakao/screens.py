"""The pieces every Kakao screen is made of: the turn being answered, texts cut to a
component's limit, and quick replies and buttons that call our block back with an `extra`.
The flows (skill.py, submission.py, ...) build their screens from these."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from bot.domain import Campaign, Case, Citizen
from bot.i18n import plain
from bot.text import clip, plain_text, split_text
from handlers.kakao.extra import Extra
from handlers.kakao.media import public
from handlers.kakao.models import (
    MAX_QUICK_REPLIES,
    SIMPLE_TEXT_LENGTH,
    Button,
    Output,
    QuickReply,
    SimpleText,
    SkillResponse,
    Template,
    output,
)

BODY_PART_LENGTH = 900  # one simpleText, with room for "(1/3)"


def fit(text: str, limit: int = SIMPLE_TEXT_LENGTH) -> str:
    """Plain text (campaign text as written, say) cut to a component's limit, its line
    breaks kept: Kakao shows "\n" in texts and card descriptions as a new line."""
    return clip(text.strip(), limit)


def fit_catalog(catalog_html: str, limit: int = SIMPLE_TEXT_LENGTH) -> str:
    """A catalog text (HTML, built by `t()` or bot.phrases) as plain text, cut to a limit:
    our tags dropped, the values filled in back exactly as given."""
    return fit(plain_text(catalog_html), limit)


@dataclass(frozen=True)
class Turn:
    citizen: Citizen
    campaign: Campaign | None
    now: datetime
    # The chat session's state (bot/services/sessions.py), kept in the database between
    # requests: what the citizen's next typed message answers. Flows change it in place.
    state: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def lang(self) -> str:
        return self.citizen.language


def response(outputs: list[Output], replies: list[QuickReply]) -> SkillResponse:
    return SkillResponse(template=Template(outputs=outputs,
                                           quick_replies=replies[:MAX_QUICK_REPLIES]))


def web_button(lang: str, public_url: str, path: str) -> Button:
    """A button to one of our public web pages (handlers/web/public.py), in the citizen's
    language."""
    url = public(public_url, path) + ("?lang=en" if lang == "en" else "")
    return Button(label=plain(lang, "web.public.kakao.web_button"), action="webLink",
                  web_link_url=url)


def picture(url: str | None) -> bool:
    """A picture Kakao can show: an https URL with a host (local files are for Telegram)."""
    return url is not None and url.startswith("https://") and bool(urlsplit(url).netloc)


def case_picture(case: Case) -> bool:
    return picture(case.image)


def case_about(lang: str, campaign: Campaign, case: Case) -> str:
    """Under a case's title: who, where, which field, and the summary."""
    text = case.text(lang)
    district = campaign.district(case.district)
    category = campaign.category(case.category)
    where = " ".join(x for x in (district.name.get(lang) if district else case.district,
                                 campaign.neighbourhood_name(case, lang)) if x)
    topic = category.name.get(lang) if category else case.category
    # A part the case does not have (no neighbourhood, no category) leaves no stray mark.
    place = " · ".join(x for x in (f"📍 {where}" if where else "",
                                   f"🏷 {topic}" if topic else "") if x)
    lines = [f"🏢 {text.organization}" if text.organization else "", place]
    head = "\n".join(line for line in lines if line)
    return f"{head}\n\n{text.summary}" if head else text.summary


def body_parts(lang: str, case: Case) -> list[str]:
    """A case's description in the parts citizens read it in, one simpleText each."""
    return split_text(case.text(lang).body, BODY_PART_LENGTH)


def body_part(parts: list[str], part: int) -> str:
    return parts[part] if len(parts) == 1 else f"({part + 1}/{len(parts)})\n{parts[part]}"


class Controls:
    """Quick replies and buttons that call the block our skill answers (`block_id`) with an
    `extra` saying what was pressed."""

    def __init__(self, block_id: str) -> None:
        self.block_id = block_id

    def reply(self, turn: Turn, key: str, extra: Extra) -> QuickReply:
        return self.reply_label(plain(turn.lang, key), extra)

    def reply_label(self, label: str, extra: Extra) -> QuickReply:
        return QuickReply(label=label, action="block", block_id=self.block_id,
                          message_text=label, extra=extra.to_dict())

    def button(self, turn: Turn, key: str, extra: Extra) -> Button:
        return self.button_label(plain(turn.lang, key), extra)

    def button_label(self, label: str, extra: Extra) -> Button:
        return Button(label=label, action="block", block_id=self.block_id, message_text=label,
                      extra=extra.to_dict())

    @staticmethod
    def say(catalog_html: str, replies: list[QuickReply]) -> SkillResponse:
        """One catalog text, with quick replies under it."""
        return response([output(SimpleText(text=fit_catalog(catalog_html)))], replies)
