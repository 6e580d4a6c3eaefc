"""Telegram without the network: a recording `BaseRequest` that answers like the Bot API, and a
driver that feeds real Update JSON to a real `Application`. The tests, the console demo and the
benchmarks all use this one implementation."""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from telegram import Update
from telegram.ext import Application
from telegram.request import BaseRequest, RequestData

from bot.clock import Clock

BOT_USER = {
    "id": 7000000001,
    "is_bot": True,
    "first_name": "참여봇",
    "username": "chamyeo_test_bot",
    "can_join_groups": False,
    "can_read_all_group_messages": False,
    "supports_inline_queries": False,
}

FILE_URL_PART = "/file/bot"
# The smallest JPEG a browser shows (one grey pixel): what the offline Telegram keeps for a photo.
SAMPLE_PHOTO = bytes.fromhex(
    "ffd8ffe000104a46494600010100000100010000ffdb004300080606070605080707070909080a0c140d0c0b0b"
    "0c1912130f141d1a1f1e1d1a1c1c20242e2720222c231c1c2837292c30313434341f27393d38323c2e333432"
    "ffc0000b080001000101011100ffc4001f0000010501010101010100000000000000000102030405060708090a"
    "0bffc400b5100002010303020403050504040000017d01020300041105122131410613516107227114328191"
    "a1082342b1c11552d1f02433627282090a161718191a25262728292a3435363738393a434445464748494a53"
    "5455565758595a636465666768696a737475767778797a838485868788898a92939495969798999aa2a3a4a5"
    "a6a7a8a9aab2b3b4b5b6b7b8b9bac2c3c4c5c6c7c8c9cad2d3d4d5d6d7d8d9dae1e2e3e4e5e6e7e8e9eaf1f2"
    "f3f4f5f6f7f8f9faffda0008010100003f00fbd3ffd9")

SENDING_METHODS = {"sendMessage", "sendPhoto", "sendDocument"}
EDITING_METHODS = {"editMessageText", "editMessageCaption", "editMessageReplyMarkup"}


@dataclass
class ApiCall:
    method: str
    params: dict[str, Any]
    result: Any = None  # what the offline Telegram answered (a sent message: with its id)

    @property
    def text(self) -> str | None:
        return self.params.get("text") or self.params.get("caption")

    @property
    def chat_id(self) -> int | None:
        chat = self.params.get("chat_id")
        return int(chat) if chat is not None else None

    def buttons(self) -> list[dict[str, Any]]:
        """The inline buttons, row by row flattened, as Telegram would receive them."""
        markup = self.params.get("reply_markup") or {}
        if isinstance(markup, str):
            markup = json.loads(markup)
        return [b for row in markup.get("inline_keyboard", []) for b in row]

    def labels(self) -> list[str]:
        return [b["text"] for b in self.buttons()]

    def keyboard(self) -> list[dict[str, Any]]:
        """The reply keyboard's buttons (under the text field), row by row flattened."""
        markup = self.params.get("reply_markup") or {}
        if isinstance(markup, str):
            markup = json.loads(markup)
        return [b if isinstance(b, dict) else {"text": b}
                for row in markup.get("keyboard", []) for b in row]


class TelegramError(Exception):
    """Raise from `OfflineRequest.fail_next` to make one call fail like Telegram would."""


