"""A local stand-in for the Telegram Bot API that enforces Telegram's flood limits.

Standard library only: an asyncio HTTP/1.1 server (keep-alive, Content-Length or chunked
bodies, JSON or form-urlencoded parameters as python-telegram-bot's HTTPXRequest sends them).

It answers `getMe`, `setMyCommands`, `deleteMyCommands`, `getMyCommands`, `deleteWebhook`,
`setWebhook`, `getWebhookInfo` (the URL last set), `setChatMenuButton`, `getChatMenuButton`,
`setMyDescription`, `setMyShortDescription`, `setMyName`, `getUpdates` (the queued updates,
see below), `answerCallbackQuery` (True), `editMessageText` (the edited Message; a minimal one
for a message the stub never sent) and `sendMessage` (a realistic Message), and enforces on
`sendMessage` (and on `editMessageText` too with `--limit-edits`):

* at most `limit` (30) messages in any rolling `window` (1 s) overall, and
* at most one message per chat per `per_chat_interval` (1 s),

answering HTTP 429 ``{"ok": false, "error_code": 429, "description": "Too Many Requests:
retry after N", "parameters": {"retry_after": N}}`` when a limit would be exceeded, and
HTTP 403 "Forbidden: bot was blocked by the user" for the configured blocked chats.

Requests that get a 403 count toward the overall limit (Telegram processed them); 429s do
not. It counts accepted messages per chat (duplicates), 429s (overall / per chat), 403s and
the `time.monotonic()` instant of every accepted message (on Linux the same clock in every
process, so a parent can line them up with its own measurements) and of every `sendMessage`
it saw, accepted or not; its stats give the most of each in any rolling window.

Stalls. ``POST /_stub/stall`` with ``{"seconds": S}`` is a network hiccup: every Bot API
request that arrives in the next S seconds is held, unhandled, until the stall ends, then
handled in the order it arrived (limits counted at that moment, as if it had just reached
Telegram) and answered. A request whose client gave up meanwhile (a timeout) is still handled,
as Telegram would handle a request whose answer was lost: `abandoned` counts those answers.

Updates. ``POST /_stub/updates`` with a JSON list of Update objects queues them (an update
without ``update_id`` gets the next one; the answer lists the ids). `getUpdates` behaves like
Telegram's: it returns the queued updates with ``update_id >= offset`` (at most ``limit``), and
an update is forgotten only when a later call confirms it with a higher ``offset``; so a bot
killed before its next `getUpdates` gets the same updates again after a restart. With
``timeout`` it waits for an update to arrive, at most ``min(timeout, --max-poll-seconds)``.

Extra endpoints, outside the Bot API: ``GET /_stub/stats`` (the counters as JSON, with
``in_flight``, the Bot API requests being handled or held, an ``updates`` section: queued,
pending, handed out, handed out again; ``max_accepted_in_window`` and
``max_attempted_in_window``, the most accepted / seen `sendMessage` calls in any rolling
``window`` seconds, ``?window=W`` to count another width; ``stall``; ``webhook``, what
`setWebhook` last set), ``GET /_stub/sent`` (every accepted `sendMessage` and
`editMessageText`, per chat, in order: a sequence number, method, message id, the text as the
bot sent it, HTML included, and the ``time.monotonic()`` instant; ``?after=N``: only those
with a sequence number above N; ``?chat=A,B``: only those chats), ``POST /_stub/updates``,
``POST /_stub/stall`` and ``POST /_stub/shutdown``.

Use it in-process (`TelegramStub`), or as a subprocess:

    python -m bench.telegram_stub --blocked-file ids.txt

which prints ``PORT <n>`` on its first line of stdout and stops by itself when its stdin
closes (the parent went away), on ``POST /_stub/shutdown``, or after ``--max-seconds``.
It only ever listens on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import html
import itertools
import json
import os
import re
import sys
import time
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qsl, urlsplit

HOST = "127.0.0.1"

BOT_USER = {
    "id": 7000000123,
    "is_bot": True,
    "first_name": "참여봇",
    "username": "chamyeo_bench_bot",
    "can_join_groups": False,
    "can_read_all_group_messages": False,
    "supports_inline_queries": False,
    "can_connect_to_business": False,
    "has_main_web_app": False,
}

_TAG = re.compile(r"<[^>]+>")


@dataclass
class StubConfig:
    limit: int = 30  # sendMessage per rolling window, all chats together
    window: float = 1.0  # seconds
    per_chat_interval: float = 1.0  # seconds between two messages to one chat
    retry_after: int = 1  # the N in "retry after N"
    blocked: set[int] = field(default_factory=set)
    latency: float = 0.0  # seconds added before each answer (a network round trip)
    token: str | None = None  # if set, other tokens get 401
    max_poll: float = 1.0  # seconds a getUpdates with a timeout waits at most for an update
    latency_in: float = 0.0  # seconds before a Bot API request is handled (its way there)
    limit_edits: bool = False  # editMessageText counts toward both limits as sendMessage does


@dataclass
class StubCounters:
    started: float = field(default_factory=time.monotonic)
    requests: collections.Counter = field(default_factory=collections.Counter)
    accepted_per_chat: collections.Counter = field(default_factory=collections.Counter)
    accepted_times: list[float] = field(default_factory=list)
    rejected_429_global: int = 0
    rejected_429_chat: int = 0
    rejected_429_times: list[float] = field(default_factory=list)
    rejected_429_edits: int = 0  # with limit_edits: editMessageText calls refused
    attempt_times: list[float] = field(default_factory=list)  # every sendMessage seen
    stalls: int = 0
    stalled_requests: int = 0  # Bot API requests held by a stall
    abandoned: int = 0  # answers to a client that had gone away (it timed out)
    answered_queries: list[str] = field(default_factory=list)  # answerCallbackQuery ids
    unknown_methods: collections.Counter = field(default_factory=collections.Counter)
    webhook: dict[str, Any] = field(default_factory=dict)
    rejected_403: int = 0
    rejected_403_chats: collections.Counter = field(default_factory=collections.Counter)
    bad_requests: int = 0
    connections: int = 0
    max_in_flight: int = 0


class TelegramStub:
    def __init__(self, config: StubConfig | None = None) -> None:
        self.config = config or StubConfig()
        self.counters = StubCounters()
        self.port: int | None = None
        self._server: asyncio.AbstractServer | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._window: collections.deque[float] = collections.deque()
        self._last_per_chat: dict[int | str, float] = {}
        self._message_ids = itertools.count(1)
        self._in_flight = 0
        self.stopped = asyncio.Event()
        # getUpdates: updates not yet confirmed, by update_id; times each was handed out
        self._updates: dict[int, dict[str, Any]] = {}
        self._last_update_id = 0
        self._queued = 0
        self._handed_out: collections.Counter = collections.Counter()
        self._new_update = asyncio.Event()
        self._api_in_flight = 0  # Bot API requests being handled now
        # what reached the users: chat -> [{"method", "message_id", "text", "time"}]
        self.sent: dict[int | str, list[dict[str, Any]]] = collections.defaultdict(list)
        self._messages: dict[tuple[int | str, int], dict[str, Any]] = {}
        self._sent_seq = itertools.count(1)
        # A stall: Bot API requests wait on this event until `_stall_until` has passed.
        self._stall_until = 0.0
        self._stall_over = asyncio.Event()
        self._stall_over.set()
        self._stall_timer: asyncio.TimerHandle | None = None

    # -- lifecycle ------------------------------------------------------------------------

    async def start(self, port: int = 0) -> int:
        self._server = await asyncio.start_server(self._handle, HOST, port)
        self.port = self._server.sockets[0].getsockname()[1]
        return self.port

    async def stop(self) -> None:
        if self._stall_timer is not None:
            self._stall_timer.cancel()
            self._stall_timer = None
        self._stall_over.set()  # let held requests go (their connections are closing)
        if self._server is not None:
            self._server.close()
            for writer in list(self._writers):
                writer.close()
            await self._server.wait_closed()
            self._server = None
        self.stopped.set()

    async def __aenter__(self) -> TelegramStub:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.port}/bot"

    # -- counters -------------------------------------------------------------------------

    def stats(self, window: float | None = None) -> dict[str, Any]:
        """The counters. `window`: the width of the rolling window the `max_*_in_window`
        figures count in (default: the limit's own window)."""
        c = self.counters
        duplicates = {chat: n for chat, n in c.accepted_per_chat.items() if n > 1}
        width = self.config.window if window is None else window
        now = time.monotonic()
        return {
            "started": c.started,
            "requests": dict(c.requests),
            "accepted": sum(c.accepted_per_chat.values()),
            "accepted_chats": len(c.accepted_per_chat),
            "accepted_per_chat": {str(k): v for k, v in c.accepted_per_chat.items()},
            "duplicate_chats": {str(k): v for k, v in duplicates.items()},
            "accepted_times": c.accepted_times,
            "rejected_429": c.rejected_429_global + c.rejected_429_chat,
            "rejected_429_global": c.rejected_429_global,
            "rejected_429_chat": c.rejected_429_chat,
            "rejected_429_times": c.rejected_429_times,
            "rejected_429_edits": c.rejected_429_edits,
            "attempt_times": c.attempt_times,
            "window_seconds": width,
            "max_accepted_in_window": max_in_window(c.accepted_times, width),
            "max_attempted_in_window": max_in_window(c.attempt_times, width),
            "rejected_403": c.rejected_403,
            "rejected_403_chats": {str(k): v for k, v in c.rejected_403_chats.items()},
            "bad_requests": c.bad_requests,
            "connections": c.connections,
            "max_in_flight": c.max_in_flight,
            "in_flight": self._api_in_flight,
            "abandoned": c.abandoned,
            "answered_queries": c.answered_queries,
            "unknown_methods": dict(c.unknown_methods),
            "stall": {
                "stalls": c.stalls,
                "held": c.stalled_requests,
                "active": not self._stall_over.is_set(),
                "seconds_left": max(0.0, self._stall_until - now),
            },
            "webhook": dict(c.webhook),
            "updates": {
                "queued": self._queued,
                "pending": len(self._updates),
                "handed_out": sum(self._handed_out.values()),
                "handed_out_again": sum(n - 1 for n in self._handed_out.values() if n > 1),
                "redelivered_ids": sorted(i for i, n in self._handed_out.items() if n > 1),
            },
            "config": {
                "limit": self.config.limit, "window": self.config.window,
                "per_chat_interval": self.config.per_chat_interval,
                "retry_after": self.config.retry_after, "blocked": len(self.config.blocked),
                "latency": self.config.latency, "limit_edits": self.config.limit_edits,
            },
        }

    # -- HTTP -----------------------------------------------------------------------------

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        self.counters.connections += 1
        try:
            while True:
                request_line = await reader.readline()
                if not request_line:
                    break
                try:
                    verb, target, version = request_line.decode("latin-1").rstrip("\r\n").split(
                        " ", 2)
                except ValueError:
                    await self._respond(writer, 400, {"ok": False, "error_code": 400,
                                                      "description": "Bad Request"}, False)
                    break
                headers: dict[str, str] = {}
                while True:
                    line = await reader.readline()
                    if line in (b"\r\n", b"\n", b""):
                        break
                    name, _, value = line.decode("latin-1").partition(":")
                    headers[name.strip().lower()] = value.strip()
                if headers.get("transfer-encoding", "").lower() == "chunked":
                    body = await _read_chunked(reader)
                else:
                    length = int(headers.get("content-length") or 0)
                    body = await reader.readexactly(length) if length else b""
                keep_alive = (version.upper() == "HTTP/1.1"
                              and headers.get("connection", "").lower() != "close")
                self._in_flight += 1
                self.counters.max_in_flight = max(self.counters.max_in_flight, self._in_flight)
                try:
                    code, payload = await self._dispatch(
                        verb.upper(), target, headers, body,
                        alive=lambda: not (reader.at_eof() or writer.is_closing()))
                finally:
                    self._in_flight -= 1
                if reader.at_eof() or writer.is_closing():
                    self.counters.abandoned += 1  # the client gave up waiting (a timeout)
                await self._respond(writer, code, payload, keep_alive)
                if not keep_alive:
                    break
                if target.startswith("/_stub/shutdown"):
                    asyncio.get_running_loop().call_soon(
                        lambda: asyncio.ensure_future(self.stop()))
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
            pass
        finally:
            self._writers.discard(writer)
            writer.close()

    @staticmethod
    async def _respond(writer: asyncio.StreamWriter, code: int, payload: Any,
                       keep_alive: bool) -> None:
        body = json.dumps(payload, ensure_ascii=False).encode()
        head = (
            f"HTTP/1.1 {code} {HTTPStatus(code).phrase}\r\n"
            "Server: chamyeo-bench-telegram-stub\r\n"
            "Content-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n"
            f"Connection: {'keep-alive' if keep_alive else 'close'}\r\n\r\n"
        ).encode("latin-1")
        writer.write(head + body)
        await writer.drain()

    async def _dispatch(self, verb: str, target: str, headers: dict[str, str],
                        body: bytes, alive=lambda: True) -> tuple[int, Any]:
        path = urlsplit(target).path
        query = dict(parse_qsl(urlsplit(target).query))
        if path == "/_stub/stats":
            try:
                window = float(query["window"]) if "window" in query else None
            except ValueError:
                return 400, _error(400, "Bad Request: window must be a number of seconds")
            return 200, self.stats(window)
        if path == "/_stub/shutdown":
            return 200, {"ok": True}
        if path == "/_stub/sent":
            try:
                after = int(query.get("after") or 0)
                chats = [int(c) for c in query["chat"].split(",")] if "chat" in query else None
            except ValueError:
                return 400, _error(400, "Bad Request: after must be a sequence number, chat "
                                        "a list of chat ids")
            return 200, {"chats": self.sent_after(after, chats)}
        if path == "/_stub/stall":
            if verb != "POST":
                return 405, _error(405, 'Method Not Allowed: POST {"seconds": S}')
            try:
                seconds = float(json.loads(body or b"{}").get("seconds"))
                if not 0 <= seconds <= 600:
                    raise ValueError("seconds must be within 0..600")
            except (ValueError, TypeError, AttributeError) as exc:
                return 400, _error(400, f"Bad Request: {exc}")
            return 200, {"ok": True, "seconds_left": self.stall(seconds)}
        if path == "/_stub/updates":
            if verb != "POST":
                return 405, _error(405, "Method Not Allowed: POST a JSON list of updates")
            try:
                updates = json.loads(body or b"[]")
                if not isinstance(updates, list) or not all(isinstance(u, dict) for u in updates):
                    raise ValueError("not a JSON list of objects")
            except ValueError as exc:
                return 400, _error(400, f"Bad Request: {exc}")
            return 200, {"ok": True, "update_ids": self.enqueue(updates)}
        match = re.fullmatch(r"/bot([^/]+)/([A-Za-z]+)", path)
        if match is None:
            return 404, {"ok": False, "error_code": 404, "description": "Not Found"}
        token, method = match.group(1), match.group(2).lower()
        self.counters.requests[method] += 1
        if self.config.token is not None and token != self.config.token:
            return 401, {"ok": False, "error_code": 401, "description": "Unauthorized"}
        try:
            params = _parse_params(headers.get("content-type", ""), body, target)
        except ValueError as exc:
            self.counters.bad_requests += 1
            return 400, {"ok": False, "error_code": 400, "description": f"Bad Request: {exc}"}
        self._api_in_flight += 1
        try:
            if not self._stall_over.is_set():  # a network hiccup: held on the way there
                self.counters.stalled_requests += 1
                await self._stall_over.wait()
            if self.config.latency_in:
                await asyncio.sleep(self.config.latency_in)
            if method == "getupdates":
                code, payload = await self._get_updates(params, alive)
            else:
                code, payload = self._answer(method, params)
            if self.config.latency:
                await asyncio.sleep(self.config.latency)
        finally:
            self._api_in_flight -= 1
        return code, payload

    # -- the Bot API ----------------------------------------------------------------------

    def _answer(self, method: str, params: dict[str, Any]) -> tuple[int, Any]:
        if method == "getme":
            return 200, {"ok": True, "result": BOT_USER}
        if method in ("setmycommands", "deletemycommands", "close", "logout", "setchatmenubutton",
                      "setmydescription", "setmyshortdescription", "setmyname"):
            return 200, {"ok": True, "result": True}
        if method == "setwebhook":
            hook = self.counters.webhook
            hook.update(url=str(params.get("url") or ""),
                        has_secret_token=bool(params.get("secret_token")),
                        allowed_updates=params.get("allowed_updates"),
                        set_calls=hook.get("set_calls", 0) + 1)
            return 200, {"ok": True, "result": True}
        if method == "deletewebhook":
            hook = self.counters.webhook
            hook.update(url="", has_secret_token=False,
                        delete_calls=hook.get("delete_calls", 0) + 1)
            return 200, {"ok": True, "result": True}
        if method == "getwebhookinfo":
            return 200, {"ok": True, "result": {
                "url": self.counters.webhook.get("url", ""), "has_custom_certificate": False,
                "pending_update_count": len(self._updates)}}
        if method == "getmycommands":
            return 200, {"ok": True, "result": []}
        if method == "getchatmenubutton":
            return 200, {"ok": True, "result": {"type": "commands"}}
        if method == "getupdates":  # without waiting; the server path uses _get_updates
            return 200, {"ok": True, "result": self._take_updates(params)}
        if method == "sendmessage":
            return self._send_message(params)
        if method == "answercallbackquery":
            if not params.get("callback_query_id"):
                self.counters.bad_requests += 1
                return 400, _error(400, "Bad Request: query id is empty")
            self.counters.answered_queries.append(str(params["callback_query_id"]))
            return 200, {"ok": True, "result": True}
        if method == "editmessagetext":
            return self._edit_message_text(params)
        self.counters.unknown_methods[method] += 1
        return 404, {"ok": False, "error_code": 404, "description": "Not Found"}

    def _send_message(self, params: dict[str, Any]) -> tuple[int, Any]:
        raw_chat = params.get("chat_id")
        text = params.get("text")
        now = time.monotonic()
        self.counters.attempt_times.append(now)
        if raw_chat in (None, ""):
            self.counters.bad_requests += 1
            return 400, _error(400, "Bad Request: chat_id is empty")
        if not text:
            self.counters.bad_requests += 1
            return 400, _error(400, "Bad Request: message text is empty")
        chat: int | str
        try:
            chat = int(raw_chat)
        except (TypeError, ValueError):
            chat = str(raw_chat)
        if not self._admit(chat, now):
            return 429, self._too_many()
        if chat in self.config.blocked:
            self.counters.rejected_403 += 1
            self.counters.rejected_403_chats[chat] += 1
            return 403, _error(403, "Forbidden: bot was blocked by the user")
        self.counters.accepted_per_chat[chat] += 1
        self.counters.accepted_times.append(now)
        message = self._message(chat, str(text), params)
        self._remember("sendMessage", chat, message, str(text), now)
        return 200, {"ok": True, "result": message}

    def _admit(self, chat: int | str, now: float) -> bool:
        """Telegram's flood limits: False (counted as a 429) if this message would exceed
        `limit` in the rolling window or come within `per_chat_interval` of the chat's last.
        An admitted message counts toward both, whether or not the user blocked the bot
        (Telegram did the work)."""
        window = self._window
        while window and window[0] <= now - self.config.window:
            window.popleft()
        if len(window) >= self.config.limit:
            self.counters.rejected_429_global += 1
            self.counters.rejected_429_times.append(now)
            return False
        last = self._last_per_chat.get(chat)
        if last is not None and now - last < self.config.per_chat_interval:
            self.counters.rejected_429_chat += 1
            self.counters.rejected_429_times.append(now)
            return False
        window.append(now)
        self._last_per_chat[chat] = now
        return True

    # -- stalls -----------------------------------------------------------------------------

    def stall(self, seconds: float) -> float:
        """Hold every Bot API request that arrives in the next `seconds` until then (a stall
        already under way is extended, never shortened). Returns the seconds left."""
        now = time.monotonic()
        if seconds > 0 and now + seconds > self._stall_until:
            self.counters.stalls += 1
            self._stall_until = now + seconds
            self._stall_over.clear()
            if self._stall_timer is not None:
                self._stall_timer.cancel()
            # The held requests go on when it ends, in the order they arrived.
            self._stall_timer = asyncio.get_running_loop().call_later(
                seconds, self._stall_over.set)
        return max(0.0, self._stall_until - now)

    # -- updates, edits and the record of what was sent ----------------------------------------

    def sent_after(self, after: int = 0,
                   chats: list[int] | None = None) -> dict[str, list[dict[str, Any]]]:
        """What `/_stub/sent` answers: per chat (of `chats`, or all), the records with a
        sequence number above `after`, in order (chats with none left out when `after` or
        `chats` is given)."""
        selected = self.sent.items() if chats is None else [
            (chat, self.sent[chat]) for chat in chats if chat in self.sent]
        found = {}
        for chat, items in selected:
            newer = items if not after else [i for i in items if i["seq"] > after]
            if newer or not after:
                found[str(chat)] = newer
        return found

    def enqueue(self, updates: list[dict[str, Any]]) -> list[int]:
        """Queue updates for getUpdates; those without an update_id get the next one."""
        ids = []
        for update in updates:
            update = dict(update)
            update["update_id"] = int(update.get("update_id") or self._last_update_id + 1)
            self._last_update_id = max(self._last_update_id, update["update_id"])
            self._updates[update["update_id"]] = update
            self._queued += 1
            ids.append(update["update_id"])
        if ids:
            self._new_update.set()
        return ids

    def _take_updates(self, params: dict[str, Any], hand_out: bool = True) -> list[dict[str, Any]]:
        """Confirm what `offset` confirms (as Telegram does), then the next `limit` updates."""
        try:
            offset = int(params.get("offset") or 0)
            limit = min(max(int(params.get("limit") or 100), 1), 100)
        except (TypeError, ValueError):
            offset, limit = 0, 100
        ids = sorted(self._updates)
        if offset < 0:  # the last -offset updates; everything before them is forgotten
            offset = ids[offset] if -offset <= len(ids) else (ids[0] if ids else 0)
        for update_id in ids:
            if update_id < offset:
                del self._updates[update_id]
        if not hand_out:
            return []
        batch = [self._updates[i] for i in sorted(self._updates)[:limit]]
        for update in batch:
            self._handed_out[update["update_id"]] += 1
        return batch

    async def _get_updates(self, params: dict[str, Any], alive=lambda: True) -> tuple[int, Any]:
        """`_take_updates`, waiting for one if there are none and `timeout` allows. A caller
        that went away meanwhile (`alive()` false: a bot killed during its long poll) is
        handed nothing (its `offset` still confirms), so no update is counted as handed out
        to a connection that is gone."""
        try:
            timeout = float(params.get("timeout") or 0)
        except (TypeError, ValueError):
            timeout = 0.0
        deadline = time.monotonic() + min(max(timeout, 0.0), self.config.max_poll)
        while True:
            self._new_update.clear()
            batch = self._take_updates(params, hand_out=alive())
            left = deadline - time.monotonic()
            if batch or left <= 0 or not alive():
                return 200, {"ok": True, "result": batch}
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._new_update.wait(), left)

    def _edit_message_text(self, params: dict[str, Any]) -> tuple[int, Any]:
        text = params.get("text")
        if not text:
            self.counters.bad_requests += 1
            return 400, _error(400, "Bad Request: message text is empty")
        if params.get("inline_message_id"):
            return 200, {"ok": True, "result": True}
        raw_chat, raw_id = params.get("chat_id"), params.get("message_id")
        try:
            chat: int | str = int(raw_chat)
        except (TypeError, ValueError):
            chat = str(raw_chat or "")
        try:
            message_id = int(raw_id)
        except (TypeError, ValueError):
            message_id = 0
        if chat == "" or message_id <= 0:
            self.counters.bad_requests += 1
            return 400, _error(400, "Bad Request: message to edit not found")
        if self.config.limit_edits and not self._admit(chat, time.monotonic()):
            self.counters.rejected_429_edits += 1
            return 429, self._too_many()
        message = self._message(chat, str(text), params)  # text, markup and chat as sent
        message["message_id"] = message_id
        known = self._messages.get((chat, message_id))
        if known is not None:
            message["date"] = known["date"]
        message["edit_date"] = int(time.time())
        self._remember("editMessageText", chat, message, str(text), time.monotonic())
        return 200, {"ok": True, "result": message}

    def _remember(self, method: str, chat: int | str, message: dict[str, Any], text: str,
                  when: float) -> None:
        self._messages[(chat, message["message_id"])] = message
        self.sent[chat].append({"seq": next(self._sent_seq), "method": method,
                                "message_id": message["message_id"], "text": text,
                                "time": when})

    def _too_many(self) -> dict[str, Any]:
        n = self.config.retry_after
        return {"ok": False, "error_code": 429,
                "description": f"Too Many Requests: retry after {n}",
                "parameters": {"retry_after": n}}

    def _message(self, chat: int | str, text: str, params: dict[str, Any]) -> dict[str, Any]:
        if isinstance(chat, int) and chat > 0:
            chat_obj: dict[str, Any] = {"id": chat, "first_name": f"Citizen {chat}",
                                        "type": "private"}
        else:
            chat_obj = {"id": chat if isinstance(chat, int) else -1001234567890,
                        "title": "Announcements", "type": "channel"}
        if str(params.get("parse_mode", "")).upper() == "HTML":
            text = html.unescape(_TAG.sub("", text))
        message: dict[str, Any] = {
            "message_id": next(self._message_ids),
            "from": BOT_USER,
            "chat": chat_obj,
            "date": int(time.time()),
            "text": text,
        }
        for key in ("reply_markup", "link_preview_options"):
            value = params.get(key)
            if isinstance(value, str):
                try:
                    value = json.loads(value)
                except ValueError:
                    value = None
            if value:
                message[key] = value
        return message


