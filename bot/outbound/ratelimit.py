"""Per-API send rates (settings: PARTYBOT_RATE_*): a token bucket in this process, or a counter per 100 ms
slot in Redis when it is configured, so that every worker process together stays under the rate."""

from __future__ import annotations

import asyncio
import time

from redis.asyncio import Redis

SLOT_S = 0.1


class RateLimiter:
    def __init__(self, name: str, per_second: float, redis: Redis | None = None, prefix: str = "") -> None:
        self.name, self.rate = name, per_second
        self._redis, self._key = redis, f"{prefix}rate:{name}:"
        self._burst = max(1.0, per_second * SLOT_S)
        self._tokens = self._burst
        self._at = time.monotonic()
        self._lock = asyncio.Lock()

    async def acquire(self) -> None:
        """Wait until one more call is allowed."""
        if self._redis is not None:
            await self._acquire_shared()
            return
        async with self._lock:
            while True:
                now = time.monotonic()
                self._tokens = min(self._burst, self._tokens + (now - self._at) * self.rate)
                self._at = now
                if self._tokens >= 1:
                    self._tokens -= 1
                    return
                await asyncio.sleep((1 - self._tokens) / self.rate)

    async def _acquire_shared(self) -> None:
        assert self._redis is not None
        slot_s = max(SLOT_S, 1 / self.rate)
        per_slot = max(1, int(self.rate * slot_s))
        while True:
            now = time.time()
            slot = int(now / slot_s)
            key = f"{self._key}{slot}"
            count = int(await self._redis.incr(key))
            if count == 1:
                await self._redis.expire(key, 5)
            if count <= per_slot:
                return
            await asyncio.sleep((slot + 1) * slot_s - now)