class OfflineRequest(BaseRequest):
    """Records every Bot API call and answers it as Telegram would, with no network."""

    def __init__(self, clock: Clock | None = None, bot_user: dict | None = None) -> None:
        self.clock = clock
        self.bot_user = bot_user or BOT_USER
        self.calls: list[ApiCall] = []
        self.messages: dict[tuple[int, int], dict[str, Any]] = {}
        self._ids = itertools.count(1)
        self._failures: dict[str, list[tuple[int, dict]]] = {}
        # What Telegram keeps for a file id (a photo sent in); any other id gets SAMPLE_PHOTO.
        self.files: dict[str, bytes] = {}

    @property
    def read_timeout(self) -> float | None:
        return None

    async def initialize(self) -> None:
        pass

    async def shutdown(self) -> None:
        pass

    def fail_next(self, method: str, status: int, description: str, **parameters) -> None:
        """Make the next call of `method` fail with this HTTP status and description."""
        body = {"ok": False, "error_code": status, "description": description}
        if parameters:
            body["parameters"] = parameters
        self._failures.setdefault(method, []).append((status, body))

    def _timestamp(self) -> int:
        now = self.clock.now() if self.clock else datetime.now(UTC)
        return int(now.timestamp())

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout=None,
        write_timeout=None,
        connect_timeout=None,
        pool_timeout=None,
    ) -> tuple[int, bytes]:
        if FILE_URL_PART in url:  # a download: .../file/bot<token>/photos/<file id>.jpg
            file_id = url.rsplit("/", 1)[-1].removesuffix(".jpg")
            self.calls.append(ApiCall("downloadFile", {"file_id": file_id}))
            return 200, self.files.get(file_id, SAMPLE_PHOTO)
        api_method = url.rsplit("/", 1)[-1]
        params = request_data.parameters if request_data else {}
        if request_data is not None and request_data.contains_files:
            # Uploaded files are not in `parameters`: record each part's (file name, bytes).
            params = {**params, "_files": {
                part: (upload[0], upload[1] if isinstance(upload[1], bytes) else b"")
                for part, upload in request_data.multipart_data.items()
            }}
        if self._failures.get(api_method):
            status, body = self._failures[api_method].pop(0)
            self.calls.append(ApiCall(api_method, {**params, "_failed": status}))
            return status, json.dumps(body).encode()
        call = ApiCall(api_method, params)
        self.calls.append(call)
        result = call.result = self._answer(api_method, params)
        return 200, json.dumps({"ok": True, "result": result}).encode()

    def _answer(self, method: str, params: dict[str, Any]) -> Any:
        if method == "getMe":
            return self.bot_user
        if method in SENDING_METHODS:
            chat_id = int(params["chat_id"])
            message = {
                "message_id": next(self._ids),
                "date": self._timestamp(),
                "chat": {"id": chat_id, "type": "private"},
                "from": self.bot_user,
            }
            if method == "sendPhoto":
                message["photo"] = [
                    {"file_id": "photo-1", "file_unique_id": "u1", "width": 640, "height": 480}
                ]
                if "caption" in params:
                    message["caption"] = params["caption"]
            elif method == "sendDocument":
                [(name, _)] = params.get("_files", {"": ("file", b"")}).values()
                message["document"] = {"file_id": f"document-{message['message_id']}",
                                       "file_unique_id": f"d{message['message_id']}",
                                       "file_name": name}
            else:
                message["text"] = params.get("text", "")
            markup = params.get("reply_markup")
            if isinstance(markup, str):
                markup = json.loads(markup)
            if markup and "inline_keyboard" in markup:
                # As Telegram: a sent message carries only its inline keyboard (a reply
                # keyboard belongs to the chat, not to the message).
                message["reply_markup"] = markup
            self.messages[(chat_id, message["message_id"])] = message
            return message
        if method in EDITING_METHODS:
            if "inline_message_id" in params:
                return True
            key = (int(params["chat_id"]), int(params["message_id"]))
            message = dict(self.messages.get(key) or {
                "message_id": key[1], "date": self._timestamp(),
                "chat": {"id": key[0], "type": "private"}, "from": self.bot_user,
            })
            if method == "editMessageText":
                message["text"] = params.get("text", "")
            elif method == "editMessageCaption":
                message["caption"] = params.get("caption", "")
            if "reply_markup" in params:
                message["reply_markup"] = params["reply_markup"]
            else:
                message.pop("reply_markup", None)
            message["edit_date"] = self._timestamp()
            self.messages[key] = message
            return message
        if method == "getMyCommands":
            return []
        if method == "getFile":
            file_id = str(params["file_id"])
            return {"file_id": file_id, "file_unique_id": f"u-{file_id}",
                    "file_size": len(self.files.get(file_id, SAMPLE_PHOTO)),
                    "file_path": f"photos/{file_id}.jpg"}
        return True


@dataclass(frozen=True)
class TelegramUser:
    id: int
    first_name: str = "시민"
    language_code: str | None = "ko"
    username: str | None = None

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"id": self.id, "is_bot": False, "first_name": self.first_name}
        if self.language_code:
            data["language_code"] = self.language_code
        if self.username:
            data["username"] = self.username
        return data


