"""The `chamyeo` command (also `python -m bot`)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import shlex
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

from bot.campaign_file import CampaignFileError
from bot.settings import Settings, SettingsError, check_database_url, load_settings

EXIT_INVALID = 1
EXIT_USAGE = 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="chamyeo", description="Chamyeo: a citizen-participation competition over chat."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    run = commands.add_parser(
        "run", help="serve the bot on the channels configured: Telegram (TELEGRAM_BOT_TOKEN), "
                    "KakaoTalk (CHAMYEO_KAKAO_*), or both")
    run.add_argument("--webhook", action="store_true",
                     help="serve Telegram through a webhook Telegram posts to (needs "
                          "TELEGRAM_WEBHOOK_URL and TELEGRAM_WEBHOOK_SECRET; default: polling)")
    run.add_argument("--web", action="store_true",
                     help="serve the staff console and the public pages on CHAMYEO_KAKAO_PORT "
                          "even without CHAMYEO_PUBLIC_URL (same as CHAMYEO_WEB=true)")
    campaign = commands.add_parser("campaign", help="load or list campaigns").add_subparsers(
        dest="campaign_command", required=True, metavar="ACTION"
    )
    load = campaign.add_parser("load", help="validate a campaign file and load it")
    load.add_argument("file")
    campaign.add_parser("list", help="list campaigns with their current phase")
    db = commands.add_parser("db", help="database maintenance").add_subparsers(
        dest="db_command", required=True, metavar="ACTION"
    )
    db.add_parser("upgrade", help="apply the database migrations")
    demo = commands.add_parser("demo", help="try the bot in the terminal, no token needed")
    demo.add_argument("--at", help="start the clock at this instant (ISO-8601; default: "
                                   "voting has just opened)")
    demo.add_argument("--campaign", default=None,
                      help="campaign file (default: campaigns/daejeon-2024.toml)")
    demo.add_argument("--database", default=None, metavar="URL",
                      help="use this database (sqlite+aiosqlite:///FILE or "
                           "postgresql+asyncpg://...), migrated and kept afterwards "
                           "(default: a temporary SQLite file)")
    demo.add_argument("--identity", choices=("account", "phone", "code"), default=None,
                      help="count one vote per account, per verified phone number (`:contact`) "
                           "or per voting code (printed at the start) instead of what the "
                           "campaign file says")
    demo.add_argument("--language", choices=("ko", "en"), default=None,
                      help="the demo users' Telegram language (default: "
                           "CHAMYEO_DEFAULT_LANGUAGE); /language switches it in the chat")
    demo.add_argument("--files", default=None, metavar="DIR",
                      help="write the files the bot sends (e.g. /admin's export) to DIR "
                           "(default: a new temporary folder, kept afterwards)")
    export = commands.add_parser(
        "export", help="write a campaign's data (CSV and a workbook; no Telegram ids) to DIR")
    export.add_argument("--campaign", required=True, metavar="SLUG")
    export.add_argument("--out", required=True, metavar="DIR")
    backup = commands.add_parser(
        "backup", help="copy the live SQLite database to FILE, checked (PostgreSQL: pg_dump)")
    backup.add_argument("--out", required=True, metavar="FILE",
                        help="the copy to write (never overwritten)")
    purge = commands.add_parser(
        "purge", help="delete a campaign's personal data once its retention period "
                      "([privacy] retention_days) is over; tallies and receipts stay")
    purge.add_argument("--campaign", required=True, metavar="SLUG")
    purge.add_argument("--dry-run", action="store_true",
                       help="only count what would be removed, change nothing")
    receipts = commands.add_parser(
        "receipts", help="write the public receipt list (every counted vote's receipt, by "
                         "case; nobody named) to FILE as CSV, once voting has closed")
    receipts.add_argument("--campaign", required=True, metavar="SLUG")
    receipts.add_argument("--out", required=True, metavar="FILE",
                          help="the CSV to write (never overwritten)")
    codes = commands.add_parser(
        "codes", help="one-time voting codes for a campaign with [voting] identity = \"code\"")
    code_commands = codes.add_subparsers(dest="codes_command", required=True)
    issue = code_commands.add_parser(
        "issue", help="make N codes: a CSV and a printable sheet in DIR (the database keeps "
                      "only their hashes)")
    issue.add_argument("--campaign", required=True, metavar="SLUG")
    issue.add_argument("--count", required=True, type=int, metavar="N")
    issue.add_argument("--out", required=True, metavar="DIR")
    status = code_commands.add_parser("status", help="how many codes were issued and used")
    status.add_argument("--campaign", required=True, metavar="SLUG")
    _staff_parsers(commands)
    return parser


def _staff_parsers(commands) -> None:
    """`cases` and `results`: moderation and publishing without a staff chat (a city with
    only KakaoTalk). The running bot sends the notices and announcements they record."""
    cases = commands.add_parser(
        "cases", help="list, read and decide submitted cases (the running bot tells the "
                      "submitter)").add_subparsers(dest="cases_command", required=True,
                                                   metavar="ACTION")
    listing = cases.add_parser("list", help="the moderation queue, oldest first, or the cases "
                                            "in one status")
    listing.add_argument("--campaign", required=True, metavar="SLUG")
    listing.add_argument("--status", choices=("submitted", "approved", "rejected", "hidden",
                                              "withdrawn"),
                         default=None, help="default: the moderation queue (submitted)")
    show = cases.add_parser("show", help="the whole case, to read before deciding")
    show.add_argument("--campaign", required=True, metavar="SLUG")
    show.add_argument("id", metavar="ID")
    approve = cases.add_parser("approve", help="approve a submitted case")
    approve.add_argument("--campaign", required=True, metavar="SLUG")
    approve.add_argument("id", metavar="ID")
    for action, what in (("reject", "reject a submitted case"),
                         ("hide", "take an approved case out of browsing (votes stay)")):
        decided = cases.add_parser(action, help=what)
        decided.add_argument("--campaign", required=True, metavar="SLUG")
        decided.add_argument("--reason", required=True, metavar="TEXT",
                             help="1-300 characters; the submitter reads it as typed")
        decided.add_argument("id", metavar="ID")
    staff = commands.add_parser(
        "staff", help="staff accounts: list, grant and revoke roles, sign-in links to the web "
                      "console").add_subparsers(dest="staff_command", required=True,
                                                metavar="ACTION")
    staff.add_parser("list", help="every staff account and its roles")
    for action, what in (("grant", "give an account a role"),
                         ("revoke", "take a role back (the last one ends web sessions)")):
        change = staff.add_parser(action, help=what)
        change.add_argument("account", metavar="ACCOUNT",
                            help="telegram:ID, ID, @username, kakao:KEY or web:NAME")
        change.add_argument("role", metavar="ROLE", help="admin, moderator or judge")
    invite = staff.add_parser("invite", help="print an invitation code for a role: the first "
                                             "person to type it in chat (KakaoTalk or "
                                             "Telegram) within 24 hours gets the role")
    invite.add_argument("role", metavar="ROLE", help="admin, moderator or judge")
    link = staff.add_parser("link", help="print a one-time sign-in link to the web console")
    link.add_argument("account", metavar="ACCOUNT")
    unlink = staff.add_parser("revoke-links", help="unused sign-in links stop working and web "
                                                   "sessions end")
    unlink.add_argument("account", metavar="ACCOUNT")
    results = commands.add_parser(
        "results", help="preview the ranking or publish it (the running bot announces it)"
    ).add_subparsers(dest="results_command", required=True, metavar="ACTION")
    preview = results.add_parser("preview", help="the ranking as staff preview it")
    preview.add_argument("--campaign", required=True, metavar="SLUG")
    preview.add_argument("--language", choices=("ko", "en"), default=None,
                         help="default: CHAMYEO_DEFAULT_LANGUAGE")
    publish = results.add_parser("publish", help="publish the results, once voting has closed")
    publish.add_argument("--campaign", required=True, metavar="SLUG")
    publish.add_argument("--incomplete-ok", action="store_true",
                         help="publish even though some approved cases have no judge's score")


def configure_logging(level: int = logging.INFO) -> None:
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # httpx logs every request URL at INFO, and the URL holds the bot token.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.WARNING)
    logging.getLogger("apscheduler").setLevel(logging.WARNING)  # a line per one-second tick


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(f"chamyeo: {exc}", file=sys.stderr)
        return EXIT_USAGE
    url = settings.chamyeo_database_url
    if args.command == "run" and args.web:
        settings = settings.model_copy(update={"chamyeo_web": True})
    if args.command == "run":
        refusal = _nothing_to_serve(settings, args.webhook)
        if refusal:
            print(f"chamyeo: {refusal}", file=sys.stderr)
            return EXIT_USAGE
        if args.webhook:
            missing = [name for name, value in (
                ("TELEGRAM_WEBHOOK_URL", settings.telegram_webhook_url),
                ("TELEGRAM_WEBHOOK_SECRET", settings.telegram_webhook_secret),
            ) if not value]
            if missing:
                print(f"chamyeo: --webhook needs {' and '.join(missing)}: put "
                      f"{'them' if len(missing) > 1 else 'it'} in .env or the environment "
                      "(see .env.example), or run without --webhook to poll", file=sys.stderr)
                return EXIT_USAGE
        if not _reachable(url):
            return EXIT_USAGE
        configure_logging()
        from bot.app import PortInUse, TelegramUnreachable, run
        from storage.coordination import AlreadyServed

        def serve() -> int:
            try:
                run(settings, webhook=args.webhook)
            except AlreadyServed as exc:
                print(f"chamyeo: another `chamyeo run` already serves this SQLite database "
                      f"(it holds {exc}); one process serves SQLite, several workers need "
                      "PostgreSQL (README: Running on PostgreSQL with several workers)",
                      file=sys.stderr)
                return EXIT_USAGE
            except (PortInUse, TelegramUnreachable) as exc:
                print(f"chamyeo: {exc}", file=sys.stderr)
                return EXIT_USAGE

            return 0

        return _unless_unreachable(url, serve)
    if args.command == "demo":
        from bot.demo import run_demo

        if args.files is not None and Path(args.files).exists() \
                and not Path(args.files).is_dir():
            print(f"chamyeo: --files: {args.files} is not a folder", file=sys.stderr)
            return EXIT_USAGE

        if args.database is not None:
            try:
                check_database_url(args.database)
            except ValueError as exc:
                print(f"chamyeo: --database: {exc}", file=sys.stderr)
                return EXIT_USAGE
            if not _reachable(args.database):
                return EXIT_USAGE
            return _unless_unreachable(args.database, lambda: run_demo(
                settings, at=args.at, campaign_file=args.campaign, database=args.database,
                identity=args.identity, language=args.language, files=args.files))
        return run_demo(settings, at=args.at, campaign_file=args.campaign,
                        identity=args.identity, language=args.language, files=args.files)
    if args.command == "backup":
        return _backup(url, args.out)
    configure_logging(logging.WARNING)
    if not _reachable(url):
        return EXIT_USAGE
    if args.command == "db":
        return _with_services(settings, _db_upgrade)
    if args.command == "export":
        return _with_services(settings, lambda s: _export(s, args.campaign, args.out,
                                                          settings.chamyeo_default_language))
    if args.command == "purge":
        from bot import staff_cli

        return _with_services(settings, lambda s: staff_cli.purge(s, args.campaign,
                                                                  args.dry_run))
    if args.command == "receipts":
        from bot import staff_cli

        return _with_services(settings, lambda s: staff_cli.write_receipts(
            s, args.campaign, args.out))
    if args.command == "codes":
        from bot import staff_cli

        if args.codes_command == "issue":
            return _with_services(settings, lambda s: staff_cli.issue_codes(
                s, args.campaign, args.count, args.out))
        return _with_services(settings, lambda s: staff_cli.codes_status(s, args.campaign))
    if args.command == "staff":
        return _with_services(settings, lambda s: _staff_accounts(s, args, settings))
    if args.command in ("cases", "results"):
        return _with_services(settings, lambda s: _staff(s, args, settings),
                              record_only=True)
    if args.campaign_command == "load":
        return _with_services(settings, lambda s: _campaign_load(s, args.file))
    return _with_services(settings, _campaign_list)


def _nothing_to_serve(settings: Settings, webhook: bool) -> str | None:
    """Why `run` has no channel to serve (or `--webhook` no Telegram), in one line; None if it
    has one."""
    if not settings.telegram_bot_token and not settings.http_enabled:
        missing = settings.kakao_missing
        kakao = f"{', '.join(missing[:-1])} and {missing[-1]}" if len(missing) > 1 \
            else missing[0]
        if len(missing) < 3:  # some are set: name what is still missing
            kakao += " as well"
        return (f"nothing to serve: set TELEGRAM_BOT_TOKEN for Telegram, or {kakao} for "
                "KakaoTalk, in .env or the environment (see .env.example), or try `chamyeo demo`")
    if webhook and not settings.telegram_bot_token:
        return ("--webhook is Telegram's webhook and needs TELEGRAM_BOT_TOKEN; to serve "
                "KakaoTalk alone, run without --webhook")
    return None


def _reachable(url: str) -> bool:
    """Open one connection first, so an unreachable database is one line, not a traceback
    from deep inside a command."""
    from storage.reachable import DatabaseUnreachable, check_reachable

    try:
        asyncio.run(check_reachable(url))
    except DatabaseUnreachable as exc:
        print(f"chamyeo: {exc}", file=sys.stderr)
        return False
    return True


def _unless_unreachable(url: str, action: Callable[[], int]) -> int:
    """Run `action`; if the database stops answering meanwhile (a server restarting), or a
    migration refuses to leave dangling rows, say so in one line too. Any other error is a
    bug and keeps its traceback."""
    from bot.staff_cli import OutputClosed
    from storage.migrate import MigrationError
    from storage.reachable import unreachable_line, unreachable_reason

    try:
        return action()
    except OutputClosed:  # `| head` stopped reading: nobody left to tell, and no traceback
        _stdout_to_devnull()
        return EXIT_INVALID
    except MigrationError as exc:  # nothing was changed: say why, in one line
        print(f"chamyeo: the database was not upgraded: {exc}", file=sys.stderr)
        return EXIT_INVALID
    except Exception as exc:
        reason = unreachable_reason(exc)
        if reason is None:
            raise
        print(f"chamyeo: {unreachable_line(url, reason)}", file=sys.stderr)
        return EXIT_USAGE


def _stdout_to_devnull() -> None:
    """After a broken pipe, so that Python's own flush at exit does not fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # no real stdout (a test's capture): nothing to redirect
        pass


