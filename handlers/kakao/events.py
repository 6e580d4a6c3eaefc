"""The broadcaster's Kakao side: announcements (and case notices) to Kakao users through the
Kakao i Open Builder Event API, up to 100 users per request (`POST {base}/v2/bots/{botId}/talk`).

The block with the configured event name shows the text we send as `event.data.text`
(in Open Builder: `{{#current.event.data.text}}`). A SUCCESS answer means Kakao accepted the
task; whether each user got it is only known from Kakao's task API, which we do not poll.
The REST API key is a secret: it is sent in the Authorization header and never logged."""

from __future__ import annotations

import json
import logging
from urllib.parse import quote

import aiohttp

from bot.domain import CASE_NOTICE_KIND, AnnouncementKind, Broadcast, Campaign, CaseNotice, Delivery
from bot.phrases import announcement_text, case_notice_text
from bot.services.broadcasts import Handover, SendResult, SendStatus
from bot.services.staff_broadcasts import STAFF_KIND
from bot.settings import Settings
from bot.text import plain_text

log = logging.getLogger(__name__)

BATCH_SIZE = 100  # users per Event API request, Kakao's maximum
TIMEOUT_SECONDS = 10.0  # per request, in total
TEXT_LIMIT = 1000  # what a simpleText shows; the event block displays our text in one
DEFAULT_RETRY_AFTER = 1.0
NOT_CONFIGURED = "kakao announcements not configured"


def event_text(lang: str, broadcast: Broadcast, campaign: Campaign) -> str:
    """The message in one language: staff text as written, or the announcement or a case
    notice made plain (staff's reason in it comes back as typed). ValueError: a kind or
    payload this channel cannot render."""
    if broadcast.kind == STAFF_KIND:
        text = str(broadcast.payload.get("text", ""))
    elif broadcast.kind == CASE_NOTICE_KIND:
        notice = CaseNotice.from_payload(broadcast.payload)
        text = plain_text(case_notice_text(lang, campaign, notice))
    else:
        text = plain_text(announcement_text(lang, campaign, AnnouncementKind(broadcast.kind)))
    return text if len(text) <= TEXT_LIMIT else text[: TEXT_LIMIT - 1].rstrip() + "…"


class KakaoEventSender:
    """A BatchSender: one Event API request per batch of up to 100 users of one language."""

    batch_size = BATCH_SIZE

    def __init__(self, api_url: str, bot_id: str, rest_api_key: str, event_name: str,
                 timeout: float = TIMEOUT_SECONDS) -> None:
        # a development channel's bot id ends with "!": kept as is in the path
        self.url = f"{api_url.rstrip('/')}/v2/bots/{quote(bot_id, safe='!')}/talk"
        self.event_name = event_name
        self.timeout = timeout
        self._headers = {"Authorization": f"KakaoAK {rest_api_key}",
                         "Content-Type": "application/json"}
        self._session: aiohttp.ClientSession | None = None
        self._key_warned: set[int] = set()  # broadcasts already warned about a refused key

    def __repr__(self) -> str:  # never the key
        return f"KakaoEventSender({self.url!r}, event={self.event_name!r})"

    async def send_batch(self, deliveries: list[Delivery], broadcast: Broadcast,
                         campaign: Campaign, handover: Handover) -> list[SendResult]:
        results: list[SendResult | None] = [None] * len(deliveries)
        handed_over = False
        by_language: dict[str, list[int]] = {}
        for index, delivery in enumerate(deliveries):
            by_language.setdefault(delivery.language, []).append(index)
        for lang, indexes in by_language.items():
            try:
                text = event_text(lang, broadcast, campaign)
            except ValueError:  # a broadcast kind this channel cannot render
                rejected = SendResult(SendStatus.REJECTED,
                                      error=f"unknown broadcast kind {broadcast.kind!r}")
                for index in indexes:
                    results[index] = rejected
                continue
            for start in range(0, len(indexes), self.batch_size):
                chunk = indexes[start:start + self.batch_size]
                users = [deliveries[i].address for i in chunk]
                if not handed_over:
                    await handover()
                    handed_over = True
                result = await self._post(users, text, broadcast.id)
                for index in chunk:
                    results[index] = result
        return [r for r in results if r is not None]

    async def close(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self.timeout))
        return self._session

    async def _post(self, users: list[str], text: str, broadcast_id: int) -> SendResult:
        body = {
            "event": {"name": self.event_name, "data": {"text": text}},
            "user": [{"type": "botUserKey", "id": user} for user in users],
        }
        data = json.dumps(body, ensure_ascii=False).encode()
        raw: str | None = None
        try:
            async with self._client().post(self.url, data=data, headers=self._headers,
                                           allow_redirects=False) as response:
                code = response.status
                retry_after = response.headers.get("Retry-After")
                try:
                    raw = await response.text()
                except (aiohttp.ClientError, TimeoutError):
                    raw = None  # the status decides; a 2xx without its body is uncertain
        except aiohttp.ConnectionTimeoutError as exc:  # never connected: nothing was sent
            return SendResult(SendStatus.FAILED, error=f"connection timeout: {exc}")
        except TimeoutError as exc:
            # The request may have reached Kakao: sending again could send it twice.
            return SendResult(SendStatus.UNCERTAIN, error=f"timeout: {exc!r}")
        except aiohttp.ServerDisconnectedError as exc:  # after the request went out
            return SendResult(SendStatus.UNCERTAIN, error=f"server disconnected: {exc}")
        except aiohttp.ClientError as exc:  # could not connect, and the like
            return SendResult(SendStatus.FAILED, error=f"connection error: {exc}")
        return self._result(code, retry_after, raw, broadcast_id)

    def _result(self, code: int, retry_after: str | None, raw: str | None,
                broadcast_id: int) -> SendResult:
        detail = f"Kakao Event API: HTTP {code} {(raw or '').strip()[:200]}".rstrip()
        if 200 <= code < 300:
            answer = _json(raw)
            state = answer.get("status")
            if state == "SUCCESS":
                return SendResult(SendStatus.SENT)
            if state == "FAIL":
                return SendResult(SendStatus.FAILED, error=detail)
            return SendResult(SendStatus.UNCERTAIN, error=detail)  # accepted? unknown
        if code == 429:
            return SendResult(SendStatus.RETRY_AFTER, retry_after=_seconds(retry_after),
                              error=detail)
        if code in (401, 403):
            if broadcast_id not in self._key_warned:
                self._key_warned.add(broadcast_id)
                log.warning("Kakao Event API refused the REST API key (HTTP %s) for broadcast "
                            "%s: check CHAMYEO_KAKAO_REST_API_KEY", code, broadcast_id)
            return SendResult(SendStatus.REJECTED, error=detail)
        if code >= 500:
            return SendResult(SendStatus.FAILED, error=detail)
        return SendResult(SendStatus.REJECTED, error=detail)  # 400, 404 (bot id), ...


