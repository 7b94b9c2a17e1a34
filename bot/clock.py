"""Clocks: the system clock in production, a fixed clock in tests (time travel without sleeping), and for
the demo only a clock that reads its moment from a small file (`TravelClock`), so that the demo's server, its
fake WeChat and `partybot jobs run … --now` in another process live at the same moment."""

from __future__ import annotations

import json
import logging
import math
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Protocol
from zoneinfo import ZoneInfo

log = logging.getLogger("partybot.clock")


class Clock(Protocol):
    def time(self) -> float:
        """Seconds since the epoch."""
        ...

    def now(self) -> datetime:
        """Timezone-aware UTC now."""
        ...


class SystemClock:
    def time(self) -> float:
        return time.time()

    def now(self) -> datetime:
        return datetime.now(UTC)


class FixedClock:
    """A clock that only moves when told to."""

    def __init__(self, at: float | datetime) -> None:
        self._t = at.timestamp() if isinstance(at, datetime) else float(at)

    def time(self) -> float:
        return self._t

    def now(self) -> datetime:
        return datetime.fromtimestamp(self._t, UTC)

    def advance(self, seconds: float) -> None:
        self._t += seconds

    def set(self, at: float | datetime) -> None:
        self._t = at.timestamp() if isinstance(at, datetime) else float(at)


# --- the demo's time travel ------------------------------------------------------------------------------


class BadClockFile(ValueError):
    """The clock file cannot be read as a moment; the message names the file and what is wrong."""


@dataclass(frozen=True, slots=True)
class ClockReading:
    moment: datetime  # the demo's time when the file was written (aware)
    set_at: float  # the real time (epoch seconds) when it was written

    @property
    def offset(self) -> float:
        """Seconds the demo's clock is ahead of real time (negative: behind)."""
        return self.moment.timestamp() - self.set_at


def read_clock_file(path: Path, timezone: str = "Asia/Shanghai") -> ClockReading | None:
    """The moment stored in a clock file: JSON `{"moment": ISO, "set_at": epoch}` as `write_clock_file`
    writes it, or a line with just an ISO moment written by hand (in `timezone` when it names none; counted
    from the file's modification time). None when the file is not there."""
    try:
        text = path.read_text(encoding="utf-8").strip()
        written = path.stat().st_mtime
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise BadClockFile(f"{path}: cannot be read ({exc})") from exc
    set_at: object = written
    if text.startswith("{"):
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise BadClockFile(f"{path}: not valid JSON ({exc})") from exc
        if not isinstance(data, dict) or not isinstance(data.get("moment"), str):
            raise BadClockFile(f'{path}: expected {{"moment": "2026-12-18T09:00:00+08:00", "set_at": …}}')
        text, set_at = data["moment"], data.get("set_at", written)
    if not isinstance(set_at, int | float) or isinstance(set_at, bool) or not math.isfinite(set_at):
        raise BadClockFile(f"{path}: set_at must be a number of seconds since the epoch, not {set_at!r}")
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as exc:
        raise BadClockFile(f"{path}: {text[:40]!r} is not a moment such as 2026-12-18T09:00") from exc
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=ZoneInfo(timezone))
    return ClockReading(moment, float(set_at))


def write_clock_file(path: Path, moment: datetime, set_at: float | None = None) -> ClockReading:
    """Store `moment` as the demo's time from now on (atomically: a reader never sees half a file)."""
    if moment.tzinfo is None:
        raise ValueError("the moment must be timezone-aware")
    reading = ClockReading(moment, time.time() if set_at is None else set_at)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    data = {"moment": moment.isoformat(), "set_at": reading.set_at}
    tmp.write_text(json.dumps(data) + "\n", encoding="utf-8")
    tmp.replace(path)
    return reading


class TravelClock:
    """The demo's clock: the moment stored in a file plus the real time elapsed since it was stored; real
    time while there is no file. A change to the file is seen within CHECK_S (one `stat` at most that
    often). A file that cannot be read is logged (once per change) and the clock keeps its last good
    reading, so a typo does not stop a running demo. Never used outside the demo and development."""

    CHECK_S = 0.5

    def __init__(
        self,
        path: Path,
        timezone: str = "Asia/Shanghai",
        *,
        real: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.path, self._timezone = Path(path), timezone
        self._real, self._monotonic = real, monotonic
        self._offset = 0.0
        self._seen: tuple[int, int, int] | None = None
        self._checked_at = -math.inf
        self._check()

    @property
    def offset(self) -> float:
        """Seconds ahead of real time (as of the last look at the file)."""
        return self._offset

    def _check(self) -> None:
        self._checked_at = self._monotonic()
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            if self._seen is not None:
                log.warning("clock file %s removed: back to real time", self.path)
            self._seen, self._offset = None, 0.0
            return
        except OSError:
            return
        seen = (st.st_mtime_ns, st.st_size, st.st_ino)
        if seen == self._seen:
            return
        self._seen = seen
        try:
            reading = read_clock_file(self.path, self._timezone)
        except BadClockFile as exc:
            log.warning("clock file ignored, the clock stays where it was: %s", exc)
            return
        self._offset = reading.offset if reading is not None else 0.0

    def time(self) -> float:
        if self._monotonic() - self._checked_at >= self.CHECK_S:
            self._check()
        return self._real() + self._offset

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.time(), UTC)


def clock_for(clock_file: Path | None, timezone: str = "Asia/Shanghai") -> Clock:
    """The process's clock: the system clock, or the demo's `TravelClock` when PARTYBOT_CLOCK_FILE is set."""
    return TravelClock(clock_file, timezone) if clock_file is not None else SystemClock()


_UNIT = r"(?:d|h|m|天|小时|分钟|分)"
_RELATIVE = re.compile(rf"([+-])\s*((?:\d+(?:\.\d+)?\s*{_UNIT}\s*)+)", re.IGNORECASE)
_PART = re.compile(rf"(\d+(?:\.\d+)?)\s*({_UNIT})", re.IGNORECASE)
_SECONDS = {"d": 86400, "天": 86400, "h": 3600, "小时": 3600, "m": 60, "分": 60, "分钟": 60}


def parse_moment(text: str, timezone: str, now: datetime | None = None) -> datetime:
    """A moment as an operator types it: ISO (`2026-12-24T09:00`, `2026-12-24 09:00`, a date alone), in
    `timezone` when it names no zone; or, given `now`, relative to it: `+3h`, `+1d`, `-30m`, `+1d2h`.
    Raises ValueError."""
    text = text.strip()
    relative = _RELATIVE.fullmatch(text)
    if relative is not None and now is not None:
        seconds = sum(float(n) * _SECONDS[unit.lower()] for n, unit in _PART.findall(relative.group(2)))
        return now + timedelta(seconds=-seconds if relative.group(1) == "-" else seconds)
    parsed = datetime.fromisoformat(text)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=ZoneInfo(timezone))
