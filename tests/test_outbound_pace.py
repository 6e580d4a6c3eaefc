"""The outbound pace (bot/services/outbound.py): one lane per channel in the `outbound_pace`
table, shared by every worker. Instants are evenly spaced; a chat gets one message per
CHAT_INTERVAL (a group per GROUP_INTERVAL); a broadcast takes only the room replies leave;
flood control holds every worker; a lane booked absurdly far ahead (the clock stepped back) is
forgotten; a turn woken too late is booked again; idle chat lanes are pruned.

Two OutboundPace objects over two Database objects on one database stand for two workers.
Time is fake: `now` is a number the test moves and `sleep` moves it; nothing waits."""

from __future__ import annotations

import asyncio
import random
from collections import defaultdict

import pytest
from sqlalchemy import event

from bot.services import outbound
from bot.services.outbound import (
    BROADCAST_SLACK,
    CHAT_INTERVAL,
    FORGET_AFTER,
    GROUP_INTERVAL,
    IDLE_LANES_KEPT,
    LATE_TOLERANCE,
    LATE_TRIES,
    PER_SECOND,
    OutboundPace,
)
from storage.database import Database
from storage.repositories.pace import PaceRepository
from storage.tables import outbound_pace

INTERVAL = 1.0 / PER_SECOND
T0 = 1_733_000_000.0  # a Unix time in late 2024, as the real clock would give
EPS = 1e-4  # a lane adds 1/26 s again and again to a Unix time: float rounding


class FakeTime:
    """The wall clock of every worker in a test: `sleep` moves it on (plus `late` seconds for
    each entry of `lateness`, a busy machine waking up after its turn)."""

    def __init__(self, start: float = T0) -> None:
        self.t = start
        self.naps: list[float] = []
        self.lateness: list[float] = []

    def now(self) -> float:
        return self.t

    async def sleep(self, seconds: float) -> None:
        self.naps.append(seconds)
        late = self.lateness.pop(0) if self.lateness else 0.0
        self.t += max(seconds, 0.0) + late
        await asyncio.sleep(0)  # let the other workers run, as a real sleep would


@pytest.fixture
def fake() -> FakeTime:
    return FakeTime()


@pytest.fixture
async def other_db(database_url):
    """The same database through a second Database object: a second worker."""
    database = Database(database_url)
    yield database
    await database.dispose()


def pace_on(db: Database, fake: FakeTime, channel: str = "telegram") -> OutboundPace:
    return OutboundPace(db, channel, now=fake.now, sleep=fake.sleep)


async def lane_value(db: Database, lane: str) -> float | None:
    async with db.read() as conn:
        return await PaceRepository(conn).next_at(lane)


async def set_lane(db: Database, lane: str, next_at: float) -> None:
    async with db.write() as conn:
        await PaceRepository(conn).hold(lane, next_at)


async def sent_at(pace: OutboundPace, fake: FakeTime, chat: str | None,
                  broadcast: bool = False) -> float:
    """When a message to `chat` goes out: acquire() has waited for its turns (fake sleeps)."""
    await pace.acquire(chat, broadcast)
    return fake.t


def assert_evenly_spaced(slots: list[float], start: float) -> None:
    expected = [start + k * INTERVAL for k in range(len(slots))]
    assert slots == pytest.approx(expected, abs=EPS)


def most_in_one_second(instants: list[float]) -> int:
    """The most instants any closed one-second window holds (the fullest window starts at an
    instant)."""
    ordered = sorted(instants)
    most = 0
    for i, start in enumerate(ordered):
        j = i
        while j < len(ordered) and ordered[j] <= start + 1.0 + EPS:
            j += 1
        most = max(most, j - i)
    return most


# --- one lane, evenly spaced, across workers ----------------------------------------------


async def test_instants_on_one_lane_are_evenly_spaced(db, fake):
    pace = pace_on(db, fake)
    slots = [await pace.book(None) for _ in range(60)]
    assert_evenly_spaced(slots, T0)
    assert await lane_value(db, "telegram") == pytest.approx(T0 + 60 * INTERVAL, abs=EPS)


