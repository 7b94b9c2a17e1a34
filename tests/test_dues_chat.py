"""党费 in chat, end to end through the webhook (signed XML over HTTP): the member's view (by word, by the
menu's 2, by saying it), their base and 已交; the secretary's 收党费 by month, range and amount, 党费待确认,
党费确认 / 党费退回, 党费更正, 党费减免, 党费标准 and 党费情况 (paged); and the refusals: a member trying
收党费, a secretary outside their subtree, two members of one name, a bad month, a bad amount."""

from __future__ import annotations

import shutil
from typing import Any

from aiohttp.test_utils import TestClient
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from bot.clock import FixedClock
from bot.voice.speech import AmrEncoder
from models import AuditEntry, DuesBase, DuesClaim, DuesEntry, Member, Notice, OutboxRow
from tests.community import BRANCH1, seed
from tests.conftest import AppFactory, StackFactory, require
from tests.helpers import flush, services
from tests.wechat import ThroughFake, WeChatUser

BOUND = ("YX-001", "YX-002", "YX-003", "YX-004", "YX-009", "YX-013")


async def setup(
    make_client: AppFactory, clock: FixedClock, **settings: Any
) -> tuple[TestClient[Any, Any], dict[str, int]]:
    client = await make_client(**settings)
    community = await seed(services(client).db, bind=BOUND)

    def write(session: Session) -> None:
        # 王秀兰 (born 1941) has turned 语音模式 off: these tests read text; the voice test is the last one.
        session.execute(
            update(Member).where(Member.number == "YX-004").values(dues_base_fen=310000, voice_mode=False)
        )
        session.execute(update(Member).where(Member.number == "YX-013").values(dues_base_fen=860000))
        session.execute(update(Member).where(Member.number == "YX-012").values(dues_base_fen=250000))

    await services(client).db.run(write)
    return client, community.ids


def user(client: TestClient[Any, Any], clock: FixedClock, number: str) -> WeChatUser:
    return WeChatUser(client, clock, openid=f"o-{number}")


async def notices_to(client: TestClient[Any, Any], member_id: int) -> list[str]:
    async with services(client).db.read() as session:
        rows = await session.scalars(
            select(Notice.text)
            .join(OutboxRow, OutboxRow.notice_id == Notice.id)
            .where(OutboxRow.member_id == member_id)
            .order_by(Notice.id)
        )
        return list(rows)


async def test_a_member_sees_amount_method_months_paid_and_arrears(
    make_client: AppFactory, clock: FixedClock
) -> None:
    client, ids = await setup(make_client, clock, dues_start_month="2026-08")
    wang = user(client, clock, "YX-004")
    view = (await wang.send("党费")).text
    assert view.startswith(
        "王秀兰同志，您11月的党费是15.50元，尚未交纳。\n计算方法：离退休党员按养老金3100.00元的0.5%交纳。"
    )
    assert "今年已交：暂无。" in view and "欠交：8月、9月、10月，共46.50元。" in view
    assert view.endswith("交纳后可发送“已交 2026-11”，书记确认后记入。")
    # The menu's 2, another wording, and a voice message say the same.
    assert (await wang.send("2")).text == view
    assert (await wang.send("我的党费")).text == view
    assert (await wang.say("我要看党费")).text == view

    lin = user(client, clock, "YX-002")
    assert (
        await lin.send("收党费 王秀兰 2026-08至2026-10")
    ).text == "已登记王秀兰2026年8月至2026年10月的党费，共46.50元。"
    view = (await wang.send("党费")).text
    assert "今年已交：8月、9月、10月。" in view and "没有欠交。" in view
    assert (await notices_to(client, ids["YX-004"]))[-1] == (
        "【党费】王秀兰同志，您2026年8月至2026年10月的党费46.50元已由书记登记，谢谢您。"
    )

    liu = user(client, clock, "YX-013")
    assert "党费基数8600.00元，按1.5%交纳" in (await liu.send("党费多少")).text
    zheng = (await user(client, clock, "YX-009").send("交党费")).text
    assert "11月的党费是待定，尚未交纳" in zheng and "请发送“党费基数 金额”，例如：党费基数 4200" in zheng


