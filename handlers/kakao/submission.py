"""Submitting a case on KakaoTalk, and "my cases": the screens of the guided steps over the
same SubmissionService and catalogs as Telegram. The service stores the draft at every answer
and checks every press against it; this module only shows the step the draft is at.

Choice steps are quick replies (a page at a time when a campaign has many districts or
neighbourhoods); text steps are answered by typing, which reaches the skill through the
fallback block with no clientExtra. While the citizen is writing, their chat session (kept in
the database) is marked WRITING, as on Telegram, and typed text answers the draft; any other
button or the menu clears the mark and leaves the draft waiting, typed text is a search word
again until a button of the draft (or "submit") is pressed. KakaoTalk does not deliver photos
to us here, so the photo step is only skipped."""

from __future__ import annotations

import html
import re

from bot.domain import Campaign
from bot.drafts import (
    BACK,
    CANCEL,
    CHOICE_STEPS,
    EDIT,
    EDIT_PREFIX,
    HERE,
    KEEP,
    SEND,
    SKIP,
    SKIPPABLE,
    TEXT_STEPS,
    Draft,
    ProblemKind,
    Step,
    as_case,
    choices,
    contact_of,
    discard_choice,
    discard_token,
    is_discard,
    previous_step,
    typed_forms,
)
from bot.i18n import plain, t
from bot.services import Services
from bot.services.staff import actor
from bot.services.submissions import (
    SubmissionOutcome,
    SubmissionReply,
    SubmittedCase,
    WithdrawOutcome,
    counted,
)
from bot.submission_texts import (
    CURRENT_PREVIEW,
    answer_steps,
    draft_waiting_text,
    ending_text,
    header_text,
    my_case_detail,
    my_case_text,
    note_text,
    option_labels,
    question_text,
    typed_choice,
)
from bot.text import shorten, split_text
from handlers.kakao import CHANNEL
from handlers.kakao.extra import Act, Extra
from handlers.kakao.models import (
    CARD_TITLE_LENGTH,
    MAX_OUTPUTS,
    MAX_QUICK_REPLIES,
    QUICK_REPLY_LABEL_LENGTH,
    SIMPLE_TEXT_LENGTH,
    TEXT_CARD_DESCRIPTION_LENGTH,
    Output,
    QuickReply,
    SimpleText,
    SkillResponse,
    TextCard,
    output,
)
from handlers.kakao.screens import (
    Controls,
    Turn,
    body_part,
    body_parts,
    case_about,
    fit,
    fit_catalog,
    response,
)

_BARE_LINK = re.compile(r"https?://\S+", re.IGNORECASE)
WRITING = "writing_case"  # session mark: typed messages answer the draft's step (as Telegram)
STEPS = {step.value: step for step in Step}

# The word a draft's quick reply carries in `o`, besides bot.drafts' words (both channels')
# and an option's index: the next page of choices, or of the preview.
PAGE = "page"
# KakaoTalk cannot send us a photo here: a problem said in its own words.
KAKAO_PROBLEMS = {ProblemKind.NOT_A_PHOTO: "kakao.draft.no_photo",
                  ProblemKind.TEXT_AT_PHOTO: "kakao.draft.no_photo"}
OPEN_REPLIES = 5  # the newest cases get a quick reply to open them

# Catalog labels too long for a quick reply in some language: KakaoTalk's own, short ones.
SHORT_LABELS = {
    "submission.button.to_preview": "kakao.draft.button.to_preview",
    "submission.button.discard": "kakao.draft.button.discard",
    "submission.button.continue": "kakao.draft.button.continue",
}