async def test_two_workers_booking_alternately_keep_one_pace(db, other_db, fake):
    first, second = pace_on(db, fake), pace_on(other_db, fake)
    slots = []
    for k in range(40):
        slots.append(await (first if k % 2 == 0 else second).book(None))
    assert_evenly_spaced(slots, T0)


async def test_two_workers_booking_at_once_never_share_an_instant(db, other_db, fake):
    first, second = pace_on(db, fake), pace_on(other_db, fake)
    slots = await asyncio.gather(*(
        (first if k % 2 == 0 else second).book(None) for k in range(60)))
    assert_evenly_spaced(sorted(slots), T0)


async def test_a_lane_that_went_idle_starts_from_now_not_from_its_past(db, fake):
    pace = pace_on(db, fake)
    await pace.book(None)
    fake.t += 10.0
    assert await pace.book(None) == pytest.approx(T0 + 10.0, abs=EPS)
    assert await pace.book(None) == pytest.approx(T0 + 10.0 + INTERVAL, abs=EPS)


async def test_channels_have_lanes_of_their_own(db, fake):
    telegram, kakao = pace_on(db, fake, "telegram"), pace_on(db, fake, "kakao")
    for _ in range(5):
        await telegram.book(None)
    assert await kakao.book(None) == pytest.approx(T0, abs=EPS)


async def test_no_rolling_second_ever_holds_more_than_per_second_plus_one(db, other_db, fake):
    """Two workers, messages arriving in random bursts to random chats and to none: whatever
    the arrivals, the instants they go out stay within Telegram's overall limit and each
    chat's."""
    workers = [pace_on(db, fake), pace_on(other_db, fake)]
    chats = [str(1000 + i) for i in range(12)] + ["-1001234", None]
    rng = random.Random(20241128)
    sent: list[float] = []
    by_chat: dict[str, list[float]] = defaultdict(list)
    for _ in range(400):
        if rng.random() < 0.3:
            fake.t += rng.uniform(0.0, 0.2)
        chat = rng.choice(chats)
        at = await sent_at(rng.choice(workers), fake, chat)
        sent.append(at)
        if chat is not None:
            by_chat[chat].append(at)
    assert most_in_one_second(sent) <= PER_SECOND + 1
    for chat, instants in by_chat.items():
        gap = GROUP_INTERVAL if chat.startswith("-") else CHAT_INTERVAL
        assert all(b - a >= gap - EPS for a, b in zip(instants, instants[1:], strict=False)), \
            chat


# --- one message a second per chat --------------------------------------------------------


async def test_two_messages_to_one_private_chat_are_chat_interval_apart(db, other_db, fake):
    first, second = pace_on(db, fake), pace_on(other_db, fake)
    a = await sent_at(first, fake, "1001")
    b = await sent_at(second, fake, "1001")  # the other worker: the chat's lane is shared too
    c = await sent_at(first, fake, "1001")
    assert b - a == pytest.approx(CHAT_INTERVAL, abs=EPS)
    assert c - b == pytest.approx(CHAT_INTERVAL, abs=EPS)


@pytest.mark.parametrize("group", ["-1001234567890", "-4242", "@chamyeo_news"])
async def test_two_messages_to_one_group_are_group_interval_apart(db, fake, group):
    pace = pace_on(db, fake)
    a = await sent_at(pace, fake, group)
    b = await sent_at(pace, fake, group)
    assert b - a == pytest.approx(GROUP_INTERVAL, abs=EPS)


async def test_a_chat_that_waited_long_enough_goes_at_once(db, fake):
    pace = pace_on(db, fake)
    await sent_at(pace, fake, "1001")
    fake.t += CHAT_INTERVAL + 0.5
    assert await sent_at(pace, fake, "1001") == pytest.approx(fake.t, abs=EPS)
    assert fake.naps == []


