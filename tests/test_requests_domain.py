"""居民诉求's domain, driven through a real database with a fixed clock: classification and urgency, places,
routing to the covering grid with the community fallback, the handlers told at once, urgent/complex and
working-day deadlines (a holiday and a 调休 Saturday), the 10-minute repeat and the 24-hour merge closed by
one 办结, the reopen on 不满意 then the unsatisfied close, rating changes within 12 hours, a handler rating
their own ticket, and nobody reading tickets that are not theirs."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.domain.calendar import Holidays
from bot.domain.privacy import Vault
from bot.domain.requests import (
    Handler,
    Refused,
    Reporter,
    RequestRules,
    State,
    awaiting_rating,
    classify,
    find_place,
    handler_for_member,
    handler_for_staff,
    mark_complex,
    my_tickets,
    progress,
    rate,
    reporter_phone,
    set_place,
    solve,
    take,
    ticket_for,
    todo,
    transfer,
)
from bot.edge.nlp import NLP
from models import AuditEntry, Member, OrgUnit, RequestEvent, RequestTicket, Staff
from models.db import Database
from tests.community import BRANCH1, BRANCH2, COMMUNITY
from tests.conftest import DATA_KEY
from tests.request_seed import GRID, RequestCommunity, file, reporter, say, seed_requests, sent

# 2026-12-03 10:00 in Beijing (a Thursday).
NOW = datetime(2026, 12, 3, 2, 0, tzinfo=UTC)
H = timedelta(hours=1)


def bj(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC) - timedelta(hours=8)


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    database = Database(database_url)
    yield database
    await database.dispose()


@pytest.fixture
async def town(db: Database) -> RequestCommunity:
    return await seed_requests(db)


async def grid_worker(db: Database) -> Handler:
    def find(session: Session) -> Handler:
        staff_id = session.scalar(select(Staff.id).where(Staff.number == "WG-01"))
        assert staff_id is not None
        handler = handler_for_staff(session, staff_id)
        assert handler is not None
        return handler

    return await db.run(find)


async def member_handler(db: Database, town: RequestCommunity, number: str) -> Handler:
    handler = await db.run(lambda s: handler_for_member(s, town.member(number)))
    assert handler is not None
    return handler


async def ticket(db: Database, number: str) -> RequestTicket:
    async with db.read() as session:
        found = (await session.scalars(select(RequestTicket).where(RequestTicket.number == number))).one()
        session.expunge(found)
        return found


# --- classification and places -------------------------------------------------------------------------


def test_categories_by_jieba_tokens_and_urgent_words_by_substring(nlp: NLP) -> None:
    cases = {
        "3号楼2单元楼道灯坏了好几天了": ("物业维修", False),
        "楼上邻居半夜装修太吵了": ("邻里纠纷", False),
        "小区垃圾堆了好几天没人清运": ("环境卫生", False),
        "楼下有陌生人撬门": ("治安安全", False),
        "想咨询一下低保政策怎么申请": ("政策咨询", False),
        "独居老人摔倒了": ("养老助残", True),
        "楼道里闻到很大的燃气味": ("物业维修", True),
        "楼道里闻到很重的煤气味": ("物业维修", True),  # 煤气味 one token (content/userdict.txt), not 煤/气味
        "今天天气不错": ("其他", False),
        # The most keywords win: a lift to mend that an elderly neighbour cannot do without.
        "5号楼电梯又坏了，老人下不了楼": ("物业维修", False),
        "邻居家装修噪音太吵，楼道灯也坏了": ("邻里纠纷", False),
    }
    for text, (category, urgent) in cases.items():
        found = classify(nlp.tokens(text), text)
        assert (found.category, found.urgent) == (category, urgent), text


async def test_places_named_in_a_report(db: Database, town: RequestCommunity) -> None:
    def places(session: Session) -> list[tuple[int | None, str | None, str]]:
        texts = ["3号楼2单元楼道灯坏了", "三号楼2单元301漏水", "2栋门口垃圾", "楼道灯坏了", "12号楼电梯坏了"]
        return [(p.building_id, p.door, p.label) for p in (find_place(session, t) for t in texts)]

    assert await db.run(places) == [
        (town.buildings["3号楼"], "2单元", "3号楼2单元"),
        (town.buildings["3号楼"], "2单元301", "3号楼2单元301"),
        (town.buildings["2号楼"], None, "2号楼"),
        (None, None, ""),
        (None, None, ""),  # no such building
    ]


# --- routing and the first notices ---------------------------------------------------------------------


async def test_a_report_goes_to_the_grid_covering_the_building_and_its_handlers_at_once(
    db: Database, town: RequestCommunity
) -> None:
    filed = await file(db, NOW, reporter(1), "3号楼2单元楼道灯坏了好几天了")
    assert filed.number == "R20261203-0001"
    assert (filed.unit_name, filed.category, filed.urgent, filed.repeat, filed.reporters) == (
        "第一网格党支部", "物业维修", False, False, 1,
    )  # fmt: skip
    assert filed.take_due == NOW + timedelta(hours=24)
    assert filed.solve_due == NOW + timedelta(days=7)
    [notice] = await sent(db)
    assert notice.key == f"request:{filed.ticket_id}:new"
    assert notice.openids == {GRID}  # the bound grid worker; 物业维修 has no volunteer post
    assert "R20261203-0001" in notice.text and "3号楼2单元" in notice.text and "物业维修" in notice.text
    # A neighbour dispute also reaches the grid's bound member holding 矛盾调解岗 (郑国平), nobody else.
    second = await file(db, NOW, reporter(2), "2号楼楼上邻居半夜装修太吵了", category="邻里纠纷")
    assert second.number == "R20261203-0002"
    notice = (await sent(db))[-1]
    assert notice.openids == {GRID, "o-YX-009"} and notice.member_ids == {town.member("YX-009")}
    t = await ticket(db, second.number)
    assert t.unit_id == town.unit(BRANCH1) and t.state == State.NEW and t.filed_month == "2026-12"


async def test_no_building_or_no_grid_falls_back_to_the_community(
    db: Database, town: RequestCommunity
) -> None:
    uncovered = await file(db, NOW, reporter(1), "9号楼电梯坏了")
    nowhere = await file(db, NOW, reporter(2), "小区门口路灯不亮")
    for filed in (uncovered, nowhere):
        assert filed.unit_name == "银杏社区党委"
        assert (await ticket(db, filed.number)).unit_id == town.unit(COMMUNITY)
    # Nobody of the community handles requests: its secretary (周建国) is told.
    notices = await sent(db)
    assert [n.member_ids for n in notices] == [{town.member("YX-001")}] * 2


# --- deadlines ---------------------------------------------------------------------------------------------


async def test_urgent_two_hours_and_complex_fifteen_days(db: Database, town: RequestCommunity) -> None:
    urgent = await file(db, NOW, reporter(1), "3号楼楼道里闻到燃气味", urgent=True)
    assert urgent.urgent and urgent.take_due == NOW + timedelta(hours=2)
    assert "【紧急】" in (await sent(db))[-1].text
    handler = await grid_worker(db)
    ordinary = await file(db, NOW, reporter(2), "1号楼下水道堵了")
    later = NOW + timedelta(hours=3)
    view = await db.run(lambda s: mark_complex(s, later, say, handler, ordinary.number))
    assert view.complex and view.solve_due == NOW + timedelta(days=15)


async def test_working_days_skip_holidays_and_count_the_make_up_saturday(
    db: Database, town: RequestCommunity
) -> None:
    rules = RequestRules(working_days=True, holidays=Holidays.load())
    # Wed 30 Sep 10:00: 14 hours left that day, 1–7 Oct are National Day, 10 more hours on Thu 8 Oct.
    before_holiday = await file(db, bj(2026, 9, 30, 10), reporter(1), "1号楼电梯坏了", rules=rules)
    assert before_holiday.take_due == bj(2026, 10, 8, 10)
    # Seven working days: 30 Sep (14 h), 8, 9, 10 (调休 Saturday), 12, 13, 14 Oct, and 10 h of the 15th.
    assert before_holiday.solve_due == bj(2026, 10, 15, 10)
    # Fri 9 Oct 16:00 + 24 working hours: the make-up Saturday 10 Oct counts (weekdays only would say Mon 12).
    friday = await file(db, bj(2026, 10, 9, 16), reporter(2), "2号楼门禁坏了", rules=rules)
    assert friday.take_due == bj(2026, 10, 10, 16)
    # Filed on a holiday: the clock starts at the next working day's midnight. Urgent ones count clock hours.
    holiday = await file(db, bj(2026, 10, 3, 9), reporter(3), "3号楼电梯坏了", rules=rules)
    assert holiday.take_due == bj(2026, 10, 9, 0)
    urgent = await file(db, bj(2026, 10, 3, 9), reporter(4), "5号楼有人被困电梯", urgent=True, rules=rules)
    assert urgent.take_due == bj(2026, 10, 3, 11)


# --- the repeat and the merge ----------------------------------------------------------------------------


async def test_a_whole_building_reporting_one_lift_tells_the_handler_a_few_times_not_each_time(
    db: Database, town: RequestCommunity
) -> None:
    first = await file(db, NOW, reporter(0), "2号楼电梯坏了")
    for n in range(1, 25):
        filed = await file(db, NOW + n * timedelta(minutes=1), reporter(n), "2号楼电梯停了")
        assert (filed.merged_into, filed.reporters) == (first.number, n + 1)
    merged = [n for n in await sent(db) if ":merged:" in n.key]
    # The 2nd and 3rd reporter, then the 10th and the 20th.
    assert [int(n.text.split("已有")[1].split("位")[0]) for n in merged] == [2, 3, 10, 20]


async def test_ticket_numbers_go_past_9999_in_a_day(db: Database, town: RequestCommunity) -> None:
    first = await file(db, NOW, reporter(1), "3号楼楼道灯坏了")
    assert first.number == "R20261203-0001"

    def busy_day(session: Session) -> None:
        ticket = session.scalar(select(RequestTicket).where(RequestTicket.number == first.number))
        assert ticket is not None
        ticket.number = "R20261203-9999"

    await db.run(busy_day)
    later = await file(db, NOW + H, reporter(2), "5号楼门口垃圾没人清理")
    last = await file(db, NOW + 2 * H, reporter(3), "1号楼水管漏水")
    assert (later.number, last.number) == ("R20261203-10000", "R20261203-10001")
    tomorrow = await file(db, NOW + 24 * H, reporter(4), "1号楼水管漏水")
    assert tomorrow.number == "R20261204-0001"


async def test_the_same_report_within_ten_minutes_is_the_same_ticket(
    db: Database, town: RequestCommunity
) -> None:
    first = await file(db, NOW, reporter(1), "3号楼楼道灯坏了")
    again = await file(db, NOW + timedelta(minutes=9), reporter(1), "3号楼的楼道灯还是坏的")
    assert again.repeat and again.number == first.number
    later = await file(db, NOW + timedelta(minutes=11), reporter(1), "3号楼楼道灯坏了")
    assert not later.repeat and later.number != first.number and later.merged_into is None
    assert len(await sent(db)) == 2


async def test_three_reporters_of_one_lift_are_one_group_closed_by_one_solve(
    db: Database, town: RequestCommunity
) -> None:
    first = await file(db, NOW, reporter(1), "2号楼电梯坏了")
    second = await file(db, NOW + timedelta(hours=3), reporter(2), "2号楼电梯又停了")
    third = await file(db, NOW + timedelta(hours=23), reporter(3), "2号楼电梯不动了")
    assert (second.merged_into, second.reporters) == (first.number, 2)
    assert (third.merged_into, third.reporters) == (first.number, 3)
    # After 24 hours (or in another building) it is a new ticket.
    apart = await file(db, NOW + timedelta(hours=25), reporter(4), "2号楼电梯坏了")
    other = await file(db, NOW + timedelta(hours=2), reporter(5), "3号楼电梯坏了")
    assert apart.merged_into is None and other.merged_into is None
    handler = await grid_worker(db)
    at = NOW + timedelta(hours=24)
    taken = await db.run(lambda s: take(s, at, say, handler, second.number))  # any number of the group
    assert taken.number == first.number and taken.reporters == 3 and taken.taken_by == "网格员 韩"
    told = (await sent(db))[-1]
    assert told.openids == {"o-resident-1", "o-resident-2", "o-resident-3"} and "网格员韩" not in told.text
    view, total = await db.run(lambda s: todo(s, at, handler))
    assert total == 3 and [v.number for v in view] == [first.number, other.number, apart.number]
    await db.run(lambda s: solve(s, at + timedelta(hours=1), say, handler, first.number, "已更换电梯控制板"))
    asks = [n for n in await sent(db) if ":solved:" in n.key]
    assert {o for n in asks for o in n.openids} == {"o-resident-1", "o-resident-2", "o-resident-3"}
    assert all("回复1满意 2基本满意 3不满意" in n.text for n in asks)
    for filed in (first, second, third):
        assert (await ticket(db, filed.number)).state == State.SOLVED
    assert (await ticket(db, apart.number)).state == State.NEW


# --- ratings ---------------------------------------------------------------------------------------------


async def _solved(db: Database, text: str = "1号楼楼上邻居漏水到我家", who: int = 1) -> str:
    filed = await file(db, NOW, reporter(who), text, category="邻里纠纷")
    handler = await grid_worker(db)
    await db.run(lambda s: take(s, NOW + timedelta(hours=1), say, handler, filed.number))
    await db.run(lambda s: solve(s, NOW + timedelta(hours=5), say, handler, filed.number, "已协调修好"))
    return str(filed.number)


async def test_unsatisfied_reopens_once_then_closes_unsatisfied(db: Database, town: RequestCommunity) -> None:
    number = await _solved(db)
    assert await db.run(lambda s: awaiting_rating(s, "o-resident-1")) == number
    at = NOW + timedelta(hours=6)
    first = await db.run(lambda s: rate(s, at, say, "o-resident-1", 3, "还在漏"))
    assert (first.number, first.reopened, first.changed) == (number, True, False)
    t = await ticket(db, number)
    assert (t.state, t.reopen_count, t.outcome) == (State.TAKEN, 1, "unsatisfied")
    reopen = (await sent(db))[-1]
    assert (
        ":reopened:" in reopen.key and town.member("YX-001") in reopen.member_ids
    )  # the community secretary
    assert GRID in reopen.openids and "还在漏" in reopen.text
    handler = await grid_worker(db)
    await db.run(lambda s: solve(s, at + timedelta(days=1), say, handler, number, "更换了水管"))
    second = await db.run(lambda s: rate(s, at + timedelta(days=1, hours=1), say, "o-resident-1", 3))
    assert not second.reopened
    t = await ticket(db, number)
    assert (t.state, t.outcome, t.reopen_count) == (State.CLOSED, "unsatisfied", 1)


async def test_a_rating_may_change_within_twelve_hours(db: Database, town: RequestCommunity) -> None:
    number = await _solved(db)
    at = NOW + timedelta(hours=6)
    await db.run(lambda s: rate(s, at, say, "o-resident-1", 2))
    assert (await ticket(db, number)).outcome == "basic"
    changed = await db.run(lambda s: rate(s, at + timedelta(hours=11), say, "o-resident-1", 1, "谢谢"))
    assert changed.changed and not changed.reopened
    t = await ticket(db, number)
    assert (t.state, t.outcome) == (State.CLOSED, "satisfied")
    with pytest.raises(Refused) as refused:
        await db.run(lambda s: rate(s, at + timedelta(hours=13), say, "o-resident-1", 3))
    assert refused.value.reason == "too_late"
    # Changed to 不满意 within the window: the first round's 不满意 reopens it.
    other = await _solved(db, "2号楼楼下邻居占用楼道", who=2)
    await db.run(lambda s: rate(s, at, say, "o-resident-2", 1))
    reopened = await db.run(lambda s: rate(s, at + timedelta(hours=2), say, "o-resident-2", 3, "其实没解决"))
    assert reopened.changed and reopened.reopened
    assert (await ticket(db, other)).state == State.TAKEN


async def test_a_handler_cannot_rate_a_ticket_they_handled(db: Database, town: RequestCommunity) -> None:
    filed = await file(db, NOW, Reporter(openid=GRID, name="韩磊"), "1号楼路灯坏了")
    handler = await grid_worker(db)
    await db.run(lambda s: take(s, NOW, say, handler, filed.number))
    await db.run(lambda s: solve(s, NOW + timedelta(hours=1), say, handler, filed.number, "已修好"))
    with pytest.raises(Refused) as refused:
        await db.run(lambda s: rate(s, NOW + timedelta(hours=2), say, GRID, 1))
    assert refused.value.reason == "own_ticket"
    with pytest.raises(Refused) as refused:  # and nobody rates somebody else's ticket
        await db.run(lambda s: rate(s, NOW + timedelta(hours=2), say, "o-resident-1", 1, number=filed.number))
    assert refused.value.reason == "not_yours"
    assert (await ticket(db, filed.number)).state == State.SOLVED


# --- who sees what -----------------------------------------------------------------------------------------


async def test_residents_and_handlers_see_only_their_own(db: Database, town: RequestCommunity) -> None:
    vault = Vault(DATA_KEY)
    mine = await file(db, NOW, reporter(1), "3号楼楼道灯坏了", phone_enc=vault.encrypt_phone("13912345678"))
    await file(db, NOW, reporter(2), "5号楼垃圾没人清运", category="环境卫生")
    views = await db.run(lambda s: my_tickets(s, NOW, "o-resident-1"))
    assert [v.number for v in views] == [mine.number] and views[0].phone_masked is None
    assert await db.run(lambda s: my_tickets(s, NOW, "o-resident-3")) == []
    second_grid = await member_handler(db, town, "YX-003")  # the second grid's secretary
    assert second_grid.unit_paths == (BRANCH2,)
    with pytest.raises(Refused) as refused:
        await db.run(lambda s: ticket_for(s, NOW, second_grid, mine.number))
    assert refused.value.reason == "not_yours"
    views_, total = await db.run(lambda s: todo(s, NOW, second_grid))
    assert total == 1 and views_[0].category == "环境卫生"
    with pytest.raises(Refused):
        await db.run(lambda s: take(s, NOW, say, second_grid, mine.number))
    # The grid worker sees it masked; its phone only once they took it, and the reading is audited.
    handler = await grid_worker(db)
    shown = await db.run(lambda s: ticket_for(s, NOW, handler, mine.number, vault=vault))
    assert shown.phone_masked == "139****5678"
    with pytest.raises(Refused):
        await db.run(lambda s: reporter_phone(s, NOW, handler, mine.number, vault=vault))
    await db.run(lambda s: take(s, NOW, say, handler, mine.number))
    await db.run(lambda s: progress(s, NOW + timedelta(hours=1), say, handler, mine.number, "明天上午来修"))
    assert await db.run(lambda s: reporter_phone(s, NOW, handler, mine.number, vault=vault)) == "13912345678"
    async with db.read() as session:
        audits = (
            await session.scalars(select(AuditEntry).where(AuditEntry.action == "request_reporter_phone"))
        ).all()
        kinds = (
            await session.scalars(select(RequestEvent.kind).where(RequestEvent.ticket_id == mine.ticket_id))
        ).all()
        community = await session.get(OrgUnit, town.unit(COMMUNITY))
    assert len(audits) == 1 and audits[0].detail == {"number": mine.number}
    assert list(kinds) == ["filed", "taken", "progress"]
    assert community is not None
    # The community secretary handles every grid's tickets.
    secretary = await member_handler(db, town, "YX-001")
    assert (await db.run(lambda s: ticket_for(s, NOW, secretary, mine.number))).taken_by == "网格员 韩"
    # A member holding a volunteer post handles their grid's; without a post or office, none.
    member = await member_handler(db, town, "YX-004")
    assert member.unit_paths == (BRANCH1,) and member.role == "党员"

    def no_posts(session: Session) -> Handler | None:
        found = session.get(Member, town.member("YX-004"))
        assert found is not None
        found.volunteer_posts = []
        return handler_for_member(session, found.id)

    assert await db.run(no_posts) is None


async def test_urgent_building_given_after_filing_and_a_transfer(
    db: Database, town: RequestCommunity
) -> None:
    filed = await file(db, NOW, reporter(1), "闻到很大的煤气味", urgent=True)
    assert filed.unit_name == "银杏社区党委"

    def given(session: Session) -> None:
        set_place(
            session, NOW + timedelta(minutes=1), filed.ticket_id, find_place(session, "3号楼2单元"), say=say
        )

    await db.run(given)
    t = await ticket(db, filed.number)
    assert (t.unit_id, t.place) == (town.unit(BRANCH1), "3号楼2单元")
    notice = (await sent(db))[-1]
    assert notice.key == f"request:{filed.ticket_id}:new:{town.unit(BRANCH1)}" and notice.openids == {GRID}
    handler = await grid_worker(db)
    with pytest.raises(Refused) as refused:
        await db.run(lambda s: transfer(s, NOW, say, handler, filed.number, "第九网格党支部", "不在本网格"))
    assert refused.value.reason == "unknown_unit"
    await db.run(lambda s: take(s, NOW, say, handler, filed.number))
    moved = await db.run(
        lambda s: transfer(s, NOW + H, say, handler, filed.number, "第二网格党支部", "属第二网格")
    )
    assert (moved.unit_name, moved.state, moved.taken_by) == ("第二网格党支部", State.NEW, None)
    assert (await sent(db))[-1].member_ids == {town.member("YX-003")}  # nobody there handles: its secretary
    with pytest.raises(Refused):  # no longer the first grid's
        await db.run(lambda s: progress(s, NOW + H, say, handler, filed.number, "已联系燃气公司"))
    second = await member_handler(db, town, "YX-003")
    taken = await db.run(lambda s: take(s, NOW + 2 * H, say, second, filed.number))
    assert (
        taken.taken_by == "党员 陈" and (await ticket(db, filed.number)).taken_at == NOW
    )  # first response kept
