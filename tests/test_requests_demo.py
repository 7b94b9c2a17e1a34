"""The demo exercises 居民诉求 and 党员建议 (bot.dev.demo_requests): tickets in every state — open untaken,
taken with a 进展, 办结 waiting for a rating, closed 满意, reopened after 不满意, a merged group — and two
suggestions, one answered, one waiting; then a demo resident, the grid workers and a secretary chat with it
through the webhook."""

from __future__ import annotations

import re
from typing import Any

from aiohttp.test_utils import TestClient
from sqlalchemy import select

from bot.app import SETTINGS
from bot.clock import FixedClock
from bot.dev.demo import seed_demo
from bot.dev.demo_requests import DEMO_RESIDENTS, seed_requests
from models import RequestEvent, RequestTicket, Suggestion
from tests.conftest import AppFactory
from tests.helpers import services
from tests.wechat import WeChatUser

NUMBER = re.compile(r"R\d{8}-\d{4}")


async def demo(make_client: AppFactory, clock: FixedClock) -> TestClient[Any, Any]:
    client = await make_client()
    settings = client.app[SETTINGS]
    assert await seed_demo(settings, clock.now())
    assert await seed_requests(settings, clock.now()) == {"tickets": 8, "suggestions": 2}
    return client


async def test_the_demo_has_tickets_in_every_state_and_suggestions(
    make_client: AppFactory, clock: FixedClock
) -> None:
    client = await demo(make_client, clock)
    async with services(client).db.read() as session:
        tickets = {t.reporter_openid: t for t in (await session.scalars(select(RequestTicket))).all()}
        progressed = await session.scalar(select(RequestEvent.id).where(RequestEvent.kind == "progress"))
        answered = sorted((s.status, s.answer) for s in (await session.scalars(select(Suggestion))).all())
    assert set(tickets) == set(DEMO_RESIDENTS)
    state = {openid[len("o-demo-res-") :]: (t.state, t.outcome) for openid, t in tickets.items()}
    assert state["1"] == ("new", None)  # open, untaken
    assert state["2"] == ("taken", None) and progressed is not None  # taken, with a 进展
    assert state["3"] == ("solved", None)  # waiting for its rating
    assert state["4"] == ("closed", "satisfied")
    assert tickets["o-demo-res-5"].reopen_count == 1 and state["5"][0] in ("new", "taken")
    assert tickets["o-demo-res-5"].category == "邻里纠纷"
    lift = tickets["o-demo-res-6"]
    assert {tickets[f"o-demo-res-{n}"].primary_id for n in (7, 8)} == {lift.id} and lift.state == "new"
    assert answered == [("answered", "已和物业商量好，下周在1号楼门口安装两把长椅"), ("open", None)]


async def test_a_demo_resident_the_grid_workers_and_a_secretary_chat(
    make_client: AppFactory, clock: FixedClock
) -> None:
    client = await demo(make_client, clock)
    resident = WeChatUser(client, clock, openid="o-demo-res-3")
    mine = (await resident.send("我的诉求")).text
    assert "【待评价】" in mine and "1号楼2单元" in mine
    assert (await resident.send("1 修好了")).text.startswith("感谢您的评价（满意）")

    newcomer = WeChatUser(client, clock, openid="o-demo-res-9")
    filed = (await newcomer.send("反映 3号楼电梯坏了")).text
    found = NUMBER.search(filed)
    assert found is not None and "物业维修" in filed, filed
    await newcomer.send("跳过")
    assert found.group(0) in (await newcomer.send("我的诉求")).text

    first = (await WeChatUser(client, clock, openid="o-demo-WG-01").send("待办")).text
    assert first.startswith("【待办诉求】共4件"), first  # untaken, taken, reopened, and the new one
    assert found.group(0) in first
    second = (await WeChatUser(client, clock, openid="o-demo-WG-02").send("待办")).text
    assert second.startswith("【待办诉求】共1件") and "（3人反映）" in second, second

    secretary = WeChatUser(client, clock, openid="o-demo-YX-003")  # 陈志强, 第二网格党支部书记
    waiting = (await secretary.send("待答复建议")).text
    assert waiting.startswith("待答复的党员建议共1条") and "马成林" in waiting, waiting
    assert "已答复" in (await WeChatUser(client, clock, openid="o-demo-YX-004").send("我的建议")).text
