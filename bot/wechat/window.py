"""The customer-service (客服) allowance, as WECHAT.md models it.

A user *message* opens 5 sends valid 48 h; a menu click, a follow or a QR scan opens 3 sends valid
1 minute, which does not replace a live 48 h allowance. Other events open nothing. The delivery
engine and the fake WeChat API use this same model.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

MESSAGE_SENDS = 5
MESSAGE_WINDOW = timedelta(hours=48)
EVENT_SENDS = 3
EVENT_WINDOW = timedelta(minutes=1)

MESSAGE_KINDS = frozenset({"text", "image", "voice", "video", "shortvideo", "location", "link", "file"})
OPENING_EVENTS = frozenset({"click", "subscribe", "scan"})


@dataclass(frozen=True, slots=True)
class Window:
    kind: str | None = None  # "message" or "event"
    expires_at: datetime | None = None
    left: int = 0

    def is_open(self, now: datetime) -> bool:
        return self.expires_at is not None and now < self.expires_at and self.left > 0

    def use(self, now: datetime) -> Window:
        if not self.is_open(now):
            raise ValueError("no customer-service send left for this user")
        return Window(self.kind, self.expires_at, self.left - 1)


def interaction_kind(kind: str, event: str | None) -> str | None:
    """'message', 'event' or None: what this inbound item opens."""
    if kind in MESSAGE_KINDS:
        return "message"
    if kind == "event" and event in OPENING_EVENTS:
        return "event"
    return None


def opened(window: Window, interaction: str | None, at: datetime) -> Window:
    if interaction == "message":
        return Window("message", at + MESSAGE_WINDOW, MESSAGE_SENDS)
    if interaction == "event":
        if window.kind == "message" and window.expires_at is not None and at < window.expires_at:
            return window
        return Window("event", at + EVENT_WINDOW, EVENT_SENDS)
    return window
