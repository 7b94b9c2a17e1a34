"""数据导入 (Action.IMPORT_DATA, administrators): the organisation tree, the member ledger or the staff list
uploaded as CSV/XLSX → the same row-numbered dry-run report as `partybot org|members|staff import --dry-run`
(bot.domain.importing) → confirmed (or, when some rows fail, only the valid rows, like `--load-valid`) → the
result. The uploaded file is kept on the server between the dry run and the confirmation (a folder named by a
random token held in the session, removed after the confirmation or after 30 minutes): what is confirmed is
exactly what was checked, never a second upload.

The upload helpers here (`upload_limit`, `keep_upload`, `kept_upload`, `drop_upload`) serve the dues page's
bank statement too."""

from __future__ import annotations

import re
import secrets
import shutil
import tempfile
import time
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from aiohttp import web
from aiohttp_session import get_session

from bot.console.deps import clock, services, user
from bot.console.pages import refuse, render
from bot.domain.importing import (
    ImportFailed,
    ImportKind,
    ImportReport,
    Table,
    import_members,
    import_org,
    import_staff,
    read_table,
)
from bot.domain.importing.columns import locate_header
from bot.domain.policy import Action, may

UPLOAD_MAX = 2 * 1024 * 1024  # bytes of one upload (the whole request)
UPLOAD_TTL = timedelta(minutes=30)
SUFFIXES = (".csv", ".xlsx", ".xlsm", ".xls")
KINDS: tuple[ImportKind, ...] = ("org", "members", "staff")
# The POSTs that carry a file: they may be larger than the application's usual body limit.
UPLOAD_PATHS = frozenset({"/console/imports/check", "/console/dues/import/check"})
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
_UNSAFE = re.compile(r"[^\w.\-（）()\u4e00-\u9fff]+")


# --- keeping an upload between the dry run and the confirmation -------------------------------------------


@web.middleware
async def upload_limit(request: web.Request, handler: Any) -> web.StreamResponse:
    """Raise the body limit to UPLOAD_MAX for the upload forms only (413 with a page past it)."""
    if request.method == "POST" and request.path in UPLOAD_PATHS:
        await get_session(request)  # loaded first, so that the clone shares it with the session middleware
        request = request.clone(client_max_size=UPLOAD_MAX)
        try:
            form = await request.post()
        except web.HTTPRequestEntityTooLarge:
            return await refuse(request, 413, "console_upload_too_large")
        try:
            response: web.StreamResponse = await handler(request)
        finally:
            for value in form.values():
                if isinstance(value, web.FileField):
                    value.file.close()
        return response
    found: web.StreamResponse = await handler(request)
    return found


def upload_root() -> Path:
    return Path(tempfile.gettempdir()) / "partybot-console-uploads"


def sweep(root: Path | None = None) -> None:
    """Remove uploads older than UPLOAD_TTL (by the file system's clock: nobody came back for them)."""
    root = root or upload_root()
    if not root.is_dir():
        return
    limit = time.time() - UPLOAD_TTL.total_seconds()
    for folder in root.iterdir():
        try:
            if folder.stat().st_mtime < limit:
                shutil.rmtree(folder, ignore_errors=True)
        except OSError:
            continue


def safe_name(filename: str) -> str:
    """The uploaded file's own name (a client may send it percent-encoded), fit for a path."""
    filename = unquote(filename) if "%" in filename else filename
    name = _UNSAFE.sub("_", Path(filename.replace("\\", "/")).name).strip("._") or "upload"
    stem, dot, suffix = name.rpartition(".")
    return (stem[:80] + dot + suffix[:5]) if dot else name[:80]


@dataclass(frozen=True, slots=True)
class Kept:
    token: str
    path: Path
    name: str  # the file's name as uploaded
    extra: dict[str, str]


class UploadRefused(Exception):
    """The upload is not a file we read: the message key says why."""


async def keep_upload(request: web.Request, slot: str, field: Any, **extra: str) -> Kept:
    """Save the form's file field under a new token, remembered in the session's `slot` (replacing and
    removing the one kept before)."""
    if not isinstance(field, web.FileField) or not field.filename:
        raise UploadRefused("console_upload_missing")
    name = safe_name(field.filename)
    if not name.lower().endswith(SUFFIXES):
        raise UploadRefused("console_upload_bad_type")
    data = field.file.read()
    if not data.strip():
        raise UploadRefused("console_upload_empty")
    sweep()
    await drop_upload(request, slot)
    token = secrets.token_urlsafe(24)
    folder = upload_root() / token
    folder.mkdir(parents=True, mode=0o700)
    path = folder / name
    path.write_bytes(data)
    session = await get_session(request)
    session[slot] = {"token": token, "name": name, "at": clock(request).now().isoformat(), **extra}
    return Kept(token, path, name, dict(extra))


