"""The outbound engine end to end: a secretary's 公告 through the fake WeChat, every member reached once by
the best open channel, voice for elderly members, helpers who relay, 公告状态, and WeChat's job reports."""

from __future__ import annotations

import shutil
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select, update

from bot.app import CONTENT, SETTINGS
from bot.clock import FixedClock
from bot.outbound.notices import Channel
from bot.settings import AccountKind
from bot.voice.speech import AmrEncoder
from models import EarlyJobReport, Notice, NoticeClip, OutboxRow, WeChatUser
from scheduler.jobs import JobDeps, job_named
from tests.community import seed
from tests.conftest import Stack, StackFactory, require
from tests.helpers import flush, services
from tests.wechat import ThroughFake

BODY = "本周六上午9点在社区党群服务中心开展垃圾分类志愿服务，请有空的同志参加。"
BOUND = ("YX-001", "YX-002", "YX-003", "YX-004", "YX-006", "YX-007", "YX-012", "YX-013")


def voice_tools() -> None:
    require("espeak-ng", shutil.which("espeak-ng") is not None, "apt-get install espeak-ng")
    require("ffmpeg", shutil.which("ffmpeg") is not None, "apt-get install ffmpeg libavcodec-extra")


async def outbox(stack: Stack, kind: str = "notice") -> dict[int, OutboxRow]:
    async with services(stack.client).db.read() as session:
        rows = (await session.scalars(select(OutboxRow).where(OutboxRow.kind == kind))).all()
    return {row.member_id or 0: row for row in rows}


def notice_texts(stack: Stack, openid: str) -> list[Any]:
    """Every message that carried the announcement to this user, whatever the channel."""
    found = []
    for send in stack.sends(openid):
        text = str(send.content.get("content") or send.content.get("Content") or "")
        if BODY in text and "请转告" not in text:
            found.append(send)
    return found


async def community(stack: Stack) -> Any:
    db = services(stack.client).db
    people = await seed(db, bind=BOUND)
    # WeChat knows its followers: everyone bound has followed the account at some point.
    stack.fake.follow([f"o-{n}" for n in BOUND])
    return people


async def set_window(stack: Stack, openid: str, left: int) -> None:
    statement = update(WeChatUser).where(WeChatUser.openid == openid).values(window_left=left)
    await services(stack.client).db.run(lambda session: session.execute(statement))
    stack.fake.user(openid).window = stack.fake.user(openid).window.__class__(
        stack.fake.user(openid).window.kind, stack.fake.user(openid).window.expires_at, left
    )


