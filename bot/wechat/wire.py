"""The WeChat wire format: signatures, safe-mode crypto, parsing inbound XML, rendering replies.

wechatpy parses messages, renders replies and provides the AES cipher; signatures are checked here
with ``hmac.compare_digest`` (wechatpy compares them with ``!=``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from xml.parsers import expat
from xml.parsers.expat import ExpatError
from xml.sax.saxutils import escape

from wechatpy.crypto import PrpCrypto
from wechatpy.replies import ImageReply as WxImageReply
from wechatpy.replies import VoiceReply as WxVoiceReply

from bot.edge.replies import ImageReply, Reply, TextReply, VoiceReply

# Characters XML 1.0 forbids; user-supplied text is echoed into replies, so drop them.
_XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


class BadRequest(Exception):
    """The body is not a WeChat message we can read (answered 400)."""


class Forbidden(Exception):
    """Signature or freshness check failed (answered 403, nothing written)."""


def sign(token: str, timestamp: str, nonce: str, *extra: str) -> str:
    """sha1 over the sorted parts: `signature`, or `msg_signature` when the Encrypt value is passed."""
    return hashlib.sha1("".join(sorted([token, timestamp, nonce, *extra])).encode()).hexdigest()


def signature_ok(expected: str, given: str | None) -> bool:
    return given is not None and hmac.compare_digest(expected.encode(), given.encode())


def check_signature(
    token: str, query: Mapping[str, str], now: float, max_age_s: int, *, encrypt: str | None = None
) -> None:
    """Raise Forbidden unless `signature` (and `msg_signature` for an encrypted body) match and the
    timestamp is within max_age_s of now (neither SDK checks freshness: replays would pass)."""
    timestamp = query.get("timestamp", "")
    nonce = query.get("nonce", "")
    if not timestamp.isdigit() or not nonce or len(nonce) > 64:
        raise Forbidden("missing or malformed timestamp/nonce")
    if abs(now - int(timestamp)) > max_age_s:
        raise Forbidden("stale timestamp")
    if not signature_ok(sign(token, timestamp, nonce), query.get("signature")):
        raise Forbidden("bad signature")
    if encrypt is not None and not signature_ok(
        sign(token, timestamp, nonce, encrypt), query.get("msg_signature")
    ):
        raise Forbidden("bad msg_signature")


class _Prp(PrpCrypto):  # type: ignore[misc]
    """wechatpy's cipher, with the 16-byte random prefix from a CSPRNG (wechatpy uses random.sample)."""

    def get_random_string(self) -> str:
        return secrets.token_urlsafe(12)


class Cipher:
    """AES-256-CBC of safe mode (WeChat's Message_Encryption/Technical_Plan), with the previous
    EncodingAESKey as a fallback so a key rotation in the account settings loses no message."""

    def __init__(self, appid: str, aes_key: str, previous_key: str | None = None) -> None:
        self.appid = appid
        self._current = _Prp(base64.b64decode(aes_key + "="))
        self._previous = _Prp(base64.b64decode(previous_key + "=")) if previous_key else None

    def encrypt(self, plaintext: str, *, previous: bool = False) -> str:
        crypto = self._previous if previous and self._previous is not None else self._current
        encrypted: bytes = crypto.encrypt(plaintext, self.appid)
        return encrypted.decode()

    def decrypt(self, ciphertext: str) -> str:
        return self.open(ciphertext)[0]

    def open(self, ciphertext: str) -> tuple[str, bool]:
        """Decrypt; also say whether it took the previous key (then the reply uses it too: WeChat's
        side of the account still has the old key)."""
        for previous, crypto in ((False, self._current), (True, self._previous)):
            if crypto is None:
                continue
            try:
                text: str = crypto.decrypt(ciphertext, self.appid)
                return text, previous
            except Exception:
                continue
        raise BadRequest("cannot decrypt the message with the current or previous key")

    def encrypted_reply(
        self, token: str, plaintext: str, timestamp: str, nonce: str, *, previous: bool = False
    ) -> str:
        encrypt = self.encrypt(plaintext, previous=previous)
        signature = sign(token, timestamp, nonce, encrypt)
        return (
            f"<xml><Encrypt><![CDATA[{encrypt}]]></Encrypt>"
            f"<MsgSignature><![CDATA[{signature}]]></MsgSignature>"
            f"<TimeStamp>{timestamp}</TimeStamp><Nonce><![CDATA[{nonce}]]></Nonce></xml>"
        )


