"""居民诉求 in chat, through the webhook: a broken light with the building in the text; a report without one
(the numbered list, a pick, the phone skipped or given); an urgent gas smell (emergency numbers first, the
building asked after); a voice report; photos; the grid worker's 待办 → 接单 → 进展 → 办结 with the resident
told each time; 不满意 reopens, a second closes; nobody reads another's ticket; three residents reporting the
same lift are merged; a repeat within 10 minutes; a bare 1 with no rating awaited is still menu item 1."""

from __future__ import annotations

import re
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.clock import FixedClock
from bot.domain.privacy import Vault
from models import (
    Admin,
    AuditEntry,
    Binding,
    Notice,
    OutboxRow,
    RequestEvent,
    RequestPhoto,
    RequestTicket,
)
from models.db import Database
from tests.community import seed
from tests.conftest import DATA_KEY, T0, AppFactory
from tests.helpers import services
from tests.request_seed import GRID2, two_grids
from tests.wechat import Result, WeChatUser

GRID = "o-grid-1"  # 韩磊, 第一网格 (1-3号楼)
NUMBER = re.compile(r"R\d{8}-\d{4}")


@pytest.fixture
async def client(make_client: AppFactory) -> TestClient[Any, Any]:
    app = await make_client(request_gas_phone="96777")
    await _community(services(app).db)
    return app


async def _community(db: Database) -> None:
    await seed(db, grid_worker=GRID)
    await db.run(two_grids)


def person(client: TestClient[Any, Any], clock: FixedClock, openid: str) -> WeChatUser:
    return WeChatUser(client, clock, openid=openid)


async def photo(who: WeChatUser, media_id: str) -> Result:
    return await who.post_fields(
        who.fields("image", PicUrl=f"http://mmbiz.example/{media_id}.jpg", MediaId=media_id)
    )


def number_in(text: str) -> str:
    found = NUMBER.search(text)
    assert found is not None, text
    return found.group(0)


async def ticket(client: TestClient[Any, Any], number: str) -> RequestTicket:
    async with services(client).db.read() as session:
        row = await session.scalar(select(RequestTicket).where(RequestTicket.number == number))
    assert row is not None
    return row


async def told(client: TestClient[Any, Any], openid: str) -> list[str]:
    """The texts of the notices written for one openid, oldest first."""
    async with services(client).db.read() as session:
        rows = await session.scalars(
            select(Notice.text)
            .join(OutboxRow, OutboxRow.notice_id == Notice.id)
            .where(OutboxRow.openid == openid)
            .order_by(Notice.id)
        )
        return list(rows.all())


async def file_report(who: WeChatUser, text: str) -> str:
    """反映 with the building in it, the call-back phone skipped: the ticket number."""
    filed = (await who.send(text)).text
    assert "请发送手机号" in filed, filed
    assert (await who.send("跳过")).text.startswith("好的，不留电话")
    return number_in(filed)


# --- filing ----------------------------------------------------------------------------------------


async def test_a_broken_light_with_the_building_in_the_text(
    client: TestClient[Any, Any], clock: FixedClock
) -> None:
    resident = person(client, clock, "o-res-1")
    filed = (await resident.send("反映 3号楼2单元楼道灯坏了好几天了")).text
    number = number_in(filed)
    assert filed.startswith(f"已受理，工单号{number}。")
    assert "问题类别：物业维修（3号楼2单元）" in filed
    # T0 is 11月21日 10:00 Beijing time: taken within 24 hours, solved within 7 days.
    assert "由第一网格党支部负责，11月22日（星期日）10:00前接单，11月28日（星期六）10:00前办结。" in filed
    # Then, once and optionally, a phone for a call back.
    assert "方便时请留一个手机号" in filed and "不留请回复“跳过”" in filed
    assert (await resident.send("跳过")).text.startswith(f"好的，不留电话。发送照片可以补充到工单{number}")
    row = await ticket(client, number)
    assert (row.text, row.category, row.urgent, row.phone_enc, row.source) == (
        "3号楼2单元楼道灯坏了好几天了",
        "物业维修",
        False,
        None,
        "text",
    )
    # The grid worker hears of it at once.
    assert any(number in text for text in await told(client, GRID))
    assert not await told(client, GRID2)