async def test_a_broadcast_reaches_each_member_once_by_the_best_open_channel(
    make_stack: StackFactory, clock: FixedClock
) -> None:
    voice_tools()
    require(
        "ffmpeg's AMR-NB encoder", await AmrEncoder().has_amr_encoder(), "apt-get install libavcodec-extra"
    )
    stack = await make_stack()
    people = await community(stack)
    # Allowance states: 林晓梅, 王秀兰 (voice) and 孙丽娟 wrote today; 李文博 wrote but his allowance is used
    # up; 陈志强 and the other 王秀兰 (voice) have not written; 刘洋 has had 4 mass sends this month.
    for number in ("YX-002", "YX-004", "YX-006", "YX-007", "YX-013"):
        await ThroughFake(stack, f"o-{number}").send("你好")
    await flush(stack.client)
    await set_window(stack, "o-YX-007", 0)
    await set_window(stack, "o-YX-013", 0)
    db = services(stack.client).db

    def used_cap(session: Any) -> None:
        for i in range(4):
            session.add(
                OutboxRow(
                    idempotency_key=f"earlier-mass-{i}",
                    openid="o-YX-013",
                    kind="notice",
                    channel=Channel.MASS_SEND.value,
                    status="sent",
                    payload={},
                    created_at=clock.now(),
                    updated_at=clock.now() - timedelta(days=3),
                )
            )

    await db.run(used_cap)
    before = len(stack.fake.sends)

    secretary = ThroughFake(stack, "o-YX-001")  # 周建国, 社区党委书记
    shown = (await secretary.send(f"公告 {BODY}")).text
    # The audience is the unit's 9 members, as `partybot broadcast` counts them; the sender gets no copy.
    assert shown.startswith(
        "将发送给：银杏社区党委，共 9 人（含您本人，不另发给您；其中 2 人同时收到语音；1 人未绑定微信"
    )
    assert "回复“确认”发送" in shown and "2 只发第一网格党支部" in shown and "只发在职党员" in shown
    # 刘洋's month has no mass send left: he gets it at his next message.
    assert "\n其中 1 人本月群发次数已用完，将等其下次发消息时送达。\n" in shown
    assert (
        await secretary.send("确认")
    ).text == "已开始发送（共 8 人，不含您本人）。回复“公告状态”查看发送情况。"
    await stack.worker.drain()
    await stack.fake.settle()

    rows = await outbox(stack)
    ids = people.ids
    by_member = {number: rows[ids[number]] for number in ids if ids[number] in rows}
    assert ids["YX-001"] not in rows  # the sender is not sent their own announcement
    assert {n: (r.status, r.channel) for n, r in by_member.items()} == {
        "YX-002": ("sent", "customer_service"),
        "YX-003": ("sent", "mass_send"),
        "YX-004": ("sent", "customer_service"),
        "YX-006": ("sent", "customer_service"),
        "YX-007": ("sent", "mass_send"),
        "YX-009": ("relayed", "relay"),
        "YX-012": ("sent", "mass_send"),
        "YX-013": ("waiting-next-reply", "next_reply"),
    }
    # Reached exactly once each (so far 7: 刘洋's waits for his next message).
    for number in ("YX-002", "YX-003", "YX-004", "YX-006", "YX-007", "YX-012"):
        assert len(notice_texts(stack, f"o-{number}")) == 1, number
    assert notice_texts(stack, "o-YX-013") == []
    # The elderly member in the window got the text, then the same notice read aloud.
    mine = [s for s in stack.fake.sends[before:] if s.openid == "o-YX-004"]
    assert mine[0].msgtype == "text" and mine[0].content["content"].startswith("【银杏社区党委通知】")
    assert [s.msgtype for s in mine[1:]] and {s.msgtype for s in mine[1:]} == {"voice"}
    assert by_member["YX-004"].voice_clips_sent == len(mine) - 1
    # One mass send for the three outside the allowance, with a clientmsgid; WeChat's report is kept.
    mass = stack.sends(api="mass")
    assert {s.openid for s in mass} == {"o-YX-003", "o-YX-007", "o-YX-012"}
    await stack.fake.settle()  # WeChat's MASSSENDJOBFINISH report is pushed to the webhook after the send
    async with db.read() as session:
        notice = await session.scalar(select(Notice))
    assert notice is not None
    (report,) = notice.mass_reports.values()
    assert report["sent"] == 3 and report["total"] == 3
    # The other 王秀兰's voice waits for her next message (a mass-sent text cannot carry audio).
    voice_rows = await outbox(stack, "voice")
    assert voice_rows[ids["YX-012"]].status == "waiting-next-reply"
    # 郑国平 is not bound: his branch secretary is asked to pass it on.
    relay = stack.sends("o-YX-002", api="custom")[-1].content["content"]
    assert relay.startswith("请转告郑国平同志：本周六上午9点") and relay.endswith(
        "转告后请回复“已转告 郑国平”。"
    )

    status = (await secretary.send("公告状态")).text
    assert "已发出 6 人（客服消息 3，群发 3）" in status
    assert "等对方下次发消息时送达 1 人" in status and "已请联系人转告 1 人：郑国平（林晓梅未回复）" in status
    assert "失败 0 人" in status and "情况不明 0 人" in status and "已读" not in status

    # 刘洋 writes: the notice comes first in his reply, once.
    reply = (await ThroughFake(stack, "o-YX-013").send("菜单")).text
    assert reply.startswith(f"您有1条新通知：\n【银杏社区党委通知】{BODY}\n\n刘洋同志，您好。\n请回复数字")
    assert "新通知" not in (await ThroughFake(stack, "o-YX-013").send("菜单")).text
    # The other 王秀兰 writes: her clips follow as customer-service messages.
    await ThroughFake(stack, "o-YX-012").send("你好")
    await flush(stack.client)
    clock.advance(5)
    await stack.worker.drain()
    assert {s.msgtype for s in stack.sends("o-YX-012", api="custom")} == {"voice"}
    assert (await outbox(stack, "voice"))[ids["YX-012"]].status == "sent"

    assert (await ThroughFake(stack, "o-YX-002").send("已转告 郑国平")).text == "好的，已记录。谢谢您。"
    status = (await secretary.send("公告状态")).text
    assert "已发出 7 人" in status and "郑国平（林晓梅已转告）" in status
    for number in BOUND[1:]:
        assert len(notice_texts(stack, f"o-{number}")) == 1, number


