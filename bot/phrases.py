"""Texts composed from the campaign and the catalogs that every channel shows the same way:
where the campaign stands, an announcement, why a vote was refused. Telegram-style HTML, as
the catalogs are; a channel without HTML turns them into plain text (bot.text.plain_text)."""

from __future__ import annotations

from datetime import datetime

from bot.domain import AnnouncementKind, Campaign, PhaseName, VoteOutcome
from bot.i18n import format_when, plain, t


def when(campaign: Campaign, instant: datetime, lang: str) -> str:
    return format_when(instant, campaign.timezone, lang)


def phase_status_text(lang: str, campaign: Campaign, now: datetime) -> str:
    moment = campaign.moment(now)
    if moment.current is not None and moment.current.end is not None:
        return t(lang, f"phase.open_{moment.current.name.value}",
                 end=when(campaign, moment.current.end, lang))
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
    return t(lang, "vote.unknown_case")
