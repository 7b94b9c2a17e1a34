"""The secretary's and operator's commands: `partybot members bind-code`, `partybot audit`."""

from __future__ import annotations

import asyncio
import json
import re
from datetime import UTC, datetime, timedelta

from click.testing import CliRunner
from sqlalchemy import select

from bot.cli import main
from bot.domain.privacy import Vault
from models import AuditEntry, BindingCode
from models.db import Database
from tests.community import seed
from tests.conftest import DATA_KEY


def env(url: str) -> dict[str, str]:
    return {"PARTYBOT_DATABASE_URL": url, "PARTYBOT_WECHAT_TOKEN": "cli-token", "PARTYBOT_DATA_KEY": DATA_KEY}


async def _seed(url: str) -> None:
    db = Database(url)
    try:
        await seed(db)
    finally:
        await db.dispose()


async def _stored(url: str) -> tuple[list[BindingCode], list[AuditEntry]]:
    db = Database(url)
    try:
        async with db.read() as session:
            codes = list((await session.scalars(select(BindingCode))).all())
            entries = list((await session.scalars(select(AuditEntry))).all())
        return codes, entries
    finally:
        await db.dispose()


def test_bind_code_prints_a_code_stored_only_as_an_hmac(database_url: str) -> None:
    asyncio.run(_seed(database_url))
    runner = CliRunner()
    result = runner.invoke(main, ["members", "bind-code", "YX-004"], env=env(database_url))
    assert result.exit_code == 0, result.output
    code = re.search(r"绑定码：(\d{6})", result.output)
    assert code is not None and result.output.startswith("王秀兰（YX-004）的绑定码：")
    codes, entries = asyncio.run(_stored(database_url))
    assert [c.code_mac for c in codes] == [Vault(DATA_KEY).mac("code", code.group(1))]
    assert code.group(1) not in codes[0].code_mac
    assert entries[0].action == "issue_bind_code" and entries[0].actor.startswith("cli:")

    audit = runner.invoke(main, ["audit", "--json"], env=env(database_url))
    assert audit.exit_code == 0
    line = json.loads(audit.output.splitlines()[0])
    assert (line["action"], line["scope"]) == ("issue_bind_code", "YX-004")


def test_bind_code_for_an_unknown_member_or_without_a_key(database_url: str) -> None:
    asyncio.run(_seed(database_url))
    runner = CliRunner()
    unknown = runner.invoke(main, ["members", "bind-code", "YX-999"], env=env(database_url))
    assert unknown.exit_code == 2 and unknown.output == "partybot: 没有编号为 YX-999 的在册党员。\n"
    no_key = runner.invoke(
        main, ["members", "bind-code", "YX-004"], env={**env(database_url), "PARTYBOT_DATA_KEY": ""}
    )
    assert no_key.exit_code == 2 and "没有设置数据密钥 PARTYBOT_DATA_KEY" in no_key.output


async def _confirmed_report(url: str) -> None:
    from datetime import UTC, datetime

    from sqlalchemy.orm import Session

    from models import DualReport

    db = Database(url)
    try:
        await seed(db)
        vault = Vault(DATA_KEY)

        def add(session: Session) -> None:
            session.add(
                DualReport(
                    openid="o-w",
                    name="张伟",
                    phone_enc=vault.encrypt_phone("13900138888"),
                    workplace_org="青禾科技有限公司党支部",
                    building="5号楼",
                    door="2单元602",
                    status="confirmed",
                    volunteer_posts=["义务巡逻岗"],
                    created_at=datetime(2026, 10, 8, tzinfo=UTC),
                    confirmed_at=datetime(2026, 10, 9, tzinfo=UTC),
                )
            )

        await db.run(add)
    finally:
        await db.dispose()