async def test_an_unverified_account_waits_for_the_next_message_or_a_helper(
    make_stack: StackFactory, clock: FixedClock
) -> None:
    stack = await make_stack(account=AccountKind.UNVERIFIED)
    people = await community(stack)
    leader = ThroughFake(stack, "o-YX-002")  # 林晓梅, 第一网格党支部书记
    shown = (await leader.send(f"发布公告：{BODY}")).text
    assert shown.startswith(
        "将发送给：第一网格党支部，共 5 人（含您本人，不另发给您；其中 0 人同时收到语音；1 人未绑定微信"
    )
    assert "本公众号未认证，不能主动推送" in shown
    await leader.send("确认")
    await stack.worker.drain()
    assert [s for s in stack.fake.sends if s.api != "passive"] == []  # no API may be called
    rows = await outbox(stack)
    assert rows[people.ids["YX-009"]].status == "relayed"
    assert rows[people.ids["YX-004"]].status == "waiting-next-reply"

    # A day later the elderly 王秀兰 has still not written: her helper 孙丽娟 is asked (at her next message).
    clock.advance(25 * 3600)
    app = stack.client.app
    assert app is not None
    deps = JobDeps(services(stack.client).db, app[SETTINGS], app[CONTENT])
    assert await job_named("relay_unreached").run(deps, clock.now()) == "relayed 1, nobody to relay 0"
    await stack.worker.drain()
    rows = await outbox(stack)
    assert rows[people.ids["YX-004"]].status == "relayed"
    assert rows[people.ids["YX-007"]].status == "waiting-next-reply"  # not elderly: still waits

    helper = (await ThroughFake(stack, "o-YX-006").send("你好")).text
    assert "请转告王秀兰同志：本周六上午9点" in helper and f"【第一网格党支部通知】{BODY}" in helper
    assert (await ThroughFake(stack, "o-YX-006").send("已转告 王秀兰")).text == "好的，已记录。谢谢您。"
    assert (await ThroughFake(stack, "o-YX-006").send("已转告 王秀兰")).text.startswith(
        "没有需要您转告王秀兰同志"
    )
    member = (await ThroughFake(stack, "o-YX-007").send("你好")).text
    assert member.startswith(f"您有1条新通知：\n【第一网格党支部通知】{BODY}")
    # The branch secretary hears about 郑国平 (unbound) at her own next message.
    assert "请转告郑国平同志" in (await leader.send("公告状态")).text