async def test_a_report_without_a_building_asks_from_a_numbered_list(
    client: TestClient[Any, Any], clock: FixedClock
) -> None:
    resident = person(client, clock, "o-res-1")
    asked = (await resident.send("报修 厨房水管漏水")).text
    assert asked.startswith("请问是哪栋楼？请回复数字：\n1 1号楼\n2 2号楼\n3 3号楼\n4 5号楼\n5 6号楼")
    assert "跳过" in asked
    again = (await resident.send("9")).text
    assert again.startswith("没能认出是哪栋楼")
    filed = (await resident.send("4")).text
    number = number_in(filed)
    assert "问题类别：物业维修（5号楼）" in filed and "由第二网格党支部负责" in filed
    assert "方便时请留一个手机号" in filed
    assert (await resident.send("1381234")).text.startswith("没能识别手机号")
    assert (await resident.send("138 1234 5678")).text.startswith("好的，已记下您的电话")
    row = await ticket(client, number)
    assert row.phone_enc is not None and "13812345678" not in row.phone_enc
    assert Vault(DATA_KEY).decrypt_phone(row.phone_enc) == "13812345678"
    assert any(number in text for text in await told(client, GRID2))


async def test_the_building_typed_as_text_and_skipped(
    client: TestClient[Any, Any], clock: FixedClock
) -> None:
    one, two = person(client, clock, "o-res-1"), person(client, clock, "o-res-2")
    await one.send("投诉 小区门口垃圾堆了好几天没人清运")
    assert "环境卫生（2号楼）" in (await one.send("二号楼")).text
    await two.send("求助 想咨询一下低保怎么申请")
    filed = (await two.send("跳过")).text
    assert "问题类别：政策咨询\n" in filed and "由银杏社区党委负责" in filed
    # The phone question is optional: a message meaning something else is answered as itself.
    assert (await two.send("我的诉求")).text.startswith("您反映的问题（最近1件）")


async def test_the_menu_item_then_the_description(client: TestClient[Any, Any], clock: FixedClock) -> None:
    resident = person(client, clock, "o-res-1")
    assert (await resident.send("1")).text.startswith("请用一句话说说遇到了什么问题")
    assert "1 1号楼" in (await resident.send("楼下邻居装修太吵了，晚上十点还在施工")).text
    assert "邻里纠纷（1号楼）" in (await resident.send("1")).text


async def test_an_urgent_gas_smell_gives_the_emergency_numbers_first_and_asks_the_building_after(
    client: TestClient[Any, Any], clock: FixedClock
) -> None:
    resident = person(client, clock, "o-res-1")
    reply = (await resident.send("楼道里闻到很重的煤气味")).text
    assert reply.startswith(
        "如有危险，请先到安全的地方，并立即拨打：火警119、报警110、急救120、燃气抢修96777。"
    )
    number = number_in(reply)
    assert "已按紧急情况处理" in reply and "11月21日（星期六）12:00前接单" in reply
    assert reply.index("如有危险") < reply.index(number) < reply.index("请问是哪栋楼")
    row = await ticket(client, number)  # filed before the building was asked
    assert row.urgent and row.building_id is None
    placed = (await resident.send("2")).text
    assert placed.startswith(f"已记下位置：2号楼（工单{number}）。") and "手机号" in placed
    assert (await resident.send("13812345678")).text.startswith("好的，已记下您的电话")
    row = await ticket(client, number)
    assert row.building_id is not None and row.place.startswith("2号楼") and row.phone_enc is not None


async def test_a_voice_report(client: TestClient[Any, Any], clock: FixedClock) -> None:
    resident = person(client, clock, "o-res-1")
    number = number_in((await resident.say("反映5号楼电梯坏了，一直停在三楼")).text)
    row = await ticket(client, number)
    assert (row.source, row.category) == ("voice", "物业维修")
    assert any(number in text for text in await told(client, GRID2))


async def test_photos_sent_after_filing_attach_to_the_ticket(
    client: TestClient[Any, Any], clock: FixedClock
) -> None:
    resident = person(client, clock, "o-res-1")
    number = await file_report(resident, "反映 1号楼单元门的门禁坏了")
    assert (await photo(resident, "pic-1")).text == f"已收到照片，工单{number}共附1张。"
    assert (await photo(resident, "pic-2")).text == f"已收到照片，工单{number}共附2张。"
    async with services(client).db.read() as session:
        media = (await session.scalars(select(RequestPhoto.media_id).order_by(RequestPhoto.seq))).all()
    assert list(media) == ["pic-1", "pic-2"]