@dataclass
class OfflineTelegram:
    """Drives an Application as Telegram would: each user action becomes one Update."""

    application: Application
    request: OfflineRequest
    clock: Clock | None = None
    _update_ids: itertools.count = field(default_factory=lambda: itertools.count(1))
    _message_ids: itertools.count = field(default_factory=lambda: itertools.count(1_000_000))

    def _date(self) -> int:
        now = self.clock.now() if self.clock else datetime.now(UTC)
        return int(now.timestamp())

    def message_update(self, user: TelegramUser, text: str) -> dict[str, Any]:
        message: dict[str, Any] = {
            "message_id": next(self._message_ids),
            "date": self._date(),
            "chat": {"id": user.id, "type": "private", "first_name": user.first_name},
            "from": user.to_dict(),
            "text": text,
        }
        if text.startswith("/"):
            command = text.split()[0]
            message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(command)}]
        return {"update_id": next(self._update_ids), "message": message}

    def media_update(self, user: TelegramUser, **media: Any) -> dict[str, Any]:
        """A message with no text: `photo=[sizes...]`, `document={...}`, `sticker={...}`."""
        update = self.message_update(user, "")
        del update["message"]["text"]
        update["message"].update(media)
        return update

    def photo_update(self, user: TelegramUser, file_id: str) -> dict[str, Any]:
        """A photo as Telegram sends it: the sizes, smallest first, the largest last."""
        sizes = [
            {"file_id": f"{file_id}-small", "file_unique_id": f"{file_id}-s", "width": 90,
             "height": 67},
            {"file_id": file_id, "file_unique_id": f"{file_id}-l", "width": 1280, "height": 960},
        ]
        return self.media_update(user, photo=sizes)

    def document_update(self, user: TelegramUser, file_name: str,
                        mime_type: str = "image/jpeg") -> dict[str, Any]:
        return self.media_update(user, document={
            "file_id": f"doc-{file_name}", "file_unique_id": f"u-{file_name}",
            "file_name": file_name, "mime_type": mime_type, "file_size": 2_400_000,
        })

    def contact_update(self, user: TelegramUser, phone_number: str,
                       owner_id: int | None = -1) -> dict[str, Any]:
        """A shared contact, as the "share my number" button sends it: the sender's own
        (`user_id` is the sender), or with `owner_id` another person's (a forwarded contact;
        None: a contact without a Telegram account)."""
        contact: dict[str, Any] = {"phone_number": phone_number, "first_name": user.first_name}
        owner = user.id if owner_id == -1 else owner_id
        if owner is not None:
            contact["user_id"] = owner
        return self.media_update(user, contact=contact)

    def callback_update(
        self, user: TelegramUser, data: str, message: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        message = message or {
            "message_id": 1, "date": self._date(), "chat": {"id": user.id, "type": "private"},
            "from": self.request.bot_user, "text": "…",
        }
        return {
            "update_id": next(self._update_ids),
            "callback_query": {
                "id": str(next(self._update_ids)),
                "from": user.to_dict(),
                "chat_instance": str(user.id),
                "message": message,
                "data": data,
            },
        }

    async def feed(self, data: dict[str, Any]) -> list[ApiCall]:
        """Process one Update (as JSON); return the Bot API calls it caused."""
        start = len(self.request.calls)
        update = Update.de_json(data, self.application.bot)
        # Through the update processor, as PTB's own update loop does: per-user order and the
        # chat session (loaded before, saved after) are part of what is tested.
        await self.application.update_processor.process_update(
            update, self.application.process_update(update))
        return self.request.calls[start:]

    async def send(self, user: TelegramUser, text: str) -> list[ApiCall]:
        return await self.feed(self.message_update(user, text))

    async def send_photo(self, user: TelegramUser, file_id: str) -> list[ApiCall]:
        return await self.feed(self.photo_update(user, file_id))

    async def send_document(self, user: TelegramUser, file_name: str) -> list[ApiCall]:
        return await self.feed(self.document_update(user, file_name))

    async def send_contact(self, user: TelegramUser, phone_number: str,
                           owner_id: int | None = -1) -> list[ApiCall]:
        return await self.feed(self.contact_update(user, phone_number, owner_id))

    async def press(
        self,
        user: TelegramUser,
        label: str | None = None,
        *,
        data: str | None = None,
        message: dict[str, Any] | None = None,
    ) -> list[ApiCall]:
        """Press the button whose label contains `label`, on the latest bot message in the
        user's chat that has one; or send raw `data` (which may be forged)."""
        if data is None:
            candidates = [message] if message else self.messages_with_buttons(user.id)
            for candidate in candidates:
                try:
                    button = self.find_button(candidate, label or "")
                except LookupError:
                    continue
                message, data = candidate, button["callback_data"]
                break
            else:
                latest = candidates[0] if candidates else {}
                labels = [b["text"] for b in self.buttons_of(latest)]
                raise LookupError(f"no button {label!r}; latest buttons: {labels}")
        message = message or self.last_message_with_buttons(user.id)
        return await self.feed(self.callback_update(user, data, message))

    def messages_with_buttons(self, chat_id: int) -> list[dict[str, Any]]:
        """The bot's messages in this chat that have buttons, newest first."""
        found = [
            m for (chat, _), m in self.request.messages.items()
            if chat == chat_id and m.get("reply_markup")
        ]
        return sorted(found, key=lambda m: m["message_id"], reverse=True)

    def last_message_with_buttons(self, chat_id: int) -> dict[str, Any] | None:
        found = self.messages_with_buttons(chat_id)
        return found[0] if found else None

    @staticmethod
    def buttons_of(message: dict[str, Any]) -> list[dict[str, Any]]:
        markup = message.get("reply_markup") or {}
        return [b for row in markup.get("inline_keyboard", []) for b in row]

    def find_button(self, message: dict[str, Any], label: str) -> dict[str, Any]:
        for button in self.buttons_of(message):
            if label in button["text"] and "callback_data" in button:
                return button
        labels = [b["text"] for b in self.buttons_of(message)]
        raise LookupError(f"no button {label!r} among {labels}")
