"""The mass-send quota is precious (4 a member a month, shared by every secretary): only announcements use it,
only for members no other push reaches, a branch's announcement leaves the community's reserve, and the
preview — in chat and in `partybot broadcast`, counted by the same rule as the worker — says who waits. Long
announcements say so and go as several messages; the chat and the CLI count an audience alike."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from click.testing import CliRunner
from sqlalchemy import select

from bot.cli import main
from bot.clock import FixedClock
from bot.outbound.notices import Channel, notify_members
from models import Notice, OutboxRow
from tests.community import BRANCH1
from tests.conftest import Stack, StackFactory
from tests.helpers import flush, services
from tests.test_cli_outbound import env
from tests.test_outbound import BODY, community
from tests.wechat import ThroughFake

OTHER = "下周三下午2点在社区党群服务中心召开党员大会，请全体党员准时参加。"
# About 700 characters in sentences: more than one message holds (~2048 bytes), three at most.
LONG = "【议程】" + "".join(
    f"第{i}项，请各位同志提前阅读学习材料，按时到场签到，会上依次发言交流体会。" for i in range(1, 25)
)


async def used_mass(stack: Stack, clock: FixedClock, openid: str, n: int) -> None:
    """This member has had n mass sends this month already (other secretaries' announcements). Stamped
    now by the wall clock as well as the test's, so that `partybot broadcast` (on the system clock) counts
    them in its month too."""
    at = max(clock.now() - timedelta(days=5), datetime.now(UTC))

    def write(session: Any) -> None:
        for i in range(n):
            session.add(
                OutboxRow(
                    idempotency_key=f"earlier-mass-{openid}-{i}",
                    openid=openid,
                    kind="notice",
                    channel=Channel.MASS_SEND.value,
                    status="sent",
                    payload={},
                    created_at=at,
                    updated_at=at,
                )
            )

    await services(stack.client).db.run(write)


async def rows_of(stack: Stack, text_part: str) -> dict[int, OutboxRow]:
    """The notice rows of the announcement whose text contains text_part, by member id."""
    async with services(stack.client).db.read() as session:
        notice_id = await session.scalar(select(Notice.id).where(Notice.text.contains(text_part)))
        rows = (
            await session.scalars(
                select(OutboxRow).where(OutboxRow.notice_id == notice_id, OutboxRow.kind == "notice")
            )
        ).all()
    return {row.member_id or 0: row for row in rows}


def broadcast(database_url: str, org: str, text: str) -> str:
    """`partybot broadcast`, answered "n": what the secretary at the terminal reads."""
    result = CliRunner().invoke(
        main, ["broadcast", "--org", org, "--text", text], env=env(database_url), input="n\n"
    )
    assert result.exit_code == 0, result.output
    return result.output


async def test_a_branch_announcement_leaves_the_communitys_reserve(
    make_stack: StackFactory, clock: FixedClock, database_url: str
) -> None:
    stack = await make_stack()
    people = await community(stack)  # nobody has written: no customer-service window is open
    ids = people.ids
    await used_mass(stack, clock, "o-YX-007", 3)  # 李文博: one left, the community's reserve
    await used_mass(stack, clock, "o-YX-004", 2)  # 王秀兰: two left

    leader = ThroughFake(stack, "o-YX-002")  # 林晓梅, 第一网格党支部书记
    shown = (await leader.send(f"公告 {BODY}")).text
    note = "其中 1 人本月群发次数已用完，将等其下次发消息时送达。"
    assert f"\n{note}\n" in shown
    # `partybot broadcast` to the same unit counts the same audience, and the same member waiting.
    cli = await asyncio.to_thread(broadcast, database_url, BRANCH1, BODY)
    assert "将发送给：第一网格党支部，共 5 人（" in cli and note in cli
    assert shown.startswith("将发送给：第一网格党支部，共 5 人（含您本人，不另发给您；")
    await leader.send("确认")
    await stack.worker.drain()
    rows = await rows_of(stack, BODY)
    assert (rows[ids["YX-007"]].status, rows[ids["YX-007"]].channel) == ("waiting-next-reply", "next_reply")
    assert (rows[ids["YX-004"]].status, rows[ids["YX-004"]].channel) == ("sent", "mass_send")
    assert (rows[ids["YX-006"]].status, rows[ids["YX-006"]].channel) == ("sent", "mass_send")
    assert {s.openid for s in stack.sends(api="mass")} == {"o-YX-004", "o-YX-006"}

    # The community's own announcement may use the reserve: 李文博 gets his fourth.
    secretary = ThroughFake(stack, "o-YX-001")  # 周建国, 社区党委书记
    shown = (await secretary.send(f"公告 {OTHER}")).text
    await flush(stack.client)
    assert "群发次数已用完" not in shown
    await secretary.send("确认")
    await stack.worker.drain()
    rows = await rows_of(stack, OTHER)
    assert (rows[ids["YX-007"]].status, rows[ids["YX-007"]].channel) == ("sent", "mass_send")
    assert (rows[ids["YX-004"]].status, rows[ids["YX-004"]].channel) == ("sent", "mass_send")
    assert rows[ids["YX-002"]].channel == "customer_service"  # she wrote: her window is open
    # Now 李文博's and 王秀兰's months are spent, for the community too.
    shown = (await secretary.send(f"公告 {BODY}再次提醒。")).text
    assert "其中 2 人本月群发次数已用完" in shown


async def test_two_announcements_in_one_batch_share_a_members_quota(
    make_stack: StackFactory, clock: FixedClock
) -> None:
    stack = await make_stack()
    people = await community(stack)
    await used_mass(stack, clock, "o-YX-004", 2)  # one left for a branch's announcement
    leader = ThroughFake(stack, "o-YX-002")
    for text in (BODY, OTHER):
        await leader.send(f"公告 {text}")
        await leader.send("确认")
    await stack.worker.drain()  # both announcements' rows are routed in the same batch
    first, second = (await rows_of(stack, BODY)), (await rows_of(stack, OTHER))
    member = people.ids["YX-004"]
    assert sorted([first[member].channel or "", second[member].channel or ""]) == ["mass_send", "next_reply"]
    assert len(stack.sends("o-YX-004", api="mass")) == 1


async def test_system_and_scheduled_notices_never_use_mass_send(
    make_stack: StackFactory, clock: FixedClock
) -> None:
    stack = await make_stack()
    people = await community(stack)  # a service account, no template configured, every window closed
    db = services(stack.client).db
    members = [people.ids[n] for n in ("YX-002", "YX-003", "YX-004", "YX-006", "YX-007", "YX-012", "YX-013")]
    await notify_members(
        db, clock.now(), key="theme_day:2026-11", text="【主题党日】11月25日上午9点。", member_ids=members
    )
    # An alert a member's voice message raises for their secretary is a system notice too.
    await ThroughFake(stack, "o-YX-004").say(None)
    await stack.worker.drain()
    await stack.fake.settle()
    assert stack.sends(api="mass") == []
    async with db.read() as session:
        rows = (await session.scalars(select(OutboxRow).where(OutboxRow.kind == "notice"))).all()
    assert rows and {(r.status, r.channel) for r in rows} == {("waiting-next-reply", "next_reply")}


async def test_with_a_template_an_announcement_is_not_mass_sent(make_stack: StackFactory) -> None:
    stack = await make_stack(notice_template_id="TPL-NOTICE")
    await community(stack)
    secretary = ThroughFake(stack, "o-YX-001")
    shown = (await secretary.send(f"公告 {BODY}")).text
    assert "群发次数" not in shown  # nobody would be mass-sent it
    await secretary.send("确认")
    await stack.worker.drain()
    assert stack.sends(api="mass") == []
    members = {f"o-{n}" for n in ("YX-002", "YX-003", "YX-004", "YX-006", "YX-007", "YX-012", "YX-013")}
    assert members <= {s.openid for s in stack.sends(api="template")}


async def test_a_long_announcement_says_so_and_goes_in_parts(
    make_stack: StackFactory, clock: FixedClock
) -> None:
    stack = await make_stack()
    people = await community(stack)
    await ThroughFake(stack, "o-YX-007").send("你好")  # 李文博 wrote: his window is open
    await flush(stack.client)
    leader = ThroughFake(stack, "o-YX-002")
    shown = (await leader.send(f"公告 {LONG}")).text
    assert (
        f"\n公告较长（约{len('【第一网格党支部通知】' + LONG)}字），超过一条消息的长度，将分为2条发送"
        in shown
    )
    await leader.send("确认")
    await stack.worker.drain()

    # Inside the window: two customer-service messages, each within what a text message holds.
    texts = [s.content["content"] for s in stack.sends("o-YX-007", api="custom") if s.msgtype == "text"]
    assert len(texts) == 2 and all(len(t.encode()) <= 2048 for t in texts)
    assert texts[0].startswith("【第一网格党支部通知】【议程】第1项") and texts[0].endswith(
        "（第1条，共2条）"
    )
    assert texts[1].endswith(
        "第24项，请各位同志提前阅读学习材料，按时到场签到，会上依次发言交流体会。（第2条，共2条）"
    )
    assert "".join(t.rsplit("（", 1)[0] for t in texts) == f"【第一网格党支部通知】{LONG}"
    # Outside it: never a mass send (two parts would be two of the month's four); the next reply carries
    # the first part, and the rest follows as soon as that message opened the window.
    assert stack.sends(api="mass") == []
    reply = (await ThroughFake(stack, "o-YX-006").send("你好")).text  # 孙丽娟
    assert (
        reply.startswith("您有1条新通知：\n【第一网格党支部通知】【议程】第1项")
        and "（第1条，共2条）" in reply
    )
    await flush(stack.client)
    clock.advance(5)
    await stack.worker.drain()
    (rest,) = [s.content["content"] for s in stack.sends("o-YX-006", api="custom")]
    assert rest.endswith("（第2条，共2条）")
    rows = await rows_of(stack, LONG)
    assert rows[people.ids["YX-006"]].status == "sent" and rows[people.ids["YX-007"]].status == "sent"

    # Longer than three messages: refused, with the limit.
    refused = (await leader.send(f"公告 {LONG * 3}")).text
    assert f"公告太长了（{len(LONG * 3)}字）。请控制在1300字以内" in refused
