"""Voting: the confirmation step, the vote itself with its receipt, and /myvote. Every press
is re-checked by the voting service (phase, case, the citizen's votes) at that moment."""

from __future__ import annotations

from telegram import Update
from telegram.ext import ContextTypes

from bot.domain import VoteOutcome
from bot.phrases import vote_refusal_text
from handlers.telegram import callbacks as cb
from handlers.telegram import identity, notify, views
from handlers.telegram.common import Turn, begin_turn, show

NEEDS_IDENTITY = (VoteOutcome.NEEDS_PHONE, VoteOutcome.NEEDS_CODE)


async def ask_vote(update: Update, context: ContextTypes.DEFAULT_TYPE, turn: Turn,
                   action: cb.AskVote | cb.ConfirmVote, stale: bool = False) -> None:
    voting = turn.services.voting
    intent = await voting.intent(turn.campaign, turn.citizen, action.case_id)
    if intent.outcome in NEEDS_IDENTITY:  # who is voting, first: then this confirmation
        await identity.ask(update, context, turn, action.case_id, intent.outcome)
        return
    if intent.case is None:
        await show(update, views.Screen(
            vote_refusal_text(turn.language, turn.campaign, intent.outcome, intent.boundary),
            [[views.home_button(turn.language)]]))
        return
    left = turn.campaign.rules.votes_per_citizen
    if turn.campaign.rules.votes_per_citizen > 1:
        left -= len(await voting.current_votes(turn.campaign, turn.citizen))
    await show(update, views.vote_confirmation(turn.language, turn.campaign, intent,
                                               action.state, left, stale=stale))


async def confirm_vote(update: Update, context: ContextTypes.DEFAULT_TYPE, turn: Turn,
                       action: cb.ConfirmVote) -> None:
    if action.votes is not None:
        result = await turn.services.voting.cast_vote(turn.campaign, turn.citizen,
                                                      action.case_id, made_for=action.votes)
        if result.outcome in NEEDS_IDENTITY:  # e.g. the account was forgotten meanwhile
            await identity.ask(update, context, turn, action.case_id, result.outcome)
            return
        if result.outcome is not VoteOutcome.STALE:
            # The vote is committed before this message is sent (see VotingService.cast_vote).
            await show(update, views.vote_result(turn.language, turn.campaign, result,
                                                 action.state))
            if result.outcome in (VoteOutcome.RECORDED, VoteOutcome.CHANGED):
                await notify.ask_if_put_off(update, context, turn)
            return
    # Made for votes the citizen no longer holds (or before buttons carried them): nothing
    # changed; ask again, for the votes as they are now.
    await ask_vote(update, context, turn, action, stale=True)


async def my_vote(update: Update, turn: Turn) -> None:
    held = []
    if turn.campaign is not None:
        held = await turn.services.voting.current_votes(turn.campaign, turn.citizen)
    await show(update, views.my_votes(turn.language, turn.campaign, held))


async def my_vote_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    await my_vote(update, await begin_turn(update, context))
