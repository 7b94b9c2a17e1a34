"""What the members and staff imports share (and the org import's `chunks`): resolving units, comparing and
storing encrypted phones, counting and removing WeChat bindings, the progress callback."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.domain.importing.messages import ImportFailed, message
from bot.domain.importing.rows import RowReader
from bot.domain.privacy import Vault
from models import Binding, Member, OrgUnit, Staff

Progress = Callable[[int, int], None]
"""Called as progress(rows_done, rows_total) while rows are checked against the database."""


def chunks(ids: Sequence[int], size: int = 500) -> Iterable[Sequence[int]]:
    for start in range(0, len(ids), size):
        yield ids[start : start + size]


class Units:
    def __init__(self, session: Session) -> None:
        units = list(session.scalars(select(OrgUnit)))
        self.by_path = {u.path: u for u in units}
        self.path_by_id = {u.id: u.path for u in units}
        self.by_name: dict[str, list[OrgUnit]] = {}
        for u in units:
            if u.active:
                self.by_name.setdefault(u.name, []).append(u)

    def resolve(self, reader: RowReader, path: str) -> OrgUnit | None:
        """The active unit at path; a bare name is accepted when exactly one active unit has it."""
        unit = self.by_path.get(path)
        if unit is None and "/" not in path:
            same = self.by_name.get(path, [])
            if len(same) > 1:
                reader.error("所在组织", "row.unit_ambiguous", value=path)
                return None
            if len(same) == 1:
                reader.warn("所在组织", "warn.unit_by_name", value=path, path=same[0].path)
                return same[0]
        if unit is None:
            reader.error("所在组织", "row.unit_unknown", value=path)
            return None
        if not unit.active:
            reader.error("所在组织", "row.unit_inactive", value=path)
            return None
        return unit


class _Unreadable:
    """A stored phone that cannot be compared (no key given): always differs from the file."""

    def __eq__(self, other: object) -> bool:
        return False

    def __hash__(self) -> int:
        return 0


def stored_phone(vault: Vault | None, phone_enc: str | None) -> object:
    if phone_enc is None:
        return None
    if vault is None:
        return _Unreadable()
    return vault.decrypt_phone(phone_enc)


def set_phone(obj: Member | Staff, vault: Vault | None, phone: str | None) -> None:
    if phone is not None and vault is None:  # checked before; never store a phone in the clear
        raise ImportFailed(message("file.no_key"))
    obj.phone_enc = vault.encrypt_phone(phone) if vault is not None else None
    obj.phone_tail_mac = vault.phone_tail_mac(phone) if vault is not None else None


def unbind(session: Session, *, member_ids: Sequence[int] = (), staff_ids: Sequence[int] = ()) -> int:
    """Unbind the WeChat of deactivated people; a binding left with nobody is deleted."""
    count = 0
    for ids, attr in ((member_ids, "member_id"), (staff_ids, "staff_id")):
        column = Binding.member_id if attr == "member_id" else Binding.staff_id
        for chunk in chunks(ids):
            for binding in session.scalars(select(Binding).where(column.in_(chunk))):
                setattr(binding, attr, None)
                count += 1
                if binding.member_id is None and binding.staff_id is None:
                    session.delete(binding)
    session.flush()
    return count


def needs_key(parsed: Iterable[tuple[RowReader, Any]], vault: Vault | None) -> None:
    if vault is None and any(getattr(item, "fields", {}).get("phone") for _, item in parsed):
        raise ImportFailed(message("file.no_key"))


def count_bindings(session: Session, *, member_ids: Sequence[int] = (), staff_ids: Sequence[int] = ()) -> int:
    count = 0
    for ids, column in ((member_ids, Binding.member_id), (staff_ids, Binding.staff_id)):
        for chunk in chunks(ids):
            count += int(
                session.scalar(select(func.count()).select_from(Binding).where(column.in_(chunk))) or 0
            )
    return count
