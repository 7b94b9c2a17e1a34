"""Every message and event kind WeChat documents is answered 200; no body ever yields a 5xx."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.clock import FixedClock
from bot.dev.simulate import sign_request
from bot.wechat.wire import Cipher, message_xml, sign
from tests.conftest import AES_KEY, APPID, AppFactory
from tests.wechat import TOKEN, WeChatUser

DOCUMENTED: list[tuple[str, dict[str, Any]]] = [
    ("text", {"Content": "你好"}),
    ("image", {"PicUrl": "http://mmbiz.example/1.jpg", "MediaId": "m1"}),
    ("voice", {"MediaId": "m2", "Format": "amr", "Recognition": "我要看党费"}),
    ("voice", {"MediaId": "m3", "Format": "speex"}),
    ("video", {"MediaId": "m4", "ThumbMediaId": "t4"}),
    ("shortvideo", {"MediaId": "m5", "ThumbMediaId": "t5"}),
    ("location", {"Location_X": "23.134521", "Location_Y": "113.358803", "Scale": "20", "Label": "位置"}),
    ("link", {"Title": "标题", "Description": "描述", "Url": "https://example.org/a"}),
    ("file", {"Title": "a.docx", "Description": "", "FileKey": "k", "FileMd5": "m", "FileTotalLen": "9"}),
    ("event", {"Event": "subscribe"}),
    ("event", {"Event": "subscribe", "EventKey": "qrscene_7f3a9c", "Ticket": "TICKET"}),
    ("event", {"Event": "unsubscribe"}),
    ("event", {"Event": "SCAN", "EventKey": "7f3a9c", "Ticket": "TICKET"}),
    ("event", {"Event": "LOCATION", "Latitude": "23.137466", "Longitude": "113.352425", "Precision": "119"}),
    ("event", {"Event": "CLICK", "EventKey": "MENU_HELP"}),
    ("event", {"Event": "CLICK", "EventKey": "NOT_A_KEY"}),
    ("event", {"Event": "VIEW", "EventKey": "https://example.org/"}),
    ("event", {"Event": "TEMPLATESENDJOBFINISH", "MsgID": "200163836", "Status": "failed:user block"}),
    (
        "event",
        {
            "Event": "MASSSENDJOBFINISH",
            "MsgID": "1000001625",
            "Status": "send success",
            "TotalCount": "100",
            "FilterCount": "80",
            "SentCount": "75",
            "ErrorCount": "5",
        },
    ),
]


@pytest.mark.parametrize(
    ("kind", "fields"), DOCUMENTED, ids=[f"{k}-{f.get('Event', '')}" for k, f in DOCUMENTED]
)
async def test_documented_kinds_are_answered(
    make_client: AppFactory, clock: FixedClock, kind: str, fields: dict[str, Any]
) -> None:
    client = await make_client(wechat_aes_key=AES_KEY)
    for cipher in (None, Cipher(APPID, AES_KEY)):
        # Plaintext is refused in safe mode; encrypted is the real path.
        user = WeChatUser(client, clock, f"o-kind-{kind}", cipher=cipher)
        result = await user.post_fields(user.fields(kind, **fields))
        assert result.status == (403 if cipher is None else 200), result.body
        clock.advance(1)


@pytest.fixture
async def safe_client(make_client: AppFactory) -> TestClient[Any, Any]:
    return await make_client(wechat_aes_key=AES_KEY)


xml_text = st.text(alphabet=st.characters(codec="utf-8"), max_size=300)
fields_strategy = st.dictionaries(
    st.sampled_from(
        [
            "ToUserName",
            "FromUserName",
            "CreateTime",
            "MsgType",
            "Content",
            "MsgId",
            "Event",
            "EventKey",
            "Recognition",
            "MediaId",
            "Latitude",
            "Location_X",
            "Encrypt",
        ]
    ),
    st.one_of(xml_text, st.integers(min_value=-(2**70), max_value=2**70).map(str)),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    body=st.one_of(
        st.binary(max_size=600),
        xml_text.map(str.encode),
        fields_strategy.map(lambda f: message_xml(f).encode()),
    )
)
async def test_fuzzed_plain_bodies_never_5xx(
    client: TestClient[Any, Any], clock: FixedClock, body: bytes
) -> None:
    signed = sign_request(TOKEN, "<xml/>", int(clock.time()))
    resp = await client.post("/wechat", params=signed.query, data=body)
    assert resp.status in (200, 400, 403, 413), await resp.text()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(encrypt=st.one_of(xml_text, st.binary(max_size=200).map(lambda b: base64.b64encode(b).decode())))
async def test_fuzzed_encrypted_bodies_never_5xx(
    safe_client: TestClient[Any, Any], clock: FixedClock, encrypt: str
) -> None:
    client = safe_client
    ts, nonce = str(int(clock.time())), "42"
    query = {
        "signature": sign(TOKEN, ts, nonce),
        "timestamp": ts,
        "nonce": nonce,
        "encrypt_type": "aes",
        "msg_signature": sign(TOKEN, ts, nonce, encrypt),
    }
    body = message_xml({"ToUserName": "gh", "Encrypt": encrypt}).encode()
    resp = await client.post("/wechat", params=query, data=body)
    assert resp.status in (200, 400, 403), await resp.text()


@pytest.mark.parametrize(
    "inner",
    [
        # MASSSENDJOBFINISH as WeChat sends it, with the copyright check block.
        "<MsgType><![CDATA[event]]></MsgType><Event><![CDATA[MASSSENDJOBFINISH]]></Event><MsgID>1000001625</MsgID>"
        "<Status><![CDATA[send success]]></Status><TotalCount>100</TotalCount><FilterCount>80</FilterCount>"
        "<SentCount>75</SentCount><ErrorCount>5</ErrorCount><CopyrightCheckResult><Count>1</Count><ResultList>"
        "<item><ArticleIdx>1</ArticleIdx><UserDeclareState>0</UserDeclareState></item></ResultList>"
        "<CheckState>2</CheckState></CopyrightCheckResult>",
        "<MsgType><![CDATA[event]]></MsgType><Event><![CDATA[scancode_waitmsg]]></Event>"
        "<EventKey><![CDATA[6]]></EventKey><ScanCodeInfo><ScanType><![CDATA[qrcode]]></ScanType>"
        "<ScanResult><![CDATA[1]]></ScanResult></ScanCodeInfo>",
    ],
    ids=["masssendjobfinish-copyright", "scancode-waitmsg"],
)
async def test_events_with_nested_blocks_are_answered(
    client: TestClient[Any, Any], clock: FixedClock, inner: str
) -> None:
    xml = (
        f"<xml><ToUserName><![CDATA[gh]]></ToUserName><FromUserName><![CDATA[o-n]]></FromUserName>"
        f"<CreateTime>{int(clock.time())}</CreateTime>{inner}</xml>"
    )
    result = await WeChatUser(client, clock, "o-n").post_xml(xml)
    assert (result.status, result.body) == (200, "success")
