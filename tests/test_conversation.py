"""Conversation state: persisted with an expiry, always escapable, and one message per user at a time."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from bot.clock import FixedClock
from bot.edge.context import Context
from bot.edge.replies import Reply, TextReply
from bot.edge.router import Intent, MenuKey, NoState, Number, Regex, Router, State
from bot.wechat.wire import Incoming
from models import ConversationState
from tests.conftest import AppFactory
from tests.helpers import services
from tests.test_dedupe_budget import until
from tests.wechat import WeChatUser


def counter_router(gate: asyncio.Event | None = None, entered: list[str] | None = None) -> Router:
    """A small conversation that asks for numbers: 开始 enters it, each number adds to the total."""
    r = Router("counter", numbered=("counter",))

    @r.message(Regex("开始"))
    async def start(msg: Incoming, ctx: Context) -> Reply | None:
        ctx.enter("counter", total=0)
        return TextReply("请发数字")

    @r.message(State("counter"), Number())
    async def add(msg: Incoming, ctx: Context) -> Reply | None:
        total = int(ctx.conversation.data["total"])
        if entered is not None:
            entered.append(msg.text)
        if gate is not None:
            await gate.wait()
        total += ctx.match["number"]
        ctx.conversation.update(ctx.clock.now(), ctx.settings.conversation_ttl_s, total=total)
        return TextReply(f"合计{total}")

    return r


@pytest.fixture
async def counting(make_client: AppFactory, clock: FixedClock) -> WeChatUser:
    client = await make_client(routers=(counter_router(),))
    return WeChatUser(client, clock, "o-count")


async def test_state_is_kept_between_messages(counting: WeChatUser) -> None:
    assert (await counting.send("开始")).text == "请发数字"
    assert (await counting.send("3")).text == "合计3"
    assert (await counting.send("四")).text == "合计7"
    async with services(counting.client).db.read() as session:
        row = await session.get(ConversationState, "o-count")
    assert row is not None and row.name == "counter" and row.data == {"total": 7}


@pytest.mark.parametrize("leave", ["取消", "退出", "0", "零", "取消。"])
async def test_cancel_words_and_zero_always_leave(counting: WeChatUser, leave: str) -> None:
    await counting.send("开始")
    text = (await counting.send(leave)).text
    assert text.startswith("已退出当前操作。") and "1 反映问题" in text
    async with services(counting.client).db.read() as session:
        assert (await session.scalar(select(ConversationState))) is None
    # Back at the menu: a number now picks a menu item again.
    assert (await counting.send("3")).text.startswith("请发送书记给您的6位绑定码")
    async with services(counting.client).db.read() as session:
        state = await session.scalar(select(ConversationState))
    assert state is not None and state.name == "bind"  # the binding guide is a conversation of its own


async def test_help_leaves_the_conversation(counting: WeChatUser) -> None:
    await counting.send("开始")
    assert (await counting.send("帮助")).text.startswith("请回复数字")
    assert (await counting.send("1")).text.startswith("请用一句话说说遇到了什么问题")


async def test_state_expires(counting: WeChatUser, clock: FixedClock) -> None:
    await counting.send("开始")
    clock.advance(timedelta(minutes=31).total_seconds())  # PARTYBOT_CONVERSATION_TTL_S is 1800
    assert (await counting.send("3")).text.startswith("请发送书记给您的6位绑定码")


async def test_one_lock_per_user_is_taken_before_state_is_loaded(
    make_client: AppFactory, clock: FixedClock
) -> None:
    gate, entered = asyncio.Event(), list[str]()
    client = await make_client(routers=(counter_router(gate, entered),))
    user = WeChatUser(client, clock, "o-lock")
    gate.set()
    await user.send("开始")
    gate.clear()
    first = asyncio.create_task(user.send("1"))
    second = asyncio.create_task(user.send("2"))
    await until(lambda: len(entered) >= 1)
    for _ in range(200):  # give the second message every chance to (wrongly) enter
        await asyncio.sleep(0)
    assert len(entered) == 1
    gate.set()
    answers = {(await first).text, (await second).text}
    # Without the lock both would read total=0 and one update would be lost.
    assert "合计3" in answers


async def test_other_users_are_not_blocked(make_client: AppFactory, clock: FixedClock) -> None:
    gate, entered = asyncio.Event(), list[str]()
    client = await make_client(routers=(counter_router(gate, entered),))
    a, b = WeChatUser(client, clock, "o-a"), WeChatUser(client, clock, "o-b")
    gate.set()
    await a.send("开始")
    gate.clear()
    slow = asyncio.create_task(a.send("1"))
    await until(lambda: len(entered) == 1)
    assert (await b.send("帮助")).text.startswith("请回复数字")
    gate.set()
    assert (await slow).text == "合计1"


def test_intent_filter_reads_the_dispatcher_intent() -> None:
    from bot.domain.policy import Identity
    from bot.edge.conversation import Conversation

    ctx: Any = type(
        "C", (), {"intent": "help", "conversation": Conversation(None, {}, None), "identity": Identity("o")}
    )()
    msg = Incoming(openid="o", account="gh", kind="text", create_time=1, text="帮助")
    assert Intent("help")(msg, ctx) is True and Intent("bind")(msg, ctx) is False
    assert State()(msg, ctx) is False and NoState()(msg, ctx) is True
    click = Incoming(
        openid="o", account="gh", kind="event", create_time=1, event="click", event_key="MENU_HELP"
    )
    assert MenuKey("MENU_HELP")(click, ctx) is True and MenuKey("MENU_BIND")(click, ctx) is False
    assert MenuKey("MENU_HELP")(msg, ctx) is False


async def test_a_conversation_survives_a_restart(
    make_client: AppFactory, make_settings: Any, clock: FixedClock
) -> None:
    settings = make_settings()
    first = await make_client(routers=(counter_router(),), settings=settings)
    await WeChatUser(first, clock, "o-restart").send("开始")
    await WeChatUser(first, clock, "o-restart").send("5")
    await first.close()
    again = await make_client(routers=(counter_router(),), settings=settings)
    assert (await WeChatUser(again, clock, "o-restart").send("2")).text == "合计7"
