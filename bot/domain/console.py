"""Logging in to the web console (bot/console): the chat code and the administrators' passwords.

The chat code: the login page asks `issue_code` for a short code bound to a nonce kept in that browser's
session; a staff member sends `登录 4821` in chat (`confirm_code`); the page then takes the login
(`take_login`), once. A code lives CODE_LIFETIME, only codes still waiting are matched, and a confirmed code
is never matched again.

Passwords (`partybot console passwd NAME`, administrators only): argon2id (argon2-cffi). MAX_FAILURES wrong
attempts in a row lock the name for LOCK_FOR; an unknown name counts failures too, so a lockout says nothing
about who exists. Who may log in at all is bot.domain.policy's Action.USE_CONSOLE."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from models import Admin, ConsoleLockout, ConsoleLoginCode, ConsolePassword

CODE_DIGITS = 4
CODE_LIFETIME = timedelta(minutes=2)
# A code confirmed in chat is taken by its page at most this long after it expired (a slow reload).
TAKE_GRACE = timedelta(minutes=2)
MAX_FAILURES = 5
LOCK_FOR = timedelta(minutes=15)
PASSWORD_MIN = 10
PASSWORD_MAX = 128

_hasher = PasswordHasher()
# Verified against when the name has no password, so that a wrong name costs as long as a wrong password.
_DUMMY = _hasher.hash(secrets.token_hex(16))


class ConsoleError(Exception):
    """A command that cannot be done as asked; `reason` names the text (content/texts/console.yaml)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def nonce_hash(nonce: str) -> str:
    return hashlib.sha256(nonce.encode()).hexdigest()


def new_nonce() -> str:
    return secrets.token_urlsafe(24)


# --- the chat code -----------------------------------------------------------------------------------


def issue_code(session: Session, nonce: str, now: datetime) -> ConsoleLoginCode:
    """A new code for the browser session holding `nonce`, unique among the codes still waiting. Codes that
    ended over an hour ago are deleted on the way."""
    session.execute(delete(ConsoleLoginCode).where(ConsoleLoginCode.expires_at < now - timedelta(hours=1)))
    waiting = set(
        session.scalars(
            select(ConsoleLoginCode.code).where(
                ConsoleLoginCode.expires_at > now, ConsoleLoginCode.openid.is_(None)
            )
        )
    )
    space = 10**CODE_DIGITS
    if len(waiting) >= space // 2:
        raise ConsoleError("console_codes_exhausted")
    while True:
        code = f"{secrets.randbelow(space):0{CODE_DIGITS}d}"
        if code not in waiting:
            break
    row = ConsoleLoginCode(
        code=code, nonce_hash=nonce_hash(nonce), created_at=now, expires_at=now + CODE_LIFETIME
    )
    session.add(row)
    session.flush()
    return row


def current_code(session: Session, nonce: str, now: datetime) -> ConsoleLoginCode | None:
    """The page's code while it still waits for chat (None once it expired or was confirmed)."""
    row = _latest(session, nonce)
    if row is None or row.openid is not None or row.expires_at <= now:
        return None
    return row


def confirm_code(session: Session, code: str, openid: str, now: datetime) -> bool:
    """`登录 4821` from a staff member (the caller checked Action.USE_CONSOLE): the waiting code, if any, is
    theirs now. False: no such code waiting (mistyped, expired or already used)."""
    row = session.scalars(
        select(ConsoleLoginCode)
        .where(
            ConsoleLoginCode.code == code,
            ConsoleLoginCode.expires_at > now,
            ConsoleLoginCode.openid.is_(None),
        )
        .order_by(ConsoleLoginCode.id.desc())
        .limit(1)
    ).first()
    if row is None:
        return False
    row.openid, row.confirmed_at = openid, now
    return True


# A verified service account's login page also shows a temporary QR code (QR_STR_SCENE) holding the page's
# one-time nonce: scanning it with a bound WeChat confirms the login like `登录 4821`.
SCENE = "console:"


def login_scene(nonce: str) -> str:
    return SCENE + nonce


def confirm_scan(session: Session, scene: str, openid: str, now: datetime) -> bool:
    """The login page's QR code scanned by a staff member (the caller checked Action.USE_CONSOLE): the
    page's waiting code is theirs now. False: that page's code expired, was used or was replaced."""
    row = _latest(session, scene.removeprefix(SCENE))
    if row is None or row.openid is not None or row.consumed_at is not None or row.expires_at <= now:
        return False
    row.openid, row.confirmed_at = openid, now
    return True


