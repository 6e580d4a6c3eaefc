"""The fault harness reads the bot's log for what must not be there (tests/fault_harness.py,
`log_problems`): ERROR records, and tracebacks about flood control at any level."""

from __future__ import annotations

from tests.fault_harness import log_problems, log_records

CLEAN = ("2026-12-02 07:04:35,100 INFO bot.app: database is up to date\n"
         "2026-12-02 07:04:36,452 INFO telegram.ext.AIORateLimiter: Rate limit hit. Retrying "
         "after 1.100000 seconds\n"
         "2026-12-02 07:04:37,001 WARNING bot.x: could not edit message\n")


def test_a_clean_log_has_no_problems():
    assert log_problems(CLEAN) == []
    assert [level for level, _ in log_records(CLEAN)] == ["INFO", "INFO", "WARNING"]


def test_an_error_record_is_a_problem_with_its_traceback():
    text = CLEAN + ("2026-12-02 07:05:00,000 ERROR handlers.telegram.errors: error while "
                    "handling an update\nTraceback (most recent call last):\n"
                    "ValueError: boom\n"
                    "2026-12-02 07:05:01,000 INFO bot.app: later\n")
    [problem] = log_problems(text)
    assert problem.startswith("2026-12-02 07:05:00,000 ERROR") and problem.endswith("boom")


def test_a_flood_control_traceback_is_a_problem_at_any_level():
    retry = ("Traceback (most recent call last):\n"
             "telegram.error.RetryAfter: Flood control exceeded. Retry in 1 seconds\n")
    assert len(log_problems(CLEAN + "2026-12-02 07:05:00,000 WARNING x: failed\n" + retry)) == 1
    assert len(log_problems(CLEAN + retry)) == 1  # printed after a record, outside logging
    other = "Traceback (most recent call last):\nValueError: boom\n"
    assert log_problems(CLEAN + "2026-12-02 07:05:00,000 WARNING x: failed\n" + other) == []


def test_a_log_in_another_format_fails_closed():
    [problem] = log_problems("ERROR:bot.app:something broke\n")
    assert "format" in problem
    assert log_problems("") == []