async def test_template_notices_and_their_failure_report_fall_through(
    make_stack: StackFactory, clock: FixedClock
) -> None:
    stack = await make_stack(notice_template_id="TPL-NOTICE")
    people = await community(stack)
    stack.fake.template_status = "failed: system failed"
    stack.fake.hold_reports()  # WeChat's reports come later; here both at once
    await ThroughFake(stack, "o-YX-003").send(f"公告 {BODY}")  # 陈志强, 第二网格党支部书记
    await ThroughFake(stack, "o-YX-003").send("确认")
    await stack.worker.drain()
    # Neither has written: a template notice (a summary) goes first.
    assert {s.openid for s in stack.sends(api="template")} == {"o-YX-012", "o-YX-013"}
    template = stack.sends("o-YX-013", api="template")[0].content
    assert template["template_id"] == "TPL-NOTICE"
    assert (
        template["data"]["thing1"]["value"].startswith("本周六上午9点")
        and len(template["data"]["thing1"]["value"]) <= 20
    )
    rows = await outbox(stack)
    assert {rows[people.ids[n]].status for n in ("YX-012", "YX-013")} == {"sent"}
    # WeChat reports the template failed for system reasons: the rows fall through to the next channel.
    await stack.fake.release_reports()
    await stack.worker.drain()
    rows = await outbox(stack)
    assert {(rows[people.ids[n]].status, rows[people.ids[n]].channel) for n in ("YX-012", "YX-013")} == {
        ("sent", "mass_send")
    }
    assert "template" in rows[people.ids["YX-013"]].closed_channels


async def test_who_may_announce(make_stack: StackFactory) -> None:
    stack = await make_stack()
    await community(stack)
    leader = (await ThroughFake(stack, "o-YX-006").send(f"公告 {BODY}")).text  # 孙丽娟, 组长
    assert leader.startswith("将发送给：1号楼党小组，共 2 人（含您本人，不另发给您；其中 1 人同时收到语音）")
    refusal = "发布公告需要支部书记、副书记或党小组组长的身份。"
    for openid in ("o-YX-004", "o-YX-007", "o-resident"):  # a member, a committee member, a resident
        assert (await ThroughFake(stack, openid).send(f"公告 {BODY}")).text.startswith(refusal)
        assert (await ThroughFake(stack, openid).send("公告状态")).text.startswith(refusal)
    secretary = ThroughFake(stack, "o-YX-002")
    assert (await secretary.send("发布公告")).text.startswith("请发送公告内容")
    shown = (await secretary.send(BODY)).text
    assert shown.startswith("将发送给：第一网格党支部，共 5 人（含您本人")
    narrowed = (await secretary.send("2")).text  # 2: only 1号楼党小组
    assert narrowed.startswith("将发送给：1号楼党小组，共 2 人")
    assert (await secretary.send("取消")).text.startswith("已退出当前操作")
    async with services(stack.client).db.read() as session:
        assert await session.scalar(select(Notice)) is None


async def test_a_voice_message_nobody_understood_tells_the_members_secretary(
    make_stack: StackFactory,
) -> None:
    stack = await make_stack()
    await community(stack)
    elderly = ThroughFake(stack, "o-YX-004")  # 王秀兰, in 1号楼党小组 of 第一网格党支部
    answer = (await elderly.say(None)).text
    assert "抱歉，没能听清您的语音。已告诉您的支部书记，会有人联系您。" in answer and "1 学习园地" in answer
    await stack.worker.drain()
    # Her branch secretary 林晓梅 hears of it with her next message (she has no open window).
    told = (await ThroughFake(stack, "o-YX-002").send("菜单")).text
    assert told.startswith("您有1条新通知：\n王秀兰同志发来一条语音留言，系统没能听清，请您联系王秀兰同志。")
    # A resident's unrecognised voice gets the menu only.
    assert (await ThroughFake(stack, "o-resident").say(None)).text.startswith(
        "抱歉，没能听清您的语音。请发送文字"
    )


