"""One person, one vote on KakaoTalk (`[voting] identity = "phone"` or `"code"`): when a vote
needs the citizen to show who they are, the screens that ask, and the answers.

Phone: a notice (why, what is kept, for how long) with a quick reply to the phone block
(CHAMYEO_KAKAO_PHONE_BLOCK_ID), where Kakao's phone number plugin asks the citizen and calls
our skill with the number (read in phone.py only). Code: the citizen types the code printed on
their paper; it reaches us through the fallback block, as a case being written does.

Either way the chat session remembers the case being voted for (WAITING), so once the citizen
is known they are taken straight to that case's confirmation. Nothing here logs a number or
a code."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from bot.domain import Identity, VoteOutcome
from bot.i18n import plain, t
from bot.phrases import when
from bot.services import Services
from bot.services.identity import CodeOutcome, PhoneOutcome, normalize_code
from handlers.kakao.extra import Act, Extra
from handlers.kakao.models import (
    TEXT_CARD_DESCRIPTION_LENGTH,
    Button,
    QuickReply,
    SkillRequest,
    SkillResponse,
    TextCard,
    output,
)
from handlers.kakao.phone import phone_from_request
from handlers.kakao.screens import Controls, Turn, fit_catalog, response

# Session: what the citizen is showing who they are for: {"w": PHONE or CODE, "k": campaign
# id, "c": case id}.
WAITING = "identity_wait"
PHONE = "phone"
CODE = "code"

# (turn, case id, a catalog text said first): the confirmation for that case.
Confirm = Callable[[Turn, int, str], Awaitable[SkillResponse]]
Welcome = Callable[[Turn], Awaitable[SkillResponse]]
MenuReplies = Callable[[Turn], list[QuickReply]]


class KakaoIdentity:
    def __init__(self, services: Services, controls: Controls, phone_block_id: str | None,
                 confirm: Confirm, welcome: Welcome, menu_replies: MenuReplies) -> None:
        self.services = services
        self.controls = controls
        self.phone_block_id = phone_block_id
        self.confirm = confirm
        self.welcome = welcome
        self.menu_replies = menu_replies

    # --- asking ----------------------------------------------------------------------------

    async def ask(self, turn: Turn, case_id: int, outcome: VoteOutcome) -> SkillResponse:
        """A vote answered NEEDS_PHONE or NEEDS_CODE: ask, and remember the case."""
        campaign = turn.campaign
        assert campaign is not None
        lang = turn.lang
        if outcome is VoteOutcome.NEEDS_CODE:
            turn.state[WAITING] = {"w": CODE, "k": campaign.id, "c": case_id}
            return self.controls.say(t(lang, "identity_kakao.code.ask"), [self._cancel(turn)])
        if self.phone_block_id is None:  # nowhere to send the citizen: say so, ask nothing
            return self.controls.say(t(lang, "identity_kakao.phone.unavailable"),
                                     self.menu_replies(turn))
        turn.state[WAITING] = {"w": PHONE, "k": campaign.id, "c": case_id}
        # Personal data is removed `retention_days` after the last phase ends.
        until = campaign.span()[1] + timedelta(days=campaign.retention_days)
        text = t(lang, "identity_kakao.phone.notice", days=campaign.retention_days,
                 until=when(campaign, until, lang))
        card = TextCard(description=fit_catalog(text, TEXT_CARD_DESCRIPTION_LENGTH),
                        buttons=[self._phone_button(turn)])
        return response([output(card)], self._phone_replies(turn))

    # --- the phone block -------------------------------------------------------------------

    async def phone(self, turn: Turn, request: SkillRequest) -> SkillResponse:
        """A request from the phone block: the plugin's number, if it gave one."""
        campaign, lang = turn.campaign, turn.lang
        if campaign is None or campaign.rules.identity is not Identity.PHONE:
            turn.state.pop(WAITING, None)  # nothing to verify for: keep no number
            return self.controls.say(t(lang, "identity_kakao.phone.not_needed"),
                                     self.menu_replies(turn))
        number = phone_from_request(request)
        outcome = PhoneOutcome.INVALID if number is None else \
            await self.services.identity.verify_phone(turn.citizen, number)
        if outcome is PhoneOutcome.INVALID:  # still waiting: the citizen may try again
            return self.controls.say(t(lang, "identity_kakao.phone.missing"),
                                     self._phone_replies(turn))
        waiting = self._waiting(turn, PHONE)
        turn.state.pop(WAITING, None)
        lead = "identity_kakao.phone.verified" if outcome is PhoneOutcome.VERIFIED \
            else "identity_kakao.phone.other_number"
        if waiting is None:
            return self.controls.say(t(lang, lead), self.menu_replies(turn))
        return await self.confirm(turn, waiting["c"], lead)

    # --- a typed code ----------------------------------------------------------------------

    def waits_for_code(self, turn: Turn) -> bool:
        return self._waiting(turn, CODE) is not None

    async def typed_code(self, turn: Turn, text: str) -> SkillResponse:
        """Typed text while a code is awaited: the code (or "cancel")."""
        campaign, lang = turn.campaign, turn.lang
        waiting = self._waiting(turn, CODE)
        assert campaign is not None and waiting is not None
        if _folded(text) in _labels("identity_kakao.reply.cancel"):
            turn.state.pop(WAITING, None)
            return await self.welcome(turn)
        if normalize_code(text) is None:  # cannot be a code: not counted as a wrong one
            return self.controls.say(t(lang, "identity_kakao.code.not_a_code"),
                                     [self._cancel(turn)])
        result = await self.services.identity.redeem_code(campaign, turn.citizen, text)
        match result.outcome:
            case CodeOutcome.ACCEPTED | CodeOutcome.HAS_OTHER:
                # HAS_OTHER: this account is known by its first code; it votes with that.
                turn.state.pop(WAITING, None)
                lead = "identity_kakao.code.accepted" \
                    if result.outcome is CodeOutcome.ACCEPTED else "identity_kakao.code.has_other"
                return await self.confirm(turn, waiting["c"], lead)
            case CodeOutcome.TOO_MANY:
                turn.state.pop(WAITING, None)  # typed text is a search word again
                assert result.retry_at is not None
                return self.controls.say(
                    t(lang, "identity_kakao.code.too_many",
                      time=when(campaign, result.retry_at, lang)),
                    self.menu_replies(turn))
            case CodeOutcome.USED:
                return self.controls.say(t(lang, "identity_kakao.code.used"),
                                         [self._cancel(turn)])
        return self.controls.say(t(lang, "identity_kakao.code.wrong"), [self._cancel(turn)])

    # --- pieces ----------------------------------------------------------------------------

    @staticmethod
    def _waiting(turn: Turn, kind: str) -> dict[str, Any] | None:
        """What the session waits for, if it is `kind` for the current campaign."""
        waiting = turn.state.get(WAITING)
        if not isinstance(waiting, dict) or waiting.get("w") != kind \
                or turn.campaign is None or waiting.get("k") != turn.campaign.id \
                or not isinstance(waiting.get("c"), int):
            return None
        return waiting

    def _phone_button(self, turn: Turn) -> Button:
        label = plain(turn.lang, "identity_kakao.button.phone")
        assert self.phone_block_id is not None
        return Button(label=label, action="block", block_id=self.phone_block_id,
                      message_text=label)

    def _phone_replies(self, turn: Turn) -> list[QuickReply]:
        label = plain(turn.lang, "identity_kakao.button.phone")
        assert self.phone_block_id is not None
        return [QuickReply(label=label, action="block", block_id=self.phone_block_id,
                           message_text=label),
                self._cancel(turn)]

    def _cancel(self, turn: Turn) -> QuickReply:
        return self.controls.reply(turn, "identity_kakao.reply.cancel", Extra(a=Act.MENU))


def _folded(text: str) -> str:
    return " ".join(text.split()).casefold()


def _labels(key: str) -> set[str]:
    """A label in both languages, with and without its leading mark."""
    labels = {plain(lang, key).casefold() for lang in ("ko", "en")}
    return labels | {label.split(" ", 1)[-1] for label in labels}
