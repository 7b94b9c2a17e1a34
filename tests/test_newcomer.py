"""What a new user stumbled on (issue 10): advice that names the menu the person sees, menu numbers inside
conversations, words that should work, and menus that fit the person."""

from __future__ import annotations

import re
from itertools import product
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from bot.clock import FixedClock
from bot.content import Content, load_content
from bot.domain.policy import Role
from tests.community import seed
from tests.helpers import services
from tests.wechat import WeChatUser

TRAITS: tuple[frozenset[str], ...] = (frozenset(), frozenset({"mobile"}))
# Texts that number their own choices inside a conversation (not the menu's numbers).
OWN_CHOICES = {
    "dual_confirm",
    "posts_bad",
    "study_pick_range",
    "study_link_pick",
    "records_existing_choose",
    "records_no_room",
    "meeting_kind_bad",
    # A solved request's rating: 1 满意 2 基本满意 3 不满意 (handlers/requests.py claims the bare number).
    "request_notice_rate",
    "request_notice_rate_reminder",
}


@pytest.fixture(scope="module")
def content() -> Content:
    return load_content()


def test_every_menu_hint_names_the_number_the_person_sees(content: Content) -> None:
    hints = content.texts["menu_hints"]
    checked = 0
    for role, traits, (name, spec) in product([r.value for r in Role], TRAITS, hints.items()):
        hint = content.hint(name, role, traits)
        numbers = [int(n) for n in re.findall(r"回复(\d+)", hint)]
        visible = dict(content.entries(role, traits))
        if numbers:
            assert len(numbers) == 1 and visible[numbers[0]].intent == spec["intent"], (role, hint)
        else:
            assert spec["intent"] not in {item.intent for item in visible.values()}, (role, hint)
        checked += 1
    assert checked == len(Role) * len(TRAITS) * len(hints)
    # The resident's menu has 党员绑定 as 3; a grid worker's and a member's have no binding item.
    assert content.hint("bind", "resident") == "回复3开始绑定。"
    assert "回复" not in content.hint("bind", "grid_worker")
    assert "绑定 482913" in content.hint("bind", "member")


def test_no_text_hard_codes_a_menu_number(content: Content) -> None:
    def strings(value: Any, key: str) -> list[tuple[str, str]]:
        if isinstance(value, str):
            return [(key, value)]
        if isinstance(value, dict):
            return [pair for k, v in value.items() for pair in strings(v, k)]
        return []

    found = [
        (key, text)
        for key, text in strings(content.texts, "")
        if key not in OWN_CHOICES and re.search(r"回复[1-9]", text)
    ]
    # A menu number reaches a text only through a hint, which takes it from the person's menu.
    assert found == []
    assert content.texts["menu_hints"]["bind"]["number"] == "回复{number}开始绑定。"


@pytest.fixture
async def community(client: TestClient[Any, Any]) -> None:
    await seed(services(client).db, bind=("YX-002", "YX-004", "YX-007"), grid_worker="o-grid")


async def test_advice_to_bind_fits_the_menu_of_who_asks(
    client: TestClient[Any, Any], clock: FixedClock, community: None
) -> None:
    resident = WeChatUser(client, clock, "o-new")
    assert (await resident.send("我的信息")).text == "这项服务需要先绑定党员身份。回复3开始绑定。"
    assert (await resident.send("3")).text.startswith("请发送书记给您的6位绑定码")
    grid = WeChatUser(client, clock, "o-grid")
    text = (await grid.send("语音模式 开")).text
    assert "回复3" not in text and "绑定 482913" in text


async def test_a_menu_number_leaves_a_conversation_that_asked_for_none(
    client: TestClient[Any, Any], clock: FixedClock, community: None
) -> None:
    resident = WeChatUser(client, clock, "o-new")
    assert (await resident.send("党员绑定")).text.startswith("请发送书记给您的6位绑定码")
    # 4 is 在职党员报到 in a resident's menu, not a failed binding attempt.
    assert (await resident.send("4")).text.startswith("在职党员到社区报到（双报到）")
    # In the 双报到 conversation numbers are answers (5 is a building), so they stay there.
    assert (await resident.send("张伟")).text.startswith("第2步")
    assert (await resident.send("13900138888")).text.startswith("第3步")
    assert (await resident.send("青禾科技有限公司党支部")).text.startswith("第4步")
    assert (await resident.send("5")).text.startswith("第5步")
    # A number no menu item has stays in the binding conversation and gets its correction.
    await resident.send("0")
    await WeChatUser(client, clock, "o-other").send("3")
    assert (await WeChatUser(client, clock, "o-other").send("9")).text.startswith("没能识别")


