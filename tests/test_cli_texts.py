"""What a secretary or operator reads from `partybot` is in Chinese, like the chat (content/texts.yaml)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from click.testing import CliRunner

from bot.cli import main
from models.migrate import head_revision, upgrade


def env(url: str) -> dict[str, str]:
    return {"PARTYBOT_DATABASE_URL": url, "PARTYBOT_WECHAT_TOKEN": "cli-token"}


def test_the_schema_commands(database_url: str, tmp_path: Path) -> None:
    runner = CliRunner()
    head = head_revision()
    current = runner.invoke(main, ["db", "current"], env=env(database_url))
    assert current.exit_code == 0 and current.output == f"数据库：{head}；代码：{head}\n"
    upgraded = runner.invoke(main, ["db", "upgrade"], env=env(database_url))
    assert upgraded.exit_code == 0 and upgraded.output == f"数据库结构已是版本 {head}\n"
    empty = f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}"
    assert (
        runner.invoke(main, ["db", "current"], env=env(empty)).output
        == f"数据库：空（尚未建表）；代码：{head}\n"
    )


def test_serve_refuses_a_schema_behind_the_code(tmp_path: Path) -> None:
    behind = f"sqlite+aiosqlite:///{tmp_path / 'behind.db'}"
    asyncio.run(upgrade(behind, "0008"))
    served = CliRunner().invoke(main, ["serve"], env=env(behind))
    assert served.exit_code == 2
    assert served.output == "partybot: 数据库结构不是最新的：请先运行 `partybot db upgrade`\n"


def test_wrong_settings_and_wrong_options(database_url: str) -> None:
    runner = CliRunner()
    bad = runner.invoke(
        main,
        ["db", "current"],
        env={**env(database_url), "PARTYBOT_WECHAT_APPID": "wx1", "PARTYBOT_WECHAT_AES_KEY": "short"},
    )
    assert (
        bad.exit_code == 2
        and bad.output.startswith("partybot: 配置有误：")
        and "PARTYBOT_WECHAT_AES_KEY" in bad.output
    )
    both = runner.invoke(main, ["chat", "--openid", "o-x", "--as", "YX-001"], env=env(database_url))
    assert both.exit_code == 2 and both.output == "partybot: --openid 和 --as 只能选一个\n"
