"""The mass-send (群发) quota: on a service account WeChat lets each member receive at most 4 mass sends a
month, shared by every secretary of the account (WECHAT.md, Batch_Sends). The policy that keeps it for what
matters:

- only announcements are ever mass-sent, and only to members no other push reaches (customer service closed,
  no template or subscription notice configured or open for them: bot.outbound.channels decides that);
  scheduled and system notices (theme day, dues, report-in, study, alerts) never are;
- PARTYBOT_MASS_RESERVE_COMMUNITY of the month's sends are kept for the community: an announcement whose
  audience is a unit below the community (a branch's, a group's) is mass-sent to a member only while they
  have more than the reserve left; one to the community (社区党委) or above, or to everyone, may use them all;
- a member with none left gets the announcement at the top of their next passive reply.

`mass_room` is that rule: the delivery worker applies it, and the preview counts with it."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session

from bot.settings import AccountKind, Settings
from bot.wechat.account import Capability, allowed
from bot.wechat.window import Window
from models import OrgUnit, OutboxRow, OutboxStatus, WeChatUser
from models.org import UnitKind

# bot.outbound.notices.Channel.MASS_SEND (notices imports this module for its preview).
MASS_SEND = "mass_send"
# Units at this level or above speak for the whole community: their announcements may use the reserve.
COMMUNITY_LEVEL = frozenset({UnitKind.STREET.value, UnitKind.COMMUNITY.value})


def month_start(now: datetime, timezone: str) -> datetime:
    """The first moment of this month, Beijing time (WeChat counts the month there)."""
    local = now.astimezone(ZoneInfo(timezone))
    return local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def community_level(session: Session, unit_path: str) -> bool:
    """Whether a notice to this unit speaks for the community (社区党委 or 街道党工委, or "": everyone)."""
    if not unit_path:
        return True
    kind = session.scalar(select(OrgUnit.kind).where(OrgUnit.path == unit_path))
    return kind in COMMUNITY_LEVEL


def mass_limit(settings: Settings, community: bool) -> int:
    """How many of a member's monthly mass sends a notice of this level may bring them up to."""
    cap = settings.mass_per_user_month
    return cap if community else max(cap - settings.mass_reserve_community, 0)


def mass_sends_this_month(session: Session, openids: Sequence[str], since: datetime) -> Counter[str]:
    """How many mass sends each openid has had since the month began (sent, being sent, or gathered for a
    send about to go)."""
    counted = (
        OutboxStatus.SENT.value,
        OutboxStatus.SENDING.value,
        OutboxStatus.IN_DOUBT.value,
        OutboxStatus.QUEUED.value,  # gathered for a mass send about to go
    )
    found: Counter[str] = Counter()
    unique = sorted(set(openids))
    for start in range(0, len(unique), 1000):
        rows = session.execute(
            select(OutboxRow.openid, func.count())
            .where(
                and_(
                    OutboxRow.openid.in_(unique[start : start + 1000]),
                    OutboxRow.channel == MASS_SEND,
                    OutboxRow.status.in_(counted),
                    OutboxRow.updated_at >= since,
                )
            )
            .group_by(OutboxRow.openid)
        ).all()
        found.update({str(openid): int(n) for openid, n in rows})
    return found


def mass_room(
    session: Session, openids: Sequence[str], now: datetime, settings: Settings, unit_path: str
) -> dict[str, int]:
    """How many more mass sends a notice to `unit_path` may use for each openid this month (0: none)."""
    limit = mass_limit(settings, community_level(session, unit_path))
    used = mass_sends_this_month(session, openids, month_start(now, settings.timezone))
    return {openid: max(limit - used.get(openid, 0), 0) for openid in openids}


def mass_is_next(settings: Settings) -> bool:
    """Whether a member outside the customer-service window gets an announcement by mass send on this
    account: it can mass-send and has no template or subscription notice configured to try first."""
    account = settings.wechat_account
    if not allowed(account, Capability.MASS_SEND):
        return False
    template = bool(settings.notice_template_id) and allowed(account, Capability.TEMPLATE)
    subscription = bool(settings.notice_subscription_id) and allowed(account, Capability.SUBSCRIPTION_NOTICE)
    return not (template or subscription)


def quota_spent(
    session: Session, openids: Sequence[str], now: datetime, settings: Settings, unit_path: str
) -> int:
    """For a preview: how many of these members would be mass-sent this announcement (outside the
    customer-service window now) but have no mass send left for it this month, so it waits for their next
    message. Only a service account counts per member (a subscription account's cap is the account's)."""
    if settings.wechat_account is not AccountKind.SERVICE or not mass_is_next(settings) or not openids:
        return 0
    windows = {
        user.openid: Window(user.window_kind, user.window_expires_at, user.window_left)
        for user in session.scalars(select(WeChatUser).where(WeChatUser.openid.in_(list(openids)))).all()
    }
    closed = [openid for openid in openids if not windows.get(openid, Window()).is_open(now)]
    room = mass_room(session, closed, now, settings, unit_path)
    return sum(1 for openid in closed if room[openid] <= 0)
