"""Channel-neutral services: what the bot does, whatever the chat app. Handlers call these and
turn their typed outcomes into messages."""

from __future__ import annotations

from dataclasses import dataclass

from bot.clock import Clock
from bot.services.announcements import AnnounceChat, AnnouncementService
from bot.services.audit_log import AuditLogService
from bot.services.broadcasts import Broadcaster
from bot.services.campaigns import CampaignService
from bot.services.catalog import CatalogService
from bot.services.citizens import CitizenService
from bot.services.exports import ExportService
from bot.services.identity import IdentityService
from bot.services.judging import JudgingService
from bot.services.moderation import ModerationService
from bot.services.phases import PhaseService
from bot.services.privacy import PrivacyService
from bot.services.receipts import ReceiptService
from bot.services.results import ResultsService
from bot.services.sessions import SessionService
from bot.services.staff import StaffService
from bot.services.staff_broadcasts import StaffBroadcastService
from bot.services.submissions import SubmissionService
from bot.services.subscriptions import SubscriptionService
from bot.services.tally import TallyService
from bot.services.voting import VotingService
from bot.services.web_access import WebAccessService
from storage.coordination import new_worker_id
from storage.database import Database


@dataclass
class Services:
    db: Database
    clock: Clock
    campaigns: CampaignService
    catalog: CatalogService
    citizens: CitizenService
    identity: IdentityService
    voting: VotingService
    subscriptions: SubscriptionService
    broadcaster: Broadcaster
    announcements: AnnouncementService
    staff: StaffService
    judging: JudgingService
    results: ResultsService
    tally: TallyService
    exports: ExportService
    phases: PhaseService
    moderation: ModerationService
    submissions: SubmissionService
    staff_broadcasts: StaffBroadcastService
    audit: AuditLogService
    sessions: SessionService
    privacy: PrivacyService
    receipts: ReceiptService
    web_access: WebAccessService
    worker_id: str

    @classmethod
    def create(
        cls,
        db: Database,
        clock: Clock,
        default_language: str = "ko",
        announce_chat: AnnounceChat | None = None,
        broadcaster: Broadcaster | None = None,
        bootstrap_admins: dict[str, frozenset[str]] | None = None,
        worker_id: str | None = None,
        identity_key: str | None = None,
        public_url: str | None = None,
    ) -> Services:
        """Channels register their senders on `broadcaster` when they are wired. `worker_id`
        names this process in the claims and turns it takes (default: a new one).
        `identity_key` is CHAMYEO_IDENTITY_KEY (campaigns counting phones or codes need it);
        `public_url` CHAMYEO_PUBLIC_URL (the web console's sign-in links)."""
        worker_id = worker_id or (broadcaster.worker_id if broadcaster else new_worker_id())
        broadcaster = broadcaster or Broadcaster(db, clock, worker_id=worker_id)
        announcements = AnnouncementService(db, clock, broadcaster, announce_chat)
        results = ResultsService(db, clock, announcements)
        staff = StaffService(db, clock, bootstrap_admins)
        identity = IdentityService(db, clock, identity_key)
        citizens = CitizenService(db, clock, default_language)
        sessions = SessionService(db, clock, worker_id)
        return cls(
            db=db,
            clock=clock,
            campaigns=CampaignService(db, clock),
            catalog=CatalogService(db, clock),
            citizens=citizens,
            identity=identity,
            voting=VotingService(db, clock, identity),
            subscriptions=SubscriptionService(db, clock),
            broadcaster=broadcaster,
            announcements=announcements,
            staff=staff,
            judging=JudgingService(db, clock),
            results=results,
            tally=TallyService(db, clock, staff),
            exports=ExportService(db, clock, results),
            phases=PhaseService(db, clock),
            moderation=ModerationService(db, clock, broadcaster),
            submissions=SubmissionService(db, clock),
            staff_broadcasts=StaffBroadcastService(db, clock, broadcaster),
            audit=AuditLogService(db),
            sessions=sessions,
            privacy=PrivacyService(db, clock, citizens, sessions),
            receipts=ReceiptService(db, clock),
            web_access=WebAccessService(db, clock, staff, public_url),
            worker_id=worker_id,
        )
