"""Several partybot processes behind one load balancer share dedupe and user locks through Redis."""

from __future__ import annotations

import asyncio
from typing import Any

from bot.clock import FixedClock
from tests.conftest import REDIS_URL, AppFactory, require
from tests.helpers import metric
from tests.test_dedupe_budget import Gate, until
from tests.wechat import WeChatUser


async def test_two_instances_handle_a_retried_message_once(
    make_client: AppFactory, make_settings: Any, clock: FixedClock
) -> None:
    require("Redis", REDIS_URL is not None, "set PARTYBOT_TEST_REDIS_URL=redis://127.0.0.1:6379/0")
    gate = Gate()
    settings = make_settings(redis_url=REDIS_URL)  # one database, one Redis, one prefix: one deployment
    first = await make_client(routers=(gate.router(),), settings=settings)
    second = await make_client(routers=(gate.router(),), settings=settings)
    at_first, at_second = WeChatUser(first, clock, "o-mp"), WeChatUser(second, clock, "o-mp")
    fields = at_first.fields("text", Content="慢一点")
    original = asyncio.create_task(at_first.post_fields(fields))
    await until(gate.entered.is_set)
    # WeChat's retry reaches the other process while the first is still working.
    retry = asyncio.create_task(at_second.post_fields(fields))
    await until(lambda: metric(second, "partybot_dedupe_hits_total") == 1)
    gate.open.set()
    answers = await asyncio.gather(original, retry)
    assert gate.runs == 1
    assert [a.text for a in answers] == ["第1次处理：慢一点"] * 2
    # A later retry at either process gets the stored answer.
    assert (await at_second.post_fields(fields)).text == "第1次处理：慢一点"
    assert gate.runs == 1


async def test_two_instances_take_turns_on_one_user(
    make_client: AppFactory, make_settings: Any, clock: FixedClock
) -> None:
    require("Redis", REDIS_URL is not None, "set PARTYBOT_TEST_REDIS_URL=redis://127.0.0.1:6379/0")
    from tests.test_conversation import counter_router

    gate, entered = asyncio.Event(), list[str]()
    settings = make_settings(redis_url=REDIS_URL)
    first = await make_client(routers=(counter_router(gate, entered),), settings=settings)
    second = await make_client(routers=(counter_router(gate, entered),), settings=settings)
    gate.set()
    await WeChatUser(first, clock, "o-turns").send("开始")
    gate.clear()
    one = asyncio.create_task(WeChatUser(first, clock, "o-turns").send("1"))
    await until(lambda: len(entered) == 1)
    two = asyncio.create_task(WeChatUser(second, clock, "o-turns").send("2"))
    for _ in range(500):
        await asyncio.sleep(0)
    assert len(entered) == 1  # the second process waits for the user's lock
    gate.set()
    assert {(await one).text, (await two).text} == {"合计1", "合计3"}
