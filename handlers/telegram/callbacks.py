"""Every inline button's callback data, built and parsed here and nowhere else.

Telegram allows 64 bytes. The data is short text, `action:field:field...`, and is never trusted:
handlers re-check the campaign, the case, the phase and the user on every press. Campaign-bound
buttons carry the campaign id, so a button from another campaign is recognised as stale; a
vote's confirmation carries the votes it was made for, so it is recognised as stale once the
citizen's votes change."""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.domain import is_votes_token

MAX_BYTES = 64
_MAX_INT = 10**9


@dataclass(frozen=True)
class ListState:
    """Where the citizen is in the case list: kept through a case and back. A search's text
    is not in the button (64 bytes would cut it): the chat session keeps it, and the button
    carries its short number (handlers/telegram/browse.py)."""

    page: int = 0
    district: int | None = None  # index into the campaign's districts
    category: int | None = None  # index into the campaign's categories
    search: int | None = None  # the search's number in the chat session

    def fields(self) -> list[str]:
        return [str(self.page), _opt(self.district), _opt(self.category), _opt(self.search)]


@dataclass(frozen=True)
class Menu:
    pass


@dataclass(frozen=True)
class ShowList:
    campaign_id: int
    state: ListState


@dataclass(frozen=True)
class PickDistrict:
    campaign_id: int
    state: ListState


@dataclass(frozen=True)
class PickCategory:
    campaign_id: int
    state: ListState


@dataclass(frozen=True)
class AskSearch:
    campaign_id: int


@dataclass(frozen=True)
class ShowCase:
    campaign_id: int
    case_id: int
    state: ListState
    part: int = 0


@dataclass(frozen=True)
class AskVote:
    campaign_id: int
    case_id: int
    state: ListState


@dataclass(frozen=True)
class ConfirmVote:
    campaign_id: int
    case_id: int
    state: ListState
    # The votes the citizen held when asked (bot.domain.votes_token); None on a button made
    # before confirmations carried them, which is taken as stale.
    votes: str | None


@dataclass(frozen=True)
class CancelVote:
    campaign_id: int
    case_id: int
    state: ListState


@dataclass(frozen=True)
class MyVote:
    pass


@dataclass(frozen=True)
class Schedule:
    pass


@dataclass(frozen=True)
class Help:
    pass


@dataclass(frozen=True)
class SetLanguage:
    language: str


@dataclass(frozen=True)
class Subscribe:
    campaign_id: int
    on: bool


@dataclass(frozen=True)
class ShowResults:
    campaign_id: int


@dataclass(frozen=True)
class AskReceipt:
    """Check a receipt: which case the vote with it was counted for."""

    campaign_id: int


@dataclass(frozen=True)
class ReceiptList:
    """The whole public receipt list, as a CSV file."""

    campaign_id: int


@dataclass(frozen=True)
class StartSubmission:
    campaign_id: int


@dataclass(frozen=True)
class MyCases:
    pass


@dataclass(frozen=True)
class MyCase:
    """One of the citizen's own cases, opened from /mycases (checked to be theirs)."""

    campaign_id: int
    case_id: int


@dataclass(frozen=True)
class Withdraw:
    """Withdraw one's own pending case: asks first (confirmed False), then does it."""

    campaign_id: int
    case_id: int
    confirmed: bool


@dataclass(frozen=True)
class Forget:
    """/forgetme's buttons: delete the citizen's data (confirmed), or keep it."""

    confirmed: bool


@dataclass(frozen=True)
class DraftButton:
    """A button of one step of a case being written: `choice` is an option's index, or a word
    (back, keep, skip, send, edit, cancel...). The step is checked against the draft's."""

    campaign_id: int
    step: str
    choice: str


Action = (
    Menu | ShowList | PickDistrict | PickCategory | AskSearch | ShowCase | AskVote | ConfirmVote
    | CancelVote | MyVote | Schedule | Help | SetLanguage | Subscribe | ShowResults
    | StartSubmission | MyCases | DraftButton | Forget | AskReceipt | ReceiptList
    | MyCase | Withdraw
)

DRAFT_CODE = "d"
_DRAFT_WORD = re.compile(r"^[a-z0-9-]{1,16}$")
_SIMPLE = {Menu: "m", MyVote: "mv", Schedule: "sc", Help: "h", MyCases: "mc"}
_WITH_STATE = {ShowList: "l", PickDistrict: "fd", PickCategory: "fc"}
_CASE_WITH_STATE = {AskVote: "v", CancelVote: "n"}
CONFIRM_CODE = "yv"
OLD_CONFIRM_CODE = "y"  # before confirmations carried the votes: still decoded, as stale


def _opt(value: int | None) -> str:
    return "" if value is None else str(value)


def _fit(head: list[str], last: str) -> str:
    """Join the fields: numbers only, bounded, so they always fit in 64 bytes."""
    data = ":".join([*head, last])
    if len(data.encode()) > MAX_BYTES:
        raise ValueError(f"callback data longer than {MAX_BYTES} bytes: {data!r}")
    return data


