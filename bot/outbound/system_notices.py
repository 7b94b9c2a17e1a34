"""Many system notices at once: what `bot.outbound.notices.add_system_notice` does for one key, for a batch
of keys in a handful of statements (one read of the keys already written, one of the recipients, one INSERT
of the notices, one executemany of their outbox rows). A job that writes a notice per member (dues notes and
alerts, lost-contact alerts) made four round trips a notice, which on PostgreSQL at 100 000 members was most
of its time."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from bot.domain.members import voice_on
from bot.outbound.notices import Recipient, extend_notice, insert_outbox, notice_key, outbox_values
from models import Binding, Member, Notice

# Keys and member ids go into IN lists; SQLite allows 32 766 parameters a statement.
_IN_CHUNK = 5000


@dataclass(frozen=True, slots=True)
class SystemNotice:
    key: str
    text: str
    member_ids: Sequence[int]
    openids: Sequence[str] = ()  # people reached by openid, not as members (grid workers, residents)


def _chunks(items: Sequence[object], size: int = _IN_CHUNK) -> list[Sequence[object]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def written_keys(session: Session, keys: Sequence[str]) -> dict[str, int]:
    """key → notice id of the system notices already written among `keys`."""
    found: dict[str, int] = {}
    for part in _chunks(list(dict.fromkeys(keys))):
        for notice_id, author in session.execute(
            select(Notice.id, Notice.author).where(Notice.kind == "system", Notice.author.in_(part))
        ):
            found[str(author)] = int(notice_id)
    return found


def add_system_notices(
    session: Session, now: datetime, notices: Sequence[SystemNotice], *, extend: bool = False
) -> dict[str, int]:
    """Write each notice whose key is not written yet, with one outbox row per recipient, inside the
    caller's transaction; a key given twice counts once (the first). `extend`: a key already written gets
    the members given who are not among its recipients yet (as add_system_notice's `extend`; openids are
    not extended). A notice's `openids` get outbox rows keyed `notice:{id}:openid:{openid}`, as
    add_system_notice's. Returns key → notice id for every key given."""
    if not notices:
        return {}
    ids = written_keys(session, [n.key for n in notices])
    fresh: dict[str, SystemNotice] = {}
    for notice in notices:
        if notice.key in ids:
            if extend and notice.member_ids:
                extend_notice(session, ids[notice.key], notice.member_ids, False, now)
        else:
            fresh.setdefault(notice.key, notice)
    if not fresh:
        return ids
    wanted = list({m for n in fresh.values() for m in n.member_ids})
    people: dict[int, Recipient] = {}
    for part in _chunks(wanted):
        for member, openid in session.execute(
            select(Member, Binding.openid)
            .outerjoin(Binding, Binding.member_id == Member.id)
            .where(Member.id.in_(part), Member.active.is_(True))
        ):
            people[member.id] = Recipient(member.id, member.name, openid, voice_on(member, now.year))
    recipients = {
        key: [people[m] for m in dict.fromkeys(n.member_ids) if m in people] for key, n in fresh.items()
    }
    openids = {key: list(dict.fromkeys(n.openids)) for key, n in fresh.items()}
    rows = session.execute(
        insert(Notice).returning(Notice.id, Notice.author),
        [
            {
                "kind": "system",
                "text": n.text,
                "author": key,
                "unit_path": "",
                "audience": "all",
                "audience_label": "",
                "recipients": len(recipients[key]) + len(openids[key]),
                "mass_reports": {},
                "subject_member_id": None,
                "folded_keys": [],
                "created_at": now,
            }
            for key, n in fresh.items()
        ],
    ).all()
    values: list[dict[str, object]] = []
    for notice_id, key in rows:
        ids[str(key)] = int(notice_id)
        values.extend(
            outbox_values(
                notice_key(int(notice_id), r.member_id),
                "notice",
                now,
                openid=r.openid,
                member_id=r.member_id,
                notice_id=int(notice_id),
                wants_voice=r.voice,
            )
            for r in recipients[str(key)]
        )
        values.extend(  # as add_system_notice keys them; the same columns, so one executemany with the rest
            outbox_values(
                f"notice:{notice_id}:openid:{openid}",
                "notice",
                now,
                openid=openid,
                member_id=None,
                notice_id=int(notice_id),
                wants_voice=False,
            )
            for openid in openids[str(key)]
        )
    insert_outbox(session, values)
    return ids


def speak_reply(session: Session, now: datetime, *, key: str, member_id: int, openid: str, text: str) -> bool:
    """Read a passive reply aloud: the reply's text as a notice of no recipients, and one `voice` row that
    sends only its clips (customer service: the member's message just opened the window; else with their
    next reply). For members in voice mode, whose every answer should come as short text and voice. Once per
    key (a member asking the same twice in a day hears it once). Returns whether it was written now."""
    if key in written_keys(session, [key]):
        return False
    notice = Notice(
        kind="system",
        text=text,
        author=key,
        unit_path="",
        audience="all",
        audience_label="",
        recipients=1,
        mass_reports={},
        subject_member_id=None,
        folded_keys=[],
        created_at=now,
    )
    session.add(notice)
    session.flush()
    insert_outbox(
        session,
        [
            outbox_values(
                f"voice:{key}",
                "voice",
                now,
                openid=openid,
                member_id=member_id,
                notice_id=notice.id,
                wants_voice=True,
            )
        ],
    )
    return True