class SkippedKakaoSender:
    """Stands in when the Event API is not configured: every Kakao delivery is rejected, with
    one log line per broadcast."""

    batch_size = BATCH_SIZE

    def __init__(self, missing: tuple[str, ...] = ("CHAMYEO_KAKAO_REST_API_KEY",
                                                   "CHAMYEO_KAKAO_EVENT_NAME")) -> None:
        self.missing = missing
        self._logged: set[int] = set()

    async def send_batch(self, deliveries: list[Delivery], broadcast: Broadcast,
                         campaign: Campaign, handover: Handover) -> list[SendResult]:
        if broadcast.id not in self._logged:
            self._logged.add(broadcast.id)
            log.info("Kakao announcements skipped: %s not set (broadcast %s)",
                     " / ".join(self.missing), broadcast.id)
        return [SendResult(SendStatus.REJECTED, error=NOT_CONFIGURED)] * len(deliveries)

    async def close(self) -> None:
        pass


def kakao_sender(settings: Settings) -> KakaoEventSender | SkippedKakaoSender:
    """The Event API sender when the bot id, REST API key and event name are set."""
    if settings.kakao_events_enabled:
        return KakaoEventSender(
            settings.chamyeo_kakao_event_api_url, settings.chamyeo_kakao_bot_id or "",
            settings.chamyeo_kakao_rest_api_key or "", settings.chamyeo_kakao_event_name or "",
        )
    missing = tuple(name for name, value in (
        ("CHAMYEO_KAKAO_REST_API_KEY", settings.chamyeo_kakao_rest_api_key),
        ("CHAMYEO_KAKAO_EVENT_NAME", settings.chamyeo_kakao_event_name),
        ("CHAMYEO_KAKAO_BOT_ID", settings.chamyeo_kakao_bot_id),
        ("CHAMYEO_KAKAO_SKILL_SECRET", settings.chamyeo_kakao_skill_secret),
        ("CHAMYEO_KAKAO_BLOCK_ID", settings.chamyeo_kakao_block_id),
    ) if not value)
    return SkippedKakaoSender(missing or ("the Kakao settings",))


def _json(raw: str | None) -> dict:
    try:
        answer = json.loads(raw or "")
    except ValueError:
        return {}
    return answer if isinstance(answer, dict) else {}


def _seconds(retry_after: str | None) -> float:
    try:
        seconds = float(retry_after or "")
    except ValueError:
        return DEFAULT_RETRY_AFTER
    return seconds if 0 <= seconds < float("inf") else DEFAULT_RETRY_AFTER
