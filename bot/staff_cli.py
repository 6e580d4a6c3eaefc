"""`chamyeo cases ...` and `chamyeo results ...`: the staff's moderation and publishing from
the command line, for a city whose only channel is KakaoTalk (which has no staff commands).
Over the same services as Telegram's /moderate, /hide, /results and /publish, so the same
rules, the same audit log (the actor is `cli:<login name>`) and the same notices.

This process has no channel: its broadcaster only records (Broadcaster `record_only`). The
submitter's notice and the results announcement are written in the database as always and
sent by the running bot's leader (its scheduler tick resumes unfinished broadcasts); the
output says so."""

from __future__ import annotations

import getpass
import sys
import unicodedata
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from bot.domain import Campaign, CaseStatus, PhaseName
from bot.i18n import format_when
from bot.services import Services
from bot.services.moderation import REASON_MAX, CaseRecord, ModerationOutcome, ModerationResult
from bot.services.results import PublishOutcome
from bot.services.staff import actor
from bot.text import plain_text, shorten

EXIT_INVALID = 1
EXIT_USAGE = 2
LISTED_STATUSES = ("submitted", "approved", "rejected", "hidden")
LIST_TITLE_LENGTH = 40
LIST_ORGANISATION_LENGTH = 24
MAX_CASE_ID = 2**31 - 1  # an integer column: a larger number names no case
ACTOR_NAME_LENGTH = 48  # the audit log's actor holds 64 characters


def cli_actor() -> str:
    """Who did it, for the audit log: `cli:<login name>`."""
    try:
        name = getpass.getuser()
    except Exception:  # no login name (a container without a passwd entry, say)
        name = "unknown"
    return actor("cli", printable(name, keep_newlines=False)[:ACTOR_NAME_LENGTH] or "unknown")


class OutputClosed(Exception):
    """Whoever read the output went away (`chamyeo cases list | head`): not a database error."""


def say(line: str) -> None:
    try:
        print(line, flush=True)
    except BrokenPipeError:
        raise OutputClosed from None


def refuse(line: str) -> None:
    print(f"chamyeo: {line}", file=sys.stderr)


def printable(text: str, keep_newlines: bool = True) -> str:
    """What people typed, safe for a terminal: control characters (an escape sequence that
    would recolour or rewrite the screen) are shown as codes, not obeyed."""
    out = []
    for char in text:
        if char == "\n" and keep_newlines:
            out.append(char)
        elif unicodedata.category(char) in ("Cc", "Cf") and char not in "\u200d":
            out.append(f"\\x{ord(char):02x}" if ord(char) < 0x100 else f"\\u{ord(char):04x}")
        else:
            out.append(char)
    return "".join(out)


def width(text: str) -> int:
    """Columns a terminal gives `text`: Korean (wide) characters take two."""
    return sum(2 if unicodedata.east_asian_width(c) in ("W", "F") else 1 for c in text)


def table(rows: list[list[str]]) -> list[str]:
    """Rows as aligned columns (by display width), two spaces apart."""
    widths = [max(width(row[i]) for row in rows) for i in range(len(rows[0]))]
    return ["  ".join(cell + " " * (widths[i] - width(cell)) for i, cell in enumerate(row)
                      ).rstrip() for row in rows]


def local(campaign: Campaign, instant: datetime) -> str:
    return instant.astimezone(ZoneInfo(campaign.timezone)).strftime("%Y-%m-%d %H:%M")


async def find_campaign(services: Services, slug: str) -> Campaign | None:
    """The campaign named `slug`; if there is none, says so (with the known ones)."""
    campaigns = await services.campaigns.all()
    campaign = next((c for c in campaigns if c.slug == slug), None)
    if campaign is None:
        known = ", ".join(sorted(c.slug for c in campaigns)) or "none"
        refuse(f"no campaign {slug!r} (known: {known})")
    return campaign


def case_id(text: str) -> int | None:
    """The case id typed, or None if it is not a number (said in one line)."""
    if not (text.isascii() and text.isdigit()):
        refuse(f"a case id is a number, as `chamyeo cases list` shows it, not {text!r}")
        return None
    return int(text)


