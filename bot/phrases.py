"""Texts composed from the campaign and the catalogs that every channel shows the same way:
where the campaign stands, an announcement, a moderation notice, why a vote was refused.
Telegram-style HTML, as the catalogs are; a channel without HTML turns them into plain text
(bot.text.plain_text)."""

from __future__ import annotations

from datetime import datetime

from bot.domain import (
    AnnouncementKind,
    Campaign,
    CaseNotice,
    PhaseName,
    PhaseStatus,
    VoteIntent,
    VoteOutcome,
    VoteResult,
)
from bot.i18n import format_when, plain, t
from bot.services.results import RankedResult, Readiness
from bot.services.voting import HeldVote
from bot.text import shorten

RESULT_TITLE_LENGTH = 60  # one line per case on a phone


def when(campaign: Campaign, instant: datetime, lang: str) -> str:
    return format_when(instant, campaign.timezone, lang)


def phase_status_text(lang: str, campaign: Campaign, now: datetime, voted: bool = False) -> str:
    """Where the calendar stands, for the home screen; `voted`: the citizen holds a vote."""
    if campaign.results_published_at is not None:
        return t(lang, "phase.results_out")
    moment = campaign.moment(now)
    if moment.current is not None and moment.current.end is not None:
        key = f"phase.open_{moment.current.name.value}"
        if voted and moment.current.name is PhaseName.VOTING:
            key = "phase.voted_can_change" if campaign.rules.allow_change else "phase.voted"
        return t(lang, key, end=when(campaign, moment.current.end, lang))
    if moment.next is not None:
        return t(lang, "phase.next", phase=plain(lang, f"phase.name.{moment.next.name.value}"),
                 start=when(campaign, moment.next.start, lang))
    return t(lang, "phase.finished")


def announcement_text(lang: str, campaign: Campaign, kind: AnnouncementKind) -> str:
    voting = campaign.phase(PhaseName.VOTING)
    text = t(lang, f"announce.{kind.value}", title=campaign.title.get(lang),
             end=when(campaign, _phase_end(campaign, kind), lang),
             voting_start=when(campaign, voting.start, lang) if voting else "")
    awards = campaign.phase(PhaseName.AWARDS)
    if kind is AnnouncementKind.VOTING_CLOSES and awards is not None:
        text += "\n" + t(lang, "announce.awards_at", at=when(campaign, awards.start, lang))
    return text


def case_notice_text(lang: str, campaign: Campaign, notice: CaseNotice) -> str:
    """What the submitter is told of a decision on their case. Staff's reason is filled in
    escaped, so it shows exactly as typed (and comes back verbatim from plain_text)."""
    return t(lang, f"operations.moderation.notify_{notice.decision.value}",
             title=notice.title.get(lang), campaign=campaign.title.get(lang),
             reason=notice.reason or "", reference=notice.reference)


def _phase_end(campaign: Campaign, kind: AnnouncementKind) -> datetime:
    name = PhaseName.SUBMISSION if kind.value.startswith("submission") else PhaseName.VOTING
    phase = campaign.phase(name)
    if phase is None:  # results of a campaign without that phase: any date will do, unused
        return campaign.span()[1]
    return phase.end or phase.start


def vote_refusal_text(lang: str, campaign: Campaign, outcome: VoteOutcome,
                      boundary: datetime | None) -> str:
    if outcome is VoteOutcome.NOT_OPEN_YET:
        return t(lang, "vote.not_open", time=when(campaign, boundary, lang))
    if outcome is VoteOutcome.CLOSED:
        return t(lang, "vote.closed", time=when(campaign, boundary, lang))
    if outcome is VoteOutcome.ALREADY_VOTED:
        return t(lang, "vote.already")
    if outcome is VoteOutcome.NO_VOTES_LEFT:
        return t(lang, "vote.no_votes_left")
    if outcome is VoteOutcome.STALE:
        return t(lang, "vote.stale")
    return t(lang, "vote.unknown_case")


def vote_question_text(lang: str, campaign: Campaign, intent: VoteIntent,
                       votes_left: int) -> str:
    """What the confirmation step asks: vote, change the vote, or why not (SAME_CASE and
    refusals say it and ask nothing)."""
    title = intent.case.text(lang).title if intent.case else ""
    if intent.outcome is VoteOutcome.SAME_CASE:
        return t(lang, "vote.same", receipt=intent.vote.receipt)
    if intent.outcome is VoteOutcome.CHANGED:
        return t(lang, "vote.confirm_change", previous=intent.previous_case.text(lang).title,
                 title=title)
    if intent.outcome is VoteOutcome.RECORDED:
        votes = campaign.rules.votes_per_citizen
        return (t(lang, "vote.confirm", title=title) if votes == 1
                else t(lang, "vote.confirm_many", title=title, votes=votes, left=votes_left))
    return vote_refusal_text(lang, campaign, intent.outcome, intent.boundary)


def vote_result_text(lang: str, campaign: Campaign, result: VoteResult) -> str:
    if result.outcome is VoteOutcome.RECORDED:
        return t(lang, "vote.recorded", title=result.case.text(lang).title,
                 time=format_when(result.vote.cast_at, campaign.timezone, lang, seconds=True),
                 receipt=result.vote.receipt)
    if result.outcome is VoteOutcome.CHANGED:
        return t(lang, "vote.changed", previous=result.previous_case.text(lang).title,
                 title=result.case.text(lang).title,
                 time=format_when(result.vote.cast_at, campaign.timezone, lang, seconds=True),
                 receipt=result.vote.receipt)
    if result.outcome is VoteOutcome.SAME_CASE:
        return t(lang, "vote.same", receipt=result.vote.receipt)
    return vote_refusal_text(lang, campaign, result.outcome, result.boundary)


