"""`partybot clock` and `partybot jobs run … --now` moving the demo's clock (PARTYBOT_CLOCK_FILE)."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from bot.cli import main
from bot.clock import TravelClock, read_clock_file
from models import Event
from models.db import Database
from tests.community import seed
from tests.conftest import DATA_KEY

BJ = ZoneInfo("Asia/Shanghai")


@pytest.fixture(autouse=True)
def _no_dotenv(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Run where no .env is (a demo started in the checkout writes PARTYBOT_CLOCK_FILE to its .env)."""
    folder = tmp_path / "cwd"
    folder.mkdir()
    monkeypatch.chdir(folder)


def env(url: str, clock_file: Path | None) -> dict[str, str]:
    values = {
        "PARTYBOT_DATABASE_URL": url,
        "PARTYBOT_WECHAT_TOKEN": "cli-token",
        "PARTYBOT_DATA_KEY": DATA_KEY,
    }
    if clock_file is not None:
        values["PARTYBOT_CLOCK_FILE"] = str(clock_file)
    return values


async def _seed(url: str) -> None:
    db = Database(url)
    try:
        await seed(db, bind=("YX-002", "YX-004"))
    finally:
        await db.dispose()


async def _theme_day_months(url: str) -> list[str]:
    db = Database(url)
    try:
        async with db.read() as session:
            rows = await session.scalars(select(Event.month).where(Event.key.like("theme_day:%")))
            return sorted(set(rows.all()))
    finally:
        await db.dispose()


def test_jobs_run_now_moves_the_demo_clock_when_it_has_one(database_url: str, tmp_path: Path) -> None:
    asyncio.run(_seed(database_url))
    clock_file = tmp_path / "partybot-demo.clock"
    runner = CliRunner()
    ran = runner.invoke(
        main, ["jobs", "run", "theme_day", "--now", "2026-12-18T09:00"], env=env(database_url, clock_file)
    )
    assert ran.exit_code == 0, ran.output
    assert "演示时钟已拨到 2026-12-18 09:00 +08:00" in ran.output
    assert "theme_day（按 2026-12-18 09:00 +08:00 运行）" in ran.output
    reading = read_clock_file(clock_file)
    assert reading is not None and reading.moment == datetime(2026, 12, 18, 9, 0, tzinfo=BJ)
    # The demo's server reads the same file: it lives at that moment now.
    now = TravelClock(clock_file).now()
    assert timedelta(0) <= now - datetime(2026, 12, 18, 9, 0, tzinfo=BJ) < timedelta(minutes=1)
    assert asyncio.run(_theme_day_months(database_url)) == ["2026-12", "2027-01"]

    # Without --now, a job runs as of the demo's time, not the real one.
    again = runner.invoke(main, ["jobs", "run", "theme_day"], env=env(database_url, clock_file))
    assert again.exit_code == 0 and "按 2026-12-18 09:0" in again.output, again.output
    assert "演示时钟已拨到" not in again.output


def test_jobs_run_now_without_a_clock_file_writes_none(database_url: str, tmp_path: Path) -> None:
    ran = CliRunner().invoke(
        main, ["jobs", "run", "theme_day", "--now", "2026-12-18T09:00"], env=env(database_url, None)
    )
    assert ran.exit_code == 0, ran.output
    assert "演示时钟" not in ran.output
    assert not [p for p in tmp_path.rglob("*") if "clock" in p.name]


def test_clock_shows_sets_and_resets_the_demo_clock(database_url: str, tmp_path: Path) -> None:
    clock_file = tmp_path / "partybot-demo.clock"
    runner = CliRunner()
    shown = runner.invoke(main, ["clock"], env=env(database_url, clock_file))
    assert shown.exit_code == 0 and "真实时间，还没有拨动过" in shown.output, shown.output

    moved = runner.invoke(main, ["clock", "2027-01-02T08:40"], env=env(database_url, clock_file))
    assert moved.exit_code == 0 and "演示时钟已拨到 2027-01-02 08:40 +08:00" in moved.output, moved.output
    later = runner.invoke(main, ["clock", "+3h30m"], env=env(database_url, clock_file))
    assert "演示时钟已拨到 2027-01-02 12:10 +08:00" in later.output, later.output
    shown = runner.invoke(main, ["clock"], env=env(database_url, clock_file))
    assert "演示时钟：2027-01-02 12:1" in shown.output and "比真实时间快" in shown.output, shown.output

    bad = runner.invoke(main, ["clock", "明天早上"], env=env(database_url, clock_file))
    assert bad.exit_code == 2 and "2026-12-24T09:00（北京时间）" in bad.output

    clock_file.write_text("garbage", encoding="utf-8")
    unreadable = runner.invoke(main, ["clock"], env=env(database_url, clock_file))
    assert unreadable.exit_code == 2 and str(clock_file) in unreadable.output
    fixed = runner.invoke(main, ["clock", "2027-01-02T08:40"], env=env(database_url, clock_file))
    assert fixed.exit_code == 0, fixed.output  # a new moment replaces a bad file

    reset = runner.invoke(main, ["clock", "--reset"], env=env(database_url, clock_file))
    assert reset.exit_code == 0 and "回到真实时间" in reset.output and not clock_file.exists()


def test_clock_refuses_without_a_clock_file(database_url: str, tmp_path: Path) -> None:
    refused = CliRunner().invoke(main, ["clock", "2027-01-02T08:40"], env=env(database_url, None))
    assert refused.exit_code == 2 and "PARTYBOT_CLOCK_FILE" in refused.output
