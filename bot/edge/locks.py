"""One lock per openid, taken before a user's state is loaded (aiogram's bug #1317 is why).

In one process an asyncio.Lock per openid; with Redis, also a Redis lock so that two processes never
handle one user's messages at once.
"""

from __future__ import annotations

import asyncio
import secrets
from types import TracebackType

from redis.asyncio import Redis

_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end
"""


class _Held:
    """`async with locks.hold(openid):` — a plain class, not a generator: this is on every message."""

    __slots__ = ("_locks", "_openid", "_token")

    def __init__(self, locks: UserLocks, openid: str) -> None:
        self._locks, self._openid, self._token = locks, openid, ""

    async def __aenter__(self) -> None:
        self._token = await self._locks.acquire(self._openid)

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self._locks.release(self._openid, self._token)


class UserLocks:
    def __init__(self, redis: Redis | None = None, prefix: str = "", lease_s: int = 30) -> None:
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}
        self._redis, self._prefix, self._lease_s = redis, prefix, lease_s

    def hold(self, openid: str) -> _Held:
        return _Held(self, openid)

    async def acquire(self, openid: str) -> str:
        """Take the user's lock; returns the token that releases it."""
        lock, users = self._locks.get(openid) or (asyncio.Lock(), 0)
        self._locks[openid] = (lock, users + 1)
        try:
            await lock.acquire()
        except BaseException:
            self._drop(openid)
            raise
        if self._redis is None:
            return ""
        try:
            return await self._redis_acquire(openid)
        except BaseException:
            lock.release()
            self._drop(openid)
            raise

    async def release(self, openid: str, token: str) -> None:
        try:
            if self._redis is not None and token:
                await self._redis.eval(_RELEASE, 1, f"{self._prefix}lock:{openid}", token)
        finally:
            self._locks[openid][0].release()
            self._drop(openid)

    def _drop(self, openid: str) -> None:
        lock, users = self._locks[openid]
        if users <= 1:
            del self._locks[openid]
        else:
            self._locks[openid] = (lock, users - 1)

    async def _redis_acquire(self, openid: str) -> str:
        assert self._redis is not None
        key, token = f"{self._prefix}lock:{openid}", secrets.token_hex(8)
        delay = 0.005
        # The lease bounds how long a killed process can block its users.
        while not await self._redis.set(key, token, nx=True, ex=self._lease_s):
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.05)
        return token