def max_in_window(times: list[float], window: float) -> int:
    """The most instants in any rolling window: the largest number of `times` t with
    start <= t < start + window, over every start (the stub's own rule: an instant leaves the
    window `window` seconds after it). `times` need not be sorted."""
    ordered = sorted(times)
    best = first = 0
    for last, t in enumerate(ordered):
        while t - ordered[first] >= window:
            first += 1
        best = max(best, last - first + 1)
    return best


def _error(code: int, description: str) -> dict[str, Any]:
    return {"ok": False, "error_code": code, "description": description}


def _parse_params(content_type: str, body: bytes, target: str) -> dict[str, Any]:
    params: dict[str, Any] = dict(parse_qsl(urlsplit(target).query))
    ctype = content_type.split(";")[0].strip().lower()
    if not body:
        return params
    if ctype == "application/json":
        data = json.loads(body)
        if not isinstance(data, dict):
            raise ValueError("JSON body is not an object")
        params.update(data)
    elif ctype in ("application/x-www-form-urlencoded", ""):
        params.update(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
    else:
        raise ValueError(f"unsupported content type {ctype!r}")
    return params


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    chunks = []
    while True:
        size_line = await reader.readline()
        size = int(size_line.split(b";")[0].strip() or b"0", 16)
        if size == 0:
            while (await reader.readline()) not in (b"\r\n", b"\n", b""):
                pass  # trailers
            return b"".join(chunks)
        chunks.append(await reader.readexactly(size))
        await reader.readexactly(2)


# -- the subprocess -----------------------------------------------------------------------


def _read_blocked(path: str) -> set[int]:
    with open(path, encoding="utf-8") as f:
        return {int(line) for line in f if line.strip()}


async def _main(args: argparse.Namespace) -> None:
    blocked = _read_blocked(args.blocked_file) if args.blocked_file else set()
    blocked |= {int(x) for x in args.blocked.split(",") if x.strip()}
    stub = TelegramStub(StubConfig(
        limit=args.limit, window=args.window, per_chat_interval=args.per_chat_interval,
        retry_after=args.retry_after, blocked=blocked, latency=args.latency_ms / 1000,
        max_poll=args.max_poll_seconds, latency_in=args.latency_in_ms / 1000,
        limit_edits=args.limit_edits,
    ))
    port = await stub.start(args.port)
    print(f"PORT {port}", flush=True)

    loop = asyncio.get_running_loop()
    stdin_closed = loop.create_future()

    def _watch_stdin() -> None:  # a thread: EOF on stdin means the parent went away
        try:
            while sys.stdin.buffer.read(1):
                pass
        finally:
            loop.call_soon_threadsafe(
                lambda: stdin_closed.done() or stdin_closed.set_result(None))

    if not args.ignore_stdin:
        loop.run_in_executor(None, _watch_stdin)
    stopped = asyncio.ensure_future(stub.stopped.wait())
    await asyncio.wait({stopped, stdin_closed}, timeout=args.max_seconds,
                       return_when=asyncio.FIRST_COMPLETED)
    await stub.stop()
    # The stdin reader thread may still block: leave without waiting for it.
    sys.stdout.flush()
    os._exit(0)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=0, help="0: any free port")
    parser.add_argument("--limit", type=int, default=30, help="sendMessage per window")
    parser.add_argument("--window", type=float, default=1.0, help="seconds")
    parser.add_argument("--per-chat-interval", type=float, default=1.0, help="seconds")
    parser.add_argument("--retry-after", type=int, default=1)
    parser.add_argument("--blocked", default="", help="comma-separated chat ids")
    parser.add_argument("--blocked-file", help="chat ids that blocked the bot, one a line")
    parser.add_argument("--latency-ms", type=float, default=0.0)
    parser.add_argument("--latency-in-ms", type=float, default=0.0,
                        help="the stub waits this long before handling a Bot API request "
                             "(--latency-ms: after handling it, before answering)")
    parser.add_argument("--max-poll-seconds", type=float, default=1.0,
                        help="the longest a getUpdates with a timeout waits for an update")
    parser.add_argument("--limit-edits", action="store_true",
                        help="editMessageText counts toward both flood limits, as sendMessage")
    parser.add_argument("--max-seconds", type=float, default=3600.0,
                        help="stop after this long in any case")
    parser.add_argument("--ignore-stdin", action="store_true",
                        help="do not stop when stdin closes")
    asyncio.run(_main(parser.parse_args(argv)))


if __name__ == "__main__":
    main()
