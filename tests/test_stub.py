"""The Bot API stub's own behaviour (bench/telegram_stub.py), in-process: what the fault, worker
and flood tests rely on. Stalls, the rolling-window counts, edits under the flood limits,
the calls a bot makes when it starts in webhook mode, and the incremental record of what was
sent."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from bench.telegram_stub import StubConfig, TelegramStub, max_in_window

TOKEN = "123:abc"


@pytest.fixture
async def stub_client():
    """A factory: `await make(**config)` starts a stub and returns it with an httpx client."""
    stubs: list[TelegramStub] = []
    async with httpx.AsyncClient(timeout=30) as client:

        async def make(**config) -> tuple[TelegramStub, httpx.AsyncClient]:
            stub = TelegramStub(StubConfig(**config))
            await stub.start()
            stubs.append(stub)
            return stub, client

        try:
            yield make
        finally:
            for stub in stubs:
                await stub.stop()


def api(stub: TelegramStub, method: str) -> str:
    return f"{stub.base_url}{TOKEN}/{method}"


def control(stub: TelegramStub, path: str) -> str:
    return f"http://127.0.0.1:{stub.port}/_stub/{path}"


async def send(client: httpx.AsyncClient, stub: TelegramStub, chat: int,
               text: str = "hi") -> int:
    return (await client.post(api(stub, "sendMessage"),
                              json={"chat_id": chat, "text": text})).status_code


@pytest.mark.parametrize(("times", "window", "expected"), [
    ([], 1.0, 0),
    ([5.0], 1.0, 1),
    ([0.0, 0.5, 0.99, 1.0, 1.5], 1.0, 3),  # 1.0 is outside [0, 1): the stub's own rule
    ([1.5, 0.0, 1.0, 0.5, 0.99], 1.0, 3),  # any order
    ([0.0, 0.0, 0.0, 2.0], 1.0, 3),
    ([0.0, 0.4, 0.8, 1.2, 1.6], 1.0, 3),
    ([0.0, 0.4, 0.8, 1.2, 1.6], 2.0, 5),
])
def test_max_in_window_counts_the_fullest_rolling_window(times, window, expected):
    assert max_in_window(times, window) == expected


async def test_stats_give_the_fullest_window_of_accepted_and_of_attempted_messages(stub_client):
    """Accepted: never above the limit, by construction. Attempted: every sendMessage the stub
    saw, refused ones included, so a bot that asks too fast shows above the limit."""
    stub, client = await stub_client(limit=5, window=1.0)
    codes = [await send(client, stub, 1000 + i) for i in range(8)]
    assert codes == [200] * 5 + [429] * 3
    assert await send(client, stub, 1000) == 429  # still the overall limit (checked first)
    stats = (await client.get(control(stub, "stats"))).json()
    assert stats["window_seconds"] == 1.0
    assert stats["max_accepted_in_window"] == 5
    assert stats["max_attempted_in_window"] == 9
    assert len(stats["attempt_times"]) == 9
    assert stats["rejected_429_global"] == 4 and stats["rejected_429_chat"] == 0
    # Another width on request: a window too narrow to hold two of them.
    narrow = (await client.get(control(stub, "stats"), params={"window": 1e-9})).json()
    assert narrow["max_attempted_in_window"] == 1 and narrow["window_seconds"] == 1e-9


async def test_a_stall_holds_the_requests_that_arrive_during_it_then_answers_them(stub_client):
    stub, client = await stub_client()
    started = time.monotonic()
    answer = (await client.post(control(stub, "stall"), json={"seconds": 0.6})).json()
    assert answer["ok"] and 0.5 < answer["seconds_left"] <= 0.6 + 1e-6
    assert (await client.get(control(stub, "stats"))).json()["stall"]["active"]

    async def timed_send(chat: int) -> tuple[int, float]:
        code = await send(client, stub, chat)
        return code, time.monotonic() - started

    first = asyncio.create_task(timed_send(1))
    await asyncio.sleep(0.05)
    second = asyncio.create_task(timed_send(2))
    (code1, at1), (code2, at2) = await first, await second
    assert (code1, code2) == (200, 200)
    assert at1 >= 0.6 and at2 >= 0.6, "held until the stall ended"
    # Handled in the order they arrived, at the end of the stall.
    sent = (await client.get(control(stub, "sent"))).json()["chats"]
    assert sent["1"][0]["seq"] < sent["2"][0]["seq"]
    assert sent["1"][0]["time"] - started >= 0.6
    # After the stall, requests go through at once; the control endpoints never stall.
    begin = time.monotonic()
    assert await send(client, stub, 3) == 200
    assert time.monotonic() - begin < 0.3
    stats = (await client.get(control(stub, "stats"))).json()
    assert stats["stall"] == {"stalls": 1, "held": 2, "active": False, "seconds_left": 0.0}
    assert stats["in_flight"] == 0


async def test_a_stall_is_extended_never_shortened(stub_client):
    stub, client = await stub_client()
    started = time.monotonic()
    await client.post(control(stub, "stall"), json={"seconds": 0.5})
    await client.post(control(stub, "stall"), json={"seconds": 0.1})  # shorter: no change
    assert await send(client, stub, 1) == 200
    assert time.monotonic() - started >= 0.5
    await client.post(control(stub, "stall"), json={"seconds": 0.2})
    await client.post(control(stub, "stall"), json={"seconds": 0.4})  # extends
    begin = time.monotonic()
    assert await send(client, stub, 2) == 200
    assert time.monotonic() - begin >= 0.35
    assert (await client.get(control(stub, "stats"))).json()["stall"]["stalls"] == 3


async def test_a_request_whose_client_gave_up_during_a_stall_is_still_handled(stub_client):
    """A bot that times out during a hiccup: Telegram may have the message all the same."""
    stub, client = await stub_client()
    await client.post(control(stub, "stall"), json={"seconds": 0.5})
    with pytest.raises(httpx.ReadTimeout):
        await client.post(api(stub, "sendMessage"), json={"chat_id": 7, "text": "late"},
                          timeout=0.2)
    await asyncio.sleep(0.5)
    for _ in range(50):
        stats = (await client.get(control(stub, "stats"))).json()
        if stats["abandoned"]:
            break
        await asyncio.sleep(0.02)
    assert stats["accepted_per_chat"] == {"7": 1}
    assert stats["abandoned"] == 1


@pytest.mark.parametrize("payload", [{}, {"seconds": "x"}, {"seconds": -1}, {"seconds": 601}],
                         ids=["missing", "not a number", "negative", "too long"])
async def test_a_stall_needs_a_number_of_seconds(stub_client, payload):
    stub, client = await stub_client()
    response = await client.post(control(stub, "stall"), json=payload)
    assert response.status_code == 400
    assert (await client.get(control(stub, "stall"))).status_code == 405


async def test_edits_count_toward_the_flood_limits_only_when_asked(stub_client):
    for limit_edits, expected in ((False, [200, 200, 200]), (True, [200, 429, 429])):
        stub, client = await stub_client(limit=2, limit_edits=limit_edits)
        sent = (await client.post(api(stub, "sendMessage"),
                                  json={"chat_id": 5, "text": "menu"})).json()["result"]
        codes = [(await client.post(api(stub, "editMessageText"), json={
            "chat_id": chat, "message_id": sent["message_id"], "text": f"edit {chat}"},
        )).status_code for chat in (6, 5, 7)]  # 5: the per-chat interval; 7: the overall limit
        assert codes == expected, limit_edits
        stats = (await client.get(control(stub, "stats"))).json()
        assert stats["rejected_429_edits"] == expected.count(429)
        assert stats["accepted_per_chat"] == {"5": 1}  # edits are not counted as messages
        assert stats["config"]["limit_edits"] is limit_edits


async def test_the_calls_a_bot_makes_when_it_starts_a_webhook_are_answered(stub_client):
    """PTB's run_webhook and our post_init: getMe, setWebhook (URL and secret), the command
    menus; and the menu-button and description calls a later version may add."""
    stub, client = await stub_client()
    hook = "https://bot.example.org/tg/hook"

    async def call(method: str, **params) -> dict:
        response = await client.post(api(stub, method), json=params)
        assert response.status_code == 200, (method, response.text)
        return response.json()

    assert (await call("getMe"))["result"]["is_bot"] is True
    assert (await call("setWebhook", url=hook, secret_token="s3cret",
                       allowed_updates='["message", "callback_query"]'))["result"] is True
    assert (await call("getWebhookInfo"))["result"]["url"] == hook
    for method, params in (
        ("setMyCommands", {"commands": '[{"command": "start", "description": "x"}]'}),
        ("deleteMyCommands", {}), ("getMyCommands", {}),
        ("setChatMenuButton", {"menu_button": '{"type": "commands"}'}),
        ("getChatMenuButton", {}), ("setMyDescription", {"description": "x"}),
        ("setMyShortDescription", {"short_description": "x"}), ("setMyName", {"name": "x"}),
    ):
        assert (await call(method, **params))["ok"] is True
    stats = (await client.get(control(stub, "stats"))).json()
    assert stats["webhook"] == {"url": hook, "has_secret_token": True,
                                "allowed_updates": '["message", "callback_query"]',
                                "set_calls": 1}
    assert stats["unknown_methods"] == {}
    # A polling bot deletes the webhook; an unknown method is a 404, and counted.
    await call("deleteWebhook", drop_pending_updates=False)
    assert (await call("getWebhookInfo"))["result"]["url"] == ""
    assert (await client.post(api(stub, "sendDice"), json={"chat_id": 1})).status_code == 404
    assert (await client.get(control(stub, "stats"))).json()["unknown_methods"] == {
        "senddice": 1}


async def test_sent_after_a_sequence_number_gives_only_the_newer_records(stub_client):
    stub, client = await stub_client()
    assert await send(client, stub, 1, "to 1") == 200
    assert await send(client, stub, 2, "to 2") == 200
    await asyncio.sleep(1.01)  # one message per chat per second
    assert await send(client, stub, 1, "to 1 again") == 200
    everything = (await client.get(control(stub, "sent"))).json()["chats"]
    assert [r["seq"] for r in everything["1"]] == [1, 3] and everything["2"][0]["seq"] == 2
    newer = (await client.get(control(stub, "sent"), params={"after": 2})).json()["chats"]
    assert newer == {"1": [everything["1"][1]]}
    assert (await client.get(control(stub, "sent"), params={"after": 3})).json() == {
        "chats": {}}
    only = (await client.get(control(stub, "sent"), params={"chat": "2,9"})).json()["chats"]
    assert only == {"2": everything["2"]}
    assert (await client.get(control(stub, "sent"), params={"chat": "x"})).status_code == 400
