"""Clocks: the system clock in production, a fixed clock in tests (time travel without sleeping)."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Protocol


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
