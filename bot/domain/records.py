"""组织生活纪实: the record a secretary keeps after a meeting (text and up to nine photos), the photos'
download from WeChat within its 3 days, and the month's report of events, attendance and records.

A photo arrives as WeChat's temporary media id; it is stored as an EventPhoto `pending` and fetched by the
`record_photos` job into the data folder (`records/{event}/{seq}.jpg`, relative to `data_dir`), or marked
`expired` once WeChat no longer has it. Functions take a synchronous Session and return plain data; no
words, no WeChat.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.domain.theme_day import outcome
from models import Attendance, Event, EventPhoto, EventRecord, EventStatus, Invitation, Member, OrgUnit

MAX_PHOTOS = 9
# WeChat keeps a user's temporary media (a photo sent to the account) for 3 days.
MEDIA_KEPT = timedelta(days=3)
TEXT_LIMITS = (5, 2000)  # characters of a record's text


class PhotoStatus:
    PENDING = "pending"
    STORED = "stored"
    EXPIRED = "expired"


def photo_path(event_id: int, seq: int) -> str:
    """Where a photo is kept, relative to the data folder."""
    return f"records/{event_id}/{seq}.jpg"


# --- which event ---------------------------------------------------------------------------------------


def latest_started(session: Session, unit_id: int, now: datetime) -> Event | None:
    """The unit's latest event (theme day or any other meeting) that has started, not cancelled."""
    return session.scalar(
        select(Event)
        .where(
            Event.unit_id == unit_id,
            Event.status != EventStatus.CANCELLED.value,
            Event.starts_at <= now,
        )
        .order_by(Event.starts_at.desc(), Event.id.desc())
        .limit(1)
    )


@dataclass(frozen=True, slots=True)
class RecordView:
    event_id: int
    kind: str
    unit_id: int
    starts_at: datetime
    topic: str
    text: str | None  # None: no record kept yet
    photos: int  # photos kept (any status)

    @property
    def kept(self) -> bool:
        return self.text is not None

    @property
    def room(self) -> int:
        """How many more photos the record may take."""
        return max(0, MAX_PHOTOS - self.photos)


def record_view(session: Session, event: Event) -> RecordView:
    record = session.scalar(select(EventRecord).where(EventRecord.event_id == event.id))
    photos = session.scalar(select(func.count()).where(EventPhoto.event_id == event.id)) or 0
    return RecordView(
        event_id=event.id,
        kind=event.kind,
        unit_id=event.unit_id,
        starts_at=event.starts_at,
        topic=event.topic,
        text=record.text if record is not None else None,
        photos=int(photos),
    )


def record_for_unit(session: Session, unit_id: int, now: datetime) -> RecordView | None:
    """The record (kept or not) of the unit's latest event that has started, or None: no such event."""
    event = latest_started(session, unit_id, now)
    return record_view(session, event) if event is not None else None


# --- saving ----------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Saved:
    created: bool  # a new record (not a change of one kept before)
    text_length: int
    added: int  # photos added now
    photos: int  # photos of the record in all
    refused: int  # photos beyond MAX_PHOTOS, not kept


def save_record(
    session: Session,
    event_id: int,
    author_id: int | None,
    text: str | None,
    photos: Sequence[tuple[str, datetime]],
    now: datetime,
) -> Saved:
    """Keep the record: its text (None: leave the text kept before) and new photos (media id, when it was
    received), numbered after the ones kept before, at most MAX_PHOTOS in all."""
    record = session.scalar(select(EventRecord).where(EventRecord.event_id == event_id))
    created = record is None
    if record is None:
        record = EventRecord(event_id=event_id, text="", author_id=author_id, created_at=now, updated_at=now)
        session.add(record)
    if text is not None:
        record.text = text
        record.author_id = author_id
    record.updated_at = now
    kept = session.scalar(select(func.count()).where(EventPhoto.event_id == event_id)) or 0
    last = session.scalar(select(func.max(EventPhoto.seq)).where(EventPhoto.event_id == event_id)) or 0
    room = max(0, MAX_PHOTOS - int(kept))
    seen = set(session.scalars(select(EventPhoto.media_id).where(EventPhoto.event_id == event_id)))
    fresh = [(m, at) for m, at in dict(photos).items() if m not in seen]
    added = fresh[:room]
    for offset, (media_id, received) in enumerate(added, 1):
        session.add(
            EventPhoto(
                event_id=event_id,
                seq=int(last) + offset,
                media_id=media_id,
                status=PhotoStatus.PENDING,
                created_at=received,
            )
        )
    event = session.get(Event, event_id)
    if event is not None:
        event.updated_at = now
    session.flush()
    return Saved(created, len(record.text), len(added), int(kept) + len(added), len(fresh) - len(added))


# --- the photos' download --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PendingPhoto:
    id: int
    event_id: int
    seq: int
    media_id: str
    received: datetime

    @property
    def path(self) -> str:
        return photo_path(self.event_id, self.seq)

    def lost(self, now: datetime) -> bool:
        """WeChat no longer keeps it: a failed download is final."""
        return now - self.received >= MEDIA_KEPT


