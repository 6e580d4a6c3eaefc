"""Fault tests (issue 7): the real bot (`python -m bot run`) as a subprocess against the local
Bot API stub (bench/telegram_stub.py), killed with SIGKILL in the middle of a vote burst and of
a broadcast, then restarted on the same database (the test run's backend: SQLite, or
PostgreSQL with CHAMYEO_TEST_DATABASE_URL). Each test takes seconds, not minutes; the machinery
is in tests/fault_harness.py. Run with `-s` to see the numbers of each run."""

from __future__ import annotations

import time
from collections import Counter
from datetime import UTC, datetime, timedelta

import httpx

from bench.telegram_stub import TelegramStub
from bot.domain import NO_VOTES
from bot.services.broadcasts import WORKERS
from handlers.telegram import callbacks as cb
from tests.databases import query
from tests.fault_harness import (
    Stub,
    callback_update,
    campaign_around,
    poll,
    prepare_database,
    receipts_by_chat,
)

VOTERS = 150
VOTER_BASE = 810_000_000  # chat (= user) id of voter i
BURST = 8  # presses every 0.1 s: faster than the bot answers (PTB paces replies at 30/s)
AHEAD = 40  # presses fed at most ahead of the receipts shown: a backlog, whatever the machine
SUBSCRIBERS = 300
SUBSCRIBER_BASE = 820_000_000


def _idle(stub: Stub, presses: dict[str, int], chats: set[int]) -> bool:
    """The restarted bot has handled every press it took (`presses`: callback query id ->
    chat): each is answered and its chat shows a receipt. (Counting edits is not enough: a
    press on a message that already shows the receipt rightly edits nothing.)"""
    stats = stub.stats()
    if stats["updates"]["pending"] or not set(presses) <= set(stats["answered_queries"]):
        return False
    return set(presses.values()) <= set(receipts_by_chat(stub.sent(), chats))


async def test_stub_keeps_updates_until_confirmed():
    """The stub's getUpdates, as the fault tests rely on it: an update stays until a later call
    confirms it with a higher offset, so a bot that dies before confirming gets it again."""
    async with TelegramStub() as stub, httpx.AsyncClient() as client:
        api = f"{stub.base_url}123:abc"

        async def get_updates(**params) -> list[int]:
            answer = (await client.post(f"{api}/getUpdates", json=params)).json()
            return [u["update_id"] for u in answer["result"]]

        queued = await client.post(f"http://127.0.0.1:{stub.port}/_stub/updates",
                                   json=[callback_update(1, "m"), callback_update(2, "m")])
        assert queued.json()["update_ids"] == [1, 2]
        assert await get_updates(timeout=0) == [1, 2]
        assert await get_updates(timeout=0) == [1, 2]  # not confirmed: handed out again
        assert await get_updates(offset=2, limit=5) == [2]
        assert await get_updates(offset=3, timeout=0.1) == []  # waits at most 0.1 s
        stub.enqueue([callback_update(3, "m")])
        assert await get_updates(offset=3, timeout=10) == [3]
        edited = (await client.post(f"{api}/editMessageText", json={
            "chat_id": 3, "message_id": 9, "text": "<b>x</b>", "parse_mode": "HTML"})).json()
        assert edited["result"]["message_id"] == 9 and edited["result"]["text"] == "x"
        assert (await client.post(f"{api}/answerCallbackQuery",
                                  json={"callback_query_id": "3-0"})).json()["result"] is True
        sent = (await client.get(f"http://127.0.0.1:{stub.port}/_stub/sent")).json()
        assert sent["chats"]["3"][0]["text"] == "<b>x</b>"
        updates = stub.stats()["updates"]
        assert (updates["queued"], updates["pending"], updates["handed_out_again"]) == (3, 1, 3)


