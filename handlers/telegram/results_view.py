"""The citizens' results: once staff have published them, the ranking with the awards and the
chart. Before that nothing is shown (the button is not in the menu, and a stale or forged one
gets "not yet")."""

from __future__ import annotations

import asyncio

from telegram import Update
from telegram.ext import ContextTypes

from bot.i18n import plain, t
from bot.phrases import results_lines
from bot.text import shorten
from handlers.telegram.common import Screen, Turn, show
from handlers.telegram.views import home_button

CAPTION_LIMIT = 1024
PUBLISHED_CHARTS = "published_charts"  # bot_data: (campaign, language, published at) -> file id
MESSAGE_LIMIT = 4096


def results_screen(lang: str, campaign, ranked) -> Screen:
    lines = results_lines(lang, campaign, ranked)
    text = "\n".join(lines)
    while len(text) > MESSAGE_LIMIT:  # very many cases: the top of the list is what counts
        lines.pop()
        text = "\n".join(lines)
    return Screen(text, [[home_button(lang)]])


async def show_results(
    update: Update, context: ContextTypes.DEFAULT_TYPE, turn: Turn
) -> None:
    lang, campaign = turn.language, turn.campaign
    if campaign is None or campaign.results_published_at is None:
        await show(update, Screen(t(lang, "results.citizen.not_yet"), [[home_button(lang)]]))
        return
    ranked = await turn.services.results.ranking(campaign)
    if ranked:
        caption = shorten(plain(lang, "results.citizen.caption", title=campaign.title.get(lang)),
                          CAPTION_LIMIT)
        # Published results no longer change: the chart is drawn and uploaded once per
        # language, then sent by its file id. The announcement brings everyone at once.
        charts = context.bot_data.setdefault(PUBLISHED_CHARTS, {})
        key = (campaign.id, lang, campaign.results_published_at)
        if key in charts:
            await update.effective_chat.send_photo(charts[key], caption=caption)
        else:
            from bot.chart import render_results_chart  # matplotlib loads at the first chart

            png = await asyncio.to_thread(render_results_chart, ranked, lang, campaign)
            sent = await update.effective_chat.send_photo(png, caption=caption)
            if sent.photo:
                charts[key] = sent.photo[-1].file_id
    # Below the chart, as a new message, so the two read in order.
    await show(update, results_screen(lang, campaign, ranked), new_message=bool(ranked))
