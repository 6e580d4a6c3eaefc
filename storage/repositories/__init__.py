"""Repositories: each one reads and writes one kind of record on an open connection and
returns domain objects. Services decide the transaction (`Database.read()` / `write()`)."""

from storage.repositories.audit import AuditRepository
from storage.repositories.campaigns import CampaignRepository
from storage.repositories.cases import CaseRepository
from storage.repositories.citizens import CitizenRepository
from storage.repositories.votes import VoteRepository

__all__ = [
    "AuditRepository",
    "CampaignRepository",
    "CaseRepository",
    "CitizenRepository",
    "VoteRepository",
]
