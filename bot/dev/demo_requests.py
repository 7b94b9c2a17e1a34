"""The demo's 居民诉求 and 党员建议, filed in the past few days through the domain functions as the chat
would: in 第一网格 (网格员韩磊, WG-01) one ticket open and untaken, one taken with a 进展, one 办结 waiting
for its rating, one closed and rated 满意, and a neighbour dispute reopened after 不满意 (before the
community secretary); in 第二网格 (网格员蒋雪, WG-02) three residents reporting the same lift, merged. And
two members' suggestions: 王秀兰's answered by her secretary, 马成林's waiting for his. Run once, when the
demo community is seeded."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.content import load_content
from bot.domain import suggestions
from bot.domain.policy import Identity, roles_for
from bot.domain.privacy import Vault
from bot.domain.requests import (
    Classified,
    Handler,
    Reporter,
    RequestRules,
    file_ticket,
    find_place,
    handler_for_member,
    handler_for_staff,
    progress,
    rate,
    solve,
    take,
)
from bot.settings import Settings
from models import Member, OrgUnit, Staff
from models.db import Database

H = timedelta(hours=1)
D = timedelta(days=1)

# The demo's residents: not on any roster, they chat as `partybot chat --openid o-demo-res-1`.
DEMO_RESIDENTS = tuple(f"o-demo-res-{n}" for n in range(1, 9))
DEMO_RESIDENT_PHONE = "13700137003"  # o-demo-res-3's call-back number (the handler who took it may see it)


@dataclass(frozen=True, slots=True)
class Step:
    """One thing that happened to a ticket, `ago` before the demo started: who did it (a staff or member
    number, or the resident's openid) and how; `of` is the resident whose ticket it is (default: `who`)."""

    ago: timedelta
    verb: str  # file, take, progress, solve, rate
    who: str
    text: str = ""
    category: str = "物业维修"
    rating: int = 0
    of: str = ""


# In the order they happened (filing looks at what is open then: repeats and the 24-hour merge).
DEMO_STEPS: tuple[Step, ...] = (
    # A neighbour dispute: taken by 吴海燕 (矛盾调解岗), solved, rated 不满意 → reopened.
    Step(4 * D, "file", "o-demo-res-5", "1号楼楼上邻居每天半夜噪音扰民", "邻里纠纷"),
    Step(4 * D - 2 * H, "take", "YX-008", of="o-demo-res-5"),
    Step(2 * D, "solve", "YX-008", "已上门和楼上住户沟通，对方答应晚上十点后不再装修", of="o-demo-res-5"),
    Step(1 * D, "rate", "o-demo-res-5", "昨晚还是很吵", rating=3),
    # Closed and rated 满意.
    Step(3 * D, "file", "o-demo-res-4", "2号楼门口路灯不亮"),
    Step(3 * D - 1 * H, "take", "WG-01", of="o-demo-res-4"),
    Step(2 * D + 20 * H, "solve", "WG-01", "已更换灯泡", of="o-demo-res-4"),
    Step(2 * D + 18 * H, "rate", "o-demo-res-4", "修得很快，谢谢", rating=1),
    # 办结, waiting for the resident's rating.
    Step(30 * H, "file", "o-demo-res-3", "1号楼2单元楼道水管漏水"),
    Step(28 * H, "take", "WG-01", of="o-demo-res-3"),
    Step(3 * H, "solve", "WG-01", "已请物业更换水管接头", of="o-demo-res-3"),
    # Taken, with a 进展.
    Step(1 * D, "file", "o-demo-res-2", "3号楼楼道里杂物堆放，过不去人", "环境卫生"),
    Step(20 * H, "take", "WG-01", of="o-demo-res-2"),
    Step(6 * H, "progress", "WG-01", "已联系物业，本周六统一清理", of="o-demo-res-2"),
    # The same lift, three residents: one group in 第二网格, not yet taken.
    Step(5 * H, "file", "o-demo-res-6", "5号楼电梯坏了"),
    Step(4 * H, "file", "o-demo-res-7", "5号楼电梯又停了"),
    Step(3 * H, "file", "o-demo-res-8", "5号楼电梯不动了"),
    # Open, not yet taken.
    Step(2 * H, "file", "o-demo-res-1", "2号楼3单元楼道灯坏了好几天了"),
)
# Members' suggestions: (member, text, ago, the secretary who answered and how, or None: waiting).
DEMO_SUGGESTIONS: tuple[tuple[str, str, timedelta, tuple[str, str] | None], ...] = (
    (
        "YX-004",
        "建议在1号楼门口添几把长椅，方便老人歇脚",
        3 * D,
        ("YX-002", "已和物业商量好，下周在1号楼门口安装两把长椅"),
    ),
    ("YX-012", "建议每月组织一次党员志愿理发服务", 1 * D, None),
)


def _say() -> Any:
    content = load_content()
    return lambda key, **values: content.text(key, **values)


def _handler(session: Session, number: str) -> Handler:
    if number.startswith("WG-"):
        staff_id = session.scalar(select(Staff.id).where(Staff.number == number))
        found = handler_for_staff(session, int(staff_id or 0))
    else:
        member_id = session.scalar(select(Member.id).where(Member.number == number))
        found = handler_for_member(session, int(member_id or 0))
    if found is None:
        raise RuntimeError(f"the demo's {number} handles no tickets")
    return found


def _identity(session: Session, number: str) -> Identity:
    member = session.scalar(select(Member).where(Member.number == number))
    assert member is not None
    unit = session.get(OrgUnit, member.unit_id)
    return Identity(
        openid=f"o-demo-{number}",
        roles=roles_for(member_post=member.post, is_member=True, is_staff=False, is_admin=False),
        member_id=member.id,
        member_number=number,
        name=member.name,
        unit_path=unit.path if unit is not None else None,
    )


async def seed_requests(settings: Settings, now: datetime) -> dict[str, int]:
    """DEMO_STEPS and DEMO_SUGGESTIONS, each at its moment before `now`. Returns how many tickets and
    suggestions were filed."""
    assert settings.data_key is not None
    db = Database(settings.database_url)
    rules, say, vault = RequestRules.from_settings(settings), _say(), Vault(settings.data_key)

    def write(session: Session) -> dict[str, int]:
        tickets: dict[str, str] = {}  # a resident → their ticket (its group's first, when merged)
        for step in sorted(DEMO_STEPS, key=lambda s: -s.ago):
            at = now - step.ago
            if step.verb == "file":
                phone = vault.encrypt_phone(DEMO_RESIDENT_PHONE) if step.who == "o-demo-res-3" else None
                filed = file_ticket(
                    session,
                    at,
                    rules,
                    say,
                    Reporter(openid=step.who),
                    step.text,
                    Classified(step.category, False),
                    find_place(session, step.text),
                    phone_enc=phone,
                )
                tickets[step.who] = filed.merged_into or filed.number
            elif step.verb == "rate":
                rate(session, at, say, step.who, step.rating, step.text, tickets[step.who], rules=rules)
            elif step.verb == "take":
                take(session, at, say, _handler(session, step.who), tickets[step.of], rules=rules)
            elif step.verb == "progress":
                progress(session, at, say, _handler(session, step.who), tickets[step.of], step.text)
            elif step.verb == "solve":
                solve(session, at, say, _handler(session, step.who), tickets[step.of], step.text, rules=rules)
        filed_suggestions = 0
        for number, text, ago, answered in DEMO_SUGGESTIONS:
            member_id = session.scalar(select(Member.id).where(Member.number == number))
            made = suggestions.submit(session, now - ago, int(member_id or 0), text, say)
            filed_suggestions += 1
            if answered is not None:
                by, reply = answered
                suggestions.answer(
                    session, now - ago + 5 * H, _identity(session, by), made.number, reply, say
                )
        return {"tickets": len(tickets), "suggestions": filed_suggestions}

    try:
        return await db.run(write)
    finally:
        await db.dispose()
