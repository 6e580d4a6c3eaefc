"""Telegram webhook mode (`chamyeo run --webhook`): the real Application behind PTB's own webhook
server on 127.0.0.1, sent real Update JSON over HTTP. Only requests carrying the right
X-Telegram-Bot-Api-Secret-Token are processed; the rest get 403 and change nothing."""

from __future__ import annotations

import asyncio
import os
import socket

import aiohttp
import pytest

import bot.app
import bot.cli
from bot.app import build_application, webhook_url_path
from bot.settings import Settings
from handlers.telegram.offline import OfflineRequest, OfflineTelegram, TelegramUser
from tests.conftest import KIM, SMITH
from tests.fault_harness import free_port

PUBLIC_URL = "https://bot.example.org/tg/hook"
SECRET = "s3cret-Token_for-tests"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"



class Webhook:
    """The running webhook server: POST Update JSON to it as Telegram would."""

    def __init__(self, telegram: OfflineTelegram, url: str) -> None:
        self.telegram = telegram
        self.url = url

    async def post(self, update: dict, headers: dict[str, str] | None = None,
                   url: str | None = None) -> int:
        async with aiohttp.ClientSession() as session, session.post(
            url or self.url, json=update, headers=headers or {}
        ) as response:
            return response.status

    async def post_message(self, user: TelegramUser, text: str,
                           secret: str | None = SECRET) -> int:
        headers = {SECRET_HEADER: secret} if secret is not None else {}
        return await self.post(self.telegram.message_update(user, text), headers)

    def sent_to(self, chat_id: int) -> list:
        return [c for c in self.telegram.request.calls
                if c.method == "sendMessage" and c.chat_id == chat_id]

    async def wait_for_answer(self, chat_id: int) -> list:
        """The bot's messages to this chat, once there are some (polled for at most ~2 s)."""
        for _ in range(200):
            if sent := self.sent_to(chat_id):
                return sent
            await asyncio.sleep(0.01)
        raise AssertionError(f"no sendMessage to {chat_id} within 2 s")


@pytest.fixture
async def webhook(services, clock, campaign):
    request = OfflineRequest(clock=clock)
    settings = Settings(_env_file=None, telegram_webhook_url=PUBLIC_URL,
                        telegram_webhook_secret=SECRET)
    application = build_application(settings, services, request=request, rate_limited=False)
    port = free_port()
    async with application:
        await application.updater.start_webhook(
            listen="127.0.0.1", port=port, url_path=webhook_url_path(PUBLIC_URL),
            webhook_url=PUBLIC_URL, secret_token=SECRET,
            allowed_updates=["message", "callback_query"],
        )
        await application.start()
        try:
            yield Webhook(OfflineTelegram(application, request, clock),
                          f"http://127.0.0.1:{port}/tg/hook")
        finally:
            await application.updater.stop()
            await application.stop()


async def test_start_webhook_registers_the_public_url_and_the_secret(webhook):
    [call] = [c for c in webhook.telegram.request.calls if c.method == "setWebhook"]
    assert call.params["url"] == PUBLIC_URL
    assert call.params["secret_token"] == SECRET


async def test_update_with_the_right_secret_is_answered(webhook):
    assert webhook.sent_to(KIM.id) == []
    assert await webhook.post_message(KIM, "/start") == 200
    answers = await webhook.wait_for_answer(KIM.id)
    assert answers[0].text


@pytest.mark.parametrize("secret", ["wrong-secret", None], ids=["wrong secret", "no header"])
async def test_update_without_the_right_secret_is_refused(webhook, secret):
    assert await webhook.post_message(KIM, "/start", secret=secret) == 403
    # A good update sent afterwards is answered; by then the refused one would have been too.
    assert await webhook.post_message(SMITH, "/start") == 200
    await webhook.wait_for_answer(SMITH.id)
    assert webhook.sent_to(KIM.id) == []
    assert webhook.telegram.application.update_queue.empty()


async def test_other_paths_are_not_served(webhook):
    update = webhook.telegram.message_update(KIM, "/start")
    other = webhook.url.replace("/tg/hook", "/elsewhere")
    assert await webhook.post(update, {SECRET_HEADER: SECRET}, url=other) == 404
    assert await webhook.post_message(SMITH, "/start") == 200
    await webhook.wait_for_answer(SMITH.id)
    assert webhook.sent_to(KIM.id) == []


@pytest.mark.parametrize(("url", "path"), [
    ("https://bot.example.org/tg/hook", "tg/hook"),
    ("https://bot.example.org/tg/hook/", "tg/hook"),
    ("https://bot.example.org:8443/hook", "hook"),
    ("https://bot.example.org/tg/hook?x=1", "tg/hook"),
    ("https://bot.example.org/", ""),
    ("https://bot.example.org", ""),
])
def test_webhook_url_path_is_the_public_urls_path(url, path):
    assert webhook_url_path(url) == path


# ------------------------------------------------------------------------------------------
# The command: `chamyeo run --webhook` needs the URL and the secret
# ------------------------------------------------------------------------------------------


REAL_RUN = bot.app.run

