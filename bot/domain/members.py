"""What a member's record implies, beside the roster itself: whether their notices are read aloud, and the
record a member sees of themselves (我的信息)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, Table, bindparam, select

from bot.domain.privacy import Vault, mask_phone
from models import Member, OrgUnit
from models.db import Prepared

# DOMAIN.md, elderly users: from this age, notices come as text and voice unless the member says otherwise.
VOICE_AGE = 70


def voice_on(member: Member, this_year: int) -> bool:
    """Voice pushes: the member's own choice, else the roster's, else by age (70 or more: DOMAIN.md)."""
    return voice_wanted(member.voice_mode, member.birth_year, this_year)


def voice_wanted(voice_mode: bool | None, birth_year: int | None, this_year: int) -> bool:
    """voice_on, from the two columns it depends on."""
    if voice_mode is not None:
        return voice_mode
    return birth_year is not None and this_year - birth_year >= VOICE_AGE


@dataclass(frozen=True, slots=True)
class OwnRecord:
    """A member's record as they see it themselves: their own phone in full, their helper's masked."""

    name: str
    unit_path: str
    status: str
    kind: str
    post: str | None
    phone: str | None  # their own: unmasked (None: not registered, or not readable with this key)
    building: str | None
    door: str | None
    volunteer_posts: list[str]
    voice: bool
    helper_name: str | None  # None: no helper
    helper_phone: str | None  # masked (None: not registered)


# Compiled once: the message path runs it for every 我的信息 (one query by primary key, the helper joined in).
_M: Table = Member.__table__  # type: ignore[assignment]  # declarative tables are Tables
_U: Table = OrgUnit.__table__  # type: ignore[assignment]
_H = _M.alias("helper")
_OWN_RECORD = Prepared(
    select(
        _M.c.name, _U.c.path, _M.c.status, _M.c.kind, _M.c.post, _M.c.phone_enc, _M.c.building, _M.c.door,
        _M.c.volunteer_posts, _M.c.voice_mode, _M.c.birth_year, _H.c.name, _H.c.phone_enc,
    )
    .join(_U, _U.c.id == _M.c.unit_id)
    .outerjoin(_H, _H.c.id == _M.c.helper_id)
    .where(_M.c.id == bindparam("member_id"))
)  # fmt: skip


def own_record(
    connection: Connection, member_id: int, vault: Vault | None, this_year: int
) -> OwnRecord | None:
    """The member's own record (None: no such member). Phones need the data key: without it (vault None)
    they show as not registered. Cheap enough for the message path: `Database.lookup`."""
    row = _OWN_RECORD.first(connection, {"member_id": member_id})
    if row is None:
        return None
    (name, path, status, kind, post, phone_enc, building, door, posts, voice_mode, born, helper,
     helper_enc) = row  # fmt: skip
    decrypt = vault.decrypt_phone if vault is not None else _no_key
    return OwnRecord(
        name=name,
        unit_path=path,
        status=status,
        kind=kind,
        post=post,
        phone=decrypt(phone_enc),
        building=building,
        door=door,
        volunteer_posts=list(posts or ()),
        voice=voice_wanted(voice_mode, born, this_year),
        helper_name=helper,
        helper_phone=(mask_phone(decrypt(helper_enc)) or None) if helper is not None else None,
    )


def _no_key(_token: str | None) -> str | None:
    return None