def _with_services(settings: Settings, action: Callable[..., Awaitable[int]], *,
                   record_only: bool = False) -> int:
    """`record_only`: the broadcasts the action writes (a notice, an announcement) are left to
    the running bot, which serves the channels; this process sends nothing."""
    from bot.app import create_services
    from storage.migrate import upgrade

    async def go() -> int:
        # The announce chat is Telegram's: included as the running bot would include it.
        services = create_services(settings, telegram=bool(settings.telegram_bot_token),
                                   record_only=True) if record_only \
            else create_services(settings)
        try:
            await upgrade(services.db)
            return await action(services)
        finally:
            await services.db.dispose()

    return _unless_unreachable(settings.chamyeo_database_url, lambda: asyncio.run(go()))


def _backup(url: str, out: str) -> int:
    from storage.backup import (
        BackupError,
        DamagedCopy,
        backup_sqlite,
        restore_instructions,
        sqlite_file,
    )
    from storage.reachable import missing_sqlite_folder, unreachable_line

    if not url.startswith("sqlite"):
        print("chamyeo: backup copies SQLite databases; back up PostgreSQL with its own tools: "
              f"pg_dump --format=custom --file={shlex.quote(out)} "
              f"{shlex.quote(_libpq_url(url))} (README, Backups)", file=sys.stderr)
        return EXIT_USAGE
    folder = missing_sqlite_folder(url)
    if folder is not None:
        print(f"chamyeo: {unreachable_line(url, f'the folder {folder} does not exist')}",
              file=sys.stderr)
        return EXIT_USAGE
    try:
        report = backup_sqlite(sqlite_file(url), Path(out))
    except DamagedCopy as exc:
        print(f"chamyeo: {exc}", file=sys.stderr)
        return EXIT_INVALID
    except BackupError as exc:
        print(f"chamyeo: {exc}", file=sys.stderr)
        return EXIT_USAGE
    print(f"backup written: {report.copy} ({report.size_bytes / 1_000_000:.1f} MB, "
          f"{report.pages} pages; integrity check ok; database revision "
          f"{report.revision or 'none'})")
    for line in restore_instructions(report):
        print(line)
    return 0


