"""Roles: bootstrap admins, /grant, /revoke, /staff, the per-chat staff menu, and staff
commands that look like unknown commands to everyone else (and are recorded)."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from bot.domain import Role
from bot.services.staff import GrantOutcome, Resolved, ResolveOutcome, StaffService
from handlers.telegram.offline import TelegramUser
from storage.repositories import CitizenRepository
from storage.tables import audit_log, citizens, staff_roles
from tests.conftest import ADMIN

LEE = TelegramUser(1003, "이영희", "ko", username="lee_judge")
KIM = TelegramUser(1001, "김순자", "ko")
HINT = "아래 버튼을 눌러 주세요."



async def audit(services, action: str) -> list[dict]:
    async with services.db.read() as conn:
        rows = await conn.execute(sa.select(audit_log).where(audit_log.c.action == action))
        return [dict(r) for r in rows.mappings()]


async def test_admin_grants_and_revokes_a_judge_by_username(staffbot, services):
    await staffbot.send(LEE, "/start")  # known to the bot, with their @username
    calls = await staffbot.send(ADMIN, "/grant @lee_judge judge")
    reply = next(c for c in calls if c.method == "sendMessage")
    assert reply.text == "✅ @lee_judge에게 심사위원 역할을 주었습니다."
    assert await services.staff.roles("telegram", str(LEE.id)) == frozenset({Role.JUDGE})
    menu = [c for c in calls if c.method == "setMyCommands"]
    assert {c.params["scope"]["chat_id"] for c in menu} == {LEE.id}
    assert "score" in [cmd["command"] for cmd in menu[0].params["commands"]]
    assert "grant" not in [cmd["command"] for cmd in menu[0].params["commands"]]
    [entry] = await audit(services, "staff.granted")
    assert entry["actor"] == f"telegram:{ADMIN.id}"
    assert entry["detail"] == {"target": f"telegram:{LEE.id}", "role": "judge",
                               "before": None, "after": "judge"}

    calls = await staffbot.send(ADMIN, "/staff")
    listing = calls[-1].text
    assert f"@boss ({ADMIN.id}): 관리자 · 설정의 관리자" in listing
    assert f"@lee_judge ({LEE.id}): 심사위원" in listing

    calls = await staffbot.send(ADMIN, f"/revoke {LEE.id} judge")
    assert calls[0].text == f"✅ {LEE.id}의 심사위원 역할을 거두었습니다."
    assert any(c.method == "deleteMyCommands" for c in calls)
    assert await services.staff.roles("telegram", str(LEE.id)) == frozenset()


@pytest.mark.parametrize("text", ["/grant", "/grant @nobody judge", "/grant 5 king",
                                  "/revoke 5"])
async def test_wrong_arguments_get_a_clear_answer_and_change_nothing(staffbot, services, text):
    calls = await staffbot.send(ADMIN, text)
    assert calls[-1].text.startswith(("쓰는 법", "@nobody: 찾을 수 없는"))
    assert await audit(services, "staff.granted") == []


async def test_bootstrap_admin_cannot_be_revoked_in_the_chat(staffbot, services):
    calls = await staffbot.send(ADMIN, f"/revoke {ADMIN.id} admin")
    assert "설정(CHAMYEO_ADMIN_IDS)의 관리자" in calls[-1].text
    assert Role.ADMIN in await services.staff.roles("telegram", str(ADMIN.id))


@pytest.mark.parametrize("command", ["/grant 1001 admin", "/staff", "/revoke 9001 admin"])
async def test_a_citizen_guessing_a_staff_command_sees_the_usual_hint(staffbot, services,
                                                                     command):
    calls = await staffbot.send(KIM, command)
    assert [c.method for c in calls] == ["sendMessage"]
    assert calls[0].text.startswith(HINT)
    assert await services.staff.roles("telegram", str(KIM.id)) == frozenset()
    [refused] = await audit(services, "staff.refused")
    assert refused["actor"] == f"telegram:{KIM.id}" and refused["detail"]["attempt"] == command


async def test_a_judge_cannot_grant(staffbot, services):
    await staffbot.send(LEE, "/start")
    await staffbot.send(ADMIN, "/grant @lee_judge judge")
    calls = await staffbot.send(LEE, "/grant 1001 judge")
    assert calls[-1].text == "/grant 명령은 관리자만 쓸 수 있습니다."
    assert await services.staff.roles("telegram", "1001") == frozenset()


# --- naming the right person --------------------------------------------------------------------

CHOI = TelegramUser(1005, "최민준", "ko", username="Lee_Judge")  # took the name LEE dropped


async def staff_rows(services) -> list[tuple[str, str]]:
    async with services.db.read() as conn:
        rows = await conn.execute(sa.select(staff_roles.c.external_id, staff_roles.c.role))
        return sorted(tuple(r) for r in rows)


async def username_of(services, user: TelegramUser) -> str | None:
    async with services.db.read() as conn:
        citizen = await CitizenRepository(conn).find("telegram", str(user.id))
    return citizen.username if citizen else None


async def test_a_username_taken_over_names_its_new_holder(staffbot, services):
    await staffbot.send(LEE, "/start")
    # LEE drops @lee_judge without writing to the bot again; CHOI takes it (another case).
    await staffbot.send(CHOI, "/start")
    assert await username_of(services, LEE) is None
    assert await username_of(services, CHOI) == "lee_judge"  # any case names the same account

    calls = await staffbot.send(ADMIN, "/grant @lee_judge judge")
    assert calls[0].text == "✅ @lee_judge에게 심사위원 역할을 주었습니다."
    assert await staff_rows(services) == [(str(CHOI.id), "judge")]

    # CHOI gives the name back and LEE takes it again: LEE is its holder once more, though
    # this process had remembered LEE with it.
    await staffbot.send(LEE, "/start")
    assert await username_of(services, CHOI) is None
    calls = await staffbot.send(ADMIN, "/grant @LEE_JUDGE moderator")
    assert calls[0].text == "✅ @LEE_JUDGE에게 운영자 역할을 주었습니다."
    assert await staff_rows(services) == [(str(LEE.id), "moderator"), (str(CHOI.id), "judge")]


async def test_a_username_is_only_taken_from_accounts_of_the_same_channel(services, campaign):
    await services.citizens.identify("telegram", str(LEE.id), "ko", "lee_judge")
    await services.citizens.identify("kakao", "k-1", "ko", "lee_judge")
    assert await username_of(services, LEE) == "lee_judge"


@pytest.mark.parametrize("command", ["/grant @twin judge", "/revoke @Twin judge"])
async def test_a_username_held_by_two_accounts_asks_for_the_number(staffbot, services,
                                                                   command):
    """Names written before a username was taken from its former holder can still be on two
    accounts; guessing between them could hand a role to the wrong person."""
    await staffbot.send(LEE, "/start")
    await staffbot.send(CHOI, "/start")
    async with services.db.write() as conn:
        for user, name in ((LEE, "Twin"), (CHOI, "twin")):
            await conn.execute(citizens.update().where(
                citizens.c.external_id == str(user.id)).values(username=name))
    await staffbot.send(ADMIN, f"/grant {LEE.id} judge")

    calls = await staffbot.send(ADMIN, command)
    assert [c.method for c in calls] == ["sendMessage"]
    who = command.split()[1]
    assert calls[0].text == (f"{who}: 이 아이디를 쓰는 사용자가 여럿입니다. "
                             "@아이디 대신 사용자 번호로 다시 보내 주세요.")
    assert await staff_rows(services) == [(str(LEE.id), "judge")]
    assert len(await audit(services, "staff.granted")) == 1
    assert await audit(services, "staff.revoked") == []


async def test_a_role_for_an_id_that_never_wrote_to_the_bot_is_refused(staffbot, services):
    calls = await staffbot.send(ADMIN, "/grant 424242 judge")
    assert [c.method for c in calls] == ["sendMessage"]
    assert calls[0].text == ("424242: 찾을 수 없는 사용자입니다. "
                             "그 사람이 먼저 봇에 /start 를 보내야 합니다.")
    assert await staff_rows(services) == []
    assert await audit(services, "staff.granted") == []

    calls = await staffbot.send(TelegramUser(424242, "새 심사위원", "en"), "/start")
    calls = await staffbot.send(ADMIN, "/grant 424242 judge")
    assert calls[0].text == "✅ 424242에게 심사위원 역할을 주었습니다."
    assert await staff_rows(services) == [("424242", "judge")]


async def test_a_role_for_an_account_never_seen_is_refused_but_bootstrap_admins_count(
        services, campaign, clock):
    """The same rule below the chat: the service refuses, whoever calls it."""
    staff = StaffService(services.db, clock, {"telegram": frozenset({"9002"})})

    assert await staff.grant("telegram:9001", "telegram", "4242", Role.JUDGE) \
        is GrantOutcome.UNKNOWN_USER
    # An admin from the settings is known without having written to the bot.
    assert await staff.grant("telegram:9001", "telegram", "9002", Role.JUDGE) \
        is GrantOutcome.GRANTED
    async with services.db.read() as conn:
        rows = (await conn.execute(sa.select(staff_roles.c.external_id))).scalars().all()
    assert rows == ["9002"]
    assert [e["detail"]["target"] for e in await audit(services, "staff.granted")] == [
        "telegram:9002"]


@pytest.mark.parametrize("odd", ["a" * 80, "İ" * 40])  # too long; too long once lower-cased
async def test_a_username_that_does_not_fit_is_not_kept(services, campaign, odd):
    await services.citizens.identify("telegram", str(LEE.id), "ko", "lee_judge")
    services.citizens._known.clear()  # as another process would: from the database
    citizen = await services.citizens.identify("telegram", str(LEE.id), "ko", odd)
    assert citizen.username == "lee_judge" and await username_of(services, LEE) == "lee_judge"
    await services.citizens.identify("telegram", "77", "ko", odd)  # a new account too
    assert await services.staff.resolve("telegram", "@lee_judge") == Resolved(
        ResolveOutcome.FOUND, str(LEE.id))
