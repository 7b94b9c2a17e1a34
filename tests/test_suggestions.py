"""党员建议 through the webhook: a member's `建议 …` numbered by the local day and sent to the branch
secretary, the secretary's `答复` told to the member, `我的建议`, `待答复建议` (paged), who may answer, the
friendly answer for residents, bad numbers, and the day's sequence restarting the next day."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import select

from bot.clock import FixedClock
from models import Notice, OutboxRow, Suggestion
from models.db import Database
from tests.community import BRANCH1, BRANCH2, seed
from tests.conftest import Stack
from tests.helpers import services
from tests.wechat import ThroughFake, WeChatUser

ASK = "请用一两句话写下您对社区或支部工作的建议，例如：小区增设电动车充电桩。\n回复“取消”退出。"


def bj(year: int, month: int, day: int, hour: int = 9, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC) - timedelta(hours=8)


def db_of(client: TestClient[Any, Any]) -> Database:
    return services(client).db


def user(client: TestClient[Any, Any], clock: FixedClock, number: str) -> WeChatUser:
    return WeChatUser(client, clock, openid=f"o-{number}")


@pytest.fixture
async def client(make_client: Any) -> TestClient[Any, Any]:
    found: TestClient[Any, Any] = await make_client()
    return found


async def suggestions(client: TestClient[Any, Any]) -> list[Suggestion]:
    async with db_of(client).read() as session:
        return list((await session.scalars(select(Suggestion).order_by(Suggestion.id))).all())


async def notice(client: TestClient[Any, Any], key: str) -> tuple[str, set[int]] | None:
    async with db_of(client).read() as session:
        found = await session.scalar(select(Notice).where(Notice.author == key))
        if found is None:
            return None
        to = (await session.scalars(select(OutboxRow.member_id).where(OutboxRow.notice_id == found.id))).all()
        return found.text, {int(m) for m in to if m is not None}


# --- the whole loop, through the fake WeChat -------------------------------------------------------


async def test_a_suggestion_goes_to_the_branch_secretary_and_the_answer_back(
    stack: Stack, clock: FixedClock
) -> None:
    clock.set(bj(2026, 12, 1, 9, 30))
    community = await seed(db_of(stack.client), bind=("YX-001", "YX-002", "YX-003", "YX-004"))
    lin = ThroughFake(stack, "o-YX-002")  # 林晓梅, 第一网格党支部书记
    wang = ThroughFake(stack, "o-YX-004")  # 王秀兰, 1号楼党小组 (in 第一网格党支部)
    await lin.send("帮助")  # inside the customer-service window

    filed = (await wang.send("建议 小区增设充电桩")).text
    assert filed == (
        "已收到您的建议，编号S20261201-0001。\n已转给第一网格党支部，书记答复后会通知您。回复“我的建议”可以查看。"
    )
    [item] = await suggestions(stack.client)
    assert (item.number, item.unit_id, item.member_id, item.text, item.status) == (
        "S20261201-0001",
        community.units[BRANCH1],
        community.ids["YX-004"],
        "小区增设充电桩",
        "open",
    )
    new = await notice(stack.client, f"suggestion:{item.id}:new")
    assert new is not None and new[1] == {community.ids["YX-002"]}  # the branch's secretary only
    await services(stack.client).write_behind.flush()
    await stack.worker.drain()
    told = (
        "王秀兰同志提出一条建议（S20261201-0001）：\n小区增设充电桩\n"
        "答复请回复“答复 S20261201-0001 答复内容”。"
    )
    assert [s.content["content"] for s in stack.sends("o-YX-002", api="custom")] == [told]

    # A secretary of another branch may not answer it; the branch's secretary does.
    chen = ThroughFake(stack, "o-YX-003")
    assert (await chen.send("答复 S20261201-0001 好的")).text == (
        "建议S20261201-0001不属于您所在党组织负责的支部，您不能答复。"
    )
    assert (await chen.send("待答复建议")).text == "目前没有待答复的党员建议。"
    listing = (await lin.send("待答复建议")).text
    assert listing == (
        "待答复的党员建议共1条（第1/1页）：\n"
        "1. S20261201-0001 王秀兰（第一网格党支部，12月1日）：小区增设充电桩\n"
        "答复请发送“答复 编号 答复内容”。"
    )
    clock.advance(24 * 3600)
    assert (await lin.send("答复 s20261201-0001 已向物业反映")).text == (
        "已答复王秀兰同志的建议S20261201-0001，已通知本人。"
    )
    [item] = await suggestions(stack.client)
    assert (item.status, item.answer, item.answered_by) == ("answered", "已向物业反映", "member:YX-002")
    assert (await lin.send("答复 S20261201-0001 再说一次")).text == (
        "建议S20261201-0001已经答复过了（12月2日）：已向物业反映"
    )
    assert (await lin.send("待答复建议")).text == "目前没有待答复的党员建议。"

    # The member is told (she wrote within the window: by customer service, text and, for her age, voice).
    await services(stack.client).write_behind.flush()
    await stack.worker.drain()
    answered = (
        "您的建议（S20261201-0001：小区增设充电桩）有了答复：\n已向物业反映\n"
        "谢谢您的建议。回复“我的建议”可以查看。"
    )
    sent = stack.sends("o-YX-004", api="custom")
    assert [s.content["content"] for s in sent if s.msgtype == "text"] == [answered]  # then her voice clip
    mine = (await wang.send("我的建议")).text
    assert mine == (
        "您的建议（共1条）：\n1. S20261201-0001（12月1日）小区增设充电桩\n   已答复（12月2日）：已向物业反映"
    )
    assert await notice(stack.client, f"suggestion:{item.id}:answered") is not None


# --- the conversation, who may, and helpful answers -------------------------------------------------


async def test_a_bare_suggestion_asks_for_the_text_and_cancel_leaves(
    client: TestClient[Any, Any], clock: FixedClock
) -> None:
    await seed(db_of(client), bind=("YX-009",))
    zheng = user(client, clock, "YX-009")  # 郑国平, 第一网格党支部
    assert "\n8 提建议\n" in (await zheng.send("帮助")).text
    assert (await zheng.send("建议")).text == ASK
    assert (await zheng.send("取消")).text.startswith("已退出当前操作。")
    assert await suggestions(client) == []
    assert (await zheng.send("8")).text == ASK  # the menu item
    assert (await zheng.send("好")).text == "建议内容应为4至300个字，例如：建议 小区增设电动车充电桩。"
    # Free text in the step is the suggestion, even when it names another capability.
    done = (await zheng.send("主题党日活动可以安排在周末，方便在职党员参加")).text
    assert done.startswith("已收到您的建议，编号S20261121-0001。")
    assert (await zheng.send("我建议：楼道里装个扶手")).text.startswith(
        "已收到您的建议，编号S20261121-0002。"
    )
    items = await suggestions(client)
    assert [s.text for s in items] == ["主题党日活动可以安排在周末，方便在职党员参加", "楼道里装个扶手"]
    mine = (await zheng.send("我的建议")).text
    assert mine.startswith("您的建议（共2条）：\n1. S20261121-0002（11月21日）楼道里装个扶手\n   待答复\n2. ")


async def test_a_resident_is_pointed_to_report_a_problem(
    client: TestClient[Any, Any], clock: FixedClock
) -> None:
    await seed(db_of(client), bind=("YX-002",), grid_worker="o-grid")
    friendly = (
        "“党员建议”是党员向党支部提出意见建议的渠道，需要先绑定党员身份。\n"
        "如果您遇到需要解决的问题，请发送“反映”加问题描述，例如：反映 3号楼楼道灯坏了。"
    )
    resident = WeChatUser(client, clock, openid="o-resident")
    assert (await resident.send("建议 小区增设充电桩")).text == friendly
    assert (await resident.send("我的建议")).text == friendly
    assert (await WeChatUser(client, clock, openid="o-grid").send("我建议多装路灯")).text == friendly
    assert (await resident.send("答复 S20261121-0001 好的")).text == (
        "只有党组织书记可以答复和查看党员建议。回复0返回菜单。"
    )
    assert (await user(client, clock, "YX-002").send("我的建议")).text.startswith("您还没有提出过建议。")
    assert await suggestions(client) == []


async def test_bad_numbers_and_answers_get_helpful_replies(
    client: TestClient[Any, Any], clock: FixedClock
) -> None:
    community = await seed(db_of(client), bind=("YX-001", "YX-002", "YX-009"))
    await user(client, clock, "YX-009").send("建议 小区增设充电桩")
    lin = user(client, clock, "YX-002")
    fmt = (
        "请发送“答复 建议编号 答复内容”，例如：答复 S20261201-0003 已向物业反映，本周内安装。\n"
        "回复“待答复建议”查看待答复的建议。"
    )
    assert (await lin.send("答复")).text == fmt
    assert (await lin.send("答复 已向物业反映")).text == fmt
    assert (await lin.send("答复 R20261121-0001 已处理")).text == fmt
    assert (await lin.send("答复 S20261121-0009 已向物业反映")).text == (
        "没有找到编号为S20261121-0009的建议，请核对编号（例如：S20261201-0003）。\n回复“待答复建议”查看待答复的建议。"
    )
    assert (await lin.send("答复 S20261121-0001")).text == (
        "答复内容应为2至300个字，例如：答复 S20261121-0001 已向物业反映，本周内安装。"
    )
    # A member is no secretary; the community secretary (whose scope holds the branch) may answer.
    assert (await user(client, clock, "YX-009").send("答复 S20261121-0001 好")).text.startswith(
        "只有党组织书记"
    )
    zhou = user(client, clock, "YX-001")
    assert (
        await zhou.send("答复 Ｓ20261121-1：已转物业")
    ).text == "已答复郑国平同志的建议S20261121-0001，已通知本人。"
    [item] = await suggestions(client)
    assert (item.status, item.answer) == ("answered", "已转物业")
    told = await notice(client, f"suggestion:{item.id}:answered")
    assert told is not None and told[1] == {community.ids["YX-009"]}


async def test_a_secretarys_own_suggestion_goes_to_the_unit_above(
    client: TestClient[Any, Any], clock: FixedClock
) -> None:
    community = await seed(db_of(client), bind=("YX-001", "YX-002"))
    lin = user(client, clock, "YX-002")
    assert (await lin.send("建议 支部活动室增加空调")).text.startswith("已收到您的建议，编号S20261121-0001。")
    [item] = await suggestions(client)
    new = await notice(client, f"suggestion:{item.id}:new")
    assert new is not None and new[1] == {community.ids["YX-001"]}  # 社区党委书记
    assert (await lin.send("答复 S20261121-0001 同意")).text == (
        "建议S20261121-0001是您本人提出的，请由上级党组织书记答复。"
    )
    assert (await user(client, clock, "YX-001").send("答复 S20261121-0001 同意")).text.startswith(
        "已答复林晓梅"
    )


# --- numbering and paging ---------------------------------------------------------------------------


async def test_the_days_sequence_increments_and_restarts_the_next_local_day(
    client: TestClient[Any, Any], clock: FixedClock
) -> None:
    community = await seed(db_of(client), bind=("YX-002", "YX-004", "YX-009", "YX-012"))
    clock.set(bj(2026, 12, 1, 8))
    for number in ("YX-004", "YX-009", "YX-004"):
        await user(client, clock, number).send("建议 小区增设充电桩")
    clock.set(bj(2026, 12, 1, 23, 59))
    await user(client, clock, "YX-012").send("建议 第二网格增加健身器材")
    clock.set(bj(2026, 12, 2, 0, 1))  # 16:01 UTC on 1 December: already the 2nd in Beijing
    assert (await user(client, clock, "YX-009").send("建议 路灯太暗")).text.startswith(
        "已收到您的建议，编号S20261202-0001。"
    )
    items = await suggestions(client)
    assert [s.number for s in items] == [
        "S20261201-0001",
        "S20261201-0002",
        "S20261201-0003",
        "S20261201-0004",
        "S20261202-0001",
    ]
    assert items[3].unit_id == community.units[BRANCH2]

    # 待答复建议, paged: the first branch's seven, oldest first, then 下一页.
    for text in ("建议 楼道堆物清理", "建议 增加宣传栏", "建议 垃圾分类督导"):
        await user(client, clock, "YX-004").send(text)
    lin = user(client, clock, "YX-002")
    first = (await lin.send("待答复建议")).text
    assert first.startswith("待答复的党员建议共7条（第1/2页）：\n1. S20261201-0001 王秀兰")
    assert first.endswith("答复请发送“答复 编号 答复内容”。\n回复“下一页”继续。")
    assert "第二网格" not in first
    second = (await lin.send("下一页")).text
    assert second.startswith("待答复的党员建议共7条（第2/2页）：\n6. S20261202-0003 王秀兰")
    assert "7. S20261202-0004 王秀兰" in second
    assert (await lin.send("下一页")).text == "没有可以翻的页了。发送“成员”查看名单。"

    # Members writing at the same moment get numbers of their own (PostgreSQL: the advisory lock).
    clock.set(bj(2026, 12, 3, 10))
    replies = await asyncio.gather(
        *(user(client, clock, n).send("建议 同一时刻的建议") for n in ("YX-004", "YX-009", "YX-012"))
    )
    assert sorted(r.text.split("编号")[1][:14] for r in replies) == [
        "S20261203-0001",
        "S20261203-0002",
        "S20261203-0003",
    ]


async def test_an_announcement_beginning_with_jianyi_stays_an_announcement(
    client: TestClient[Any, Any], clock: FixedClock
) -> None:
    await seed(db_of(client), bind=("YX-002", "YX-009"))
    lin = user(client, clock, "YX-002")
    assert (await lin.send("公告")).text.startswith("请发送公告内容")
    preview = (await lin.send("建议大家本周六上午参加主题党日活动")).text
    assert preview.startswith("将发送给：") and "回复“确认”发送" in preview
    assert (await lin.send("取消")).text.startswith("已退出当前操作。")
    assert await suggestions(client) == []