async def test_a_chat_waiting_for_its_turn_holds_up_no_other_chat(db, other_db, fake):
    """A citizen just got a message; the next one to them waits CHAT_INTERVAL for their chat.
    Meanwhile (the first worker asleep until that turn) ten other citizens' messages go out
    at the channel's pace, not behind it."""
    pace = pace_on(db, fake)
    await sent_at(pace, fake, "2000")
    gate = asyncio.Event()

    async def asleep(seconds: float) -> None:  # the first worker, waiting for the chat's turn
        await gate.wait()

    waiting = OutboundPace(db, "telegram", now=fake.now, sleep=asleep)
    second = asyncio.create_task(waiting.acquire("2000"))
    await asyncio.sleep(0.05)  # let it take the chat's turn and fall asleep
    assert not second.done()
    others = pace_on(other_db, fake)
    slots = [await others.book(str(2001 + i)) for i in range(10)]
    assert_evenly_spaced(slots, T0 + INTERVAL)
    gate.set()
    await second


async def test_two_workers_sending_the_first_messages_to_a_chat_at_once_keep_its_interval(
    db, other_db, fake
):
    """Two workers take the turn of a chat that has no lane yet (its first message, or the
    first after an idle hour) at the same moment: one atomic statement each, so the two turns
    are still CHAT_INTERVAL apart."""
    async def chat_turn(database: Database) -> float:
        async with database.write() as conn:
            turn = await PaceRepository(conn).book("telegram:3001", fake.t, CHAT_INTERVAL,
                                                   FORGET_AFTER)
        assert turn is not None
        return turn

    a, b = await asyncio.gather(chat_turn(db), chat_turn(other_db))
    assert abs(b - a) == pytest.approx(CHAT_INTERVAL, abs=EPS)


# --- broadcasts take only the room replies leave ------------------------------------------


async def test_a_broadcast_gives_way_while_replies_fill_the_lane(db, fake):
    pace = pace_on(db, fake)
    for _ in range(20):  # replies: the lane is booked 20 turns (0.77 s) ahead
        await pace.book(None)
    lane_before = await lane_value(db, "telegram")
    assert lane_before - T0 > BROADCAST_SLACK
    assert await pace.book("4001", broadcast=True) is None
    assert await pace.book(None, broadcast=True) is None
    # Nothing was booked: neither the lane nor the chat's.
    assert await lane_value(db, "telegram") == pytest.approx(lane_before, abs=EPS)
    assert await lane_value(db, "telegram:4001") is None
    # A reply still takes the next turn right after the other replies.
    assert await pace.book(None) == pytest.approx(lane_before, abs=EPS)


async def test_a_broadcast_books_when_the_lane_is_free_within_the_slack(db, fake):
    pace = pace_on(db, fake)
    assert await pace.book("4001", broadcast=True) == pytest.approx(T0, abs=EPS)  # fresh
    for _ in range(3):  # booked 4 turns (0.15 s) ahead: within the slack
        await pace.book(None)
    slot = await pace.book("4002", broadcast=True)
    assert slot == pytest.approx(T0 + 4 * INTERVAL, abs=EPS)
    assert await lane_value(db, "telegram:4002") == pytest.approx(slot + CHAT_INTERVAL, abs=EPS)


async def test_a_broadcast_succeeds_once_the_replies_have_gone_out(db, fake):
    pace = pace_on(db, fake)
    for _ in range(26):
        await pace.book(None)
    assert await pace.book(None, broadcast=True) is None
    fake.t = T0 + 26 * INTERVAL - BROADCAST_SLACK + 0.01
    assert await pace.book(None, broadcast=True) == pytest.approx(T0 + 26 * INTERVAL, abs=EPS)


async def test_a_broadcast_message_never_makes_a_reply_wait_behind_it(db, other_db, fake):
    """A citizen just got a reply; the broadcast's message to them has to wait for their chat.
    Meanwhile another citizen's reply must not wait behind that broadcast message."""
    pace = pace_on(db, fake)
    await sent_at(pace, fake, "4101")  # a reply to the first citizen
    gate = asyncio.Event()

    async def asleep(seconds: float) -> None:
        await gate.wait()

    broadcaster = OutboundPace(other_db, "telegram", now=fake.now, sleep=asleep)
    message = asyncio.create_task(broadcaster.acquire("4101", broadcast=True))
    await asyncio.sleep(0.05)
    reply_slot = await pace.book("4102")  # a reply to someone else, at once
    assert reply_slot - T0 <= 2 * INTERVAL + EPS, (
        f"a reply waits {reply_slot - T0:.2f} s behind a broadcast message")
    gate.set()
    await message