async def test_a_broadcast_to_the_demo_community_reaches_everyone_exactly_once(
    make_stack: StackFactory, clock: FixedClock
) -> None:
    """The seeded demo community (37 members besides the sender, 3 of them unbound) in mixed allowance
    states: some wrote today, some clicked the menu a minute ago (3 sends), some used up their allowance,
    most never wrote. Every member is reached once; the unbound through a helper."""
    from bot.dev.demo import DEMO_UNBOUND, bound_openids, seed_demo

    stack = await make_stack()
    app = stack.client.app
    assert app is not None
    assert await seed_demo(app[SETTINGS], clock.now())
    openids = await bound_openids(app[SETTINGS])
    members = sorted(o for o in openids if o.startswith("o-demo-YX-") and o != "o-demo-YX-001")
    stack.fake.follow(openids)
    for openid in members[:8]:
        await ThroughFake(stack, openid).send("你好")
    for openid in members[8:12]:
        await ThroughFake(stack, openid).event("CLICK", EventKey="MENU_HELP")
    await flush(stack.client)
    for openid in members[4:6]:
        await set_window(stack, openid, 0)

    secretary = ThroughFake(stack, "o-demo-YX-001")  # 周建国, 社区党委书记
    shown = (await secretary.send(f"公告 {BODY}")).text
    assert shown.startswith("将发送给：银杏社区党委，共 38 人（含您本人") and "3 人未绑定微信" in shown
    await secretary.send("确认")
    await stack.worker.drain()
    await stack.fake.settle()
    for openid in members:
        assert len(notice_texts(stack, openid)) == 1, openid
    rows = await outbox(stack)
    assert len(rows) == 37
    statuses: dict[str, int] = {}
    for row in rows.values():
        statuses[row.status] = statuses.get(row.status, 0) + 1
    assert statuses == {"sent": 34, "relayed": 3}
    assert len(DEMO_UNBOUND) == 3
    async with services(stack.client).db.read() as session:
        relays = (await session.scalars(select(OutboxRow).where(OutboxRow.kind == "relay"))).all()
    assert len(relays) == 3 and all(r.status in ("sent", "waiting-next-reply") for r in relays)
    status = (await secretary.send("公告状态")).text
    assert "已发出 34 人" in status and "已请联系人转告 3 人" in status and "失败 0 人" in status


async def test_a_subscription_account_uses_subscription_notices(make_stack: StackFactory) -> None:
    stack = await make_stack(account=AccountKind.SUBSCRIPTION, notice_subscription_id="SUB-1")
    people = await community(stack)
    await ThroughFake(stack, "o-YX-003").send(f"公告 {BODY}")
    await ThroughFake(stack, "o-YX-003").send("确认")
    await stack.worker.drain()
    rows = await outbox(stack)
    assert {rows[people.ids[n]].channel for n in ("YX-012", "YX-013")} == {"subscription"}
    sent = stack.sends("o-YX-013", api="subscribe")
    assert len(sent) == 1 and sent[0].content["template_id"] == "SUB-1"


@pytest.mark.parametrize(
    ("errcode", "status", "channel"),
    [
        (45047, "sent", "mass_send"),  # WeChat says the allowance is used up: falls through
        (43004, "sent", "mass_send"),
        (-1, "queued", None),  # busy: tried again later
        (45009, "queued", None),  # daily quota: tomorrow
    ],
)
async def test_wechat_errors_on_a_notice_fall_through_or_back_off(
    make_stack: StackFactory, clock: FixedClock, errcode: int, status: str, channel: str | None
) -> None:
    from bot.dev.fake_wechat import Fault

    stack = await make_stack()
    people = await community(stack)
    await ThroughFake(stack, "o-YX-012").send("你好")
    await flush(stack.client)
    stack.fake.faults.append(Fault("/cgi-bin/message/custom/send", errcode, 1))
    await ThroughFake(stack, "o-YX-003").send(f"公告 {BODY}")
    await ThroughFake(stack, "o-YX-003").send("确认")
    await stack.worker.drain()
    row = (await outbox(stack))[people.ids["YX-012"]]
    assert (row.status, row.channel) == (status, channel)
    assert row.last_error is not None and str(errcode) in row.last_error
    if status == "queued":
        assert row.next_attempt_at is not None and row.next_attempt_at > clock.now()
        if errcode == 45009:  # 00:05 tomorrow, Beijing time (T0 is 10:00 Beijing)
            assert row.next_attempt_at == clock.now() + timedelta(hours=14, minutes=5)
        clock.set(row.next_attempt_at)
        await stack.worker.drain()
        row = (await outbox(stack))[people.ids["YX-012"]]
        assert (row.status, row.channel) == ("sent", "customer_service")
    assert len(notice_texts(stack, "o-YX-012")) == 1


