"""SQLAlchemy 2.x typed models, one module per aggregate, and database setup (models.db)."""

from models.audit import AuditEntry
from models.base import Base
from models.binding import Binding, BindingAttempt, BindingCode, BindingRequest, QRBindingToken
from models.console import ConsoleLockout, ConsoleLoginCode, ConsolePassword, ConsoleSession
from models.conversation import ConversationState
from models.dual_report import DualReport
from models.dues import DuesAdjustment, DuesBase, DuesClaim, DuesEntry, DuesEntryKind, DuesUnitRate
from models.events import (
    Attendance,
    Event,
    EventKind,
    EventPhoto,
    EventRecord,
    EventStatus,
    Invitation,
    SignInCode,
)
from models.identity import IdentityChange
from models.inbound import InboundLog
from models.mobile import IncomingMember, MobileRegistration, MobileReport
from models.notice import Notice, NoticeClip
from models.org import Building, Door, OrgUnit, UnitKind
from models.outbox import EarlyJobReport, Lease, OutboxRow, OutboxStatus
from models.people import Admin, Member, Staff, VolunteerPost
from models.points import PointEntry
from models.requests import RequestEvent, RequestLink, RequestPhoto, RequestRating, RequestTicket
from models.study import StudyMaterial, StudyRead
from models.suggestions import Suggestion
from models.token import AccessToken
from models.wechat_user import WeChatUser

__all__ = [
    "AccessToken",
    "Admin",
    "Attendance",
    "AuditEntry",
    "Base",
    "Binding",
    "BindingAttempt",
    "BindingCode",
    "BindingRequest",
    "Building",
    "ConsoleLockout",
    "ConsoleLoginCode",
    "ConsolePassword",
    "ConsoleSession",
    "ConversationState",
    "Door",
    "DualReport",
    "DuesAdjustment",
    "DuesBase",
    "DuesClaim",
    "DuesEntry",
    "DuesEntryKind",
    "DuesUnitRate",
    "EarlyJobReport",
    "Event",
    "EventKind",
    "EventPhoto",
    "EventRecord",
    "EventStatus",
    "IdentityChange",
    "InboundLog",
    "IncomingMember",
    "Invitation",
    "Lease",
    "Member",
    "MobileRegistration",
    "MobileReport",
    "Notice",
    "NoticeClip",
    "OrgUnit",
    "OutboxRow",
    "OutboxStatus",
    "PointEntry",
    "QRBindingToken",
    "RequestEvent",
    "RequestLink",
    "RequestPhoto",
    "RequestRating",
    "RequestTicket",
    "SignInCode",
    "Staff",
    "StudyMaterial",
    "StudyRead",
    "Suggestion",
    "UnitKind",
    "VolunteerPost",
    "WeChatUser",
]
