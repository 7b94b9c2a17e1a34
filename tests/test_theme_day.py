"""主题党日 through a whole month with a fixed clock: two branches with different rules, the holiday move
across the month boundary (2027-01-01 元旦, a year the holiday library does not know, from
content/holidays.yaml), the three notices, answers by word and by digit, the sign-in and its refusals, 补签,
the close with its summary and 补学, the 28th's check, and running the job twice changing nothing."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select, update

from bot.app import CONTENT, SETTINGS
from bot.clock import FixedClock
from models import Attendance, Event, Invitation, Notice, OrgUnit, OutboxRow, PointEntry
from scheduler.jobs import JobDeps, job_named
from tests.community import BRANCH1, BRANCH2, COMMUNITY, seed
from tests.conftest import Stack, StackFactory
from tests.helpers import services
from tests.wechat import ThroughFake

BJ = timedelta(hours=8)


def bj(*args: int) -> datetime:
    """A Beijing wall-clock moment as an aware UTC datetime."""
    year, month, day, hour, minute = args
    return datetime(year, month, day, hour, minute, tzinfo=UTC) - BJ


@pytest.fixture
async def stack(make_stack: StackFactory) -> Stack:
    return await make_stack()


async def run_job(stack: Stack, clock: FixedClock, at: datetime, deps: JobDeps | None = None) -> str:
    clock.set(at)
    app = stack.client.app
    assert app is not None
    deps = deps or JobDeps(services(stack.client).db, app[SETTINGS], app[CONTENT])
    return await job_named("theme_day").run(deps, at)


async def counts(stack: Stack) -> tuple[int, int, int]:
    async with services(stack.client).db.read() as session:
        notices = await session.scalar(select(func.count()).select_from(Notice))
        rows = await session.scalar(select(func.count()).select_from(OutboxRow))
        events = await session.scalar(select(func.count()).select_from(Event))
    return int(notices or 0), int(rows or 0), int(events or 0)


async def notice_texts(stack: Stack, member_id: int) -> list[str]:
    async with services(stack.client).db.read() as session:
        rows = await session.execute(
            select(Notice.text)
            .join(OutboxRow, OutboxRow.notice_id == Notice.id)
            .where(OutboxRow.member_id == member_id)
            .order_by(Notice.id)
        )
        return [str(t) for (t,) in rows]


async def set_rules(stack: Stack, rules: dict[str, str]) -> None:
    def write(session):  # type: ignore[no-untyped-def]
        for path, rule in rules.items():
            session.execute(update(OrgUnit).where(OrgUnit.path == path).values(theme_day_rule=rule))

    await services(stack.client).db.run(write)


async def test_a_month_of_theme_days(
    stack: Stack, clock: FixedClock, caplog: pytest.LogCaptureFixture
) -> None:
    bound = ("YX-001", "YX-002", "YX-003", "YX-004", "YX-006", "YX-007", "YX-009", "YX-012")
    community = await seed(services(stack.client).db, bind=bound)
    ids = community.ids
    await set_rules(stack, {BRANCH1: "每月1日", BRANCH2: "每月第二个星期三", COMMUNITY: "每月25日"})

    # 2026-12-20: the job creates December's (already past: closed quietly) and January's events.
    with caplog.at_level(logging.WARNING):
        summary = await run_job(stack, clock, bj(2026, 12, 20, 10, 0))
    assert "events created" in summary
    async with services(stack.client).db.read() as session:
        jan = {
            e.unit_id: e for e in (await session.scalars(select(Event).where(Event.month == "2027-01"))).all()
        }
    branch1 = jan[community.units[BRANCH1]]
    branch2 = jan[community.units[BRANCH2]]
    # 每月1日 → 2027-01-01 is 元旦 (from content/holidays.yaml: the library has no 2027 data) → 01-02.
    assert branch1.starts_at == bj(2027, 1, 2, 9, 0) and branch1.moved_for == "元旦"
    assert branch2.starts_at == bj(2027, 1, 13, 9, 0) and branch2.moved_for is None
    warned = [r for r in caplog.records if "2027" in r.getMessage()]
    assert len(warned) == 1

    # A week before the 2nd (12-26 09:00): the first notice, to every member of branch 1.
    await run_job(stack, clock, bj(2026, 12, 26, 9, 0))
    once = await counts(stack)
    await run_job(stack, clock, bj(2026, 12, 26, 9, 0))
    assert await counts(stack) == once  # twice as of the same moment: nothing more
    wang = await notice_texts(stack, ids["YX-004"])  # 王秀兰, 85: gets voice too
    assert len(wang) == 1 and "【主题党日通知】第一网格党支部定于1月2日（星期六）09:00" in wang[0]
    assert "（原定1月1日（星期五），因元旦顺延）" in wang[0]
    assert wang[0].endswith("回复“参加”或“请假 原因”")
    assert await notice_texts(stack, ids["YX-012"]) == []  # branch 2's is on the 13th
    async with services(stack.client).db.read() as session:
        voice = await session.scalar(
            select(OutboxRow.wants_voice).where(OutboxRow.member_id == ids["YX-004"])
        )
    assert voice is True

    # Answers: by word, by digit, a leave with its reason in two steps.
    xiu = ThroughFake(stack, "o-YX-004")
    assert (await xiu.send("参加")).text.startswith("已为您报名主题党日：1月2日（星期六）09:00")
    zheng = ThroughFake(stack, "o-YX-009")
    assert (await zheng.send("1")).text.startswith("已为您报名主题党日")
    assert not (await zheng.send("1")).text.startswith("已为您报名")  # answered: 1 is the menu item again
    li = ThroughFake(stack, "o-YX-007")
    assert (await li.send("2")).text == "请说明请假原因，例如：请假 外出就医"
    assert (await li.send("请假 在外地出差")).text.startswith("已为您请假（在外地出差）")
    lin = ThroughFake(stack, "o-YX-002")  # the branch secretary
    listing = (await lin.send("报名情况")).text
    assert "参加（2人）：王秀兰、郑国平" in listing
    assert "请假（1人）：李文博（在外地出差）" in listing
    assert "未回复（2人）：林晓梅、孙丽娟" in listing

    # The 28th: the community secretary hears which units did not hold December's.
    await run_job(stack, clock, bj(2026, 12, 28, 9, 0))
    zhou = await notice_texts(stack, ids["YX-001"])
    assert any(t.startswith("【组织生活提醒】本月（2026年12月）") for t in zhou)
    before = await counts(stack)
    await run_job(stack, clock, bj(2026, 12, 29, 9, 0))
    assert await counts(stack) == before  # once a month

    # The scheduler restarted (new dependencies) on the eve: the reminder, once.
    await run_job(stack, clock, bj(2027, 1, 1, 18, 0))
    app = stack.client.app
    assert app is not None
    fresh = JobDeps(services(stack.client).db, app[SETTINGS], app[CONTENT])
    after_eve = await counts(stack)
    await run_job(stack, clock, bj(2027, 1, 1, 18, 5), deps=fresh)
    assert await counts(stack) == after_eve
    li_texts = await notice_texts(stack, ids["YX-007"])
    assert not any(t.startswith("【主题党日提醒】") for t in li_texts)  # on leave: no reminder
    assert any(t.startswith("【主题党日提醒】") for t in await notice_texts(stack, ids["YX-009"]))

    # The day: the code only from 30 minutes before.
    clock.set(bj(2027, 1, 2, 8, 0))
    assert (await lin.send("签到码")).text.startswith("签到码在活动开始前30分钟起才能生成")
    assert (await xiu.send("签到 1234")).text.startswith("签到还没开始")
    clock.set(bj(2027, 1, 2, 8, 40))
    code_text = (await lin.send("签到码")).text
    code = code_text.split("\n", 1)[0].removeprefix("签到码：")
    assert len(code) == 4 and code.isdigit()
    wrong = "0000" if code != "0000" else "1111"
    assert (await xiu.send(f"签到 {wrong}")).text.startswith("签到码不对")
    assert (await xiu.send(f"签到 {code}")).text.startswith("签到成功：主题党日，08:40")
    assert (await xiu.send(f"签到 {code}")).text == "您已于08:40签到，不用重复签到。"
    # 王秀兰 of branch 2 has no event today: another branch's code is not hers.
    assert (await ThroughFake(stack, "o-YX-012").send(f"签到 {code}")).text.startswith(
        "这是其他支部活动的签到码"
    )
    assert (await ThroughFake(stack, "o-resident").send(f"签到 {code}")).text.startswith("签到只对")
    assert (
        await ThroughFake(stack, "o-YX-009").send("补签 王秀兰")
    ).text == "这项操作只有支部书记、副书记可以使用。"
    assert (await lin.send("补签 孙丽娟")).text.startswith("已为孙丽娟补签")
    assert (await lin.send("补签 陈志强")).text == "在您的支部没有找到“陈志强”，请核对姓名。"

    # 12:01: the window closed. Summary to the secretary, 补学 to 李文博 (leave), 郑国平 and 林晓梅 (absent).
    await run_job(stack, clock, bj(2027, 1, 2, 12, 1))
    closed = await counts(stack)
    await run_job(stack, clock, bj(2027, 1, 2, 12, 1))
    assert await counts(stack) == closed
    summary_text = next(
        t for t in await notice_texts(stack, ids["YX-002"]) if t.startswith("【主题党日小结】")
    )
    assert "应到5人，实到2人，请假1人，缺席2人，参加率40%。" in summary_text
    assert "实到：王秀兰、孙丽娟" in summary_text and "请假：李文博（在外地出差）" in summary_text
    # Afterwards the secretary's 主题党日 shows how it went, not the RSVPs.
    view = (await lin.send("主题党日")).text
    assert "本次活动已结束。\n应到5人，实到2人，请假1人，缺席2人，参加率40%。" in view, view
    make_up = [t for t in await notice_texts(stack, ids["YX-009"]) if t.startswith("【补学】")]
    assert len(make_up) == 1 and make_up[0].endswith("学完请回复“已学”。")
    assert not any(t.startswith("【补学】") for t in await notice_texts(stack, ids["YX-004"]))
    assert (await xiu.send(f"签到 {code}")).text.startswith("签到已于1月2日（星期六）12:00结束")
    assert (await zheng.send("已学")).text.startswith("已确认补学（主题党日，1月2日（星期六）09:00）")
    assert (await zheng.send("已学")).text == "您没有待完成的补学。"
    async with services(stack.client).db.read() as session:
        reasons = sorted(
            (
                await session.scalars(select(PointEntry.reason).where(PointEntry.member_id == ids["YX-009"]))
            ).all()
        )
        present = await session.scalar(
            select(func.count()).select_from(Attendance).where(Attendance.event_id == branch1.id)
        )
        invited = await session.scalar(
            select(func.count()).select_from(Invitation).where(Invitation.event_id == branch1.id)
        )
    assert reasons == ["make_up"] and present == 2 and invited == 5