@pytest.fixture
def environment(monkeypatch, tmp_path, database_url):
    """A clean environment in an empty directory (so no `.env` is read), with a token and a
    database of the test run's backend (`run` checks first that it can be reached); `run` is
    replaced by a recorder so nothing is served."""
    monkeypatch.chdir(tmp_path)
    for name in list(os.environ):
        if name.startswith(("CHAMYEO_", "TELEGRAM_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", "123:fake")
    monkeypatch.setenv("CHAMYEO_DATABASE_URL", database_url)
    runs: list[tuple[Settings, bool]] = []
    monkeypatch.setattr(bot.app, "run", lambda settings, *, webhook=False:
                        runs.append((settings, webhook)))
    monkeypatch.setattr(bot.cli, "configure_logging", lambda *a, **k: None)
    return runs


@pytest.mark.parametrize(("env", "missing"), [
    ({}, "TELEGRAM_WEBHOOK_URL and TELEGRAM_WEBHOOK_SECRET"),
    ({"TELEGRAM_WEBHOOK_SECRET": SECRET}, "TELEGRAM_WEBHOOK_URL"),
    ({"TELEGRAM_WEBHOOK_URL": PUBLIC_URL}, "TELEGRAM_WEBHOOK_SECRET"),
    ({"TELEGRAM_WEBHOOK_URL": PUBLIC_URL, "TELEGRAM_WEBHOOK_SECRET": " "},
     "TELEGRAM_WEBHOOK_SECRET"),
])
def test_run_webhook_without_its_settings_is_one_line_and_exit_2(
    environment, monkeypatch, capsys, env, missing
):
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert bot.cli.main(["run", "--webhook"]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("chamyeo: --webhook needs ")
    assert missing in lines[0]
    if " and " not in missing:
        assert ("TELEGRAM_WEBHOOK_URL" in lines[0]) != ("TELEGRAM_WEBHOOK_SECRET" in lines[0])
    assert environment == []


def test_a_env_file_in_the_working_directory_counts(environment, tmp_path, capsys):
    (tmp_path / ".env").write_text(f"TELEGRAM_WEBHOOK_URL={PUBLIC_URL}\n")
    assert bot.cli.main(["run", "--webhook"]) == 2
    line = capsys.readouterr().err.strip()
    assert "TELEGRAM_WEBHOOK_SECRET" in line and "TELEGRAM_WEBHOOK_URL" not in line


def test_run_webhook_with_its_settings_serves_the_webhook(environment, monkeypatch):
    monkeypatch.setenv("TELEGRAM_WEBHOOK_URL", PUBLIC_URL)
    monkeypatch.setenv("TELEGRAM_WEBHOOK_SECRET", SECRET)
    assert bot.cli.main(["run", "--webhook"]) == 0
    [(settings, webhook)] = environment
    assert webhook is True
    assert settings.telegram_webhook_url == PUBLIC_URL
    assert settings.telegram_webhook_secret == SECRET


def test_polling_stays_the_default(environment):
    assert bot.cli.main(["run"]) == 0
    assert [webhook for _, webhook in environment] == [False]


def test_app_run_refuses_webhook_mode_without_its_settings():
    with pytest.raises(ValueError, match="TELEGRAM_WEBHOOK_SECRET"):
        bot.app.run(Settings(_env_file=None, telegram_webhook_url=PUBLIC_URL,
                             telegram_webhook_secret=None), webhook=True)


def test_run_webhook_with_an_unreachable_database_is_one_line_and_exit_2(
    environment, monkeypatch, capsys
):
    monkeypatch.setenv("TELEGRAM_WEBHOOK_URL", PUBLIC_URL)
    monkeypatch.setenv("TELEGRAM_WEBHOOK_SECRET", SECRET)
    monkeypatch.setenv("CHAMYEO_DATABASE_URL",
                       f"postgresql+asyncpg://chamyeo:pw-{SECRET}@127.0.0.1:{free_port()}/x")
    assert bot.cli.main(["run", "--webhook"]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    [line] = err.splitlines()
    assert line.startswith("chamyeo: cannot reach the database postgresql+asyncpg://chamyeo:***@")
    assert "connection refused" in line and SECRET not in line
    assert environment == []


def test_run_webhook_on_a_port_in_use_is_one_line_and_exit_2(environment, monkeypatch,
                                                              capsys):
    """Another worker on this host already listens there: before, PTB's server failed to bind
    inside its own loop and the bot hung without serving."""

    monkeypatch.setattr(bot.app, "run", REAL_RUN)  # the port is checked before migrating
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        monkeypatch.setenv("TELEGRAM_WEBHOOK_URL", PUBLIC_URL)
        monkeypatch.setenv("TELEGRAM_WEBHOOK_SECRET", SECRET)
        monkeypatch.setenv("TELEGRAM_WEBHOOK_LISTEN", "127.0.0.1")
        monkeypatch.setenv("TELEGRAM_WEBHOOK_PORT", str(port))
        assert bot.cli.main(["run", "--webhook"]) == 2
    out, err = capsys.readouterr()
    [line] = err.splitlines()
    assert line.startswith("chamyeo: TELEGRAM_WEBHOOK_PORT: cannot listen on 127.0.0.1:")
    assert str(port) in line and "another worker" in line