async def test_wait_for_room_sleeps_until_the_lane_is_free_within_the_slack(db, other_db, fake):
    replies, broadcaster = pace_on(db, fake), pace_on(other_db, fake)
    for _ in range(52):  # two seconds of replies booked by another worker
        await replies.book(None)
    booked = T0 + 52 * INTERVAL
    await broadcaster.wait_for_room()
    assert fake.naps, "it did not wait"
    assert fake.t >= booked - BROADCAST_SLACK - EPS
    assert fake.t <= booked - BROADCAST_SLACK + INTERVAL + EPS  # and not much longer
    assert await broadcaster.book(None, broadcast=True) is not None


async def test_wait_for_room_returns_at_once_on_a_free_lane(db, fake):
    pace = pace_on(db, fake)
    await pace.wait_for_room()
    await pace.book(None)
    await pace.wait_for_room()
    assert fake.naps == []


def pace_statements(db: Database) -> list[str]:
    """The statements on the outbound_pace table from now on."""
    seen: list[str] = []

    def on_execute(conn, cursor, statement, *rest) -> None:
        if "outbound_pace" in statement:
            seen.append(statement.split()[0].upper())

    for engine in db.sync_engines():
        event.listen(engine, "before_cursor_execute", on_execute)
    return seen


async def test_a_broadcast_waits_out_its_own_process_s_replies_without_asking_the_database(
        db, fake):
    """A broadcast's workers wait for room again and again: while this process's own
    bookings already say the lane is full, neither a read nor a booking is needed to learn it."""
    pace = pace_on(db, fake)
    for _ in range(26):  # replies: the lane booked a second ahead
        await pace.book(None)
    statements = pace_statements(db)
    assert await pace.book("4201", broadcast=True) is None
    assert statements == []  # no write to find the lane full
    await pace.wait_for_room()
    assert fake.t == pytest.approx(T0 + 26 * INTERVAL - BROADCAST_SLACK, abs=EPS)
    assert statements == ["SELECT"]  # once, when its own bookings say the lane may be free
    assert await pace.book("4201", broadcast=True) == pytest.approx(T0 + 26 * INTERVAL,
                                                                   abs=EPS)


async def test_a_broadcast_s_workers_setting_out_together_try_only_for_the_room_there_is(
        db, fake):
    """Sixteen workers of one process book at the same moment on a free lane: as many as
    the slack holds get a turn, and the others know it without a write (each booking in
    flight takes its turn in memory as it sets out)."""
    pace = pace_on(db, fake)
    statements = pace_statements(db)
    slots = await asyncio.gather(*(pace.book(str(4300 + i), broadcast=True)
                                   for i in range(16)))
    booked = [slot for slot in slots if slot is not None]
    fits = int(BROADCAST_SLACK / INTERVAL) + 1
    assert len(booked) == fits
    assert_evenly_spaced(sorted(booked), T0)
    assert statements.count("INSERT") == 2 * fits  # the lane's and the chat's, no failed try


async def test_a_lane_moved_back_by_another_worker_is_not_waited_for_as_remembered(
        db, other_db, fake):
    """This process booked the lane a second ahead; then the clock stepped an hour back and
    another worker moved the lanes with it. What this process remembers is an hour ahead of
    the new clock: it asks the database rather than waiting an hour."""
    pace, other = pace_on(db, fake), pace_on(other_db, fake)
    for _ in range(26):
        await pace.book(None)
    fake.t -= 3600.0
    await other.shift(-3600.0)
    await pace.wait_for_room()
    assert sum(fake.naps) < 1.0
    assert await pace.book(None, broadcast=True) is not None


async def test_acquire_for_a_broadcast_waits_for_room_then_goes(db, other_db, fake):
    replies, broadcaster = pace_on(db, fake), pace_on(other_db, fake)
    for _ in range(30):
        await replies.book(None)
    await broadcaster.acquire("5001", broadcast=True)
    assert fake.t >= T0 + 30 * INTERVAL - EPS  # after every reply booked before it


