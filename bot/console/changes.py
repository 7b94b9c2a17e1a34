"""What changed in some tables since the dashboard last looked: the keys (a member, a month) named by the
rows added or stamped since, so that the dashboard recounts only those and keeps the rest of a street's
figures.

Each table is a `Feed`: its id, the key a row names (a column, or one reached by a join), and for a table
changed in place its `updated_at`. A `Tracker` reads the largest id and stamp of all its feeds in one
statement of scalar subqueries (single index reads); when they have not moved, nothing changed. When one
has, the rows within a slack below the previous top are read (`Tracker.look` says how), so that a row is
counted even when it committed after a later one (PostgreSQL hands out ids at insert, and `updated_at` is
the clock of a transaction that may commit late). A row that commits later still, below the slack, is
missed until its key changes again; the slack is wide enough for the writes the console
and the chat make, not for a bulk load running beside them (after an import, the marks of units or
members usually move too). A change of a `reset` mark (units renamed or moved, a unit's rate) makes the
caller recount everything."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, literal, null, select
from sqlalchemy.orm import Session

SLACK_IDS = 500  # rows below the previous largest id read again
SLACK_TIME = timedelta(minutes=5)  # rows stamped up to this long before the previous latest read again
STAMP_CAP = 5000  # a time window's rows are counted up to this many (beyond it a late one goes unseen)


@dataclass(frozen=True, slots=True)
class Feed:
    id: Any  # the table's id column
    key: Any  # what a changed row names: a column of the table, or of `join`'s table
    stamp: Any = None  # `updated_at` of a table changed in place
    join: tuple[Any, Any] | None = None  # (table, on clause) the key is read through

    def marks(self) -> list[Any]:
        found = [select(func.max(self.id)).scalar_subquery()]
        if self.stamp is not None:
            found.append(select(func.max(self.stamp)).scalar_subquery())
        return found

    def rows(self, session: Session, low_id: int | None, low_stamp: datetime | None) -> list[tuple[Any, ...]]:
        """(id, stamp, key) of the rows above either bound (None: no bound of that kind)."""
        columns = [self.id, self.stamp if self.stamp is not None else self.id, self.key]
        found: list[tuple[Any, ...]] = []
        bounds = []
        if low_id is not None:
            bounds.append(self.id > low_id)
        if self.stamp is not None and low_stamp is not None:
            bounds.append(self.stamp > low_stamp)
        db = session.connection()
        for bound in bounds:  # one indexed range each (an OR of the two may scan)
            query = select(*columns)
            if self.join is not None:
                query = query.join(*self.join)
            found.extend(tuple(row) for row in db.execute(query.where(bound)))
        return found


@dataclass(slots=True)
class _State:
    top_id: int | None = None
    top_stamp: datetime | None = None
    low_id: int | None = None  # the id window: rows above it are remembered (`seen`) and counted
    low_stamp: datetime | None = None  # the time window: rows stamped after it are counted
    seen: set[Any] = field(default_factory=set)
    id_count: int | None = None
    stamp_count: int | None = None

    def window(self, top_id: int | None, top_stamp: datetime | None) -> None:
        self.top_id, self.top_stamp = top_id, top_stamp
        self.low_id = top_id - SLACK_IDS if top_id is not None else None
        self.low_stamp = top_stamp - SLACK_TIME if top_stamp is not None else None


class Tracker:
    """The keys changed in its feeds since the last `look`."""

    def __init__(self, feeds: Sequence[Feed], resets: Sequence[Any] = ()) -> None:
        self._feeds = list(feeds)
        self._resets = list(resets)  # columns (scalar subqueries) whose change means everything changed
        self._reset_marks: tuple[Any, ...] | None = None
        self._states = [_State() for _ in self._feeds]

    def _columns(self) -> list[Any]:
        """The resets, then per feed: its largest id, its count of rows in the id window, and for a
        stamped feed its latest stamp and its count of rows in the time window."""
        columns = list(self._resets)
        for feed, state in zip(self._feeds, self._states, strict=True):
            columns.append(select(func.max(feed.id)).scalar_subquery())
            columns.append(_count(feed.id > state.low_id) if state.low_id is not None else null())
            if feed.stamp is not None:
                columns.append(select(func.max(feed.stamp)).scalar_subquery())
                low = state.low_stamp
                columns.append(_count(feed.stamp > low, STAMP_CAP) if low is not None else null())
        return columns

    def look(self, session: Session) -> set[Any] | None:
        """The keys named by rows added or stamped since the last look; None: recount everything (the
        first look, or a reset mark moved). Call it before counting: a row that lands while the caller
        counts is then counted twice at worst, never missed.

        Rows added: those above the id window's floor not seen there before. Rows stamped: every row
        stamped within the time window, seen or not, whenever the latest stamp or the window's count moved
        (a row changed again is stamped again; the few rows of the last minutes are recounted, which costs
        less than remembering them). A row that commits late below the largest id or stamp changes its
        window's count, so it is found even when nothing else moved."""
        marks = tuple(session.execute(select(*self._columns())).one())
        resets, at = marks[: len(self._resets)], len(self._resets)
        first = self._reset_marks is None or resets != self._reset_marks
        self._reset_marks = resets
        keys: set[Any] = set()
        for feed, state in zip(self._feeds, self._states, strict=True):
            top_id, id_count = marks[at], marks[at + 1]
            top_stamp, stamp_count = (
                (marks[at + 2], marks[at + 3]) if feed.stamp is not None else (None, None)
            )
            at += 4 if feed.stamp is not None else 2
            if first:
                state.window(top_id, top_stamp)
                added = feed.rows(session, state.low_id, None) if state.low_id is not None else []
                state.seen = {row_id for row_id, _, _ in added}
                state.id_count = len(state.seen)
                state.stamp_count = _counted(session, feed, state.low_stamp)
                continue
            moved_ids = (top_id, id_count) != (state.top_id, state.id_count)
            moved_stamps = feed.stamp is not None and (top_stamp, stamp_count) != (
                state.top_stamp,
                state.stamp_count,
            )
            if not moved_ids and not moved_stamps:
                continue
            low_id = state.low_id if state.low_id is not None else -1  # an empty table before: all new
            added = feed.rows(session, low_id, None)
            keys.update(key for row_id, _, key in added if row_id not in state.seen)
            stamped = []
            if moved_stamps:
                stamped = feed.rows(session, None, state.low_stamp) if state.low_stamp is not None else added
                keys.update(key for _, _, key in stamped)
            old_low_stamp = state.low_stamp
            state.window(top_id, top_stamp)
            state.seen = {
                row_id for row_id, _, _ in added if state.low_id is not None and row_id > state.low_id
            }
            state.id_count = len(state.seen)
            if moved_stamps or old_low_stamp != state.low_stamp:
                state.stamp_count = _counted(session, feed, state.low_stamp)
        return None if first else keys


def _count(bound: Any, cap: int | None = None) -> Any:
    """The rows matching `bound`, counted up to `cap` (a time window just after a roster import holds a
    street's members: counting them all on every request cost tens of milliseconds)."""
    if cap is None:
        return select(func.count()).where(bound).scalar_subquery()
    rows = select(literal(1).label("one")).where(bound).limit(cap).subquery()
    return select(func.count()).select_from(rows).scalar_subquery()


def _counted(session: Session, feed: Feed, low_stamp: datetime | None) -> int | None:
    """The rows of a stamped feed in its time window (None: not stamped, or empty)."""
    if feed.stamp is None or low_stamp is None:
        return None
    return int(session.connection().execute(select(_count(feed.stamp > low_stamp, STAMP_CAP))).scalar() or 0)