def _libpq_url(url: str) -> str:
    """The same PostgreSQL database as pg_dump takes it (no driver, no password)."""
    from sqlalchemy.engine import URL, make_url

    parts = make_url(url)
    return URL.create("postgresql", parts.username, None, parts.host, parts.port,
                      parts.database).render_as_string(hide_password=False)


async def _db_upgrade(services) -> int:
    from storage.migrate import current_revision

    print(f"database is at revision {await current_revision(services.db)}")
    return 0


async def _campaign_load(services, path: str) -> int:
    from bot.campaign_file import parse_campaign_file
    from bot.domain import Identity

    try:
        identity = parse_campaign_file(path).rules.identity
        if identity is not Identity.ACCOUNT and not services.identity.keys.available:
            # Numbers and codes are kept only as hashes keyed by it: without it none can be.
            print(f"{path}: not loaded: it counts one vote per {identity.value} "
                  "([voting] identity), which needs CHAMYEO_IDENTITY_KEY: set it in .env or "
                  "the environment (see .env.example)", file=sys.stderr)
            return EXIT_INVALID
        report = await services.campaigns.load_file(path)
    except CampaignFileError as exc:
        print(f"{exc.path}: not loaded, {len(exc.problems)} problem(s):", file=sys.stderr)
        for problem in exc.problems:
            print(f"  - {problem}", file=sys.stderr)
        return EXIT_INVALID
    if not report.changed:
        print(f"campaign {report.slug}: unchanged ({report.unchanged} cases)")
        return 0
    verb = "created" if report.created else "updated"
    print(f"campaign {report.slug}: {verb}; cases added {len(report.added)}, updated "
          f"{len(report.updated)}, removed {len(report.removed)}, unchanged {report.unchanged}"
          + ("; settings or phases changed" if report.settings_changed else ""))
    return 0


