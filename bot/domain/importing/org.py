"""The organisation tree import: a row per unit (组织路径, 类型, 主题党日, 覆盖楼栋), checked against its
parent and matched by path."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.domain.importing.columns import Issue
from bot.domain.importing.common import Progress, chunks
from bot.domain.importing.messages import message
from bot.domain.importing.report import Entry, ImportReport
from bot.domain.importing.rows import RowReader
from bot.domain.importing.values import KIND_RANK, UNIT_KINDS, nfkc, parse_theme_day, split_list, split_rule
from models import Member, OrgUnit, Staff


@dataclass(slots=True)
class _OrgRow:
    path: str
    kind: str | None
    fields: dict[str, Any]  # theme_day_rule, buildings: only for columns the file has


_ORG_LABELS = {"kind": "类型", "theme_day_rule": "主题党日", "buildings": "覆盖楼栋", "path": "组织路径"}


def parse_org(r: RowReader) -> _OrgRow | None:
    path = r.path("组织路径")
    kind = r.choice("类型", UNIT_KINDS, required=True)
    fields: dict[str, Any] = {}
    if path is not None and any(len(part) > 100 for part in path.split("/")):
        r.error("组织路径", "row.too_long", value=path[:20] + "…", limit=100)
    if r.has("主题党日"):
        text = r.raw("主题党日", limit=50)
        rule = parse_theme_day(split_rule(text)[0] or "") if text else None
        if text is not None and rule is None:
            fifth = re.search(r"第(5|五)个", nfkc(text))
            r.error("主题党日", "row.theme_day_fifth" if fifth else "row.theme_day", value=text)
        elif rule is not None and rule.day is not None and rule.day > 28:
            r.warn("主题党日", "warn.theme_day_short_month", day=rule.day)
        fields["theme_day_rule"] = re.sub(r"\s+", "", nfkc(text)) if text else None
    if r.has("覆盖楼栋"):
        text = r.raw("覆盖楼栋", limit=2000)
        fields["buildings"] = split_list(text) if text else []
    return _OrgRow(path=path, kind=kind, fields=fields) if path is not None else None


def plan_and_apply_org(
    session: Session,
    parsed: list[tuple[RowReader, _OrgRow]],
    report: ImportReport,
    *,
    now: datetime,
    apply: Callable[[], bool],
    progress: Progress | None,
) -> None:
    units = list(session.scalars(select(OrgUnit)))
    by_path = {u.path: u for u in units}
    path_by_id = {u.id: u.path for u in units}
    in_file = {item.path: (reader, item) for reader, item in parsed}

    # Parents and kinds, shallow rows first so a bad parent makes its children bad in turn.
    ordered = sorted(parsed, key=lambda pair: pair[1].path.count("/"))
    total = len(ordered)
    for done, (reader, item) in enumerate(ordered, start=1):
        if progress is not None:
            progress(done, total)
        if "/" not in item.path:
            continue
        parent = item.path.rsplit("/", 1)[0]
        parent_kind: str | None
        if parent in in_file:
            parent_reader, parent_item = in_file[parent]
            existing = by_path.get(parent)
            if not parent_reader.ok and (existing is None or not existing.active):
                reader.error("组织路径", "row.parent_bad", parent=parent, parent_row=parent_reader.row.number)
                continue
            # A parent whose own row is wrong (load_valid) stays as the database has it.
            parent_kind = parent_item.kind if parent_reader.ok else existing.kind if existing else None
        elif parent in by_path:
            if not by_path[parent].active:
                reader.error("组织路径", "row.parent_inactive", parent=parent)
                continue
            parent_kind = by_path[parent].kind
        else:
            reader.error("组织路径", "row.parent_missing", parent=parent)
            continue
        if (
            item.kind is not None
            and parent_kind in KIND_RANK
            and KIND_RANK[item.kind] <= KIND_RANK[parent_kind]
        ):
            reader.error("类型", "row.kind_order", kind=item.kind, parent_kind=parent_kind, parent=parent)

    good = [(reader, item) for reader, item in ordered if reader.ok]
    report.skipped_rows = sorted(reader.row.number for reader, _ in parsed if not reader.ok)
    for reader, item in good:
        assert item.kind is not None
        unit = by_path.get(item.path)
        entry_name = item.kind
        if unit is None:
            report.added.append(Entry(item.path, entry_name, reader.row.number))
            continue
        desired = _org_desired(item)
        current = {
            "path": (unit.name, unit.depth, path_by_id.get(unit.parent_id) if unit.parent_id else None),
            "kind": unit.kind,
            "theme_day_rule": unit.theme_day_rule,
            "buildings": list(unit.buildings or []),
        }
        changed = tuple(_ORG_LABELS[k] for k, v in desired.items() if current[k] != v)
        entry = Entry(item.path, entry_name, reader.row.number, changed)
        if not unit.active:
            report.reactivated.append(entry)
        elif changed:
            report.updated.append(entry)
        else:
            report.unchanged.append(entry)

    # Missing: active units the file does not name, except the ancestors of units it does name.
    named = set(in_file)
    ancestors = {p.rsplit("/", i)[0] for p in named for i in range(1, p.count("/") + 1)}
    missing = [u for u in units if u.active and u.path not in named and u.path not in ancestors]
    report.missing = [Entry(u.path, u.kind) for u in sorted(missing, key=lambda u: u.path)]
    if report.prune:
        report.deactivated = list(report.missing)
        if missing:
            _warn_units_in_use(session, missing, report)

    if not apply():
        return
    touched = {e.key for e in (*report.added, *report.updated, *report.reactivated)}
    depth_of: dict[int, list[_OrgRow]] = {}
    for _, item in good:
        if item.path in touched:
            depth_of.setdefault(item.path.count("/"), []).append(item)
    for depth in sorted(depth_of):
        for item in depth_of[depth]:
            parent_unit = by_path[item.path.rsplit("/", 1)[0]] if depth else None
            desired = _org_desired(item)
            unit = by_path.get(item.path)
            if unit is None:
                unit = OrgUnit(
                    path=item.path,
                    buildings=[],
                    theme_day_rule=None,
                    active=True,
                    created_at=now,
                    updated_at=now,
                )
                session.add(unit)
                by_path[item.path] = unit
            unit.name = item.path.rsplit("/", 1)[-1]
            unit.depth = depth
            unit.parent_id = parent_unit.id if parent_unit is not None else None
            unit.kind = desired["kind"]
            if "theme_day_rule" in desired:
                unit.theme_day_rule = desired["theme_day_rule"]
            if "buildings" in desired:
                unit.buildings = desired["buildings"]
            unit.active = True
            unit.updated_at = now
        session.flush()  # the next depth needs these ids
    if report.prune:
        for unit in missing:
            unit.active = False
            unit.updated_at = now


def _org_desired(item: _OrgRow) -> dict[str, Any]:
    name = item.path.rsplit("/", 1)[-1]
    parent = item.path.rsplit("/", 1)[0] if "/" in item.path else None
    return {"path": (name, item.path.count("/"), parent), "kind": item.kind, **item.fields}


def _warn_units_in_use(session: Session, units: list[OrgUnit], report: ImportReport) -> None:
    ids = [u.id for u in units]
    counts: dict[int, int] = {}
    for model in (Member, Staff):
        for chunk in chunks(ids):
            rows = session.execute(
                select(model.unit_id, func.count())
                .where(model.unit_id.in_(chunk), model.active.is_(True))
                .group_by(model.unit_id)
            )
            for unit_id, count in rows:
                counts[unit_id] = counts.get(unit_id, 0) + int(count)
    for unit in units:
        if counts.get(unit.id):
            report.warnings.append(
                Issue(None, None, message("warn.pruned_unit_in_use", path=unit.path, count=counts[unit.id]))
            )
