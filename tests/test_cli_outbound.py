"""`partybot broadcast` and `partybot outbox` (the queue, in-doubt rows, `--resend`)."""

from __future__ import annotations

import asyncio
import re

from click.testing import CliRunner
from sqlalchemy import select, update

from bot.cli import main
from models import OutboxRow
from models.db import Database
from tests.community import BRANCH1, seed
from tests.conftest import DATA_KEY


def env(url: str) -> dict[str, str]:
    return {"PARTYBOT_DATABASE_URL": url, "PARTYBOT_WECHAT_TOKEN": "cli-token", "PARTYBOT_DATA_KEY": DATA_KEY}


async def _seed(url: str) -> None:
    db = Database(url)
    try:
        await seed(db, bind=("YX-002", "YX-004", "YX-006"))
    finally:
        await db.dispose()


async def _rows(url: str, in_doubt: int | None = None) -> list[OutboxRow]:
    db = Database(url)
    try:
        if in_doubt is not None:
            statement = update(OutboxRow).where(OutboxRow.id == in_doubt).values(status="in-doubt")
            await db.run(lambda session: session.execute(statement))
        async with db.read() as session:
            return list((await session.scalars(select(OutboxRow).order_by(OutboxRow.id))).all())
    finally:
        await db.dispose()


def test_broadcast_queues_one_row_per_member_and_outbox_resends_only_in_doubt_rows(database_url: str) -> None:
    asyncio.run(_seed(database_url))
    runner = CliRunner()
    missing = runner.invoke(
        main, ["broadcast", "--org", "无此组织", "--text", "x", "-y"], env=env(database_url)
    )
    assert missing.exit_code == 2 and "没有组织“无此组织”" in missing.output
    sent = runner.invoke(
        main, ["broadcast", "--org", BRANCH1, "--text", "周六上午9点开会。", "-y"], env=env(database_url)
    )
    assert sent.exit_code == 0, sent.output
    assert "将发送给：第一网格党支部，共 5 人（其中 1 人同时收到语音；2 人未绑定微信" in sent.output
    assert re.search(r"公告（编号 1）已于 \d{4}-\d\d-\d\d \d\d:\d\d CST 排队，共发送 5 人", sent.output)
    rows = asyncio.run(_rows(database_url))
    assert len(rows) == 5 and {r.status for r in rows} == {"queued"} and {r.kind for r in rows} == {"notice"}

    listing = runner.invoke(main, ["outbox"], env=env(database_url))
    assert listing.exit_code == 0 and "通知 / 排队中：5" in listing.output
    refused = runner.invoke(main, ["outbox", "--resend", str(rows[0].id)], env=env(database_url))
    assert refused.exit_code == 2 and "不是“情况不明”" in refused.output
    asyncio.run(_rows(database_url, in_doubt=rows[0].id))
    doubt = runner.invoke(main, ["outbox"], env=env(database_url)).output
    assert "通知 / 情况不明：1" in doubt
    # Times in Beijing time, with the zone (rows are stored in UTC).
    assert re.search(
        rf"#{rows[0].id} 通知 情况不明 渠道：- 通知：1 已尝试0次 \d{{4}}-\d\d-\d\d \d\d:\d\d CST", doubt
    )
    resent = runner.invoke(main, ["outbox", "--resend", str(rows[0].id)], env=env(database_url))
    assert resent.exit_code == 0 and "已重新排队" in resent.output
    assert asyncio.run(_rows(database_url))[0].status == "queued"


def test_broadcast_asks_in_chinese_and_sends_nothing_unless_confirmed(database_url: str) -> None:
    asyncio.run(_seed(database_url))
    runner = CliRunner()
    args = ["broadcast", "--org", BRANCH1, "--text", "周六上午9点开会。"]
    declined = runner.invoke(main, args, env=env(database_url), input="n\n")
    assert declined.exit_code == 0, declined.output
    assert "确认发送？ [y/N]" in declined.output and declined.output.rstrip().endswith("未发送。")
    assert asyncio.run(_rows(database_url)) == []
    empty = runner.invoke(main, ["broadcast", "--org", BRANCH1, "--text", "  "], env=env(database_url))
    assert empty.exit_code == 2 and "--text 的内容是空的" in empty.output
