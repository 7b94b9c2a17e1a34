"""Voice messages from members: understood by WeChat's recognition or a configured recogniser (Tencent
Cloud ASR, here its local stand-in); otherwise the menu, and the member's secretary hears that a voice
message waits — with the audio itself only when the member consented to keeping it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import pytest
from sqlalchemy import select

from bot.clock import FixedClock
from models import Notice, NoticeClip
from scheduler.jobs import JobDeps, job_named
from tests.conftest import StackFactory
from tests.helpers import services
from tests.test_outbound import community
from tests.test_voice_cloud import SECRET_ID, SECRET_KEY, Cloud, FakeTencent
from tests.wechat import ThroughFake


@pytest.fixture
async def cloud(aiohttp_server: Callable[..., Awaitable[Any]]) -> AsyncIterator[Cloud]:
    """Tencent Cloud's ASR endpoint, played locally (tests/test_voice_cloud.py checks its signing)."""
    fake = FakeTencent()
    server = await aiohttp_server(fake.app())
    async with aiohttp.ClientSession() as http:
        yield Cloud(fake, str(server.make_url("/")), http)


async def test_a_configured_recogniser_understands_a_voice_message(
    make_stack: StackFactory, cloud: Cloud
) -> None:
    stack = await make_stack(
        asr_backend="tencent",
        tencent_secret_id=SECRET_ID,
        tencent_secret_key=SECRET_KEY,
        tencent_api_base=cloud.base,
    )
    await community(stack)
    cloud.fake.recognized = "我的信息"
    answer = (await ThroughFake(stack, "o-YX-004").say(None)).text
    assert answer.startswith("王秀兰同志的信息：")
    ((action, params),) = cloud.fake.calls
    assert action == "SentenceRecognition" and params["VoiceFormat"] == "amr"
    # The audio sent for recognition is the one WeChat holds for this message (downloaded with media/get).
    assert params["DataLen"] > 6


async def test_consent_decides_whether_the_secretary_hears_the_audio(
    make_stack: StackFactory, clock: FixedClock
) -> None:
    stack = await make_stack()
    await community(stack)
    elderly = ThroughFake(stack, "o-YX-004")  # 王秀兰; her branch secretary is 林晓梅 (o-YX-002)
    asked = (await elderly.say(None)).text
    assert asked.startswith("您是否同意把听不清的语音留言保存7天，转给支部书记收听？")
    assert "已告诉您的支部书记" in asked
    assert (await elderly.send("同意保存语音")).text.startswith("好的，以后听不清的语音留言会保存7天")
    said = (await elderly.say(None)).text
    assert said.startswith("抱歉，没能听清您的语音。已告诉您的支部书记") and "是否同意" not in said

    db = services(stack.client).db
    async with db.read() as session:
        notices = (await session.scalars(select(Notice).order_by(Notice.id))).all()
        clips = (await session.scalars(select(NoticeClip))).all()
    # Her secretary has not seen the first alert yet: the second voice message updates it, with its audio.
    (notice,) = notices
    assert notice.text.startswith("王秀兰同志发来2条语音留言，系统没能听清，其中1条的语音随后发给您")
    assert len(clips) == 1 and clips[0].notice_id == notice.id and clips[0].audio.startswith(b"#!AMR\n")

    secretary = ThroughFake(stack, "o-YX-002")
    await secretary.send("你好")  # her window opens; the notices waiting go first, the audio follows
    await services(stack.client).write_behind.flush()
    clock.advance(5)
    await stack.worker.drain()
    voices = [s for s in stack.sends("o-YX-002", api="custom") if s.msgtype == "voice"]
    assert len(voices) == 1
    assert stack.fake.media[voices[0].content["media_id"]][0] == clips[0].audio

    # Kept only as long as the retention setting says.
    app = stack.client.app
    assert app is not None
    from bot.app import CONTENT, SETTINGS

    clock.advance(8 * 86400)
    await job_named("housekeeping").run(JobDeps(db, app[SETTINGS], app[CONTENT]), clock.now())
    async with db.read() as session:
        assert (await session.scalars(select(NoticeClip))).all() == []
    assert (await elderly.send("不保存语音")).text.startswith("好的，以后不保存您的语音留言")
