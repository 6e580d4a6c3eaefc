"""The workbook staff open in Excel, read back with openpyxl (not write-only): headers and names
in the staff member's language, real date-time and number cells, widths, a bold frozen header,
an autofilter, a summary sheet that agrees with the tally, the case body, and a vote log that
continues on a second sheet past Excel's row limit."""

from __future__ import annotations

import asyncio
import io
from datetime import datetime
from pathlib import Path

import pytest
from openpyxl import load_workbook
from openpyxl.utils import get_column_letter

from bot.services.exports import CASE_COLUMNS
from bot.workbooks import LazyRows, Sheet, display_width, write_files
from handlers.telegram.offline import TelegramUser
from storage.tables import cases as cases_table
from tests.conftest import ADMIN, DAEJEON_FILE
from tests.test_cli_settings import Cli
from tests.test_exports import prepare, read_csv

KO_CASE_HEADER = ["사례 번호", "사례 코드", "상태", "구", "동", "분야", "제목", "제목 (영어)",
                  "단체", "단체 (영어)", "요약", "본문", "연락처 (운영진만)", "득표수"]
EN_CASE_HEADER = ["Case no.", "Case code", "Status", "District", "Neighbourhood", "Category",
                  "Title (Korean)", "Title", "Organization (Korean)", "Organization",
                  "Summary (Korean)", "Text (Korean)", "Contact (staff only)", "Votes"]


def workbook_of(paths: list[Path]):
    [book] = [p for p in paths if p.suffix == ".xlsx"]
    return load_workbook(book)


def rows_of(ws) -> list[tuple]:
    return list(ws.iter_rows(values_only=True))


def assert_shaped(ws) -> None:
    """What every sheet has: a bold header frozen above the data, an autofilter over all of
    it, and a width on every column, at least the header's."""
    header = next(ws.iter_rows(max_row=1))
    last = get_column_letter(len(header))
    assert ws.freeze_panes == "A2", ws.title
    assert ws.auto_filter.ref == f"A1:{last}{ws.max_row}", ws.title
    assert all(cell.font.b for cell in header), ws.title
    for cell in header:
        width = ws.column_dimensions[cell.column_letter].width
        assert width >= display_width(cell.value), (ws.title, cell.value, width)


async def test_the_korean_workbook(services, clock, campaign, tmp_path):
    cases = await prepare(services, clock, campaign)
    book = workbook_of(await services.exports.export(campaign, tmp_path, "ko"))
    assert book.sheetnames == ["요약", "사례", "득표", "심사 점수", "순위", "투표 기록",
                               "살펴볼 움직임"]
    for ws in book:
        assert_shaped(ws)

    # Cases: Korean headers, names instead of keys, the body, numbers as numbers.
    rows = rows_of(book["사례"])
    assert list(rows[0]) == KO_CASE_HEADER
    first = dict(zip(KO_CASE_HEADER, rows[1], strict=True))
    assert first["사례 번호"] == cases[0].id and first["사례 코드"] == cases[0].key
    assert (first["상태"], first["구"], first["분야"]) == ("승인", "동구", "돌봄")
    assert first["동"] == "효동" and first["제목"] == "사례 제목 01번"
    assert first["본문"] == cases[0].ko.body and first["득표수"] == 2
    assert first["연락처 (운영진만)"] is None  # a case from the campaign file has none
    hidden = dict(zip(KO_CASE_HEADER, rows[3], strict=True))
    assert hidden["상태"] == "숨김" and hidden["구"] == "동구"
    keys = {"approved", "hidden", "dong", "daedeok", "care", "seniors"}
    assert not keys & {v for row in rows[1:] for v in row}
    # Korean counts double: the title column is wide enough for 「사례 제목 01번」.
    assert book["사례"].column_dimensions["G"].width >= display_width("사례 제목 01번") >= 14

    # The vote log: pseudonyms, real date-times in Seoul time, case numbers as numbers.
    votes = book["투표 기록"]
    assert [c.value for c in votes[1]] == ["투표자 (가명)", "사례 번호", "사례 코드", "투표 시각"]
    cast = votes["D2"]
    assert cast.value == datetime(2024, 11, 28, 10, 15) and cast.is_date
    assert cast.number_format.startswith("yyyy-mm-dd hh:mm")
    assert votes["D5"].value == datetime(2024, 11, 29, 0, 30)  # local, past midnight
    assert votes["B2"].value == cases[0].id and isinstance(votes["B2"].value, int)
    assert votes.column_dimensions["D"].width >= len("2024-11-28 10:15:00")

    # The tally: shares as percent cells, yes/no in words.
    tally = book["득표"]
    assert [c.value for c in tally[2]][4:] == [2, 0.5, "예"]
    assert tally["F2"].number_format == "0.0%"
    assert [c.value for c in tally[4]][3:] == ["숨김", 1, 0.25, "아니요"]

    # Scores: the criterion named, the time a date-time.
    score = [c.value for c in book["심사 점수"][2]]
    assert score[3] == "종합 점수" and score[4] == 90
    assert isinstance(score[5], datetime)


