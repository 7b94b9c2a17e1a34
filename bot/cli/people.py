"""CLI commands for secretaries and operators: binding codes, personal QR codes, the audit log."""

from __future__ import annotations

import asyncio
import getpass
import json
from datetime import datetime, timedelta

import click
from sqlalchemy import select

from bot.cli.common import fail, settings_or_exit
from bot.clock import SystemClock
from bot.domain.audit import actor_for, record
from bot.domain.binding import QR_LIFETIME, Binder
from bot.domain.privacy import Vault
from bot.settings import Settings
from models import AuditEntry, Member
from models.db import Database


def _group(main: click.Group, name: str, help_text: str) -> click.Group:
    existing = main.commands.get(name)
    if isinstance(existing, click.Group):
        return existing
    group = click.Group(name, help=help_text)
    main.add_command(group)
    return group


def register(main: click.Group) -> None:

    members = _group(main, "members", "The member ledger (党员台账): import, binding codes, reports.")

    def vault_or_exit(settings: Settings) -> Vault:
        if not settings.data_key:
            fail("PARTYBOT_DATA_KEY is not set (generate one with `partybot keygen`)")
        return Vault(settings.data_key)

    async def member_id(db: Database, number: str) -> tuple[int, str]:
        async with db.read() as session:
            member = await session.scalar(
                select(Member).where(Member.number == number, Member.active.is_(True))
            )
        if member is None:
            fail(f"no active member with number {number}")
        return member.id, member.name

    @members.command("bind-code")
    @click.argument("number")
    def bind_code(number: str) -> None:
        """Print a one-time 6-digit binding code for member NUMBER (valid 7 days, single use).

        Tell it to the member in person or by phone; they send `绑定 <code>` to the account."""
        settings = settings_or_exit()
        vault = vault_or_exit(settings)

        async def run() -> tuple[str, str]:
            db = Database(settings.database_url)
            try:
                mid, name = await member_id(db, number)
                code = await Binder(db, vault).issue_code(
                    mid, actor_for(cli_user=getpass.getuser()), SystemClock().now()
                )
                return name, code
            finally:
                await db.dispose()

        name, code = asyncio.run(run())
        click.echo(
            f"{name}（{number}）的绑定码：{code}（7天内有效，只能使用一次；本人发送“绑定 {code}”即可）"
        )

    @members.command("bind-qr")
    @click.argument("number")
    def bind_qr(number: str) -> None:
        """Create a personal parametric QR code for member NUMBER (single use, 30 days).

        Needs a verified service account (or the fake WeChat API); the scene is an opaque token,
        never the member number. Prints the QR code's URL to print or show on a phone."""
        import aiohttp

        from bot.metrics import Metrics
        from bot.wechat.errors import WeChatError
        from bot.wechat.gateway import DatabaseTokenStore, WeChatGateway

        settings = settings_or_exit()
        vault = vault_or_exit(settings)

        async def run() -> str:
            db = Database(settings.database_url)
            clock = SystemClock()
            try:
                mid, _ = await member_id(db, number)
                token = await Binder(db, vault).issue_qr_token(
                    mid, actor_for(cli_user=getpass.getuser()), clock.now()
                )
                async with aiohttp.ClientSession() as http:
                    gateway = WeChatGateway(
                        settings, http, DatabaseTokenStore(db, settings.wechat_appid, clock), clock, Metrics()
                    )
                    qr = await gateway.create_qrcode(token, int(QR_LIFETIME.total_seconds()))
                return qr.url
            except WeChatError as exc:
                fail(f"WeChat refused the QR code: {exc}")
            finally:
                await db.dispose()

        click.echo(asyncio.run(run()))

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
            fail("--quarter must look like 2026Q4")
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
                        f"{d.confirmed_at:%Y-%m-%d}" if d.confirmed_at else "",
                        "、".join(d.volunteer_posts),
                    ]
                    for d, unit in rows
                ]
                who = actor_for(cli_user=getpass.getuser())
                now = SystemClock().now()
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
        writer.writerow(["单位党组织", "姓名", "手机", "报到社区组织", "住址", "确认日期", "志愿岗位"])
        writer.writerows(table)
        if output:
            # With a BOM: Excel on Chinese Windows then opens it as UTF-8.
            with open(output, "w", encoding="utf-8-sig", newline="") as handle:
                handle.write(buffer.getvalue())
            click.echo(f"{quarter}: {len(table)} members -> {output}", err=True)
        else:
            click.echo(buffer.getvalue(), nl=False)

    @main.command("audit")
    @click.option("--days", default=30, show_default=True, help="How many days back to show.")
    @click.option("--action", default=None, help="Only this action (list_members, issue_bind_code, ...).")
    @click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
    def audit_log(days: int, action: str | None, as_json: bool) -> None:
        """Show the audit log: every read or export of people's data by staff (append-only)."""
        settings = settings_or_exit()

        async def run() -> list[AuditEntry]:
            db = Database(settings.database_url)
            try:
                since: datetime = SystemClock().now() - timedelta(days=days)
                query = select(AuditEntry).where(AuditEntry.at >= since).order_by(AuditEntry.id)
                if action:
                    query = query.where(AuditEntry.action == action)
                async with db.read() as session:
                    return list((await session.scalars(query)).all())
            finally:
                await db.dispose()

        for entry in asyncio.run(run()):
            if as_json:
                click.echo(
                    json.dumps(
                        {
                            "at": entry.at.isoformat(),
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
                    f"{entry.at:%Y-%m-%d %H:%M} {entry.actor} {entry.action} {entry.scope or ''} "
                    f"{json.dumps(entry.detail, ensure_ascii=False)}"
                )
