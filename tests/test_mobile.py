"""流动党员: the monthly report-in (text, the conversation, `报到 …`, a location with and without the separate
consents, district-only vs precise with expiry), the report_in_reminders job (idempotent across a restart and
a month boundary, one lost-contact alert per member and month), 流动登记 / 流动结束 by a secretary within
their subtree, the 流动党员 list (paged), and 流入登记 → 流入确认 → the guest's next theme-day notice."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from bot.app import CONTENT, SETTINGS
from bot.clock import FixedClock
from bot.content import load_content
from bot.dev.demo import demo_settings, seed_demo
from bot.dev.demo_mobile import seed_mobile
from bot.domain.mobile import district_of, mobile_members, silent
from bot.domain.places import sync_places
from bot.domain.privacy import Vault
from bot.domain.study import audience_of
from bot.settings import AccountKind
from models import (
    AuditEntry,
    Binding,
    IncomingMember,
    Member,
    MobileRegistration,
    MobileReport,
    Notice,
    OrgUnit,
    OutboxRow,
    PointEntry,
    StudyMaterial,
)
from models.db import Database
from models.migrate import upgrade
from scheduler.jobs import JobDeps, job_named
from tests.community import BRANCH1, BRANCH2, seed
from tests.conftest import DATA_KEY, AppFactory
from tests.helpers import services
from tests.wechat import Result, WeChatUser

LABEL = "浙江省杭州市余杭区文一西路969号"


def bj(year: int, month: int, day: int, hour: int = 9, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC) - timedelta(hours=8)


@pytest.fixture
async def client(make_client: AppFactory) -> TestClient[Any, Any]:
    return await make_client()


def db_of(client: TestClient[Any, Any]) -> Database:
    return services(client).db


def user(client: TestClient[Any, Any], clock: FixedClock, number: str) -> WeChatUser:
    return WeChatUser(client, clock, openid=f"o-{number}")


async def send_location(
    who: WeChatUser, label: str = LABEL, lat: float = 30.2741, lon: float = 120.0309
) -> Result:
    return await who.post_fields(
        who.fields("location", Location_X=lat, Location_Y=lon, Scale=15, Label=label)
    )


async def reports(client: TestClient[Any, Any], member_id: int) -> list[MobileReport]:
    async with db_of(client).read() as session:
        return list(
            (
                await session.scalars(
                    select(MobileReport)
                    .where(MobileReport.member_id == member_id)
                    .order_by(MobileReport.month)
                )
            ).all()
        )


async def count(client: TestClient[Any, Any], statement: Any) -> int:
    async with db_of(client).read() as session:
        return int(await session.scalar(statement) or 0)


async def run(client: TestClient[Any, Any], clock: FixedClock, name: str, at: datetime) -> str:
    clock.set(at)
    app = client.app
    assert app is not None
    # A fresh JobDeps (and, for `restart`, a fresh Database) as a new process would have.
    return await job_named(name).run(JobDeps(db_of(client), app[SETTINGS], app[CONTENT]), at)


# --- where, from the label -------------------------------------------------------------------------


def test_a_label_is_reduced_to_province_city_and_district() -> None:
    assert district_of(LABEL) == "浙江省杭州市余杭区"
    assert district_of("广东省深圳市南山区粤海街道科技园") == "广东省深圳市南山区"
    assert district_of("上海市浦东新区张江镇") == "上海市浦东新区"
    assert district_of("浙江省金华市义乌市稠城街道") == "浙江省金华市义乌市"
    assert district_of("杭州东站") == ""
    assert district_of("") == ""


# --- the report-in by text -------------------------------------------------------------------------


async def test_report_in_by_command_and_by_the_conversation(
    client: TestClient[Any, Any], clock: FixedClock
) -> None:
    community = await seed(db_of(client), bind=("YX-007",))
    li = user(client, clock, "YX-007")  # 李文博, 流动 on the roster
    assert "\n4 流动报到\n" in (await li.send("帮助")).text
    done = (await li.send("流动报到 在杭州余杭 做电工")).text
    assert done == ("已收到您2026年11月的报到，谢谢您。\n内容：在杭州余杭 做电工\n本月报到积分已记入。")
    asked = (await li.send("4")).text
    assert asked.startswith("请用一句话说说您本月在哪里、做什么")
    assert (await li.send("好")).text.startswith("报到内容应为2至100个字，例如：流动报到 在杭州余杭 做电工")
    again = (await li.send("在余杭工地做电工，一切都好")).text
    assert (
        again == "已收到您2026年11月的报到，谢谢您。\n内容：在余杭工地做电工，一切都好"
    )  # points once a month
    [report] = await reports(client, community.ids["YX-007"])
    assert (report.month, report.text, report.place, report.latitude) == (
        "2026-11",
        "在余杭工地做电工，一切都好",
        "",
        None,
    )
    points = select(func.count()).select_from(PointEntry).where(PointEntry.reason == "report_in")
    assert await count(client, points) == 1

    # The next month (local time) is a new report, with its own points.
    clock.set(bj(2026, 12, 1, 0, 5))
    assert (await li.send("流动党员报到 回杭州了")).text.startswith("已收到您2026年12月的报到")
    assert [r.month for r in await reports(client, community.ids["YX-007"])] == ["2026-11", "2026-12"]
    assert await count(client, points) == 2


async def test_baodao_is_the_report_in_for_a_mobile_member_and_dual_report_for_others(
    client: TestClient[Any, Any], clock: FixedClock
) -> None:
    community = await seed(db_of(client), bind=("YX-007", "YX-009"))
    li = user(client, clock, "YX-007")
    assert (await li.send("报到 在杭州余杭 做电工")).text.startswith("已收到您2026年11月的报到")
    assert (await li.send("报到")).text.startswith("请用一句话说说您本月在哪里")
    assert (await li.send("取消")).text.startswith("已退出当前操作。")

    resident = WeChatUser(client, clock, openid="o-inservice")
    assert (await resident.send("报到")).text.startswith("在职党员到社区报到（双报到）")

    zheng = user(client, clock, "YX-009")  # 郑国平, not mobile
    assert (await zheng.send("流动报到")).text.startswith("“流动报到”是流动党员的服务")
    assert (await zheng.send("流动报到 在家")).text.startswith("您目前没有流动党员登记，不需要流动报到。")
    await zheng.send("报到 在家")
    assert await reports(client, community.ids["YX-009"]) == []
    stranger = WeChatUser(client, clock, openid="o-stranger")
    assert (await stranger.send("流动报到")).text.startswith("流动报到需要先绑定党员身份。")


# --- the report-in by location -----------------------------------------------------------------------


async def test_a_location_is_used_only_after_consent_and_only_to_the_district(
    client: TestClient[Any, Any], clock: FixedClock
) -> None:
    community = await seed(db_of(client), bind=("YX-007",))
    li = user(client, clock, "YX-007")
    asked = (await send_location(li)).text
    assert asked.startswith("您发送了位置。使用位置前需要您单独同意") and asked.endswith("1 同意\n2 不同意")
    assert await reports(client, community.ids["YX-007"]) == []  # nothing of it is kept
    assert (await li.send("好吧")).text.startswith("请回复数字1或2。")
    # Another request leaves the question unanswered (nothing stored) and is answered as itself.
    assert (await li.send("积分")).text.startswith("李文博同志")
    # ... and a later 1 is the menu's 1, not a consent.
    assert not (await li.send("1")).text.startswith("好的，已记录您的同意")
    await li.send("取消")
    async with db_of(client).read() as session:
        reg = await session.scalar(select(MobileRegistration))
    assert reg is None or reg.location_consent is None
    assert (await send_location(li)).text == asked
    precise = (await li.send("1")).text
    assert precise.startswith(
        "好的，已记录您的同意。\n另外，是否同意保存精确位置（经纬度）？保存30天后自动删除"
    )
    assert (await li.send("2")).text.startswith("好的，只保存到区县。请再发送一次位置")
    done = (await send_location(li)).text
    assert done == "已收到您2026年11月的报到，谢谢您。\n地点：浙江省杭州市余杭区\n本月报到积分已记入。"
    [report] = await reports(client, community.ids["YX-007"])
    assert (report.place, report.latitude, report.longitude, report.precise_until) == (
        "浙江省杭州市余杭区",
        None,
        None,
        None,
    )
    # A label with no district keeps nothing.
    assert (await send_location(li, label="杭州东站")).text.startswith("没能从这个位置看出所在区县")
    # Text and location in one month make one report.
    final = (await li.send("流动报到 在余杭做电工")).text
    assert "内容：在余杭做电工\n地点：浙江省杭州市余杭区" in final
    async with db_of(client).read() as session:
        reg = await session.scalar(select(MobileRegistration))
    assert reg is not None and (reg.location_consent, reg.precise_consent) == (True, False)


async def test_location_events_reported_by_wechat_are_not_kept(
    client: TestClient[Any, Any], clock: FixedClock
) -> None:
    community = await seed(db_of(client), bind=("YX-007",))
    li = user(client, clock, "YX-007")
    # WeChat's automatic LOCATION report (when the account asks for it) is no report-in and no consent.
    result = await li.event("LOCATION", Latitude=30.27, Longitude=120.03, Precision=65.0)
    assert result.status == 200 and result.reply is None
    assert await reports(client, community.ids["YX-007"]) == []
    async with db_of(client).read() as session:
        assert await session.scalar(select(func.count()).select_from(MobileRegistration)) == 0


async def test_a_refused_consent_keeps_no_location_and_text_still_counts(
    client: TestClient[Any, Any], clock: FixedClock
) -> None:
    community = await seed(db_of(client), bind=("YX-007",))
    li = user(client, clock, "YX-007")
    await send_location(li)
    refused = (await li.send("2")).text
    assert refused.startswith("好的，不使用您的位置，这次的位置没有保存。\n请发送文字报到，例如")
    again = (await send_location(li)).text
    assert again.startswith("您没有同意使用位置，这次的位置没有保存。") and "位置授权" in again
    assert await reports(client, community.ids["YX-007"]) == []
    assert (await li.send("流动报到 在杭州")).text.startswith("已收到您2026年11月的报到")
    [report] = await reports(client, community.ids["YX-007"])
    assert (report.text, report.place, report.latitude) == ("在杭州", "", None)
    # Changing their mind: 位置授权 asks again.
    assert (await li.send("位置授权")).text.startswith("您发送了位置。使用位置前需要您单独同意")
    await li.send("1")
    await li.send("2")
    assert "地点：浙江省杭州市余杭区" in (await send_location(li)).text


async def test_precise_location_is_kept_for_the_set_days_then_deleted(
    client: TestClient[Any, Any], clock: FixedClock
) -> None:
    community = await seed(db_of(client), bind=("YX-007",))
    li = user(client, clock, "YX-007")
    await send_location(li)
    await li.send("1")
    assert (await li.send("1")).text.startswith("好的，今后发送的位置会保存精确位置30天")
    done = (await send_location(li)).text
    assert "地点：浙江省杭州市余杭区\n精确位置保存到12月21日（星期一），之后自动删除。" in done
    [report] = await reports(client, community.ids["YX-007"])
    assert (report.latitude, report.longitude) == (30.2741, 120.0309)
    assert report.precise_until is not None

    assert "precise_locations 0" in await run(client, clock, "housekeeping", bj(2026, 12, 20))
    assert (await reports(client, community.ids["YX-007"]))[0].latitude == 30.2741
    assert "precise_locations 1" in await run(client, clock, "housekeeping", bj(2026, 12, 21, 11))
    [report] = await reports(client, community.ids["YX-007"])
    assert (report.place, report.latitude, report.longitude, report.precise_until) == (
        "浙江省杭州市余杭区",
        None,
        None,
        None,
    )

    # Taking consent back deletes kept coordinates and places at once.
    await send_location(li)
    assert (await reports(client, community.ids["YX-007"]))[-1].latitude is not None
    assert (await li.send("撤回位置授权")).text.startswith("已撤回位置授权，保存的位置已删除。")
    assert [(r.month, r.place, r.latitude) for r in await reports(client, community.ids["YX-007"])] == [
        ("2026-11", "", None),
        ("2026-12", "", None),
    ]


# --- the job -----------------------------------------------------------------------------------------


async def notices_like(client: TestClient[Any, Any], pattern: str) -> list[Notice]:
    async with db_of(client).read() as session:
        return list(
            (
                await session.scalars(select(Notice).where(Notice.author.like(pattern)).order_by(Notice.id))
            ).all()
        )


async def recipients(client: TestClient[Any, Any], notice_id: int) -> set[int]:
    async with db_of(client).read() as session:
        return {
            int(m)
            for m in (
                await session.scalars(select(OutboxRow.member_id).where(OutboxRow.notice_id == notice_id))
            ).all()
            if m is not None
        }


async def test_reminders_and_lost_contact_alerts_once_per_member_and_month(
    client: TestClient[Any, Any], clock: FixedClock, make_settings: Any
) -> None:
    community = await seed(db_of(client), bind=("YX-003", "YX-007", "YX-013"))
    chen = user(client, clock, "YX-003")  # 陈志强, 第二网格党支部书记
    assert (await chen.send("流动登记 刘洋 广东省深圳市宝安区")).text.startswith("已登记：刘洋同志为流动党员")
    liu = user(client, clock, "YX-013")
    assert (await liu.send("流动报到 在深圳宝安 开网约车")).text.startswith("已收到您2026年11月的报到")
    li_id, liu_id = community.ids["YX-007"], community.ids["YX-013"]
    # 李文博 has been on the roster as 流动 since June; 刘洋 was registered only now.
    await db_of(client).run(
        lambda s: s.execute(update(Member).where(Member.id == li_id).values(created_at=bj(2026, 6, 1)))
    )

    assert await run(client, clock, "report_in_reminders", bj(2026, 11, 24, 23)) == "nothing before the 25th"
    assert await run(client, clock, "report_in_reminders", bj(2026, 11, 25)) == (
        "reminders 1, lost-contact alerts 1"
    )
    [remind] = await notices_like(client, "report_in:remind:%")
    assert remind.text.startswith("【流动党员报到提醒】李文博同志，您2026年11月还没有报到。")
    assert await recipients(client, remind.id) == {li_id}
    [lost] = await notices_like(client, "report_in:lost:%")
    # 李文博 has been silent for the three months: his branch secretary (林晓梅) hears of it.
    assert (
        lost.text == "【流动党员失联提醒】李文博同志已连续3个月没有报到。"
        "最后一次：没有报到记录（去向：—）。请设法联系。"
    )
    assert await recipients(client, lost.id) == {community.ids["YX-002"]}

    # Again, later the same day, and as a fresh process: nothing new.
    assert await run(client, clock, "report_in_reminders", bj(2026, 11, 25, 15)) == (
        "reminders 0, lost-contact alerts 0"
    )
    restarted = Database(make_settings().database_url)
    try:
        app = client.app
        assert app is not None
        again = await job_named("report_in_reminders").run(
            JobDeps(restarted, app[SETTINGS], app[CONTENT]), bj(2026, 11, 28)
        )
    finally:
        await restarted.dispose()
    assert again == "reminders 0, lost-contact alerts 0"

    # Across the month boundary: nothing on the 1st; on the 25th the new month's reminders, and one more
    # alert for 李文博 (刘洋 reported in November: not silent).
    assert await run(client, clock, "report_in_reminders", bj(2026, 12, 1, 0, 5)) == "nothing before the 25th"
    for _ in range(2):
        await run(client, clock, "report_in_reminders", bj(2026, 12, 25))
    reminded = await notices_like(client, "report_in:remind:%")
    assert sorted(n.author for n in reminded) == sorted(
        [
            f"report_in:remind:{li_id}:2026-11",
            f"report_in:remind:{li_id}:2026-12",
            f"report_in:remind:{liu_id}:2026-12",
        ]
    )
    assert [n.author for n in await notices_like(client, "report_in:lost:%")] == [
        f"report_in:lost:{li_id}:2026-11",
        f"report_in:lost:{li_id}:2026-12",
    ]


async def test_lost_contact_alert_names_the_last_report_and_the_contact_person(
    client: TestClient[Any, Any], clock: FixedClock
) -> None:
    community = await seed(db_of(client), bind=("YX-002", "YX-007"))
    lin = user(client, clock, "YX-002")
    registered = (await lin.send("流动登记 李文博 浙江省杭州市余杭区 联络员 孙丽娟")).text
    assert registered == (
        "已登记：李文博同志为流动党员，去向浙江省杭州市余杭区，联络员孙丽娟。李文博同志每月可发送“流动报到”报到。"
    )
    li = user(client, clock, "YX-007")
    clock.set(bj(2026, 8, 10))
    await li.send("流动报到 在余杭做电工")
    await db_of(client).run(
        lambda s: s.execute(update(MobileRegistration).values(registered_at=bj(2026, 7, 1)))
    )
    assert await run(client, clock, "report_in_reminders", bj(2026, 11, 25)) == (
        "reminders 1, lost-contact alerts 1"
    )
    [lost] = await notices_like(client, "report_in:lost:%")
    assert "最后一次：2026年8月，在余杭做电工。" in lost.text
    assert await recipients(client, lost.id) == {community.ids["YX-002"], community.ids["YX-006"]}


# --- 流动登记, 流动结束, 流动党员 -----------------------------------------------------------------------


async def test_a_secretary_registers_and_ends_within_their_subtree(
    client: TestClient[Any, Any], clock: FixedClock
) -> None:
    community = await seed(db_of(client), bind=("YX-002", "YX-004", "YX-009"))
    lin = user(client, clock, "YX-002")  # 林晓梅, 第一网格党支部书记
    zheng = user(client, clock, "YX-009")
    assert "流动报到" not in (await zheng.send("帮助")).text

    assert (await lin.send("流动登记 郑国平")).text.startswith("没能识别。请发送“流动登记 姓名 去向”")
    assert (await lin.send("流动登记 刘洋 广东省深圳市")).text.startswith("您的支部没有名为刘洋的党员。")
    assert (await lin.send("流动登记 郑国平 江苏省苏州市 联络员 陈志强")).text.startswith(
        "您的支部没有（或有不止一位）名为陈志强的党员，不能担任联络员。"
    )
    done = (await lin.send("流动登记 郑国平 江苏省苏州市工业园区")).text
    assert done.startswith("已登记：郑国平同志为流动党员，去向江苏省苏州市工业园区，联络员林晓梅。")
    async with db_of(client).read() as session:
        member = await session.get(Member, community.ids["YX-009"])
        reg = await session.scalar(select(MobileRegistration))
        audits = (await session.scalars(select(AuditEntry.action))).all()
    assert member is not None and member.mobile_destination == "江苏省苏州市工业园区"
    assert "mobile_destination" in member.chat_preferences  # a roster re-import keeps it
    assert reg is not None and reg.contact_id == community.ids["YX-002"]
    assert "register_mobile" in audits
    # He is mobile now: the menu item, and his report-in.
    assert "\n4 流动报到\n" in (await zheng.send("帮助")).text
    assert (await zheng.send("流动报到 在苏州 带孙子")).text.startswith("已收到您2026年11月的报到")

    wang = user(client, clock, "YX-004")  # a member, not a secretary
    for text in ("流动登记 郑国平 江苏省苏州市", "流动结束 郑国平", "流动党员", "流入确认 张伟"):
        assert (await wang.send(text)).text == "这项操作只有支部书记可以办理。回复0返回菜单。"

    assert (await lin.send("流动结束 王秀兰")).text.startswith("您的支部没有名为王秀兰的流动党员。")
    assert (await lin.send("流动结束 郑国平")).text == "已结束郑国平同志的流动登记。"
    assert "流动报到" not in (await zheng.send("帮助")).text
    assert (await zheng.send("流动报到 在苏州")).text.startswith("您目前没有流动党员登记")
    # The roster says 流动 for 李文博: ending his registration says the roster must change too.
    assert (await lin.send("流动结束 李文博")).text.endswith(
        "名册中的人员类型仍为“流动”，请在名册中修改后重新导入。"
    )


async def test_the_list_shows_last_reports_who_is_missing_and_pages(
    client: TestClient[Any, Any], clock: FixedClock
) -> None:
    community = await seed(db_of(client), bind=("YX-002", "YX-003", "YX-007"))
    li = user(client, clock, "YX-007")
    clock.set(bj(2026, 10, 12))
    await li.send("流动报到 在余杭做电工")
    clock.set(bj(2026, 11, 21))
    lin = user(client, clock, "YX-002")
    await lin.send("流动登记 郑国平 江苏省苏州市工业园区")
    listing = (await lin.send("流动党员")).text
    assert listing.startswith(
        "【流动党员】2026年11月，共2人：\n1. 李文博（去向：—）最近报到：2026年10月 在余杭做电工"
    )
    assert "2. 郑国平（去向：江苏省苏州市工业园区）尚无报到记录" in listing
    assert "本月未报到2人：李文博、郑国平" in listing and listing.endswith("【流入】共0人：")
    # 陈志强 (第二网格) sees none of them.
    assert (await user(client, clock, "YX-003").send("流动党员")).text.startswith(
        "【流动党员】2026年11月，共0人"
    )

    def many(session: Any) -> None:
        for i in range(60):
            session.add(
                Member(
                    number=f"YX-9{i:02d}",
                    name=f"外出党员{i:02d}",
                    unit_id=community.units[BRANCH1],
                    status="正式",
                    kind="流动",
                    mobile_destination="广东省深圳市南山区粤海街道某某科技园区某栋",
                    volunteer_posts=[],
                    chat_preferences=[],
                    created_at=clock.now(),
                    updated_at=clock.now(),
                )
            )

    await db_of(client).run(many)
    first = (await lin.send("流动党员")).text
    assert first.startswith("第1/") and first.endswith("回复“下一页”继续。")
    second = (await lin.send("下一页")).text
    assert second.startswith("第2/") and "外出党员" in second


# --- 流入 ----------------------------------------------------------------------------------------------


async def register_incoming(who: WeChatUser, name: str = "张伟") -> None:
    assert (await who.send("流入登记")).text.startswith("流入党员登记：您的党组织关系在外地")
    assert (await who.send(name)).text.startswith("第2步")
    assert (await who.send("12345")).text.startswith("手机号应为11位数字")
    assert (await who.send("139 0013 8888")).text.startswith("第3步")
    assert (await who.send("安徽省某某县某某村党支部")).text.startswith("第4步")
    branch = (await who.send("5号楼2单元602")).text
    assert branch.startswith("第5步") and "1 第一网格党支部\n2 第二网格党支部" in branch
    assert (await who.send("9")).text.startswith("没有这个选项。")
    check = (await who.send("1")).text
    assert check.startswith(f"请核对：\n姓名：{name}\n手机：13900138888") and "参加：第一网格党支部" in check
    assert (await who.send("1")).text.startswith("已提交。支部书记确认后会通知您")


async def test_incoming_registration_confirmed_and_the_guest_gets_the_next_theme_day_notice(
    client: TestClient[Any, Any], clock: FixedClock
) -> None:
    community = await seed(db_of(client), bind=("YX-002", "YX-003", "YX-007"))
    guest = WeChatUser(client, clock, openid="o-guest")
    await register_incoming(guest)
    assert (await guest.send("流入登记")).text.startswith("您已办理流入登记，状态：待确认")
    async with db_of(client).read() as session:
        entry = await session.scalar(select(IncomingMember))
        told = (
            await session.scalars(select(Notice.text).where(Notice.author.like("mobile_incoming:%")))
        ).all()
    assert entry is not None and entry.status == "pending"
    assert "13900138888" not in (entry.phone_enc or "")
    assert Vault(DATA_KEY).decrypt_phone(entry.phone_enc) == "13900138888"
    assert told == ["有一位流入党员（张伟）登记，请回复“流动党员”查看，确认请回复“流入确认 张伟”。"]

    lin = user(client, clock, "YX-002")
    listing = (await lin.send("流动党员")).text
    assert (
        "【流入】共1人：\n1. 张伟 139****8888 原党组织：安徽省某某县某某村党支部 住址或单位：5号楼2单元602"
        in listing
    )
    assert "13900138888" not in listing
    # Outside their subtree: 陈志强 (第二网格) cannot confirm.
    assert (await user(client, clock, "YX-003").send("流入确认 张伟")).text.startswith(
        "没有找到张伟待确认的流入登记"
    )
    assert (await lin.send("流入确认 李四")).text.startswith("没有找到李四待确认的流入登记")
    assert (await lin.send("流入确认 张伟")).text.startswith("已确认张伟同志的流入登记")

    async with db_of(client).read() as session:
        member = await session.scalar(select(Member).where(Member.kind == "流入"))
        binding = await session.get(Binding, "o-guest")
    assert member is not None and member.unit_id == community.units[BRANCH1] and member.name == "张伟"
    assert binding is not None and binding.member_id == member.id
    # Now a member here: the menu, the theme day.
    assert (await guest.send("帮助")).text.startswith("张伟同志")
    assert (await guest.send("流入登记")).text.startswith("您已是本社区绑定的党员")

    # The branch's theme day (20th by default): the week notice a week before reaches the guest, and the
    # mobile member 李文博 like everyone.
    await run(client, clock, "theme_day", bj(2026, 12, 13, 9, 0))
    [week] = [
        n
        for n in await notices_like(client, "theme_day:%:week")
        if community.ids["YX-002"] in await recipients(client, n.id)
    ]
    got = await recipients(client, week.id)
    assert member.id in got and community.ids["YX-007"] in got
    # Study pushes to everyone reach both as well.
    material = StudyMaterial(audience="all", unit_path=None)
    async with db_of(client).read() as session:
        audience = await session.run_sync(lambda s: audience_of(s, material, clock.now()))
    assert {member.id, community.ids["YX-007"]} <= set(audience.member_ids)


async def test_incoming_returned_with_a_reason_and_refusals(
    client: TestClient[Any, Any], clock: FixedClock
) -> None:
    await seed(db_of(client), bind=("YX-002", "YX-007"))
    guest = WeChatUser(client, clock, openid="o-guest2")
    await register_incoming(guest, name="赵敏")
    lin = user(client, clock, "YX-002")
    assert (await lin.send("流入退回 赵敏")).text.startswith("请发送“流入退回 姓名 原因”")
    assert (
        await lin.send("流入退回 赵敏 请补充原党组织全称")
    ).text == "已退回赵敏同志的流入登记，并告知了原因。"
    async with db_of(client).read() as session:
        entry = await session.scalar(select(IncomingMember))
        notice = await session.scalar(
            select(Notice.text).where(Notice.author.like("mobile_incoming_returned:%"))
        )
    assert entry is not None and (entry.status, entry.reason) == ("returned", "请补充原党组织全称")
    assert notice == "您的流入登记被退回，原因：请补充原党组织全称。如需重新登记，请发送“流入登记”。"
    # Returned: they may register again.
    assert (await guest.send("流入登记")).text.startswith("流入党员登记")
    assert (await guest.send("取消")).text.startswith("已退出当前操作。")
    # A bound member need not register as incoming.
    assert (await user(client, clock, "YX-007").send("流入登记")).text.startswith("您已是本社区绑定的党员")


async def test_a_building_picks_the_branch(client: TestClient[Any, Any], clock: FixedClock) -> None:
    community = await seed(db_of(client), bind=("YX-003",))
    await db_of(client).run(
        lambda s: s.execute(update(OrgUnit).where(OrgUnit.path == BRANCH2).values(buildings=["7号楼"]))
    )

    def place(session: Any) -> None:
        from bot.domain.places import sync_places

        sync_places(session)

    await db_of(client).run(place)
    guest = WeChatUser(client, clock, openid="o-guest3")
    for text in ("流入登记", "钱进", "13900138899", "某某公司党支部", "7号楼1单元101"):
        await guest.send(text)
    assert "参加：第二网格党支部" in (await guest.send("7号楼")).text
    assert (await guest.send("1")).text.startswith("已提交")
    async with db_of(client).read() as session:
        entry = await session.scalar(select(IncomingMember))
    assert entry is not None and entry.unit_id == community.units[BRANCH2]


# --- the demo ------------------------------------------------------------------------------------------


async def test_the_demo_has_registrations_reports_and_one_silent_member(tmp_path: Path) -> None:
    settings = demo_settings(tmp_path, "127.0.0.1", 1, 2, "a" * 43, AccountKind.SERVICE)
    await upgrade(settings.database_url)
    now = bj(2026, 12, 25)
    assert await seed_demo(settings, now)
    assert await seed_mobile(settings, now) == {"registrations": 4, "reports": 3}
    db = Database(settings.database_url)
    try:
        async with db.read() as session:
            listed = await session.run_sync(lambda s: mobile_members(s, ""))
            silent_now = await session.run_sync(lambda s: silent(s, "2026-12"))
        assert [m.number for m in listed] == ["YX-007", "YX-015", "YX-033", "YX-034"]
        li = next(m for m in listed if m.number == "YX-007")
        assert li.last is not None and li.last.month == "2026-11" and li.destination == "浙江省杭州市余杭区"
        assert [m.number for m in silent_now] == ["YX-034"]
        summary = await job_named("report_in_reminders").run(JobDeps(db, settings, load_content()), now)
        assert summary == "reminders 4, lost-contact alerts 1"
    finally:
        await db.dispose()


async def test_incoming_branches_read_in_number_order_and_the_address_building_picks_one(
    client: TestClient[Any, Any], clock: FixedClock
) -> None:
    """The branch list reads 第一, 第二, 第三 (not in code-point order, which puts 第三 before 第二); an
    address in a building a branch covers chooses that branch, and 2 goes back to the list."""
    db = db_of(client)
    await seed(db, bind=("YX-002",))

    def third_branch(session: Session) -> None:
        parent = session.scalar(select(OrgUnit).where(OrgUnit.path == BRANCH2))
        assert parent is not None and parent.parent_id is not None
        now = clock.now()
        session.add(
            OrgUnit(
                path=BRANCH2.replace("第二", "第三"),
                name="第三网格党支部",
                kind="网格党支部",
                parent_id=parent.parent_id,
                depth=parent.depth,
                buildings=[],
                created_at=now,
                updated_at=now,
            )
        )
        parent.buildings = ["5号楼"]
        session.flush()
        sync_places(session)

    await db.run(third_branch)
    who = WeChatUser(client, clock, openid="o-guest3")
    await who.send("流入登记")
    await who.send("张伟")
    await who.send("13900138888")
    await who.send("安徽省某某县某某村党支部")
    check = (await who.send("五号楼2单元602")).text
    assert check.startswith("请核对：") and "参加：第二网格党支部（按您的住址所在网格选定）" in check
    listed = (await who.send("2")).text
    assert listed.startswith("第5步") and "1 第一网格党支部\n2 第二网格党支部\n3 第三网格党支部" in listed
    check = (await who.send("3")).text
    assert "参加：第三网格党支部\n" in check and "要换一个支部" not in check
    assert (await who.send("1")).text.startswith("已提交。")
    async with db.read() as session:
        entry = await session.scalar(select(IncomingMember).where(IncomingMember.openid == "o-guest3"))
        third = await session.scalar(select(OrgUnit.id).where(OrgUnit.name == "第三网格党支部"))
    assert entry is not None and (entry.place, entry.unit_id) == ("五号楼2单元602", third)