def test_crash_during_vote_burst(database_url, processes):
    """A burst of vote confirmations, the bot killed with SIGKILL midway and restarted.

    VOTERS citizens each press "confirm" (the `y:` callback of ConfirmVote), fed to the bot
    through getUpdates at up to 80 presses/s, faster than it answers (a backlog of up to AHEAD
    presses). When a third of them have been shown a receipt, the bot is killed; the presses
    of the others keep arriving while it is down (the stub holds them, and hands out again any
    update the dead bot took without confirming it). After the restart, a citizen who never got
    an answer presses again, as a person would (PTB confirms updates as it fetches them, so
    those it fetched but had not handled are lost at a kill).

    Then: every receipt a citizen was shown is that citizen's vote in the database; nobody has
    two votes; the votes are as many as the citizens who voted; and everyone ended with one.
    """
    # A 100 ms round trip to Telegram: a vote can be on disk and its receipt on the way.
    stub = processes.stub(latency_ms=100)
    prepared = prepare_database(database_url, campaign_around(datetime.now(UTC),
                                                          timedelta(hours=-1)))
    voters = [VOTER_BASE + i for i in range(VOTERS)]
    chats = set(voters)
    press = {
        user: cb.encode(cb.ConfirmVote(prepared.campaign_id,
                                       prepared.case_ids[i % len(prepared.case_ids)],
                                       cb.ListState(), NO_VOTES))
        for i, user in enumerate(voters)
    }
    bot = processes.bot(stub, database_url)
    t0 = time.monotonic()
    startup = [bot.start()]
    enqueued: dict[int, tuple[str, int]] = {}  # update id -> (callback query id, chat)

    def feed(users: list[int], round_: int = 0) -> None:
        updates = [callback_update(u, press[u], press=round_) for u in users]
        for update_id, update in zip(stub.enqueue(updates), updates, strict=True):
            query_ = update["callback_query"]
            enqueued[update_id] = (query_["id"], query_["from"]["id"])

    # The burst: BURST presses every 0.1 s, at most AHEAD ahead of the receipts shown;
    # SIGKILL once a third have their receipt.
    fed = 0
    kill_after = VOTERS // 3
    deadline = time.monotonic() + 40
    while True:
        confirmed = len(receipts_by_chat(stub.sent(), chats))
        if confirmed >= kill_after:
            break
        if fed < VOTERS and fed - confirmed < AHEAD:
            feed(voters[fed:fed + BURST])
            fed = min(fed + BURST, VOTERS)
        assert time.monotonic() < deadline, f"no {kill_after} receipts in time\n{bot.log()}"
        time.sleep(0.1)
    bot.kill()
    killed_at = time.monotonic() - t0
    # What the dead bot had sent is still handled (its last offset confirms updates): settle.
    poll(lambda: stub.stats()["in_flight"] == 0, 10, "the dead bot's requests to be handled")
    at_kill = stub.stats()
    receipts_at_kill = receipts_by_chat(stub.sent(), chats)
    votes_at_kill = dict(query(database_url, "SELECT c.external_id, v.receipt FROM votes v "
                                             "JOIN citizens c ON c.id = v.citizen_id"))
    assert 0 < len(receipts_at_kill) < VOTERS, "the kill must land in the middle of the burst"
    # Nothing a citizen was shown is missing, even before the restart.
    for chat, codes in receipts_at_kill.items():
        assert set(codes) == {votes_at_kill.get(str(chat))}, chat

    # The presses the restarted bot will take: those the dead one had not confirmed (the
    # stub confirms in order: the last ones), and all that come from now on.
    unconfirmed = sorted(enqueued)[len(enqueued) - at_kill["updates"]["pending"]:]
    first_after = max(enqueued) + 1
    feed(voters[fed:])  # still pressing while the bot is down
    fed_while_down = VOTERS - fed

    startup.append(bot.start())
    pressed_again = 0

    def wait_idle() -> None:
        taken = dict(enqueued[i] for i in enqueued if i in unconfirmed or i >= first_after)
        poll(lambda: _idle(stub, taken, chats), 40,
             "the restarted bot to answer every update it took", on_timeout=bot.log)

    for round_ in range(1, 4):  # press again, up to three times, until everyone has an answer
        wait_idle()
        missing = sorted(chats - set(receipts_by_chat(stub.sent(), chats)))
        if not missing:
            break
        pressed_again += len(missing)
        feed(missing, round_)
    else:
        wait_idle()
    exit_code = bot.stop()
    total = time.monotonic() - t0

    shown = receipts_by_chat(stub.sent(), chats)
    rows = query(database_url, "SELECT c.external_id, v.receipt, v.case_id FROM votes v "
                               "JOIN citizens c ON c.id = v.citizen_id "
                               "WHERE v.campaign_id = ?", prepared.campaign_id)
    per_citizen = Counter(external for external, _, _ in rows)
    receipt_of = {int(external): receipt for external, receipt, _ in rows}
    final = stub.stats()
    print(f"\nvote burst: {VOTERS} voters; startup {startup[0]:.1f} s / {startup[1]:.1f} s; "
          f"killed at {killed_at:.1f} s with {len(receipts_at_kill)} receipts shown and "
          f"{len(votes_at_kill)} votes on disk ({len(votes_at_kill) - len(receipts_at_kill)} "
          f"committed but not yet confirmed); {fed_while_down} pressed while down; "
          f"{final['updates']['handed_out_again']} update(s) handed out again; "
          f"{pressed_again} pressed again after the restart; total {total:.1f} s; "
          f"exit {exit_code}")

    twice = {c: n for c, n in per_citizen.items() if n > 1}
    assert not twice, f"citizens with more than one vote: {twice}"
    assert len(rows) == len(per_citizen), "votes must equal the citizens who voted"
    for chat, codes in shown.items():
        assert chat in receipt_of, f"chat {chat} was shown {codes} but has no vote"
        assert set(codes) == {receipt_of[chat]}, (
            f"chat {chat} was shown {codes}; its vote has receipt {receipt_of[chat]}")
    assert set(shown) == chats, f"never answered: {sorted(chats - set(shown))[:10]}"
    assert set(receipt_of) == chats
    assert all(int(case) == prepared.case_ids[(int(ext) - VOTER_BASE) % len(prepared.case_ids)]
               for ext, _, case in rows), "a vote went to another case than the one pressed"