async def test_a_request_in_words_gets_the_menu_items_answer(
    client: TestClient[Any, Any], clock: FixedClock, community: None
) -> None:
    resident = WeChatUser(client, clock, "o-new")
    # 居民诉求 is built (tests/test_requests_chat.py): the item and the words start a report.
    asked = "请用一句话说说遇到了什么问题"
    assert (await resident.send("1")).text.startswith(asked)
    for words in ("反映 3号楼楼道灯坏了", "报修 水管漏水", "漏水", "投诉楼下噪音"):
        reply = (await resident.send(words)).text
        starts = ("已受理", "您刚才已经反映过", "请问是哪栋楼", asked)
        assert "即将开通" not in reply and reply.startswith(starts), words
        await resident.send("0")
    assert (await resident.send("我的诉求")).text.startswith("您反映的问题（最近2件）")
    member = WeChatUser(client, clock, "o-YX-004")
    # 党员建议 is built (tests/test_suggestions.py): filed with its number.
    assert (await member.send("建议 在小区多装几个路灯")).text.startswith("已收到您的建议，编号S")
    # The theme day is built: its words get its own answers, not "coming".
    assert (await member.send("报名")).text == "目前没有需要回复的活动。回复“主题党日”查看本月安排。"
    assert (await member.send("签到")).text == "请发送“签到”加书记公布的四位签到码，例如：签到 1234"


@pytest.mark.parametrize("word", ["确认", "是", "1"])
async def test_the_dual_report_check_step_takes_words(
    client: TestClient[Any, Any], clock: FixedClock, community: None, word: str
) -> None:
    user = WeChatUser(client, clock, "o-dual")
    for text in ("报到", "张伟", "13900138888", "青禾科技有限公司党支部", "5号楼", "2单元602"):
        await user.send(text)
    assert (await user.send(word)).text.startswith("已提交。社区书记确认后")


async def test_a_members_menu_shows_what_applies_to_them(
    client: TestClient[Any, Any], clock: FixedClock, community: None
) -> None:
    wang = WeChatUser(client, clock, "o-YX-004")  # 王秀兰, retired, not mobile
    menu = (await wang.send("帮助")).text
    assert menu.startswith("王秀兰同志，您好。\n请回复数字：\n1 学习园地\n2 我的党费\n3 主题党日\n5 我的信息")
    assert "流动报到" not in menu
    # 0 goes back to the menu without the greeting; the numbers she learned still work.
    assert (await wang.send("0")).text.startswith("请回复数字：\n1 学习园地")
    assert (await wang.send("5")).text.startswith("王秀兰同志的信息")
    assert (await wang.send("4")).text.startswith("没有第4项。")
    assert (await wang.send("流动报到")).text.startswith("“流动报到”是流动党员的服务")
    li = WeChatUser(client, clock, "o-YX-007")  # 李文博, a mobile member
    assert "\n4 流动报到\n" in (await li.send("帮助")).text
    assert (await li.send("4")).text.startswith("请用一句话说说您本月在哪里、做什么")


async def test_a_grid_workers_menu_holds_a_grid_workers_work(
    client: TestClient[Any, Any], clock: FixedClock, community: None
) -> None:
    grid = WeChatUser(client, clock, "o-grid")
    menu = (await grid.send("帮助")).text
    assert menu == "韩磊，您好。\n请回复数字：\n1 待办诉求\n2 代居民反映问题\n3 我的信息\n0 菜单"
    info = (await grid.send("3")).text
    assert info.startswith("韩磊的信息：\n岗位：网格员（银杏社区党委/第一网格党支部）\n手机：13900139001")
    assert (await grid.send("待办")).text == "目前没有待办诉求。"
