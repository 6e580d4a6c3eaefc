"""`chamyeo demo` as someone trying it types: what the bot sends to another user waits until
the demo talks as them, files the bot sends are written to disk and listed, `\\5` sends "5" as
text, and bad `:` input gets an answer. Run as a command with piped input, on this backend's
database (`--database`)."""

from __future__ import annotations

import csv
import re
from pathlib import Path

from tests.test_cli_settings import Cli

SUBMIT = (  # as the README's submission example: a case sent in by chat, with a photo
    "2\n1\n2\n대전 행복 복지관\n042-123-4567\n1\n1\n1\n우리 동네 반찬 나눔\n"
    "이웃이 함께 만든 반찬을 어르신께 전합니다.\n"
    "2023년부터 주민 봉사자 20명이 매주 목요일 모여 반찬을 만들고 홀로 사는 어르신 "
    "30가구를 찾아갑니다.\n:photo\n1\n1\n"
)
APPROVAL = "「우리 동네 반찬 나눔」이 승인되었습니다"
AWAY = "── while you were away: "


def demo(tmp_path: Path, database_url: str, script: str, *args: str):
    result = Cli(tmp_path)("demo", "--database", database_url, *args, input=script)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    return result.stdout


def test_a_notice_to_another_user_waits_until_you_talk_as_them(tmp_path, empty_database_url):
    out = demo(tmp_path, empty_database_url,
               SUBMIT + ":user 99\n/moderate\n1\n:user 2\n:user 1\n",
               "--at", "2024-11-20T10:00")
    assert "📨 접수되었습니다" in out
    as_admin, _, back = out.partition("> :user 1\n")
    # Sent to citizen 1 while the demo spoke as the admin (and then citizen 2): not shown there,
    assert "승인했습니다" in as_admin and APPROVAL not in as_admin
    assert AWAY not in as_admin  # citizen 2 had nothing waiting
    # but as soon as citizen 1 is back, under a header, with its button.
    assert "(now talking as citizen 1)" in back
    waiting = back[back.index(AWAY):]
    assert waiting.startswith(AWAY + "1 message(s) ──")
    assert APPROVAL in waiting and "[1] 🏠 처음으로" in waiting
    assert out.count(APPROVAL) == 1


def test_the_results_announcement_waits_and_the_admins_report_is_the_admins(
        tmp_path, empty_database_url):
    out = demo(tmp_path, empty_database_url,
               "1\n:user 99\n:jump 2024-12-10T10:00\n/publish\n1\n1\n:user 1\n")
    assert "결과를 발표했습니다" in out
    as_admin, _, back = out.partition("> :user 1\n")
    assert "결과가 발표되었습니다" not in as_admin
    # The broadcast's report goes to the admin: shown before the switch, not as citizen 1's.
    report, _, as_citizen = back.partition("(now talking as citizen 1)")
    assert "📣 발송 완료: 결과 발표" in report and "보냄 1" in report
    assert as_citizen.lstrip().startswith(AWAY + "1 message(s) ──")
    assert "결과가 발표되었습니다" in as_citizen and "발송 완료" not in as_citizen


def test_the_buttons_of_the_user_you_talk_as_are_the_ones_pressed(tmp_path,
                                                                  empty_database_url):
    # Citizen 1's latest buttons are the news question's: [2] "no, thanks". The admin's
    # /admin menu, shown since, must not be pressed as citizen 1 ([2] is the results there).
    out = demo(tmp_path, empty_database_url, ":user 99\n/admin\n:user 1\n2\n")
    after = out.rsplit("> 2\n", 1)[1]
    assert after.startswith("\n🤖 (edited) ") and "[1] 📋 사례 보기" in after
    assert "🏆" not in after and "(no button" not in after


def test_files_the_bot_sends_are_written_and_listed(tmp_path, empty_database_url):
    files = tmp_path / "files"
    out = demo(tmp_path, empty_database_url, ":user 99\n/admin\n4\n", "--files", str(files))
    listed = re.findall(r"🤖 📎 \(file\) (\S+) → (.+)", out)
    assert {name for name, _ in listed} >= {"cases.csv", "chamyeo-daejeon-2024.xlsx"}
    for name, path in listed:
        assert Path(path) == (files / name).resolve() and Path(path).stat().st_size > 0
    with open(files / "cases.csv", encoding="utf-8-sig", newline="") as file:
        assert len(list(csv.DictReader(file))) == 18
    # A second export keeps the first one's files.
    again = demo(tmp_path, empty_database_url, ":user 99\n/admin\n4\n", "--files", str(files))
    assert f"cases-2.csv → {(files / 'cases-2.csv').resolve()}" in again
    assert (files / "cases.csv").exists()


def test_a_backslash_sends_a_number_or_a_colon_as_text(tmp_path, empty_database_url):
    out = demo(tmp_path, empty_database_url, "2\n\\5\n\\:time\n7\n")
    # `\5` and `\:time` reach the bot as text (a typed word searches), nothing is pressed
    # and the demo clock is not shown; a number with no button says how to send it as text.
    escaped = out.split("> \\5\n", 1)[1].split("> 7\n", 1)[0]
    assert "조건: 「5」" in escaped and "🔎 찾는 말: 「:time」" in escaped
    assert escaped.count("🤖") == 2 and "(clock:" not in escaped
    assert "(no button [7]; to send 7 as text, type \\7)" in out


def test_user_needs_a_number_and_an_unknown_command_is_named(tmp_path, empty_database_url):
    out = demo(tmp_path, empty_database_url, ":user x\n:user 0\n:bogus\n/myvote\n")
    assert "(unknown: :bogus; to send it as text, type \\:bogus)\n  text " in out
    assert out.count("(usage: :user 2, a number from 1; :user 99 is the admin)") == 2
    assert "now talking as" not in out
    assert "아직 투표하지 않으셨습니다" in out  # still citizen 1, who has not voted


def test_someone_new_starts_the_bot_so_staff_can_grant_them_a_role(tmp_path,
                                                                   empty_database_url):
    out = demo(tmp_path, empty_database_url, ":user 2\n:user 99\n/grant 2 judge\n:user 2\n")
    as_two = out.split("> :user 2\n", 1)[1].split("> :user 99\n", 1)[0]
    assert "(now talking as citizen 2)" in as_two and "안녕하세요" in as_two
    assert "2에게 심사위원 역할을 주었습니다" in out
    assert out.count("안녕하세요") == 3  # citizen 1, citizen 2, the admin: once each


def test_english_with_language(tmp_path, empty_database_url):
    out = demo(tmp_path, empty_database_url, "1\n1\n1\n1\n1\n/myvote\n", "--language", "en")
    assert "Browse cases" in out and "🗳 My vote" in out and "확인 번호" not in out


def test_files_a_folder_cannot_hold_are_said_and_the_demo_goes_on(tmp_path, empty_database_url):
    a_file = tmp_path / "a-file"
    a_file.write_text("not a folder")
    refused = Cli(tmp_path)("demo", "--files", str(a_file), input="")
    assert refused.returncode == 2 and refused.stdout == ""
    assert refused.stderr.strip() == f"chamyeo: --files: {a_file} is not a folder"
    # A folder that cannot be made (inside a file): said per document, and the demo goes on.
    out = demo(tmp_path, empty_database_url, ":user 99\n/admin\n4\n/myvote\n",
               "--files", str(a_file / "sub"))
    assert f"🤖 📎 (file not written to {a_file / 'sub'}: " in out
    assert "파일 8개를 보냈습니다" in out and "> /myvote" in out