def pending_photos(session: Session, limit: int = 500) -> list[PendingPhoto]:
    rows = session.execute(
        select(EventPhoto.id, EventPhoto.event_id, EventPhoto.seq, EventPhoto.media_id, EventPhoto.created_at)
        .where(EventPhoto.status == PhotoStatus.PENDING)
        .order_by(EventPhoto.id)
        .limit(limit)
    )
    return [PendingPhoto(int(i), int(e), int(s), str(m), at) for i, e, s, m, at in rows]


def mark_stored(session: Session, photo_id: int, path: str, now: datetime) -> bool:
    photo = session.get(EventPhoto, photo_id)
    if photo is None or photo.status != PhotoStatus.PENDING:
        return False
    photo.status, photo.path, photo.stored_at = PhotoStatus.STORED, path, now
    return True


def mark_expired(session: Session, photo_id: int) -> bool:
    photo = session.get(EventPhoto, photo_id)
    if photo is None or photo.status != PhotoStatus.PENDING:
        return False
    photo.status = PhotoStatus.EXPIRED
    return True


# --- the month's report ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PhotoRow:
    seq: int
    status: str
    path: str | None


@dataclass(frozen=True, slots=True)
class PersonRow:
    number: str
    name: str
    state: str  # present, leave, absent
    how: str | None  # present: code, qr, manual
    at: datetime | None


@dataclass(frozen=True, slots=True)
class EventRow:
    event_id: int
    kind: str
    unit_path: str
    unit_name: str
    starts_at: datetime
    topic: str
    place: str
    status: str
    invited: int
    present: int
    leave: int
    absent: int
    rate: float
    record: str | None  # None: no record kept
    photos: list[PhotoRow]
    people: list[PersonRow]


def in_subtree(path: str, scope_path: str) -> bool:
    return not scope_path or path == scope_path or path.startswith(scope_path + "/")


def month_report(session: Session, month: str, scope_path: str) -> list[EventRow]:
    """Every event of the month (not cancelled) of the units at or below `scope_path` ("" for all): its
    attendance (counts, and each invited member by name: present with how and when, on leave, absent), its
    record and photos. Never a phone."""
    found: list[EventRow] = []
    events = session.execute(
        select(Event, OrgUnit.path, OrgUnit.name)
        .join(OrgUnit, OrgUnit.id == Event.unit_id)
        .where(Event.month == month, Event.status != EventStatus.CANCELLED.value)
        .order_by(Event.starts_at, OrgUnit.path, Event.id)
    )
    for event, path, name in events:
        if in_subtree(path, scope_path):
            found.append(_event_row(session, event, path, name))
    return found


def event_report(session: Session, event_id: int, scope_path: str) -> EventRow | None:
    """One event as `month_report` shows it, when its unit is at or below `scope_path` (else None)."""
    found = session.execute(
        select(Event, OrgUnit.path, OrgUnit.name)
        .join(OrgUnit, OrgUnit.id == Event.unit_id)
        .where(Event.id == event_id, Event.status != EventStatus.CANCELLED.value)
    ).first()
    if found is None or not in_subtree(found[1], scope_path):
        return None
    event, path, name = found
    return _event_row(session, event, path, name)


def _event_row(session: Session, event: Event, path: str, name: str) -> EventRow:
    counts = outcome(session, event.id)
    record = session.scalar(select(EventRecord.text).where(EventRecord.event_id == event.id))
    photos = [
        PhotoRow(int(seq), str(status), path_)
        for seq, status, path_ in session.execute(
            select(EventPhoto.seq, EventPhoto.status, EventPhoto.path)
            .where(EventPhoto.event_id == event.id)
            .order_by(EventPhoto.seq)
        )
    ]
    return EventRow(
        event_id=event.id,
        kind=event.kind,
        unit_path=path,
        unit_name=name,
        starts_at=event.starts_at,
        topic=event.topic,
        place=event.place,
        status=event.status,
        invited=counts.invited,
        present=len(counts.present),
        leave=len(counts.leave),
        absent=len(counts.absent),
        rate=counts.rate,
        record=record,
        photos=photos,
        people=_people(session, event.id),
    )


def _people(session: Session, event_id: int) -> list[PersonRow]:
    present = {
        int(member_id): (str(how), at)
        for member_id, how, at in session.execute(
            select(Attendance.member_id, Attendance.how, Attendance.at).where(Attendance.event_id == event_id)
        )
    }
    rows: list[PersonRow] = []
    for member_id, number, name, answer in session.execute(
        select(Member.id, Member.number, Member.name, Invitation.answer)
        .join(Member, Member.id == Invitation.member_id)
        .where(Invitation.event_id == event_id)
        .order_by(Member.number)
    ):
        if member_id in present:
            how, at = present[member_id]
            rows.append(PersonRow(number, name, "present", how, at))
        else:
            rows.append(PersonRow(number, name, "leave" if answer == "leave" else "absent", None, None))
    # Present first (in the order they came), then on leave, then absent.
    order = {"present": 0, "leave": 1, "absent": 2}
    rows.sort(key=lambda r: (order[r.state], r.at.timestamp() if r.at else 0.0, r.number))
    return rows
