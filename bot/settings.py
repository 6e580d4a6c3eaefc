"""Settings from the environment and `.env`. A bad value is one clear line, never a traceback
(see `load_settings`)."""

from __future__ import annotations

import re
from typing import Annotated
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import ValidationError, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from sqlalchemy.engine import make_url

from bot.domain import LANGUAGES

DEFAULT_API_BASE_URL = "https://api.telegram.org/bot"
# What KakaoTalk needs to be served (the skill server); the Event API needs two more.
KAKAO_REQUIRED = ("CHAMYEO_KAKAO_BOT_ID", "CHAMYEO_KAKAO_SKILL_SECRET", "CHAMYEO_KAKAO_BLOCK_ID")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    telegram_bot_token: str | None = None
    telegram_api_base_url: str = DEFAULT_API_BASE_URL
    chamyeo_database_url: str = "sqlite+aiosqlite:///chamyeo.db"
    chamyeo_admin_ids: Annotated[tuple[int, ...], NoDecode] = ()
    chamyeo_timezone: str = "Asia/Seoul"
    chamyeo_default_language: str = "ko"
    # A public channel or group that receives every announcement too (optional).
    chamyeo_announce_chat_id: int | None = None
    # Telegram webhook mode (`chamyeo run --webhook`): the public HTTPS URL Telegram posts to,
    # where to listen, and the secret Telegram sends back in X-Telegram-Bot-Api-Secret-Token.
    telegram_webhook_url: str | None = None
    telegram_webhook_listen: str = "0.0.0.0"
    telegram_webhook_port: int = 8443
    telegram_webhook_secret: str | None = None
    # KakaoTalk (Kakao i Open Builder). The skill server runs when the bot id, the secret
    # header value and the block id are set; announcements go out when the REST API key and
    # the event name are too.
    chamyeo_kakao_bot_id: str | None = None
    chamyeo_kakao_skill_secret: str | None = None
    chamyeo_kakao_block_id: str | None = None  # the block every button of ours calls
    # The welcome block (optional): a request from it is answered with the greeting and the
    # menu whatever its utterance; without it a menu word greets and any other word searches.
    chamyeo_kakao_welcome_block_id: str | None = None
    # The block with Kakao's phone number plugin, calling our skill (optional): campaigns with
    # `[voting] identity = "phone"` send citizens there to show their number on KakaoTalk.
    chamyeo_kakao_phone_block_id: str | None = None
    chamyeo_kakao_listen: str = "0.0.0.0"
    chamyeo_kakao_port: int = 8080
    chamyeo_kakao_rest_api_key: str | None = None
    chamyeo_kakao_event_name: str | None = None
    chamyeo_kakao_event_api_url: str = "https://bot-api.kakao.com"
    # The public base address of our HTTP server (the one serving /kakao/skill), e.g.
    # https://chamyeo.example.org: KakaoTalk shows pictures only from a public URL, so the
    # results chart and case pictures held as files are served under <this>/media/.
    chamyeo_public_url: str | None = None
    # The secret behind the keyed hashes of phone numbers and voting codes (HMAC-SHA256):
    # campaigns with `[voting] identity = "phone"` or `"code"` need it. Keep it out of the
    # database and its backups, and never change it during a campaign.
    chamyeo_identity_key: str | None = None
    # Serve the web (staff console, public pages) even without CHAMYEO_PUBLIC_URL, e.g. on a
    # desk inside the city's network (`chamyeo run --web` sets it too).
    chamyeo_web: bool = False
    # The public pages' buttons into chat (optional; a button shows only when its setting is):
    # the Telegram bot's username (a case's page links to t.me/<it>?start=case_<id>), and the
    # KakaoTalk channel's address, e.g. https://pf.kakao.com/_xxxx (or .../chat).
    chamyeo_telegram_bot_username: str | None = None
    chamyeo_kakao_channel_url: str | None = None

    @property
    def kakao_missing(self) -> tuple[str, ...]:
        """The settings KakaoTalk still needs, by name (none: it is served)."""
        return tuple(name for name in KAKAO_REQUIRED if not getattr(self, name.lower()))

    @property
    def kakao_enabled(self) -> bool:
        return not self.kakao_missing

    @property
    def web_enabled(self) -> bool:
        """The staff console and the public pages: with a public address, or when asked."""
        return bool(self.chamyeo_public_url) or self.chamyeo_web

    @property
    def http_enabled(self) -> bool:
        """Whether the HTTP server runs: for the KakaoTalk skill, the web, or both."""
        return self.kakao_enabled or self.web_enabled

    @property
    def http_parts(self) -> tuple[str, ...]:
        return (("KakaoTalk skill",) if self.kakao_enabled else ()) + (
            ("web console and public pages",) if self.web_enabled else ())

    @property
    def kakao_events_enabled(self) -> bool:
        return bool(self.kakao_enabled and self.chamyeo_kakao_rest_api_key
                    and self.chamyeo_kakao_event_name)

    @field_validator(
        "chamyeo_announce_chat_id", "telegram_webhook_url", "telegram_webhook_secret",
        "chamyeo_kakao_bot_id", "chamyeo_kakao_skill_secret", "chamyeo_kakao_block_id",
        "chamyeo_kakao_welcome_block_id", "chamyeo_kakao_phone_block_id",
        "chamyeo_kakao_rest_api_key",
        "chamyeo_kakao_event_name", "chamyeo_public_url", "chamyeo_identity_key",
        "chamyeo_telegram_bot_username", "chamyeo_kakao_channel_url",
        mode="before",
    )
    @classmethod
    def _empty_is_none(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("chamyeo_kakao_welcome_block_id", "chamyeo_kakao_phone_block_id")
    @classmethod
    def _not_the_button_block(cls, value: str | None, info: ValidationInfo) -> str | None:
        # Every press of ours calls the button block: as the welcome block it would only
        # greet, as the phone block it would only ask for a number.
        if value is not None and value == info.data.get("chamyeo_kakao_block_id"):
            raise ValueError("must be another block than CHAMYEO_KAKAO_BLOCK_ID (the block "
                             "our buttons call)")
        if value is not None and info.field_name == "chamyeo_kakao_phone_block_id" \
                and value == info.data.get("chamyeo_kakao_welcome_block_id"):
            raise ValueError("must be another block than CHAMYEO_KAKAO_WELCOME_BLOCK_ID")
        return value

    @field_validator("chamyeo_identity_key")
    @classmethod
    def _long_enough(cls, value: str | None) -> str | None:
        if value is not None and len(value) < 32:
            raise ValueError("must be at least 32 characters (e.g. `python -c \"import "
                             "secrets; print(secrets.token_hex(32))\"`)")
        return value

    @field_validator("chamyeo_admin_ids", mode="before")
    @classmethod
    def _split_ids(cls, value: object) -> object:
        if isinstance(value, str):
            parts = [p.strip() for p in value.split(",") if p.strip()]
            bad = [p for p in parts if not p.lstrip("-").isdigit()]
            if bad:
                raise ValueError(f"not a Telegram user id: {bad[0]!r}")
            return tuple(int(p) for p in parts)
        return value

    @field_validator("chamyeo_timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown timezone {value!r}") from None
        return value

    @field_validator("chamyeo_default_language")
    @classmethod
    def _known_language(cls, value: str) -> str:
        if value not in LANGUAGES:
            raise ValueError(f"must be one of {', '.join(LANGUAGES)}")
        return value

    @field_validator("telegram_webhook_secret")
    @classmethod
    def _webhook_secret(cls, value: str | None) -> str | None:
        # Telegram's rule for secret_token: 1-256 of A-Z, a-z, 0-9, _ and -.
        if value is not None and not re.fullmatch(r"[A-Za-z0-9_-]{1,256}", value):
            raise ValueError("1-256 characters: letters, digits, _ and - only")
        return value

    @field_validator("telegram_webhook_url", "chamyeo_kakao_event_api_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("https://", "http://")):
            raise ValueError("must be an http(s):// URL")
        return value

    @field_validator("chamyeo_telegram_bot_username")
    @classmethod
    def _bot_username(cls, value: str | None) -> str | None:
        # Telegram's rule: 5-32 letters, digits and _; written with or without the @.
        if value is None:
            return value
        name = value.strip().removeprefix("@")
        if not re.fullmatch(r"[A-Za-z0-9_]{5,32}", name):
            raise ValueError("a Telegram bot username: 5-32 letters, digits and _ "
                             "(e.g. chamyeo_bot)")
        return name

    @field_validator("chamyeo_kakao_channel_url")
    @classmethod
    def _channel_url(cls, value: str | None) -> str | None:
        if value is None:
            return value
        parts = urlsplit(value.strip())
        if parts.scheme != "https" or not parts.netloc:
            raise ValueError("must be an https:// address, e.g. https://pf.kakao.com/_xxxx")
        return value.strip()

    @field_validator("chamyeo_public_url")
    @classmethod
    def _public_url(cls, value: str | None) -> str | None:
        if value is None:
            return value
        parts = urlsplit(value.strip())
        if parts.scheme not in ("https", "http") or not parts.netloc:
            raise ValueError("must be an http(s):// URL with a host name")
        if parts.query or parts.fragment:
            raise ValueError("must be a base address, without ?query or #fragment")
        return value.strip().rstrip("/")

    @field_validator("chamyeo_database_url")
    @classmethod
    def _async_driver(cls, value: str) -> str:
        return check_database_url(value)


def check_database_url(value: str) -> str:
    """A database URL with one of our async drivers that SQLAlchemy can read; ValueError with a
    message that never repeats the URL (it may hold a password)."""
    if not value.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
        raise ValueError("use sqlite+aiosqlite:///FILE or postgresql+asyncpg://...")
    try:
        make_url(value)
    except Exception:  # e.g. a port that is not a number
        raise ValueError("not a database URL SQLAlchemy can read (check the host and port; "
                         "a password with @, : or / in it must be %-encoded)") from None
    return value


class SettingsError(Exception):
    """One line that says which setting is wrong and why."""


def load_settings(**overrides: object) -> Settings:
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        first = exc.errors()[0]
        name = str(first["loc"][0]).upper() if first["loc"] else "settings"
        message = str(first["msg"]).removeprefix("Value error, ")
        raise SettingsError(f"setting {name} is invalid: {message}") from None
