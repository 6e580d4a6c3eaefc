"""Repositories: each one reads and writes one kind of record on an open connection and
returns domain objects. Services decide the transaction (`Database.read()` / `write()`)."""

from storage.repositories.announcements import AnnouncementRepository
from storage.repositories.audit import AuditRepository
from storage.repositories.broadcasts import BroadcastRepository
from storage.repositories.campaigns import CampaignRepository
from storage.repositories.cases import CaseRepository
from storage.repositories.citizens import CitizenRepository
from storage.repositories.drafts import DraftRepository
from storage.repositories.identity import IdentityRepository
from storage.repositories.scores import ScoreRepository
from storage.repositories.secrets import SecretRepository
from storage.repositories.staff import StaffRepository
from storage.repositories.subscriptions import SubscriptionRepository
from storage.repositories.votes import VoteRepository

__all__ = [
    "AnnouncementRepository",
    "AuditRepository",
    "BroadcastRepository",
    "CampaignRepository",
    "CaseRepository",
    "CitizenRepository",
    "DraftRepository",
    "IdentityRepository",
    "ScoreRepository",
    "SecretRepository",
    "StaffRepository",
    "SubscriptionRepository",
    "VoteRepository",
]
