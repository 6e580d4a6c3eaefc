"""What staff type on KakaoTalk: an invitation code an admin gave them (the role, on this
account), and '관리' for a one-time sign-in link to the web console, as a card with a web link
button. To anyone without a staff role '관리' is an ordinary search (the staff surface is not
revealed), so that answers None for them."""

from __future__ import annotations

from bot.domain import Role
from bot.i18n import plain, t
from bot.services import Services
from bot.services.staff import InvitationOutcome, actor, invitation_code
from handlers.kakao import CHANNEL
from handlers.kakao.models import Button, QuickReply, SkillResponse, TextCard, output
from handlers.kakao.screens import Controls, Turn, fit_catalog, response


def asks_for_console(word: str) -> bool:
    folded = " ".join(word.split()).casefold()
    return folded in {plain(lang, "web.link.kakao_word").casefold() for lang in ("ko", "en")}


async def console_link(services: Services, turn: Turn,
                       replies: list[QuickReply]) -> SkillResponse | None:
    account = turn.citizen.external_id
    if not await services.staff.allowed(CHANNEL, account, (Role.JUDGE, Role.MODERATOR)):
        return None
    public_url = services.web_access.public_url
    if public_url is None or not public_url.startswith("https://"):
        # KakaoTalk opens only https:// links.
        return Controls.say(t(turn.lang, "web.link.no_public_url"), replies)
    url = await services.web_access.link_for(CHANNEL, account, by=actor(CHANNEL, account))
    if url is None:  # the role went in between
        return None
    card = TextCard(description=fit_catalog(t(turn.lang, "web.link.kakao"), 230),
                    buttons=[Button(label=plain(turn.lang, "web.link.kakao_button"),
                                    action="webLink", web_link_url=url)])
    return response([output(card)], replies)


async def invitation(services: Services, turn: Turn, typed: str,
                     replies: list[QuickReply]) -> SkillResponse | None:
    """The answer to a typed invitation code; None if the text is none."""
    code = invitation_code(typed)
    if code is None:
        return None
    result = await services.staff.accept(CHANNEL, turn.citizen.external_id, code)
    if result.outcome is InvitationOutcome.INVALID or result.role is None:
        return Controls.say(t(turn.lang, "web.invite.invalid"), replies)
    role = plain(turn.lang, f"staff.role.{result.role.value}")
    return Controls.say(t(turn.lang, f"web.invite.{result.outcome.value}", role=role), replies)
