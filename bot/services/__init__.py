"""Channel-neutral services: what the bot does, whatever the chat app. Handlers call these and
turn their typed outcomes into messages."""

from __future__ import annotations

from dataclasses import dataclass

from bot.clock import Clock
from bot.services.campaigns import CampaignService
from bot.services.catalog import CatalogService
from bot.services.citizens import CitizenService
from bot.services.voting import VotingService
from storage.database import Database


@dataclass
class Services:
    db: Database
    clock: Clock
    campaigns: CampaignService
    catalog: CatalogService
    citizens: CitizenService
    voting: VotingService

    @classmethod
    def create(cls, db: Database, clock: Clock, default_language: str = "ko") -> Services:
        return cls(
            db=db,
            clock=clock,
            campaigns=CampaignService(db, clock),
            catalog=CatalogService(db),
            citizens=CitizenService(db, clock, default_language),
            voting=VotingService(db, clock),
        )
