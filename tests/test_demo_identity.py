"""`chamyeo demo --identity phone|code`, as the README shows it: the demo asks for a number
(answered with `:contact`, a forwarded contact refused) or prints voting codes to type, then
the vote is recorded. Run as a command, with piped input."""

from __future__ import annotations

import re

from tests.test_cli_database import query
from tests.test_cli_settings import Cli

VOTE = "1\n1\n1\n1\n"  # yes to news, the list, the first case, vote


def test_the_demo_asks_for_a_number_and_refuses_someone_elses(tmp_path):
    cli = Cli(tmp_path)
    result = cli("demo", "--identity", "phone", "--database", cli.database_url,
                 input=VOTE + ":contact 010-2222-3333 forwarded\n:contact 010-2222-3333\n1\n")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "One vote per phone" in out
    assert "[⌨ 📱 내 번호 보내기]  (type :contact 010-1234-5678)" in out
    assert "다른 사람의 연락처는 받을 수 없습니다" in out
    assert "번호가 확인되었습니다" in out and "투표가 기록되었습니다" in out
    [(voter,)] = query(cli.database_url, "SELECT voter FROM votes")
    assert voter.startswith("p:")
    assert "2222" not in str(query(cli.database_url, "SELECT phone_key FROM citizen_phones"))


def test_the_demo_prints_voting_codes_that_vote_once(tmp_path):
    cli = Cli(tmp_path)
    key = {"CHAMYEO_IDENTITY_KEY": "demo-key-" + "x" * 32}  # the same key for both runs
    first = cli("demo", "--identity", "code", "--database", cli.database_url, input="",
                **key)
    assert first.returncode == 0, first.stderr
    codes = re.search(r"Voting codes for this demo: (.+)", first.stdout)[1].split(", ")
    assert len(codes) == 5
    # Asked about news already: the list, the first case, vote, then the codes.
    second = cli("demo", "--identity", "code", "--database", cli.database_url,
                 input="1\n1\n1\nAAAA-AAAA-AAAA\n" + codes[0] + "\n1\n", **key)
    assert second.returncode == 0, second.stderr
    assert "맞지 않는 코드입니다" in second.stdout
    assert "코드가 확인되었습니다" in second.stdout and "투표가 기록되었습니다" in second.stdout
    [(voter,)] = query(cli.database_url, "SELECT voter FROM votes")
    assert voter.startswith("c:")
