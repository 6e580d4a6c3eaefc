"""`chamyeo staff ...`: who runs the campaign, from the server's command line. For a city with
only KakaoTalk (no staff commands in chat) and for the first admin of the web console:
list the staff, grant and revoke roles, invite someone to a role (a code they type in chat:
how a KakaoTalk account becomes staff, since nobody types its key), and print a one-time
sign-in link to the console.

An account is written `telegram:12345` (or just `12345`, or `@username`), `kakao:<user key>`
(the key is in the audit log and `chamyeo staff list` once that person has written to the
channel), or `web:<name>` for staff who use no chat app at all: a web-only account is made
by its first grant and signs in with the links printed here."""

from __future__ import annotations

import re

from bot.domain import Role
from bot.services import Services
from bot.services.staff import WEB_CHANNEL, GrantOutcome, ResolveOutcome
from bot.staff_cli import EXIT_INVALID, cli_actor, printable, refuse, say, table

CHANNELS = ("telegram", "kakao", WEB_CHANNEL)
ROLE_WORDS = {"admin": Role.ADMIN, "moderator": Role.MODERATOR, "judge": Role.JUDGE,
              "관리자": Role.ADMIN, "운영자": Role.MODERATOR, "심사위원": Role.JUDGE}
WEB_NAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")
KAKAO_KEY = re.compile(r"[A-Za-z0-9_-]{1,128}")


async def account(services: Services, text: str) -> tuple[str, str] | None:
    """(channel, external id) from what was typed, or None (said in one line)."""
    text = text.strip()
    channel, sep, rest = text.partition(":")
    if not sep:
        channel, rest = "telegram", text
    if channel not in CHANNELS:
        refuse(f"an account is telegram:ID, @username, kakao:KEY or web:NAME, not {text!r}")
        return None
    if channel == WEB_CHANNEL:
        if not WEB_NAME.fullmatch(rest):
            refuse("a web account's name is 1-64 lower-case letters, digits, '.', '_' or '-'")
            return None
        return channel, rest
    if channel == "kakao":
        if not KAKAO_KEY.fullmatch(rest):
            refuse(f"not a KakaoTalk user key: {printable(rest, False)!r}")
            return None
        return channel, rest
    found = await services.staff.resolve(channel, rest)
    if found.outcome is ResolveOutcome.AMBIGUOUS_USER:
        refuse(f"{rest} names two Telegram accounts: give the number")
        return None
    if found.outcome is not ResolveOutcome.FOUND or found.external_id is None:
        refuse(f"no Telegram account {printable(rest, False)!r} (a number, or @username of "
               "someone who has written to the bot)")
        return None
    return channel, found.external_id


def role_of(word: str) -> Role | None:
    role = ROLE_WORDS.get(word.strip().lower())
    if role is None:
        refuse(f"a role is admin, moderator or judge, not {word!r}")
    return role


async def list_staff(services: Services) -> int:
    members = await services.staff.members()
    rows = [["account", "name", "roles", ""]]
    for m in members:
        rows.append([f"{m.channel}:{printable(m.external_id, False)}",
                     f"@{m.username}" if m.username else "",
                     ", ".join(sorted(r.value for r in m.roles)),
                     "(CHAMYEO_ADMIN_IDS)" if m.bootstrap else ""])
    for line in table(rows):
        say(line)
    return 0


async def change_role(services: Services, who: str, word: str, grant: bool) -> int:
    found, role = await account(services, who), role_of(word)
    if found is None or role is None:
        return EXIT_INVALID
    channel, external_id = found
    change = services.staff.grant if grant else services.staff.revoke
    outcome = await change(cli_actor(), channel, external_id, role)
    name = f"{channel}:{printable(external_id, False)}"
    lines = {
        GrantOutcome.GRANTED: f"{name} is now {role.value}",
        GrantOutcome.ALREADY: f"{name} was already {role.value}",
        GrantOutcome.REVOKED: f"{name} is no longer {role.value}",
        GrantOutcome.NOT_HELD: f"{name} was not {role.value}",
        GrantOutcome.BOOTSTRAP: f"{name} is an admin by CHAMYEO_ADMIN_IDS: change it there",
        GrantOutcome.UNKNOWN_USER: f"{name} has never written to the bot: a role waits for "
                                   "an account that exists",
    }
    if outcome in (GrantOutcome.BOOTSTRAP, GrantOutcome.UNKNOWN_USER):
        refuse(lines[outcome])
        return EXIT_INVALID
    say(lines[outcome])
    return 0


async def invite(services: Services, word: str) -> int:
    role = role_of(word)
    if role is None:
        return EXIT_INVALID
    code = await services.staff.invite(cli_actor(), role)
    say(code)
    say(f"Whoever types this code in the chat (KakaoTalk or Telegram) within 24 hours becomes "
        f"{role.value} on that chat account; it works once. Give it only to that person.")
    return 0


async def sign_in_link(services: Services, who: str, base_url: str) -> int:
    found = await account(services, who)
    if found is None:
        return EXIT_INVALID
    channel, external_id = found
    token = await services.web_access.issue_link(channel, external_id, by=cli_actor())
    if token is None:
        refuse(f"{channel}:{printable(external_id, False)} holds no staff role: grant one first "
               "(chamyeo staff grant ACCOUNT ROLE)")
        return EXIT_INVALID
    say(f"{base_url.rstrip('/')}/staff/signin/{token}")
    say("Open it within 15 minutes; it works once. Give it only to that person.")
    return 0


async def revoke_links(services: Services, who: str) -> int:
    found = await account(services, who)
    if found is None:
        return EXIT_INVALID
    channel, external_id = found
    revoked = await services.web_access.revoke_links(channel, external_id, by=cli_actor())
    ended = await services.web_access.end_sessions(channel, external_id)
    say(f"{revoked} unused sign-in link(s) revoked, {ended} web session(s) ended")
    return 0
