"""What every Telegram handler needs: who is talking, which campaign, and how to show a screen
(edit the message in place for buttons, send a new one for typed messages)."""

from __future__ import annotations

import hashlib
import json
import logging
from contextvars import ContextVar
from dataclasses import dataclass, replace
from typing import Any

from telegram import (
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    LinkPreviewOptions,
    MaybeInaccessibleMessage,
    Message,
    Update,
)
from telegram.constants import ParseMode
from telegram.error import BadRequest
from telegram.ext import ContextTypes, filters

from bot.domain import TELEGRAM_PHOTO, Campaign, Citizen
from bot.i18n import plain
from bot.services import Services
from handlers.telegram import callbacks as cb

log = logging.getLogger(__name__)

SERVICES = "services"
SCHEDULER = "scheduler"
CHANNEL = "telegram"
NO_PREVIEW = LinkPreviewOptions(is_disabled=True)
# New messages in private chats only: an edited message must not run a command twice.
PRIVATE = filters.UpdateType.MESSAGE & filters.ChatType.PRIVATE & filters.USER


def services_of(context: ContextTypes.DEFAULT_TYPE) -> Services:
    return context.application.bot_data[SERVICES]


@dataclass(frozen=True)
class Turn:
    """One update's view of the world: the services, the citizen and the current campaign."""

    services: Services
    citizen: Citizen
    campaign: Campaign | None

    @property
    def language(self) -> str:
        return self.citizen.language


async def begin_turn(update: Update, context: ContextTypes.DEFAULT_TYPE) -> Turn:
    services = services_of(context)
    user = update.effective_user
    citizen = await services.citizens.identify(CHANNEL, str(user.id), user.language_code,
                                               user.username)
    TURN_LANGUAGE.set(citizen.language)
    return Turn(services, citizen, await services.campaigns.current())


@dataclass(frozen=True)
class Screen:
    text: str
    keyboard: list[list[InlineKeyboardButton]] | None = None
    image_url: str | None = None  # shown large above the text, as a link preview
    continues: bool = False  # the next message goes on with it (and has the buttons)

    @property
    def markup(self) -> InlineKeyboardMarkup | None:
        return InlineKeyboardMarkup(self.keyboard) if self.keyboard else None

    @property
    def preview(self) -> LinkPreviewOptions:
        if self.image_url:
            return LinkPreviewOptions(url=self.image_url, prefer_large_media=True,
                                      show_above_text=True)
        return NO_PREVIEW


# The language of the person the update is from, once begin_turn knows it: show() gives a
# screen without buttons a way home in it, so no message is a dead end.
TURN_LANGUAGE: ContextVar[str | None] = ContextVar("turn_language", default=None)


def with_way_home(screen: Screen) -> Screen:
    language = TURN_LANGUAGE.get()
    if screen.keyboard or screen.continues or language is None:
        return screen
    home = InlineKeyboardButton(plain(language, "menu.home"), callback_data=cb.encode(cb.Menu()))
    return replace(screen, keyboard=[[home]])


# The chat session of the update being handled (processor.py sets it around each update).
# show() keeps in it the last screen it put in a message, so an edit that would change
# nothing (a double tap on "next") is not sent: Telegram refuses those anyway.
SESSION_DATA: ContextVar[dict[str, Any] | None] = ContextVar("session_data", default=None)
SHOWN = "_shown"  # "_": bookkeeping in the session, not an answer the bot waits for


def _fingerprint(screen: Screen) -> str:
    markup = screen.markup.to_dict() if screen.markup else None
    raw = json.dumps([screen.text, markup, screen.image_url], sort_keys=True, ensure_ascii=False)
    return hashlib.blake2b(raw.encode(), digest_size=12).hexdigest()


def _remember_shown(message: Message | MaybeInaccessibleMessage, fingerprint: str) -> None:
    data = SESSION_DATA.get()
    if data is not None:
        data[SHOWN] = [f"{message.chat.id}:{message.message_id}", fingerprint]


async def show(update: Update, screen: Screen, new_message: bool = False) -> None:
    """Edit the pressed message in place; send a new message for anything typed."""
    screen = with_way_home(screen)
    query = update.callback_query
    fingerprint = _fingerprint(screen)
    if query is not None and query.message is not None and not new_message:
        data = SESSION_DATA.get() or {}
        here = f"{query.message.chat.id}:{query.message.message_id}"
        if data.get(SHOWN) == [here, fingerprint]:
            return  # the message already shows exactly this
        try:
            await query.edit_message_text(
                screen.text, parse_mode=ParseMode.HTML, reply_markup=screen.markup,
                link_preview_options=screen.preview,
            )
            _remember_shown(query.message, fingerprint)
            return
        except BadRequest as exc:
            if "not modified" in str(exc).lower():
                _remember_shown(query.message, fingerprint)
                return
            # Too old to edit, or not a text message: fall through to a new message.
            log.info("could not edit message, sending a new one: %s", exc)
    # A press on a message we cannot see (no chat in the update): answer the person directly.
    chat_id = update.effective_chat.id if update.effective_chat else update.effective_user.id
    sent = await update.get_bot().send_message(
        chat_id, screen.text, parse_mode=ParseMode.HTML, reply_markup=screen.markup,
        link_preview_options=screen.preview,
    )
    if isinstance(sent, Message):
        _remember_shown(sent, fingerprint)


async def send_case_photo(update: Update, image: str, caption: str) -> bool:
    """A photo sent in by chat, again by its file id. False, after a log line, if Telegram no
    longer knows it (another bot token, say): the case is shown without it."""
    try:
        await update.effective_chat.send_photo(image.removeprefix(TELEGRAM_PHOTO),
                                               caption=caption)
    except BadRequest as exc:
        log.warning("photo %s could not be sent: %s", image, exc)
        return False
    return True
