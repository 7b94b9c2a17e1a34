"""双报到: an in-service member registers where they live, the community confirms, they choose posts."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from bot.clock import FixedClock
from bot.domain.privacy import Vault
from models import AuditEntry, DualReport, Member
from tests.community import seed
from tests.conftest import AES_KEY, DATA_KEY, Stack, StackFactory
from tests.helpers import services
from tests.wechat import ThroughFake


@pytest.fixture
async def stack(make_stack: StackFactory) -> Stack:
    return await make_stack(aes_key=AES_KEY)


async def register(user: ThroughFake) -> None:
    assert (await user.send("报到")).text.startswith("在职党员到社区报到（双报到）。我们会保存")
    assert (await user.send("张伟")).text.startswith("第2步")
    assert (await user.send("12345")).text.startswith("手机号应为11位")
    assert (await user.send("139 0013 8888")).text.startswith("第3步")
    assert (await user.send("青禾科技有限公司党支部")).text.startswith("第4步")
    assert (await user.send("5号楼")).text.startswith("第5步")
    confirm = (await user.send("2单元602")).text
    assert confirm.startswith("请核对：\n姓名：张伟\n手机：13900138888") and "5号楼2单元602" in confirm
    assert (await user.send("1")).text.startswith("已提交。社区书记确认后")


async def test_register_confirm_and_choose_posts(stack: Stack, clock: FixedClock) -> None:
    await seed(services(stack.client).db, bind=("YX-001",))
    worker = ThroughFake(stack, "o-inservice")
    await register(worker)
    assert (await worker.send("志愿岗位")).text == "您的报到还在等待社区确认，确认后再选择岗位。"
    async with services(stack.client).db.read() as session:
        report = await session.scalar(select(DualReport))
    assert report is not None and report.status == "pending"
    assert "13900138888" not in (report.phone_enc or "")
    assert Vault(DATA_KEY).decrypt_phone(report.phone_enc) == "13900138888"

    secretary = ThroughFake(stack, "o-YX-001")  # 周建国, 社区党委书记
    listing = (await secretary.send("报到审核")).text
    assert "1. 张伟 139****8888 青禾科技有限公司党支部 5号楼2单元602 等待社区确认 未选岗位" in listing
    assert (await secretary.send("确认 张伟")).text == "已确认张伟同志的报到。"
    await services(stack.client).write_behind.flush()
    await stack.worker.drain()
    # The community secretary was told of the registration; the registrant is told it was confirmed.
    assert [s.content["content"] for s in stack.sends("o-YX-001", api="custom")] == [
        "有一位在职党员到社区报到（双报到），请回复“报到审核”查看。"
    ]
    assert [s.content["content"] for s in stack.sends("o-inservice", api="custom")] == [
        "您的社区报到已确认，谢谢您。请回复“志愿岗位”选择1至2个志愿岗位。"
    ]

    posts = (await worker.send("志愿岗位")).text
    assert posts.startswith("请选择1至2个志愿岗位") and "1 义务巡逻岗" in posts
    assert (await worker.send("1 2 3")).text == "请回复1至2个序号，例如：1 3。"
    assert (await worker.send("1 3")).text == "已选择：义务巡逻岗、扶贫帮困岗。谢谢您！"
    assert "已确认 义务巡逻岗、扶贫帮困岗" in (await secretary.send("报到名单")).text
    async with services(stack.client).db.read() as session:
        actions = (await session.scalars(select(AuditEntry.action))).all()
    assert "list_dual_reports" in actions and "confirm_dual_report" in actions


async def test_registration_can_be_left_and_is_not_repeated(stack: Stack, clock: FixedClock) -> None:
    await seed(services(stack.client).db)
    user = ThroughFake(stack, "o-quit")
    await user.send("报到")
    await user.send("张伟")
    assert (await user.send("0")).text.startswith("已退出当前操作。")
    other = ThroughFake(stack, "o-twice")
    await register(other)
    assert (await other.send("报到")).text == "您已经提交过报到信息（等待社区确认）。发送“志愿岗位”选择岗位。"


async def test_a_branch_secretary_does_not_see_registrations_outside_the_branch(
    stack: Stack, clock: FixedClock
) -> None:
    await seed(services(stack.client).db, bind=("YX-002",))
    await register(ThroughFake(stack, "o-inservice"))
    assert (await ThroughFake(stack, "o-YX-002").send("报到审核")).text == "目前没有报到记录。"


async def test_a_roster_member_chooses_posts_in_chat(stack: Stack, clock: FixedClock) -> None:
    community = await seed(services(stack.client).db, bind=("YX-009",))
    member = ThroughFake(stack, "o-YX-009")
    await member.send("志愿岗位")
    assert (await member.send("六")).text == "已选择：环境卫生岗。谢谢您！"
    async with services(stack.client).db.read() as session:
        row = await session.get(Member, community.ids["YX-009"])
    assert (
        row is not None
        and row.volunteer_posts == ["环境卫生岗"]
        and "volunteer_posts" in row.chat_preferences
    )
