"""A late answer (a handler past the reply budget) reaches the user once: as a customer-service message,
or, where that is impossible, with their next reply."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.app import WEBHOOK
from bot.clock import FixedClock
from bot.dev.fake_wechat import Fault
from bot.settings import AccountKind
from models import OutboxRow
from tests.conftest import Stack, StackFactory
from tests.helpers import services
from tests.test_dedupe_budget import Gate, until
from tests.test_menu import MENU


async def slow_stack(make_stack: StackFactory, **kw: Any) -> tuple[Stack, Gate]:
    gate = Gate()
    stack = await make_stack(routers=(gate.router(),), reply_budget_s=0.05, **kw)
    return stack, gate


async def answer_late(stack: Stack, gate: Gate, openid: str, text: str = "慢慢来") -> None:
    result = await stack.act(openid, type="text", content=text)
    assert result["ok"] and result["reply"] is None  # WeChat got `success` within the budget
    gate.open.set()
    assert stack.client.app is not None
    webhook = stack.client.app[WEBHOOK]
    await until(lambda: webhook.in_flight == 0)


async def rows(stack: Stack) -> list[OutboxRow]:
    async with services(stack.client).db.read() as session:
        return list((await session.scalars(select(OutboxRow).order_by(OutboxRow.id))).all())


async def test_a_late_answer_arrives_once_as_a_customer_service_message(make_stack: StackFactory) -> None:
    stack, gate = await slow_stack(make_stack)
    await answer_late(stack, gate, "o-late")
    await services(stack.client).write_behind.flush()
    assert await stack.worker.run_once() == 1
    assert await stack.worker.run_once() == 0
    pushed = stack.sends("o-late", "custom")
    assert [(p.msgtype, p.content) for p in pushed] == [("text", {"content": "第1次处理：慢慢来"})]
    (row,) = await rows(stack)
    assert (row.status, row.channel, row.attempts) == ("sent", "customer_service", 1)


async def test_without_the_customer_service_api_it_comes_with_the_next_reply(
    make_stack: StackFactory,
) -> None:
    stack, gate = await slow_stack(make_stack, account=AccountKind.UNVERIFIED)
    await answer_late(stack, gate, "o-unv")
    assert await stack.worker.run_once() == 1
    assert stack.sends("o-unv", "custom") == [] and stack.fake.token_fetches == 0
    assert (await rows(stack))[0].status == "waiting-next-reply"
    result = await stack.act("o-unv", type="text", content="帮助")
    assert result["reply"]["Content"] == f"您之前的消息有了回复：\n第1次处理：慢慢来\n\n{MENU}"
    (row,) = await rows(stack)
    assert (row.status, row.channel) == ("sent", "next_reply")
    again = await stack.act("o-unv", type="text", content="帮助")
    assert again["reply"]["Content"] == MENU


async def test_a_closed_window_falls_through_to_the_next_reply(
    make_stack: StackFactory, clock: FixedClock
) -> None:
    stack, gate = await slow_stack(make_stack)
    await answer_late(stack, gate, "o-away")
    await services(stack.client).write_behind.flush()
    clock.advance(timedelta(hours=49).total_seconds())
    await stack.worker.run_once()
    assert stack.sends("o-away", "custom") == []
    assert (await rows(stack))[0].status == "waiting-next-reply"


async def test_when_wechat_says_the_window_is_closed_it_falls_through(make_stack: StackFactory) -> None:
    stack, gate = await slow_stack(make_stack)
    await answer_late(stack, gate, "o-45015")
    await services(stack.client).write_behind.flush()
    stack.fake.faults.append(Fault("/cgi-bin/message/custom/send", 45015, 1))
    await stack.worker.run_once()  # the channel is closed for this user: queued again, to fall through
    (row,) = await rows(stack)
    assert row.status == "queued" and row.closed_channels == ["customer_service"]
    await stack.worker.run_once()
    (row,) = await rows(stack)
    assert row.status == "waiting-next-reply" and row.last_error is not None and "45015" in row.last_error
    assert len(stack.fake.sends) == 0


async def test_busy_is_retried_with_backoff_and_delivered_once(
    make_stack: StackFactory, clock: FixedClock
) -> None:
    stack, gate = await slow_stack(make_stack)
    await answer_late(stack, gate, "o-busy")
    await services(stack.client).write_behind.flush()
    stack.fake.faults.append(Fault("/cgi-bin/message/custom/send", -1, 1))
    await stack.worker.run_once()
    (row,) = await rows(stack)
    assert row.status == "queued" and row.next_attempt_at == clock.now() + timedelta(seconds=5)
    assert await stack.worker.run_once() == 0  # not due yet
    clock.advance(5)
    assert await stack.worker.run_once() == 1
    assert len(stack.sends("o-busy", "custom")) == 1


async def test_daily_quota_waits_until_tomorrow_beijing_time(
    make_stack: StackFactory, clock: FixedClock
) -> None:
    stack, gate = await slow_stack(make_stack)
    await answer_late(stack, gate, "o-quota")
    await services(stack.client).write_behind.flush()
    stack.fake.faults.append(Fault("/cgi-bin/message/custom/send", 45009, 1))
    await stack.worker.run_once()
    (row,) = await rows(stack)
    # T0 is 2026-11-21 10:00 in Beijing: retry at 2026-11-22 00:05 Beijing = 2026-11-21 16:05 UTC.
    assert row.next_attempt_at is not None and row.next_attempt_at.isoformat() == "2026-11-21T16:05:00+00:00"


async def test_a_send_interrupted_by_a_crash_is_in_doubt_not_resent(
    make_stack: StackFactory, clock: FixedClock
) -> None:
    stack, gate = await slow_stack(make_stack)
    await answer_late(stack, gate, "o-crash")

    def crash_mid_call(session: Session) -> None:
        row = session.scalar(select(OutboxRow))
        assert row is not None
        # What a worker killed during the API call leaves behind.
        row.status, row.lease_owner = "sending", "dead-worker"
        row.lease_until = clock.now() + timedelta(seconds=60)

    await services(stack.client).db.run(crash_mid_call)
    assert await stack.worker.run_once() == 0
    clock.advance(61)
    assert await stack.worker.run_once() == 0
    (row,) = await rows(stack)
    assert row.status == "in-doubt" and stack.sends("o-crash", "custom") == []


async def test_a_late_message_abandoned_by_a_killed_process_is_answered_after_restart(
    make_stack: StackFactory, make_client: Any, clock: FixedClock
) -> None:
    stack, gate = await slow_stack(make_stack)
    result = await stack.act("o-restart", type="text", content="慢慢来")
    assert result["reply"] is None
    # The process dies: its slow handler never finishes (shutdown cancels it after the grace period).
    settings = stack.gateway.settings
    await stack.client.close()
    (row,) = await rows_at(settings.database_url)
    assert row.status == "awaiting-answer"
    # A new process starts; much later than any handler could still be running.
    restarted = await make_client(routers=(gate.router(),), settings=settings)
    assert restarted.app is not None
    webhook = restarted.app[WEBHOOK]
    gate.open.set()
    assert await webhook.recover_abandoned(600, "new-process") == 0  # not old enough yet
    clock.advance(601)
    assert await webhook.recover_abandoned(600, "new-process") == 1
    assert await webhook.recover_abandoned(600, "new-process") == 0
    (row,) = await rows_at(settings.database_url)
    assert row.status == "queued" and row.payload["reply"]["text"].endswith("慢慢来")
    assert gate.runs == 2  # the first run never committed anything; this is the one answer


async def rows_at(url: str) -> list[OutboxRow]:
    from models.db import Database

    db = Database(url)
    try:
        async with db.read() as session:
            return list((await session.scalars(select(OutboxRow))).all())
    finally:
        await db.dispose()