def _district(campaign: Campaign, record: CaseRecord) -> str:
    district = campaign.district(record.case.district)
    return district.name.get("ko") if district else record.case.district


def _channel(record: CaseRecord) -> str:
    return record.channel or "file"


async def list_cases(services: Services, slug: str, status: str | None) -> int:
    campaign = await find_campaign(services, slug)
    if campaign is None:
        return EXIT_INVALID
    wanted = CaseStatus(status) if status else CaseStatus.SUBMITTED
    records = await services.moderation.records(campaign, wanted)
    if not records:
        say(f"no {wanted.value} cases in {slug}"
            + (" (the moderation queue is empty)" if status is None else ""))
        return 0
    rows = [["id", "reference", "status", "district", "title", "organisation", "entered",
             "channel"]]
    for r in records:
        text = r.case.ko
        rows.append([str(r.case.id), printable(r.case.key, False), r.case.status.value,
                     printable(_district(campaign, r), False),
                     printable(shorten(text.title, LIST_TITLE_LENGTH), False),
                     printable(shorten(text.organization, LIST_ORGANISATION_LENGTH), False),
                     local(campaign, r.entered_at), _channel(r)])
    for line in table(rows):
        say(line)
    what = "waiting for a decision, oldest first" if wanted is CaseStatus.SUBMITTED \
        else wanted.value
    say(f"{len(records)} case(s) {what}; times in {campaign.timezone}")
    return 0


async def show_case(services: Services, slug: str, id_text: str) -> int:
    number = case_id(id_text)
    if number is None:
        return EXIT_USAGE
    campaign = await find_campaign(services, slug)
    if campaign is None:
        return EXIT_INVALID
    record = await services.moderation.record(campaign, number if number <= MAX_CASE_ID else 0)
    if record is None:
        refuse(f"no case {number} in {slug}")
        return EXIT_INVALID
    case = record.case
    category = campaign.category(case.category)
    source = (f"sent in by chat ({record.channel})" if record.channel
              else "from the campaign file")
    fields = [
        ("case", f"{case.id} · reference {case.key} · {case.status.value}"),
        ("title", case.ko.title),
        ("organisation", case.ko.organization),
        ("district", f"{_district(campaign, record)} · {case.neighbourhood}"),
        ("category", category.name.get("ko") if category else case.category),
        ("entered", f"{local(campaign, record.entered_at)} ({campaign.timezone}), {source}"),
    ]
    submitter = await services.moderation.submitter(case) if record.channel else None
    if submitter is not None and submitter.contact:  # for staff to call back
        fields.append(("contact", submitter.contact))
    if record.reason:
        fields.append(("staff's reason", record.reason))
    label = len("staff's reason:")  # the same columns, with a reason or without
    for name, value in fields:
        say(f"{name + ':':<{label}} {printable(value, False)}")
    say("")
    say("summary:")
    say(printable(case.ko.summary))
    say("")
    say("body:")
    say(printable(case.ko.body))
    if case.en is not None:
        say("")
        say(f"in English: {printable(case.en.title, False)}")
        say(printable(case.en.summary))
    if case.status is CaseStatus.SUBMITTED:
        say("")
        say(f"decide: chamyeo cases approve --campaign {slug} {case.id}, or "
            f"chamyeo cases reject --campaign {slug} {case.id} --reason TEXT")
    return 0


async def decide(services: Services, slug: str, id_text: str, decision: str,
                 reason: str | None) -> int:
    number = case_id(id_text)
    if number is None:
        return EXIT_USAGE
    campaign = await find_campaign(services, slug)
    if campaign is None:
        return EXIT_INVALID
    # A number too large for the id column names no case: asked as 0, which is none either
    # (the service still checks the reason first, as for any case).
    lookup = number if number <= MAX_CASE_ID else 0
    by = cli_actor()
    if decision == "approve":
        result = await services.moderation.approve(campaign, lookup, by)
    elif decision == "reject":
        result = await services.moderation.reject(campaign, lookup, by, reason or "")
    else:
        result = await services.moderation.hide(campaign, lookup, by, reason or "")
    return _told(result, number, slug, decision, reason)