def test_crash_during_broadcast(database_url, processes):
    """The "voting is open" broadcast to SUBSCRIBERS, the bot killed with SIGKILL midway and
    restarted: the broadcaster resumes it at start-up (Broadcaster.resume).

    The issue asks that every subscriber receive exactly one message. Telegram offers no
    idempotency key, so the design is at-most-once for the few messages in flight at a crash:
    each delivery is claimed ("sending", committed) before its sendMessage, and after a crash
    a claimed delivery is marked `uncertain` and never sent again (it may or may not have
    arrived). So: nobody gets the announcement twice; every subscriber whose delivery is not
    `uncertain` gets it exactly once; the uncertain ones are at most the broadcaster's worker
    count (WORKERS) and each got it at most once.

    The stub enforces Telegram's 30 messages/s overall and 1/s per chat.
    """
    stub = processes.stub()
    subscribers = [SUBSCRIBER_BASE + i for i in range(SUBSCRIBERS)]
    # Voting (and its announcement) opens about 2 s after the bot is up.
    prepare_database(database_url, campaign_around(datetime.now(UTC), timedelta(seconds=3)),
                     subscribers)
    bot = processes.bot(stub, database_url)
    t0 = time.monotonic()
    startup = [bot.start()]

    def accepted() -> int:
        per_chat = stub.stats()["accepted_per_chat"]
        return sum(n for chat, n in per_chat.items() if int(chat) >= SUBSCRIBER_BASE)

    first = poll(accepted, 30, "the broadcast to start", on_timeout=bot.log)
    broadcast_started = time.monotonic() - t0
    poll(lambda: accepted() >= SUBSCRIBERS // 3, 30, "a third of the broadcast",
         on_timeout=bot.log)
    bot.kill()
    killed_at = time.monotonic() - t0
    sent_at_kill = accepted()
    [(broadcast_id,)] = query(database_url,
                              "SELECT id FROM broadcasts WHERE kind = 'voting_opens'")
    in_flight = query(database_url, "SELECT address FROM deliveries WHERE broadcast_id = ? "
                                    "AND status = 'sending'", broadcast_id)
    assert 0 < sent_at_kill < SUBSCRIBERS, "the kill must land in the middle of the broadcast"

    startup.append(bot.start())
    poll(lambda: query(database_url, "SELECT status FROM broadcasts WHERE id = ?",
                       broadcast_id) == [("done",)],
         60, "the resumed broadcast to finish", on_timeout=bot.log)
    exit_code = bot.stop()
    total = time.monotonic() - t0

    stats = stub.stats()
    received = Counter({int(chat): n for chat, n in stats["accepted_per_chat"].items()})
    status_of = dict(query(database_url, "SELECT address, status FROM deliveries "
                                         "WHERE broadcast_id = ?", broadcast_id))
    uncertain = sorted(int(a) for a, s in status_of.items() if s == "uncertain")
    print(f"\nbroadcast: {SUBSCRIBERS} subscribers; startup {startup[0]:.1f} s / "
          f"{startup[1]:.1f} s; first message at {broadcast_started:.1f} s; killed at "
          f"{killed_at:.1f} s after {sent_at_kill} messages ({first} seen at the first look); "
          f"{len(in_flight)} in flight at the kill, {len(uncertain)} uncertain, of which "
          f"{sum(received[c] for c in uncertain)} had arrived; 429s from the stub "
          f"{stats['rejected_429']}; total {total:.1f} s; exit {exit_code}")

    assert sorted(int(a) for a in status_of) == subscribers, "one delivery per subscriber"
    twice = {c: n for c, n in received.items() if n > 1}
    assert not twice, f"subscribers who received the announcement more than once: {twice}"
    # Those claimed when the bot died (a send that timed out would be uncertain too).
    assert {int(a) for (a,) in in_flight} <= set(uncertain)
    assert len(uncertain) <= WORKERS
    assert all(received[c] <= 1 for c in uncertain)
    not_uncertain = [c for c in subscribers if status_of[str(c)] != "uncertain"]
    assert {status_of[str(c)] for c in not_uncertain} == {"sent"}
    lost = [c for c in not_uncertain if received[c] != 1]
    assert not lost, f"marked sent but received {[(c, received[c]) for c in lost[:10]]}"
    assert set(received) <= set(subscribers), "messages to chats that are not subscribers"
