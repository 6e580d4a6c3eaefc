"""The published results on KakaoTalk: the chart as a picture served by our own server (when
CHAMYEO_PUBLIC_URL says where it is reachable), then the ranking with the awards as text, the
same lines as on Telegram (bot.phrases.results_lines). Before publishing, "not yet"."""

from __future__ import annotations

from bot.i18n import plain, t
from bot.phrases import results_lines
from bot.services import Services
from bot.text import plain_text
from handlers.kakao.media import chart_path, public
from handlers.kakao.models import (
    ALT_TEXT_LENGTH,
    MAX_OUTPUTS,
    SIMPLE_TEXT_LENGTH,
    QuickReply,
    SimpleImage,
    SimpleText,
    SkillResponse,
    TextCard,
    output,
)
from handlers.kakao.screens import Controls, Turn, fit, response, web_button

MORE = "…"  # said at the end when the ranking does not fit in the texts


async def results_answer(services: Services, turn: Turn, public_url: str | None,
                         replies: list[QuickReply]) -> SkillResponse:
    lang, campaign = turn.lang, turn.campaign
    if campaign is None or campaign.results_published_at is None:
        return Controls.say(t(lang, "results.citizen.not_yet"), replies)
    ranked = await services.results.ranking(campaign)
    outputs = []
    path = chart_path(campaign, lang)
    if public_url is not None and ranked and path is not None:
        caption = plain(lang, "results.citizen.caption", title=campaign.title.get(lang))
        outputs.append(output(SimpleImage(image_url=public(public_url, path),
                                          alt_text=fit(caption, ALT_TEXT_LENGTH))))
    # With a public address, the last output is a card with a button to the results page,
    # which has the whole ranking: the texts before it give the top of it.
    link = None
    if public_url is not None:
        link = output(TextCard(description=plain(lang, "web.public.kakao.results_link"),
                               buttons=[web_button(lang, public_url,
                                                   f"/c/{campaign.slug}/results")]))
    lines = [plain_text(line) for line in results_lines(lang, campaign, ranked)]
    room = MAX_OUTPUTS - len(outputs) - (link is not None)
    for part in pack(lines, SIMPLE_TEXT_LENGTH, room):
        outputs.append(output(SimpleText(text=part)))
    if link is not None:
        outputs.append(link)
    return response(outputs, replies)


def pack(lines: list[str], limit: int, parts: int) -> list[str]:
    """Whole lines into at most `parts` texts of at most `limit` characters each, in order;
    what does not fit is left out from the end (the top of a ranking is what counts), and a
    last line "…" says so."""
    packed: list[str] = []
    current: list[str] = []
    for line in lines:
        line = fit(line, limit)
        if current and len("\n".join([*current, line])) > limit:
            packed.append("\n".join(current))
            current = []
            if len(packed) == parts:
                return _cut(packed, limit)
        current.append(line)
    if current:
        packed.append("\n".join(current))
    return packed


def _cut(packed: list[str], limit: int) -> list[str]:
    last = packed[-1].split("\n")
    while len(last) > 1 and len("\n".join([*last, MORE])) > limit:
        last.pop()
    packed[-1] = "\n".join([*last, MORE]) if len("\n".join([*last, MORE])) <= limit \
        else packed[-1]
    return packed