async def test_a_member_declares_a_base_for_the_next_month_and_reports_paid(
    make_client: AppFactory, clock: FixedClock
) -> None:
    client, ids = await setup(make_client, clock)
    zheng = user(client, clock, "YX-009")
    assert (await zheng.send("党费基数")).text.startswith("请发送“党费基数 金额”")
    assert (await zheng.send("党费基数 很多")).text.startswith("“很多”不是金额")
    # None known before: from this month. Retired, 4200.00 → 0.5 %.
    assert (
        await zheng.send("党费基数 4200")
    ).text == "已记录您的党费基数4200.00元，从2026年11月起按新基数计算（2026年11月应交21.00元）。"
    assert (
        await zheng.send("党费基数 5200")
    ).text == "已记录您的党费基数5200.00元，从2026年12月起按新基数计算（2026年12月应交52.00元）。"
    async with services(client).db.read() as session:
        rows = (await session.execute(select(DuesBase.valid_from, DuesBase.set_by, DuesBase.source))).all()
    assert sorted(rows) == [("2026-11", ids["YX-009"], "member"), ("2026-12", ids["YX-009"], "member")]

    assert (await zheng.send("已交 十一月")).text.startswith("请发送“已交 月份”")
    assert (
        await zheng.send("已交 2026-11")
    ).text == "已收到。您报2026年11月已交，等书记确认后记入，确认后会告诉您。"
    assert "您已报“已交”，等待书记确认" in (await zheng.send("党费")).text
    lin = user(client, clock, "YX-002")
    assert (await notices_to(client, ids["YX-002"]))[-1].startswith(
        "【党费待确认】郑国平报2026年11月党费已交。"
    )
    assert (await lin.send("党费待确认")).text == (
        "待确认的“已交”（1）：\n1. 郑国平：2026年11月（21.00元）\n"
        "确认请发送“党费确认 姓名”，有误请发送“党费退回 姓名 原因”。"
    )
    assert (await lin.send("党费确认 郑国平")).text == "已确认郑国平2026年11月的党费，共21.00元。"
    assert (await lin.send("党费待确认")).text == "目前没有待确认的“已交”。"
    assert (await zheng.send("已交 2026-11")).text == "2026年11月已记为已交，不需要再报。"

    await zheng.send("已交 2026-12")
    assert (await lin.send("党费退回 郑国平")).text.startswith("请发送“党费退回 姓名 原因”")
    assert (
        await lin.send("党费退回 郑国平 未收到转账")
    ).text == "已退回郑国平报的2026年12月，并已告诉本人原因。"
    assert (await notices_to(client, ids["YX-009"]))[-1].endswith(
        "书记未能确认：未收到转账。如有疑问请联系书记。"
    )
    async with services(client).db.read() as session:
        claims = (await session.execute(select(DuesClaim.status, DuesClaim.decided_by))).all()
    assert sorted(claims) == [("confirmed", ids["YX-002"]), ("returned", ids["YX-002"])]


async def test_the_secretary_records_by_amount_with_credit_and_corrects_by_reversal(
    make_client: AppFactory, clock: FixedClock
) -> None:
    client, _ = await setup(make_client, clock, dues_start_month="2026-09")
    lin = user(client, clock, "YX-002")
    assert (await lin.send("收党费 王秀兰 5")).text == (
        "已收到王秀兰5.00元，不足一个月的党费（15.50元），记为预存，下次抵扣。"
    )
    assert (await lin.send("收党费 王秀兰 45")).text == (
        "已登记王秀兰2026年9月至2026年11月的党费，共46.50元。余3.50元记为预存，下次抵扣。"
    )
    assert "预存余额：3.50元" in (await user(client, clock, "YX-004").send("党费")).text
    assert (await lin.send("收党费 王秀兰 2026-11")).text == "王秀兰2026年11月已交，未重复登记。"
    # Nothing unpaid up to this month: the amount is kept, and pays December once it is due.
    assert (await lin.send("收党费 王秀兰 5")).text == "王秀兰目前没有欠交，5.00元已记为预存。"
    clock.set(clock.now().replace(month=12, day=10))
    assert (await lin.send("收党费 王秀兰 7")).text == "已登记王秀兰2026年12月的党费，共15.50元。"
    assert (
        await lin.send("党费更正 王秀兰 2026-12")
    ).text == "已撤销王秀兰2026年12月的党费登记（记录保留，可查）。"
    assert (await lin.send("党费更正 王秀兰 2026-12")).text == "王秀兰2026年12月没有党费登记，无需更正。"
    async with services(client).db.read() as session:
        kinds = [k for (k,) in (await session.execute(select(DuesEntry.kind).order_by(DuesEntry.id))).all()]
    assert kinds.count("reversal") == 1 and kinds.count("payment") == 4


