"""The citizen's flows on KakaoTalk: welcome, browse (a carousel per page, filters), a case,
vote with a confirmation, my vote, schedule, help, news on/off, the results (results.py);
submitting a case and "my cases" are in submission.py. The same services and message catalogs
as Telegram; only the screens differ. Every press re-checks the campaign, the case and the
phase on the server, as on Telegram. Each request runs in the citizen's chat session (kept in
the database, as on Telegram): it says whether typed text answers a case being written."""

from __future__ import annotations

import asyncio
import logging

from bot.domain import Case, PhaseStatus, VoteOutcome
from bot.i18n import Safe, plain, t
from bot.phrases import (
    my_votes_text,
    phase_status_text,
    schedule_text,
    vote_question_text,
    vote_result_text,
)
from bot.search import clean_search
from bot.services import Services
from bot.services.catalog import ListQuery
from bot.services.receipts import ReceiptStatus
from bot.text import plain_text, shorten, split_text
from handlers.kakao import CHANNEL
from handlers.kakao.extra import CAMPAIGN_BOUND, Act, Extra, parse_extra
from handlers.kakao.identity import KakaoIdentity
from handlers.kakao.media import case_picture_path, public
from handlers.kakao.models import (
    BASIC_CARD_DESCRIPTION_LENGTH,
    CARD_TITLE_LENGTH,
    MAX_OUTPUTS,
    MAX_QUICK_REPLIES,
    SIMPLE_TEXT_LENGTH,
    TEXT_CARD_CAROUSEL_DESCRIPTION_LENGTH,
    TEXT_CARD_DESCRIPTION_LENGTH,
    BasicCard,
    Carousel,
    QuickReply,
    SimpleText,
    SkillRequest,
    SkillResponse,
    TextCard,
    Thumbnail,
    output,
)
from handlers.kakao.results import results_answer
from handlers.kakao.screens import (
    Controls,
    Turn,
    body_part,
    body_parts,
    case_about,
    case_picture,
    fit,
    fit_catalog,
    response,
    web_button,
)
from handlers.kakao.staff_access import asks_for_console, console_link, invitation
from handlers.kakao.submission import WRITING, KakaoSubmission

log = logging.getLogger(__name__)

PICKER_PAGE = MAX_QUICK_REPLIES - 2  # options per page, next to "all" and "next"
CAROUSEL_DESCRIPTION = 76  # two lines of a card in a carousel
MENU_WORDS = {"", "시작", "처음", "처음으로", "메뉴", "홈", "start", "menu", "home", "hi", "안녕",
              "안녕하세요"}