def encode(action: Action) -> str:
    for kind, code in _SIMPLE.items():
        if isinstance(action, kind):
            return code
    if isinstance(action, SetLanguage):
        return f"lg:{action.language}"
    if isinstance(action, Forget):
        return f"fg:{int(action.confirmed)}"
    if isinstance(action, AskSearch):
        return f"s:{action.campaign_id}"
    if isinstance(action, ShowResults):
        return f"rs:{action.campaign_id}"
    if isinstance(action, AskReceipt):
        return f"rc:{action.campaign_id}"
    if isinstance(action, ReceiptList):
        return f"rl:{action.campaign_id}"
    if isinstance(action, StartSubmission):
        return f"sb:{action.campaign_id}"
    if isinstance(action, MyCase):
        return f"mo:{action.campaign_id}:{action.case_id}"
    if isinstance(action, Withdraw):
        return f"wd:{action.campaign_id}:{action.case_id}:{int(action.confirmed)}"
    if isinstance(action, DraftButton):
        if not (_DRAFT_WORD.match(action.step) and _DRAFT_WORD.match(action.choice)):
            raise ValueError(f"not a draft button: {action!r}")
        return f"{DRAFT_CODE}:{action.campaign_id}:{action.step}:{action.choice}"
    if isinstance(action, Subscribe):
        return f"nt:{action.campaign_id}:{int(action.on)}"
    if isinstance(action, ShowCase):
        *state, search = action.state.fields()
        head = ["c", str(action.campaign_id), str(action.case_id), str(action.part), *state]
        return _fit(head, search)
    if isinstance(action, ConfirmVote):
        *state, search = action.state.fields()
        if action.votes is None:
            return _fit([OLD_CONFIRM_CODE, str(action.campaign_id), str(action.case_id),
                         *state], search)
        if not is_votes_token(action.votes):
            raise ValueError(f"not a votes token: {action!r}")
        return _fit([CONFIRM_CODE, str(action.campaign_id), str(action.case_id), action.votes,
                     *state], search)
    for kind, code in _CASE_WITH_STATE.items():
        if isinstance(action, kind):
            *state, search = action.state.fields()
            return _fit([code, str(action.campaign_id), str(action.case_id), *state], search)
    for kind, code in _WITH_STATE.items():
        if isinstance(action, kind):
            *state, search = action.state.fields()
            return _fit([code, str(action.campaign_id), *state], search)
    raise TypeError(f"not a button action: {action!r}")


def _int(text: str) -> int:
    if not (text.isascii() and text.isdigit()) or len(text) > 9:
        raise ValueError(text)
    value = int(text)
    if value >= _MAX_INT:
        raise ValueError(text)
    return value


def _opt_int(text: str) -> int | None:
    return None if text == "" else _int(text)


def _state(fields: list[str]) -> ListState:
    """A button made before searches were kept in the session carried the search's words
    here: not a number, so the button is taken as stale."""
    page, district, category, search = fields
    return ListState(_int(page), _opt_int(district), _opt_int(category), _opt_int(search))


def decode(data: str | None) -> Action | None:
    """The action a button stands for, or None for anything malformed."""
    if not data or len(data.encode()) > MAX_BYTES:
        return None
    code, _, rest = data.partition(":")
    try:
        for kind, simple in _SIMPLE.items():
            if data == simple:
                return kind()
        if code == "lg":
            return SetLanguage(rest) if rest in ("ko", "en") else None
        if code == "fg":
            return Forget(rest == "1") if rest in ("0", "1") else None
        if code == "s":
            return AskSearch(_int(rest))
        if code == "rs":
            return ShowResults(_int(rest))
        if code == "rc":
            return AskReceipt(_int(rest))
        if code == "rl":
            return ReceiptList(_int(rest))
        if code == "sb":
            return StartSubmission(_int(rest))
        if code == "mo":
            campaign, _, case = rest.partition(":")
            return MyCase(_int(campaign), _int(case))
        if code == "wd":
            fields = rest.split(":")
            if len(fields) != 3 or fields[2] not in ("0", "1"):
                return None
            return Withdraw(_int(fields[0]), _int(fields[1]), fields[2] == "1")
        if code == DRAFT_CODE:
            fields = rest.split(":")
            if len(fields) != 3 or not all(_DRAFT_WORD.match(f) for f in fields[1:]):
                return None
            return DraftButton(_int(fields[0]), fields[1], fields[2])
        if code == "nt":
            campaign, _, on = rest.partition(":")
            return Subscribe(_int(campaign), on == "1") if on in ("0", "1") else None
        if code == "c":
            fields = rest.split(":", 6)
            if len(fields) != 7:
                return None
            campaign, case, part = (_int(f) for f in fields[:3])
            return ShowCase(campaign, case, _state(fields[3:]), part)
        if code == CONFIRM_CODE:
            fields = rest.split(":", 6)
            if len(fields) != 7 or not is_votes_token(fields[2]):
                return None
            return ConfirmVote(_int(fields[0]), _int(fields[1]), _state(fields[3:]), fields[2])
        if code == OLD_CONFIRM_CODE:
            fields = rest.split(":", 5)
            if len(fields) != 6:
                return None
            return ConfirmVote(_int(fields[0]), _int(fields[1]), _state(fields[2:]), None)
        for kind, case_code in _CASE_WITH_STATE.items():
            if code == case_code:
                fields = rest.split(":", 5)
                if len(fields) != 6:
                    return None
                return kind(_int(fields[0]), _int(fields[1]), _state(fields[2:]))
        for kind, list_code in _WITH_STATE.items():
            if code == list_code:
                fields = rest.split(":", 4)
                if len(fields) != 5:
                    return None
                return kind(_int(fields[0]), _state(fields[1:]))
    except ValueError:
        return None
    return None