async def test_refusals_say_what_was_wrong_with_an_example(
    make_client: AppFactory, clock: FixedClock
) -> None:
    client, _ = await setup(make_client, clock)
    zheng = user(client, clock, "YX-009")
    for command in (
        "收党费 王秀兰 2026-11",
        "党费确认 王秀兰",
        "党费情况",
        "党费待确认",
        "党费减免 王秀兰 2026-12 0 文号",
    ):
        assert (await zheng.send(command)).text == "这项操作只有支部书记、副书记可以使用。"
    assert (await zheng.send("党费基数 王秀兰 3100")).text == "这项操作只有支部书记、副书记可以使用。"
    resident = user(client, clock, "o-stranger")
    assert (await resident.send("党费")).text.startswith("党费查询只对本社区党员开放。党员请先绑定")
    assert (await resident.send("已交 2026-11")).text.startswith("党费查询只对本社区党员开放")
    assert (await resident.send("收党费 王秀兰 2026-11")).text == "这项操作只有支部书记、副书记可以使用。"
    lin = user(client, clock, "YX-002")
    assert (await lin.send("收党费")).text.startswith("请发送“收党费 姓名 月份”或“收党费 姓名 金额”")
    assert (
        await lin.send("收党费 刘洋 2026-11")
    ).text == "“刘洋”不在您负责的组织内，请由其所在支部的书记登记。"
    assert (await lin.send("收党费 张三 2026-11")).text == "您的支部中没有党员“张三”，请核对姓名。"
    assert (
        await lin.send("收党费 王秀兰 2026-13")
    ).text == "“2026-13”不是月份，请写成 2026-11，或 2026-09至2026-11。"
    assert (await lin.send("收党费 王秀兰 2026-11至2026-09")).text.startswith("“2026-11至2026-09”不是月份")
    assert (await lin.send("收党费 王秀兰 12.345")).text.startswith("“12.345”不是金额")
    assert (await lin.send("收党费 王秀兰 很多")).text.startswith("“很多”不是金额")
    assert (
        await lin.send("收党费 王秀兰 2026-10")
    ).text == "2026年10月早于王秀兰应交党费的起始月份（2026年11月），不能登记。"
    assert (await lin.send("收党费 王秀兰 2028-01")).text == "2028年1月太远了，最多可预交到2027年11月。"
    assert (await lin.send("收党费 郑国平 2026-11")).text.startswith("郑国平还没有申报党费基数")
    # The community secretary sees both 王秀兰 and is asked for the number.
    zhou = user(client, clock, "YX-001")
    assert (await zhou.send("收党费 王秀兰 2026-11")).text == (
        "有2位党员叫王秀兰（编号YX-004、YX-012），请加上编号，例如：收党费 王秀兰 YX-004"
    )
    assert (
        await zhou.send("收党费 王秀兰 YX-012 2026-11")
    ).text == "已登记王秀兰2026年11月的党费，共12.50元。"


async def test_bases_reductions_and_the_farmers_rate_set_by_the_secretary(
    make_client: AppFactory, clock: FixedClock
) -> None:
    client, _ = await setup(make_client, clock)
    lin = user(client, clock, "YX-002")
    assert (
        await lin.send("党费基数 王秀兰 5200")
    ).text == "已记录王秀兰的党费基数5200.00元，从2026年12月起按新基数计算。"
    assert (await lin.send("党费减免")).text.startswith("请发送“党费减免 姓名 月份 每月金额 批准文号”")
    assert (await lin.send("党费减免 王秀兰 2027-01至2027-06 免交 街道党工委〔2026〕12号")).text == (
        "已记录王秀兰2027年1月至2027年6月每月应交0.00元（街道党工委〔2026〕12号）。"
    )
    assert (await lin.send("党费标准 农民 2")).text == "农民党员每月交纳0.20至1.00元，请在这个范围内设定。"
    assert (
        await lin.send("党费标准 农民 0.50")
    ).text == "已设定本支部农民党员每月交纳0.50元，从2026年12月起执行。"

    def write(session: Session) -> None:
        session.execute(update(Member).where(Member.number == "YX-009").values(kind="农民"))

    await services(client).db.run(write)
    zheng = user(client, clock, "YX-009")
    assert "计算方法：农民党员按支部确定的标准，每月0.20元。" in (await zheng.send("党费")).text
    clock.set(clock.now().replace(month=12, day=10))
    assert "计算方法：农民党员按支部确定的标准，每月0.50元。" in (await zheng.send("党费")).text
    assert "离退休党员按养老金5200.00元的1%交纳" in (await user(client, clock, "YX-004").send("党费")).text
    clock.set(clock.now().replace(year=2027, month=2))
    waived = (await user(client, clock, "YX-004").send("党费")).text
    assert waived.startswith("王秀兰同志，您2月的党费是0.00元，经批准本月免交。")
    assert "计算方法：经批准减免（街道党工委〔2026〕12号），本月应交0.00元。" in waived


