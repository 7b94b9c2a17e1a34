"""Settings are validated at start-up with a message naming the wrong variable."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.settings import AccountKind, MessageMode, SettingsError, load_settings
from tests.conftest import AES_KEY


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import os

    for name in list(os.environ):
        if name.startswith("PARTYBOT_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


def test_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PARTYBOT_WECHAT_TOKEN", "tok123")
    s = load_settings()
    assert s.message_mode is MessageMode.PLAIN and s.wechat_account is AccountKind.SERVICE
    assert s.database_url.startswith("sqlite+aiosqlite:///") and s.database_url.endswith("partybot.db")
    assert (s.signature_max_age_s, s.reply_budget_s, s.timezone) == (300, 4.0, "Asia/Shanghai")


def test_aes_key_means_safe_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PARTYBOT_WECHAT_TOKEN", "tok123")
    monkeypatch.setenv("PARTYBOT_WECHAT_APPID", "wx1")
    monkeypatch.setenv("PARTYBOT_WECHAT_AES_KEY", AES_KEY)
    assert load_settings().message_mode is MessageMode.SAFE
    monkeypatch.setenv("PARTYBOT_WECHAT_MODE", "compatible")
    assert load_settings().message_mode is MessageMode.COMPATIBLE


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({}, "PARTYBOT_WECHAT_TOKEN"),
        ({"PARTYBOT_WECHAT_TOKEN": "t"}, "PARTYBOT_WECHAT_TOKEN"),
        ({"PARTYBOT_WECHAT_TOKEN": "tok123", "PARTYBOT_WECHAT_AES_KEY": "short"}, "PARTYBOT_WECHAT_AES_KEY"),
        ({"PARTYBOT_WECHAT_TOKEN": "tok123", "PARTYBOT_REPLY_BUDGET_S": "9"}, "PARTYBOT_REPLY_BUDGET_S"),
        ({"PARTYBOT_WECHAT_TOKEN": "tok123", "PARTYBOT_WECHAT_ACCOUNT": "big"}, "PARTYBOT_WECHAT_ACCOUNT"),
        ({"PARTYBOT_WECHAT_TOKEN": "tok123", "PARTYBOT_DATABASE_URL": "mysql://x"}, "PARTYBOT_DATABASE_URL"),
        ({"PARTYBOT_WECHAT_TOKEN": "tok123", "PARTYBOT_TIMEZONE": "Mars/Base"}, "PARTYBOT_TIMEZONE"),
        ({"PARTYBOT_WECHAT_TOKEN": "tok123", "PARTYBOT_WECHAT_MODE": "safe"}, "PARTYBOT_WECHAT_AES_KEY"),
        ({"PARTYBOT_WECHAT_TOKEN": "tok123", "PARTYBOT_WECHAT_AES_KEY": AES_KEY}, "PARTYBOT_WECHAT_APPID"),
    ],
)
def test_wrong_settings_name_the_variable(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], named: str
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError, match=named):
        load_settings()


def test_postgres_urls_get_the_async_driver(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PARTYBOT_WECHAT_TOKEN", "tok123")
    monkeypatch.setenv("PARTYBOT_DATABASE_URL", "postgresql://u@db:5432/partybot")
    assert load_settings().database_url == "postgresql+asyncpg://u@db:5432/partybot"
