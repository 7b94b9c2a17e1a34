"""The dashboard's trend charts and its notices section: each chart's URL as nobody and as each role (what
each may draw, what each is refused), the SVG itself (its type, the months' labels, no script), the notices
reached by channel and the elderly within 24 h for a seeded announcement, and every trend's month equal to
the single-month figure the chat and the CLI use."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

from aiohttp.test_utils import TestClient
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from bot.app import CONTENT, SETTINGS
from bot.clock import FixedClock
from bot.console import dashboard
from bot.console.app import _percent
from bot.content import load_content
from bot.domain import dues, mobile, request_rates, theme_day
from bot.domain.dues_ledger import Recorder, pay_months
from bot.outbound import notice_reach
from bot.outbound.notices import Audience, enqueue_announcement, preview
from models import Attendance, Member, OutboxRow, RequestTicket
from tests.browser import DESKTOP, artifacts, launch_args
from tests.community import BRANCH1, BRANCH2, COMMUNITY, GROUP1, STREET, seed, theme_days
from tests.conftest import AppFactory
from tests.console import get, log_in
from tests.helpers import services
from tests.request_seed import file, reporter, seed_requests

TEXTS = load_content()
MONTH = "2026-11"
SECTIONS = ("dues", "requests", "theme", "mobile", "notices")
LABELS = ("12月", "2026年1月", "2月", "6月", "11月")  # 2025-12 … 2026-11


def say(key: str, **values: object) -> str:
    return TEXTS.text(key, **values)


def chart(section: str, unit: str | None = None, month: str = MONTH) -> str:
    query = f"month={month}" + ("" if unit is None else f"&unit={quote(unit)}")
    return f"/console/charts/{section}.svg?{query}"


async def make(make_client: AppFactory) -> TestClient[Any, Any]:
    client = await make_client()
    await seed(
        services(client).db,
        bind=("YX-001", "YX-002", "YX-003", "YX-004", "YX-007"),
        grid_worker="o-grid",
        admin="o-admin",
    )
    return client


async def svg(client: TestClient[Any, Any], path: str) -> str:
    resp = await client.get(path, allow_redirects=False)
    body = await resp.text()
    assert resp.status == 200, (path, body[:300])
    assert resp.headers["Content-Type"].startswith("image/svg+xml")
    assert "script-src" not in resp.headers["Content-Security-Policy"]
    assert "default-src 'none'" in resp.headers["Content-Security-Policy"]
    assert body.lstrip().startswith("<?xml") and "<svg" in body
    assert "<script" not in body
    return body


async def status_of(client: TestClient[Any, Any], path: str) -> int:
    resp = await client.get(path, allow_redirects=False)
    await resp.read()
    return resp.status


async def test_nobody_is_sent_to_the_login_page(make_client: AppFactory) -> None:
    client = await make(make_client)
    for section in SECTIONS:
        resp, _ = await get(client, chart(section, COMMUNITY))
        assert (resp.status, resp.headers.get("Location")) == (302, "/console/login")


async def test_an_administrator_draws_every_chart(make_client: AppFactory, clock: FixedClock) -> None:
    client = await make(make_client)
    await log_in(client, clock, "o-admin")
    for section in SECTIONS:
        for unit in (None, "", STREET, BRANCH2):
            body = await svg(client, chart(section, unit))
            for label in LABELS:
                assert f">{label}<" in body, (section, label)
    body = await svg(client, chart("requests", COMMUNITY))
    for key in (
        "console_requests_heading",
        "console_rate_response",
        "console_rate_solve",
        "console_rate_satisfaction",
    ):
        assert say(key) in body
    assert "Noto Sans CJK SC" in body  # Chinese labels render with the installed CJK font
    assert await status_of(client, chart("nothing", COMMUNITY)) == 404
    assert await status_of(client, chart("dues", COMMUNITY, month="2026-13")) == 404
    assert await status_of(client, chart("dues", f"{COMMUNITY}/不存在的支部")) == 404

    resp, html = await get(client, f"/console/?unit={quote(COMMUNITY)}")
    assert resp.status == 200
    for section in SECTIONS:
        src = f'src="/console/charts/{section}.svg?unit={quote(COMMUNITY)}&amp;month={MONTH}"'
        assert src in html, section
    assert html.count("<figure") == 5 and html.count("<figcaption>") == 5
    caption = say(
        "console_dashboard_trend_caption",
        title=say("console_dues_heading"),
        first="2025年12月",
        last="2026年11月",
    )
    assert caption in html
    assert '<th scope="row">2025年12月</th>' in html and '<th scope="row">2026年11月</th>' in html
    assert 'id="notices"' in html and say("console_dashboard_notices_none") in html


async def test_a_community_secretary_draws_their_community(
    make_client: AppFactory, clock: FixedClock
) -> None:
    client = await make(make_client)
    await log_in(client, clock, "o-YX-001")
    for section in SECTIONS:
        for unit in (None, COMMUNITY, BRANCH1, GROUP1):
            await svg(client, chart(section, unit))
        for unit in (STREET, ""):
            assert await status_of(client, chart(section, unit)) == 403, (section, unit)


async def test_a_branch_secretary_draws_their_branch_only(make_client: AppFactory, clock: FixedClock) -> None:
    client = await make(make_client)
    await log_in(client, clock, "o-YX-002")
    for section in SECTIONS:
        await svg(client, chart(section))  # their branch
        await svg(client, chart(section, GROUP1))
        for unit in (BRANCH2, COMMUNITY, STREET, ""):
            assert await status_of(client, chart(section, unit)) == 403, (section, unit)
    _, html = await get(client, "/console/")
    assert 'id="notices"' in html and "/console/charts/notices.svg" in html


async def test_a_committee_member_draws_the_requests_only(make_client: AppFactory, clock: FixedClock) -> None:
    client = await make(make_client)
    await log_in(client, clock, "o-YX-007")
    await svg(client, chart("requests", BRANCH1))
    assert await status_of(client, chart("requests", BRANCH2)) == 403
    for section in ("dues", "theme", "mobile", "notices"):
        assert await status_of(client, chart(section, BRANCH1)) == 403, section
    _, html = await get(client, "/console/")
    assert "/console/charts/requests.svg" in html and "/console/charts/dues.svg" not in html
    assert 'id="notices"' not in html


async def test_a_grid_worker_draws_nothing(make_client: AppFactory, clock: FixedClock) -> None:
    client = await make(make_client)
    await log_in(client, clock, "o-grid")
    for section in SECTIONS:
        for unit in (None, BRANCH1, COMMUNITY):
            assert await status_of(client, chart(section, unit)) == 403, (section, unit)


async def test_the_notices_section_shows_how_an_announcement_reached_people(
    make_client: AppFactory, clock: FixedClock
) -> None:
    client = await make(make_client)
    assert client.app is not None
    db, content, settings = services(client).db, client.app[CONTENT], client.app[SETTINGS]
    await log_in(client, clock, "o-YX-001")
    now = clock.now()
    audience = Audience(COMMUNITY)
    found = await preview(db, content, audience, now, settings, text="通知：周六开展志愿服务。")
    voiced_n = sum(1 for r in found.recipients if r.voice)  # voice mode: the roster's, else 70 or more
    assert voiced_n >= 2
    notice_id = await enqueue_announcement(
        db,
        now,
        text="通知：周六开展志愿服务。",
        audience=audience,
        label=found.label,
        author="member:YX-001",
        author_openid="o-YX-001",
        recipients=[r for r in found.recipients if r.member_id != found.sender],
    )
    voice_ids = {r.member_id for r in found.recipients if r.voice}
    # What the worker made of it: the voice members one within the hour, one after two days; the rest by
    # customer service, template, mass send, a helper, the next reply, and one failed.
    outcomes = ["customer_service", "template", "mass_send", "relay", "next_reply", "failed", "template"]
    status = {
        "customer_service": "sent",
        "template": "sent",
        "mass_send": "sent",
        "relay": "relayed",
        "next_reply": "waiting-next-reply",
        "failed": "failed",
    }

    def outcome(session: Session) -> None:
        rows = list(
            session.scalars(select(OutboxRow).where(OutboxRow.notice_id == notice_id).order_by(OutboxRow.id))
        )
        others = [r for r in rows if r.member_id not in voice_ids]
        voiced = [r for r in rows if r.member_id in voice_ids]
        for row, how in zip(others, outcomes, strict=False):
            row.status, row.channel = status[how], how
            row.updated_at = now + timedelta(minutes=5)
        for i, row in enumerate(voiced):  # the first within the hour, the others two days later
            later = timedelta(minutes=30) if i == 0 else timedelta(hours=49)
            row.status, row.channel, row.updated_at = "sent", "customer_service", now + later

    await db.run(outcome)
    reach = await db.run(lambda s: notice_reach.reach(s, COMMUNITY, MONTH, settings.timezone))
    assert reach.notices == 1 and reach.recipients == len(found.recipients) == 9 and reach.elderly == voiced_n
    assert reach.elderly_in_24h == 1
    assert sum(reach.by_bucket.values()) == reach.recipients
    resp, html = await get(client, f"/console/?unit={quote(COMMUNITY)}")
    assert resp.status == 200
    assert say("console_dashboard_notices_count", notices=1, recipients=reach.recipients) in html
    assert (
        say("console_dashboard_notices_elderly", elderly=voiced_n, within=1, rate=_percent(1 / voiced_n))
        in html
    )
    for bucket in ("customer_service", "template", "mass_send", "relay", "next_reply", "failed"):
        assert (
            f"<dt>{say('console_dashboard_bucket_' + bucket)}</dt><dd>{reach.by_bucket[bucket]}</dd>" in html
        )
    assert f"<strong>{_percent(reach.reached / reach.recipients)}</strong>" in html
    # A branch's dashboard counts only notices to its subtree; a month before, none.
    other = await db.run(lambda s: notice_reach.reach(s, BRANCH2, MONTH, settings.timezone))
    assert other.notices == 0
    trend = await db.run(
        lambda s: notice_reach.reach_by_month(s, COMMUNITY, dashboard.trend_months(MONTH), settings.timezone)
    )
    assert trend[MONTH].by_bucket == reach.by_bucket and trend["2026-10"].notices == 0
    body = await svg(client, chart("notices", COMMUNITY))
    assert say("console_dashboard_notices_elderly_rate") in body


async def test_a_trend_month_is_the_single_month_figure(make_client: AppFactory, clock: FixedClock) -> None:
    client = await make_client(dues_start_month="2026-06")  # months unpaid before this one count
    db = services(client).db
    assert client.app is not None
    settings = client.app[SETTINGS]
    place = await seed_requests(db)
    people = place.community
    now = clock.now()
    zone = ZoneInfo(settings.timezone)
    # Requests in this month and the one before; one taken.
    first = await file(db, now, reporter(1), "1号楼楼道灯坏了")
    await file(db, now, reporter(2), "5号楼门口积水")
    await file(db, now - timedelta(days=31), reporter(3), "2号楼电梯异响")
    taken = update(RequestTicket).where(RequestTicket.id == first.ticket_id).values(taken_at=now)
    await db.run(lambda s: s.execute(taken))

    def facts(session: Session) -> None:
        start = dues.start_month(session, settings.dues_start_month, settings.timezone)
        rec = Recorder(by=None, now=now, source="test", start=start, timezone=settings.timezone)
        paying = [people.ids["YX-004"], people.ids["YX-009"]]
        session.execute(update(Member).where(Member.id.in_(paying)).values(dues_base_fen=300000))
        assert pay_months(session, people.ids["YX-004"], [MONTH], rec).refusal is None
        assert (
            pay_months(session, people.ids["YX-009"], [dues.add_months(MONTH, -1), MONTH], rec).refusal
            is None
        )
        which = [(MONTH, BRANCH1), (dues.add_months(MONTH, -1), BRANCH1), (MONTH, BRANCH2)]
        for (_, unit), (event_id, members) in theme_days(session, people.units, now, which).items():
            if unit == BRANCH1:
                session.add(Attendance(event_id=event_id, member_id=members[0], how="code", at=now))
        mobile.report_in(session, people.ids["YX-007"], now, zone, text="在上海")

    await db.run(facts)
    months = dashboard.trend_months(MONTH)
    assert months[0] == "2025-12" and months[-1] == MONTH and len(months) == 12

    def compare(session: Session) -> None:
        start = dues.start_month(session, settings.dues_start_month, settings.timezone)
        for unit in (COMMUNITY, BRANCH1, BRANCH2, ""):
            by_month = dues.collection_by_month(
                session, unit, months, start=start, rounding=settings.dues_rounding
            )
            totals = dues.totals_by_month(session, unit, months, start=start, rounding=settings.dues_rounding)
            rates = request_rates.rates_by_month(session, months, unit)
            theme = theme_day.overview_by_month(session, unit, months)
            report = mobile.reporting_by_month(session, months, unit)
            for month in months:
                one = dues.collection(session, unit, month, start=start, rounding=settings.dues_rounding)
                assert by_month[month] == one, (unit, month)
                assert totals[month] == dues.Totals.of(one), (unit, month)
                assert rates[month] == request_rates.rates(session, month, unit)
                assert theme[month] == theme_day.month_overview(session, unit, month)
                silent = mobile.not_reported(session, month, unit)
                total = len(mobile.mobile_members(session, unit))
                assert (report[month].total, report[month].reported) == (total, total - len(silent))
        community = request_rates.rates(session, MONTH, COMMUNITY)[0]
        assert (community.tickets, community.responded) == (2, 1)
        assert request_rates.rates(session, months[-2], COMMUNITY)[0].tickets == 1
        paid = dues.collection(session, COMMUNITY, MONTH, start=start, rounding=settings.dues_rounding)
        assert len(paid.paid) == 2
        overview = theme_day.month_overview(session, COMMUNITY, MONTH)
        assert [(b.path, b.held) for b in overview] == [(BRANCH1, True), (BRANCH2, False)]
        assert mobile.reporting(session, MONTH, COMMUNITY).reported == 1

    await db.run(compare)

    # The page and the chart show the same figures as the domain.
    await log_in(client, clock, "o-YX-001")
    resp, html = await get(client, f"/console/?unit={quote(COMMUNITY)}")
    assert resp.status == 200
    assert say("console_requests_count", count=2) in html
    assert say("console_mobile_summary", reported=1, total=1) in html


async def test_a_cached_section_follows_a_change(make_client: AppFactory, clock: FixedClock) -> None:
    """The second view of a month is served from the per-process cache; a payment recorded after it (a late
    one, for the month shown) shows at once."""
    client = await make(make_client)
    assert client.app is not None
    db, settings = services(client).db, client.app[SETTINGS]
    number = "YX-004"
    based = update(Member).where(Member.number == number).values(dues_base_fen=300000)
    await db.run(lambda session: session.execute(based))
    await log_in(client, clock, "o-YX-002")
    _, before = await get(client, "/console/")
    _, again = await get(client, "/console/")
    assert again == before

    def pay(session: Session) -> None:  # only a ledger row: nothing else changes
        start = dues.start_month(session, settings.dues_start_month, settings.timezone)
        rec = Recorder(by=None, now=clock.now(), source="test", start=start, timezone=settings.timezone)
        member_id = session.scalar(select(Member.id).where(Member.number == number))
        assert member_id is not None
        assert pay_months(session, member_id, [MONTH], rec).refusal is None

    await db.run(pay)
    _, after = await get(client, "/console/")
    paid = 'id="dues"'
    assert paid in after
    found = await db.run(
        lambda s: dues.collection(
            s,
            BRANCH1,
            MONTH,
            start=dues.start_month(s, settings.dues_start_month, settings.timezone),
            rounding=settings.dues_rounding,
        )
    )
    assert len(found.paid) == 1
    assert f"<strong>{_percent(found.rate)}</strong>" in after and after != before


async def test_the_dashboard_and_its_charts_in_a_browser(
    make_client: AppFactory,
    clock: FixedClock,
    tmp_path: Path,
    chromium: str,
) -> None:
    """Every chart loads as an image under the console's CSP (no inline style or script on the page), the
    12 months' data open without JavaScript, at 1366×768 and at a phone's width."""
    from playwright.async_api import async_playwright

    client = await make(make_client)
    await log_in(client, clock, "o-YX-001")
    cookies = [
        {"name": c.key, "value": c.value, "url": str(client.make_url("/"))} for c in client.session.cookie_jar
    ]
    base = str(client.make_url("")).rstrip("/")
    shots = artifacts(tmp_path)
    args = launch_args()
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=chromium, headless=True, args=args)
        try:
            context = await browser.new_context(**DESKTOP)
            await context.add_cookies(cookies)  # type: ignore[arg-type]
            page = await context.new_page()
            problems: list[str] = []
            page.on("pageerror", lambda exc: problems.append(str(exc)))
            page.on(
                "console",
                lambda msg: (
                    problems.append(msg.text)
                    if msg.type == "error" and "Failed to load resource" not in msg.text
                    else None
                ),
            )  # a CSP refusal is a console error
            page.on(
                "response",
                lambda r: (
                    problems.append(f"{r.status} {r.url}")
                    if r.status >= 400 and not r.url.endswith("/favicon.ico")
                    else None
                ),
            )
            await page.goto(f"{base}/console/?unit={quote(COMMUNITY)}")
            assert await page.is_visible("#notices")
            images = await page.eval_on_selector_all(
                "figure.trend img", "els => els.map(e => [e.complete, e.naturalWidth])"
            )
            assert len(images) == 5 and all(done and width > 0 for done, width in images), images
            await page.click("#dues details summary")
            assert await page.is_visible("#dues details table")
            await page.screenshot(path=str(shots / "dashboard-trends.png"), full_page=True)
            await page.set_viewport_size({"width": 375, "height": 740})
            await page.reload()
            overflow = await page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
            assert overflow <= 0
            await page.screenshot(path=str(shots / "dashboard-trends-phone.png"), full_page=True)
            chart_page = await context.new_page()
            await chart_page.goto(f"{base}{chart('requests', COMMUNITY)}")
            await chart_page.screenshot(path=str(shots / "chart-requests.png"))
            assert problems == []
        finally:
            await browser.close()
