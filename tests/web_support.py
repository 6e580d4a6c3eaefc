"""Driving the web over aiohttp's test client: the settings, signing in the way a staff member
does (a link issued as /web issues it, then the button on the sign-in page), and the form
token read back from a page, as a browser would."""

from __future__ import annotations

import re

from aiohttp.test_utils import TestClient

from bot.services import Services
from bot.settings import Settings

PUBLIC_URL = "http://chamyeo.test"
ADMIN_ID = "9001"  # the bootstrap admin of tests/conftest.py (ADMIN)
WEB_SETTINGS = Settings(_env_file=None, chamyeo_public_url=PUBLIC_URL,
                        chamyeo_admin_ids=(int(ADMIN_ID),))

_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def csrf_of(page: str) -> str:
    found = _CSRF.search(page)
    assert found, "no form token on the page"
    return found.group(1)


async def sign_in(client: TestClient, services: Services, external_id: str = ADMIN_ID,
                  channel: str = "telegram") -> str:
    """Signs `client` in as that staff account; returns the session's form token."""
    token = await services.web_access.issue_link(channel, external_id, by="test")
    assert token is not None, f"{channel}:{external_id} holds no staff role"
    response = await client.post(f"/staff/signin/{token}", allow_redirects=False)
    assert response.status == 303, await response.text()
    dashboard = await client.get("/staff")
    assert dashboard.status == 200, await dashboard.text()
    return csrf_of(await dashboard.text())
