"""Who a campaign counts as one voter (`[voting] identity`): each chat account, each verified
phone number, or each one-time voting code. Numbers and codes are kept only as keyed hashes
(HMAC-SHA256 with CHAMYEO_IDENTITY_KEY, a secret outside the database: without it a hash of a
Korean mobile number could be reversed by trying all 10^8 of them).

The voter a vote is counted for (votes.voter) is derived per campaign, so the votes of two
campaigns cannot be matched to each other, nor to an account, without the key."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum

from sqlalchemy.ext.asyncio import AsyncConnection

from bot.clock import Clock
from bot.domain import Campaign, Citizen, Identity
from storage.database import Database
from storage.repositories import AuditRepository, IdentityRepository

CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I/L: read off paper
CODE_LENGTH = 12  # 31^12 ≈ 8·10^17 codes: guessing one at MAX_WRONG_CODES an hour is hopeless
MAX_WRONG_CODES = 5  # per account and campaign...
WRONG_CODE_WINDOW = timedelta(hours=1)  # ...in this window
MAX_CODES_PER_ISSUE = 100_000


class IdentityKeyMissing(RuntimeError):
    """A campaign counts phones or codes, and CHAMYEO_IDENTITY_KEY is not set."""

    def __init__(self) -> None:
        super().__init__("CHAMYEO_IDENTITY_KEY is not set: campaigns that count verified "
                         "phone numbers or voting codes need it (a long random secret)")


def normalize_phone(raw: str) -> str | None:
    """The number in E.164 (+<country><number>), or None when it is not a phone number.
    Korean forms as people write them: 010-1234-5678, 01012345678, +82 10-1234-5678,
    82-10-1234-5678, (010) 1234 5678."""
    text = raw.strip()
    if not re.fullmatch(r"\+?[\d\s().\-]{8,24}", text):
        return None
    digits = re.sub(r"\D", "", text)
    if text.startswith("+"):
        pass
    elif digits.startswith("00"):  # international prefix
        digits = digits[2:]
    elif digits.startswith("0"):  # a Korean number dialled in Korea
        digits = "82" + digits[1:]
    elif not digits.startswith("82"):
        return None
    if digits.startswith("820"):  # +82 (0)10-…: the trunk 0 written after the country code
        digits = "82" + digits[3:]
    if not 8 <= len(digits) <= 15 or digits[0] == "0":
        return None
    if digits.startswith("82") and not 9 <= len(digits) <= 12:
        return None
    return "+" + digits


def normalize_code(raw: str) -> str | None:
    """A voting code as typed (any case, spaces or dashes anywhere), or None when it cannot
    be one."""
    code = re.sub(r"[\s\-]", "", raw).upper()
    if len(code) != CODE_LENGTH or any(c not in CODE_ALPHABET for c in code):
        return None
    return code


def new_code() -> str:
    code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
    return "-".join(code[i:i + 4] for i in range(0, CODE_LENGTH, 4))


class PhoneOutcome(Enum):
    VERIFIED = "verified"
    INVALID = "invalid"  # not a phone number
    OTHER_NUMBER = "other_number"  # this account verified another number before


class CodeOutcome(Enum):
    ACCEPTED = "accepted"  # bound to this account now, or it already was
    WRONG = "wrong"  # no such code in this campaign
    USED = "used"  # another account entered it first
    HAS_OTHER = "has_other"  # this account already entered another code
    TOO_MANY = "too_many"  # too many wrong codes: wait until `retry_at`


@dataclass(frozen=True)
class CodeResult:
    outcome: CodeOutcome
    retry_at: datetime | None = None


@dataclass(frozen=True)
class IssuedCodes:
    batch: str
    codes: tuple[str, ...]


class Keys:
    """The keyed hashes, from the one secret."""

    def __init__(self, secret: str | None) -> None:
        self._secret = secret.encode() if secret else None

    def _mac(self, text: str) -> str:
        if self._secret is None:
            raise IdentityKeyMissing
        return hmac.new(self._secret, text.encode(), hashlib.sha256).hexdigest()

    @property
    def available(self) -> bool:
        return self._secret is not None

    def phone(self, e164: str) -> str:
        return self._mac(f"phone|{e164}")

    def code(self, campaign_id: int, code: str) -> str:
        return self._mac(f"code|{campaign_id}|{code}")

    def phone_voter(self, campaign_id: int, phone_key: str) -> str:
        return "p:" + self._mac(f"voter|{campaign_id}|{phone_key}")[:40]

    @staticmethod
    def code_voter(code_hash: str) -> str:
        return "c:" + code_hash[:40]

    @staticmethod
    def account_voter(citizen_id: int) -> str:
        return f"a:{citizen_id}"


class IdentityService:
    def __init__(self, db: Database, clock: Clock, secret: str | None) -> None:
        self.db = db
        self.clock = clock
        self.keys = Keys(secret)

    async def voter(self, conn: AsyncConnection, campaign: Campaign,
                    citizen: Citizen) -> str | None:
        """Who this account votes as in the campaign, on an open connection (a vote's own
        transaction); None when the campaign counts people and the account has not shown
        which person it is."""
        identity = campaign.rules.identity
        if identity is Identity.ACCOUNT:
            return Keys.account_voter(citizen.id)
        repo = IdentityRepository(conn)
        if identity is Identity.PHONE:
            phone_key = await repo.phone_key(citizen.id)
            return None if phone_key is None else self.keys.phone_voter(campaign.id, phone_key)
        code_hash = await repo.code_of(campaign.id, citizen.id)
        return None if code_hash is None else Keys.code_voter(code_hash)

    async def verify_phone(self, citizen: Citizen, raw_number: str) -> PhoneOutcome:
        """Keep the account's number as a keyed hash (only that). The caller has made sure the
        number is the account's own (Telegram: the contact's user_id is the sender; KakaoTalk:
        Kakao's own phone plugin)."""
        e164 = normalize_phone(raw_number)
        if e164 is None:
            return PhoneOutcome.INVALID
        phone_key = self.keys.phone(e164)
        async with self.db.write() as conn:
            stored = await IdentityRepository(conn).set_phone_key(citizen.id, phone_key,
                                                                   self.clock.now())
        return PhoneOutcome.VERIFIED if stored == phone_key else PhoneOutcome.OTHER_NUMBER

    async def has_phone(self, citizen: Citizen) -> bool:
        async with self.db.read() as conn:
            return await IdentityRepository(conn).phone_key(citizen.id) is not None

    async def redeem_code(self, campaign: Campaign, citizen: Citizen, raw_code: str) -> CodeResult:
        """Bind a voting code to this account for the campaign. Past MAX_WRONG_CODES wrong
        codes in WRONG_CODE_WINDOW the account waits, whatever it types (a right code too), so
        codes cannot be found by trying."""
        now = self.clock.now()
        window_after = now - WRONG_CODE_WINDOW
        code = normalize_code(raw_code)
        async with self.db.write() as conn:
            repo = IdentityRepository(conn)
            failures, started = await repo.failures(campaign.id, citizen.id, window_after)
            if failures >= MAX_WRONG_CODES:
                assert started is not None
                return CodeResult(CodeOutcome.TOO_MANY, retry_at=started + WRONG_CODE_WINDOW)
            code_hash = self.keys.code(campaign.id, code) if code else None
            exists, holder = (await repo.code_holder(campaign.id, code_hash)
                              if code_hash else (False, None))
            if not exists:
                await repo.add_failure(campaign.id, citizen.id, now, window_after)
                await AuditRepository(conn).record_repeated(now, f"citizen:{citizen.id}",
                                                            "code.wrong", campaign.id)
                return CodeResult(CodeOutcome.WRONG)
            assert code_hash is not None
            if holder == citizen.id:
                return CodeResult(CodeOutcome.ACCEPTED)
            if await repo.code_of(campaign.id, citizen.id) is not None:
                return CodeResult(CodeOutcome.HAS_OTHER)
            if not await repo.bind_code(campaign.id, code_hash, citizen.id, now):
                return CodeResult(CodeOutcome.USED)
        return CodeResult(CodeOutcome.ACCEPTED)

    async def has_code(self, campaign: Campaign, citizen: Citizen) -> bool:
        async with self.db.read() as conn:
            return await IdentityRepository(conn).code_of(campaign.id, citizen.id) is not None

    def batch_name(self) -> str:
        """The name of a batch issued now: it tells batches apart (files, audit log)."""
        return self.clock.now().strftime("%Y%m%d-%H%M%S")

    async def issue_codes(self, campaign: Campaign, count: int, by: str,
                          batch: str | None = None) -> IssuedCodes:
        """`count` new codes for the campaign: stored as hashes, returned once in the clear
        (to print)."""
        if not 1 <= count <= MAX_CODES_PER_ISSUE:
            raise ValueError(f"count must be 1-{MAX_CODES_PER_ISSUE}")
        now = self.clock.now()
        codes: set[str] = set()
        while len(codes) < count:
            codes.add(new_code())
        batch = batch or self.batch_name()
        hashes = [self.keys.code(campaign.id, normalize_code(c) or "") for c in codes]
        async with self.db.write() as conn:
            await IdentityRepository(conn).add_codes(campaign.id, hashes, batch, now)
            await AuditRepository(conn).record(now, by, "codes.issued", campaign.id,
                                               batch=batch, count=count)
        return IssuedCodes(batch, tuple(sorted(codes)))