# --- flood control ------------------------------------------------------------------------


async def test_hold_off_pushes_every_later_booking_past_the_hold(db, other_db, fake):
    first, second = pace_on(db, fake), pace_on(other_db, fake)
    await first.book(None)
    await first.hold_off(30.0)
    until = T0 + 30.0
    assert await second.book(None) >= until - EPS  # the other worker too
    assert await second.book("6001") >= until - EPS  # and a message to a chat
    assert await first.book(None, broadcast=True) is None  # a broadcast waits for room
    await second.wait_for_room()
    assert fake.t >= until - BROADCAST_SLACK - EPS


async def test_a_short_hold_never_pulls_a_lane_back(db, fake):
    pace = pace_on(db, fake)
    for _ in range(52):  # booked two seconds ahead
        await pace.book(None)
    await pace.hold_off(1.0)
    assert await pace.book(None) == pytest.approx(T0 + 52 * INTERVAL, abs=EPS)


async def test_a_long_hold_is_kept(db, other_db, fake):
    """Telegram can ask a flooding bot to wait minutes, even hours: the hold holds every
    worker, however long it is (FORGET_AFTER is far beyond any wait Telegram asks for)."""
    first, second = pace_on(db, fake), pace_on(other_db, fake)
    seconds = 3 * 3600.0
    assert seconds < FORGET_AFTER
    await first.hold_off(seconds)
    fake.t += 1.0
    slot = await second.book("6002")
    assert slot >= T0 + seconds - EPS, f"booked {slot - T0:.0f} s after a {seconds:.0f} s hold"


# --- the clock stepped back ----------------------------------------------------------------


async def test_a_lane_booked_beyond_forget_after_starts_again_from_now(db, fake):
    pace = pace_on(db, fake)
    fake.t = T0 + FORGET_AFTER + 3600.0  # the clock ran far ahead while these were booked...
    for _ in range(5):
        await pace.book("7001")
    fake.t = T0  # ...and was stepped back, unnoticed
    assert await pace.book(None) == pytest.approx(T0, abs=EPS)
    await pace.wait_for_room()
    assert fake.naps == []


async def test_a_noticed_clock_step_moves_every_lane_with_it(db, fake):
    pace = pace_on(db, fake)
    await pace.hold_off(120.0)  # Telegram asked for two minutes
    await pace.book("7002")
    pace_lanes = {lane: await lane_value(db, lane) for lane in ("telegram", "telegram:7002")}
    await pace.shift(-3600.0)  # the clock stepped an hour back, and the scheduler noticed
    for lane, before in pace_lanes.items():
        assert await lane_value(db, lane) == pytest.approx(before - 3600.0, abs=EPS)


async def test_a_lane_booked_ahead_within_forget_after_is_kept(db, fake):
    pace = pace_on(db, fake)
    await set_lane(db, "telegram", T0 + FORGET_AFTER - 10.0)
    assert await pace.book(None) == pytest.approx(T0 + FORGET_AFTER - 10.0, abs=EPS)


# --- a late turn is booked again ----------------------------------------------------------


def count_bookings(pace: OutboundPace, busy: OutboundPace | None = None) -> list[float | None]:
    """Record the turns `pace` books; with `busy`, another worker books ten turns before each
    (the lane stays busy, so every turn has to be slept for)."""
    booked: list[float | None] = []
    book = pace.book

    async def counting(chat, broadcast=False):
        if busy is not None:
            for _ in range(10):
                await busy.book(None)
        slot = await book(chat, broadcast)
        booked.append(slot)
        return slot

    pace.book = counting  # type: ignore[method-assign]
    return booked


async def test_a_turn_woken_late_is_booked_again(db, fake):
    pace = pace_on(db, fake)
    for _ in range(10):
        await pace.book(None)  # the lane is busy: acquire has to sleep for its turn
    booked = count_bookings(pace)
    fake.lateness = [LATE_TOLERANCE + 0.2]  # the first wake-up comes too late
    await pace.acquire(None)
    assert len(booked) == 2
    assert booked[1] > booked[0]
    assert fake.t - booked[1] <= LATE_TOLERANCE  # the second turn was kept


