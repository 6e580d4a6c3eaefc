"""Typed text the flows did not take: a search, as /search; anything else (and text a flow
still waits for, like a case being written or the phone step) a short hint and the menu,
never silence."""

from __future__ import annotations

from telegram import Update
from telegram.ext import ContextTypes

from bot.i18n import t
from handlers.telegram import identity, invitation, receipts
from handlers.telegram.browse import search_reply, typed_search
from handlers.telegram.common import Screen, begin_turn, show
from handlers.telegram.notify import menu_screen


async def on_text(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    if await invitation.typed(update, context):  # a staff invitation code from an admin
        return
    if await identity.typed(update, context):  # a voting code, or the phone step's cancel
        return
    if await receipts.typed(update, context):  # a receipt after "check my receipt"
        return
    if await search_reply(update, context):
        return
    # The phone step waits for the shared contact: text then is not a search.
    if not (context.user_data or {}).get(identity.WAITING) \
            and await typed_search(update, context):
        return
    await hint(update, context)


async def hint(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    turn = await begin_turn(update, context)
    menu = await menu_screen(turn)
    waiting = turn.campaign is not None and turn.services.submissions.is_open(turn.campaign) \
        and await turn.services.submissions.draft_of(turn.citizen) is not None
    # A case being written waits for "continue": say so, or the answer seems lost.
    await show(update, Screen(t(turn.language, "submission.waiting" if waiting else "fallback"),
                              menu.keyboard))