async def test_the_secretarys_collection_pages_with_next_page(
    make_client: AppFactory, clock: FixedClock
) -> None:
    client, ids = await setup(make_client, clock, dues_start_month="2026-07")

    def write(session: Session) -> None:
        # Enough members in the branch to need a second page.
        for n in range(120):
            session.add(
                Member(
                    number=f"X-{n:03d}",
                    name=f"测试党员{n:03d}号同志",
                    unit_id=session.get(Member, ids["YX-009"]).unit_id,  # type: ignore[union-attr]
                    status="正式",
                    kind="学生",
                    created_at=clock.now(),
                    updated_at=clock.now(),
                )
            )

    await services(client).db.run(write)
    lin = user(client, clock, "YX-002")
    await lin.send("收党费 王秀兰 2026-07至2026-11")
    first = (await lin.send("党费情况")).text
    assert first.startswith(
        "第一网格党支部2026年11月党费（第1/5页）\n交纳率1%：应交125人，已交1人；已收15.50元，应收39.50元。\n"
        "未交（124）：林晓梅、孙丽娟、李文博、郑国平、测试党员000号同志、"
    )
    assert first.endswith("回复“下一页”查看更多。") and len(first.encode()) < 2048
    pages = [first] + [(await lin.send("下一页")).text for _ in range(4)]
    assert [p.split("\n", 1)[0][-7:] for p in pages] == [f"（第{n}/5页）" for n in range(1, 6)]
    assert all(len(p.encode()) < 2048 for p in pages) and not pages[-1].endswith("查看更多。")
    everything = "".join(pages)
    assert "连续3个月以上未交（124）：林晓梅（4个月）" in everything and "王秀兰（" not in everything
    assert everything.count("测试党员119号同志") == 2  # unpaid, and behind
    async with services(client).db.read() as session:
        audited = (await session.execute(select(AuditEntry.action, AuditEntry.scope))).all()
    assert audited.count(("dues_report", BRANCH1)) == 5  # every page read


async def test_an_elderly_member_hears_her_dues_read_aloud(
    make_stack: StackFactory, clock: FixedClock
) -> None:
    """党费 for a member in voice mode (王秀兰 of the second branch, born 1952): the text at once, then the
    same answer as voice clips by customer service; asking again the same day sends no second voice."""
    require("espeak-ng", shutil.which("espeak-ng") is not None, "apt-get install espeak-ng")
    require("ffmpeg", shutil.which("ffmpeg") is not None, "apt-get install ffmpeg libavcodec-extra")
    require(
        "ffmpeg's AMR-NB encoder", await AmrEncoder().has_amr_encoder(), "apt-get install libavcodec-extra"
    )
    stack = await make_stack(dues_start_month="2026-10")
    db = services(stack.client).db
    await seed(db, bind=("YX-002", "YX-012"))
    stack.fake.follow(["o-YX-012", "o-YX-002"])

    def base(session: Session) -> None:
        session.execute(update(Member).where(Member.number == "YX-012").values(dues_base_fen=250000))

    await db.run(base)
    wang = ThroughFake(stack, "o-YX-012")
    view = (await wang.send("党费")).text
    assert view.startswith("王秀兰同志，您11月的党费是12.50元，尚未交纳。")
    assert view.endswith("（语音版随后发给您。）")
    await flush(stack.client)
    clock.advance(5)
    await stack.worker.drain()
    clips = [s for s in stack.sends("o-YX-012", api="custom") if s.msgtype == "voice"]
    assert clips and all(s.content["media_id"] for s in clips)
    assert (await wang.send("党费")).text == view.removesuffix("\n（语音版随后发给您。）")
    await flush(stack.client)
    clock.advance(5)
    await stack.worker.drain()
    assert len([s for s in stack.sends("o-YX-012", api="custom") if s.msgtype == "voice"]) == len(clips)
    # 林晓梅 (the branch secretary, not in voice mode) gets text only.
    other = (await ThroughFake(stack, "o-YX-002").send("党费")).text
    assert other.startswith("林晓梅同志，您11月的党费") and "语音版" not in other
    await flush(stack.client)
    await stack.worker.drain()
    assert not [s for s in stack.sends("o-YX-002", api="custom") if s.msgtype == "voice"]