def my_votes_text(lang: str, campaign: Campaign, held: list[HeldVote]) -> str:
    if not held:
        return t(lang, "myvote.none")
    items = [
        t(lang, "myvote.item", title=h.case.text(lang).title,
          time=format_when(h.vote.cast_at, campaign.timezone, lang, seconds=True),
          receipt=h.vote.receipt)
        for h in held
    ]
    return "\n\n".join([t(lang, "myvote.header"), *items])


def schedule_text(lang: str, campaign: Campaign, now: datetime) -> str:
    icons = {PhaseStatus.UPCOMING: "⏳", PhaseStatus.OPEN: "🟢", PhaseStatus.CLOSED: "✔️"}
    lines = [t(lang, "schedule.header", title=campaign.title.get(lang)), ""]
    for phase in campaign.phases:
        status = phase.status_at(now)
        name = plain(lang, f"phase.name.{phase.name.value}")
        status_word = plain(lang, f"phase.status.{status.value}")
        if phase.name is PhaseName.AWARDS or phase.end is None:
            line = t(lang, "schedule.instant", name=name, start=when(campaign, phase.start, lang),
                     status=status_word)
        else:
            line = t(lang, "schedule.period", name=name, start=when(campaign, phase.start, lang),
                     end=when(campaign, phase.end, lang), status=status_word)
        lines.append(f"{icons[status]} {line}")
    return "\n".join(lines)


def results_lines(lang: str, campaign: Campaign, ranked: list[RankedResult]) -> list[str]:
    """The published results as lines, best first: a header, then rank, award, title and
    votes per case. A channel cuts them to its message size from the end (the top counts)."""
    lines = [t(lang, "results.citizen.header", title=campaign.title.get(lang)),
             t(lang, "results.citizen.formula", **_weights(campaign))]
    for r in ranked:
        award = f"[{r.ranked.award.name.get(lang)}] " if r.ranked.award is not None else ""
        lines.append(t(lang, "results.citizen.line", rank=r.ranked.rank, award=award,
                       title=shorten(r.case.text(lang).title, RESULT_TITLE_LENGTH),
                       votes=r.ranked.votes, judge=f"{r.ranked.judge_points:g}",
                       final=f"{r.ranked.final:.2f}"))
    return lines


def _weights(campaign: Campaign) -> dict[str, int]:
    return {"citizen": round(campaign.ranking.citizen_weight * 100),
            "judge": round(campaign.ranking.judge_weight * 100)}


def _listing(lang: str, names: list[str], shown: int = 5) -> str:
    """Up to `shown` names, then how many more."""
    text = ", ".join(names[:shown])
    if len(names) > shown:
        return plain(lang, "results.staff.more", shown=text, rest=len(names) - shown)
    return text


def readiness_lines(lang: str, campaign: Campaign, readiness: Readiness,
                    total: int) -> list[str]:
    """What is not done before publishing (cases no judge scored, judges who scored nothing,
    ties at an award's edge), one warning each; none when all is done. `total`: approved
    cases."""
    lines = []
    if readiness.unscored:
        lines.append(t(lang, "results.staff.unscored", count=len(readiness.unscored),
                       total=total))
        titles = [shorten(c.text(lang).title, 30) for c in readiness.unscored]
        lines.append(t(lang, "results.staff.unscored_titles", titles=_listing(lang, titles)))
    if readiness.idle_judges:
        lines.append(t(lang, "results.staff.idle_judges", count=len(readiness.idle_judges),
                       names=_listing(lang, list(readiness.idle_judges))))
    for tie in readiness.ties:
        lines.append(t(lang, "results.staff.tie", award=tie.award.name.get(lang),
                       inside=shorten(tie.inside.text(lang).title, 30),
                       outside=shorten(tie.outside.text(lang).title, 30),
                       final=f"{tie.final:.2f}"))
    return lines


def _award(lang: str, result: RankedResult) -> str:
    award = result.ranked.award
    return f"[{award.name.get(lang)}] " if award is not None else ""


def results_preview_lines(lang: str, campaign: Campaign, ranked: list[RankedResult],
                          readiness: Readiness | None = None) -> list[str]:
    """Staff's preview of the ranking (Telegram's /results, `chamyeo results preview`): a
    header with the weights, when it was published, what is not done yet (`readiness`), then
    rank, award, title, votes, the judges' mean and the final score per case."""
    lines = [t(lang, "results.staff.header", title=campaign.title.get(lang),
               **_weights(campaign))]
    if campaign.results_published_at is not None:
        lines.append(t(lang, "results.staff.published_note",
                       at=when(campaign, campaign.results_published_at, lang)))
    if not ranked:
        lines.append(t(lang, "results.staff.empty"))
    if readiness is not None:
        lines.extend(readiness_lines(lang, campaign, readiness, len(ranked)))
    for r in ranked:
        mean = (f"{r.ranked.judge_mean:g}" if r.ranked.judge_mean is not None
                else plain(lang, "results.staff.no_mean"))
        lines.append(t(lang, "results.staff.line", rank=r.ranked.rank, award=_award(lang, r),
                       title=shorten(r.case.text(lang).title, RESULT_TITLE_LENGTH),
                       votes=r.ranked.votes, mean=mean, judges=r.ranked.judge_count,
                       final=f"{r.ranked.final:.2f}"))
    return lines
