"""Under Telegram's flood limits no reply is lost: the real bot (`python -m bot run`, one process,
polling) against the Bot API stub, which enforces 30 messages in any rolling second and one per
chat per second (edits too: Telegram limits them as well), on either backend.

Citizens arrive faster than Telegram lets the bot answer them: CITIZENS new citizens send
/start at ARRIVALS_PER_SECOND (each /start is two messages: the menu, then the news question),
and each presses "yes" on the question once it arrives (answered by editing that message).
Meanwhile "voting is open" falls due and goes to SUBSCRIBERS other subscribers, and halfway
through, the network stalls for STALL_SECONDS (the stub holds every Bot API request, then
handles them at once).

Then: every citizen got every reply; the bot logged no ERROR and no traceback about flood
control (a 429 is waited out and retried, never an error); every subscriber got the
announcement exactly once and the broadcast is `done`.

The machinery is in tests/fault_harness.py. Run with `-s` to see the numbers of a run.
"""

from __future__ import annotations

import re
import time
from collections import Counter
from datetime import UTC, datetime, timedelta

from bot.i18n import plain, t
from handlers.telegram import callbacks as cb
from tests.fault_harness import (
    Stub,
    callback_update,
    campaign_around,
    log_problems,
    message_update,
    prepare_database,
    query,
)

CITIZENS = 240
ARRIVALS_PER_SECOND = 12.0  # /start from new citizens: 24 messages/s of answers, plus edits
CITIZEN_BASE = 880_000_000
SUBSCRIBERS = 300
SUBSCRIBER_BASE = 890_000_000
VOTING_OPENS_AFTER = 5.0  # seconds after the first /start: the announcement falls due mid-run
STALL_AT = CITIZENS / ARRIVALS_PER_SECOND / 2  # seconds after the first /start: halfway
STALL_SECONDS = 5.0
PRESS_DELAY = 1.0  # a citizen presses "yes" this long after seeing the question
# Edits count toward the stub's limits as messages do (Telegram throttles edits too).
EDITS_LIMITED = True
# From the first /start until every reply and the broadcast must be through. The work is
# ~1,050 messages and edits (480 + 240 for the citizens, 300 and the citizens who said yes
# before voting opened for the broadcast): 40 s at the pace's 26/s, plus the 5 s stall; the
# rest is room for a busy machine. A bound on the test, not a measurement.
FINISH_SECONDS = 70.0


def segments(key: str) -> list[str]:
    """The fixed parts of a catalog text (the Korean one, HTML as sent), without its
    placeholders: a sent text is that message if it holds every part, in order."""
    return [part for part in re.split(r"\{[a-z_]+\}", t("ko", key)) if part]


def is_text(text: str, key: str) -> bool:
    at = 0
    for part in segments(key):
        at = text.find(part, at)
        if at < 0:
            return False
        at += len(part)
    return True


MENU = "start.greeting"
QUESTION = "subscribe.ask"
SUBSCRIBED = "subscribe.on"  # the answer to "yes": the confirmation above the menu
ANNOUNCEMENT = "announce.voting_opens"


class Chats:
    """What the stub shows each chat received, kept up to date from /_stub/sent?after=N."""

    def __init__(self, stub: Stub) -> None:
        self.stub = stub
        self.seq = 0
        self.records: dict[int, list[dict]] = {}

    def refresh(self) -> list[tuple[int, dict]]:
        """Fetch what is new; returns it as (chat, record) pairs."""
        new = []
        for chat, items in self.stub.sent(after=self.seq).items():
            self.records.setdefault(chat, []).extend(items)
            new.extend((chat, item) for item in items)
            self.seq = max([self.seq, *(item["seq"] for item in items)])
        return new

    def count(self, chat: int, key: str, method: str | None = None) -> int:
        return sum(1 for item in self.records.get(chat, ())
                   if is_text(item["text"], key) and (method is None or item["method"] == method))


