"""Case submission by chat (/submit, the menu button, /mycases, /cancel).

The draft itself, step included, is stored by the SubmissionService at every answer. While a
citizen is writing one, their chat session (kept in the database, see processor.py) is marked
WRITING, and their typed messages and photos come here; the service checks each against the
stored draft. A command or another button leaves the draft waiting: typed text is not taken
for an answer until the citizen presses a button of the draft or sends /submit again."""

from __future__ import annotations

from telegram import Update
from telegram.ext import (
    Application,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

from bot.drafts import (
    BACK,
    CANCEL,
    EDIT,
    EDIT_PREFIX,
    HERE,
    KEEP,
    SEND,
    SKIP,
    Step,
    discard_token,
    is_discard,
)
from bot.i18n import plain
from bot.services.staff import actor
from bot.services.submissions import SubmissionOutcome, SubmissionReply, WithdrawOutcome
from bot.submission_texts import note_text, typed_choice
from bot.text import shorten
from handlers.telegram import callbacks as cb
from handlers.telegram import submission_views as sv
from handlers.telegram import views
from handlers.telegram.browse import SEARCHES, clear_keeping_searches
from handlers.telegram.common import (
    CHANNEL,
    PRIVATE,
    TELEGRAM_PHOTO,
    Turn,
    begin_turn,
    send_case_photo,
    show,
)

WRITING = "writing_case"  # session mark: typed messages answer the draft's step
CAPTION_LIMIT = 1024
STATES = [step.value for step in Step]
DRAFT_PATTERN = rf"^{cb.DRAFT_CODE}:"
START_PATTERN = r"^sb:"


class _Writing(filters.MessageFilter):
    """The citizen is writing a case and nothing else waits for their next message: no search
    word, no staff answer, and they have not gone elsewhere (a command or another button)
    since the last step."""

    def __init__(self, application: Application) -> None:
        super().__init__(name="writing_a_case")
        self.application = application

    def filter(self, message) -> bool:
        user = message.from_user
        if user is None:
            return False
        waiting = {key for key in self.application.user_data.get(user.id, {})
                   # "_" keys are bookkeeping, the recent searches no answer awaited
                   if not key.startswith("_") and key != SEARCHES}
        return waiting == {WRITING}


def _mark(context: ContextTypes.DEFAULT_TYPE, draft) -> None:
    """Route the citizen's next typed message to the draft (if there is one), nothing else."""
    clear_keeping_searches(context.user_data)
    if draft is not None:
        context.user_data[WRITING] = True


async def _mark_stored(context: ContextTypes.DEFAULT_TYPE, turn: Turn) -> None:
    _mark(context, await turn.services.submissions.draft_of(turn.citizen))


async def respond(update: Update, context: ContextTypes.DEFAULT_TYPE, turn: Turn,
                  reply: SubmissionReply) -> None:
    """Show the step the draft is at now (with what went wrong, if anything), or why there is
    no draft."""
    lang, campaign = turn.language, turn.campaign
    _mark(context, reply.draft)
    if reply.draft is None:
        await show(update, sv.ending(lang, campaign, reply))
        return
    note = note_text(lang, reply)
    draft = reply.draft
    photo = draft.answer(Step.PHOTO)
    new_message = False
    if draft.step is Step.PREVIEW and photo and photo.startswith(TELEGRAM_PHOTO):
        # The photo above the card, as citizens will see it; then the card as a new message.
        caption = shorten(draft.answer(Step.TITLE) or "", CAPTION_LIMIT)
        new_message = await send_case_photo(update, photo, caption)
    screens = sv.step_screens(lang, campaign, draft, turn.services.clock.now(),
                              context.bot.username, note)
    for number, screen in enumerate(screens):
        await show(update, screen, new_message=new_message or number > 0)


async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/submit or the menu button: begin a case, or go back to the one under way."""
    clear_keeping_searches(context.user_data)
    turn = await begin_turn(update, context)
    query = update.callback_query
    if query is not None:
        action = cb.decode(query.data)
        if turn.campaign is None or not isinstance(action, cb.StartSubmission) \
                or action.campaign_id != turn.campaign.id:
            await query.answer(plain(turn.language, "expired"), show_alert=True)
            await _mark_stored(context, turn)
            return
        await query.answer()
    if turn.campaign is None:
        await show(update, views.main_menu(turn.language, None, turn.services.clock.now()))
        return
    reply = await turn.services.submissions.start(turn.campaign, turn.citizen)
    await respond(update, context, turn, reply)


async def on_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Any button of a step. The data is checked for the campaign and the step; the service
    checks it again against the stored draft."""
    clear_keeping_searches(context.user_data)
    query = update.callback_query
    turn = await begin_turn(update, context)
    action = cb.decode(query.data)
    step = Step(action.step) if isinstance(action, cb.DraftButton) \
        and action.step in STATES else None
    if step is None or turn.campaign is None or action.campaign_id != turn.campaign.id:
        await query.answer(plain(turn.language, "expired"), show_alert=True)
        await _mark_stored(context, turn)
        return
    submissions, campaign, citizen = turn.services.submissions, turn.campaign, turn.citizen
    choice = action.choice
    if choice.isdigit() and len(choice) < 4:
        reply = await submissions.choose(campaign, citizen, step, int(choice))
    elif choice == BACK:
        reply = await submissions.back(campaign, citizen, step)
    elif choice == KEEP:
        reply = await submissions.keep(campaign, citizen, step)
    elif choice == SKIP:
        reply = await submissions.skip(campaign, citizen, step)
    elif choice == SEND:
        reply = await submissions.submit(campaign, citizen, actor(CHANNEL, citizen.external_id))
    elif is_discard(choice):  # only the draft the confirmation was made for, at its step
        reply = await submissions.discard(campaign, citizen, step, discard_token(choice))
    elif choice.startswith(EDIT_PREFIX) and choice.removeprefix(EDIT_PREFIX) in STATES:
        field = Step(choice.removeprefix(EDIT_PREFIX))
        reply = await submissions.edit(campaign, citizen, field)
    elif choice in (EDIT, CANCEL, HERE):
        reply = await submissions.current(campaign, citizen, step)
        if reply.outcome is SubmissionOutcome.STEP and choice != HERE:
            screen = (sv.edit_menu(turn.language, campaign, reply.draft) if choice == EDIT
                      else sv.confirm_cancel(turn.language, reply.draft))
            await query.answer()
            await show(update, screen)
            _mark(context, reply.draft)
            return
    else:
        reply = await submissions.current(campaign, citizen, None)
        reply = SubmissionReply(SubmissionOutcome.STALE, reply.draft) if reply.draft else reply
    if reply.outcome is SubmissionOutcome.NO_DRAFT:
        # A second tap on Submit or Discard: leave the message (the reference) as it is.
        await query.answer(plain(turn.language, "submission.no_draft"), show_alert=True)
        return
    await query.answer()
    await respond(update, context, turn, reply)


async def on_text(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    turn = await begin_turn(update, context)
    if turn.campaign is None:
        await _mark_stored(context, turn)
        return
    campaign, text = turn.campaign, update.effective_message.text
    reply = await turn.services.submissions.type_text(
        campaign, turn.citizen, text, lambda draft: typed_choice(campaign, draft, text))
    await respond(update, context, turn, reply)


async def on_photo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    turn = await begin_turn(update, context)
    if turn.campaign is None:
        await _mark_stored(context, turn)
        return
    largest = update.effective_message.photo[-1]  # Telegram lists the sizes, smallest first
    reply = await turn.services.submissions.attach_photo(
        turn.campaign, turn.citizen, TELEGRAM_PHOTO + largest.file_id)
    await respond(update, context, turn, reply)


async def on_other(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A file, sticker, voice message...: say what this step needs instead."""
    turn = await begin_turn(update, context)
    if turn.campaign is None:
        await _mark_stored(context, turn)
        return
    reply = await turn.services.submissions.wrong_kind(turn.campaign, turn.citizen)
    await respond(update, context, turn, reply)


async def cancel_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    clear_keeping_searches(context.user_data)
    turn = await begin_turn(update, context)
    reply = await turn.services.submissions.cancel(turn.campaign, turn.citizen)
    if turn.campaign is None:
        await show(update, views.main_menu(turn.language, None, turn.services.clock.now()))
        return
    await respond(update, context, turn, reply)


async def my_cases_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    await my_cases(update, await begin_turn(update, context))


async def my_cases(update: Update, turn: Turn) -> None:
    if turn.campaign is None:
        await show(update, views.main_menu(turn.language, None, turn.services.clock.now()))
        return
    submissions = turn.services.submissions
    mine = await submissions.mine(turn.campaign, turn.citizen)
    draft = await submissions.draft_of(turn.citizen)
    open_now = submissions.is_open(turn.campaign)
    await show(update, sv.my_cases(turn.language, turn.campaign, mine, draft, open_now))


async def open_mine(update: Update, turn: Turn, case_id: int) -> None:
    """One of the citizen's own cases, in full (a forged id, or someone else's: not found)."""
    assert turn.campaign is not None
    item = await turn.services.submissions.one_of_mine(turn.campaign, turn.citizen, case_id)
    await show(update, sv.my_case(turn.language, turn.campaign, item))


async def withdraw(update: Update, turn: Turn, case_id: int, confirmed: bool) -> None:
    """Withdraw a pending case: first "are you sure?", then the service decides (only while
    it still waits for moderation)."""
    lang, campaign = turn.language, turn.campaign
    assert campaign is not None
    submissions = turn.services.submissions
    if not confirmed:
        item = await submissions.one_of_mine(campaign, turn.citizen, case_id)
        if item is None or not item.withdrawable:
            await show(update, sv.my_case(lang, campaign, item, refused=item is not None))
            return
        await show(update, sv.confirm_withdraw(lang, campaign, item))
        return
    result = await submissions.withdraw(campaign, turn.citizen, case_id,
                                        actor(CHANNEL, turn.citizen.external_id))
    if result.outcome is WithdrawOutcome.WITHDRAWN:
        await show(update, sv.withdrawn(lang, campaign, result.item))
        return
    await show(update, sv.my_case(lang, campaign, result.item,
                                  refused=result.outcome is WithdrawOutcome.NOT_PENDING))


def register(application: Application) -> None:
    writing = _Writing(application)
    for handler in (
        CommandHandler("submit", start, filters=PRIVATE),
        CallbackQueryHandler(start, pattern=START_PATTERN),
        CallbackQueryHandler(on_button, pattern=DRAFT_PATTERN),
        MessageHandler(PRIVATE & filters.TEXT & ~filters.COMMAND & writing, on_text),
        MessageHandler(PRIVATE & filters.PHOTO & writing, on_photo),
        MessageHandler(PRIVATE & ~filters.TEXT & ~filters.PHOTO & ~filters.COMMAND & writing,
                       on_other),
        CommandHandler("cancel", cancel_command, filters=PRIVATE),
        CommandHandler("mycases", my_cases_command, filters=PRIVATE),
    ):
        application.add_handler(handler)
