"""Screens: the text and buttons for each thing a citizen can see. Pure functions of the data;
the flows decide which screen to show."""

from __future__ import annotations

from datetime import datetime
from urllib.parse import quote

from telegram import InlineKeyboardButton

from bot.domain import (
    AnnouncementKind,
    Campaign,
    Case,
    CasePage,
    PhaseStatus,
    VoteIntent,
    VoteOutcome,
    VoteResult,
)
from bot.i18n import Safe, plain, t
from bot.phrases import (
    announcement_text,
    my_votes_text,
    phase_status_text,
    schedule_text,
    vote_question_text,
    vote_result_text,
)
from bot.services.voting import HeldVote
from bot.text import shorten, split_text
from handlers.telegram import callbacks as cb
from handlers.telegram.common import Screen

BODY_PART_LENGTH = 1500  # readable on a phone, and well under Telegram's 4096
# A case's button in the list: its title up to this long, then " · District". Telegram
# wraps nothing in a button: a longer label is cut with "…" on a phone's width anyway.
LIST_TITLE_LENGTH = 60


def button(label: str, action: cb.Action) -> InlineKeyboardButton:
    return InlineKeyboardButton(label, callback_data=cb.encode(action))


def home_button(lang: str) -> InlineKeyboardButton:
    return button(plain(lang, "menu.home"), cb.Menu())


def main_menu(
    lang: str, campaign: Campaign | None, now: datetime, subscribed: bool | None = None,
    writing: bool | None = None, has_cases: bool = False, voted: bool = False,
) -> Screen:
    """`writing`: None outside the submission phase, else whether a case is being written;
    `has_cases`: the citizen sent cases in by chat (their status is one tap away); `voted`:
    the citizen holds a vote in this campaign."""
    if campaign is None:
        return Screen(t(lang, "no_campaign"), [[button(plain(lang, "menu.help"), cb.Help())]])
    text = t(lang, "start.greeting", title=campaign.title.get(lang),
             status=Safe(phase_status_text(lang, campaign, now, voted)))
    if campaign.sample_data:
        text += "\n\n" + t(lang, "sample_note")
    keyboard = [
        [button(plain(lang, "menu.browse"), cb.ShowList(campaign.id, cb.ListState()))],
        [button(plain(lang, "menu.myvote"), cb.MyVote())],
        [button(plain(lang, "menu.schedule"), cb.Schedule()),
         button(plain(lang, "menu.help"), cb.Help())],
        [button(plain(lang, "menu.notify_off" if subscribed else "menu.notify_on"),
                cb.Subscribe(campaign.id, not subscribed))],
    ]
    if campaign.voting_window(now) is PhaseStatus.CLOSED:  # the receipt list is public
        keyboard.insert(0, [button(plain(lang, "receipts.menu_button"),
                                   cb.AskReceipt(campaign.id))])
    if campaign.results_published_at is not None:
        keyboard.insert(0, [button(plain(lang, "results.menu_button"),
                                   cb.ShowResults(campaign.id))])
    if writing is not None or has_cases:
        keyboard.insert(1, [button(plain(lang, "submission.menu_mine"), cb.MyCases())])
    if writing is not None:
        label = "submission.menu_continue" if writing else "submission.menu_start"
        keyboard.insert(0, [button(plain(lang, label), cb.StartSubmission(campaign.id))])
    return Screen(text, keyboard)


def subscription_question(lang: str, campaign: Campaign) -> Screen:
    return Screen(t(lang, "subscribe.ask"), [
        [button(plain(lang, "subscribe.yes"), cb.Subscribe(campaign.id, True))],
        [button(plain(lang, "subscribe.no"), cb.Subscribe(campaign.id, False))],
    ])


def announcement(
    lang: str, campaign: Campaign, kind: AnnouncementKind, bot_username: str, in_chat: bool
) -> Screen:
    """An announcement as a subscriber (or a public chat) receives it, with a button into the
    bot: a callback in a private chat, a deep link in a channel or group."""
    text = announcement_text(lang, campaign, kind)
    if in_chat:
        link = f"https://t.me/{bot_username}?start=menu"
        return Screen(text, [[InlineKeyboardButton(plain(lang, "announce.button_open"), url=link)]])
    if kind in (AnnouncementKind.VOTING_OPENS, AnnouncementKind.VOTING_REOPENS,
                AnnouncementKind.VOTING_REMINDER):
        label, action = "announce.button_vote", cb.ShowList(campaign.id, cb.ListState())
    elif kind in (AnnouncementKind.SUBMISSION_OPENS, AnnouncementKind.SUBMISSION_REOPENS):
        label, action = "announce.button_browse", cb.Menu()
    else:
        label, action = "menu.home", cb.Menu()
    return Screen(text, [[button(plain(lang, label), action)]])


