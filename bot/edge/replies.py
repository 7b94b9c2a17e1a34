"""What a handler answers with. Frozen dataclasses; rendering to XML lives in bot.wechat.wire."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class TextReply:
    text: str


@dataclass(frozen=True, slots=True)
class VoiceReply:
    media_id: str


@dataclass(frozen=True, slots=True)
class ImageReply:
    media_id: str


Reply = TextReply | VoiceReply | ImageReply


def reply_to_json(reply: Reply) -> dict[str, str]:
    if isinstance(reply, TextReply):
        return {"type": "text", "text": reply.text}
    if isinstance(reply, VoiceReply):
        return {"type": "voice", "media_id": reply.media_id}
    return {"type": "image", "media_id": reply.media_id}


def reply_from_json(data: dict[str, str]) -> Reply:
    kind = data["type"]
    if kind == "text":
        return TextReply(data["text"])
    if kind == "voice":
        return VoiceReply(data["media_id"])
    if kind == "image":
        return ImageReply(data["media_id"])
    raise ValueError(f"unknown reply type {kind!r}")