class KakaoSkill:
    def __init__(self, services: Services, block_id: str, announcements: bool = True,
                 welcome_block_id: str | None = None, public_url: str | None = None,
                 phone_block_id: str | None = None) -> None:
        self.services = services
        self.controls = Controls(block_id)  # our buttons call this skill's block
        # The welcome block: it greets whatever its utterance ("반가워요" is no search word).
        self.welcome_block_id = welcome_block_id
        # Whether announcements reach Kakao (the Event API is set up): else no news button.
        self.announcements = announcements
        # Where our server is reachable (CHAMYEO_PUBLIC_URL): pictures we serve (the results
        # chart, case pictures kept as files) are shown only with it.
        self.public_url = public_url
        self.submission = KakaoSubmission(services, self.controls)
        # The block with Kakao's phone number plugin (campaigns counting verified numbers).
        self.phone_block_id = phone_block_id
        self.identity = KakaoIdentity(services, self.controls, phone_block_id,
                                      confirm=self._confirm_after_identity,
                                      welcome=self._welcome, menu_replies=self._menu_replies)

    # --- entry ---------------------------------------------------------------------------

    async def answer(self, request: SkillRequest) -> SkillResponse:
        sessions = self.services.sessions
        # The account's turn (two writes on PostgreSQL) only where the session decides what
        # happens: typed text (it may answer a case being written) and the draft's buttons.
        # Any other press at most clears the writing mark, written only if it was set.
        drafting = not request.extra or request.extra.get("a") in _DRAFTING
        session = await sessions.begin(CHANNEL, request.user_key, turn=drafting)
        state = dict(session.state)
        try:
            return await self._answer(request, state)
        finally:
            await _end_session(sessions.end(session, state))

    async def _answer(self, request: SkillRequest, state: dict) -> SkillResponse:
        properties = request.user_request.user.properties
        citizen = await self.services.citizens.identify(
            CHANNEL, request.user_key, request.user_request.lang,
            alias=properties.plusfriend_user_key)
        turn = Turn(citizen, await self.services.campaigns.current(),
                    self.services.clock.now(), state)
        if self.phone_block_id is not None and self.phone_block_id in request.block_ids:
            return await self.identity.phone(turn, request)  # the plugin's number, or none
        if self.welcome_block_id is not None and self.welcome_block_id in request.block_ids:
            state.clear()  # the menu: a case being written waits for "continue"
            return await self._welcome(turn)
        if not request.extra:
            utterance = request.user_request.utterance
            if " ".join(utterance.split()).casefold() in self._labels("privacy.reply.forget"):
                state.clear()  # asked even while writing a case: it is about all their data
                return self._ask_forget(turn)
            menu_word = " ".join(utterance.split()).lower() in MENU_WORDS
            if state.get(RECEIPT_WAIT) and not menu_word:
                return await self._typed_receipt(turn, utterance)
            if self.identity.waits_for_code(turn) and not menu_word:
                return await self.identity.typed_code(turn, utterance)
            if state.get(WRITING) and turn.campaign is not None \
                    and " ".join(utterance.split()).lower() not in MENU_WORDS:
                return await self.submission.typed(turn, utterance)
            state.clear()
            return await self._utterance(turn, utterance)
        extra = parse_extra(request.extra)
        if extra is None or self._stale(extra, turn):
            if request.extra.get("a") in (Act.DRAFT.value, Act.SUBMIT.value):
                return await self.submission.stale(turn)
            state.clear()
            return self.controls.say(t(turn.lang, "kakao.expired"), self._menu_replies(turn))
        if extra.a not in (Act.SUBMIT, Act.DRAFT):
            state.clear()  # another button: a case being written waits for "continue"
        return await self._act(turn, extra)

    @staticmethod
    def _stale(extra: Extra, turn: Turn) -> bool:
        if extra.a not in CAMPAIGN_BOUND:
            return False
        return turn.campaign is None or turn.campaign.id != extra.k

    async def _utterance(self, turn: Turn, utterance: str) -> SkillResponse:
        """A typed message (the fallback block, or the welcome block when its id is not set):
        a menu word, a quick reply's label typed by hand, or else a search word."""
        word = " ".join(utterance.split())[:200]
        if word.lower() in MENU_WORDS or turn.campaign is None:
            return await self._welcome(turn)
        folded = word.casefold()
        for act in (Act.MY_VOTE, Act.SCHEDULE, Act.HELP, Act.MY_CASES):
            if folded in self._labels(_REPLY_LABEL[act]):
                return await self._act(turn, Extra(a=act))
        if folded in self._labels("receipts.kakao_reply"):
            return await self._act(turn, Extra(a=Act.RECEIPT, k=turn.campaign.id))
        if folded in self._labels("kakao.reply.results"):
            return await self._act(turn, Extra(a=Act.RESULTS, k=turn.campaign.id))
        if folded in self._labels("kakao.reply.submit") | self._labels("kakao.reply.continue"):
            return await self._act(turn, Extra(a=Act.SUBMIT, k=turn.campaign.id))
        if folded in self._labels("kakao.reply.browse"):
            return await self._list(turn, Extra(a=Act.LIST, k=turn.campaign.id))
        for key, on in (("kakao.reply.notify_on", True), ("kakao.reply.notify_off", False)):
            if folded in self._labels(key):
                return await self._act(turn, Extra(a=Act.NOTIFY, k=turn.campaign.id, on=on))
        invited = await invitation(self.services, turn, word, self._menu_replies(turn))
        if invited is not None:
            return invited
        if asks_for_console(word):
            link = await console_link(self.services, turn, self._menu_replies(turn))
            if link is not None:
                return link
        search = clean_search(utterance)
        found = await self._list(turn, Extra(a=Act.LIST, k=turn.campaign.id,
                                             q=search.text if search else None),
                                 cut=search is not None and search.cut)
        return await self.submission.note_waiting(turn, found)  # a draft waiting: say so

    @staticmethod
    def _labels(key: str) -> set[str]:
        """A quick reply's label in both languages, with and without its leading emoji."""
        labels = {plain(lang, key).casefold() for lang in ("ko", "en")}
        return labels | {label.split(" ", 1)[-1] for label in labels}

    async def _act(self, turn: Turn, extra: Extra) -> SkillResponse:
        if extra.a is Act.FORGET:
            return await self._forget(turn, bool(extra.on))
        if turn.campaign is None and extra.a not in (Act.HELP, Act.LANGUAGE):
            return await self._welcome(turn)
        match extra.a:
            case Act.MENU:
                return await self._welcome(turn)
            case Act.LIST:
                return await self._list(turn, extra)
            case Act.PICK_DISTRICT | Act.PICK_CATEGORY:
                return self._picker(turn, extra)
            case Act.CASE:
                return await self._case(turn, extra)
            case Act.ASK_VOTE:
                return await self._ask_vote(turn, extra)
            case Act.CONFIRM_VOTE:
                return await self._confirm_vote(turn, extra)
            case Act.MY_VOTE:
                held = await self.services.voting.current_votes(turn.campaign, turn.citizen)
                text = plain_text(my_votes_text(turn.lang, turn.campaign, held))
                parts = split_text(text, SIMPLE_TEXT_LENGTH)[:MAX_OUTPUTS]
                return response([output(SimpleText(text=fit(p))) for p in parts],
                                 self._menu_replies(turn))
            case Act.SCHEDULE:
                return self.controls.say(schedule_text(turn.lang, turn.campaign, turn.now),
                                 self._menu_replies(turn))
            case Act.HELP:
                return self.controls.say(t(turn.lang, "kakao.help"), self._menu_replies(turn))
            case Act.NOTIFY:
                await self.services.subscriptions.set(turn.campaign, turn.citizen, extra.on)
                text = t(turn.lang, "kakao.notify.on" if extra.on else "kakao.notify.off")
                return self.controls.say(text, self._menu_replies(turn, subscribed=extra.on))
            case Act.LANGUAGE:
                citizen = await self.services.citizens.set_language(turn.citizen, extra.lang)
                return await self._welcome(Turn(citizen, turn.campaign, turn.now, turn.state))
            case Act.RECEIPT:
                return self._ask_receipt(turn)
            case Act.RESULTS:
                return await results_answer(self.services, turn, self.public_url,
                                            self._menu_replies(turn))
            case Act.SUBMIT:
                return await self.submission.start(turn)
            case Act.DRAFT:
                return await self.submission.press(turn, extra)
            case Act.MY_CASES:
                return await self.submission.my_cases(turn)
            case Act.MY_CASE:
                return await self.submission.open_mine(turn, extra.c or 0)
            case Act.WITHDRAW:
                return await self.submission.withdraw(turn, extra.c or 0, bool(extra.on))
        return self.controls.say(t(turn.lang, "kakao.expired"), self._menu_replies(turn))

    # --- forget me -----------------------------------------------------------------------

    def _ask_forget(self, turn: Turn) -> SkillResponse:
        """What will be deleted and what stays, and the citizen's choice."""
        return self.controls.say(t(turn.lang, "privacy.ask"), [
            self.controls.reply(turn, "privacy.button.yes", Extra(a=Act.FORGET, on=True)),
            self.controls.reply(turn, "privacy.button.no", Extra(a=Act.FORGET, on=False)),
        ])

    async def _forget(self, turn: Turn, confirmed: bool) -> SkillResponse:
        if not confirmed:
            return self.controls.say(t(turn.lang, "privacy.kept"), self._menu_replies(turn))
        await self.services.privacy.forget(turn.citizen)
        turn.state.clear()  # no chat state of theirs is written back after this request
        return self.controls.say(t(turn.lang, "privacy.done"), [
            self.controls.reply(turn, "kakao.reply.home", Extra(a=Act.MENU))])

    # --- screens -------------------------------------------------------------------------

    async def _welcome(self, turn: Turn) -> SkillResponse:
        lang, campaign = turn.lang, turn.campaign
        if campaign is None:
            return self.controls.say(t(lang, "no_campaign"), [
                self.controls.reply(turn, "kakao.reply.help", Extra(a=Act.HELP))])
        voted = bool(await self.services.voting.voted_case_ids(campaign, turn.citizen))
        text = t(lang, "start.greeting", title=campaign.title.get(lang),
                 status=Safe(phase_status_text(lang, campaign, turn.now, voted)))
        if campaign.sample_data:
            text += "\n\n" + t(lang, "sample_note")
        subscribed = await self.services.subscriptions.status(campaign, turn.citizen)
        return self.controls.say(text, self._menu_replies(
            turn, subscribed=bool(subscribed),
            submission=await self.submission.menu_replies(turn)))

    async def _list(self, turn: Turn, extra: Extra, cut: bool = False) -> SkillResponse:
        """`cut`: the typed search was longer than what is searched: said first."""
        lang, campaign = turn.lang, turn.campaign
        district = _option(campaign.districts, extra.d)
        category = _option(campaign.categories, extra.g)
        page = await self.services.catalog.list_cases(campaign, ListQuery(
            extra.p, district.key if district else None, category.key if category else None,
            extra.q), turn.citizen)
        words = [o.name.get(lang) for o in (district, category) if o is not None]
        notes = [t(lang, "search.cut"), ""] if cut and extra.q else []
        if extra.q and page.total == 0:
            return self._nothing_found(turn, words, extra.q, notes)
        lines = [t(lang, "list.header", page=page.page + 1, pages=page.pages, total=page.total)]
        if extra.q:
            words.append(plain(lang, "list.keyword", keyword=extra.q))
        if words:
            lines.append(t(lang, "list.filters", filters=" · ".join(words)))
        lines.append(t(lang, "list.pick") if page.cases else t(lang, "list.empty"))
        outputs = [output(SimpleText(text=fit_catalog("\n".join(notes + lines))))]
        state = {"k": campaign.id, "d": extra.d, "g": extra.g, "q": extra.q}
        if page.cases:
            voted = await self.services.voting.voted_case_ids(campaign, turn.citizen)
            outputs.append(output(self._carousel(turn, page.cases,
                                                 {"lp": page.page, **state}, voted)))
        replies = []
        if page.page > 0:
            replies.append(self.controls.reply(turn, "kakao.reply.prev",
                                       Extra(a=Act.LIST, p=page.page - 1, **state)))
        if page.page + 1 < page.pages:
            replies.append(self.controls.reply(turn, "kakao.reply.next",
                                       Extra(a=Act.LIST, p=page.page + 1, **state)))
        replies.append(self.controls.reply(turn, "kakao.reply.district",
                                   Extra(a=Act.PICK_DISTRICT, **state)))
        replies.append(self.controls.reply(turn, "kakao.reply.category",
                                   Extra(a=Act.PICK_CATEGORY, **state)))
        if words:
            replies.append(self.controls.reply(turn, "kakao.reply.clear",
                                       Extra(a=Act.LIST, k=campaign.id)))
        replies.append(self.controls.reply(turn, "kakao.reply.home", Extra(a=Act.MENU)))
        return response(outputs, replies)

    def _nothing_found(self, turn: Turn, filters: list[str], search: str,
                       notes: list[str]) -> SkillResponse:
        """A search that found no case: said plainly, with a way on."""
        lang = turn.lang
        lines = [*notes, t(lang, "search.none_header", keyword=search)]
        if filters:
            lines.append(t(lang, "list.filters", filters=" · ".join(filters)))
        lines.append(t(lang, "search.none"))
        return response([output(SimpleText(text=fit_catalog("\n".join(lines))))], [
            self.controls.reply_label(plain(lang, "search.all_cases"),
                                      Extra(a=Act.LIST, k=turn.campaign.id)),
            self.controls.reply(turn, "kakao.reply.home", Extra(a=Act.MENU)),
        ])

    def _carousel(self, turn: Turn, cases: tuple[Case, ...], origin: dict,
                  voted: frozenset[int]) -> Carousel:
        """Cards with a picture when every case on the page has one (Kakao wants one kind of
        card in a carousel, and a basicCard needs a picture); plain text cards otherwise.
        `origin`: the list's page and filters, carried so "back to the list" returns there;
        `voted`: the cases the citizen holds a vote for, marked ✅ and without a vote button."""
        lang, campaign = turn.lang, turn.campaign
        images = {c.id: self.case_image_url(c) for c in cases}
        pictures = all(images.values())
        cards = []
        for case in cases:
            text = case.text(lang)
            district = campaign.district(case.district)
            where = " · ".join(x for x in (district.name.get(lang) if district else "",
                                            text.organization) if x)
            buttons = [self.controls.button(turn, "kakao.button.detail",
                                    Extra(a=Act.CASE, c=case.id, **origin))]
            if case.id not in voted and campaign.voting_window(turn.now) is PhaseStatus.OPEN:
                buttons.append(self.controls.button(turn, "kakao.button.vote",
                                            Extra(a=Act.ASK_VOTE, k=campaign.id, c=case.id)))
            title = fit(f"✅ {text.title}" if case.id in voted else text.title,
                        CARD_TITLE_LENGTH)
            if pictures:
                cards.append(BasicCard(title=title,
                                       description=fit(where, CAROUSEL_DESCRIPTION),
                                       thumbnail=Thumbnail(image_url=images[case.id]),
                                       buttons=buttons))
            else:
                description = fit(f"{where}\n{text.summary}",
                                   TEXT_CARD_CAROUSEL_DESCRIPTION_LENGTH)
                cards.append(TextCard(title=title, description=description, buttons=buttons))
        return Carousel(type="basicCard" if pictures else "textCard", items=cards)

    def _picker(self, turn: Turn, extra: Extra) -> SkillResponse:
        """Districts or categories as quick replies, a page of them at a time."""
        lang, campaign = turn.lang, turn.campaign
        districts = extra.a is Act.PICK_DISTRICT
        options = campaign.districts if districts else campaign.categories
        start = min(extra.p, max(len(options) - 1, 0) // PICKER_PAGE) * PICKER_PAGE
        base = {"k": campaign.id, "d": extra.d, "g": extra.g, "q": extra.q}
        field = "d" if districts else "g"
        replies = [self.controls.reply(turn, "kakao.reply.all",
                               Extra(a=Act.LIST, **(base | {field: None})))]
        for index in range(start, min(start + PICKER_PAGE, len(options))):
            label = shorten(options[index].name.get(lang), 14)
            replies.append(self.controls.reply_label(
                label, Extra(a=Act.LIST, **(base | {field: index}))))
        if start + PICKER_PAGE < len(options):
            replies.append(self.controls.reply(turn, "kakao.reply.next",
                                       Extra(a=extra.a, p=start // PICKER_PAGE + 1, **base)))
        prompt = "filter.district_prompt" if districts else "filter.category_prompt"
        return response([output(SimpleText(text=fit_catalog(t(lang, prompt))))], replies)

    async def _case(self, turn: Turn, extra: Extra) -> SkillResponse:
        lang, campaign = turn.lang, turn.campaign
        case = await self.services.catalog.get_case(campaign, extra.c)
        if case is None:
            return self.controls.say(t(lang, "case.unknown"), self._menu_replies(turn))
        text = case.text(lang)
        parts = body_parts(lang, case)
        part = min(extra.p, len(parts) - 1)
        # the list it was opened from: the same page and filters (and so the same cases)
        list_state = {"k": campaign.id, "d": extra.d, "g": extra.g, "q": extra.q}
        back = {"lp": extra.lp, **list_state}
        about = case_about(lang, campaign, case)
        votes = await self.services.catalog.visible_votes(campaign, case.id)
        if votes is not None:
            about = plain_text(t(lang, "case.votes", votes=votes)) + "\n" + about
        voted = case.id in await self.services.voting.voted_case_ids(campaign, turn.citizen)
        if voted:
            about = plain_text(t(lang, "case.voted")) + "\n" + about
        buttons = []
        if not voted and campaign.voting_window(turn.now) is PhaseStatus.OPEN:
            buttons.append(self.controls.button(turn, "kakao.button.vote",
                                        Extra(a=Act.ASK_VOTE, k=campaign.id, c=case.id)))
        if self.public_url is not None:  # the case's public page: to read in full, to share
            buttons.append(web_button(turn.lang, self.public_url,
                                      f"/c/{campaign.slug}/cases/{case.id}"))
        title = fit(text.title, CARD_TITLE_LENGTH)
        image = self.case_image_url(case)
        if image is not None:
            card = output(BasicCard(title=title,
                                    description=fit(about, BASIC_CARD_DESCRIPTION_LENGTH),
                                    thumbnail=Thumbnail(image_url=image), buttons=buttons))
        else:
            card = output(TextCard(title=title, description=fit(about,
                                                                 TEXT_CARD_DESCRIPTION_LENGTH),
                                   buttons=buttons))
        body = body_part(parts, part)
        outputs = [card, output(SimpleText(text=fit(body)))] if part == 0 else \
            [output(SimpleText(text=fit(body)))]
        replies = []
        if part > 0:
            replies.append(self.controls.reply(turn, "kakao.reply.less",
                                       Extra(a=Act.CASE, c=case.id, p=part - 1, **back)))
        if part + 1 < len(parts):
            replies.append(self.controls.reply(turn, "kakao.reply.more",
                                       Extra(a=Act.CASE, c=case.id, p=part + 1, **back)))
        if part > 0 and buttons:
            replies.append(self.controls.reply(turn, "kakao.button.vote",
                                       Extra(a=Act.ASK_VOTE, k=campaign.id, c=case.id)))
        replies.append(self.controls.reply(turn, "kakao.reply.list",
                                           Extra(a=Act.LIST, p=extra.lp, **list_state)))
        replies.append(self.controls.reply(turn, "kakao.reply.home", Extra(a=Act.MENU)))
        return response(outputs, replies)

    async def _ask_vote(self, turn: Turn, extra: Extra, stale: bool = False,
                        lead: str | None = None) -> SkillResponse:
        """The question, its confirmation made for the votes held now. `stale`: asked again
        after a confirmation made for other votes, which changed nothing: said first.
        `lead`: a catalog key said first (the citizen just showed who they are)."""
        lang, campaign = turn.lang, turn.campaign
        intent = await self.services.voting.intent(campaign, turn.citizen, extra.c)
        if intent.outcome in _NEEDS_IDENTITY:
            return await self.identity.ask(turn, extra.c, intent.outcome)
        held = await self.services.voting.current_votes(campaign, turn.citizen)
        left = campaign.rules.votes_per_citizen - len(held)
        question = vote_question_text(lang, campaign, intent, left)
        replies = [self.controls.reply(turn, "kakao.reply.list", Extra(a=Act.LIST, k=campaign.id)),
                   self.controls.reply(turn, "kakao.reply.home", Extra(a=Act.MENU))]
        notice = [output(SimpleText(text=fit_catalog(t(lang, "vote.stale"))))] \
            if stale and intent.case is not None else []
        if lead is not None:
            notice.insert(0, output(SimpleText(text=fit_catalog(t(lang, lead)))))
        if intent.outcome not in (VoteOutcome.RECORDED, VoteOutcome.CHANGED):
            return response([*notice, output(SimpleText(text=fit_catalog(question)))], replies)
        yes = "kakao.button.yes_change" if intent.outcome is VoteOutcome.CHANGED \
            else "kakao.button.yes"
        card = TextCard(description=fit_catalog(question, TEXT_CARD_DESCRIPTION_LENGTH), buttons=[
            self.controls.button(turn, yes, Extra(a=Act.CONFIRM_VOTE, k=campaign.id, c=extra.c,
                                          v=intent.held)),
            self.controls.button(turn, "kakao.button.no",
                                 Extra(a=Act.CASE, k=campaign.id, c=extra.c)),
        ])
        return response([*notice, output(card)], replies)

    async def _confirm_vote(self, turn: Turn, extra: Extra) -> SkillResponse:
        lang, campaign = turn.lang, turn.campaign
        if extra.v is None:  # a card made before confirmations carried the votes
            return await self._ask_vote(turn, extra, stale=True)
        # Shielded: if the answer runs out of time, the vote still completes (or not) as a
        # whole; the citizen is told to check "my vote" (kakao.busy).
        vote = asyncio.ensure_future(self.services.voting.cast_vote(
            campaign, turn.citizen, extra.c, made_for=extra.v))
        try:
            result = await asyncio.shield(vote)
        except asyncio.CancelledError:
            vote.add_done_callback(_log_late_vote)  # no one awaits it now: say how it ended
            raise
        if result.outcome in _NEEDS_IDENTITY:  # e.g. a card from before the campaign changed
            return await self.identity.ask(turn, extra.c, result.outcome)
        if result.outcome is VoteOutcome.STALE:
            # Made for votes the citizen no longer holds: nothing changed; ask again.
            return await self._ask_vote(turn, extra, stale=True)
        replies = [self.controls.reply(turn, "kakao.reply.myvote", Extra(a=Act.MY_VOTE)),
                   self.controls.reply(turn, "kakao.reply.list", Extra(a=Act.LIST, k=campaign.id)),
                   self.controls.reply(turn, "kakao.reply.home", Extra(a=Act.MENU))]
        return self.controls.say(vote_result_text(lang, campaign, result), replies)

    async def _confirm_after_identity(self, turn: Turn, case_id: int,
                                      lead: str) -> SkillResponse:
        """The citizen just showed who they are: the confirmation for the case they chose."""
        assert turn.campaign is not None
        return await self._ask_vote(turn, Extra(a=Act.ASK_VOTE, k=turn.campaign.id, c=case_id),
                                    lead=lead)

    # --- pieces --------------------------------------------------------------------------

    def case_image_url(self, case: Case) -> str | None:
        """A case's picture as KakaoTalk can fetch it: its https address, or the file it holds
        served by us under CHAMYEO_PUBLIC_URL; None for none (a photo sent in on Telegram is
        Telegram's)."""
        if case_picture(case):
            return case.image
        if self.public_url is None:
            return None
        path = case_picture_path(case)
        return None if path is None else public(self.public_url, path)

    def _ask_receipt(self, turn: Turn) -> SkillResponse:
        """"Check my receipt": the next typed text is a receipt (RECEIPT_WAIT)."""
        campaign = turn.campaign
        assert campaign is not None
        if not self.services.receipts.is_open(campaign):
            return self.controls.say(t(turn.lang, "receipts.not_yet"), self._menu_replies(turn))
        turn.state[RECEIPT_WAIT] = campaign.id
        return self.controls.say(t(turn.lang, "receipts.ask") + "\n\n"
                                 + self._receipt_list(turn), self._menu_replies(turn))

    def _receipt_list(self, turn: Turn) -> str:
        """Where the whole list is: our CSV under the public address, if there is one."""
        assert turn.campaign is not None
        if self.public_url is None:
            return t(turn.lang, "receipts.list_elsewhere")
        return t(turn.lang, "receipts.list_link",
                 url=f"{self.public_url}/receipts/{turn.campaign.slug}.csv")

    async def _typed_receipt(self, turn: Turn, utterance: str) -> SkillResponse:
        campaign = turn.campaign
        if campaign is None or turn.state.pop(RECEIPT_WAIT, None) != campaign.id:
            return await self._welcome(turn)
        found = await self.services.receipts.lookup(campaign, utterance)
        if found.status is ReceiptStatus.FOUND:
            assert found.case is not None
            text = t(turn.lang, "receipts.found", receipt=found.receipt,
                     title=found.case.text(turn.lang).title)
        else:
            text = t(turn.lang, f"receipts.{found.status.value}")
            if found.status is ReceiptStatus.NOT_FOUND:
                turn.state[RECEIPT_WAIT] = campaign.id  # another try
        return self.controls.say(text, self._menu_replies(turn))

    def _menu_replies(self, turn: Turn, subscribed: bool | None = None,
                      submission: list[QuickReply] | None = None) -> list[QuickReply]:
        """`submission`: "submit" and "my cases" (welcome menu only), after the results."""
        campaign = turn.campaign
        if campaign is None:
            return [self.controls.reply(turn, "kakao.reply.help", Extra(a=Act.HELP))]
        replies = []
        if campaign.results_published_at is not None:  # first: what everyone comes for now
            replies.append(self.controls.reply(turn, "kakao.reply.results",
                                               Extra(a=Act.RESULTS, k=campaign.id)))
        if self.services.receipts.is_open(campaign):  # voting closed: the receipts are public
            replies.append(self.controls.reply(turn, "receipts.kakao_reply",
                                               Extra(a=Act.RECEIPT, k=campaign.id)))
        replies += [
            *(submission or []),
            self.controls.reply(turn, "kakao.reply.browse", Extra(a=Act.LIST, k=campaign.id)),
            self.controls.reply(turn, "kakao.reply.myvote", Extra(a=Act.MY_VOTE)),
            self.controls.reply(turn, "kakao.reply.schedule", Extra(a=Act.SCHEDULE)),
        ]
        if subscribed is not None and self.announcements:
            replies.append(self.controls.reply(
                turn, "kakao.reply.notify_off" if subscribed else "kakao.reply.notify_on",
                Extra(a=Act.NOTIFY, k=campaign.id, on=not subscribed)))
        replies.append(self.controls.reply(turn, "kakao.reply.help", Extra(a=Act.HELP)))
        other = "en" if turn.lang == "ko" else "ko"
        replies.append(self.controls.reply(turn, "kakao.reply.language", Extra(a=Act.LANGUAGE,
                                                                       lang=other)))
        return replies

_DRAFTING = (Act.SUBMIT.value, Act.DRAFT.value)
RECEIPT_WAIT = "receipt_wait"  # session: the campaign a typed receipt is for
_NEEDS_IDENTITY = (VoteOutcome.NEEDS_PHONE, VoteOutcome.NEEDS_CODE)
_REPLY_LABEL = {Act.MY_VOTE: "kakao.reply.myvote", Act.SCHEDULE: "kakao.reply.schedule",
                Act.HELP: "kakao.reply.help", Act.MY_CASES: "kakao.reply.mine"}


def _option(options, index: int | None):
    return options[index] if index is not None and index < len(options) else None


async def _end_session(ending) -> None:
    """Keep the session and end the citizen's turn, even when the answer ran out of time
    (a turn left held would make their next request wait for its lease). A failure is
    logged: the answer is given anyway."""
    task = asyncio.ensure_future(ending)
    task.add_done_callback(_log_session_failure)
    await asyncio.shield(task)


def _log_session_failure(task: asyncio.Future) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("kakao skill: could not save the chat session", exc_info=task.exception())


def _log_late_vote(vote: asyncio.Future) -> None:
    """A vote that went on after its answer ran out of time: a failure is logged with its
    cause (else asyncio says only "Task exception was never retrieved")."""
    if not vote.cancelled() and vote.exception() is not None:
        log.error("kakao skill: a vote that outlasted its answer failed",
                  exc_info=vote.exception())


def busy_response(language: str) -> SkillResponse:
    """When the answer would miss Kakao's 5 seconds: something rather than nothing."""
    return response([output(SimpleText(text=fit_catalog(t(language, "kakao.busy"))))], [])
