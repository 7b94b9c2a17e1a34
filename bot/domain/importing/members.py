"""The member ledger (党员台账) import: a row per member, matched by 编号; helpers (帮扶人) are resolved
after every member has an id, and preferences a member set in chat are kept."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.domain.dues_ledger import roster_base_changed
from bot.domain.importing.common import Progress, Units, count_bindings, set_phone, stored_phone, unbind
from bot.domain.importing.report import Entry, ImportReport
from bot.domain.importing.rows import RowReader
from bot.domain.importing.values import (
    GENDERS,
    MEMBER_KINDS,
    POSTS,
    STATUSES,
    VOICE_MODES,
    nfkc,
    parse_amount_fen,
    split_list,
)
from bot.domain.points import DEFAULT_TIMEZONE
from bot.domain.privacy import Vault
from models import Member


@dataclass(slots=True)
class _MemberRow:
    number: str
    unit: str | None
    fields: dict[str, Any]  # field → value, only for columns the file has (unit and helper resolved later)
    unit_id: int | None = None


# field → the column it comes from; the order is the order changes are listed in.
MEMBER_FIELDS: dict[str, str] = {
    "name": "姓名",
    "gender": "性别",
    "birth": "出生年月",
    "phone": "手机",
    "status": "状态",
    "joined_on": "入党日期",
    "kind": "人员类型",
    "post": "职务",
    "unit": "所在组织",
    "building": "楼栋",
    "door": "门牌",
    "specialty": "特长",
    "volunteer_posts": "岗位",
    "voice_mode": "语音模式",
    "helper": "帮扶人编号",
    "dues_base_fen": "党费基数",
    "mobile_destination": "流动去向",
}
# Member.chat_preferences names model attributes; a few map onto one field here.
_PREFERENCE_FIELDS = {
    "birth_year": "birth",
    "birth_month": "birth",
    "phone_enc": "phone",
    "phone_tail_mac": "phone",
    "unit_id": "unit",
    "helper_id": "helper",
}


def member_parser(latest: date) -> Callable[[RowReader], _MemberRow | None]:
    def parse(r: RowReader) -> _MemberRow | None:
        number = r.key("编号")
        fields: dict[str, Any] = {"name": r.raw("姓名", required=True, limit=50)}
        fields["status"] = r.choice("状态", STATUSES, required=True)
        fields["kind"] = r.choice("人员类型", MEMBER_KINDS, required=True)
        unit = r.path("所在组织")
        if r.has("性别"):
            fields["gender"] = r.choice("性别", GENDERS)
        birth: date | None = None
        if r.has("出生年月"):
            birth = r.date("出生年月", day_required=False, latest=latest, earliest_year=1900)
            fields["birth"] = (birth.year, birth.month) if birth else None
        if r.has("手机"):
            fields["phone"] = r.phone()
        if r.has("入党日期"):
            joined = r.date("入党日期", day_required=True, latest=latest, earliest_year=1921)
            fields["joined_on"] = joined
            if joined is not None and birth is not None:
                months = (joined.year - birth.year) * 12 + joined.month - birth.month
                if months < 0:
                    r.error("入党日期", "row.join_before_birth")
                elif months < 18 * 12:
                    r.warn("入党日期", "warn.young_join")
        if r.has("职务"):
            fields["post"] = r.choice("职务", POSTS)
        for column, attr, limit in (
            ("楼栋", "building", 50),
            ("门牌", "door", 50),
            ("特长", "specialty", 100),
            ("流动去向", "mobile_destination", 100),
        ):
            if r.has(column):
                fields[attr] = r.raw(column, limit=limit)
        if r.has("岗位"):
            text = r.raw("岗位", limit=500)
            fields["volunteer_posts"] = split_list(text) if text else []
        if r.has("语音模式"):
            text = r.raw("语音模式")
            if text is None:
                fields["voice_mode"] = None
            else:
                voice = VOICE_MODES.get(re.sub(r"\s+", "", nfkc(text)))
                if voice is None:
                    r.error("语音模式", "row.choice", value=text, allowed="是、否")
                fields["voice_mode"] = voice
        if r.has("帮扶人编号"):
            helper = r.key("帮扶人编号")
            if helper is not None and helper == number:
                r.error("帮扶人编号", "row.helper_self")
            fields["helper"] = helper
        if r.has("党费基数"):
            text = r.raw("党费基数")
            fen: int | None = None
            if text is not None:
                try:
                    fen = parse_amount_fen(text)
                except ValueError as exc:
                    r.error("党费基数", str(exc), value=text)
            fields["dues_base_fen"] = fen
        return _MemberRow(number=number, unit=unit, fields=fields) if number is not None else None

    return parse


def _member_current(
    m: Member, vault: Vault | None, path_by_id: dict[int, str], number_by_id: dict[int, str]
) -> dict[str, Any]:
    return {
        "name": m.name,
        "gender": m.gender,
        "birth": (m.birth_year, m.birth_month) if m.birth_year and m.birth_month else None,
        "phone": stored_phone(vault, m.phone_enc),
        "status": m.status,
        "joined_on": m.joined_on,
        "kind": m.kind,
        "post": m.post,
        "unit": path_by_id.get(m.unit_id),
        "building": m.building,
        "door": m.door,
        "specialty": m.specialty,
        "volunteer_posts": list(m.volunteer_posts or []),
        "voice_mode": m.voice_mode,
        "helper": number_by_id.get(m.helper_id) if m.helper_id is not None else None,
        "dues_base_fen": m.dues_base_fen,
        "mobile_destination": m.mobile_destination,
    }


def _member_set(m: Member, name: str, value: Any, vault: Vault | None, unit_id: int | None) -> None:
    if name == "birth":
        m.birth_year, m.birth_month = value if value else (None, None)
    elif name == "phone":
        set_phone(m, vault, value)
    elif name == "unit":
        assert unit_id is not None
        m.unit_id = unit_id
    elif name != "helper":  # set once every member has an id
        setattr(m, name, value)


def _preferences(m: Member) -> set[str]:
    return {_PREFERENCE_FIELDS.get(str(p), str(p)) for p in (m.chat_preferences or [])}


def plan_and_apply_members(
    session: Session,
    parsed: list[tuple[RowReader, _MemberRow]],
    report: ImportReport,
    *,
    vault: Vault | None,
    now: datetime,
    apply: Callable[[], bool],
    progress: Progress | None,
) -> None:
    units = Units(session)
    members = list(session.scalars(select(Member)))
    by_number = {m.number: m for m in members}
    number_by_id = {m.id: m.number for m in members}
    file_rows = {item.number: reader for reader, item in parsed}

    total = len(parsed)
    for done, (reader, item) in enumerate(parsed, start=1):
        if progress is not None:
            progress(done, total)
        if item.unit is not None:
            unit = units.resolve(reader, item.unit)
            if unit is not None:
                item.unit_id = unit.id
                item.fields["unit"] = unit.path
        helper = item.fields.get("helper")
        if helper and helper != item.number and helper not in file_rows:
            existing = by_number.get(helper)
            if existing is None:
                reader.error("帮扶人编号", "row.helper_unknown", value=helper)
            elif not existing.active:
                reader.error("帮扶人编号", "row.helper_inactive", value=helper)
            elif report.prune:
                reader.warn("帮扶人编号", "warn.helper_pruned", helper=helper)

    good = [(reader, item) for reader, item in parsed if reader.ok]
    report.skipped_rows = sorted(reader.row.number for reader, _ in parsed if not reader.ok)
    for reader, item in good:
        helper = item.fields.get("helper")
        if not helper or helper not in file_rows or file_rows[helper].ok:
            continue
        existing = by_number.get(helper)
        if existing is None or not existing.active:
            # The helper's own row is wrong and is not loaded (load_valid): no helper for now. A helper
            # already in the database stays linked.
            if report.load_valid:
                reader.warn("帮扶人编号", "warn.helper_dropped", helper=helper)
            item.fields["helper"] = None

    to_write: dict[str, list[str]] = {}  # number → the fields to set (all of them for a new member)
    for reader, item in good:
        m = by_number.get(item.number)
        name = str(item.fields["name"])
        if m is None:
            report.added.append(Entry(item.number, name, reader.row.number))
            to_write[item.number] = list(item.fields)
            continue
        current = _member_current(m, vault, units.path_by_id, number_by_id)
        prefs = _preferences(m)
        changed = [k for k, v in item.fields.items() if k not in prefs and current[k] != v]
        if changed or not m.active:
            to_write[item.number] = changed
        kept = [k for k, v in item.fields.items() if k in prefs and current[k] != v]
        labels = tuple(MEMBER_FIELDS[k] for k in MEMBER_FIELDS if k in changed)
        entry = Entry(item.number, name, reader.row.number, labels)
        if not m.active:
            report.reactivated.append(entry)
        elif labels:
            report.updated.append(entry)
        else:
            report.unchanged.append(entry)
        if kept:
            kept_labels = tuple(MEMBER_FIELDS[k] for k in MEMBER_FIELDS if k in kept)
            report.kept.append(Entry(item.number, name, reader.row.number, kept_labels))

    # 流入 guests (bot.domain.mobile) are not on the roster: never missing from it.
    missing = sorted(
        (m for m in members if m.active and m.number not in file_rows and m.kind != "流入"),
        key=lambda m: m.number,
    )
    report.missing = [Entry(m.number, m.name) for m in missing]
    if report.prune:
        report.deactivated = list(report.missing)
        report.unbound = count_bindings(session, member_ids=[m.id for m in missing])

    if not apply():
        return
    for _, item in good:
        if item.number not in to_write:
            continue
        m = by_number.get(item.number)
        if m is None:
            m = Member(
                number=item.number,
                volunteer_posts=[],
                chat_preferences=[],
                active=True,
                created_at=now,
                updated_at=now,
            )
            session.add(m)
            by_number[item.number] = m
        if m.id is not None and "dues_base_fen" in to_write[item.number]:
            # 党费: the old base keeps the months before, the new one applies from the next month.
            roster_base_changed(
                session, m.id, m.dues_base_fen, item.fields["dues_base_fen"], now, DEFAULT_TIMEZONE
            )
        for name in to_write[item.number]:
            _member_set(m, name, item.fields[name], vault, item.unit_id)
        m.active = True
        m.updated_at = now
    session.flush()  # ids for new members, so helpers can point at them
    for _, item in good:
        if "helper" in to_write.get(item.number, ()):
            helper = item.fields["helper"]
            by_number[item.number].helper_id = by_number[helper].id if helper else None
    if report.prune and missing:
        for m in missing:
            m.active = False
            m.updated_at = now
        report.unbound = unbind(session, member_ids=[m.id for m in missing])
