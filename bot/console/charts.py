"""The dashboard's trend charts: each section's twelve months as an SVG drawn on the server by pygal,
served at /console/charts/{section}.svg?unit=…&month=… and shown with <img> (an image is its own document:
pygal's <style> applies there, while the console's pages allow no inline style). No script: pygal's
JavaScript is off. Authorised like the dashboard's section: the viewer's scope for its action must hold the
unit (403), the unit must exist (404)."""

from __future__ import annotations

import re
import sys
from collections.abc import Callable

import pygal
from aiohttp import web
from pygal.style import Style
from sqlalchemy import select

from bot.console import dashboard
from bot.console.deps import clock, content, options_of, sections, services, user, warmed
from bot.console.pages import refuse
from bot.console.views import _month
from models import OrgUnit

# pygal puts a finder for its map plugins on sys.meta_path that has no find_spec (Python warns on every
# import that reaches it, an error under the tests' warning filters); the console draws no maps.
sys.meta_path[:] = [f for f in sys.meta_path if type(f).__module__ != "pygal"]

FONT = "'Noto Sans CJK SC', 'Noto Sans SC', 'WenQuanYi Micro Hei', sans-serif"
# High contrast on white: dark blue, red, dark green (the console's colours).
STYLE = Style(
    font_family=FONT,
    label_font_family=FONT,
    major_label_font_family=FONT,
    title_font_family=FONT,
    legend_font_family=FONT,
    value_font_family=FONT,
    background="#ffffff",
    plot_background="#ffffff",
    foreground="#1a1a1a",
    foreground_strong="#000000",
    foreground_subtle="#666666",
    colors=("#1f4e9c", "#b22222", "#2e7d32"),
    label_font_size=16,
    major_label_font_size=16,
    legend_font_size=17,
    title_font_size=18,
)
SCRIPT = re.compile(rb"<script\b.*?</script>", re.DOTALL)
# The SVG's own policy: its inline <style> (pygal's), nothing else.
SVG_POLICY = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"


def short_label(month: str, t: Callable[..., str]) -> str:
    """`2026-11` → `11月`, January with its year (`2027年1月`) so the year change shows."""
    year, number = int(month[:4]), int(month[5:7])
    return t("console_chart_january", year=year) if number == 1 else t("console_chart_month", month=number)


def svg_of(trend: dashboard.Trend, t: Callable[..., str]) -> bytes:
    """The trend as a line chart of percentages (a month with nothing to count is a gap)."""
    chart = pygal.Line(
        style=STYLE,
        js=[],
        width=720,
        height=320,
        range=(0, 100),
        include_x_axis=True,
        y_labels=[0, 20, 40, 60, 80, 100],
        y_labels_major_every=1,
        legend_at_bottom=True,
        legend_at_bottom_columns=3,
        truncate_legend=-1,
        truncate_label=-1,
        x_label_rotation=0,
        value_formatter=lambda v: f"{v:g}%",
        no_data_text=t("console_dashboard_trend_no_data"),
        no_data_font_size=24,
        allow_interruptions=True,
        dots_size=4,
        stroke_style={"width": 3},
        margin=12,
        margin_bottom=24,
    )
    chart.title = t(trend.title_key)
    chart.x_labels = [short_label(m, t) for m in trend.months]
    for series in trend.series:
        chart.add(t(series.key), [None if v is None else round(v * 100, 1) for v in series.values])
    # pygal writes its config as a <script> even with js=[]: the chart needs none (and its CSP allows none).
    return SCRIPT.sub(b"", bytes(chart.render()))


async def chart(request: web.Request) -> web.StreamResponse:
    who = user(request)
    section = request.match_info["section"]
    month = _month(request)
    if month is None or section not in dashboard.SECTION_ACTIONS:
        return await refuse(request, 404, "console_not_found")
    home = dashboard.home_of(who.identity)
    unit = request.query.get("unit", home or "").strip().strip("/")
    if not dashboard.may_see(who.identity, section, unit):
        return await refuse(request, 403, "console_forbidden")
    db = services(request).db
    if unit:
        async with db.read() as session:
            if await session.scalar(select(OrgUnit.id).where(OrgUnit.path == unit)) is None:
                return await refuse(request, 404, "console_not_found")
    options = options_of(request)
    await warmed(request, unit)
    now = clock(request).now()
    cache = sections(request)
    trend = await db.survey(
        lambda session: dashboard.section_trend(
            session, cache, who.identity, section, unit, month, options, now
        )
    )
    if trend is None:
        return await refuse(request, 403, "console_forbidden")
    body = svg_of(trend, content(request).text)
    return web.Response(
        body=body,
        content_type="image/svg+xml",
        charset="utf-8",
        headers={"Content-Security-Policy": SVG_POLICY, "Cache-Control": "private, no-store"},
    )


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_get("/charts/{section}.svg", chart, name="chart")