async def test_the_summary_agrees_with_the_tally(services, clock, campaign, tmp_path):
    await prepare(services, clock, campaign)
    book = workbook_of(await services.exports.export(campaign, tmp_path, "ko"))
    rows = rows_of(book["요약"])
    assert rows[0] == ("구분", "이름", "사례 수", "승인 사례", "득표수", "득표율")
    summary = {(group, name): rest for group, name, *rest in rows[1:]}

    tally = await services.tally.tally(campaign)
    counted = [(c.case, c.votes) for c in [*tally.cases, *tally.set_aside]]
    total = sum(n for _, n in counted)
    assert total == 4
    for group, options, key_of in (
            ("구", campaign.districts, lambda case: case.district),
            ("분야", campaign.categories, lambda case: case.category)):
        for option in options:
            mine = [(case, n) for case, n in counted if key_of(case) == option.key]
            votes = sum(n for _, n in mine)
            assert summary[(group, option.name.ko)] == [
                len(mine), sum(1 for case, _ in mine if case.votable), votes, votes / total]
    assert summary[("전체", None)] == [10, 9, 4, 1]
    # Dong-gu's cases (odd numbers) hold case 0's two votes and hidden case 2's one.
    assert summary[("구", "동구")] == [5, 4, 3, 0.75]
    assert book["요약"]["F2"].number_format == "0.0%"

    summary_csv = read_csv(tmp_path / "summary.csv")
    assert summary_csv[0] == {"group": "district", "name": "dong", "cases": "5",
                              "approved": "4", "votes": "3", "share_percent": "75.0"}


async def test_the_english_workbook(services, clock, campaign, tmp_path):
    await prepare(services, clock, campaign)
    book = workbook_of(await services.exports.export(campaign, tmp_path, "en"))
    assert book.sheetnames == ["Summary", "Cases", "Tally", "Scores", "Ranking", "Vote log",
                               "Signals"]
    rows = rows_of(book["Cases"])
    assert list(rows[0]) == EN_CASE_HEADER
    first = dict(zip(EN_CASE_HEADER, rows[1], strict=True))
    assert (first["Status"], first["District"], first["Category"]) == (
        "approved", "Dong-gu", "Care")
    assert first["Neighbourhood"] == "Hyo-dong" and first["Title"] == "Case title 01"
    assert rows_of(book["Summary"])[1][:2] == ("District", "Dong-gu")
    assert rows_of(book["Vote log"])[0] == ("Voter (pseudonym)", "Case no.", "Case code",
                                            "Cast at")
    for ws in book:
        assert_shaped(ws)

    # The CSV files are the same whatever the language: keys and ISO times, for scripts.
    ko = tmp_path / "ko"
    await services.exports.export(campaign, ko, "ko")
    for name in ("cases.csv", "votes.csv", "summary.csv", "tally.csv"):
        assert read_csv(tmp_path / name) == read_csv(ko / name), name
    exported = read_csv(tmp_path / "cases.csv")[0]
    assert (exported["status"], exported["district"], exported["category"]) == (
        "approved", "dong", "care")
    assert exported["body_ko"].startswith("사례 제목 01번 본문입니다.")


async def test_the_vote_log_continues_past_the_row_limit(services, clock, campaign, tmp_path):
    """Excel's limit is 1,048,576 rows a sheet; here it is lowered to 3 (a header and two
    votes) so four votes need two sheets, each a complete sheet of its own."""
    await prepare(services, clock, campaign)
    sheets = await services.exports.sheets(campaign)
    [log] = [s for s in sheets if s.name == "votes"]
    assert isinstance(log.rows, LazyRows)  # made row by row as it is written, never kept
    # In a thread, as the export does: the log is read from the event loop as it is written.
    await asyncio.to_thread(write_files, [log], tmp_path, "book.xlsx", "ko", max_rows=3)
    book = load_workbook(tmp_path / "book.xlsx")
    assert book.sheetnames == ["투표 기록", "투표 기록 (2)"]
    first, second = (rows_of(book[name]) for name in book.sheetnames)
    assert first[0] == second[0] == ("투표자 (가명)", "사례 번호", "사례 코드", "투표 시각")
    assert [*first[1:], *second[1:]] == [
        (r["voter"], int(r["case_id"]), r["key"],
         datetime.fromisoformat(r["cast_at"]).replace(tzinfo=None))
        for r in read_csv(tmp_path / "votes.csv")]
    for ws in book:
        assert_shaped(ws)
        assert ws.max_row == 3

    # One row fewer than two full sheets: no empty third sheet; an empty log: one sheet.
    await asyncio.to_thread(write_files, [log], tmp_path / "b", "book.xlsx", "ko", max_rows=5)
    assert load_workbook(tmp_path / "b" / "book.xlsx").sheetnames == ["투표 기록"]
    empty = type(log)(log.name, log.header, [])
    write_files([empty], tmp_path / "c", "book.xlsx", "ko", max_rows=3)
    [ws] = load_workbook(tmp_path / "c" / "book.xlsx")
    assert ws.max_row == 1 and ws.auto_filter.ref == "A1:D1"