class _FlatReader:
    """Reads WeChat's flat <xml> document into {element: text}. pyexpat directly, not xmltodict: its
    pure-Python callbacks were the largest cost per message in profiles (see docs/architecture.md).
    DTDs and entity declarations are refused, as xmltodict 1.0 does; elements nested deeper than the
    fields (MASSSENDJOBFINISH's CopyrightCheckResult, scancode's ScanCodeInfo) are skipped: their field
    reads as empty, and partybot uses none of them."""

    __slots__ = ("buffer", "depth", "fields", "name", "nested")

    def __init__(self) -> None:
        self.fields: dict[str, str] = {}
        self.depth = 0
        self.name = ""
        self.buffer: list[str] = []
        self.nested = False

    def start(self, name: str, attrs: object) -> None:
        self.depth += 1
        if self.depth == 1:
            if name != "xml":
                raise BadRequest("the document has no <xml> root element")
        elif self.depth == 2:
            self.name, self.buffer, self.nested = name, [], False
        else:
            self.nested = True

    def end(self, name: str) -> None:
        if self.depth == 2:
            self.fields[self.name] = "" if self.nested else "".join(self.buffer)
        self.depth -= 1

    def text(self, data: str) -> None:
        if self.depth == 2:
            self.buffer.append(data)


def _refuse_dtd(*args: object) -> None:
    raise BadRequest("DTDs and entity declarations are refused")


def parse_xml(body: bytes | str) -> dict[str, str]:
    """Parse a WeChat XML document to its fields; entity declarations are refused."""
    reader = _FlatReader()
    parser = expat.ParserCreate()
    parser.buffer_text = True
    parser.StartDoctypeDeclHandler = _refuse_dtd
    parser.EntityDeclHandler = _refuse_dtd
    parser.StartElementHandler = reader.start
    parser.EndElementHandler = reader.end
    parser.CharacterDataHandler = reader.text
    try:
        parser.Parse(body, True)
    except (ExpatError, ValueError, UnicodeError) as exc:
        raise BadRequest(f"malformed XML: {exc}") from exc
    return reader.fields


_NUMERIC = frozenset(
    {
        "CreateTime",
        "MsgId",
        "Latitude",
        "Longitude",
        "Precision",
        "Location_X",
        "Location_Y",
        "Scale",
        "MsgID",
        "TotalCount",
        "FilterCount",
        "SentCount",
        "ErrorCount",
    }
)


def message_xml(fields: Mapping[str, Any]) -> str:
    """<xml> with each field as WeChat writes it: numbers bare, text in CDATA."""
    parts = ["<xml>"]
    for name, value in fields.items():
        if value is None:
            continue
        if name in _NUMERIC:
            parts.append(f"<{name}>{escape(str(value))}</{name}>")
        else:
            text = str(value).replace("]]>", "]]]]><![CDATA[>")
            parts.append(f"<{name}><![CDATA[{text}]]></{name}>")
    parts.append("</xml>")
    return "".join(parts)


def extract_encrypt(body: bytes) -> str:
    root = parse_xml(body)
    encrypt = root.get("Encrypt")
    if not isinstance(encrypt, str) or not encrypt:
        raise BadRequest("encrypted request without an <Encrypt> element")
    return encrypt


@dataclass(frozen=True, slots=True)
class Incoming:
    """One message or event from a user, as partybot handles it."""

    openid: str
    account: str
    kind: str  # text, image, voice, video, shortvideo, location, link, file, event, or WeChat's name
    create_time: int
    msg_id: int | None = None
    # The text a handler reads: normalised text, or the normalised recognition of a voice message.
    text: str = ""
    raw_text: str | None = None
    event: str | None = None  # lower case: subscribe, unsubscribe, scan, click, view, location, ...
    event_key: str | None = None
    scene: str | None = None  # parametric QR scene (subscribe via qrscene_..., SCAN)
    media_id: str | None = None
    latitude: float | None = None
    longitude: float | None = None
    fields: Mapping[str, str | None] = field(default_factory=dict)

    @property
    def is_event(self) -> bool:
        return self.kind == "event"

    @property
    def dedupe_key(self) -> str:
        """MsgId for messages; openid + time + event + key for events (which carry no MsgId), so two
        different events from one user in the same second are both handled."""
        if self.msg_id:
            return f"m:{self.openid}:{self.msg_id}"
        return f"e:{self.openid}:{self.create_time}:{self.event or self.kind}:{self.event_key or ''}"