DONE = {"approve": "approved", "reject": "rejected", "hide": "hidden"}


def _told(result: ModerationResult, number: int, slug: str, decision: str,
          reason: str | None) -> int:
    if result.outcome is ModerationOutcome.DONE:
        line = f"case {number} {DONE[decision]}"
        if decision == "hide":
            line += " (its votes stay recorded)"
        if result.notice_id is not None and result.submitter is not None:
            line += (f"; the running bot tells the submitter on {result.submitter.channel} "
                     f"(notice {result.notice_id})")
        else:
            line += "; from the campaign file, so there is no submitter to tell"
        say(line)
        return 0
    if result.outcome is ModerationOutcome.BAD_REASON:
        given = len((reason or "").strip())
        refuse(f"bad reason: it must be 1–{REASON_MAX} characters (it has {given}); "
               "nothing changed")
    elif result.outcome is ModerationOutcome.UNKNOWN_CASE:
        refuse(f"unknown case: no case {number} in {slug}; nothing changed")
    else:
        current = result.case.status.value if result.case else "unknown"
        if decision == "hide":
            refuse(f"case {number} is {current}, not approved: only an approved case can be "
                   "hidden; nothing changed")
        else:
            refuse(f"case {number} was already decided: it is {current}; nothing changed")
    return EXIT_INVALID


async def preview_results(services: Services, slug: str, language: str) -> int:
    from bot.phrases import results_preview_lines

    campaign = await find_campaign(services, slug)
    if campaign is None:
        return EXIT_INVALID
    ranked = await services.results.ranking(campaign)
    readiness = await services.results.readiness(campaign)
    for line in results_preview_lines(language, campaign, ranked, readiness):
        say(printable(plain_text(line)))
    return 0


async def publish_results(services: Services, slug: str, incomplete_ok: bool = False) -> int:
    campaign = await find_campaign(services, slug)
    if campaign is None:
        return EXIT_INVALID
    result = await services.results.publish(campaign, cli_actor(), incomplete_ok)
    if result.outcome is PublishOutcome.PUBLISHED and result.published_at is not None:
        unscored = (f" with {result.unscored} approved cases unscored by the judges"
                    if result.unscored else "")
        say(f"results of {slug} published at {_when(campaign, result.published_at)}"
            f"{unscored}; announced by the running bot to the subscribers (broadcast "
            f"{result.broadcast_id})")
        return 0
    if result.outcome is PublishOutcome.INCOMPLETE:
        from bot.phrases import readiness_lines

        missing = result.readiness
        what = [text for n, text in (
            (len(missing.unscored), f"{len(missing.unscored)} approved cases have no judge's "
                                    "score"),
            (len(missing.idle_judges), f"{len(missing.idle_judges)} judges scored nothing"),
            (len(missing.ties), f"{len(missing.ties)} ties at an award's edge"),
        ) if n]
        refuse(f"judging incomplete: {', '.join(what)}; the results of {slug} were not "
               "published (to publish anyway: --incomplete-ok)")
        ranked = await services.results.ranking(campaign)
        for line in readiness_lines("en", campaign, missing, len(ranked)):
            refuse(printable(plain_text(line)))
        return EXIT_INVALID
    if result.outcome is PublishOutcome.ALREADY:
        at = _when(campaign, result.published_at) if result.published_at else "an earlier time"
        refuse(f"already published: the results of {slug} were published at {at}; "
               "not publishing again")
    else:
        voting = campaign.phase(PhaseName.VOTING)
        closes = f" (it closes {_when(campaign, voting.end)})" if voting and voting.end else ""
        refuse(f"too early: voting has not closed yet{closes}; the results of {slug} cannot "
               "be published")
    return EXIT_INVALID


def _when(campaign: Campaign, instant: datetime) -> str:
    return f"{format_when(instant, campaign.timezone, 'en')} ({campaign.timezone})"


