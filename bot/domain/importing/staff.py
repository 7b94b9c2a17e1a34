"""The grid workers (网格员) import: a row per worker, matched by 编号."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.domain.importing.common import Progress, Units, count_bindings, set_phone, stored_phone, unbind
from bot.domain.importing.report import Entry, ImportReport
from bot.domain.importing.rows import RowReader
from bot.domain.importing.values import ROLES
from bot.domain.privacy import Vault
from models import Staff


@dataclass(slots=True)
class _StaffRow:
    number: str
    unit: str | None
    fields: dict[str, Any]
    unit_id: int | None = None


STAFF_FIELDS: dict[str, str] = {"name": "姓名", "phone": "手机", "role": "角色", "unit": "所在组织"}


def parse_staff(r: RowReader) -> _StaffRow | None:
    number = r.key("编号")
    fields: dict[str, Any] = {"name": r.raw("姓名", required=True, limit=50)}
    if r.has("手机"):
        fields["phone"] = r.phone()
    fields["role"] = r.choice("角色", ROLES, required=True)
    unit = r.path("所在组织")
    return _StaffRow(number=number, unit=unit, fields=fields) if number is not None else None


def plan_and_apply_staff(
    session: Session,
    parsed: list[tuple[RowReader, _StaffRow]],
    report: ImportReport,
    *,
    vault: Vault | None,
    now: datetime,
    apply: Callable[[], bool],
    progress: Progress | None,
) -> None:
    units = Units(session)
    staff = list(session.scalars(select(Staff)))
    by_number = {s.number: s for s in staff}
    in_file = {item.number for _, item in parsed}

    total = len(parsed)
    for done, (reader, item) in enumerate(parsed, start=1):
        if progress is not None:
            progress(done, total)
        if item.unit is not None:
            unit = units.resolve(reader, item.unit)
            if unit is not None:
                item.unit_id = unit.id
                item.fields["unit"] = unit.path

    good = [(reader, item) for reader, item in parsed if reader.ok]
    report.skipped_rows = sorted(reader.row.number for reader, _ in parsed if not reader.ok)
    to_write: dict[str, list[str]] = {}  # number → the fields to set (all of them for a new entry)
    for reader, item in good:
        s = by_number.get(item.number)
        name = str(item.fields["name"])
        if s is None:
            report.added.append(Entry(item.number, name, reader.row.number))
            to_write[item.number] = list(item.fields)
            continue
        current = {
            "name": s.name,
            "phone": stored_phone(vault, s.phone_enc),
            "role": s.role,
            "unit": units.path_by_id.get(s.unit_id),
        }
        changed = [k for k, v in item.fields.items() if current[k] != v]
        if changed or not s.active:
            to_write[item.number] = changed
        labels = tuple(STAFF_FIELDS[k] for k in STAFF_FIELDS if k in changed)
        entry = Entry(item.number, name, reader.row.number, labels)
        if not s.active:
            report.reactivated.append(entry)
        elif labels:
            report.updated.append(entry)
        else:
            report.unchanged.append(entry)

    missing = sorted((s for s in staff if s.active and s.number not in in_file), key=lambda s: s.number)
    report.missing = [Entry(s.number, s.name) for s in missing]
    if report.prune:
        report.deactivated = list(report.missing)
        report.unbound = count_bindings(session, staff_ids=[s.id for s in missing])

    if not apply():
        return
    for _, item in good:
        if item.number not in to_write:
            continue
        s = by_number.get(item.number)
        if s is None:
            s = Staff(number=item.number, active=True, created_at=now, updated_at=now)
            session.add(s)
            by_number[item.number] = s
        for name in to_write[item.number]:
            value = item.fields[name]
            if name == "phone":
                set_phone(s, vault, value)
            elif name == "unit":
                assert item.unit_id is not None
                s.unit_id = item.unit_id
            else:
                setattr(s, name, value)
        s.active = True
        s.updated_at = now
    session.flush()
    if report.prune and missing:
        for s in missing:
            s.active = False
            s.updated_at = now
        report.unbound = unbind(session, staff_ids=[s.id for s in missing])