async def test_a_repeat_within_ten_minutes_is_the_same_ticket(
    client: TestClient[Any, Any], clock: FixedClock
) -> None:
    resident = person(client, clock, "o-res-1")
    number = await file_report(resident, "反映 3号楼楼道灯坏了")
    clock.advance(5 * 60)
    again = (await resident.send("反映 3号楼楼道灯坏了")).text
    assert again.startswith(f"您刚才已经反映过这个问题，工单号{number}")
    async with services(client).db.read() as session:
        assert len((await session.scalars(select(RequestTicket.id))).all()) == 1


async def test_three_residents_reporting_the_same_lift_are_merged(
    client: TestClient[Any, Any], clock: FixedClock
) -> None:
    first = await file_report(person(client, clock, "o-res-1"), "反映 2号楼电梯坏了")
    clock.advance(1 * 3600)
    await file_report(person(client, clock, "o-res-2"), "反映 2号楼的电梯又停了")
    clock.advance(1 * 3600)
    third = person(client, clock, "o-res-3")
    merged = (await third.send("报修 2号楼电梯按钮没反应")).text
    own = number_in(merged)
    assert own != first and merged.startswith(f"已受理，工单号{own}。已有3位居民反映此问题，已合并处理。")
    assert (await third.send(f"进度 {own}")).text.startswith(f"{own} 物业维修（2号楼）【待接单】")
    grid = person(client, clock, GRID)
    todo = (await grid.send("待办")).text
    assert "共1件" in todo and "（3人反映）" in todo


# --- the handlers' loop, the rating ----------------------------------------------------------------


async def test_the_grid_worker_takes_reports_and_solves_and_the_resident_rates(
    client: TestClient[Any, Any], clock: FixedClock
) -> None:
    resident, grid = person(client, clock, "o-res-1"), person(client, clock, GRID)
    number = number_in((await resident.send("反映 3号楼2单元楼道灯坏了")).text)
    assert (await resident.send("13812345678")).text.startswith("好的，已记下您的电话")
    clock.advance(30 * 60)

    todo = (await grid.send("待办")).text
    assert todo.startswith("【待办诉求】共1件") and number in todo and "138****5678" in todo
    assert "13812345678" not in todo
    assert (await grid.send(f"电话 {number}")).text.startswith(f"只有接单人可以查看工单{number}")

    taken = (await grid.send(f"接单 {number.lower()}")).text
    assert taken.startswith(f"已接单：{number} 物业维修（3号楼2单元）【办理中】")
    assert "韩" in (await told(client, "o-res-1"))[-1]
    assert "网格员韩师傅正在办理，11月28日（星期六）10:00前办结。" in (await resident.send("我的诉求")).text
    assert (await grid.send(f"接单 {number}")).text.startswith(f"工单{number}现在不能接单")
    assert "13812345678" in (await grid.send(f"电话 {number}")).text
    async with services(client).db.read() as session:
        audited = await session.scalar(
            select(AuditEntry.id).where(AuditEntry.action == "request_reporter_phone")
        )
    assert audited is not None

    progressed = (await grid.send(f"进展 {number} 已联系物业，明天上午更换灯泡")).text
    assert progressed == f"已记录工单{number}的进展，已告知居民。"
    assert "明天上午更换灯泡" in (await told(client, "o-res-1"))[-1]
    assert (await grid.send(f"办结 {number}")).text.startswith("请发送“办结 工单号 说明”")
    assert (await grid.send(f"办结 {number} 已更换楼道灯")).text == f"已办结工单{number}，已请居民评价。"
    assert "已更换楼道灯" in (await told(client, "o-res-1"))[-1]

    mine = (await resident.send("进度")).text
    assert number in mine and "【待评价】" in mine
    assert "网格员韩师傅" not in mine  # solved: no longer "正在办理"
    history = (await resident.send(f"进度 {number}")).text
    assert "已接单" in history and "办理进展：已联系物业，明天上午更换灯泡" in history

    # 不满意 the first time: reopened before the community secretary.
    reopened = (await resident.send("3 灯还是不亮")).text
    assert reopened.startswith(f"很抱歉没有让您满意。工单{number}已重新办理")
    row = await ticket(client, number)
    assert row.state in ("new", "taken") and row.reopen_count == 1
    assert (await grid.send(f"办结 {number} 已更换整套灯具")).text.startswith("已办结")
    closed = (await resident.send("3")).text
    assert closed.startswith("已记录您的评价（不满意）")
    row = await ticket(client, number)
    assert (row.state, row.outcome) == ("closed", "unsatisfied")


