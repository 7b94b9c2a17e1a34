"""党费 reminders (job dues_reminders) with a fixed clock: nothing before the 5th at 09:00, one reminder on
the 5th and one on the 20th to whoever has not paid, nothing twice however often the job runs (also after a
restart) and again in the next month; 3 unpaid months → a note to the member and a line to the secretary, 6
→ the Art. 9 alert, exactly one of each per member and month; January's base confirmation; the payment
channel setting."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp.test_utils import TestClient
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from bot.app import CONTENT, SETTINGS
from bot.clock import FixedClock
from bot.domain import dues_ledger
from bot.domain.dues_ledger import Recorder
from models import DuesEntry, Member, Notice, OutboxRow
from scheduler.jobs import JobDeps, job_named
from tests.community import seed
from tests.conftest import AppFactory
from tests.helpers import services


def bj(year: int, month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC) - timedelta(hours=8)


async def run(client: TestClient[Any, Any], clock: FixedClock, at: datetime) -> str:
    clock.set(at)
    app = client.app
    assert app is not None
    return await job_named("dues_reminders").run(
        JobDeps(services(client).db, app[SETTINGS], app[CONTENT]), at
    )


async def notices(client: TestClient[Any, Any]) -> dict[str, list[int]]:
    """Each dues notice's key → its recipients."""
    async with services(client).db.read() as session:
        rows = (
            await session.execute(
                select(Notice.author, OutboxRow.member_id)
                .join(OutboxRow, OutboxRow.notice_id == Notice.id)
                .where(Notice.author.like("dues:%"))
                .order_by(OutboxRow.member_id)
            )
        ).all()
    found: dict[str, list[int]] = {}
    for key, member_id in rows:
        found.setdefault(str(key), []).append(int(member_id or 0))
    return found


async def prepare(make_client: AppFactory, **settings: Any) -> tuple[TestClient[Any, Any], dict[str, int]]:
    client = await make_client(**settings)
    community = await seed(services(client).db)

    def write(session: Session) -> None:
        session.execute(update(Member).values(dues_base_fen=300000))

    await services(client).db.run(write)
    return client, community.ids


def pay(ids: dict[str, int], number: str, months: list[str], now: datetime, start: str):  # type: ignore[no-untyped-def]
    def write(session: Session) -> None:
        rec = Recorder(by=None, now=now, source="chat", start=start, timezone="Asia/Shanghai")
        assert dues_ledger.pay_months(session, ids[number], months, rec).refusal is None

    return write


async def test_reminders_on_the_5th_and_20th_once_each_across_restarts_and_months(
    make_client: AppFactory, clock: FixedClock
) -> None:
    client, ids = await prepare(
        make_client, dues_start_month="2026-11", dues_payment_channel="社区党群服务中心或转账至支部账户"
    )
    db = services(client).db
    every = sorted(ids.values())
    for number in ("YX-001", "YX-002", "YX-003", "YX-004", "YX-006", "YX-007", "YX-009", "YX-012"):
        await db.run(pay(ids, number, ["2026-11"], clock.now(), "2026-11"))
    assert (await run(client, clock, bj(2026, 12, 5, 8, 50))).startswith("nothing due")
    assert await notices(client) == {}

    await db.run(pay(ids, "YX-013", ["2026-12"], clock.now(), "2026-11"))
    await run(client, clock, bj(2026, 12, 5, 9, 0))
    found = await notices(client)
    unit_keys = [k for k in found if k.endswith(":2026-12:remind_5")]
    assert sorted(m for k in unit_keys for m in found[k]) == sorted(set(every) - {ids["YX-013"]})
    async with db.read() as session:
        text = await session.scalar(select(Notice.text).where(Notice.author == unit_keys[0]))
    assert text == (
        "【党费提醒】您12月的党费尚未交纳。回复“党费”可查看金额；交纳后可发送“已交 2026-12”。"
        "交纳方式：社区党群服务中心或转账至支部账户"
    )
    # Every 10 minutes, and in a restarted process on the same database: nothing more.
    await run(client, clock, bj(2026, 12, 5, 9, 10))
    assert client.app is not None
    restarted = await make_client(settings=client.app[SETTINGS])
    await run(restarted, clock, bj(2026, 12, 5, 9, 20))
    assert await notices(client) == found

    await db.run(pay(ids, "YX-004", ["2026-12"], clock.now(), "2026-11"))
    await run(client, clock, bj(2026, 12, 20, 9, 0))
    await run(client, clock, bj(2026, 12, 25, 9, 0))
    found = await notices(client)
    twentieth = sorted(m for k, v in found.items() if k.endswith(":2026-12:remind_20") for m in v)
    assert twentieth == sorted(set(every) - {ids["YX-013"], ids["YX-004"]})
    # The next month: one reminder again (a job late on the 21st sends only the 20th's).
    await run(client, clock, bj(2027, 1, 21, 10, 0))
    found = await notices(client)
    assert not [k for k in found if k.endswith(":2027-01:remind_5")]
    assert sorted(m for k, v in found.items() if k.endswith(":2027-01:remind_20") for m in v) == every