def _filter_words(lang: str, campaign: Campaign, state: cb.ListState,
                  keyword: str | None) -> list[str]:
    words = []
    if state.district is not None and state.district < len(campaign.districts):
        words.append(campaign.districts[state.district].name.get(lang))
    if state.category is not None and state.category < len(campaign.categories):
        words.append(campaign.categories[state.category].name.get(lang))
    if keyword:
        words.append(plain(lang, "list.keyword", keyword=keyword))
    return words


def list_label(lang: str, campaign: Campaign, case: Case) -> str:
    """A case's button: its title (cut only when long) and its district."""
    label = shorten(case.text(lang).title, LIST_TITLE_LENGTH)
    district = campaign.district(case.district)
    return f"{label} · {district.name.get(lang)}" if district else label


def case_list(lang: str, campaign: Campaign, page: CasePage, state: cb.ListState,
              keyword: str | None = None, voted: frozenset[int] = frozenset()) -> Screen:
    """`keyword`: the text of the search `state.search` stands for; `voted`: the cases the
    citizen holds a vote for, marked ✅ in the list."""
    state = cb.ListState(page.page, state.district, state.category, state.search)
    lines = [t(lang, "list.header", page=page.page + 1, pages=page.pages, total=page.total)]
    words = _filter_words(lang, campaign, state, keyword)
    if words:
        lines.append(t(lang, "list.filters", filters=" · ".join(words)))
    lines.append(t(lang, "list.pick") if page.cases else t(lang, "list.empty"))
    keyboard = []
    for case in page.cases:
        label = list_label(lang, campaign, case)
        if case.id in voted:
            label = f"✅ {label}"
        keyboard.append([button(label, cb.ShowCase(campaign.id, case.id, state))])
    nav = []
    if page.page > 0:
        nav.append(button(plain(lang, "list.prev"), cb.ShowList(
            campaign.id, cb.ListState(page.page - 1, state.district, state.category,
                                      state.search))))
    if page.page + 1 < page.pages:
        nav.append(button(plain(lang, "list.next"), cb.ShowList(
            campaign.id, cb.ListState(page.page + 1, state.district, state.category,
                                      state.search))))
    if nav:
        keyboard.append(nav)
    keyboard.append([button(plain(lang, "list.district"), cb.PickDistrict(campaign.id, state)),
                     button(plain(lang, "list.category"), cb.PickCategory(campaign.id, state))])
    keyboard.append([button(plain(lang, "list.search"), cb.AskSearch(campaign.id))])
    if words:
        keyboard.append([button(plain(lang, "list.clear"),
                                cb.ShowList(campaign.id, cb.ListState()))])
    keyboard.append([home_button(lang)])
    return Screen("\n".join(lines), keyboard)


def nothing_found(lang: str, campaign: Campaign, state: cb.ListState, keyword: str) -> Screen:
    """A search that found no case: said plainly, with a way on (every case, another
    search, home)."""
    lines = [t(lang, "search.none_header", keyword=keyword)]
    others = _filter_words(lang, campaign, state, None)
    if others:
        lines.append(t(lang, "list.filters", filters=" · ".join(others)))
    lines.append(t(lang, "search.none"))
    return Screen("\n".join(lines), [
        [button(plain(lang, "search.all_cases"), cb.ShowList(campaign.id, cb.ListState()))],
        [button(plain(lang, "search.again"), cb.AskSearch(campaign.id))],
        [home_button(lang)],
    ])


def district_picker(lang: str, campaign: Campaign, state: cb.ListState) -> Screen:
    return _picker(lang, campaign, campaign.districts, "filter.district_prompt",
                   lambda i: cb.ListState(0, i, state.category, state.search))


def category_picker(lang: str, campaign: Campaign, state: cb.ListState) -> Screen:
    return _picker(lang, campaign, campaign.categories, "filter.category_prompt",
                   lambda i: cb.ListState(0, state.district, i, state.search))


def _picker(lang, campaign, options, prompt: str, state_for) -> Screen:
    """"Show all" and then the options two to a row; `state_for(index or None)`."""
    keyboard = [[button(plain(lang, "filter.all"), cb.ShowList(campaign.id, state_for(None)))]]
    names = [button(o.name.get(lang), cb.ShowList(campaign.id, state_for(i)))
             for i, o in enumerate(options)]
    keyboard += [names[i:i + 2] for i in range(0, len(names), 2)]
    return Screen(t(lang, prompt), keyboard)


def deep_link(bot_username: str, case: Case) -> str:
    return f"https://t.me/{bot_username}?start=case_{case.id}"