async def test_voice_clips_older_than_wechats_three_days_are_uploaded_again(
    make_stack: StackFactory, clock: FixedClock
) -> None:
    from bot.app import GATEWAY

    stack = await make_stack()
    db = services(stack.client).db
    old, fresh = clock.now() - timedelta(days=3), clock.now() - timedelta(hours=1)

    def write(session: Any) -> None:
        for n, uploaded in enumerate((old, fresh), 1):
            notice = Notice(
                kind="announcement",
                text=f"通知{n}",
                author="cli:test",
                recipients=1,
                mass_reports={},
                created_at=uploaded,
            )
            session.add(notice)
            session.flush()
            session.add(
                NoticeClip(
                    notice_id=notice.id,
                    seq=0,
                    audio=b"#!AMR\n",
                    seconds=0.0,
                    media_id=f"M{n}",
                    uploaded_at=uploaded,
                )
            )
            session.add(
                OutboxRow(
                    idempotency_key=f"v{n}",
                    openid=f"o-{n}",
                    kind="voice",
                    notice_id=notice.id,
                    wants_voice=True,
                    status="waiting-next-reply",
                    payload={},
                    created_at=uploaded,
                    updated_at=uploaded,
                )
            )

    await db.run(write)
    app = stack.client.app
    assert app is not None
    deps = JobDeps(db, app[SETTINGS], app[CONTENT], app[GATEWAY])
    assert await job_named("refresh_voice_media").run(deps, clock.now()) == "uploaded again 1"
    async with db.read() as session:
        clips = (await session.scalars(select(NoticeClip).order_by(NoticeClip.notice_id))).all()
    assert clips[0].media_id != "M1" and clips[0].uploaded_at == clock.now()
    assert stack.fake.media[str(clips[0].media_id)][0] == b"#!AMR\n"
    assert clips[1].media_id == "M2"  # still fresh: left alone


async def test_a_batch_that_outlived_its_lease_is_not_sent_twice(
    make_stack: StackFactory, clock: FixedClock
) -> None:
    """Worker A claims a batch and stalls past its lease; worker B claims and sends the same rows. When A
    wakes up it may send only rows still leased to it: none."""
    from bot.app import CONTENT, GATEWAY, METRICS, make_worker

    stack = await make_stack()
    await community(stack)
    for number in ("YX-002", "YX-004", "YX-006"):
        await ThroughFake(stack, f"o-{number}").send("你好")
    await flush(stack.client)
    await ThroughFake(stack, "o-YX-001").send(f"公告 {BODY}")
    await ThroughFake(stack, "o-YX-001").send("确认")
    app = stack.client.app
    assert app is not None
    db = services(stack.client).db
    a = stack.worker
    b = make_worker(
        app[SETTINGS], db, app[GATEWAY], clock, app[METRICS], app[CONTENT], "worker-b", None, None
    )
    stalled = await a._claim()  # the race, step by step
    assert stalled
    clock.advance(app[SETTINGS].delivery_lease_s + 1)
    await b.drain()
    sent_by_b = len(stack.fake.sends)
    await a._deliver(stalled)
    assert len(stack.fake.sends) == sent_by_b
    for number in ("YX-002", "YX-004", "YX-006"):
        assert len(notice_texts(stack, f"o-{number}")) == 1


