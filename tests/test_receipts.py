"""The public receipt list: after voting closes, every counted vote's receipt by case, which
recounts to exactly the published tally; a changed vote listed only with its final receipt;
nobody named. Checked as a service, on Telegram (real Update JSON), on KakaoTalk (real skill
requests and the CSV route) and from the command line."""

from __future__ import annotations

import asyncio
import csv
import io
import os
from collections import Counter
from datetime import timedelta

import pytest

from bot.cli import main
from bot.services.receipts import ReceiptsNotYet, ReceiptStatus, normalize_receipt
from tests.conftest import KIM, VOTING_CLOSES
from tests.test_cli_settings import SETTING_PREFIXES
from tests.test_kakao_results import serve
from tests.test_kakao_skill import ask, quick_reply, skill_request, texts


async def vote_change_close_publish(services, clock, campaign):
    """30 citizens vote over the cases; 5 of them change their vote; voting closes; the
    results are published. Returns (old receipts of changed votes, final receipts)."""
    ids = [r.case.id for r in await services.results.ranking(campaign)]
    old, final = [], {}
    for n in range(30):
        clock.advance(timedelta(minutes=1))
        citizen = await services.citizens.identify("telegram", f"70{n:03d}", "ko")
        cast = await services.voting.cast_vote(campaign, citizen, ids[(n * n) % len(ids)])
        assert cast.stored
        final[citizen.id] = cast.vote.receipt
        if n % 6 == 0:
            moved = await services.voting.cast_vote(campaign, citizen, ids[(n + 3) % len(ids)])
            assert moved.stored
            old.append(cast.vote.receipt)
            final[citizen.id] = moved.vote.receipt
    clock.set(VOTING_CLOSES)
    await services.results.publish(campaign, "test", incomplete_ok=True)
    await services.broadcaster.idle()
    return old, set(final.values())


def parse(data: bytes) -> list[dict]:
    assert data.startswith("\ufeff".encode())  # Excel reads UTF-8 with the BOM
    return list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))


async def test_the_list_recounts_to_the_published_tally(services, clock, campaign):
    old, final = await vote_change_close_publish(services, clock, campaign)
    rows = parse(await services.receipts.csv_bytes(campaign))
    assert list(rows[0]) == ["case_id", "case_key", "case_title", "receipt"]
    recount = Counter(int(r["case_id"]) for r in rows)
    published = {r.case.id: r.ranked.votes for r in await services.results.ranking(campaign)}
    assert recount == Counter({k: v for k, v in published.items() if v})
    assert {r["receipt"] for r in rows} == final and len(rows) == 30
    for receipt in old:  # a changed vote's first receipt counts nowhere
        assert (await services.receipts.lookup(campaign, receipt)).status \
            is ReceiptStatus.NOT_FOUND
    sample = rows[0]
    found = await services.receipts.lookup(campaign, sample["receipt"].lower().replace("-", " "))
    assert found.status is ReceiptStatus.FOUND and found.case.id == int(sample["case_id"])
    text = (await services.receipts.csv_bytes(campaign)).decode("utf-8-sig")
    assert "70001" not in text and "telegram" not in text  # nobody named


async def test_before_voting_closes_there_is_no_list(services, clock, campaign):
    ids = [r.case.id for r in await services.results.ranking(campaign)]
    kim = await services.citizens.identify("telegram", "1001", "ko")
    cast = await services.voting.cast_vote(campaign, kim, ids[0])
    assert (await services.receipts.lookup(campaign, cast.vote.receipt)).status \
        is ReceiptStatus.NOT_YET
    with pytest.raises(ReceiptsNotYet):
        await services.receipts.csv_bytes(campaign)


def test_receipts_are_read_as_typed():
    assert normalize_receipt(" abcd efgh ") == "ABCD-EFGH"
    assert normalize_receipt("ABCD-EFG") is None
    assert normalize_receipt("ABCD-EFG0") is None


async def test_check_a_receipt_on_telegram_and_get_the_list(telegram, services, clock,
                                                           campaign):
    ids = [r.case.id for r in await services.results.ranking(campaign)]
    await telegram.send(KIM, "/start")
    kim = await services.citizens.identify("telegram", str(KIM.id), "ko")
    receipt = (await services.voting.cast_vote(campaign, kim, ids[2])).vote.receipt
    clock.set(VOTING_CLOSES)
    calls = await telegram.send(KIM, "/start")
    assert "🧾 내 영수증 확인" in calls[0].labels()
    calls = await telegram.press(KIM, "내 영수증 확인")
    assert "확인 번호" in calls[-1].text
    calls = await telegram.send(KIM, receipt.lower())
    assert f"🧾 {receipt}: 「사례 제목 03번」에 세어진 표입니다." in calls[-1].text
    calls = await telegram.send(KIM, "ZZZZ-ZZZZ")  # not after the answer: an ordinary word
    assert "세어진 표" not in calls[-1].text
    calls = await telegram.press(KIM, "전체 영수증 목록")
    [document] = [c for c in calls if c.method == "sendDocument"]
    [(name, data)] = [(n, d) for n, d in document.params["_files"].values()]
    assert name == "receipts-test-2024.csv"
    assert [r["receipt"] for r in parse(data)] == [receipt]


async def test_check_a_receipt_on_kakao_and_fetch_the_csv(services, clock, campaign):
    ids = [r.case.id for r in await services.results.ranking(campaign)]
    voter = await services.citizens.identify("kakao", "a1b2c3d4e5f6", "ko")
    receipt = (await services.voting.cast_vote(campaign, voter, ids[0])).vote.receipt
    client = await serve(services)
    try:
        response = await client.get("/receipts/test-2024.csv")
        assert response.status == 403  # voting still open
        clock.set(VOTING_CLOSES)
        _, answer = await ask(client, skill_request("시작"))
        reply = quick_reply(answer, "영수증 확인")
        _, answer = await ask(client, skill_request(reply["messageText"], reply["extra"]))
        assert "https://chamyeo.example.org/receipts/test-2024.csv" in texts(answer)[0]
        _, answer = await ask(client, skill_request(receipt))
        assert f"🧾 {receipt}: 「사례 제목 01번」에 세어진 표입니다." in texts(answer)[0]
        response = await client.get("/receipts/test-2024.csv")
        assert response.status == 200 and response.content_type == "text/csv"
        assert [r["receipt"] for r in parse(await response.read())] == [receipt]
        assert (await client.get("/receipts/nowhere.csv")).status == 404
    finally:
        await client.close()


async def test_the_cli_writes_the_list(services, clock, campaign, database_url, tmp_path,
                                       monkeypatch, capsys):
    await vote_change_close_publish(services, clock, campaign)
    for name in list(os.environ):
        if name.startswith(SETTING_PREFIXES):
            monkeypatch.delenv(name)
    monkeypatch.setenv("CHAMYEO_DATABASE_URL", database_url)
    out = tmp_path / "receipts.csv"
    args = ["receipts", "--campaign", "test-2024", "--out", str(out)]
    assert await asyncio.to_thread(main, args) == 0  # it runs its own event loop
    assert capsys.readouterr().out.startswith(f"wrote {out}: 30 receipts")
    assert out.read_bytes() == await services.receipts.csv_bytes(campaign)
    assert await asyncio.to_thread(main, args) == 1  # the file exists
    assert "exists; nothing was written" in capsys.readouterr().err
