"""The demo's time travel (bot.clock.TravelClock): the moment stored in a file plus the real time since, a
change to the file followed within half a second (one stat at most that often), and a file it cannot read
logged and ignored. Real and monotonic time are injected: nothing sleeps."""

from __future__ import annotations

import json
import logging
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot.clock import (
    BadClockFile,
    SystemClock,
    TravelClock,
    clock_for,
    parse_moment,
    read_clock_file,
    write_clock_file,
)

BJ = ZoneInfo("Asia/Shanghai")
REAL0 = datetime(2026, 12, 2, 10, 0, tzinfo=UTC).timestamp()


class Time:
    """Real and monotonic time, moved by the test."""

    def __init__(self) -> None:
        self.real, self.mono = REAL0, 1000.0

    def advance(self, seconds: float) -> None:
        self.real += seconds
        self.mono += seconds


def travel(path: Path, t: Time) -> TravelClock:
    return TravelClock(path, "Asia/Shanghai", real=lambda: t.real, monotonic=lambda: t.mono)


def test_now_is_the_stored_moment_plus_the_real_time_since(tmp_path: Path) -> None:
    t, path = Time(), tmp_path / "clock"
    write_clock_file(path, datetime(2026, 12, 18, 9, 0, tzinfo=BJ), set_at=t.real)
    clock = travel(path, t)
    assert clock.now() == datetime(2026, 12, 18, 9, 0, tzinfo=BJ)
    t.advance(90)
    assert clock.now() == datetime(2026, 12, 18, 9, 1, 30, tzinfo=BJ)
    assert clock.time() == clock.now().timestamp()


def test_it_follows_a_change_to_the_file_within_half_a_second(tmp_path: Path) -> None:
    t, path = Time(), tmp_path / "clock"
    write_clock_file(path, datetime(2026, 12, 18, 9, 0, tzinfo=BJ), set_at=t.real)
    clock = travel(path, t)
    assert clock.now() == datetime(2026, 12, 18, 9, 0, tzinfo=BJ)
    # Another process (`partybot jobs run … --now`) moves it.
    write_clock_file(path, datetime(2026, 12, 25, 8, 40, tzinfo=BJ), set_at=t.real)
    t.advance(0.2)
    assert clock.now() < datetime(2026, 12, 19, tzinfo=BJ)  # not looked at again yet: cheap
    t.advance(0.3)
    assert clock.now() == datetime(2026, 12, 25, 8, 40, 0, 500000, tzinfo=BJ)


def test_a_fresh_file_starts_the_travel_and_removing_it_ends_it(tmp_path: Path) -> None:
    t, path = Time(), tmp_path / "clock"
    clock = travel(path, t)
    assert clock.time() == t.real and clock.offset == 0  # no file: real time
    write_clock_file(path, datetime(2027, 1, 2, 8, 40, tzinfo=BJ), set_at=t.real)
    t.advance(0.5)
    assert clock.now() == datetime(2027, 1, 2, 8, 40, tzinfo=BJ) + timedelta(seconds=0.5)
    path.unlink()
    t.advance(0.5)
    assert clock.time() == t.real


def test_a_moment_written_by_hand_is_local_time_from_the_files_modification(tmp_path: Path) -> None:
    t, path = Time(), tmp_path / "clock"
    path.write_text("2026-12-24T18:00\n", encoding="utf-8")
    os.utime(path, (t.real, t.real))
    reading = read_clock_file(path, "Asia/Shanghai")
    assert reading is not None
    assert reading.moment == datetime(2026, 12, 24, 18, 0, tzinfo=BJ) and reading.set_at == t.real
    assert travel(path, t).now() == datetime(2026, 12, 24, 18, 0, tzinfo=BJ)


@pytest.mark.parametrize(
    "text",
    ["tomorrow morning", '{"moment": 5}', '{"moment": "2026-12-24T18:00", "set_at": "soon"}', "{not json"],
)
def test_a_file_it_cannot_read_is_named_and_the_clock_stays_where_it_was(
    tmp_path: Path, text: str, caplog: pytest.LogCaptureFixture
) -> None:
    t, path = Time(), tmp_path / "clock"
    write_clock_file(path, datetime(2026, 12, 18, 9, 0, tzinfo=BJ), set_at=t.real)
    clock = travel(path, t)
    path.write_text(text, encoding="utf-8")
    with pytest.raises(BadClockFile, match=str(path)):
        read_clock_file(path)
    t.advance(1)
    with caplog.at_level(logging.WARNING, logger="partybot.clock"):
        assert clock.now() == datetime(2026, 12, 18, 9, 0, 1, tzinfo=BJ)  # the last good reading
        t.advance(1)
        clock.now()
    assert len([r for r in caplog.records if str(path) in r.getMessage()]) == 1  # once per change
    write_clock_file(path, datetime(2026, 12, 31, 8, 40, tzinfo=BJ), set_at=t.real)
    t.advance(1)
    assert clock.now() == datetime(2026, 12, 31, 8, 40, 1, tzinfo=BJ)


def test_a_bad_file_at_start_is_real_time(tmp_path: Path) -> None:
    t, path = Time(), tmp_path / "clock"
    path.write_text("garbage", encoding="utf-8")
    assert travel(path, t).time() == t.real


def test_the_file_is_written_whole_and_says_what_it_holds(tmp_path: Path) -> None:
    path = tmp_path / "demo" / "clock"
    write_clock_file(path, datetime(2026, 12, 18, 9, 0, tzinfo=BJ), set_at=REAL0)
    assert json.loads(path.read_text(encoding="utf-8")) == {
        "moment": "2026-12-18T09:00:00+08:00",
        "set_at": REAL0,
    }
    assert [p.name for p in path.parent.iterdir()] == ["clock"]  # no temporary file left
    with pytest.raises(ValueError):
        write_clock_file(path, datetime(2026, 12, 18, 9, 0))


def test_production_keeps_the_system_clock(tmp_path: Path) -> None:
    assert isinstance(clock_for(None), SystemClock)
    assert isinstance(clock_for(tmp_path / "clock"), TravelClock)


def test_moments_as_an_operator_types_them() -> None:
    now = datetime(2026, 12, 25, 1, 0, tzinfo=UTC)
    zone = "Asia/Shanghai"
    assert parse_moment("2026-12-24T09:00", zone) == datetime(2026, 12, 24, 9, 0, tzinfo=BJ)
    assert parse_moment("2026-12-24 09:00", zone) == datetime(2026, 12, 24, 9, 0, tzinfo=BJ)
    assert parse_moment("2026-12-24T01:00+00:00", zone) == datetime(2026, 12, 24, 1, 0, tzinfo=UTC)
    assert parse_moment("+3h", zone, now) == now + timedelta(hours=3)
    assert parse_moment("+1d2h", zone, now) == now + timedelta(days=1, hours=2)
    assert parse_moment("-30m", zone, now) == now - timedelta(minutes=30)
    assert parse_moment("+2天", zone, now) == now + timedelta(days=2)
    for bad in ("tomorrow", "+3x", "+h", "2026-13-01"):
        with pytest.raises(ValueError):
            parse_moment(bad, zone, now)
    with pytest.raises(ValueError):
        parse_moment("+3h", zone)  # relative needs a now
