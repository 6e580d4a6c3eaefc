"""Browsing cases: the paginated list, district and category filters, keyword search, and the
case card with its "more" parts."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from telegram import Update
from telegram.ext import ContextTypes

from bot.i18n import t
from bot.services.catalog import ListQuery, clean_keyword
from bot.text import shorten
from handlers.telegram import callbacks as cb
from handlers.telegram import views
from handlers.telegram.common import (
    TELEGRAM_PHOTO,
    Screen,
    Turn,
    begin_turn,
    send_case_photo,
    show,
)

log = logging.getLogger(__name__)

AWAITING_SEARCH = "awaiting_search"
PHOTO_FILE_IDS = "photo_file_ids"
CAPTION_LIMIT = 1024


def _query(turn: Turn, state: cb.ListState) -> ListQuery:
    campaign = turn.campaign
    district = (campaign.districts[state.district].key
                if state.district is not None and state.district < len(campaign.districts)
                else None)
    category = (campaign.categories[state.category].key
                if state.category is not None and state.category < len(campaign.categories)
                else None)
    return ListQuery(state.page, district, category, state.keyword)


async def show_list(update: Update, turn: Turn, state: cb.ListState) -> None:
    page = await turn.services.catalog.list_cases(turn.campaign, _query(turn, state),
                                                 turn.citizen)
    await show(update, views.case_list(turn.language, turn.campaign, page, state))


async def open_case(
    update: Update, context: ContextTypes.DEFAULT_TYPE, turn: Turn, case_id: int,
    state: cb.ListState, part: int = 0,
) -> None:
    case = await turn.services.catalog.get_case(turn.campaign, case_id)
    if case is None:
        await show(update, Screen(t(turn.language, "case.unknown"),
                                  [[views.home_button(turn.language)]]))
        return
    now = turn.services.clock.now()
    votes = await turn.services.catalog.visible_votes(turn.campaign, case.id)
    screen = views.case_card(turn.language, turn.campaign, case, state, part, now,
                             context.bot.username, votes)
    photo_sent = part == 0 and await send_local_photo(update, context, case, turn.language)
    # After a photo, the card goes below it as a new message so the two read in order.
    await show(update, screen, new_message=photo_sent)


async def send_local_photo(
    update: Update, context: ContextTypes.DEFAULT_TYPE, case, language: str
) -> bool:
    """A case picture given as a file path is uploaded once, then reused by its file id; a
    photo sent in by chat is a file id already."""
    if not case.image or case.image.startswith("https://"):
        return False
    file_ids = context.bot_data.setdefault(PHOTO_FILE_IDS, {})
    caption = shorten(case.text(language).title, CAPTION_LIMIT)
    if case.image.startswith(TELEGRAM_PHOTO):
        return await send_case_photo(update, case.image, caption)
    try:
        if case.image in file_ids:
            await update.effective_chat.send_photo(file_ids[case.image], caption=caption)
            return True
        picture = await asyncio.to_thread(Path(case.image).read_bytes)
        sent = await update.effective_chat.send_photo(picture, caption=caption)
    except OSError:
        log.warning("case %s: picture %s cannot be read", case.id, case.image)
        return False
    if sent.photo:
        file_ids[case.image] = sent.photo[-1].file_id
    return True


async def search_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    turn = await begin_turn(update, context)
    if turn.campaign is None:
        await show(update, views.main_menu(turn.language, None, turn.services.clock.now()))
        return
    keyword = clean_keyword(" ".join(context.args or []))
    if keyword is None:
        context.user_data[AWAITING_SEARCH] = turn.campaign.id
        await show(update, Screen(t(turn.language, "search.usage")))
        return
    await show_list(update, turn, cb.ListState(keyword=keyword))


async def ask_search(update: Update, context: ContextTypes.DEFAULT_TYPE, turn: Turn) -> None:
    context.user_data[AWAITING_SEARCH] = turn.campaign.id
    await show(update, Screen(t(turn.language, "search.prompt"),
                              [[views.home_button(turn.language)]]))


async def search_reply(update: Update, context: ContextTypes.DEFAULT_TYPE) -> bool:
    """A typed word after "search" was asked for. False when no search was waiting."""
    campaign_id = context.user_data.pop(AWAITING_SEARCH, None)
    if campaign_id is None:
        return False
    turn = await begin_turn(update, context)
    keyword = clean_keyword(update.effective_message.text)
    if turn.campaign is None or turn.campaign.id != campaign_id or keyword is None:
        return False
    await show_list(update, turn, cb.ListState(keyword=keyword))
    return True