async def kept_upload(request: web.Request, slot: str, token: str) -> Kept | None:
    """The upload kept in `slot` under `token`, None when there is none, another or it has expired (then it
    is removed)."""
    sweep()
    session = await get_session(request)
    found = session.get(slot)
    if not isinstance(found, dict) or not _TOKEN.match(token) or found.get("token") != token:
        return None
    at = datetime.fromisoformat(str(found.get("at")))
    path = upload_root() / token / str(found.get("name"))
    if clock(request).now() - at > UPLOAD_TTL or not path.is_file():
        await drop_upload(request, slot)
        return None
    extra = {k: str(v) for k, v in found.items() if k not in ("token", "name", "at")}
    return Kept(token, path, str(found["name"]), extra)


async def drop_upload(request: web.Request, slot: str) -> None:
    session = await get_session(request)
    found = session.pop(slot, None)
    if isinstance(found, dict) and _TOKEN.match(str(found.get("token", ""))):
        shutil.rmtree(upload_root() / str(found["token"]), ignore_errors=True)


def read_kept(kept: Kept) -> Table:
    """The kept file as a table, named as it was uploaded (raises ImportFailed)."""
    return replace(read_table(kept.path), source=kept.name)


# --- the pages -------------------------------------------------------------------------------------------

SLOT = "import_upload"
DONE = "import_done"


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_get("/imports", imports_page, name="imports")
    router.add_post("/imports/check", check, name="imports_check")
    router.add_post("/imports/confirm", confirm, name="imports_confirm")


def _allowed(request: web.Request) -> bool:
    return may(user(request).identity, Action.IMPORT_DATA)


async def _run(
    request: web.Request, kind: str, table: Table, *, dry_run: bool, load_valid: bool
) -> ImportReport:
    db, vault, now = services(request).db, services(request).vault, clock(request).now()
    options: dict[str, Any] = {"now": now, "dry_run": dry_run, "load_valid": load_valid}
    if kind == "org":
        return await import_org(db, table, **options)
    if kind == "members":
        return await import_members(db, vault, table, **options)
    return await import_staff(db, vault, table, **options)


async def _page(request: web.Request, status: int = 200, **context: Any) -> web.Response:
    base: dict[str, Any] = {
        "kinds": KINDS,
        "kind": "members",
        "error": None,
        "error_key": None,
        "file": "",
        "report": None,
        "lines": [],
        "token": "",
        "done": None,
        "expired": False,
    }
    base.update(context)
    return await render(request, "import_page.html", status=status, **base)


async def imports_page(request: web.Request) -> web.StreamResponse:
    if not _allowed(request):
        return await refuse(request, 403, "console_forbidden")
    token = request.query.get("upload", "")
    done = request.query.get("done", "")
    if done:
        session = await get_session(request)
        found = session.get(DONE)
        if isinstance(found, dict) and found.get("token") == done:
            return await _page(request, done=found, kind=str(found.get("kind", "members")))
        return await _page(request, expired=True)
    if not token:
        return await _page(request)
    kept = await kept_upload(request, SLOT, token)
    if kept is None:
        return await _page(request, expired=True)
    kind = kept.extra.get("kind", "members")
    try:
        report = await _run(request, kind, read_kept(kept), dry_run=True, load_valid=False)
    except ImportFailed as exc:
        await drop_upload(request, SLOT)
        return await _page(request, 400, error=str(exc), kind=kind)
    return await _page(
        request, report=report, lines=report.lines(), token=kept.token, kind=kind, file=kept.name
    )


async def check(request: web.Request) -> web.StreamResponse:
    if not _allowed(request):
        return await refuse(request, 403, "console_forbidden")
    form = await request.post()
    kind = str(form.get("kind", ""))
    if kind not in KINDS:
        return await _page(request, 400, error_key="console_imports_no_kind")
    try:
        kept = await keep_upload(request, SLOT, form.get("file"), kind=kind)
    except UploadRefused as exc:
        return await _page(request, 400, error_key=str(exc), kind=kind)
    try:
        locate_header(read_kept(kept), kind)  # a file we cannot read at all says so here, not later
    except ImportFailed as exc:
        await drop_upload(request, SLOT)
        return await _page(request, 400, error=str(exc), kind=kind)
    raise web.HTTPSeeOther(f"/console/imports?upload={kept.token}")


async def confirm(request: web.Request) -> web.StreamResponse:
    if not _allowed(request):
        return await refuse(request, 403, "console_forbidden")
    form = await request.post()
    kept = await kept_upload(request, SLOT, str(form.get("token", "")))
    if kept is None:
        return await _page(request, 400, expired=True)
    kind = kept.extra.get("kind", "members")
    load_valid = form.get("load_valid") == "1"
    try:
        report = await _run(request, kind, read_kept(kept), dry_run=False, load_valid=load_valid)
    except ImportFailed as exc:
        await drop_upload(request, SLOT)
        return await _page(request, 400, error=str(exc), kind=kind)
    await drop_upload(request, SLOT)
    session = await get_session(request)
    session[DONE] = {
        "token": kept.token,
        "kind": kind,
        "file": kept.name,
        "written": report.written,
        "summary": report.summary(),
        "lines": report.lines()[:300],
    }
    raise web.HTTPSeeOther(f"/console/imports?done={kept.token}")