async def purge(services: Services, slug: str, dry_run: bool = False) -> int:
    """`chamyeo purge`: the campaign's personal data, once its retention period is over."""
    from bot.services.privacy import PurgeOutcome

    campaign = await find_campaign(services, slug)
    if campaign is None:
        return EXIT_INVALID
    report = await services.privacy.purge(campaign, cli_actor(), dry_run=dry_run)
    if report.outcome is PurgeOutcome.TOO_EARLY:
        refuse(f"the personal data of {slug} is kept {campaign.retention_days} days after its "
               f"last phase ends ([privacy] retention_days): it can be purged from "
               f"{report.possible_from.astimezone(ZoneInfo(campaign.timezone)):%Y-%m-%d %H:%M} "
               f"({campaign.timezone}); nothing was changed")
        return EXIT_INVALID
    counts = ", ".join(f"{kind} {n}" for kind, n in report.counts.items())
    if report.outcome is PurgeOutcome.DRY_RUN:
        say(f"dry run, nothing changed: a purge of {slug} would remove or anonymise: {counts}")
    else:
        say(f"purged the personal data of {slug} ({counts}); its tallies and receipts are "
            "kept")
        if report.counts.get("accounts") and not services.db.shared:
            # A running bot on SQLite remembers accounts it has seen (CitizenService) and
            # their chat sessions (SessionService).
            say("restart a running `chamyeo run` on this SQLite database, so it forgets the "
                "accounts and chat sessions it remembers")
    return 0


async def issue_codes(services: Services, slug: str, count: int, out: str) -> int:
    """`chamyeo codes issue`: a batch of voting codes, as a CSV and a printable sheet."""
    from bot.code_sheets import out_dir_problem, write_code_files
    from bot.domain import Identity
    from bot.services.identity import MAX_CODES_PER_ISSUE

    if not 1 <= count <= MAX_CODES_PER_ISSUE:
        refuse(f"--count must be 1-{MAX_CODES_PER_ISSUE}; nothing was issued")
        return EXIT_USAGE
    if not services.identity.keys.available:
        refuse("voting codes are kept only as hashes keyed by CHAMYEO_IDENTITY_KEY: set it in "
               ".env or the environment (see .env.example); nothing was issued")
        return EXIT_USAGE
    campaign = await find_campaign(services, slug)
    if campaign is None:
        return EXIT_INVALID
    if campaign.rules.identity is not Identity.CODE:
        refuse(f"{slug} counts one vote per {campaign.rules.identity.value}, not per code "
               '([voting] identity = "code"); nothing was issued')
        return EXIT_INVALID
    out_dir, batch = Path(out), services.identity.batch_name()
    problem = out_dir_problem(out_dir, campaign, batch)
    if problem:
        refuse(f"{problem}; nothing was issued")
        return EXIT_INVALID
    issued = await services.identity.issue_codes(campaign, count, cli_actor(), batch=batch)
    csv_path, html_path = write_code_files(out_dir, campaign, issued.batch, issued.codes)
    say(f"issued {count} voting codes for {slug} (batch {issued.batch}): {csv_path} and "
        f"{html_path} (print it, cut the slips; the database keeps only their hashes)")
    return 0


async def codes_status(services: Services, slug: str) -> int:
    """`chamyeo codes status`: codes issued and used."""
    from storage.repositories import IdentityRepository

    campaign = await find_campaign(services, slug)
    if campaign is None:
        return EXIT_INVALID
    async with services.db.read() as conn:
        issued, used = await IdentityRepository(conn).count_codes(campaign.id)
    say(f"{slug}: {issued} voting codes issued, {used} used, {issued - used} not used yet")
    return 0


async def write_receipts(services: Services, slug: str, out: str) -> int:
    """`chamyeo receipts`: the public receipt list as a CSV file."""
    from bot.code_sheets import write_new_file
    from bot.services.receipts import ReceiptsNotYet

    campaign = await find_campaign(services, slug)
    if campaign is None:
        return EXIT_INVALID
    try:
        data = await services.receipts.csv_bytes(campaign, "ko")
    except ReceiptsNotYet:
        refuse(f"voting in {slug} has not closed: the receipt list is published after it")
        return EXIT_INVALID
    problem = write_new_file(Path(out), data)
    if problem:
        refuse(f"{problem}; nothing was written")
        return EXIT_INVALID
    rows = data.count(b"\n") - 1
    say(f"wrote {out}: {rows} receipts of counted votes, by case")
    return 0

