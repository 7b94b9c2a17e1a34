from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base


class WeChatUser(Base):
    """A follower of the account, by openid, with the customer-service (客服) allowance of WECHAT.md.

    The allowance is one of: ``message`` (5 sends within 48 h of the user's last message) or
    ``event`` (3 sends within 1 minute of a menu click, follow or QR scan).
    """

    __tablename__ = "wechat_users"

    openid: Mapped[str] = mapped_column(String(64), primary_key=True)
    subscribed: Mapped[bool] = mapped_column(default=True)
    first_seen_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]
    subscribed_at: Mapped[datetime | None] = mapped_column(default=None)
    unsubscribed_at: Mapped[datetime | None] = mapped_column(default=None)
    last_message_at: Mapped[datetime | None] = mapped_column(default=None)
    window_kind: Mapped[str | None] = mapped_column(String(16), default=None)
    window_expires_at: Mapped[datetime | None] = mapped_column(default=None)
    window_left: Mapped[int] = mapped_column(default=0)