def test_no_reply_is_lost_under_the_flood_limits(tmp_path, database_url, processes):
    stub = processes.stub(limit=30, per_chat_interval=1.0, limit_edits=EDITS_LIMITED)
    bot = processes.bot(stub, database_url)
    t_start = time.monotonic()
    startup = bot.start()
    citizens = [CITIZEN_BASE + i for i in range(CITIZENS)]
    subscribers = [SUBSCRIBER_BASE + i for i in range(SUBSCRIBERS)]
    # Loaded once the bot runs (it reads the campaign and the plan from the database), so
    # the announcement falls due at a known moment of the run, not at the bot's start-up.
    prepared = prepare_database(database_url, campaign_around(
        datetime.now(UTC), timedelta(seconds=1.5 + VOTING_OPENS_AFTER)), subscribers)
    time.sleep(1.5)  # the bot's campaign cache lasts 1 s
    yes = cb.encode(cb.Subscribe(prepared.campaign_id, True))
    question_plain = plain("ko", QUESTION)

    chats = Chats(stub)
    t0 = time.monotonic()  # the first /start
    arrived: dict[int, float] = {}  # citizen -> when their /start was queued
    presses: dict[int, tuple[float, int]] = {}  # citizen -> (when to press, question's id)
    pressed: dict[int, float] = {}
    stalled = False
    broadcast_done = False
    next_db_check = 0.0
    citizen_set = set(citizens)

    def complete() -> bool:
        return (broadcast_done and len(pressed) == CITIZENS
                and all(chats.count(c, MENU, "sendMessage") and chats.count(c, QUESTION)
                        and chats.count(c, SUBSCRIBED) for c in citizens)
                and all(chats.count(s, ANNOUNCEMENT) for s in subscribers))

    while True:
        now = time.monotonic()
        due = [c for i, c in enumerate(citizens)
               if c not in arrived and now - t0 >= i / ARRIVALS_PER_SECOND]
        if due:
            stub.enqueue([message_update(c, "/start") for c in due])
            arrived.update((c, now) for c in due)
        if not stalled and now - t0 >= STALL_AT:
            stub.stall(STALL_SECONDS)
            stalled = True
        for chat, item in chats.refresh():
            if (chat in citizen_set and chat not in presses and item["method"] == "sendMessage"
                    and is_text(item["text"], QUESTION)):
                presses[chat] = (now + PRESS_DELAY, item["message_id"])
        ready = [c for c, (when, _) in presses.items() if c not in pressed and now >= when]
        if ready:
            stub.enqueue([callback_update(c, yes, message_id=presses[c][1], text=question_plain)
                          for c in ready])
            pressed.update((c, now) for c in ready)
        if now >= next_db_check:
            rows = query(database_url, "SELECT status FROM broadcasts "
                                       "WHERE kind = 'voting_opens'")
            broadcast_done = bool(rows) and all(status == "done" for (status,) in rows)
            next_db_check = now + 1.0
        if complete() or now - t0 > FINISH_SECONDS:
            break
        time.sleep(0.1)
    finished = time.monotonic() - t0
    time.sleep(0.5)
    chats.refresh()
    stats = stub.stats()
    log = bot.log_text()

    # -- what happened ---------------------------------------------------------------------
    # The menu is a message of its own (the answer to "yes" shows it again, in an edit).
    missing = {key: [c for c in citizens if not chats.count(c, key, method)]
               for key, method in ((MENU, "sendMessage"), (QUESTION, "sendMessage"),
                                   (SUBSCRIBED, None))}
    errors_shown = [c for c in citizens if chats.count(c, "error")]
    not_pressed = [c for c in citizens if c not in pressed]
    active = {int(external) for external, in query(
        database_url, "SELECT c.external_id FROM subscriptions s JOIN citizens c "
                      "ON c.id = s.citizen_id WHERE s.campaign_id = ? AND s.active = ?",
        prepared.campaign_id, True)}
    not_subscribed = sorted(c for c in citizens if c in pressed and c not in active)
    broadcasts = query(database_url, "SELECT id, status FROM broadcasts "
                                     "WHERE kind = 'voting_opens' ORDER BY id")
    deliveries = query(database_url, "SELECT d.address, d.status FROM deliveries d JOIN "
                                     "broadcasts b ON b.id = d.broadcast_id "
                                     "WHERE b.kind = 'voting_opens'")
    delivery_status = Counter(status for _, status in deliveries)
    addresses = Counter(int(address) for address, _ in deliveries)
    announced = Counter({chat: chats.count(chat, ANNOUNCEMENT, "sendMessage")
                         for chat in chats.records})
    twice = {c: n for c, n in announced.items() if n > 1}
    unannounced = [a for a in addresses if not announced[a]]
    problems_in_log = log_problems(log)
    latencies = sorted(
        next(i["time"] for i in chats.records[c]
             if i["method"] == "sendMessage" and is_text(i["text"], MENU)) - arrived[c]
        for c in citizens if chats.count(c, MENU, "sendMessage"))
    p = (lambda q: f"{latencies[int(q * (len(latencies) - 1))]:.1f} s") if latencies else (
        lambda q: "-")
    print(f"\nflood: {CITIZENS} citizens at {ARRIVALS_PER_SECOND}/s, {SUBSCRIBERS} subscribers, "
          f"stall {STALL_SECONDS} s at {STALL_AT:.0f} s; bot up in {startup:.1f} s; "
          f"{'complete' if complete() else 'gave up'} after {finished:.1f} s "
          f"(test {time.monotonic() - t_start:.0f} s); citizens without the menu "
          f"{len(missing[MENU])}, without the question {len(missing[QUESTION])}, without the "
          f"answer to their press {len(missing[SUBSCRIBED])} (never pressed: "
          f"{len(not_pressed)}), shown the error text {len(errors_shown)}; /start to menu p50 "
          f"{p(0.5)}, p99 {p(0.99)}; broadcasts {broadcasts}, deliveries "
          f"{dict(delivery_status)}, announced twice {len(twice)}, not announced "
          f"{len(unannounced)}; stub: 429s overall {stats['rejected_429_global']}, per chat "
          f"{stats['rejected_429_chat']} (edits {stats['rejected_429_edits']}), most "
          f"sendMessage seen in a rolling second {stats['max_attempted_in_window']}, held by "
          f"the stall {stats['stall']['held']}, answers nobody waited for "
          f"{stats['abandoned']}; log: {len(problems_in_log)} ERROR record(s) or flood "
          f"tracebacks")

    problems = []
    for key, chats_missing in missing.items():
        if chats_missing:
            problems.append(f"{len(chats_missing)} of {CITIZENS} citizens never got the "
                            f"{key!r} reply, e.g. {chats_missing[:5]}")
    if not_pressed:
        problems.append(f"{len(not_pressed)} citizens never got the question, so never "
                        "pressed 'yes'")
    if not_subscribed:
        problems.append(f"{len(not_subscribed)} citizens pressed 'yes' but are not "
                        f"subscribed, e.g. {not_subscribed[:5]}")
    if problems_in_log:
        problems.append(f"the bot's log has {len(problems_in_log)} ERROR record(s) or "
                        f"flood-control traceback(s); the first:\n{problems_in_log[0]}")
    if len(broadcasts) != 1 or broadcasts[0][1] != "done":
        problems.append(f"'voting_opens' broadcasts {broadcasts}; expected one, done")
    # A send that timed out in the stall is `uncertain` (never sent again); the stub handles it
    # all the same, so its recipient still gets the announcement once (checked below).
    if set(delivery_status) - {"sent", "uncertain"}:
        problems.append(f"deliveries by status {dict(delivery_status)}; expected all sent "
                        "(or uncertain, for a send that timed out in the stall)")
    if not set(subscribers) <= set(addresses):
        problems.append(f"{len(set(subscribers) - set(addresses))} subscribers have no "
                        "delivery")
    if twice:
        problems.append(f"{len(twice)} chats got the announcement more than once, e.g. "
                        f"{dict(list(twice.items())[:5])}")
    if unannounced:
        problems.append(f"{len(unannounced)} recipients never got the announcement, e.g. "
                        f"{unannounced[:5]}")
    strays = [c for c, n in announced.items() if n and c not in addresses]
    if strays:
        problems.append(f"the announcement went to {len(strays)} chats with no delivery")
    assert not problems, ("\n".join(f"- {p}" for p in problems)
                          + f"\n\nthe bot's log (tail):\n{bot.log()}")
