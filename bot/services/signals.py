"""Unusual activity in a campaign's votes, for staff to look at (in /tally and the export):
signals only; nothing is removed or changed because of them.

- NEW_ACCOUNTS: within one 10-minute window, many votes for one case from accounts first seen
  shortly before they voted (accounts made to vote).
- SHARE_SPIKE: within one busy hour, one case took an outsized share of the votes, far above
  its share over the whole campaign.

Windows are clock-aligned (10:00-10:10, 10:10-10:20 ...); each case is reported once per
signal, with its busiest window."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum

from bot.domain import Case
from storage.repositories.vote_counts import FRESH_SECONDS, WINDOW_SECONDS

# The kept vote counts hold these two: storage/repositories/vote_counts.py.
NEW_ACCOUNT_WINDOW = timedelta(seconds=WINDOW_SECONDS)  # ten minutes
NEW_ACCOUNT_AGE = timedelta(seconds=FRESH_SECONDS)  # "new": first seen < 30 min before voting
NEW_ACCOUNT_VOTES = 20  # ...this many votes for one case in one window from new accounts

SPIKE_WINDOW = timedelta(hours=1)
SPIKE_MIN_VOTES = 30  # only windows this busy: a few votes say nothing
SPIKE_SHARE = 0.6  # one case took at least this share of the window's votes,
SPIKE_RATIO = 2.0  # ...and at least this many times its share over the whole campaign


class SignalKind(Enum):
    NEW_ACCOUNTS = "new_accounts"
    SHARE_SPIKE = "share_spike"


@dataclass(frozen=True)
class Signal:
    kind: SignalKind
    case: Case
    start: datetime
    end: datetime
    votes: int  # NEW_ACCOUNTS: from new accounts; SHARE_SPIKE: for the case
    window_votes: int  # every vote in the window (NEW_ACCOUNTS: for the case)


Window = tuple[int, datetime, int, int]  # (case id, window start, votes, from new accounts)


def new_account_bursts(windows: list[Window], cases: dict[int, Case]) -> list[Signal]:
    busiest: dict[int, Signal] = {}
    for case_id, start, votes, fresh in windows:
        if fresh >= NEW_ACCOUNT_VOTES and case_id in cases and (
                case_id not in busiest or fresh > busiest[case_id].votes):
            busiest[case_id] = Signal(SignalKind.NEW_ACCOUNTS, cases[case_id], start,
                                      start + NEW_ACCOUNT_WINDOW, fresh, votes)
    return list(busiest.values())


def share_spikes(windows: list[Window], cases: dict[int, Case]) -> list[Signal]:
    per_window: dict[datetime, int] = {}
    per_case: dict[int, int] = {}
    for case_id, start, votes, _ in windows:
        per_window[start] = per_window.get(start, 0) + votes
        per_case[case_id] = per_case.get(case_id, 0) + votes
    total = sum(per_case.values())
    busiest: dict[int, Signal] = {}
    for case_id, start, votes, _ in windows:
        in_window = per_window[start]
        if in_window < SPIKE_MIN_VOTES or case_id not in cases:
            continue
        share, overall = votes / in_window, per_case[case_id] / total
        if share >= SPIKE_SHARE and share >= SPIKE_RATIO * overall and (
                case_id not in busiest or votes > busiest[case_id].votes):
            busiest[case_id] = Signal(SignalKind.SHARE_SPIKE, cases[case_id], start,
                                      start + SPIKE_WINDOW, votes, in_window)
    return list(busiest.values())


def find_signals(short: list[Window], hourly: list[Window],
                 cases: dict[int, Case]) -> tuple[Signal, ...]:
    """`short`: votes per case and NEW_ACCOUNT_WINDOW; `hourly`: per case and SPIKE_WINDOW."""
    found = new_account_bursts(short, cases) + share_spikes(hourly, cases)
    return tuple(sorted(found, key=lambda s: (s.start, s.kind.value, s.case.id)))
