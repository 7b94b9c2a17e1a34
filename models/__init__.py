"""SQLAlchemy 2.x typed models, one module per aggregate, and database setup (models.db)."""

from models.base import Base
from models.conversation import ConversationState
from models.inbound import InboundLog
from models.outbox import OutboxRow, OutboxStatus
from models.token import AccessToken
from models.wechat_user import WeChatUser

__all__ = [
    "AccessToken",
    "Base",
    "ConversationState",
    "InboundLog",
    "OutboxRow",
    "OutboxStatus",
    "WeChatUser",
]
