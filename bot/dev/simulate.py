"""What WeChat's servers do on their side of the webhook: build a user's message or event as XML, sign
it, optionally encrypt it, and read the answer. Used by the tests and by the fake WeChat API."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from typing import Any

from bot.wechat.wire import Cipher, parse_xml, sign


def user_fields(
    kind: str, openid: str, account: str, create_time: int, msg_id: int | None, **extra: Any
) -> dict[str, Any]:
    """The fields of a user message (kind: text, voice, ...) or of an event (kind='event', Event=...)."""
    fields: dict[str, Any] = {
        "ToUserName": account,
        "FromUserName": openid,
        "CreateTime": create_time,
        "MsgType": kind,
    }
    fields.update(extra)
    if kind != "event" and msg_id is not None:
        fields["MsgId"] = msg_id
    return fields


@dataclass(frozen=True, slots=True)
class SignedRequest:
    query: dict[str, str]
    body: str


def sign_request(
    token: str,
    xml: str,
    timestamp: int,
    *,
    cipher: Cipher | None = None,
    compatible: bool = False,
    nonce: str | None = None,
) -> SignedRequest:
    """Sign as WeChat does; with a cipher, encrypt (safe mode) or also keep the plaintext
    fields (compatible mode)."""
    nonce = nonce or str(secrets.randbelow(10**9))
    ts = str(timestamp)
    query = {"signature": sign(token, ts, nonce), "timestamp": ts, "nonce": nonce}
    if cipher is None:
        return SignedRequest(query, xml)
    encrypt = cipher.encrypt(xml)
    query.update(encrypt_type="aes", msg_signature=sign(token, ts, nonce, encrypt))
    if compatible:
        body = xml.replace("</xml>", f"<Encrypt><![CDATA[{encrypt}]]></Encrypt></xml>")
    else:
        to_user = parse_xml(xml).get("ToUserName", "")
        body = (
            f"<xml><ToUserName><![CDATA[{to_user}]]></ToUserName>"
            f"<Encrypt><![CDATA[{encrypt}]]></Encrypt></xml>"
        )
    return SignedRequest(query, body)


class ReplyError(Exception):
    """The answer is not one WeChat accepts (WeChat shows 该公众号暂时无法提供服务)."""


def read_reply(token: str, body: str, cipher: Cipher | None = None) -> dict[str, Any] | None:
    """The reply's fields, or None for `success`/empty. Encrypted replies are checked and decrypted."""
    if body in ("", "success"):
        return None
    root = parse_xml(body.encode())
    if "Encrypt" in root:
        if cipher is None:
            raise ReplyError("encrypted reply to a plaintext message")
        expected = sign(token, str(root.get("TimeStamp", "")), str(root.get("Nonce", "")), root["Encrypt"])
        if expected != root.get("MsgSignature"):
            raise ReplyError("reply MsgSignature does not match")
        body = cipher.decrypt(root["Encrypt"])
        root = parse_xml(body.encode())
    if "MsgType" not in root:
        raise ReplyError("reply without MsgType")
    if root["MsgType"] in ("voice", "image"):
        # <Voice><MediaId>…</MediaId></Voice>: the one nested field a media reply carries.
        found = re.search(r"<MediaId><!\[CDATA\[(.*?)\]\]></MediaId>|<MediaId>([^<]*)</MediaId>", body)
        if found is not None:
            root["MediaId"] = found.group(1) or found.group(2)
    return root
