"""`chamyeo demo`: the bot in a terminal, no token needed. It drives the real Telegram handlers
through the offline transport the tests use, on a temporary database loaded with a campaign
file, with a clock that starts inside the voting phase (or at --at) and runs forward.

Type text to send a message; type a button's number to press it; `:help` lists the rest.
Piped input works the same, one line per action, so a session can be replayed."""

from __future__ import annotations

import asyncio
import contextlib
import re
import secrets
import sys
import tempfile
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from bot.campaign_file import CampaignFileError, parse_campaign_file
from bot.clock import RunningClock
from bot.domain import Identity, PhaseName
from bot.i18n import format_when
from bot.settings import Settings
from bot.text import plain_text

DEFAULT_CAMPAIGN = Path(__file__).resolve().parent.parent / "campaigns" / "daejeon-2024.toml"
DEMO_ADMIN = 99  # `:user 99` is an admin, to try the staff commands
DEMO_HELP = """\
  text        send a message to the bot (e.g. /start, /search 돌봄, /myvote)
  3           press button [3] of the latest message
  \\5          send "5" as text (a judge's score), not a button; \\:x sends ":x"
  :time       show the demo clock
  :jump +2d   move the clock ahead (+30m, +6h, +2d) or to an instant (2024-12-02T10:00)
  :user 2     talk as another citizen (each has one vote; /start is sent for a new one);
              what the bot sent to citizen 1 meanwhile is shown when you come back (:user 1)
  :user 99    talk as the demo's admin (try /admin, /tally, /grant 2 judge, /results)
  :contact N  share your own phone number N (when the campaign counts phones: --identity phone)
  :contact N forwarded   share someone else's number (refused)
  :photo      send a photo (while submitting a case: /submit, in the submission phase)
  :file       send a picture as a file, not as a photo
  :quit       leave"""

_DURATION = re.compile(r"^\+(\d+)([mhd])$")


def parse_instant(text: str, timezone: str) -> datetime:
    instant = datetime.fromisoformat(text)
    return instant if instant.tzinfo else instant.replace(tzinfo=ZoneInfo(timezone))


SHOWN = ("sendMessage", "editMessageText", "sendPhoto", "sendDocument")


class ConsoleChat:
    """Prints what the bot sends to the current user, whether it answers a keystroke or arrives
    on its own (an announcement), and remembers the buttons of each user's latest message.
    What the bot sends to another user meanwhile (an approval notice, the results) waits until
    the demo talks as that user again. Documents are written to `files` (a new temporary
    folder by default, kept afterwards) and listed with their paths."""

    def __init__(self, request, out=sys.stdout, files: Path | None = None) -> None:
        self.request = request
        self.out = out
        self.user_id = 0
        self.printed = 0
        self.files = files
        self.away: dict[int, list] = {}
        self.latest: dict[int, tuple[list[dict], dict | None]] = {}

    @property
    def buttons(self) -> list[dict]:
        return self.latest.get(self.user_id, ([], None))[0]

    @property
    def message(self) -> dict | None:
        return self.latest.get(self.user_id, ([], None))[1]

    def flush(self) -> None:
        calls = self.request.calls[self.printed:]
        self.printed += len(calls)
        for call in calls:
            if call.method in SHOWN and "_failed" not in call.params:
                if call.chat_id == self.user_id:
                    self._print_message(call)
                elif call.chat_id is not None:
                    self.away.setdefault(call.chat_id, []).append(call)
            elif call.method == "answerCallbackQuery" and call.params.get("text"):
                print(f"\n💬 {call.params['text']}", file=self.out)

    def switch(self, user_id: int) -> None:
        """Talk as `user_id` from now on; first show what the bot sent them meanwhile."""
        self.flush()  # what came before belongs to whoever it was sent to
        self.user_id = user_id
        waiting = self.away.pop(user_id, [])
        if waiting:
            print(f"\n── while you were away: {len(waiting)} message(s) ──", file=self.out)
            for call in waiting:
                self._print_message(call)
            print("── (end of what came while you were away) ──", file=self.out)

    def _print_message(self, call) -> None:
        edited = call.method.startswith("edit")
        photo = "📷 (photo) " if call.method == "sendPhoto" else ""
        text = plain_text(call.text or "")
        if call.method == "sendDocument":
            try:
                for path in self._save_files(call):
                    print(f"\n🤖 📎 (file) {path.name} → {path}", file=self.out)
            except OSError as exc:
                print(f"\n🤖 📎 (file not written to {self.files}: {exc.strerror or exc})",
                      file=self.out)
            if text:
                print(f"   {text}", file=self.out)
        else:
            print("\n🤖 " + ("(edited) " if edited else "") + photo + text, file=self.out)
        buttons = call.buttons()
        if buttons:
            message_id = call.params.get("message_id")
            if message_id is None and isinstance(call.result, dict):
                message_id = call.result.get("message_id")
            self.latest[call.chat_id] = (
                buttons, self.request.messages.get((call.chat_id, int(message_id or 0))))
        for number, button in enumerate(buttons, 1):
            target = "" if "callback_data" in button else "  🔗"
            print(f"   [{number}] {button['text']}{target}", file=self.out)
        for key in call.keyboard():  # the reply keyboard, under the text field
            how = "  (type :contact 010-1234-5678)" if key.get("request_contact") else ""
            print(f"   [⌨ {key['text']}]{how}", file=self.out)

    def _save_files(self, call) -> list[Path]:
        """Write the document's files where the person trying the demo can open them."""
        if self.files is None:
            self.files = Path(tempfile.mkdtemp(prefix="chamyeo-demo-files-"))
        self.files.mkdir(parents=True, exist_ok=True)
        saved = []
        for name, content in call.params.get("_files", {}).values():
            path = self.files / Path(name or "file").name
            stem, suffix, copy = path.stem, path.suffix, 1
            while path.exists():  # a second export keeps the first one's files
                copy += 1
                path = self.files / f"{stem}-{copy}{suffix}"
            path.write_bytes(content)
            saved.append(path.resolve())
        return saved


