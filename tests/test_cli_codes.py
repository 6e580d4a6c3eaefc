"""`chamyeo codes issue` and `chamyeo codes status`, in-process on the test database: a batch
of voting codes written as a CSV and a printable sheet, kept in the database only as hashes,
each redeemable once; and the refusals, which issue nothing."""

from __future__ import annotations

import csv
import re

import pytest
import sqlalchemy as sa

from bot.campaign_file import parse_campaign
from bot.services.identity import CodeOutcome
from storage.tables import metadata, voting_codes
from tests import test_cli_staff
from tests.conftest import IDENTITY_KEY, small_campaign
from tests.test_cli_staff import SLUG

# The command's environment and the in-process `chamyeo`, as the other CLI tests have them.
env = test_cli_staff.env
chamyeo = test_cli_staff.chamyeo

CODE = re.compile(r"^[A-HJKMNP-Z2-9]{4}-[A-HJKMNP-Z2-9]{4}-[A-HJKMNP-Z2-9]{4}$")


async def load(services, identity: str = "code", title: str = "시험 공모 <2024> & 코드"):
    raw = small_campaign(voting={"identity": identity})
    raw["title"]["ko"] = title
    report = await services.campaigns.load(parse_campaign(raw))
    return await services.campaigns.get(report.campaign_id)


async def every_text(services) -> str:
    parts = []
    async with services.db.read() as conn:
        for table in metadata.sorted_tables:
            for row in (await conn.execute(sa.select(table))).all():
                parts.extend(str(v) for v in row)
    return "\n".join(parts)


async def code_rows(services) -> int:
    async with services.db.read() as conn:
        return await conn.scalar(sa.select(sa.func.count()).select_from(voting_codes)) or 0


async def test_codes_are_written_to_print_and_kept_only_as_hashes(env, chamyeo, services,
                                                                  tmp_path):
    env.setenv("CHAMYEO_IDENTITY_KEY", IDENTITY_KEY)
    campaign = await load(services)
    out = tmp_path / "slips"
    code, stdout, err = await chamyeo("codes", "issue", "--campaign", SLUG, "--count", "12",
                                      "--out", str(out))
    assert (code, err) == (0, "")
    assert stdout.startswith(f"issued 12 voting codes for {SLUG} (batch ")
    [csv_file] = out.glob("codes-test-2024-*.csv")
    [html_file] = out.glob("codes-test-2024-*.html")
    raw = csv_file.read_bytes()
    assert raw.startswith("\ufeff".encode())  # Excel reads UTF-8 with the BOM
    rows = list(csv.reader(raw.decode("utf-8-sig").splitlines()))
    assert rows[0] == ["번호 (number)", "투표 코드 (voting code)"]
    codes = [r[1] for r in rows[1:]]
    assert [r[0] for r in rows[1:]] == [str(n) for n in range(1, 13)]
    assert len(set(codes)) == 12 and all(CODE.match(c) for c in codes)
    sheet = html_file.read_text(encoding="utf-8")
    assert all(c in sheet for c in codes)
    assert "시험 공모 &lt;2024&gt; &amp; 코드" in sheet and "<2024>" not in sheet
    assert "<script" not in sheet and "http" not in sheet  # prints offline, runs nothing
    assert "투표 기간:" in sheet

    dump = await every_text(services)
    assert not any(c in dump or c.replace("-", "") in dump for c in codes)
    assert await code_rows(services) == 12

    kim = await services.citizens.identify("telegram", "1001", "ko")
    lee = await services.citizens.identify("kakao", "lee", "ko")
    assert (await services.identity.redeem_code(campaign, kim, codes[0])).outcome \
        is CodeOutcome.ACCEPTED
    assert (await services.identity.redeem_code(campaign, lee, codes[0])).outcome \
        is CodeOutcome.USED
    code, stdout, _ = await chamyeo("codes", "status", "--campaign", SLUG)
    assert (code, stdout) == (0, f"{SLUG}: 12 voting codes issued, 1 used, 11 not used yet\n")


@pytest.mark.parametrize("case", ["no key", "not a code campaign", "unknown campaign",
                                  "count 0", "out is a file"])
async def test_refusals_issue_nothing(env, chamyeo, services, tmp_path, case):
    if case != "no key":
        env.setenv("CHAMYEO_IDENTITY_KEY", IDENTITY_KEY)
    await load(services, identity="account" if case == "not a code campaign" else "code")
    slug = "nowhere" if case == "unknown campaign" else SLUG
    count = "0" if case == "count 0" else "5"
    out = tmp_path / "out"
    if case == "out is a file":
        out.write_text("not a folder")
    code, stdout, err = await chamyeo("codes", "issue", "--campaign", slug, "--count", count,
                                      "--out", str(out))
    assert code != 0 and stdout == "" and len(err.strip().splitlines()) >= 1
    assert {
        "no key": "CHAMYEO_IDENTITY_KEY",
        "not a code campaign": "not per code",
        "unknown campaign": "nowhere",
        "count 0": "--count must be 1-100000",
        "out is a file": "is not a folder",
    }[case] in err
    assert await code_rows(services) == 0
    if case != "out is a file":
        assert not out.exists() or not any(out.iterdir())