def parse_incoming(xml: str, normalize: Callable[[str], str] | None = None) -> Incoming:
    """Parse plaintext message XML into Incoming; BadRequest when it is not a usable message.
    `normalize` turns the raw text (or voice recognition) into the text handlers route on."""
    fields = parse_xml(xml)
    openid = fields.get("FromUserName") or ""
    account = fields.get("ToUserName") or ""
    if not openid or len(openid) > 64 or not account:
        raise BadRequest("FromUserName/ToUserName missing")
    kind = (fields.get("MsgType") or "").lower()
    if not kind:
        raise BadRequest("MsgType missing")
    create = fields.get("CreateTime") or "0"
    msg_id_text = fields.get("MsgId") or fields.get("MsgID")
    if not _is_number(create) or (msg_id_text is not None and not _is_number(msg_id_text)):
        raise BadRequest("CreateTime/MsgId not numeric")
    msg_id = int(msg_id_text) if msg_id_text else None

    text: str | None = None
    event = event_key = scene = None
    latitude = longitude = None
    if kind == "text":
        text = fields.get("Content") or ""
    elif kind == "voice":
        text = fields.get("Recognition") or None
    elif kind == "event":
        event = (fields.get("Event") or "").lower() or None
        event_key = fields.get("EventKey")
        if event == "subscribe" and event_key and event_key.startswith("qrscene_"):
            scene = event_key.removeprefix("qrscene_")
        elif event == "scan":
            scene = event_key
        if event == "location":
            latitude, longitude = _float(fields.get("Latitude")), _float(fields.get("Longitude"))
    if kind == "location":
        latitude, longitude = _float(fields.get("Location_X")), _float(fields.get("Location_Y"))
    return Incoming(
        openid=openid,
        account=account,
        kind=kind,
        create_time=int(create),
        msg_id=msg_id,
        text=(normalize(text) if normalize else text) if text else "",
        raw_text=text,
        event=event,
        event_key=event_key,
        scene=scene,
        media_id=fields.get("MediaId"),
        latitude=latitude,
        longitude=longitude,
        fields=fields,
    )


def _is_number(text: str) -> bool:
    return text.isascii() and text.isdigit() and len(text) <= 20


def _float(value: str | None) -> float | None:
    try:
        return float(value) if value else None
    except ValueError:
        return None


def safe_cdata(text: str) -> str:
    """Make user-supplied text safe inside the CDATA sections of a reply: split any ``]]>`` across
    two sections and drop characters XML 1.0 forbids."""
    return _XML_ILLEGAL.sub("", text).replace("]]>", "]]]]><![CDATA[>")


# wechatpy's text reply, byte for byte, without its field machinery (a fifth of its time; every answer).
_TEXT_REPLY = (
    "<xml>\n<MsgType><![CDATA[text]]></MsgType>\n<Content><![CDATA[{content}]]></Content>\n"
    "<FromUserName><![CDATA[{source}]]></FromUserName>\n<ToUserName><![CDATA[{target}]]></ToUserName>\n"
    "<CreateTime>{time}</CreateTime>\n</xml>"
)


def render_reply(reply: Reply, msg: Incoming, now: float) -> str:
    """Render a passive reply as plaintext XML."""
    if isinstance(reply, TextReply):
        return _TEXT_REPLY.format(
            content=safe_cdata(reply.text), source=msg.account, target=msg.openid, time=int(now)
        )
    common: dict[str, Any] = {"source": msg.account, "target": msg.openid, "time": int(now)}
    wx: WxVoiceReply | WxImageReply
    if isinstance(reply, VoiceReply):
        wx = WxVoiceReply(media_id=reply.media_id, **common)
    elif isinstance(reply, ImageReply):
        wx = WxImageReply(media_id=reply.media_id, **common)
    else:  # pragma: no cover - exhaustive over Reply
        raise TypeError(f"cannot render {reply!r}")
    rendered: str = wx.render()
    return rendered
