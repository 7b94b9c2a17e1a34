"""One lock per openid, taken before a user's state is loaded (aiogram's bug #1317 is why).

In one process an asyncio.Lock per openid; with Redis, also a Redis lock so that two processes never
handle one user's messages at once.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from redis.asyncio import Redis

_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end
"""


class UserLocks:
    def __init__(self, redis: Redis | None = None, prefix: str = "", lease_s: int = 30) -> None:
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}
        self._redis, self._prefix, self._lease_s = redis, prefix, lease_s

    @asynccontextmanager
    async def hold(self, openid: str) -> AsyncIterator[None]:
        lock, users = self._locks.get(openid, (asyncio.Lock(), 0))
        self._locks[openid] = (lock, users + 1)
        try:
            async with lock:
                if self._redis is None:
                    yield
                else:
                    async with self._redis_lock(openid):
                        yield
        finally:
            lock, users = self._locks[openid]
            if users <= 1:
                del self._locks[openid]
            else:
                self._locks[openid] = (lock, users - 1)

    @asynccontextmanager
    async def _redis_lock(self, openid: str) -> AsyncIterator[None]:
        assert self._redis is not None
        key, token = f"{self._prefix}lock:{openid}", secrets.token_hex(8)
        delay = 0.005
        # The lease bounds how long a killed process can block its users.
        while not await self._redis.set(key, token, nx=True, ex=self._lease_s):
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.05)
        try:
            yield
        finally:
            await self._redis.eval(_RELEASE, 1, key, token)