async def test_on_an_unverified_account_an_elderly_member_asks_for_the_voice(
    make_stack: StackFactory, clock: FixedClock
) -> None:
    voice_tools()
    require(
        "ffmpeg's AMR-NB encoder", await AmrEncoder().has_amr_encoder(), "apt-get install libavcodec-extra"
    )
    stack = await make_stack(account=AccountKind.UNVERIFIED)
    await community(stack)
    await ThroughFake(stack, "o-YX-006").send(f"公告 {BODY}")  # 孙丽娟, 组长 of 王秀兰's group
    await ThroughFake(stack, "o-YX-006").send("确认")
    await stack.worker.drain()
    elderly = ThroughFake(stack, "o-YX-004")
    text = (await elderly.send("你好")).text
    assert text.startswith(f"您有1条新通知：\n【1号楼党小组通知】{BODY}\n（回复“听语音”收听语音）")
    clips = []
    for _ in range(10):
        result = await elderly.send("听语音")
        assert result.reply is not None
        if result.reply["MsgType"] != "voice":
            assert result.text == "没有待收听的语音通知。回复0查看菜单。"
            break
        clips.append(result.reply["MediaId"])
    assert clips and all(stack.fake.media[m][0].startswith(b"#!AMR\n") for m in clips)
    assert [s for s in stack.fake.sends if s.api not in ("passive",)] == []  # still no push API used


async def test_status_words_why_a_notice_could_not_reach_someone(make_stack: StackFactory) -> None:
    stack = await make_stack()
    await seed(services(stack.client).db, admin="o-admin")  # nobody on the roster is bound to WeChat
    admin = ThroughFake(stack, "o-admin")
    shown = (await admin.send(f"公告 {BODY}")).text
    assert shown.startswith("将发送给：银杏社区，共 9 人（其中 0 人同时收到语音；9 人未绑定微信")
    await admin.send("确认")
    await stack.worker.drain()
    status = (await admin.send("公告状态")).text
    assert "已发出 0 人" in status and "失败 9 人（无人可转告 9）" in status
    rows = await outbox(stack)
    assert {r.last_error.split(":")[0] for r in rows.values() if r.last_error} == {"no_helper"}


async def test_job_reports_that_arrive_before_the_send_is_written_are_not_lost(
    make_stack: StackFactory,
) -> None:
    # Under load the worker writes WeChat's msgid after the report for it has already come in.
    stack = await make_stack(notice_template_id="TPL-NOTICE")
    people = await community(stack)
    stack.fake.template_status = "failed:user block"
    stack.fake.reports_first = True
    await ThroughFake(stack, "o-YX-003").send(f"公告 {BODY}")  # 陈志强, 第二网格党支部书记
    await ThroughFake(stack, "o-YX-003").send("确认")
    await stack.worker.drain()
    # Both refused the template (blocked): the early reports were applied when the sends were written.
    rows = await outbox(stack)
    assert {rows[people.ids[n]].status for n in ("YX-012", "YX-013")} == {"failed"}
    assert {rows[people.ids[n]].last_error for n in ("YX-012", "YX-013")} == {
        "template_blocked: failed:user block"
    }


async def test_a_mass_report_before_the_msgid_is_written_is_kept_on_the_notice(
    make_stack: StackFactory,
) -> None:
    other = await make_stack()
    await community(other)
    other.fake.reports_first = True
    secretary = ThroughFake(other, "o-YX-003")
    await secretary.send(f"公告 {BODY}")
    await secretary.send("确认")
    await other.worker.drain()
    assert {s.openid for s in other.sends(api="mass")} == {"o-YX-012", "o-YX-013"}
    db = services(other.client).db
    async with db.read() as session:
        notice = await session.scalar(select(Notice))
        leftover = await session.scalar(select(EarlyJobReport))
    assert notice is not None and leftover is None
    (report,) = notice.mass_reports.values()
    assert report["sent"] == 2 and report["total"] == 2