class Taken(StrEnum):
    WAITING = "waiting"  # not sent in chat yet
    EXPIRED = "expired"  # its two minutes are over (or it was taken): the page shows a new one
    LOGGED_IN = "logged_in"


@dataclass(frozen=True, slots=True)
class TakeResult:
    state: Taken
    openid: str | None = None


def take_login(session: Session, nonce: str, now: datetime) -> TakeResult:
    """What became of the code of the session holding `nonce`: confirmed in chat → the login, once."""
    row = _latest(session, nonce)
    if row is None or row.consumed_at is not None:
        return TakeResult(Taken.EXPIRED)
    if row.openid is not None:
        if now > row.expires_at + TAKE_GRACE:
            return TakeResult(Taken.EXPIRED)
        row.consumed_at = now
        return TakeResult(Taken.LOGGED_IN, row.openid)
    if row.expires_at <= now:
        return TakeResult(Taken.EXPIRED)
    return TakeResult(Taken.WAITING)


def _latest(session: Session, nonce: str) -> ConsoleLoginCode | None:
    return session.scalars(
        select(ConsoleLoginCode)
        .where(ConsoleLoginCode.nonce_hash == nonce_hash(nonce))
        .order_by(ConsoleLoginCode.id.desc())
        .limit(1)
    ).first()


# --- administrators' passwords ---------------------------------------------------------------------


def admin_named(session: Session, name: str) -> Admin:
    found = list(session.scalars(select(Admin).where(Admin.name == name.strip())))
    if not found:
        raise ConsoleError("console_passwd_no_admin")
    if len(found) > 1:
        raise ConsoleError("console_passwd_ambiguous")
    return found[0]


def set_password(session: Session, name: str, password: str, now: datetime) -> Admin:
    """Set (or replace) an administrator's console password; their lockout, if any, ends."""
    if not PASSWORD_MIN <= len(password) <= PASSWORD_MAX:
        raise ConsoleError("console_passwd_length")
    admin = admin_named(session, name)
    row = session.scalar(select(ConsolePassword).where(ConsolePassword.admin_id == admin.id))
    hashed = _hasher.hash(password)
    if row is None:
        session.add(ConsolePassword(admin_id=admin.id, hash=hashed, set_at=now))
    else:
        row.hash, row.set_at = hashed, now
    session.execute(delete(ConsoleLockout).where(ConsoleLockout.name == admin.name))
    return admin


class Checked(StrEnum):
    OK = "ok"
    WRONG = "wrong"
    LOCKED = "locked"


@dataclass(frozen=True, slots=True)
class PasswordResult:
    outcome: Checked
    admin_id: int | None = None
    locked_until: datetime | None = None


def check_password(session: Session, name: str, password: str, now: datetime) -> PasswordResult:
    """A password login attempt, counted against the name in the caller's transaction. The name's lockout
    row is taken first (FOR UPDATE on PostgreSQL; SQLite has one writer): attempts on one name are checked
    one at a time, so parallel guesses cannot slip past the count. A parallel first attempt on a new name
    fails on the row's key before any password is checked."""
    name = name.strip()[:50]
    lock = session.get(ConsoleLockout, name, with_for_update=True)
    if lock is None:
        lock = ConsoleLockout(name=name, failures=0, updated_at=now)
        session.add(lock)
        session.flush()
    if lock.locked_until is not None:
        if lock.locked_until > now:
            return PasswordResult(Checked.LOCKED, locked_until=lock.locked_until)
        lock.failures, lock.locked_until = 0, None  # the lock is over: a fresh count
    found = session.execute(
        select(Admin.id, ConsolePassword.hash)
        .join(ConsolePassword, ConsolePassword.admin_id == Admin.id)
        .where(Admin.name == name)
    ).all()
    admin_id, stored = (int(found[0][0]), str(found[0][1])) if len(found) == 1 else (None, _DUMMY)
    try:
        good = _hasher.verify(stored, password) and admin_id is not None
    except (VerificationError, InvalidHashError):
        good = False
    if good:
        session.delete(lock)
        return PasswordResult(Checked.OK, admin_id=admin_id)
    lock.failures += 1
    lock.updated_at = now
    if lock.failures >= MAX_FAILURES:
        lock.locked_until = now + LOCK_FOR
        return PasswordResult(Checked.LOCKED, locked_until=lock.locked_until)
    return PasswordResult(Checked.WRONG)