def run_demo(settings: Settings, at: str | None = None, campaign_file: str | None = None,
             database: str | None = None, identity: str | None = None,
             language: str | None = None, files: str | None = None) -> int:
    """The demo on a temporary SQLite file, or on `database` (a URL), which is migrated, loaded
    with the campaign and left there afterwards. `identity` overrides the campaign's;
    `language` is the demo users' Telegram language (default: CHAMYEO_DEFAULT_LANGUAGE);
    documents the bot sends are written to `files` (default: a new temporary folder)."""
    try:
        return asyncio.run(_demo(settings, at, Path(campaign_file or DEFAULT_CAMPAIGN),
                                 database, identity, language,
                                 Path(files) if files else None))
    except KeyboardInterrupt:
        return 0


async def _demo(settings: Settings, at: str | None, path: Path, database: str | None,
                identity: str | None = None, language: str | None = None,
                files: Path | None = None) -> int:
    # Imported here so `chamyeo --help` stays fast.
    from bot.app import build_application
    from bot.services import Services
    from handlers.telegram.common import SCHEDULER
    from handlers.telegram.menus import set_commands
    from handlers.telegram.offline import OfflineRequest, OfflineTelegram, TelegramUser
    from storage.database import Database
    from storage.migrate import upgrade
    from storage.reachable import database_location

    try:
        spec = parse_campaign_file(path)
    except CampaignFileError as exc:
        print(f"{exc.path}: cannot start the demo:", file=sys.stderr)
        for problem in exc.problems:
            print(f"  - {problem}", file=sys.stderr)
        return 1
    voting = next(p for p in spec.phases if p.name is PhaseName.VOTING)
    try:
        start = parse_instant(at, spec.timezone) if at else voting.start + timedelta(hours=1)
    except ValueError:
        print(f"--at: not an ISO-8601 instant: {at!r}", file=sys.stderr)
        return 2
    if identity is not None:
        spec = replace(spec, rules=replace(spec.rules, identity=Identity(identity)))
    clock = RunningClock(start)
    interactive = sys.stdin.isatty()
    async with contextlib.AsyncExitStack() as cleanup:
        if database is None:
            folder = cleanup.enter_context(tempfile.TemporaryDirectory(prefix="chamyeo-demo-"))
            database = f"sqlite+aiosqlite:///{Path(folder) / 'demo.db'}"
            where = "temporary database"
        else:
            where = f"database {database_location(database)}"
        db = Database(database)
        cleanup.push_async_callback(db.dispose)  # before the temporary folder goes
        await upgrade(db)
        # Phone numbers and codes are hashed with the real key if there is one, else with a
        # key made for this demo alone.
        services = Services.create(db, clock, settings.chamyeo_default_language,
                                   identity_key=settings.chamyeo_identity_key
                                   or secrets.token_hex(32))
        report = await services.campaigns.load(spec, actor="demo", source=str(path))
        codes: tuple[str, ...] = ()
        if spec.rules.identity is Identity.CODE:
            campaign = await services.campaigns.get(report.campaign_id)
            assert campaign is not None
            codes = (await services.identity.issue_codes(campaign, 5, by="demo")).codes
        request = OfflineRequest(clock=clock)
        application = build_application(
            Settings(_env_file=None, chamyeo_admin_ids=(DEMO_ADMIN,)), services,
            request=request, rate_limited=False
        )
        chat = ConsoleChat(request, files=files)
        language = language or settings.chamyeo_default_language
        async with application:
            await set_commands(application.bot)
            scheduler = application.bot_data[SCHEDULER]
            await scheduler.start()
            driver = OfflineTelegram(application, request, clock)
            user = TelegramUser(1, "시민 1", language)
            chat.switch(user.id)
            # Announcements arrive while the user reads: print them as they come.
            printer = asyncio.create_task(_keep_printing(chat))
            print(f"Chamyeo demo: {spec.title.get('en')} ({path.name}), offline, {where}."
                  f"\nClock: {format_when(clock.now(), spec.timezone, 'en')} "
                  f"({spec.timezone}). Type :help for commands.")
            if spec.rules.identity is not Identity.ACCOUNT:
                print(f"One vote per {spec.rules.identity.value}"
                      + (": share your number with `:contact 010-1234-5678`."
                         if spec.rules.identity is Identity.PHONE else
                         f". Voting codes for this demo: {', '.join(codes)}"))
            await driver.send(user, "/start")
            chat.flush()
            started = {user.id}
            photos = 0
            while True:
                if interactive:
                    print("\n> ", end="", flush=True)
                line = await asyncio.to_thread(sys.stdin.readline)
                if not line:
                    break
                line = line.strip()
                if not line:
                    continue
                if not interactive:
                    print(f"\n> {line}")
                if line in (":photo", ":file"):
                    photos += 1
                    if line == ":photo":
                        await driver.send_photo(user, f"demo-photo-{photos}")
                    else:
                        await driver.send_document(user, f"picture-{photos}.jpg")
                    chat.flush()
                    continue
                if line.startswith(":contact"):
                    words = line.split()
                    if len(words) < 2:
                        print("(usage: :contact 010-1234-5678 [forwarded])")
                        continue
                    # Forwarded: the contact card of someone else (another Telegram user).
                    owner = user.id + 1000 if words[-1] == "forwarded" else user.id
                    await driver.send_contact(user, words[1], owner_id=owner)
                    chat.flush()
                    continue
                if line.startswith(":user"):
                    number = line.partition(" ")[2].strip() or "1"
                    if not number.isdigit() or int(number) == 0:
                        print("(usage: :user 2, a number from 1; :user 99 is the admin)")
                        continue
                    user = TelegramUser(int(number), f"시민 {int(number)}", language)
                    # What is on its way (a notice, a broadcast's report) arrives first, and
                    # what is for the one you talked as is shown before you leave them.
                    await services.broadcaster.idle()
                    chat.flush()
                    print(f"(now talking as {'the admin' if user.id == DEMO_ADMIN else 'citizen'}"
                          f" {user.id})")
                    chat.switch(user.id)
                    if user.id not in started:  # someone new opens the bot first, as user 1 did
                        started.add(user.id)
                        await driver.send(user, "/start")
                        chat.flush()
                    continue
                if line.startswith(":"):
                    if not _demo_command(line, clock, spec.timezone):
                        break
                    if line.startswith(":jump"):
                        # What the clock just passed is announced now, not at the next tick.
                        await scheduler.tick()
                        await services.broadcaster.idle()
                        chat.flush()
                    continue
                if line.startswith("\\"):
                    # An escaped line is text as typed: a number, or text starting with ":".
                    await driver.send(user, line[1:])
                elif line.isdigit():
                    number = int(line)
                    if not 1 <= number <= len(chat.buttons):
                        print(f"(no button [{number}]; to send {number} as text, type "
                              f"\\{number})")
                        continue
                    button = chat.buttons[number - 1]
                    if "callback_data" not in button:
                        print(f"(a link: {button.get('url')})")
                        continue
                    await driver.press(user, data=button["callback_data"], message=chat.message)
                else:
                    await driver.send(user, line)
                chat.flush()
            await services.broadcaster.idle()  # what is on its way to this user, shown
            chat.flush()
            printer.cancel()
            await scheduler.stop()
    return 0


async def _keep_printing(chat: ConsoleChat) -> None:
    while True:
        await asyncio.sleep(0.3)
        chat.flush()


def _demo_command(line: str, clock: RunningClock, timezone: str) -> bool:
    """Handle a `:command`; False means quit."""
    word, _, argument = line.partition(" ")
    argument = argument.strip()
    if word in (":quit", ":q", ":exit"):
        return False
    if word == ":jump":
        match = _DURATION.match(argument)
        try:
            if match:
                amount, unit = int(match[1]), match[2]
                clock.advance(timedelta(**{{"m": "minutes", "h": "hours", "d": "days"}[unit]:
                                            amount}))
            else:
                clock.set(parse_instant(argument, timezone))
        except ValueError:
            print("(usage: :jump +30m | +6h | +2d | 2024-12-02T10:00)")
            return True
        print(f"(clock: {format_when(clock.now(), timezone, 'en')})")
    elif word == ":time":
        print(f"(clock: {format_when(clock.now(), timezone, 'en', seconds=True)})")
    else:
        if word not in (":help", ":h", ":?"):
            print(f"(unknown: {word}; to send it as text, type \\{word})")
        print(DEMO_HELP)
    return True