def case_card(
    lang: str,
    campaign: Campaign,
    case: Case,
    state: cb.ListState,
    part: int,
    now: datetime,
    bot_username: str,
    votes: int | None = None,
    voted: bool = False,
) -> Screen:
    """`votes` is shown only when given: when citizens may see counts; `voted`: the citizen
    holds a vote for this case (marked, and no vote button)."""
    text = case.text(lang)
    parts = split_text(text.body, BODY_PART_LENGTH)
    part = min(max(part, 0), len(parts) - 1)
    if part == 0:
        district = campaign.district(case.district)
        category = campaign.category(case.category)
        body = t(lang, "case.card", title=text.title, organization=text.organization,
                 district=district.name.get(lang) if district else case.district,
                 neighbourhood=campaign.neighbourhood_name(case, lang),
                 category=category.name.get(lang) if category else case.category,
                 summary=text.summary, body=parts[0])
        if votes is not None:
            body += "\n\n" + t(lang, "case.votes", votes=votes)
        if voted:
            body = t(lang, "case.voted") + "\n" + body
    else:
        body = t(lang, "case.continued", title=text.title, part=part + 1, parts=len(parts),
                 body=parts[part])
    keyboard = []
    pages = []
    if part > 0:
        pages.append(button(plain(lang, "case.less"),
                            cb.ShowCase(campaign.id, case.id, state, part - 1)))
    if part + 1 < len(parts):
        pages.append(button(plain(lang, "case.more"),
                            cb.ShowCase(campaign.id, case.id, state, part + 1)))
    if pages:
        keyboard.append(pages)
    if voted:
        keyboard.append([button(plain(lang, "case.my_vote"), cb.MyVote())])
    elif campaign.voting_window(now) is PhaseStatus.OPEN:
        keyboard.append([button(plain(lang, "case.vote"), cb.AskVote(campaign.id, case.id, state))])
    share = (f"https://t.me/share/url?url={quote(deep_link(bot_username, case), safe='')}"
             f"&text={quote(plain(lang, 'case.share_text', title=text.title), safe='')}")
    keyboard.append([InlineKeyboardButton(plain(lang, "case.share"), url=share)])
    keyboard.append([button(plain(lang, "case.back"), cb.ShowList(campaign.id, state))])
    image = case.image if case.image and case.image.startswith("https://") else None
    return Screen(body, keyboard, image_url=image if part == 0 else None)


def back_to_case(lang: str, campaign: Campaign, case_id: int, state: cb.ListState):
    return [[button(plain(lang, "case.back"), cb.ShowList(campaign.id, state))],
            [home_button(lang)]]


def vote_confirmation(
    lang: str, campaign: Campaign, intent: VoteIntent, state: cb.ListState, votes_left: int,
    stale: bool = False,
) -> Screen:
    """The question, its confirmation made for the votes held now. `stale`: asked again after
    a confirmation made for other votes, which changed nothing."""
    case = intent.case
    text = vote_question_text(lang, campaign, intent, votes_left)
    if stale:
        text = t(lang, "vote.stale") + "\n\n" + text
    if intent.outcome not in (VoteOutcome.CHANGED, VoteOutcome.RECORDED):
        return Screen(text, back_to_case(lang, campaign, case.id, state))
    yes = plain(lang, "vote.yes_change" if intent.outcome is VoteOutcome.CHANGED else "vote.yes")
    keyboard = [
        [button(yes, cb.ConfirmVote(campaign.id, case.id, state, intent.held))],
        [button(plain(lang, "vote.cancel"), cb.CancelVote(campaign.id, case.id, state))],
    ]
    return Screen(text, keyboard)


def vote_result(lang: str, campaign: Campaign, result: VoteResult, state: cb.ListState) -> Screen:
    keyboard = [[button(plain(lang, "case.back"), cb.ShowList(campaign.id, state))],
                [home_button(lang)]]
    return Screen(vote_result_text(lang, campaign, result), keyboard)


def my_votes(lang: str, campaign: Campaign | None, held: list[HeldVote]) -> Screen:
    keyboard = [[home_button(lang)]]
    if campaign is None:
        return Screen(t(lang, "no_campaign"), keyboard)
    if not held:
        browse = button(plain(lang, "menu.browse"), cb.ShowList(campaign.id, cb.ListState()))
        return Screen(t(lang, "myvote.none"), [[browse], *keyboard])
    return Screen(my_votes_text(lang, campaign, held), keyboard)


def schedule(lang: str, campaign: Campaign | None, now: datetime) -> Screen:
    keyboard = [[home_button(lang)]]
    if campaign is None:
        return Screen(t(lang, "no_campaign"), keyboard)
    return Screen(schedule_text(lang, campaign, now), keyboard)


def help_screen(lang: str) -> Screen:
    return Screen(t(lang, "help.text"), [[home_button(lang)]])


def language_picker(lang: str) -> Screen:
    return Screen(t(lang, "language.prompt"), [
        [button("한국어", cb.SetLanguage("ko"))],
        [button("English", cb.SetLanguage("en"))],
    ])
