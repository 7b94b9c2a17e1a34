"""CLI commands for secretaries and operators: binding codes and personal QR codes (members and grid
workers), the 双报到 service report, the audit log. What a person reads comes from content/texts.yaml."""

from __future__ import annotations

import asyncio
import getpass
import json
from datetime import datetime, timedelta

import click
from sqlalchemy import select

from bot.cli.common import cli_clock, fail, group, local_date, local_time, say, settings_or_exit
from bot.domain.audit import actor_for, record
from bot.domain.binding import QR_LIFETIME, Binder, Issued, Person, Who
from bot.domain.privacy import Vault
from bot.settings import Settings
from models import AuditEntry, Member, Staff
from models.db import Database


def register(main: click.Group) -> None:

    members = group(main, "members", "The member ledger (党员台账): import, binding codes, reports.")
    staff = group(main, "staff", "Grid workers (网格员) and other community staff.")

    def vault_or_exit(settings: Settings) -> Vault:
        if not settings.data_key:
            fail(say("cli_no_data_key"))
        return Vault(settings.data_key)

    async def person_numbered(db: Database, who: Who, number: str) -> tuple[Person, str]:
        """The active member (or grid worker) with this 编号, and their name; fails when there is none."""
        async with db.read() as session:
            if who is Who.MEMBER:
                found: Member | Staff | None = await session.scalar(
                    select(Member).where(Member.number == number, Member.active.is_(True))
                )
            else:
                found = await session.scalar(
                    select(Staff).where(Staff.number == number, Staff.active.is_(True))
                )
        if found is None:
            fail(say("cli_no_member" if who is Who.MEMBER else "cli_no_staff", number=number))
        return Person(who, found.id), found.name

    def moves(who: Who, name: str, qr: bool = False) -> str:
        """The warning when the person is bound already: redeeming moves their binding."""
        kind = "member" if who is Who.MEMBER else "staff"
        return say(f"cli_qr_moves_{kind}" if qr else f"code_moves_{kind}", name=name)

    def print_code(who: Who, number: str) -> None:
        settings = settings_or_exit()
        vault = vault_or_exit(settings)

        async def run() -> tuple[str, Issued]:
            db = Database(settings.database_url)
            try:
                person, name = await person_numbered(db, who, number)
                issued = await Binder(db, vault).issue_code(
                    person, actor_for(cli_user=getpass.getuser()), cli_clock(settings).now()
                )
                return name, issued
            finally:
                await db.dispose()

        name, issued = asyncio.run(run())
        click.echo(say("cli_code_issued", name=name, number=number, code=issued.secret))
        if issued.was_bound:
            click.echo(moves(who, name))

    def print_qr(who: Who, number: str) -> None:
        import aiohttp

        from bot.metrics import Metrics
        from bot.wechat.errors import WeChatError
        from bot.wechat.gateway import DatabaseTokenStore, WeChatGateway

        settings = settings_or_exit()
        vault = vault_or_exit(settings)

        async def run() -> tuple[str, Issued, str]:
            db = Database(settings.database_url)
            clock = cli_clock(settings)
            try:
                person, name = await person_numbered(db, who, number)
                issued = await Binder(db, vault).issue_qr_token(
                    person, actor_for(cli_user=getpass.getuser()), clock.now()
                )
                async with aiohttp.ClientSession() as http:
                    gateway = WeChatGateway(
                        settings, http, DatabaseTokenStore(db, settings.wechat_appid, clock), clock, Metrics()
                    )
                    qr = await gateway.create_qrcode(issued.secret, int(QR_LIFETIME.total_seconds()))
                return name, issued, qr.url
            except WeChatError as exc:
                fail(say("cli_qr_refused", reason=exc))
            finally:
                await db.dispose()

        name, issued, url = asyncio.run(run())
        # Standard output is the URL alone (to print, or to pass on); what a person reads goes to stderr.
        click.echo(say("cli_qr_issued", name=name, number=number), err=True)
        if issued.was_bound:
            click.echo(moves(who, name, qr=True), err=True)
        click.echo(url)

    @members.command("bind-code")
    @click.argument("number")
    def bind_code(number: str) -> None:
        """Print a one-time 6-digit binding code for member NUMBER (valid 7 days, single use).

        Tell it to the member in person or by phone; they send `绑定 <code>` to the account. If the member
        is bound to a WeChat already, the code moves the binding to the WeChat that sends it."""
        print_code(Who.MEMBER, number)

    @staff.command("bind-code")
    @click.argument("number")
    def staff_bind_code(number: str) -> None:
        """Print a one-time 6-digit binding code for grid worker NUMBER (valid 7 days, single use).

        Like `members bind-code`: they send `绑定 <code>`; a grid worker who is also a member gets both
        roles on one WeChat. If they are bound already, the code moves the binding."""
        print_code(Who.STAFF, number)

    @members.command("bind-qr")
    @click.argument("number")
    def bind_qr(number: str) -> None:
        """Create a personal parametric QR code for member NUMBER (single use, 30 days).

        Needs a verified service account (or the fake WeChat API); the scene is an opaque token,
        never the member number. Prints the QR code's URL to print or show on a phone."""
        print_qr(Who.MEMBER, number)

    @staff.command("bind-qr")
    @click.argument("number")
    def staff_bind_qr(number: str) -> None:
        """Create a personal parametric QR code for grid worker NUMBER (single use, 30 days), like
        `members bind-qr`."""
        print_qr(Who.STAFF, number)

    @members.command("service-report")
    @click.option("--quarter", required=True, help="The quarter, e.g. 2026Q4.")
    @click.option(
        "--output",
        type=click.Path(dir_okay=False, writable=True),
        default=None,
        help="Write the CSV here (default: standard output).",
    )
    def service_report(quarter: str, output: str | None) -> None:
        """Export the quarterly 双报到 feedback for workplaces: each confirmed in-service member registered
        by the end of QUARTER, their workplace Party organisation and volunteer posts (CSV, opens in Excel).
        The export is recorded in the audit log."""
        import csv
        import io
        import re as _re
        from datetime import UTC
        from zoneinfo import ZoneInfo

        from bot.domain.privacy import mask_phone
        from models import DualReport, OrgUnit

        found = _re.fullmatch(r"(\d{4})Q([1-4])", quarter.strip().upper())
        if found is None:
            fail(say("cli_bad_quarter"))
        year, q = int(found.group(1)), int(found.group(2))
        settings = settings_or_exit()
        tz = ZoneInfo(settings.timezone)
        start = datetime(year, 3 * q - 2, 1, tzinfo=tz).astimezone(UTC)
        end = (datetime(year + (q == 4), (3 * q) % 12 + 1, 1, tzinfo=tz)).astimezone(UTC)
        vault = Vault(settings.data_key) if settings.data_key else None

        async def run() -> list[list[str]]:
            db = Database(settings.database_url)
            try:
                async with db.read() as session:
                    rows = (
                        await session.execute(
                            select(DualReport, OrgUnit.name)
                            .outerjoin(OrgUnit, DualReport.unit_id == OrgUnit.id)
                            .where(DualReport.status == "confirmed", DualReport.confirmed_at < end)
                            .order_by(DualReport.workplace_org, DualReport.name)
                        )
                    ).all()
                table = [
                    [
                        d.workplace_org,
                        d.name,
                        mask_phone(vault.decrypt_phone(d.phone_enc) if vault else None),
                        unit or "",
                        f"{d.building}{d.door}",
                        local_date(d.confirmed_at, settings.timezone) if d.confirmed_at else "",
                        "、".join(d.volunteer_posts),
                    ]
                    for d, unit in rows
                ]
                who = actor_for(cli_user=getpass.getuser())
                now = cli_clock(settings).now()
                await db.run(
                    lambda s: record(
                        s,
                        now,
                        who,
                        "export_service_report",
                        quarter,
                        rows=len(table),
                        since=start.isoformat(),
                    )
                )
                return table
            finally:
                await db.dispose()

        table = asyncio.run(run())
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(say("cli_report_columns").split(","))
        writer.writerows(table)
        if output:
            # With a BOM: Excel on Chinese Windows then opens it as UTF-8.
            with open(output, "w", encoding="utf-8-sig", newline="") as handle:
                handle.write(buffer.getvalue())
            click.echo(say("cli_report_written", quarter=quarter, count=len(table), output=output), err=True)
        else:
            click.echo(buffer.getvalue(), nl=False)

    @main.command("audit")
    @click.option("--days", default=30, show_default=True, help="How many days back to show.")
    @click.option("--action", default=None, help="Only this action (list_members, issue_bind_code, ...).")
    @click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
    def audit_log(days: int, action: str | None, as_json: bool) -> None:
        """Show the audit log: every read or export of people's data by staff (append-only). Times are in
        PARTYBOT_TIMEZONE, with the UTC offset."""
        from zoneinfo import ZoneInfo

        settings = settings_or_exit()
        zone = ZoneInfo(settings.timezone)

        async def run() -> list[AuditEntry]:
            db = Database(settings.database_url)
            try:
                since: datetime = cli_clock(settings).now() - timedelta(days=days)
                query = select(AuditEntry).where(AuditEntry.at >= since).order_by(AuditEntry.id)
                if action:
                    query = query.where(AuditEntry.action == action)
                async with db.read() as session:
                    return list((await session.scalars(query)).all())
            finally:
                await db.dispose()

        entries = asyncio.run(run())
        if not entries and not as_json:
            click.echo(say("cli_audit_none", days=days))
        for entry in entries:
            if as_json:
                click.echo(
                    json.dumps(
                        {
                            "at": entry.at.astimezone(zone).isoformat(),
                            "actor": entry.actor,
                            "action": entry.action,
                            "scope": entry.scope,
                            "detail": entry.detail,
                        },
                        ensure_ascii=False,
                    )
                )
            else:
                click.echo(
                    f"{local_time(entry.at, settings.timezone)} {entry.actor} {entry.action} "
                    f"{entry.scope or ''} {json.dumps(entry.detail, ensure_ascii=False)}"
                )