class KakaoSubmission:
    def __init__(self, services: Services, controls: Controls) -> None:
        self.services = services
        self.submissions = services.submissions
        self.controls = controls

    # --- entry points (skill.py dispatches here) -----------------------------------------

    async def start(self, turn: Turn) -> SkillResponse:
        """"Submit a case" or "continue": begin a draft, or go back to the one under way."""
        assert turn.campaign is not None
        return self._respond(turn, await self.submissions.start(turn.campaign, turn.citizen))

    async def press(self, turn: Turn, extra: Extra) -> SkillResponse:
        """A quick reply of a step. The extra is checked for the step; the service checks it
        again against the stored draft, so a stale or forged one changes nothing."""
        campaign, citizen = turn.campaign, turn.citizen
        assert campaign is not None
        step = STEPS.get(extra.s or "")
        choice = extra.o or ""
        if step is None:
            return await self.stale(turn)
        submissions = self.submissions
        if choice.isdigit() and len(choice) < 4:
            reply = await submissions.choose(campaign, citizen, step, int(choice))
        elif choice == BACK:
            reply = await submissions.back(campaign, citizen, step)
        elif choice == KEEP:
            reply = await submissions.keep(campaign, citizen, step)
        elif choice == SKIP and step in SKIPPABLE:
            reply = await submissions.skip(campaign, citizen, step)
        elif choice == SEND and step is Step.PREVIEW:
            reply = await submissions.submit(campaign, citizen,
                                             actor(CHANNEL, citizen.external_id))
        elif choice.startswith(EDIT_PREFIX) and choice.removeprefix(EDIT_PREFIX) in STEPS:
            reply = await submissions.edit(campaign, citizen,
                                           STEPS[choice.removeprefix(EDIT_PREFIX)])
        elif is_discard(choice):  # only the draft the confirmation was made for, at its step
            reply = await submissions.discard(campaign, citizen, step, discard_token(choice))
        elif choice in (EDIT, CANCEL, HERE, PAGE):
            reply = await submissions.current(campaign, citizen, step)
            draft = reply.draft
            if reply.outcome is SubmissionOutcome.STEP and draft is not None:
                turn.state[WRITING] = True  # back at the draft
                if choice == EDIT and step is Step.PREVIEW:
                    return self._edit_menu(turn, draft)
                elif choice == CANCEL:
                    return self._confirm_cancel(turn, draft)
                elif choice == PAGE:
                    return self._respond(turn, reply, page=extra.p)
        else:
            return await self.stale(turn)
        return self._respond(turn, reply)

    async def typed(self, turn: Turn, text: str) -> SkillResponse:
        """Typed text while writing: the answer to a text step; at a choice step, an option's
        label typed by hand (else "use the buttons"); at the photo or contact step, "Skip"
        typed."""
        campaign, citizen = turn.campaign, turn.citizen
        assert campaign is not None
        draft = await self.submissions.draft_of(citizen)
        if draft is not None and draft.campaign_id == campaign.id:
            skip_typed = bool(typed_forms(text) & _labels("kakao.draft.button.skip"))
            if draft.step in SKIPPABLE and skip_typed:
                return self._respond(turn, await self.submissions.skip(campaign, citizen,
                                                                       draft.step))
            elif draft.step in TEXT_STEPS and _BARE_LINK.fullmatch(text.strip()):
                # Perhaps a photo or a file, which KakaoTalk may hand over as its address:
                # not the text this step asks for.
                return self._respond(turn, await self.submissions.wrong_kind(campaign,
                                                                             citizen))
        return self._respond(turn, await self.submissions.type_text(
            campaign, citizen, text, lambda draft: self._typed_option(campaign, draft, text)))

    async def stale(self, turn: Turn) -> SkillResponse:
        """A draft's button that does not fit (another step, another campaign, a forged
        choice): the draft's current step again, said to be so; nothing changes."""
        campaign = turn.campaign
        draft = await self.submissions.draft_of(turn.citizen) if campaign is not None else None
        if campaign is None or draft is None or draft.campaign_id != campaign.id:
            turn.state.clear()
            home = self.controls.reply(turn, "kakao.reply.home", Extra(a=Act.MENU))
            return self.controls.say(t(turn.lang, "kakao.expired"), [home])
        reply = await self.submissions.current(campaign, turn.citizen, None)
        if reply.draft is not None:
            reply = SubmissionReply(SubmissionOutcome.STALE, reply.draft)
        return self._respond(turn, reply)

    async def my_cases(self, turn: Turn) -> SkillResponse:
        """The citizen's cases, newest first, with status and staff's reason; a button to go
        on with a draft, or to start one, while submission is open."""
        lang, campaign = turn.lang, turn.campaign
        assert campaign is not None
        mine = await self.submissions.mine(campaign, turn.citizen)
        draft = await self.submissions.draft_of(turn.citizen)
        open_now = self.submissions.is_open(campaign)
        limit = campaign.submission.cases_per_citizen
        header = t(lang, "submission.mine.header", count=counted(mine), limit=limit)
        items = [my_case_text(lang, campaign, item) for item in reversed(mine)]
        footer = [t(lang, "submission.mine.pick")] if mine else [t(lang, "submission.mine.none")]
        replies = [self.controls.reply_label(
            shorten(plain(lang, "submission.mine.open", title=item.case.ko.title),
                    QUICK_REPLY_LABEL_LENGTH),
            Extra(a=Act.MY_CASE, k=campaign.id, c=item.case.id))
            for item in reversed(mine[-OPEN_REPLIES:])]
        if open_now and draft is not None and draft.campaign_id == campaign.id:
            footer.append(draft_waiting_text(lang, campaign, draft))
            replies.append(self._submit_reply(turn, writing=True))
        elif open_now and counted(mine) < limit:
            replies.append(self._submit_reply(turn, writing=False))
        replies.append(self.controls.reply(turn, "kakao.reply.home", Extra(a=Act.MENU)))
        while True:
            parts = split_text(fit_catalog("\n\n".join([header, *items, *footer]), 10**6),
                               SIMPLE_TEXT_LENGTH)
            if len(parts) <= MAX_OUTPUTS or len(items) <= 1:
                break
            items.pop()  # the oldest go first; the count in the header still says how many
        return response([output(SimpleText(text=fit(p))) for p in parts[:MAX_OUTPUTS]], replies)

    async def open_mine(self, turn: Turn, case_id: int) -> SkillResponse:
        """One of the citizen's own cases, in full (a forged id, or someone else's: not
        found); "withdraw" while it waits for moderation."""
        assert turn.campaign is not None
        item = await self.submissions.one_of_mine(turn.campaign, turn.citizen, case_id)
        return self._my_case(turn, item)

    async def withdraw(self, turn: Turn, case_id: int, confirmed: bool) -> SkillResponse:
        """Withdraw a pending case: "are you sure?" first; then the service decides."""
        lang, campaign = turn.lang, turn.campaign
        assert campaign is not None
        if not confirmed:
            item = await self.submissions.one_of_mine(campaign, turn.citizen, case_id)
            if item is None or not item.withdrawable:
                return self._my_case(turn, item, refused=item is not None)
            return self.controls.say(
                t(lang, "submission.mine.confirm_withdraw", title=item.case.ko.title), [
                    self.controls.reply(turn, "submission.mine.withdraw_yes",
                                        Extra(a=Act.WITHDRAW, k=campaign.id, c=case_id, on=True)),
                    self.controls.reply(turn, "submission.mine.withdraw_no",
                                        Extra(a=Act.MY_CASE, k=campaign.id, c=case_id)),
                ])
        result = await self.submissions.withdraw(campaign, turn.citizen, case_id,
                                                 actor(CHANNEL, turn.citizen.external_id))
        if result.outcome is WithdrawOutcome.WITHDRAWN and result.item is not None:
            return self.controls.say(
                t(lang, "submission.mine.withdrawn", title=result.item.case.ko.title),
                [self.controls.reply(turn, "kakao.reply.mine", Extra(a=Act.MY_CASES)),
                 self.controls.reply(turn, "kakao.reply.home", Extra(a=Act.MENU))])
        return self._my_case(turn, result.item,
                             refused=result.outcome is WithdrawOutcome.NOT_PENDING)

    def _my_case(self, turn: Turn, item: SubmittedCase | None,
                 refused: bool = False) -> SkillResponse:
        lang, campaign = turn.lang, turn.campaign
        assert campaign is not None
        replies = [self.controls.reply(turn, "kakao.reply.mine", Extra(a=Act.MY_CASES)),
                   self.controls.reply(turn, "kakao.reply.home", Extra(a=Act.MENU))]
        if item is None:
            return self.controls.say(t(lang, "submission.mine.unknown"), replies)
        lines = []
        if refused:
            status = plain(lang, f"submission.status.{item.case.status.value}")
            lines.append("⚠️ " + t(lang, "submission.mine.not_pending", status=status))
        lines.append(my_case_detail(lang, campaign, item))
        if item.withdrawable:
            replies.insert(0, self.controls.reply(
                turn, "submission.mine.withdraw",
                Extra(a=Act.WITHDRAW, k=campaign.id, c=item.case.id, on=False)))
        parts = split_text(fit_catalog("\n\n".join(lines), 10**6), SIMPLE_TEXT_LENGTH)
        return response([output(SimpleText(text=fit(p))) for p in parts[:MAX_OUTPUTS]], replies)

    async def menu_replies(self, turn: Turn) -> list[QuickReply]:
        """For the welcome menu: "submit" (or "continue") while submission is open, and "my
        cases" when the citizen has sent cases in or is writing one."""
        campaign = turn.campaign
        if campaign is None:
            return []
        replies = []
        open_now = self.submissions.is_open(campaign)
        writing = False
        if open_now:
            draft = await self.submissions.draft_of(turn.citizen)
            writing = draft is not None and draft.campaign_id == campaign.id
            replies.append(self._submit_reply(turn, writing))
        if writing or await self.submissions.count_mine(campaign, turn.citizen) > 0:
            replies.append(self.controls.reply(turn, "kakao.reply.mine",
                                               Extra(a=Act.MY_CASES)))
        return replies

    async def note_waiting(self, turn: Turn, answer: SkillResponse) -> SkillResponse:
        """Typed text taken as a search while a draft waits (the citizen went elsewhere):
        said so on the answer, with "continue", or the text would seem lost."""
        campaign = turn.campaign
        if campaign is None or not self.submissions.is_open(campaign):
            return answer
        draft = await self.submissions.draft_of(turn.citizen)
        outputs, replies = answer.template.outputs, answer.template.quick_replies
        if draft is None or draft.campaign_id != campaign.id or len(outputs) >= MAX_OUTPUTS:
            return answer
        note = output(SimpleText(text=fit_catalog(t(turn.lang, "kakao.draft.waiting"))))
        return response([note, *outputs],
                        [self._submit_reply(turn, writing=True), *replies])

    # --- screens -------------------------------------------------------------------------

    def _respond(self, turn: Turn, reply: SubmissionReply, page: int | None = None
                 ) -> SkillResponse:
        """The step the draft is at now (with what went wrong, if anything), or why there is
        no draft; the session marked to take typed text while there is one."""
        turn.state.clear()
        if reply.draft is None:
            return self._ending(turn, reply)
        turn.state[WRITING] = True
        lang = turn.lang
        note = note_text(lang, reply, KAKAO_PROBLEMS)
        if reply.draft.step is Step.PREVIEW:
            return self._preview(turn, reply.draft, note, page or 0)
        return self._step(turn, reply.draft, note, page)

    def _step(self, turn: Turn, draft: Draft, note: str | None, page: int | None
              ) -> SkillResponse:
        lang, campaign = turn.lang, turn.campaign
        assert campaign is not None
        lines = [note] if note else []
        lines.append(header_text(lang, campaign, draft))
        answer = draft.answer(draft.step)
        navigation = self._navigation(turn, draft)
        replies: list[QuickReply] = []
        if draft.step in CHOICE_STEPS:
            lines.append(question_text(lang, campaign, draft))
            options, names = self._options(turn, draft, answer, page,
                                           MAX_QUICK_REPLIES - len(navigation))
            replies += options
            if names:
                lines.append(names)
        elif draft.step is Step.PHOTO:
            lines.append(t(lang, "kakao.draft.photo"))
            replies.append(self._reply(turn, draft, "kakao.draft.button.skip", SKIP))
        elif draft.step is Step.CONTACT:
            lines.append(question_text(lang, campaign, draft))
            if answer:
                lines.append(t(lang, "submission.current", value=answer))
                replies.append(self._reply(turn, draft, "submission.button.keep", KEEP))
            replies.append(self._reply(turn, draft, "submission.button.skip_contact", SKIP))
        else:
            lines.append(question_text(lang, campaign, draft))
            if answer:
                lines.append(t(lang, "submission.current",
                               value=shorten(answer, CURRENT_PREVIEW)))
                replies.append(self._reply(turn, draft, "submission.button.keep", KEEP))
        return response([output(SimpleText(text=fit_catalog("\n\n".join(lines))))],
                        replies + navigation)

    def _options(self, turn: Turn, draft: Draft, answer: str | None, page: int | None,
                 room: int) -> tuple[list[QuickReply], str | None]:
        """A choice step's options as quick replies, a page at a time when they do not all
        fit beside Back and Stop; the page holding the current answer first. Also what to
        add under the question: the page's names in full when a label had to be cut, and
        which page this is."""
        lang, campaign = turn.lang, turn.campaign
        assert campaign is not None
        values = choices(campaign, draft, draft.step)
        labels = _option_labels(lang, campaign, draft)
        size = room if len(values) <= room else room - 1  # room for "next"
        pages = max(1, -(-len(values) // size))
        if page is None:
            page = values.index(answer) // size if answer in values else 0
        page %= pages
        shown = range(page * size, min((page + 1) * size, len(values)))
        replies = []
        cut = False
        for index in shown:
            label = f"✓ {labels[index]}" if values[index] == answer else labels[index]
            cut = cut or len(label) > QUICK_REPLY_LABEL_LENGTH
            replies.append(self.controls.reply_label(
                shorten(label, QUICK_REPLY_LABEL_LENGTH),
                self._extra(draft, str(index))))
        notes = []
        if cut:
            notes.append("\n".join(f"• {html.escape(labels[index])}" for index in shown))
        if pages > 1:
            replies.append(self.controls.reply_label(
                plain(lang, "kakao.reply.next"),
                Extra(a=Act.DRAFT, k=draft.campaign_id, s=draft.step.value, o=PAGE,
                      p=(page + 1) % pages)))
            notes.append(t(lang, "kakao.draft.page", page=page + 1, pages=pages))
        return replies, "\n".join(notes) or None

    def _preview(self, turn: Turn, draft: Draft, note: str | None, part: int
                 ) -> SkillResponse:
        """The case as citizens will read it: its card, then its description a part at a
        time ("read more"), with Submit / Edit / Stop."""
        lang, campaign = turn.lang, turn.campaign
        assert campaign is not None
        case = as_case(draft)
        parts = body_parts(lang, case)
        part = min(part, len(parts) - 1)
        body = output(SimpleText(text=fit(body_part(parts, part))))
        outputs: list[Output] = [body]
        if part == 0:
            top = [note] if note else []
            card = TextCard(title=fit(case.text(lang).title, CARD_TITLE_LENGTH),
                            description=fit(case_about(lang, campaign, case),
                                            TEXT_CARD_DESCRIPTION_LENGTH))
            contact = contact_of(draft)  # the submitter's own: citizens never see it
            mine = [t(lang, "submission.preview_contact", contact=contact)] if contact else []
            outputs = [output(SimpleText(text=fit_catalog("\n\n".join(
                [*top, t(lang, "submission.preview"), *mine])))), output(card), body]
        replies = []
        if part + 1 < len(parts):
            replies.append(self.controls.reply_label(
                plain(lang, "kakao.reply.more"),
                Extra(a=Act.DRAFT, k=draft.campaign_id, s=Step.PREVIEW.value, o=PAGE,
                      p=part + 1)))
        replies += [self._reply(turn, draft, "submission.button.send", SEND),
                    self._reply(turn, draft, "submission.button.edit", EDIT),
                    self._reply(turn, draft, "submission.button.cancel", CANCEL)]
        return response(outputs, replies)

    def _edit_menu(self, turn: Turn, draft: Draft) -> SkillResponse:
        """Which field to answer again (not the photo: KakaoTalk cannot send one here)."""
        assert turn.campaign is not None
        fields = [s for s in answer_steps(turn.campaign, draft)
                  if s not in (Step.CONSENT, Step.PHOTO)]
        replies = [self._reply(turn, draft, f"submission.field.{s.value}", EDIT_PREFIX + s.value)
                   for s in fields]
        replies.append(self._reply(turn, draft, "submission.button.to_preview", HERE))
        return self.controls.say(t(turn.lang, "submission.edit_prompt"), replies)

    def _confirm_cancel(self, turn: Turn, draft: Draft) -> SkillResponse:
        return self.controls.say(t(turn.lang, "submission.confirm_cancel"), [
            # The draft's token: throws away this draft only, never one begun after it.
            self._reply(turn, draft, "submission.button.discard", discard_choice(draft)),
            self._reply(turn, draft, "submission.button.continue", HERE),
        ])

    def _ending(self, turn: Turn, reply: SubmissionReply) -> SkillResponse:
        """No draft (any more): submitted (with the reference number), or why not."""
        lang, campaign = turn.lang, turn.campaign
        assert campaign is not None
        home = self.controls.reply(turn, "kakao.reply.home", Extra(a=Act.MENU))
        mine = self.controls.reply(turn, "kakao.reply.mine", Extra(a=Act.MY_CASES))
        if reply.outcome is SubmissionOutcome.SUBMITTED and reply.case is not None:
            text = t(lang, "kakao.draft.submitted", reference=reply.case.key,
                     title=reply.case.ko.title)
            return self.controls.say(text, [mine, home])
        replies = [mine, home] if reply.outcome in (SubmissionOutcome.LIMIT_REACHED,
                                                    SubmissionOutcome.NO_DRAFT) else [home]
        return self.controls.say(ending_text(lang, campaign, reply), replies)

    # --- pieces --------------------------------------------------------------------------

    def _navigation(self, turn: Turn, draft: Draft) -> list[QuickReply]:
        assert turn.campaign is not None
        replies = []
        previous = previous_step(turn.campaign, draft)
        if previous is Step.PREVIEW:
            replies.append(self._reply(turn, draft, "submission.button.to_preview", BACK))
        elif previous is not None:
            replies.append(self._reply(turn, draft, "submission.button.back", BACK))
        replies.append(self._reply(turn, draft, "submission.button.cancel", CANCEL))
        return replies

    def _submit_reply(self, turn: Turn, writing: bool) -> QuickReply:
        assert turn.campaign is not None
        return self.controls.reply(turn, "kakao.reply.continue" if writing
                                   else "kakao.reply.submit",
                                   Extra(a=Act.SUBMIT, k=turn.campaign.id))

    def _reply(self, turn: Turn, draft: Draft, key: str, choice: str) -> QuickReply:
        label = plain(turn.lang, SHORT_LABELS.get(key, key))
        return self.controls.reply_label(shorten(label, QUICK_REPLY_LABEL_LENGTH),
                                         self._extra(draft, choice))

    @staticmethod
    def _extra(draft: Draft, choice: str) -> Extra:
        return Extra(a=Act.DRAFT, k=draft.campaign_id, s=draft.step.value, o=choice)

    @staticmethod
    def _typed_option(campaign: Campaign, draft: Draft, text: str) -> int | None:
        """The option whose label (in either language, with or without its emoji; for the
        submitter type also KakaoTalk's short words) is what was typed, or None."""
        short = tuple(_option_labels(lang, campaign, draft) for lang in ("ko", "en"))
        return typed_choice(campaign, draft, text, short)


def _option_labels(lang: str, campaign: Campaign, draft: Draft) -> list[str]:
    """A choice step's labels, the submitter types in KakaoTalk's short words."""
    if draft.step is Step.TYPE:
        return [plain(lang, f"kakao.draft.type.{value}")
                for value in choices(campaign, draft, Step.TYPE)]
    return option_labels(lang, campaign, draft, draft.step)


def _labels(key: str) -> set[str]:
    """A label in both languages, as it may be typed."""
    return typed_forms(plain("ko", key)) | typed_forms(plain("en", key))
