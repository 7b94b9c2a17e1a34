"""A grid worker (网格员) binds WeChat as a member does: a code from `partybot staff bind-code` or from the
secretary's `绑定码 姓名`, or a personal QR code; a member who is also a grid worker has one binding with both
roles; a code for someone already bound moves their binding."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.cli import main
from bot.domain.policy import Role
from models import AuditEntry, Binding, Member, Staff
from tests.community import BRANCH1, GROUP1, Community, seed
from tests.conftest import APPID, DATA_KEY, SECRET, T0, Stack, StackFactory
from tests.helpers import services
from tests.wechat import TOKEN, ThroughFake

SECRETARY = "YX-002"  # 林晓梅, 书记 of 第一网格党支部
OTHER_SECRETARY = "YX-003"  # 陈志强, 书记 of 第二网格党支部
WELCOME = (
    "绑定成功。韩磊，您是第一网格党支部的网格员。\n"
    "我们只保存您的微信与网格员名单的对应关系，用于转交居民反映的问题和发送工作通知；不收集身份证号；"
    "手机号加密保存。取消关注即解除绑定。\n"
    "回复0查看菜单。"
)


@pytest.fixture
async def stack(make_stack: StackFactory) -> Stack:
    return await make_stack()


@pytest.fixture
async def community(stack: Stack) -> Community:
    db = services(stack.client).db
    found = await seed(db, bind=(SECRETARY, OTHER_SECRETARY))

    def add(session: Session) -> None:
        # 韩磊, 网格员 of 第一网格党支部, not bound to any WeChat yet.
        session.add(
            Staff(
                number="WG-01",
                name="韩磊",
                role="网格员",
                unit_id=found.units[BRANCH1],
                created_at=T0,
                updated_at=T0,
            )
        )

    await db.run(add)
    return found


def person(stack: Stack, openid: str) -> ThroughFake:
    return ThroughFake(stack, openid)


def code_in(text: str) -> str:
    found = re.search(r"绑定码：(\d{6})", text)
    assert found is not None, text
    return found.group(1)


async def cli(stack: Stack, database_url: str, *args: str) -> Result:
    """`partybot …` as an operator runs it, against this test's database and the fake WeChat API (in a
    thread: the command runs its own event loop while this one serves the fake)."""
    env = {
        "PARTYBOT_DATABASE_URL": database_url,
        "PARTYBOT_WECHAT_TOKEN": TOKEN,
        "PARTYBOT_DATA_KEY": DATA_KEY,
        "PARTYBOT_WECHAT_APPID": APPID,
        "PARTYBOT_WECHAT_SECRET": SECRET,
        "PARTYBOT_WECHAT_ACCOUNT": "service",
        "PARTYBOT_WECHAT_API_BASE": str(stack.fake_client.make_url("")).rstrip("/"),
    }
    return await asyncio.to_thread(CliRunner().invoke, main, list(args), env=env)


async def binding_of(stack: Stack, openid: str) -> Binding | None:
    async with services(stack.client).db.read() as session:
        return await session.get(Binding, openid)


async def staff_id(stack: Stack) -> int:
    async with services(stack.client).db.read() as session:
        found = await session.scalar(select(Staff.id).where(Staff.number == "WG-01"))
    assert found is not None
    return found


async def test_a_grid_worker_binds_with_a_code_from_the_command_line(
    stack: Stack, community: Community, database_url: str
) -> None:
    issued = await cli(stack, database_url, "staff", "bind-code", "WG-01")
    assert issued.exit_code == 0, issued.output
    assert issued.output.startswith("韩磊（WG-01）的绑定码：") and "已绑定微信" not in issued.output
    han = person(stack, "o-han")
    assert (await han.send(f"绑定 {code_in(issued.output)}")).text == WELCOME
    assert (await services(stack.client).identities.lookup("o-han")).roles == {Role.GRID_WORKER}
    bound = await binding_of(stack, "o-han")
    assert bound is not None and (bound.member_id, bound.staff_id) == (None, await staff_id(stack))
    async with services(stack.client).db.read() as session:
        entry = await session.scalar(select(AuditEntry).where(AuditEntry.action == "issue_bind_code"))
    assert entry is not None and entry.scope == "WG-01" and entry.actor.startswith("cli:")
    assert entry.detail == {"person": "staff"}
    # Single use, as a member's.
    assert (await person(stack, "o-other").send(f"绑定 {code_in(issued.output)}")).text.startswith(
        "绑定码无效或已过期"
    )
    unknown = await cli(stack, database_url, "staff", "bind-code", "WG-99")
    assert unknown.exit_code == 2 and unknown.output == "partybot: 没有编号为 WG-99 的在册网格员。\n"


async def test_the_secretary_issues_a_grid_workers_code_in_chat_within_her_scope(
    stack: Stack, community: Community
) -> None:
    issued = (await person(stack, f"o-{SECRETARY}").send("绑定码 韩磊")).text
    assert issued.startswith("网格员韩磊的绑定码：") and issued.endswith(
        "让其发送“绑定 " + code_in(issued) + "”。"
    )
    assert (await person(stack, "o-han").send(code_in(issued))).text == WELCOME
    async with services(stack.client).db.read() as session:
        entry = await session.scalar(select(AuditEntry).where(AuditEntry.action == "issue_bind_code"))
    assert entry is not None and (entry.scope, entry.actor) == ("WG-01", f"member:{SECRETARY}")
    # 韩磊's grid is not 第二网格党支部's.
    other = (await person(stack, f"o-{OTHER_SECRETARY}").send("绑定码 韩磊")).text
    assert other == "在您负责的组织中没有找到韩磊。"


async def test_a_member_who_is_a_grid_worker_has_one_binding_with_both_roles(
    stack: Stack, community: Community
) -> None:
    db = services(stack.client).db

    def add(session: Session) -> None:
        session.add(
            Member(
                number="YX-020",
                name="韩磊",
                unit_id=community.units[GROUP1],
                status="正式",
                kind="在职",
                birth_year=1988,
                building="3号楼",
                door="2单元101",
                created_at=T0,
                updated_at=T0,
            )
        )

    await db.run(add)
    secretary = person(stack, f"o-{SECRETARY}")
    choice = (await secretary.send("绑定码 韩磊")).text
    assert choice == (
        "韩磊共有2条记录（党员和网格员各用各的绑定码），请回复序号选择：\n"
        "1. 韩磊（党员，YX-020，3号楼2单元101）\n"
        "2. 韩磊（网格员，WG-01，第一网格党支部）"
    )
    staff_code = code_in((await secretary.send("2")).text)
    await secretary.send("绑定码 韩磊")
    member_code = code_in((await secretary.send("1")).text)

    han = person(stack, "o-han")
    assert (await han.send(f"绑定 {member_code}")).text.startswith("绑定成功。韩磊同志，您属于1号楼党小组。")
    # Bound as a member now: the bare six digits are not taken for a code, 绑定 + the code is.
    assert not (await han.send(staff_code)).text.startswith("绑定成功")
    assert (await han.send(f"绑定 {staff_code}")).text == WELCOME
    bound = await binding_of(stack, "o-han")
    async with db.read() as session:
        member_id = await session.scalar(select(Member.id).where(Member.number == "YX-020"))
    assert bound is not None and (bound.member_id, bound.staff_id) == (member_id, await staff_id(stack))
    # Both roles: the member's own record (the member's menu), and a grid worker's.
    assert (await services(stack.client).identities.lookup("o-han")).roles == {Role.MEMBER, Role.GRID_WORKER}
    assert (await han.send("我的信息")).text.startswith("韩磊同志的信息")
    again = (await secretary.send("绑定码 韩磊")).text
    assert again.startswith("韩磊共有2条记录")
    assert (await secretary.send("2")).text.endswith(
        "网格员韩磊已绑定微信；用这个码绑定会把绑定换到新的微信上。"
    )


async def test_a_code_is_for_its_person_not_for_whoever_is_bound(stack: Stack, community: Community) -> None:
    code = code_in((await person(stack, f"o-{SECRETARY}").send("绑定码 韩磊")).text)
    # 林晓梅 is bound as a member: 韩磊's code does not make her WeChat his as well.
    refused = (await person(stack, f"o-{SECRETARY}").send(f"绑定 {code}")).text
    assert (
        refused
        == "您的微信已绑定林晓梅。这个码是为另一个人生成的，一个微信只能绑定一个人。如有疑问，请联系书记。"
    )
    hers = await binding_of(stack, f"o-{SECRETARY}")
    assert hers is not None and hers.staff_id is None
    # The code is still his.
    assert (await person(stack, "o-han").send(f"绑定 {code}")).text == WELCOME
    # A grid worker bound already is told so in a grid worker's words.
    second = code_in((await person(stack, f"o-{SECRETARY}").send("绑定码 韩磊")).text)
    assert (await person(stack, "o-han").send(second)).text == "您已经绑定了网格员身份。回复0查看菜单。"


async def test_a_personal_qr_code_for_a_grid_worker_and_a_code_moving_his_binding(
    stack: Stack, community: Community, database_url: str
) -> None:
    made = await cli(stack, database_url, "staff", "bind-qr", "WG-01")
    assert made.exit_code == 0, made.output
    url = made.stdout.strip()
    assert url.startswith("http://weixin.qq.com/q/") and "WG-01" not in url
    assert made.stderr.startswith("韩磊（WG-01）的绑定二维码（30天内有效")
    scene = stack.fake.qrcodes[url.rsplit("/", 1)[1]]
    assert "WG" not in scene
    old = person(stack, "o-han-old")
    assert (await old.event("subscribe", EventKey=f"qrscene_{scene}")).text == WELCOME
    resident_menu = "请回复数字：\n1 反映问题（报修"
    assert not (await old.send("0")).text.startswith(resident_menu)  # his identity, now cached
    async with services(stack.client).db.read() as session:
        entry = await session.scalar(select(AuditEntry).where(AuditEntry.action == "issue_bind_qr"))
    assert entry is not None and entry.scope == "WG-01"

    # A new phone: the operator is told he is bound, and the code moves the binding.
    issued = await cli(stack, database_url, "staff", "bind-code", "WG-01")
    assert issued.exit_code == 0, issued.output
    assert issued.output.splitlines()[1] == "网格员韩磊已绑定微信；用这个码绑定会把绑定换到新的微信上。"
    again = await cli(stack, database_url, "staff", "bind-qr", "WG-01")
    assert "网格员韩磊已绑定微信；扫这个二维码绑定会把绑定换到新的微信上。" in again.stderr
    new = person(stack, "o-han-new")
    assert (await new.send(f"绑定 {code_in(issued.output)}")).text == WELCOME
    assert await binding_of(stack, "o-han-old") is None
    moved = await binding_of(stack, "o-han-new")
    assert moved is not None and moved.staff_id == await staff_id(stack)
    # The old WeChat is a resident again (its identity is not served from the cache).
    assert (await old.send("0")).text.startswith(resident_menu)


async def test_a_member_code_from_the_command_line_says_the_member_is_bound(
    stack: Stack, community: Community, database_url: str
) -> None:
    issued = await cli(stack, database_url, "members", "bind-code", SECRETARY)
    assert issued.exit_code == 0, issued.output
    lines: list[Any] = issued.output.splitlines()
    assert lines[0].startswith("林晓梅（YX-002）的绑定码：")
    assert lines[1] == "林晓梅同志已绑定微信；用这个码绑定会把绑定换到新的微信上。"
    new = person(stack, "o-lin-new")
    assert (await new.send(f"绑定 {code_in(issued.output)}")).text.startswith("绑定成功。林晓梅同志")
    assert await binding_of(stack, f"o-{SECRETARY}") is None
    assert (await new.send("待审")).text == "目前没有待审核的绑定申请。"
