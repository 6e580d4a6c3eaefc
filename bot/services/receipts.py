"""The public receipt list: once voting has closed, anyone can look up the receipt a vote gave
them, and get the receipt of every counted vote per case, to recount each case. A receipt is
random (`bot.services.voting.new_receipt`): the list names no citizen, voter or time."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from enum import Enum

from bot.clock import Clock
from bot.domain import Campaign, Case, PhaseStatus
from bot.services.exports import CSV_ENCODING
from bot.services.voting import RECEIPT_ALPHABET
from storage.database import Database
from storage.repositories import CampaignRepository
from storage.repositories.receipts import ReceiptRepository

RECEIPT_LENGTH = 8
CSV_HEADER = ("case_id", "case_key", "case_title", "receipt")


class ReceiptStatus(Enum):
    FOUND = "found"
    NOT_FOUND = "not_found"  # no counted vote has it (a changed vote's old receipt too)
    NOT_YET = "not_yet"  # voting has not closed: the list would change under the reader


@dataclass(frozen=True)
class ReceiptLookup:
    status: ReceiptStatus
    receipt: str | None = None  # the typed receipt in its printed form, when it is one
    case: Case | None = None


@dataclass(frozen=True)
class ReceiptRow:
    case_id: int
    case_key: str
    case_title: str
    receipt: str


class ReceiptsNotYet(Exception):
    """Voting has not closed: there is no final list to give."""


def normalize_receipt(typed: str) -> str | None:
    """'abcd efgh', 'ABCD-EFGH', 'abcdefgh' → 'ABCD-EFGH'; None for anything else."""
    code = "".join(ch for ch in typed.upper() if ch not in " -\u2010\u2011\u2012\u2013\u2014\t")
    if len(code) != RECEIPT_LENGTH or any(ch not in RECEIPT_ALPHABET for ch in code):
        return None
    return f"{code[:4]}-{code[4:]}"


class ReceiptService:
    def __init__(self, db: Database, clock: Clock) -> None:
        self.db = db
        self.clock = clock

    def is_open(self, campaign: Campaign) -> bool:
        """Whether the list can be shown: voting has closed."""
        return campaign.voting_window(self.clock.now()) is PhaseStatus.CLOSED

    async def _fresh(self, conn, campaign: Campaign) -> Campaign:
        # Staff may have moved the voting phase since `campaign` was read.
        return await CampaignRepository(conn).get(campaign.id) or campaign

    async def lookup(self, campaign: Campaign, typed: str) -> ReceiptLookup:
        async with self.db.read() as conn:
            if not self.is_open(await self._fresh(conn, campaign)):
                return ReceiptLookup(ReceiptStatus.NOT_YET)
            receipt = normalize_receipt(typed)
            if receipt is None:
                return ReceiptLookup(ReceiptStatus.NOT_FOUND)
            case = await ReceiptRepository(conn).case_of(campaign.id, receipt)
        if case is None:
            return ReceiptLookup(ReceiptStatus.NOT_FOUND, receipt)
        return ReceiptLookup(ReceiptStatus.FOUND, receipt, case)

    async def rows(self, campaign: Campaign, language: str = "ko") -> list[ReceiptRow]:
        """Every counted vote's receipt, by case then receipt. Refused before voting closes."""
        async with self.db.read(scans=True) as conn:
            if not self.is_open(await self._fresh(conn, campaign)):
                raise ReceiptsNotYet
            counted = await ReceiptRepository(conn).counted(campaign.id)
        return [ReceiptRow(case.id, case.key, case.text(language).title, receipt)
                for case, receipt in counted]

    async def count(self, campaign: Campaign) -> int:
        """How many receipts the list holds (one per counted vote). Refused before voting
        closes."""
        async with self.db.read(scans=True) as conn:
            if not self.is_open(await self._fresh(conn, campaign)):
                raise ReceiptsNotYet
            return await ReceiptRepository(conn).count(campaign.id)

    async def csv_bytes(self, campaign: Campaign, language: str = "ko") -> bytes:
        """The list as a CSV file (UTF-8 with a BOM, so Excel reads Korean)."""
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(CSV_HEADER)
        for row in await self.rows(campaign, language):
            writer.writerow((row.case_id, row.case_key, row.case_title, row.receipt))
        return out.getvalue().encode(CSV_ENCODING)
