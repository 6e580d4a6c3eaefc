"""Browsing cases: the paginated list, district and category filters, keyword search, and the
case card with its "more" parts."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from telegram import Update
from telegram.ext import ContextTypes

from bot.i18n import t
from bot.search import SearchText, clean_search
from bot.services.catalog import ListQuery
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

# The citizen's recent searches, in the chat session (the database): [[number, text], ...],
# newest last. A list button carries only the number, so "back to the list" brings back the
# whole search, however long. Commands keep it (handlers/telegram/setup.py); a number no
# longer here (an old button) shows the list without the search, and says so.
SEARCHES = "searches"
SEARCHES_KEPT = 10
SEARCH_NUMBERS = 1_000_000  # numbers count up and wrap: six digits in a button at most


def clear_keeping_searches(user_data: dict) -> None:
    """Forget what the chat waits for, but not the recent searches: they are no answer
    awaited, and the lists already shown need them."""
    searches = user_data.get(SEARCHES)
    user_data.clear()
    if searches:
        user_data[SEARCHES] = searches


def remember_search(user_data: dict, text: str) -> int:
    """The number of `text` among the recent searches, kept as the newest."""
    searches = _searches(user_data)
    number = next((n for n, known in searches if known == text), None)
    if number is None:
        newest = searches[-1][0] if searches else 0
        number = newest % (SEARCH_NUMBERS - 1) + 1
    searches = [entry for entry in searches if entry[0] != number and entry[1] != text]
    user_data[SEARCHES] = [*searches, [number, text]][-SEARCHES_KEPT:]
    return number


def _searches(user_data: dict) -> list[list]:
    kept = user_data.get(SEARCHES)
    return [entry for entry in (kept if isinstance(kept, list) else [])
            if isinstance(entry, list) and len(entry) == 2 and isinstance(entry[0], int)
            and isinstance(entry[1], str)]


def recall_search(user_data: dict, number: int) -> str | None:
    return next((text for n, text in _searches(user_data) if n == number), None)


def _query(turn: Turn, state: cb.ListState, keyword: str | None) -> ListQuery:
    campaign = turn.campaign
    district = (campaign.districts[state.district].key
                if state.district is not None and state.district < len(campaign.districts)
                else None)
    category = (campaign.categories[state.category].key
                if state.category is not None and state.category < len(campaign.categories)
                else None)
    return ListQuery(state.page, district, category, keyword)


async def show_list(
    update: Update, context: ContextTypes.DEFAULT_TYPE, turn: Turn, state: cb.ListState,
    cut: bool = False,
) -> None:
    """The list `state` stands for. `cut`: the typed search was longer than what is
    searched (bot.search.clean_search), said above the list."""
    notes = []
    keyword = None
    if state.search is not None:
        keyword = recall_search(context.user_data, state.search)
        if keyword is None:  # an old button: its search is gone, the rest still holds
            notes.append(t(turn.language, "search.forgotten"))
            state = cb.ListState(0, state.district, state.category, None)
    if cut and keyword:
        notes.append(t(turn.language, "search.cut"))
    page = await turn.services.catalog.list_cases(turn.campaign, _query(turn, state, keyword),
                                                 turn.citizen)
    if keyword and page.total == 0:
        screen = views.nothing_found(turn.language, turn.campaign, state, keyword)
    else:
        voted = await turn.services.voting.voted_case_ids(turn.campaign, turn.citizen)
        screen = views.case_list(turn.language, turn.campaign, page, state, keyword, voted)
    if notes:
        screen = Screen("\n".join([*notes, "", screen.text]), screen.keyboard, screen.image_url)
    await show(update, screen)


async def search(update: Update, context: ContextTypes.DEFAULT_TYPE, turn: Turn,
                 found: SearchText) -> None:
    number = remember_search(context.user_data, found.text)
    await show_list(update, context, turn, cb.ListState(search=number), cut=found.cut)


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
    voted = case.id in await turn.services.voting.voted_case_ids(turn.campaign, turn.citizen)
    screen = views.case_card(turn.language, turn.campaign, case, state, part, now,
                             context.bot.username, votes, voted)
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
    found = clean_search(" ".join(context.args or []))
    if found is None:
        context.user_data[AWAITING_SEARCH] = turn.campaign.id
        await show(update, Screen(t(turn.language, "search.usage")))
        return
    await search(update, context, turn, found)


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
    found = clean_search(update.effective_message.text)
    if turn.campaign is None or turn.campaign.id != campaign_id or found is None:
        return False
    await search(update, context, turn, found)
    return True


async def typed_search(update: Update, context: ContextTypes.DEFAULT_TYPE) -> bool:
    """Typed text outside any flow searches, as /search does. False when there is no
    campaign, nothing to search for, or a case being written waits for the citizen (the
    hint says so)."""
    turn = await begin_turn(update, context)
    found = clean_search(update.effective_message.text)
    if turn.campaign is None or found is None:
        return False
    if turn.services.submissions.is_open(turn.campaign) \
            and await turn.services.submissions.draft_of(turn.citizen) is not None:
        return False
    await search(update, context, turn, found)
    return True
