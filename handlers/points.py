"""积分: `积分` shows a member their points this month and this year, and their branch's ranking this month
(others' names masked: 王**; their own row unmasked and marked)."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.domain import points
from bot.domain.policy import Action, may
from bot.edge.context import Context
from bot.edge.replies import Reply, TextReply
from bot.edge.router import Intent, Router
from bot.wechat.wire import Incoming
from handlers.member import not_member
from models import OrgUnit

# The ranking shows the top of the branch, and the member's own row (with the one above it) when lower:
# a branch of a hundred fits one passive reply (2048 bytes).
TOP = 10


def router() -> Router:
    r = Router("points")

    @r.route(Intent("my_points"))
    async def my_points(msg: Incoming, ctx: Context) -> Reply | None:
        identity = ctx.identity
        if not may(identity, Action.VIEW_OWN_POINTS) or identity.member_id is None:
            return not_member(ctx)
        member_id, now, timezone = identity.member_id, ctx.clock.now(), ctx.settings.timezone
        branch = identity.branch_path or identity.unit_path or ""
        local = now.astimezone(ZoneInfo(timezone))

        def load(session: Session) -> tuple[points.PointsSummary, list[points.Ranked], str]:
            mine = points.summary(session, member_id, now, timezone)
            ranking = points.branch_ranking(session, branch, (local.year, local.month), timezone)
            name = session.scalar(select(OrgUnit.name).where(OrgUnit.path == branch))
            return mine, ranking, name or branch.rsplit("/", 1)[-1]

        async with ctx.db.read() as session:
            mine, ranking, branch_name = await session.run_sync(load)
        reasons = ctx.content.texts.get("points_reasons", {})
        ranked = list(points.rules())

        def order(reason: str) -> int:
            return ranked.index(reason) if reason in ranked else len(ranked)

        parts = "、".join(
            ctx.text("points_reason_part", reason=reasons.get(reason, reason), points=value)
            for reason, value in sorted(
                mine.month_by_reason.items(), key=lambda item: (-item[1], order(item[0]))
            )
            if value
        )
        return TextReply(
            ctx.text(
                "points_summary",
                name=identity.name or "",
                month=mine.month,
                year=mine.year,
                breakdown=ctx.text("points_breakdown", parts=parts) if parts else "",
                branch=branch_name,
                lines=ranking_lines(ctx, ranking, member_id),
            )
        )

    return r


def ranking_lines(ctx: Context, ranking: list[points.Ranked], member_id: int) -> str:
    mine = next((i for i, row in enumerate(ranking) if row.member_id == member_id), None)
    shown = list(range(min(TOP, len(ranking))))
    if mine is not None and mine >= TOP:
        shown += [mine - 1, mine] if mine - 1 >= TOP else [mine]
    lines: list[str] = []
    for before, index in zip([None, *shown], shown, strict=False):
        if before is not None and index != before + 1:
            lines.append(ctx.text("points_line_gap"))
        row = ranking[index]
        if row.member_id == member_id:
            lines.append(ctx.text("points_line_me", rank=row.rank, name=row.name, points=row.points))
        else:
            lines.append(
                ctx.text("points_line", rank=row.rank, name=points.mask_name(row.name), points=row.points)
            )
    if len(ranking) > len(shown):
        lines.append(ctx.text("points_more", count=len(ranking)))
    return "\n".join(lines)