async def test_a_turn_slightly_late_is_kept(db, fake):
    pace = pace_on(db, fake)
    for _ in range(10):
        await pace.book(None)
    booked = count_bookings(pace)
    fake.lateness = [LATE_TOLERANCE / 2]
    await pace.acquire(None)
    assert len(booked) == 1


async def test_a_machine_always_late_books_at_most_late_tries_turns(db, other_db, fake):
    pace = pace_on(db, fake)
    booked = count_bookings(pace, busy=pace_on(other_db, fake))
    fake.lateness = [1.0] * 10
    await pace.acquire(None)
    assert len(booked) == LATE_TRIES


async def test_a_late_turn_to_a_chat_is_not_kept_waiting_for_the_turn_it_gave_up(db, fake):
    """The turn given up was never used: the chat got nothing. Its next booking may come as
    soon as the channel has one, not CHAT_INTERVAL after the abandoned one."""
    pace = pace_on(db, fake)
    for _ in range(10):
        await pace.book(None)
    booked = count_bookings(pace)
    fake.lateness = [LATE_TOLERANCE + 0.2]
    await pace.acquire("8001")
    assert len(booked) == 2
    woke = booked[0] + LATE_TOLERANCE + 0.2
    assert booked[1] - woke <= INTERVAL + EPS, (
        f"booked again {booked[1] - woke:.2f} s after waking up, on a free channel")
    # and the chat's next message is CHAT_INTERVAL after the turn it did use
    assert await lane_value(db, "telegram:8001") == pytest.approx(booked[1] + CHAT_INTERVAL,
                                                                  abs=EPS)


async def test_acquire_waits_for_its_turn_and_no_longer(db, fake):
    pace = pace_on(db, fake)
    for _ in range(13):
        await pace.book(None)
    await pace.acquire(None)
    assert fake.t == pytest.approx(T0 + 13 * INTERVAL, abs=EPS)
    await pace.acquire("8002")
    assert fake.t == pytest.approx(T0 + 14 * INTERVAL, abs=EPS)
    await pace.acquire("8002")
    assert fake.t == pytest.approx(T0 + 14 * INTERVAL + CHAT_INTERVAL, abs=EPS)


# --- pruning -------------------------------------------------------------------------------


async def test_prune_forgets_idle_chat_lanes_but_never_the_channel_lane(db, fake):
    pace = pace_on(db, fake)
    await sent_at(pace, fake, "9001")
    await sent_at(pace, fake, "9002")
    fake.t += IDLE_LANES_KEPT + 60.0
    await sent_at(pace, fake, "9003")  # recent
    fake.t += 10.0
    async with db.write() as conn:  # the channel lane itself, idle as long as any
        await conn.execute(outbound_pace.update().where(outbound_pace.c.lane == "telegram")
                           .values(next_at=T0))
    assert await pace.prune() == 2
    assert await lane_value(db, "telegram:9001") is None
    assert await lane_value(db, "telegram:9002") is None
    assert await lane_value(db, "telegram:9003") is not None
    assert await lane_value(db, "telegram") == pytest.approx(T0, abs=EPS)
    # A pruned chat starts afresh.
    assert await pace.book("9001") is not None


def test_the_constants_keep_under_telegrams_limits():
    assert outbound.PER_SECOND + 1 <= 30
    assert CHAT_INTERVAL >= 1.0
    assert GROUP_INTERVAL >= 3.0  # 20 a minute


async def test_a_slow_handover_counts_toward_being_late(db, fake):
    """What must happen before the request goes (a broadcast's handover, a database write) is
    part of the way: if it makes the message late, another turn is booked, and the handover
    is not done twice."""
    pace = pace_on(db, fake)
    booked = count_bookings(pace)
    handed_over: list[float] = []

    async def slow_handover() -> None:
        handed_over.append(fake.t)
        fake.t += LATE_TOLERANCE + 0.1

    await pace.acquire(None, before_send=slow_handover)
    assert len(handed_over) == 1
    assert len(booked) == 2 and booked[1] > booked[0]