async def test_a_satisfied_rating_by_command(client: TestClient[Any, Any], clock: FixedClock) -> None:
    resident, grid = person(client, clock, "o-res-1"), person(client, clock, GRID)
    number = await file_report(resident, "反映 1号楼门口路灯不亮")
    await grid.send(f"接单 {number}")
    await grid.send(f"办结 {number} 已修好")
    assert (await resident.send(f"评价 {number} 1 很快就修好了")).text.startswith("感谢您的评价（满意）")
    assert (await resident.send(f"评价 {number} 2")).text.startswith("已改为“基本满意”")


async def test_a_bare_1_with_no_rating_awaited_is_menu_item_1(
    client: TestClient[Any, Any], clock: FixedClock
) -> None:
    resident = person(client, clock, "o-res-1")
    assert (await resident.send("评价 1")).text.startswith("您目前没有等待评价的工单")
    assert (await resident.send("评价")).text.startswith("请回复数字评价")
    assert (await resident.send("3 灯还是不亮")).text.startswith("请问是哪栋楼")
    assert (await resident.send("0")).text.startswith("已退出当前操作")
    assert (await resident.send("1")).text.startswith("请用一句话说说遇到了什么问题")
    assert (await resident.send("进度")).text.startswith("您还没有反映过问题")


async def test_nobody_reads_or_takes_anyone_elses_ticket(
    client: TestClient[Any, Any], clock: FixedClock
) -> None:
    owner, other = person(client, clock, "o-res-1"), person(client, clock, "o-res-2")
    number = await file_report(owner, "反映 3号楼楼道灯坏了")
    refused = (await other.send(f"进度 {number}")).text
    assert refused.startswith(f"没有找到您反映的工单{number}")
    assert "楼道灯" not in refused
    assert (await other.send(f"诉求 {number}")).text.startswith(f"没有找到您反映的工单{number}")
    assert "没有反映过问题" in (await other.send("我的诉求")).text
    assert "没有反映过问题" in (await other.send("进展如何")).text
    assert (await other.send(f"接单 {number}")).text.startswith("这项操作供网格员")

    grid2 = person(client, clock, GRID2)
    assert (await grid2.send(f"接单 {number}")).text.startswith(f"工单{number}不在您负责的范围内，不能接单")
    assert (await grid2.send(f"诉求 {number}")).text.startswith(f"工单{number}不在您负责的范围内")
    assert (await grid2.send("待办")).text == "目前没有待办诉求。"
    assert (await grid2.send("接单 R20261121-9999")).text.startswith("没有找到工单R20261121-9999")
    assert (await ticket(client, number)).state == "new"


async def test_transfer_and_complex(client: TestClient[Any, Any], clock: FixedClock) -> None:
    resident, grid = person(client, clock, "o-res-1"), person(client, clock, GRID)
    number = await file_report(resident, "反映 3号楼楼顶防水层破了，下雨就渗水")
    assert (await grid.send(f"复杂 {number}")).text.startswith(
        f"已将工单{number}列为复杂诉求，办结期限延至12月6日"
    )
    assert (await grid.send(f"转派 {number}")).text.startswith("请发送“转派 工单号 组织名 原因”")
    assert "没有找到组织“物业公司”" in (await grid.send(f"转派 {number} 物业公司 需要维修基金")).text
    moved = (await grid.send(f"转派 {number} 第二网格党支部 楼栋实际属第二网格")).text
    assert moved == f"已将工单{number}转派给第二网格党支部，已通知对方和居民。"
    assert number in (await person(client, clock, GRID2).send("待办")).text
    async with services(client).db.read() as session:
        kinds = (await session.scalars(select(RequestEvent.kind).order_by(RequestEvent.id))).all()
    assert list(kinds) == ["filed", "complex", "transferred"]


