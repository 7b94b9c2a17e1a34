"""WeChat's retries and the 5-second deadline: one handler run per message, late answers persisted."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import select

from bot.app import WEBHOOK
from bot.clock import FixedClock
from bot.edge.context import Context
from bot.edge.replies import Reply, TextReply
from bot.edge.router import Regex, Router
from bot.wechat.wire import Incoming
from models import OutboxRow
from models.db import Database
from tests.conftest import AppFactory
from tests.helpers import metric
from tests.wechat import WeChatUser


class Gate:
    """A handler that counts its runs and waits until the test opens the gate."""

    def __init__(self) -> None:
        self.runs = 0
        self.entered = asyncio.Event()
        self.open = asyncio.Event()

    def router(self) -> Router:
        r = Router("slow")

        @r.message(Regex(r"慢.*"))
        async def slow(msg: Incoming, ctx: Context) -> Reply | None:
            self.runs += 1
            self.entered.set()
            await self.open.wait()
            return TextReply(f"第{self.runs}次处理：{msg.text}")

        return r


async def until(condition: Any, limit: int = 100_000) -> None:
    """Yield to the event loop until condition() holds (bounded; no timed sleeps)."""
    for _ in range(limit):
        if condition():
            return
        await asyncio.sleep(0)
    raise AssertionError("condition never held")


async def test_four_concurrent_deliveries_run_the_handler_once(
    make_client: AppFactory, clock: FixedClock
) -> None:
    gate = Gate()
    client = await make_client(routers=(gate.router(),))
    user = WeChatUser(client, clock, "o-dup")
    fields = user.fields("text", Content="慢一点")
    posts = [asyncio.create_task(user.post_fields(fields)) for _ in range(4)]
    await until(lambda: metric(client, "partybot_dedupe_hits_total") == 3)
    gate.open.set()
    results = await asyncio.gather(*posts)
    assert gate.runs == 1
    assert {r.text for r in results} == {"第1次处理：慢一点"}
    # A retry after the answer gets the stored answer, not a second run.
    again = await user.post_fields(fields)
    assert (again.text, gate.runs) == ("第1次处理：慢一点", 1)


async def test_two_different_events_in_one_second_are_both_handled(user: WeChatUser) -> None:
    first = await user.event("CLICK", EventKey="MENU_HELP")
    second = await user.event("CLICK", EventKey="MENU_BIND")
    assert first.text.startswith("请回复数字") and second.text.startswith("请发送书记给您的6位绑定码")
    # ...but the same event delivered twice is one.
    fields = user.fields("event", Event="CLICK", EventKey="MENU_REQUEST_LIST")
    a, b = await user.post_fields(fields), await user.post_fields(fields)
    assert a.text == b.text and metric(user.client, "partybot_dedupe_hits_total") == 1


async def _outbox(db_url: str) -> list[OutboxRow]:
    db = Database(db_url)
    try:
        async with db.read() as session:
            return list((await session.scalars(select(OutboxRow))).all())
    finally:
        await db.dispose()


async def test_a_slow_answer_is_persisted_before_success_and_survives_a_stop(
    make_client: AppFactory, make_settings: Any, clock: FixedClock
) -> None:
    gate = Gate()
    settings = make_settings(reply_budget_s=0.05, shutdown_grace_s=0.01)
    client = await make_client(routers=(gate.router(),), settings=settings)
    user = WeChatUser(client, clock, "o-late")
    result = await user.send("慢慢来")
    assert (result.status, result.body) == (200, "success")
    # Stop the process right away: the handler never finishes.
    await client.close()
    rows = await _outbox(settings.database_url)
    assert len(rows) == 1
    row = rows[0]
    assert (row.kind, row.status, row.openid) == ("late_reply", "awaiting-answer", "o-late")
    assert row.payload["message"]["Content"] == "慢慢来"
    assert row.idempotency_key.startswith("late:m:o-late:")


async def test_a_late_answer_is_queued_once_and_retries_do_not_rerun(
    make_client: AppFactory, make_settings: Any, clock: FixedClock
) -> None:
    gate = Gate()
    settings = make_settings(reply_budget_s=0.05)
    client = await make_client(routers=(gate.router(),), settings=settings)
    user = WeChatUser(client, clock, "o-late2")
    fields = user.fields("text", Content="慢慢来")
    assert (await user.post_fields(fields)).body == "success"
    # WeChat would not retry after `success`, but a retry must not run the handler again.
    assert (await user.post_fields(fields)).body == "success"
    gate.open.set()
    assert client.app is not None
    webhook = client.app[WEBHOOK]
    await until(lambda: webhook.in_flight == 0)
    rows = await _outbox(settings.database_url)
    assert gate.runs == 1 and len(rows) == 1
    assert rows[0].status == "queued"
    assert rows[0].payload["reply"] == {"type": "text", "text": "第1次处理：慢慢来"}
    assert metric(client, "partybot_budget_overruns_total") == 1


async def test_a_failing_handler_gets_an_apology_not_a_500(
    make_client: AppFactory, clock: FixedClock, caplog: Any
) -> None:
    broken = Router("broken")

    @broken.message(Regex("测试异常"))  # words no capability takes (坏了 is a report to 居民诉求)
    async def explode(msg: Incoming, ctx: Context) -> Reply | None:
        raise RuntimeError("boom")

    client = await make_client(routers=(broken,))
    user = WeChatUser(client, clock, "o-err")
    result = await user.send("测试异常")
    assert result.status == 200 and result.text.startswith("抱歉，系统暂时出了点问题")
    failure = next(r for r in caplog.records if r.getMessage().startswith("handler broken.explode failed"))
    assert "m:o-err:" in failure.getMessage() and failure.exc_info is not None
