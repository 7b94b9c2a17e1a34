"""A member's voice messages nobody understood: one alert per member while it waits (a second voice message
updates it), and 听留言 — the secretary plays the kept audio back, one clip per reply, only for members in
their scope, every play audited; no kept audio gets a clear answer."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from bot.clock import FixedClock
from models import AuditEntry, Notice, NoticeClip, OutboxRow
from tests.conftest import Stack, StackFactory
from tests.helpers import flush, services
from tests.test_outbound import community
from tests.wechat import ThroughFake


async def clips_of(stack: Stack) -> list[NoticeClip]:
    async with services(stack.client).db.read() as session:
        return list((await session.scalars(select(NoticeClip).order_by(NoticeClip.id))).all())


def heard(stack: Stack, result: Any) -> bytes:
    """The audio a passive voice reply plays."""
    assert result.reply is not None and result.reply["MsgType"] == "voice", result.reply
    data: bytes = stack.fake.media[result.reply["MediaId"]][0]
    return data


async def test_two_voice_messages_make_one_alert(make_stack: StackFactory, clock: FixedClock) -> None:
    stack = await make_stack()
    await community(stack)
    elderly = ThroughFake(stack, "o-YX-004")  # 王秀兰; her branch secretary is 林晓梅 (o-YX-002)
    await elderly.send("同意保存语音")
    await elderly.say(None)
    await elderly.say(None)
    await stack.worker.drain()  # 林晓梅 has not written: the alert waits for her next message

    db = services(stack.client).db
    async with db.read() as session:
        (notice,) = (await session.scalars(select(Notice))).all()
        (row,) = (await session.scalars(select(OutboxRow).where(OutboxRow.kind == "notice"))).all()
    assert notice.subject_member_id is not None and len(notice.folded_keys) == 1
    assert row.status == "waiting-next-reply" and row.wants_voice
    assert len(await clips_of(stack)) == 2

    secretary = ThroughFake(stack, "o-YX-002")
    told = (await secretary.send("你好")).text
    assert told.startswith(
        "您有1条新通知：\n王秀兰同志发来2条语音留言，系统没能听清，其中2条的语音随后发给您"
        "（也可回复“听留言 王秀兰”逐条收听），请您听后联系王秀兰同志。\n\n"
    )
    assert told.count("语音留言") == 1
    await flush(stack.client)
    clock.advance(5)
    await stack.worker.drain()
    voices = [s for s in stack.sends("o-YX-002", api="custom") if s.msgtype == "voice"]
    assert [stack.fake.media[v.content["media_id"]][0] for v in voices] == [
        c.audio for c in await clips_of(stack)
    ]

    # That alert reached her: a later voice message is a new one.
    await elderly.say(None)
    await stack.worker.drain()
    async with db.read() as session:
        texts = [n.text for n in (await session.scalars(select(Notice).order_by(Notice.id))).all()]
    assert len(texts) == 2 and texts[1].startswith("王秀兰同志发来一条语音留言")


async def test_a_secretary_listens_to_a_members_voice_messages(
    make_stack: StackFactory, clock: FixedClock
) -> None:
    stack = await make_stack()
    await community(stack)
    elderly = ThroughFake(stack, "o-YX-004")  # 王秀兰, 第一网格党支部
    await elderly.send("同意保存语音")
    for _ in range(2):
        await elderly.say(None)
    await ThroughFake(stack, "o-YX-007").say(None)  # 李文博 has not consented: no audio is kept
    kept = [c.audio for c in await clips_of(stack)]
    assert len(kept) == 2

    secretary = ThroughFake(stack, "o-YX-002")  # 林晓梅
    assert heard(stack, await secretary.send("听留言 王秀兰")) == kept[0]
    assert heard(stack, await secretary.send("听留言")) == kept[1]  # the next one
    assert (await secretary.send("听留言 王秀兰")).text.startswith(
        "王秀兰同志保存的2条语音留言都已播放。再发“听留言 王秀兰”从第1条重新收听。"
    )
    assert heard(stack, await secretary.send("听留言 王秀兰")) == kept[0]  # from the start again
    async with services(stack.client).db.read() as session:
        entries = (
            await session.scalars(select(AuditEntry).where(AuditEntry.action == "listen_voice_messages"))
        ).all()
    assert [e.scope for e in entries] == ["YX-004"] * 4 and {e.actor for e in entries} == {"member:YX-002"}
    assert [e.detail["clip"] is None for e in entries] == [False, False, True, False]

    assert (await secretary.send("听留言 李文博")).text.startswith(
        "李文博同志的语音留言没有保存录音（本人未同意保存）。请您直接联系李文博同志。"
    )
    assert (await secretary.send("听留言 郑国平")).text.startswith("郑国平同志没有语音留言。")
    # Only members in one's scope: the second branch's secretary finds only his own 王秀兰 (no messages).
    other = ThroughFake(stack, "o-YX-003")  # 陈志强, 第二网格党支部书记
    assert (await other.send("听留言 王秀兰")).text.startswith("王秀兰同志没有语音留言。")
    assert (await other.send("听留言 YX-004")).text.startswith("您负责的范围内没有党员“YX-004”。")
    assert (await other.send("听留言")).text.startswith("目前没有保存的语音留言。")
    # The community's secretary sees both 王秀兰; only one has messages kept.
    assert heard(stack, await ThroughFake(stack, "o-YX-001").send("听留言 王秀兰")) == kept[0]
    # A group leader or a member may not listen.
    for openid in ("o-YX-006", "o-YX-004"):
        assert (await ThroughFake(stack, openid).send("听留言 王秀兰")).text.startswith(
            "收听党员的语音留言需要支部书记或副书记的身份。"
        )

    # Kept PARTYBOT_VOICE_RETENTION_DAYS (7) only.
    clock.advance(8 * 86400)
    assert (await secretary.send("听留言 王秀兰")).text.startswith(
        "王秀兰同志的语音留言只保存7天，已经删除。请您直接联系王秀兰同志。"
    )
    assert (await ThroughFake(stack, "o-YX-001").send("听留言 王秀兰")).text.startswith("有2位王秀兰同志：")