async def test_todo_pages_oldest_first(client: TestClient[Any, Any], clock: FixedClock) -> None:
    resident = person(client, clock, "o-res-1")
    numbers = []
    for day in range(7):
        numbers.append(await file_report(resident, f"反映 1号楼{day + 1}楼的楼道灯坏了"))
        clock.advance(25 * 3600)  # past the 24-hour merge
    grid = person(client, clock, GRID)
    first = (await grid.send("待办")).text
    assert first.startswith("【待办诉求】共7件，按受理先后（第1至6件）：\n1. " + numbers[0])
    assert numbers[5] in first and numbers[6] not in first
    assert "还有1件，回复“下一页”查看。" in first
    second = (await grid.send("下一页")).text
    assert second.startswith("【待办诉求】共7件，按受理先后（第7至7件）：\n7. " + numbers[6])
    assert "下一页" not in second


async def test_a_photo_before_the_description(client: TestClient[Any, Any], clock: FixedClock) -> None:
    resident = person(client, clock, "o-res-1")
    await resident.send("反映问题")
    assert (await photo(resident, "pic-0")).text.startswith("已收到照片（共1张）。请再用文字或语音说说")
    number = number_in((await resident.send("3号楼门口的井盖坏了")).text)
    async with services(client).db.read() as session:
        media = (await session.scalars(select(RequestPhoto.media_id))).all()
    assert list(media) == ["pic-0"]
    assert (await resident.send("跳过")).text.startswith(f"好的，不留电话。发送照片可以补充到工单{number}")


async def test_the_three_rates_for_a_secretary(make_client: AppFactory, clock: FixedClock) -> None:
    client = await make_client()
    db = services(client).db
    await _community(db)

    def bind(session: Session) -> None:
        from models import Member

        for number in ("YX-001", "YX-004"):
            member_id = session.scalar(select(Member.id).where(Member.number == number))
            session.add(Binding(openid=f"o-{number}", member_id=member_id, method="demo", bound_at=T0))

    await db.run(bind)
    resident, grid = person(client, clock, "o-res-1"), person(client, clock, GRID)
    taken = await file_report(resident, "反映 1号楼楼道灯坏了")
    await file_report(person(client, clock, "o-res-2"), "反映 5号楼垃圾没人清运")
    await grid.send(f"接单 {taken}")
    await grid.send(f"办结 {taken} 已更换灯泡")
    await resident.send("1")
    stats = (await person(client, clock, "o-YX-001").send("诉求统计")).text
    assert stats.startswith("【诉求统计】2026年11月　银杏社区党委\n")
    assert "合计：受理2件；响应率50%（1/2）；解决率50%（1/2）；满意率100%（1/1）" in stats
    assert "第一网格党支部：受理1件；响应率100%（1/1）" in stats
    assert "第二网格党支部：受理1件；响应率0%（0/1）；解决率0%（0/1）；满意率—" in stats
    october = (await person(client, clock, "o-YX-001").send("诉求统计 2026-10")).text
    assert "合计：受理0件" in october
    assert (await person(client, clock, "o-YX-004").send("诉求统计")).text.startswith("诉求统计供")


async def test_an_admin_handles_every_units_tickets(client: TestClient[Any, Any], clock: FixedClock) -> None:
    """`partybot admin add` makes no member or staff record: the admin still sees every unit's 待办 and
    may 接单 and 办结 (scope "")."""
    await services(client).db.run(lambda s: s.add(Admin(name="管理员", openid="o-admin", created_at=T0)))
    resident, admin = person(client, clock, "o-res-1"), person(client, clock, "o-admin")
    first = await file_report(resident, "反映 3号楼楼道灯坏了")
    second = await file_report(person(client, clock, "o-res-2"), "反映 5号楼门口垃圾没人清运")
    todo = (await admin.send("待办")).text
    assert todo.startswith("【待办诉求】共2件") and first in todo and second in todo
    assert (await admin.send(f"接单 {second}")).text.startswith(f"已接单：{second}")
    assert "已由" in (await told(client, "o-res-2"))[-1]
    assert (await ticket(client, second)).taken_by_name == "管理员"
    assert (await admin.send(f"办结 {second} 已清运")).text == f"已办结工单{second}，已请居民评价。"
    assert (await ticket(client, second)).state == "solved"