def test_service_report_exports_the_quarter_and_is_audited(database_url: str, tmp_path: object) -> None:
    from pathlib import Path

    asyncio.run(_confirmed_report(database_url))
    out = Path(str(tmp_path)) / "report.csv"
    runner = CliRunner()
    result = runner.invoke(
        main,
        ["members", "service-report", "--quarter", "2026Q4", "--output", str(out)],
        env=env(database_url),
    )
    assert result.exit_code == 0, result.output
    text = out.read_text(encoding="utf-8-sig")
    assert text.splitlines() == [
        "单位党组织,姓名,手机,报到社区组织,住址,确认日期,志愿岗位",
        "青禾科技有限公司党支部,张伟,139****8888,,5号楼2单元602,2026-10-09,义务巡逻岗",
    ]
    earlier = runner.invoke(main, ["members", "service-report", "--quarter", "2026Q3"], env=env(database_url))
    assert earlier.output.splitlines() == ["单位党组织,姓名,手机,报到社区组织,住址,确认日期,志愿岗位"]
    _, entries = asyncio.run(_stored(database_url))
    assert [e.action for e in entries] == ["export_service_report", "export_service_report"]
    bad = runner.invoke(main, ["members", "service-report", "--quarter", "2026-4"], env=env(database_url))
    assert bad.exit_code == 2 and "2026Q4" in bad.output


async def _entries(url: str, *ats: datetime) -> None:
    from sqlalchemy.orm import Session

    db = Database(url)
    try:

        def add(session: Session) -> None:
            for at in ats:
                session.add(
                    AuditEntry(at=at, actor="member:YX-002", action="list_members", scope="x", detail={})
                )

        await db.run(add)
    finally:
        await db.dispose()


def test_the_audit_log_shows_beijing_time_with_the_zone(database_url: str) -> None:
    runner = CliRunner()
    assert runner.invoke(main, ["audit"], env=env(database_url)).output == "最近 30 天没有审计记录。\n"
    # 06:13 UTC an hour or more ago: 14:13 Beijing time, whatever the zone of the machine.
    at = (datetime.now(UTC) - timedelta(hours=2)).replace(minute=13, second=0, microsecond=0)
    asyncio.run(_entries(database_url, at))
    shown = runner.invoke(main, ["audit"], env=env(database_url))
    beijing = at + timedelta(hours=8)
    assert shown.output == f"{beijing:%Y-%m-%d %H:%M} +08:00 member:YX-002 list_members x {{}}\n"
    as_json = json.loads(runner.invoke(main, ["audit", "--json"], env=env(database_url)).output)
    assert as_json["at"] == f"{beijing:%Y-%m-%dT%H:%M:%S}+08:00"
    # Another zone configured, another offset: the setting decides, not the machine.
    elsewhere = runner.invoke(main, ["audit"], env={**env(database_url), "PARTYBOT_TIMEZONE": "Asia/Kolkata"})
    assert elsewhere.output.startswith(f"{at + timedelta(hours=5, minutes=30):%Y-%m-%d %H:%M} +05:30 ")


async def _confirmed_late_at_night(url: str) -> None:
    from sqlalchemy.orm import Session

    from models import DualReport

    db = Database(url)
    try:
        await seed(db)

        def add(session: Session) -> None:
            session.add(
                DualReport(
                    openid="o-night",
                    name="夜班",
                    workplace_org="青禾医院党支部",
                    building="6号楼",
                    door="1单元101",
                    status="confirmed",
                    volunteer_posts=[],
                    created_at=datetime(2026, 9, 30, 16, 30, tzinfo=UTC),
                    # 2026-10-01 01:00 in Beijing: the fourth quarter's first day.
                    confirmed_at=datetime(2026, 9, 30, 17, 0, tzinfo=UTC),
                )
            )

        await db.run(add)
    finally:
        await db.dispose()


def test_the_service_report_dates_are_beijing_days(database_url: str, tmp_path: object) -> None:
    from pathlib import Path

    asyncio.run(_confirmed_late_at_night(database_url))
    runner = CliRunner()
    q3 = runner.invoke(main, ["members", "service-report", "--quarter", "2026Q3"], env=env(database_url))
    assert q3.output.splitlines() == ["单位党组织,姓名,手机,报到社区组织,住址,确认日期,志愿岗位"]
    out = Path(str(tmp_path)) / "q4.csv"
    q4 = runner.invoke(
        main,
        ["members", "service-report", "--quarter", "2026Q4", "--output", str(out)],
        env=env(database_url),
    )
    assert q4.exit_code == 0 and q4.stderr == f"2026Q4：1 人，已写入 {out}\n"
    assert (
        out.read_text(encoding="utf-8-sig").splitlines()[1]
        == "青禾医院党支部,夜班,,,6号楼1单元101,2026-10-01,"
    )