async def _campaign_list(services) -> int:
    from bot.i18n import format_when

    listing = await services.campaigns.listing()
    if not listing:
        from storage.reachable import database_location

        # Where: run from another directory, the default URL names another (new) file.
        print(f"no campaigns yet in {database_location(services.db.url)}: load one with "
              "`chamyeo campaign load FILE`")
        return 0
    for campaign, moment in listing:
        if moment.current is not None:
            state = f"{moment.current.name.value} open"
            if moment.current.end:
                state += f" until {format_when(moment.current.end, campaign.timezone, 'en')}"
        elif moment.next is not None:
            state = (f"next: {moment.next.name.value} "
                     f"{format_when(moment.next.start, campaign.timezone, 'en')}")
        else:
            state = "finished"
        print(f"{campaign.slug}\t{campaign.title.get('en')}\t{state}")
    return 0


async def _staff(services, args: argparse.Namespace, settings: Settings) -> int:
    from bot import staff_cli

    if args.command == "results":
        if args.results_command == "preview":
            return await staff_cli.preview_results(
                services, args.campaign, args.language or settings.chamyeo_default_language)
        return await staff_cli.publish_results(services, args.campaign,
                                                  args.incomplete_ok)
    if args.cases_command == "list":
        return await staff_cli.list_cases(services, args.campaign, args.status)
    if args.cases_command == "show":
        return await staff_cli.show_case(services, args.campaign, args.id)
    return await staff_cli.decide(services, args.campaign, args.id, args.cases_command,
                                  getattr(args, "reason", None))


