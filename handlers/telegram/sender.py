"""The broadcaster's Telegram side: renders a broadcast for one recipient and maps Telegram's
answers to the broadcaster's outcomes. The pace is kept by the rate limiter on the Bot
(handlers/telegram/rate_limiter.py), where broadcast messages give way to replies."""

from __future__ import annotations

import html
import logging
from collections.abc import Awaitable, Callable

from telegram import Bot, InlineKeyboardButton
from telegram.constants import ParseMode
from telegram.error import BadRequest, Forbidden, RetryAfter, TelegramError, TimedOut

from bot.domain import CASE_NOTICE_KIND, AnnouncementKind, Broadcast, Campaign, CaseNotice, Delivery
from bot.i18n import plain, t
from bot.phrases import case_notice_text
from bot.services.broadcasts import BroadcastSummary, Handover, SendResult, SendStatus
from bot.services.staff_broadcasts import STAFF_KIND
from handlers.telegram import views
from handlers.telegram.common import CHANNEL, NO_PREVIEW, Screen
from handlers.telegram.rate_limiter import BROADCAST, HANDOVER, retry_after_seconds

log = logging.getLogger(__name__)


class TelegramSender:
    def __init__(self, bot: Bot, admin_ids: tuple[int, ...] = (), language: str = "ko",
                 language_of: Callable[[str], Awaitable[str]] | None = None) -> None:
        """`language_of(user id)`: the language a staff member reads (else `language`)."""
        self.bot = bot
        self.admin_ids = admin_ids
        self.language = language
        self.language_of = language_of

    async def send(
        self, delivery: Delivery, broadcast: Broadcast, campaign: Campaign, handover: Handover
    ) -> SendResult:
        if broadcast.kind == STAFF_KIND:
            screen = _staff_message(delivery.language, broadcast, self.bot.username,
                                    in_chat=delivery.citizen_id is None)
        elif broadcast.kind == CASE_NOTICE_KIND:
            notice = CaseNotice.from_payload(broadcast.payload)
            screen = Screen(case_notice_text(delivery.language, campaign, notice),
                            [[views.home_button(delivery.language)]])
        else:
            screen = views.announcement(
                delivery.language, campaign, AnnouncementKind(broadcast.kind),
                self.bot.username, in_chat=delivery.citizen_id is None,
            )
        # With the rate limiter on, this message takes only the pace that replies leave, and
        # is handed over when its turn comes; without one, at once.
        limited: dict = {}
        if getattr(self.bot, "rate_limiter", None):
            limited = {"rate_limit_args": {BROADCAST: True, HANDOVER: handover}}
        else:
            await handover()
        try:
            await self.bot.send_message(
                chat_id=int(delivery.address), text=screen.text, parse_mode=ParseMode.HTML,
                reply_markup=screen.markup, link_preview_options=NO_PREVIEW, **limited,
            )
        except RetryAfter as exc:
            return SendResult(SendStatus.RETRY_AFTER, retry_after=retry_after_seconds(exc),
                              error=str(exc))
        except Forbidden as exc:
            return SendResult(SendStatus.BLOCKED, error=str(exc))
        except TimedOut as exc:
            # The request may have reached Telegram: sending again could send it twice.
            return SendResult(SendStatus.UNCERTAIN, error=str(exc))
        except BadRequest as exc:
            return SendResult(SendStatus.REJECTED, error=str(exc))
        except TelegramError as exc:  # network trouble, server errors: worth another try
            return SendResult(SendStatus.FAILED, error=str(exc))
        return SendResult(SendStatus.SENT)

    async def tell_admins(self, summary: BroadcastSummary) -> None:
        """The summary of a finished broadcast, to each bootstrap admin and to the staff
        member who sent it. A case notice has none (the broadcaster reports none)."""
        if summary.kind == CASE_NOTICE_KIND:
            return
        recipients = list(dict.fromkeys(self.admin_ids))
        channel, _, requester = (summary.requested_by or "").partition(":")
        if channel == CHANNEL and requester.isdigit() and int(requester) not in recipients:
            recipients.append(int(requester))
        for admin in recipients:
            try:
                lang = await self.language_of(str(admin)) if self.language_of else self.language
                text = t(lang, "broadcast.summary",
                         kind=plain(lang, f"announce.kind.{summary.kind}"),
                         sent=summary.sent, blocked=summary.blocked, failed=summary.failed,
                         uncertain=summary.uncertain, seconds=f"{summary.seconds:.1f}")
                await self.bot.send_message(admin, text, parse_mode=ParseMode.HTML)
            except TelegramError:
                log.warning("could not send the broadcast summary to admin %s", admin)


def _staff_message(lang: str, broadcast: Broadcast, bot_username: str, in_chat: bool) -> Screen:
    """A message staff wrote, shown exactly as written (escaped, never read as HTML)."""
    text = html.escape(str(broadcast.payload.get("text", "")), quote=False)
    if in_chat:
        link = f"https://t.me/{bot_username}?start=menu"
        return Screen(text, [[InlineKeyboardButton(plain(lang, "announce.button_open"), url=link)]])
    return Screen(text, [[views.home_button(lang)]])
