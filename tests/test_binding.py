"""A member binds their WeChat: codes, QR codes, name + phone tail approved by the secretary; abuse."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from bot.clock import FixedClock
from bot.domain.binding import Person
from models import AuditEntry, Binding, Member
from tests.community import Community, seed
from tests.conftest import AES_KEY, Stack, StackFactory
from tests.helpers import services
from tests.wechat import ThroughFake

SECRETARY = "YX-002"  # 林晓梅, 第一网格党支部
# 王秀兰 is not a mobile member: 流动报到 (4) is left out and the other items keep their numbers.
MEMBER_MENU = (
    "请回复数字：\n1 学习园地\n2 我的党费\n3 主题党日\n5 我的信息\n6 反映问题\n7 我的积分\n8 提建议\n0 菜单"
)


@pytest.fixture
async def stack(make_stack: StackFactory) -> Stack:
    """Every flow here goes through the fake WeChat API, in safe mode, as a real account would."""
    return await make_stack(aes_key=AES_KEY)


@pytest.fixture
async def community(stack: Stack) -> Community:
    return await seed(services(stack.client).db, bind=(SECRETARY,))


def person(stack: Stack, openid: str) -> ThroughFake:
    return ThroughFake(stack, openid)


async def code_for(stack: Stack, name: str = "王秀兰") -> str:
    text = (await person(stack, f"o-{SECRETARY}").send(f"绑定码 {name}")).text
    return text.split("绑定码：")[1].split("\n")[0]


async def test_a_member_binds_with_the_code_her_secretary_gave_her(
    stack: Stack, clock: FixedClock, community: Community
) -> None:
    code = await code_for(stack)
    assert len(code) == 6 and code.isdigit()
    wang = person(stack, "o-wang")
    text = (await wang.send(f"绑定 {code}")).text
    assert text.startswith("绑定成功。王秀兰同志，您属于1号楼党小组。")
    assert "同时发送文字和语音" in text and "联系人：孙丽娟" in text and "不收集身份证号" in text
    assert (await wang.send("0")).text == MEMBER_MENU
    info = (await wang.send("5")).text
    assert "手机：13800138004" in info and "联系人：孙丽娟 138****8006" in info
    # The code is single use.
    assert (await person(stack, "o-other").send(f"绑定 {code}")).text.startswith("绑定码无效或已过期")
    async with services(stack.client).db.read() as session:
        entry = await session.scalar(select(AuditEntry).where(AuditEntry.action == "issue_bind_code"))
    assert entry is not None and entry.scope == "YX-004"


@pytest.mark.parametrize("spelling", ["绑定{c}", "绑定　{fw}", "{c}", "綁定 {c}", "绑定{spoken}。"])
async def test_every_way_of_sending_the_code(
    stack: Stack, clock: FixedClock, community: Community, spelling: str
) -> None:
    code = await code_for(stack)
    full_width = code.translate(str.maketrans("0123456789", "０１２３４５６７８９"))
    spoken = code.translate(str.maketrans("0123456789", "零一二三四五六七八九"))
    text = spelling.format(c=code, fw=full_width, spoken=spoken)
    if spelling.startswith("绑定{spoken}"):
        reply = (await person(stack, "o-voice").say(text)).text
    else:
        reply = (await person(stack, "o-voice").send(text)).text
    assert reply.startswith("绑定成功。王秀兰同志")


async def test_expired_and_wrong_codes(stack: Stack, clock: FixedClock, community: Community) -> None:
    code = await code_for(stack)
    clock.advance(timedelta(days=7, seconds=1).total_seconds())
    assert (await person(stack, "o-late").send(f"绑定 {code}")).text.startswith("绑定码无效或已过期")


async def test_five_failures_an_hour_then_locked(
    stack: Stack, clock: FixedClock, community: Community
) -> None:
    code = await code_for(stack)
    guesser = person(stack, "o-guess")
    for i in range(5):
        wrong = f"{(int(code) + 1 + i) % 1_000_000:06d}"
        assert (await guesser.send(f"绑定 {wrong}")).text.startswith("绑定码无效或已过期")
    assert (await guesser.send(f"绑定 {code}")).text == "尝试次数过多，请一小时后再试，或请书记帮您办理。"
    clock.advance(3601)
    assert (await guesser.send(f"绑定 {code}")).text.startswith("绑定成功")


async def test_name_requests_read_the_same_whether_or_not_they_match(
    stack: Stack, clock: FixedClock, community: Community
) -> None:
    real = await person(stack, "o-real").send("绑定 郑国平 8009")
    fake = await person(stack, "o-fake").send("绑定 郑国平 1111")
    nobody = await person(stack, "o-nobody").send("绑定 张三丰 1234")
    assert (
        real.text
        == fake.text
        == nobody.text
        == ("已收到您的绑定申请。书记核对后会为您开通；如信息不符，申请不会通过。")
    )
    secretary = person(stack, f"o-{SECRETARY}")
    assert (await secretary.send("待审")).text == (
        "待审核的绑定申请：\n1. 郑国平（第一网格党支部）\n回复“同意 姓名”或“拒绝 姓名”。"
    )
    assert (await secretary.send("同意 郑国平")).text.startswith("已同意郑国平同志的绑定申请")
    await services(stack.client).write_behind.flush()  # their allowances, recorded behind the replies
    await stack.worker.drain()
    # The secretary was told of the one request that matched; the applicant is told it was approved.
    told = [s.content["content"] for s in stack.sends(f"o-{SECRETARY}", api="custom")]
    assert told == ["有一条新的党员绑定申请等待审核，请回复“待审”查看。"]
    approved = [s.content.get("content") for s in stack.sends("o-real", api="custom")]
    # 郑国平 is 76: the notice is read aloud after the text (voice mode by age).
    assert approved[0] == "您的党员绑定申请已通过。郑国平同志，欢迎您。回复0查看菜单。"
    assert {s.msgtype for s in stack.sends("o-real", api="custom")[1:]} <= {"voice"}
    assert stack.sends("o-fake", api="custom") == stack.sends("o-nobody", api="custom") == []
    assert (await person(stack, "o-real").send("0")).text == MEMBER_MENU
    assert (await person(stack, "o-fake").send("0")).text.startswith("请回复数字：\n1 反映问题")


async def test_a_request_from_someone_else_in_another_branch_is_not_the_secretarys(
    stack: Stack, clock: FixedClock, community: Community
) -> None:
    await person(stack, "o-b2").send("绑定 刘洋 0000")  # no phone on file: nothing matches
    await person(stack, "o-b2b").send("绑定 王秀兰 8012")  # 第二网格: not 林晓梅's branch
    assert (await person(stack, f"o-{SECRETARY}").send("待审")).text == "目前没有待审核的绑定申请。"
    assert (await person(stack, f"o-{SECRETARY}").send("同意 王秀兰")).text.startswith(
        "没有找到王秀兰的待审核申请"
    )


async def test_two_people_with_one_name_are_told_apart_by_number(stack: Stack, clock: FixedClock) -> None:
    await seed(services(stack.client).db, bind=("YX-001",))  # the community secretary sees both branches
    await person(stack, "o-w1").send("绑定 王秀兰 8004")
    await person(stack, "o-w2").send("绑定 王秀兰 8012")
    boss = person(stack, "o-YX-001")
    text = (await boss.send("同意 王秀兰")).text
    assert text.startswith("有2位王秀兰，请回复序号选择：") and "YX-004" in text and "YX-012" in text
    assert (await boss.send("2")).text.startswith("已同意王秀兰同志的绑定申请")
    async with services(stack.client).db.read() as session:
        bound = await session.get(Binding, "o-w2")
        member = await session.get(Member, bound.member_id) if bound else None
    assert member is not None and member.number == "YX-012"


async def test_a_wrong_format_gets_the_format_and_an_example(
    stack: Stack, clock: FixedClock, community: Community
) -> None:
    text = (await person(stack, "o-x").send("绑定 张三 12")).text
    assert text == (
        "没能识别。请发送“绑定 姓名 手机号后四位”，例如：绑定 王秀兰 1234。\n"
        "也可以发送书记给您的6位绑定码，例如：绑定 482913。"
    )


async def test_the_menu_item_guides_through_binding(
    stack: Stack, clock: FixedClock, community: Community
) -> None:
    user = person(stack, "o-guided")
    assert (await user.send("3")).text.startswith("请发送书记给您的6位绑定码")
    assert (await user.send("郑国平 8009")).text.startswith("已收到您的绑定申请")


async def test_a_personal_qr_code_binds_once(stack: Stack, clock: FixedClock, community: Community) -> None:
    binder = services(stack.client).binder
    assert binder is not None
    token = (
        await binder.issue_qr_token(Person.member(community.ids["YX-009"]), "cli:test", clock.now())
    ).secret
    assert "YX" not in token
    first = await person(stack, "o-scan").event("subscribe", EventKey=f"qrscene_{token}", Ticket="T")
    assert first.text.startswith("绑定成功。郑国平同志")
    again = await person(stack, "o-scan2").event("SCAN", EventKey=token, Ticket="T")
    assert again.text == "这个二维码已失效，请联系书记重新生成。"


async def test_one_openid_one_person(stack: Stack, clock: FixedClock, community: Community) -> None:
    code = await code_for(stack, "郑国平")
    # Someone already bound (the secretary) cannot bind a second person to their WeChat.
    assert (await person(stack, f"o-{SECRETARY}").send(f"绑定 {code}")).text.startswith(
        "您已经绑定了党员身份"
    )
    mine = await code_for(stack, "郑国平")
    bound = person(stack, "o-zheng")
    assert (await bound.send(f"绑定 {mine}")).text.startswith("绑定成功")
    # A second WeChat cannot bind him by asking: the secretary approves, and he is taken.
    await person(stack, "o-zheng2").send("绑定 郑国平 8009")
    secretary = person(stack, f"o-{SECRETARY}")
    assert (await secretary.send("同意 郑国平")).text == "郑国平同志已绑定其他微信，这次申请没有生效。"


async def test_a_code_for_someone_bound_says_so_and_moves_the_binding(
    stack: Stack, clock: FixedClock, community: Community
) -> None:
    old = person(stack, "o-zheng-old-phone")
    assert (await old.send(f"绑定 {await code_for(stack, '郑国平')}")).text.startswith("绑定成功")
    issued = (await person(stack, f"o-{SECRETARY}").send("绑定码 郑国平")).text
    assert issued.endswith("\n郑国平同志已绑定微信；用这个码绑定会把绑定换到新的微信上。")
    new = person(stack, "o-zheng-new-phone")
    code = issued.split("绑定码：")[1].split("\n")[0]
    assert (await new.send(f"绑定 {code}")).text.startswith("绑定成功。郑国平同志")
    assert (await new.send("我的信息")).text.startswith("郑国平同志的信息")
    # The old WeChat is nobody now: its binding is gone, not shared.
    assert (await old.send("0")).text.startswith("请回复数字：\n1 反映问题")
    async with services(stack.client).db.read() as session:
        assert await session.get(Binding, "o-zheng-old-phone") is None
        moved = await session.get(Binding, "o-zheng-new-phone")
    assert moved is not None and moved.member_id == community.ids["YX-009"]


async def test_unfollowing_unbinds_and_keeps_the_roster(
    stack: Stack, clock: FixedClock, community: Community
) -> None:
    code = await code_for(stack)
    wang = person(stack, "o-leaving")
    await wang.send(f"绑定 {code}")
    await wang.event("unsubscribe")
    async with services(stack.client).db.read() as session:
        assert await session.get(Binding, "o-leaving") is None
        assert await session.scalar(select(func.count()).select_from(Member)) == 9
    clock.advance(1)
    assert (await wang.send("0")).text.startswith("请回复数字：\n1 反映问题")


async def test_voice_mode_is_the_members_choice(
    stack: Stack, clock: FixedClock, community: Community
) -> None:
    code = await code_for(stack)
    wang = person(stack, "o-wang")
    await wang.send(f"绑定 {code}")
    assert (await wang.send("语音模式 关")).text.startswith("已关闭语音通知")
    assert "语音通知：关" in (await wang.send("我的信息")).text
    async with services(stack.client).db.read() as session:
        member = await session.get(Member, community.ids["YX-004"])
    assert member is not None and member.voice_mode is False and member.chat_preferences == ["voice_mode"]
