"""SQLAlchemy 2.x typed models, one module per aggregate, and database setup (models.db)."""

from models.base import Base
from models.conversation import ConversationState
from models.inbound import InboundLog
from models.notice import Notice, NoticeClip
from models.org import (
    Admin,
    AuditEntry,
    Binding,
    BindingAttempt,
    BindingCode,
    BindingRequest,
    Building,
    Door,
    DualReport,
    Member,
    OrgUnit,
    QRBindingToken,
    Staff,
    UnitKind,
    VolunteerPost,
)
from models.outbox import Lease, OutboxRow, OutboxStatus
from models.token import AccessToken
from models.wechat_user import WeChatUser

__all__ = [
    "AccessToken",
    "Admin",
    "AuditEntry",
    "Base",
    "Binding",
    "BindingAttempt",
    "BindingCode",
    "BindingRequest",
    "Building",
    "ConversationState",
    "Door",
    "DualReport",
    "InboundLog",
    "Lease",
    "Member",
    "Notice",
    "NoticeClip",
    "OrgUnit",
    "OutboxRow",
    "OutboxStatus",
    "QRBindingToken",
    "Staff",
    "UnitKind",
    "VolunteerPost",
    "WeChatUser",
]
