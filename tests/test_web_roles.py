"""Every console page, for every role: 200 for those the chat gives that command to, 403 (and an
audit entry) for the others, 401 without a session; every form refuses a missing token."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from bot.domain import Role
from bot.services.staff import IMPLIED
from handlers.web.rendering import CONSOLE_MENU
from storage.tables import audit_log
from tests.web_support import sign_in

ROLES = (Role.JUDGE, Role.MODERATOR, Role.ADMIN)


def allowed(held: Role, needed: tuple[Role, ...]) -> bool:
    return any(role in IMPLIED[held] for role in needed)


@pytest.mark.parametrize("held", ROLES, ids=lambda r: r.value)
async def test_each_page_for_each_role(web, services, clock, held):
    await services.staff.grant("test", "web", "kim", held)
    await sign_in(web, services, external_id="kim", channel="web")
    for path, _, needed in CONSOLE_MENU:
        clock.advance(timedelta(minutes=1))  # refusals within a minute are one counted entry
        response = await web.get(path)
        expected = 200 if allowed(held, needed) else 403
        assert response.status == expected, (path, held, await response.text())
        page = await response.text()
        # The menu offers exactly the pages this role may open.
        for other, _, other_needed in CONSOLE_MENU:
            if other != "/staff":
                assert (f'href="{other}"' in page) == allowed(held, other_needed), (path, other)
    async with services.db.read() as conn:
        refused = (await conn.execute(sa.select(audit_log.c.detail).where(
            audit_log.c.action == "staff.refused", audit_log.c.actor == "web:kim"))).scalars()
        attempts = {d["attempt"] for d in refused}
    assert all(f"web GET {path}" in attempts
               for path, _, needed in CONSOLE_MENU if not allowed(held, needed))


async def test_no_page_without_a_session(web):
    for path, _, _ in CONSOLE_MENU:
        response = await web.get(path)
        assert response.status == 401, path
        assert "로그인" in await response.text()


async def test_every_form_refuses_a_missing_or_wrong_token(web, services):
    """Each form on every page the admin sees, posted without its token and with a wrong one:
    403, and the page it came from is unchanged."""
    import re

    await services.staff.grant("test", "web", "kim", Role.JUDGE)
    await sign_in(web, services)  # the bootstrap admin
    forms = set()
    for path, _, _ in CONSOLE_MENU:
        page = await (await web.get(path)).text()
        for form in re.finditer(r'<form[^>]*method="post"[^>]*>', page):
            action = re.search(r'action="([^"]+)"', form.group(0))
            forms.add(action.group(1) if action else path)
    forms.discard("/staff/signout")
    assert forms, "no forms found on the console pages"
    for action in sorted(forms):
        for token in (None, "wrong"):
            data = {} if token is None else {"csrf": token}
            response = await web.post(action, data=data, allow_redirects=False)
            assert response.status == 403, (action, token, response.status)