async def test_three_months_note_the_member_and_six_alert_the_secretary_once_a_month(
    make_client: AppFactory, clock: FixedClock
) -> None:
    client, ids = await prepare(make_client, dues_start_month="2026-06")
    db = services(client).db
    paid_up = ["2026-06", "2026-07", "2026-08", "2026-09", "2026-10", "2026-11"]
    for number in ("YX-001", "YX-002", "YX-003", "YX-006", "YX-007", "YX-012", "YX-013"):
        await db.run(pay(ids, number, paid_up, clock.now(), "2026-06"))
    await db.run(pay(ids, "YX-004", paid_up[:3], clock.now(), "2026-06"))  # 王秀兰: Sep–Nov unpaid
    # 郑国平 (YX-009): nothing since June: six months.
    for at in (
        bj(2026, 12, 5, 9, 0),
        bj(2026, 12, 5, 9, 10),
        bj(2026, 12, 20, 9, 0),
        bj(2026, 12, 31, 23, 50),
    ):
        await run(client, clock, at)
    found = await notices(client)
    lin = ids["YX-002"]  # the secretary of 第一网格党支部
    assert found[f"dues:{ids['YX-004']}:2026-12:overdue"] == [ids["YX-004"]]
    assert found[f"dues:{ids['YX-004']}:2026-12:secretary"] == [lin]
    assert found[f"dues:{ids['YX-009']}:2026-12:overdue"] == [ids["YX-009"]]
    assert found[f"dues:{ids['YX-009']}:2026-12:alert"] == [lin]
    assert f"dues:{ids['YX-009']}:2026-12:secretary" not in found
    assert len([k for k in found if ":2026-12:overdue" in k]) == 2
    async with db.read() as session:
        alert = await session.scalar(
            select(Notice.text).where(Notice.author == f"dues:{ids['YX-009']}:2026-12:alert")
        )
        note = await session.scalar(
            select(Notice.text).where(Notice.author == f"dues:{ids['YX-004']}:2026-12:overdue")
        )
    assert alert is not None and alert.startswith(
        "【党费预警】郑国平（第一网格党支部）已连续6个月未交纳党费。"
    )
    assert "须由支部党员大会讨论决定；partybot不会更改任何人的党籍。请支部尽快与本人谈话" in alert
    assert note == (
        "【党费】王秀兰同志，您已连续3个月没有交纳党费了。如有困难，可以和支部书记说一说，支部会帮您想办法。"
        "回复“党费”可查看欠交情况。"
    )
    # 郑国平 stays a member: partybot changes nobody's status.
    async with db.read() as session:
        zheng = await session.get(Member, ids["YX-009"])
    assert zheng is not None and (zheng.status, zheng.active) == ("正式", True)
    # January: one more of each (7 and 4 months now), and the base confirmation once.
    await run(client, clock, bj(2027, 1, 5, 9, 0))
    await run(client, clock, bj(2027, 1, 20, 9, 0))
    found = await notices(client)
    assert found[f"dues:{ids['YX-009']}:2027-01:alert"] == [lin]
    assert found[f"dues:{ids['YX-004']}:2027-01:secretary"] == [lin]
    assert found[f"dues:base:{ids['YX-004']}:2027"] == [ids["YX-004"]]
    async with db.read() as session:
        ask = await session.scalar(
            select(Notice.text).where(Notice.author == f"dues:base:{ids['YX-004']}:2027")
        )
    assert ask == (
        "【党费基数】2027年的党费基数请确认：您目前的基数是3000元。如有变化请发送“党费基数 新金额”，"
        "没有变化请发送“党费基数 3000”。"
    )


async def test_credit_pays_the_month_once_it_is_due_and_nobody_is_reminded_of_it(
    make_client: AppFactory, clock: FixedClock
) -> None:
    client, ids = await prepare(make_client, dues_start_month="2026-11")
    db = services(client).db

    def write(session: Session) -> None:
        rec = Recorder(by=None, now=clock.now(), source="chat", start="2026-11", timezone="Asia/Shanghai")
        paid = dues_ledger.pay_amount(session, ids["YX-004"], 3000, rec)  # November 15.00, 15.00 kept
        assert paid.months == ["2026-11"] and paid.credit_fen == 1500

    await db.run(write)
    await run(client, clock, bj(2026, 12, 5, 9, 0))
    found = await notices(client)
    reminded = {m for k, v in found.items() if k.endswith(":2026-12:remind_5") for m in v}
    assert ids["YX-004"] not in reminded and ids["YX-002"] in reminded
    async with db.read() as session:
        rows = (
            await session.execute(
                select(DuesEntry.month, DuesEntry.kind, DuesEntry.amount_fen, DuesEntry.source)
                .where(DuesEntry.member_id == ids["YX-004"])
                .order_by(DuesEntry.id)
            )
        ).all()
    assert [tuple(r) for r in rows] == [
        (None, "credit", 1500, "chat"),
        ("2026-11", "payment", 1500, "chat"),
        (None, "credit", -1500, "credit"),
        ("2026-12", "payment", 1500, "credit"),
    ]
