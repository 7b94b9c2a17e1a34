"""The policy, end to end: every role × every command so far, and lists scoped to the caller's subtree."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import select

from bot.clock import FixedClock
from bot.domain.policy import Action, Identity, Role, roles_for, scope, within
from models import AuditEntry
from tests.community import BRANCH1, BRANCH2, GROUP1, seed
from tests.helpers import services
from tests.wechat import WeChatUser

WHO = {
    "resident": "o-resident",
    "member": "o-YX-009",  # 郑国平, 第一网格党支部
    "group_leader": "o-YX-006",  # 孙丽娟, 组长 of 1号楼党小组
    "committee": "o-YX-007",  # 李文博, 委员 of 第一网格党支部
    "secretary": "o-YX-002",  # 林晓梅, 书记 of 第一网格党支部
    "grid_worker": "o-grid",  # 韩磊, 网格员 (not a member)
    "admin": "o-admin",
}

DENIED = "抱歉，您没有办理这项事务的权限。回复0返回菜单。"
# The way to bind, from the menu each person sees: item 3 for a resident; the words for others.
NOT_MEMBER = "这项服务需要先绑定党员身份。回复3开始绑定。"
NOT_MEMBER_NO_ITEM = "这项服务需要先绑定党员身份。请发送书记给您的绑定码，例如：绑定 482913。"

# command -> role -> what the answer starts with
MATRIX: dict[str, dict[str, str]] = {
    "帮助": {
        "resident": "请回复数字：\n1 反映问题（报修",
        "member": "郑国平同志，您好。\n请回复数字：\n1 学习园地",
        "group_leader": "孙丽娟同志，您好。\n请回复数字：\n1 学习园地",
        "committee": "李文博同志，您好。\n请回复数字：\n1 学习园地",
        "secretary": "林晓梅同志，您好。\n请回复数字：\n1 学习园地",
        "grid_worker": "韩磊，您好。\n请回复数字：\n1 待办诉求\n2 代居民反映问题\n3 我的信息\n0 菜单",
        "admin": "请回复数字：\n1 学习园地",
    },
    "我的信息": {
        "resident": NOT_MEMBER,
        "member": "郑国平同志的信息",
        "group_leader": "孙丽娟同志的信息",
        "committee": "李文博同志的信息",
        "secretary": "林晓梅同志的信息",
        "grid_worker": "韩磊的信息：\n岗位：网格员（银杏社区党委/第一网格党支部）",
        "admin": NOT_MEMBER_NO_ITEM,
    },
    "语音模式 开": {
        "resident": NOT_MEMBER,
        "member": "已开启语音通知",
        "group_leader": "已开启语音通知",
        "committee": "已开启语音通知",
        "secretary": "已开启语音通知",
        "grid_worker": NOT_MEMBER_NO_ITEM,
        "admin": NOT_MEMBER_NO_ITEM,
    },
    "成员": {
        "resident": DENIED,
        "member": DENIED,
        "grid_worker": DENIED,
        "group_leader": "1号楼党小组，共2人",
        "committee": "第一网格党支部，共5人",
        "secretary": "第一网格党支部，共5人",
        "admin": "青禾街道党工委，共9人",
    },
    "成员 第二网格党支部": {
        "resident": DENIED,
        "member": DENIED,
        "grid_worker": DENIED,
        "group_leader": "“第二网格党支部”不在您负责的范围内。",
        "committee": "“第二网格党支部”不在您负责的范围内。",
        "secretary": "“第二网格党支部”不在您负责的范围内。",
        "admin": "第二网格党支部，共3人",
    },
    "待审": {
        "resident": DENIED,
        "member": DENIED,
        "group_leader": DENIED,
        "committee": DENIED,
        "grid_worker": DENIED,
        "secretary": "目前没有待审核的绑定申请。",
        "admin": "目前没有待审核的绑定申请。",
    },
    "同意 郑国平": {
        "member": DENIED,
        "group_leader": DENIED,
        "committee": DENIED,
        "grid_worker": DENIED,
        "secretary": "没有找到郑国平的待审核申请",
        "admin": "没有找到郑国平的待审核申请",
        "resident": "抱歉，没能明白您的意思。",
    },
    "绑定码 刘洋": {  # 刘洋 is in 第二网格党支部
        "resident": DENIED,
        "member": DENIED,
        "group_leader": DENIED,
        "committee": DENIED,
        "grid_worker": DENIED,
        "secretary": "在您负责的组织中没有找到刘洋。",
        "admin": "刘洋同志的绑定码：",
    },
}


@pytest.fixture
async def community(client: TestClient[Any, Any]) -> None:
    await seed(
        services(client).db,
        bind=("YX-002", "YX-006", "YX-007", "YX-009"),
        admin="o-admin",
        grid_worker="o-grid",
    )


@pytest.mark.parametrize("command", list(MATRIX))
@pytest.mark.parametrize("role", list(WHO))
async def test_role_matrix(
    client: TestClient[Any, Any], clock: FixedClock, community: None, role: str, command: str
) -> None:
    expected = MATRIX[command][role]
    text = (await WeChatUser(client, clock, WHO[role]).send(command)).text
    assert text.startswith(expected), f"{role} {command!r}: {text!r}"


async def test_lists_are_masked_paged_and_audited(
    client: TestClient[Any, Any], clock: FixedClock, community: None
) -> None:
    secretary = WeChatUser(client, clock, WHO["secretary"])
    text = (await secretary.send("名单")).text
    assert "YX-004 王秀兰 1号楼党小组 138****8004" in text
    assert "13800138004" not in text and text.endswith("已是最后一页。回复0返回菜单。")
    async with services(client).db.read() as session:
        entry = await session.scalar(select(AuditEntry).where(AuditEntry.action == "list_members"))
    assert entry is not None and entry.scope == BRANCH1 and "YX-004" in entry.detail["members"]
    assert entry.actor == "member:YX-002"


async def test_a_long_list_pages(client: TestClient[Any, Any], clock: FixedClock) -> None:
    from sqlalchemy.orm import Session

    from models import Member

    db = services(client).db
    community = await seed(db, admin="o-admin")

    def many(session: Session) -> None:
        for i in range(14):
            session.add(
                Member(
                    number=f"ZZ-{i:03d}",
                    name=f"党员{i}",
                    unit_id=community.units[BRANCH2],
                    status="正式",
                    kind="在职",
                    created_at=clock.now(),
                    updated_at=clock.now(),
                )
            )

    await db.run(many)
    admin = WeChatUser(client, clock, "o-admin")
    first = (await admin.send("成员 第二网格党支部")).text
    assert first.startswith("第二网格党支部，共17人（第1/2页）") and first.endswith("回复“下一页”查看更多。")
    second = (await admin.send("下一页")).text
    assert second.startswith("第二网格党支部，共17人（第2/2页）") and second.count("\n") == 8


def test_policy_scopes() -> None:
    secretary = Identity(
        "o", roles_for(member_post="书记", is_member=True, is_staff=False, is_admin=False), unit_path=BRANCH1
    )
    assert scope(secretary, Action.LIST_MEMBERS) == BRANCH1
    assert within(GROUP1, BRANCH1) and not within(BRANCH2, BRANCH1)
    assert not within(BRANCH1 + "x", BRANCH1)  # a sibling whose name starts the same
    committee = Identity("o", roles_for(member_post="委员", is_member=True, is_staff=False, is_admin=False))
    assert scope(committee, Action.APPROVE_BINDING) is None
    admin = Identity("o", roles_for(member_post=None, is_member=False, is_staff=False, is_admin=True))
    assert scope(admin, Action.LIST_MEMBERS) == "" and admin.role == Role.ADMIN.value


async def test_a_committee_members_scope_is_their_branch(
    client: TestClient[Any, Any], clock: FixedClock
) -> None:
    """A 委员 listed on a 楼栋党小组 sits on the branch committee: 成员 lists the branch; a 委员 of the
    社区党委 (no branch above) their own unit; a 书记 listed on a group (a roster error) only the group."""
    from sqlalchemy.orm import Session

    from models import Binding, Member
    from tests.community import COMMUNITY

    db = services(client).db
    community = await seed(db)

    def add(session: Session) -> None:
        for number, name, unit, post in (
            ("YX-020", "赵敏", GROUP1, "委员"),
            ("YX-021", "钱进", COMMUNITY, "委员"),
            ("YX-022", "吴刚", GROUP1, "书记"),
        ):
            member = Member(
                number=number,
                name=name,
                unit_id=community.units[unit],
                post=post,
                status="正式",
                kind="在职",
                created_at=clock.now(),
                updated_at=clock.now(),
            )
            session.add(member)
            session.flush()
            session.add(
                Binding(openid=f"o-{number}", member_id=member.id, method="demo", bound_at=clock.now())
            )

    await db.run(add)
    on_group = WeChatUser(client, clock, "o-YX-020")
    # 第一网格党支部: 5 on the roster, and 赵敏 and 吴刚.
    assert (await on_group.send("成员")).text.startswith("第一网格党支部，共7人")
    assert (await on_group.send("成员 1号楼党小组")).text.startswith("1号楼党小组，共4人")
    assert (await on_group.send("成员 第二网格党支部")).text == "“第二网格党支部”不在您负责的范围内。"
    assert (await WeChatUser(client, clock, "o-YX-021").send("成员")).text.startswith("银杏社区党委，共12人")
    assert (await WeChatUser(client, clock, "o-YX-022").send("成员")).text.startswith("1号楼党小组，共4人")
    async with services(client).db.read() as session:
        entry = await session.scalar(
            select(AuditEntry).where(AuditEntry.action == "list_members", AuditEntry.actor == "member:YX-020")
        )
    assert entry is not None and entry.scope == BRANCH1