async def _staff_accounts(services, args: argparse.Namespace, settings: Settings) -> int:
    from bot import staff_accounts_cli as accounts

    if args.staff_command == "list":
        return await accounts.list_staff(services)
    if args.staff_command in ("grant", "revoke"):
        return await accounts.change_role(services, args.account, args.role,
                                          grant=args.staff_command == "grant")
    if args.staff_command == "invite":
        return await accounts.invite(services, args.role)
    if args.staff_command == "link":
        # Without a public address: where this server listens, for a desk on its network.
        host = settings.chamyeo_kakao_listen
        base = settings.chamyeo_public_url or \
            f"http://{'127.0.0.1' if host == '0.0.0.0' else host}:{settings.chamyeo_kakao_port}"
        return await accounts.sign_in_link(services, args.account, base)
    return await accounts.revoke_links(services, args.account)


async def _export(services, slug: str, out: str, language: str) -> int:
    from bot.staff_cli import cli_actor, find_campaign

    campaign = await find_campaign(services, slug)
    if campaign is None:
        return EXIT_INVALID
    try:
        paths = await services.exports.export(campaign, out, language, cli_actor())
    except OSError as exc:
        print(f"chamyeo: cannot write to {out}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_INVALID
    for path in paths:
        print(path)
    return 0
