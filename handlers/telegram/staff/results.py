"""/results and /publish: admins preview the ranking (text and chart) and publish it once,
after a confirmation. The chart is drawn in a worker thread: matplotlib is slow and blocking."""

from __future__ import annotations

import asyncio
from datetime import datetime

from telegram import InlineKeyboardButton, Update
from telegram.constants import ParseMode
from telegram.ext import Application, CallbackQueryHandler, CommandHandler, ContextTypes

from bot.domain import Campaign, PhaseName, Role
from bot.i18n import Safe, plain, t
from bot.phrases import readiness_lines, results_preview_lines, when
from bot.services.results import PublishOutcome, RankedResult
from bot.services.staff import actor
from bot.text import shorten
from handlers.telegram.common import CHANNEL, PRIVATE, Screen, begin_turn, show
from handlers.telegram.staff.access import StaffButton, campaign_turn, staff_only, staff_pattern

AREA = "r"
CAPTION_LIMIT = 1024
MESSAGE_LIMIT = 4096


def chunks(lines: list[str], limit: int = MESSAGE_LIMIT) -> list[str]:
    """Whole lines into messages under Telegram's limit."""
    messages: list[str] = []
    for line in lines:
        if messages and len(messages[-1]) + 1 + len(line) <= limit:
            messages[-1] += "\n" + line
        else:
            messages.append(line[:limit])
    return messages


async def send_chart(update: Update, lang: str, campaign: Campaign, ranked: list[RankedResult],
                     caption: str) -> None:
    if not ranked:
        return
    from bot.chart import render_results_chart  # matplotlib loads at the first chart

    png = await asyncio.to_thread(render_results_chart, ranked, lang, campaign)
    await update.effective_chat.send_photo(png, caption=shorten(caption, CAPTION_LIMIT))


@staff_only(Role.ADMIN)
async def results_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    turn = await campaign_turn(update, context)
    if turn is None:
        return
    lang, campaign = turn.language, turn.campaign
    ranked = await turn.services.results.ranking(campaign)
    readiness = await turn.services.results.readiness(campaign)
    await send_chart(update, lang, campaign, ranked, plain(lang, "results.staff.caption",
                                                 title=campaign.title.get(lang),
                                                 count=len(ranked)))
    for text in chunks(results_preview_lines(lang, campaign, ranked, readiness)):
        await update.effective_chat.send_message(text, parse_mode=ParseMode.HTML)


def _button(label: str, action: str, campaign_id: int) -> InlineKeyboardButton:
    return InlineKeyboardButton(label, callback_data=StaffButton(
        AREA, action, (str(campaign_id),)).encode())


@staff_only(Role.ADMIN)
async def publish_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    turn = await campaign_turn(update, context)
    if turn is None:
        return
    lang, campaign = turn.language, turn.campaign
    # What makes publishing impossible is said before anything is asked; what is not done
    # yet is named on the confirmation itself (and asked about a second time).
    readiness = await turn.services.results.readiness(campaign)
    refusal = _refusal(lang, campaign, readiness.too_early, readiness.published_at,
                       readiness.voting_closes)
    if refusal:
        await show(update, Screen(refusal))
        return
    ranked = await turn.services.results.ranking(campaign)
    missing = readiness_lines(lang, campaign, readiness, len(ranked))
    text = "\n\n".join([t(lang, "results.staff.confirm", title=campaign.title.get(lang)),
                         *(["\n".join(missing)] if missing else [])])
    await show(update, Screen(text, [
        [_button(plain(lang, "results.staff.publish"), "p", campaign.id)],
        [_button(plain(lang, "results.staff.cancel"), "c", campaign.id)],
    ]))


def _refusal(lang: str, campaign: Campaign, too_early: bool, published_at: datetime | None,
             closes: datetime | None) -> str | None:
    """Why the results cannot be published now, or None."""
    if published_at is not None:
        return t(lang, "results.staff.already", at=when(campaign, published_at, lang))
    if too_early:
        if closes is None:
            return t(lang, "results.staff.too_early")
        return t(lang, "results.staff.too_early_at", at=when(campaign, closes, lang))
    return None


@staff_only(Role.ADMIN)
async def publish_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    query = update.callback_query
    turn = await begin_turn(update, context)
    lang, campaign = turn.language, turn.campaign
    button = StaffButton.decode(query.data)
    if (button is None or campaign is None or button.int_arg(0) != campaign.id
            or button.action not in ("p", "f", "c")):
        await query.answer(plain(lang, "expired"), show_alert=True)
        return
    await query.answer()
    if button.action == "c":
        await show(update, Screen(t(lang, "results.staff.cancelled")))
        return
    by = actor(CHANNEL, str(update.effective_user.id))
    # "p" is the first confirmation; "f" the second, given after the warning that some
    # approved cases have no judge's score: only it publishes incomplete judging.
    result = await turn.services.results.publish(campaign, by,
                                                 incomplete_ok=button.action == "f")
    if result.outcome is PublishOutcome.INCOMPLETE:
        ranked = await turn.services.results.ranking(campaign)
        missing = "\n".join(readiness_lines(lang, campaign, result.readiness, len(ranked)))
        await show(update, Screen(t(lang, "results.staff.incomplete", missing=Safe(missing)), [
            [_button(plain(lang, "results.staff.publish_anyway"), "f", campaign.id)],
            [_button(plain(lang, "results.staff.cancel"), "c", campaign.id)],
        ]))
        return
    if result.outcome is PublishOutcome.PUBLISHED:
        assert result.published_at is not None
        text = t(lang, "results.staff.published", at=when(campaign, result.published_at, lang))
    else:  # voting reopened, or another admin published, since the confirmation
        voting = campaign.phase(PhaseName.VOTING)
        text = _refusal(lang, campaign, result.outcome is PublishOutcome.TOO_EARLY,
                        result.published_at, voting.end if voting else None) or ""
    await show(update, Screen(text))


def register(application: Application) -> None:
    application.add_handler(CommandHandler("results", results_command, filters=PRIVATE))
    application.add_handler(CommandHandler("publish", publish_command, filters=PRIVATE))
    application.add_handler(CallbackQueryHandler(publish_button, pattern=staff_pattern(AREA)))
