"""A resident talks to the account: help in every spelling, menu numbers, unknown input."""

from __future__ import annotations

from typing import Any

import pytest

from bot.edge.context import Context
from bot.edge.replies import Reply, TextReply
from bot.edge.router import Kind, Router
from bot.wechat.wire import Incoming
from tests.conftest import AppFactory
from tests.wechat import WeChatUser

MENU = "请回复数字：\n1 反映问题（报修、求助、投诉）\n2 查询我反映的问题\n3 党员绑定\n4 在职党员报到\n0 菜单"


@pytest.mark.parametrize("text", ["帮助", "菜单", "0", "幫助", "　帮助　", "帮助。", "？", "HELP"])
async def test_every_spelling_of_help_shows_the_resident_menu(user: WeChatUser, text: str) -> None:
    result = await user.send(text)
    assert result.status == 200
    assert result.text == MENU


async def test_voice_with_recognised_help_shows_the_menu(user: WeChatUser) -> None:
    assert (await user.say("帮助。")).text == MENU


async def test_voice_without_recognition_asks_for_text_or_a_number(user: WeChatUser) -> None:
    text = (await user.say(None)).text
    assert "没能听清" in text and MENU in text


@pytest.mark.parametrize("pick", ["1", "一", "１", "第一项"])
async def test_a_number_picks_that_item_of_the_menu(user: WeChatUser, pick: str) -> None:
    text = (await user.send(pick)).text
    assert text.startswith("请用一句话说说遇到了什么问题")  # 1 反映问题（报修、求助、投诉）


async def test_number_three_is_binding(user: WeChatUser) -> None:
    assert (await user.send("三")).text.startswith("请发送书记给您的6位绑定码")


async def test_a_number_past_the_menu_says_so(user: WeChatUser) -> None:
    text = (await user.send("9")).text
    assert text.startswith("没有第9项") and MENU in text


async def test_unknown_text_gets_a_helpful_answer_with_the_menu(user: WeChatUser) -> None:
    text = (await user.send("今天天气怎么样")).text
    assert "没能明白" in text and text.endswith(MENU)


async def test_keywords_are_understood_by_jieba(user: WeChatUser) -> None:
    # 居民诉求 takes it for a report (no organisation imported here to route it to).
    assert (await user.send("我家厨房漏水了")).text.startswith("抱歉，社区的组织信息还没有录入")


@pytest.mark.parametrize(
    ("kind", "fields", "name"),
    [
        ("video", {"MediaId": "m", "ThumbMediaId": "t"}, "视频"),
        ("shortvideo", {"MediaId": "m", "ThumbMediaId": "t"}, "小视频"),
        ("file", {"Title": "a.pdf", "FileKey": "k", "FileMd5": "x", "FileTotalLen": "12"}, "文件"),
        ("link", {"Title": "t", "Description": "d", "Url": "https://example.org"}, "链接"),
    ],
)
async def test_unsupported_kinds_say_what_partybot_takes(
    user: WeChatUser, kind: str, fields: dict[str, Any], name: str
) -> None:
    text = (await user.post_fields(user.fields(kind, **fields))).text
    assert f"暂时无法处理{name}" in text and "文字或语音" in text


async def test_location_message_is_acknowledged(user: WeChatUser) -> None:
    fields = user.fields("location", Location_X="39.9", Location_Y="116.4", Scale="15", Label="银杏社区")
    assert (await user.post_fields(fields)).text.startswith("已收到您的位置")


@pytest.mark.parametrize(
    ("event", "extra"),
    [
        ("VIEW", {"EventKey": "https://example.org/"}),
        ("LOCATION", {"Latitude": "39.9", "Longitude": "116.4", "Precision": "30"}),
        ("TEMPLATESENDJOBFINISH", {"MsgID": "200163836", "Status": "success"}),
        (
            "MASSSENDJOBFINISH",
            {
                "MsgID": "1000001625",
                "Status": "send success",
                "TotalCount": "100",
                "FilterCount": "80",
                "SentCount": "75",
                "ErrorCount": "5",
            },
        ),
        ("user_enter_tempsession", {}),
        ("some_future_event", {}),
    ],
)
async def test_events_partybot_does_not_use_are_answered_success(
    user: WeChatUser, event: str, extra: dict[str, Any]
) -> None:
    result = await user.event(event, **extra)
    assert (result.status, result.body) == (200, "success")


async def test_a_menu_click_routes_by_its_key(user: WeChatUser) -> None:
    assert (await user.event("CLICK", EventKey="MENU_HELP")).text == MENU
    assert (await user.event("CLICK", EventKey="MENU_BIND")).text.startswith("请发送书记给您的6位绑定码")


async def test_follow_gets_a_welcome_with_the_menu(user: WeChatUser) -> None:
    text = (await user.event("subscribe")).text
    assert text.startswith("您好，欢迎关注银杏社区。") and text.endswith(MENU)


async def test_reply_escapes_cdata_end_in_user_text(make_client: AppFactory, clock: Any) -> None:
    echo = Router("echo")

    @echo.message(Kind("text"))
    async def repeat(msg: Incoming, ctx: Context) -> Reply | None:
        return TextReply(f"您说：{msg.raw_text}")

    client = await make_client(routers=(echo,))
    user = WeChatUser(client, clock, "o-echo")
    tricky = "a]]><Content>injected</Content>b"
    result = await user.send(tricky)
    assert result.text == "您说：a]]><Content>injected</Content>b"


def test_reply_drops_characters_xml_forbids() -> None:
    from bot.dev.simulate import read_reply
    from bot.wechat.wire import render_reply

    msg = Incoming(openid="o-1", account="gh_x", kind="text", create_time=1)
    xml = render_reply(TextReply("a\x01b]]>c\x0b"), msg, 1714036504)
    reply = read_reply("t", xml)
    assert reply is not None and reply["Content"] == "ab]]>c"