def test_one_line_adds_a_case_column():
    """The case columns are one list: headers and rows both follow it."""
    keys = [column.key for column in CASE_COLUMNS]
    assert keys[-3:] == ["body_ko", "contact", "votes"] and len(set(keys)) == len(keys)


async def test_export_command_speaks_the_admins_language(staffbot, services, clock, campaign):
    await prepare(services, clock, campaign)
    english_admin = TelegramUser(ADMIN.id, "Boss", "en", username="boss")
    calls = await staffbot.send(english_admin, "/export")
    [book] = [content for c in calls if c.method == "sendDocument"
              for name, content in c.params["_files"].values() if name.endswith(".xlsx")]
    workbook = load_workbook(io.BytesIO(book))
    assert workbook.sheetnames[0] == "Summary"
    assert rows_of(workbook["Cases"])[0][:3] == ("Case no.", "Case code", "Status")


def test_cli_export_in_the_default_language(tmp_path):
    cli = Cli(tmp_path)
    assert cli("campaign", "load", str(DAEJEON_FILE)).returncode == 0
    result = cli("export", "--campaign", "daejeon-2024", "--out", str(tmp_path / "en"),
                 CHAMYEO_DEFAULT_LANGUAGE="en")
    assert result.returncode == 0, result.stderr
    book = load_workbook(tmp_path / "en" / "chamyeo-daejeon-2024.xlsx")
    assert book.sheetnames[:2] == ["Summary", "Cases"]
    districts = [row[1] for row in rows_of(book["Summary"])[1:6]]
    assert districts == ["Dong-gu", "Jung-gu", "Seo-gu", "Yuseong-gu", "Daedeok-gu"]

    result = cli("export", "--campaign", "daejeon-2024", "--out", str(tmp_path / "ko"))
    assert result.returncode == 0, result.stderr
    book = load_workbook(tmp_path / "ko" / "chamyeo-daejeon-2024.xlsx")
    assert [row[1] for row in rows_of(book["요약"])[1:3]] == ["동구", "중구"]


def test_text_stays_text(tmp_path):
    """What citizens typed goes into the workbook as text: a control character (which openpyxl
    would refuse, stopping the whole export) is dropped, and "=…" is no formula."""
    sheet = Sheet("cases", ("case_id", "title_ko", "summary_ko"),
                  [(1, '=HYPERLINK("http://example.org","보기")', "줄\x00바꿈\x1b 없이"),
                   (2, "-1+2", "@SUM(A1)")])
    write_files([sheet], tmp_path, "book.xlsx", "ko")
    ws = load_workbook(tmp_path / "book.xlsx")["사례"]
    assert [c.value for c in ws[2]] == [1, '=HYPERLINK("http://example.org","보기")', "줄바꿈 없이"]
    assert ws["B2"].data_type == "s"
    assert [c.value for c in ws[3]] == [2, "-1+2", "@SUM(A1)"]
    # The CSV keeps what was stored, for scripts.
    assert read_csv(tmp_path / "cases.csv")[0]["summary_ko"] == "줄\x00바꿈\x1b 없이"


async def test_the_staff_workbook_has_the_contact_a_submitter_left(services, clock, campaign,
                                                                  tmp_path):
    await prepare(services, clock, campaign)
    async with services.db.write() as conn:
        await conn.execute(cases_table.update().where(cases_table.c.key == "case-2")
                           .values(contact="010-1234-5678"))
    book = workbook_of(await services.exports.export(campaign, tmp_path, "ko"))
    rows = [dict(zip(KO_CASE_HEADER, row, strict=True)) for row in rows_of(book["사례"])[1:]]
    assert [r["연락처 (운영진만)"] for r in rows if r["사례 코드"] == "case-2"] == [
        "010-1234-5678"]
    assert sum(1 for r in rows if r["연락처 (운영진만)"]) == 1


async def test_a_big_vote_log_is_in_its_csv_only(services, clock, campaign, tmp_path,
                                                 monkeypatch):
    """Past WORKBOOK_VOTES (lowered here to 3) the workbook's vote sheet says where the votes
    are instead of holding them; votes.csv has every one, read page by page (pages of 2)."""
    from bot.services import exports

    await prepare(services, clock, campaign)
    monkeypatch.setattr(exports, "WORKBOOK_VOTES", 3)
    monkeypatch.setattr(exports, "VOTE_PAGE", 2)
    paths = await services.exports.export(campaign, tmp_path, "ko")
    logged = read_csv(tmp_path / "votes.csv")
    assert len(logged) == 4 and len({(r["voter"], r["case_id"]) for r in logged}) == 4
    assert [r["cast_at"] for r in logged] == sorted(r["cast_at"] for r in logged)
    book = workbook_of(paths)
    assert rows_of(book["투표 기록"]) == [
        ("기록이 4건이라 엑셀에는 싣지 않았습니다. 함께 받은 votes.csv 파일에 모두 있습니다.",)]
    # Read on the event loop itself, the log says why instead of waiting for ever.
    [log] = [s for s in await services.exports.sheets(campaign) if s.name == "votes"]
    with pytest.raises(RuntimeError):
        list(log.rows)
