"""Announcement subscriptions: asked once at /start (opt-in), changed with /notify on|off or
the button in the main menu."""

from __future__ import annotations

import enum

from telegram import Update
from telegram.ext import ContextTypes

from bot.i18n import t
from handlers.telegram import views
from handlers.telegram.common import Screen, Turn, begin_turn, show

ON_WORDS = {"on", "켜기", "켜", "받기", "yes"}
OFF_WORDS = {"off", "끄기", "꺼", "끔", "no"}


class _Unread(enum.Enum):
    UNREAD = "unread"


UNREAD = _Unread.UNREAD  # the caller has not read the citizen's choice about news


async def menu_screen(turn: Turn, subscribed: bool | None | _Unread = UNREAD) -> Screen:
    """The main menu, with the notification button showing the citizen's current choice
    (read here unless the caller has it: None, never asked, is an answer too)."""
    writing = None
    has_cases = False
    voted = False
    if turn.campaign is not None:
        voted = bool(await turn.services.voting.voted_case_ids(turn.campaign, turn.citizen))
        if subscribed is UNREAD:
            subscribed = await turn.services.subscriptions.status(turn.campaign, turn.citizen)
        submissions = turn.services.submissions
        if submissions.is_open(turn.campaign):
            writing = await submissions.draft_of(turn.citizen) is not None
        else:
            has_cases = await submissions.count_mine(turn.campaign, turn.citizen) > 0
    return views.main_menu(turn.language, turn.campaign, turn.services.clock.now(),
                           None if subscribed is UNREAD else subscribed,
                           writing, has_cases, voted)


async def ask_once(update: Update, turn: Turn, subscribed: bool | None) -> None:
    """After the greeting, ask whether to send news, the first time only (`subscribed` is
    None: never asked). Until the citizen says yes they are not subscribed."""
    if turn.campaign is None or subscribed is not None:
        return
    await turn.services.subscriptions.set(turn.campaign, turn.citizen, False)
    await show(update, views.subscription_question(turn.language, turn.campaign),
               new_message=True)


# A citizen who arrived by a shared case link is asked about news at the first pause instead.
ASK_NEWS_LATER = "ask_news_later"


async def ask_if_put_off(update: Update, context: ContextTypes.DEFAULT_TYPE, turn: Turn) -> None:
    campaign_id = context.user_data.pop(ASK_NEWS_LATER, None)
    if campaign_id is None or turn.campaign is None or turn.campaign.id != campaign_id:
        return
    await ask_once(update, turn, await turn.services.subscriptions.status(turn.campaign,
                                                                         turn.citizen))


async def set_subscription(update: Update, turn: Turn, on: bool) -> None:
    await turn.services.subscriptions.set(turn.campaign, turn.citizen, on)
    menu = await menu_screen(turn)
    text = t(turn.language, "subscribe.on" if on else "subscribe.off")
    await show(update, Screen(f"{text}\n\n{menu.text}", menu.keyboard))


async def notify_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    turn = await begin_turn(update, context)
    if turn.campaign is None:
        await show(update, await menu_screen(turn))
        return
    word = (context.args[0].lower() if context.args else "")
    if word in ON_WORDS or word in OFF_WORDS:
        await set_subscription(update, turn, word in ON_WORDS)
        return
    subscribed = await turn.services.subscriptions.status(turn.campaign, turn.citizen)
    current = t(turn.language, "subscribe.on" if subscribed else "subscribe.off")
    await show(update, Screen(current, views.subscription_question(
        turn.language, turn.campaign).keyboard))
