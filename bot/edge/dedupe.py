"""Dedupe of WeChat's retries, shared across processes (WECHAT.md: dedupe before any side effect).

The first delivery of a key owns it and processes the message; a retry that arrives while it is in
progress waits for the same answer; a retry after that gets the stored answer. In one process this
is a map of futures; with Redis it is ``SET NX`` with an expiry, the answer stored under the key.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import deque
from dataclasses import dataclass
from typing import Protocol

from redis.asyncio import Redis

from bot.edge.replies import Reply, TextReply, reply_from_json, reply_to_json

PENDING = "\x00pending"


@dataclass(frozen=True, slots=True)
class Outcome:
    """The answer stored for a key: a reply, or None for `success` (nothing / sent later)."""

    reply: Reply | None

    def dump(self) -> str:
        """A compact string (the common text reply needs no JSON)."""
        if self.reply is None:
            return "-"
        if isinstance(self.reply, TextReply):
            return "t" + self.reply.text
        return "j" + json.dumps(reply_to_json(self.reply), ensure_ascii=False)

    @classmethod
    def load(cls, data: str) -> Outcome:
        if data == "-":
            return cls(None)
        if data[:1] == "t":
            return cls(TextReply(data[1:]))
        return cls(reply_from_json(json.loads(data[1:])))


class Claim(Protocol):
    owner: bool

    async def wait(self, timeout: float) -> Outcome | None:
        """For a non-owner: the owner's outcome, or None if it is not known within timeout."""
        ...

    async def resolve(self, outcome: Outcome) -> None:
        """For the owner: store the outcome and wake every waiter."""
        ...


class DedupeStore(Protocol):
    async def claim(self, key: str) -> Claim: ...


class _LocalClaim:
    def __init__(
        self, future: asyncio.Future[Outcome] | None, owner: bool, done: Outcome | None = None
    ) -> None:
        self._future, self.owner, self._done = future, owner, done

    async def wait(self, timeout: float) -> Outcome | None:
        if self._done is not None:
            return self._done
        assert self._future is not None
        try:
            return await asyncio.wait_for(asyncio.shield(self._future), max(timeout, 0))
        except TimeoutError:
            return None

    async def resolve(self, outcome: Outcome) -> None:
        if self._future is not None and not self._future.done():
            self._future.set_result(outcome)


class MemoryDedupe:
    """One process: a future per key while its message is being handled (retries wait on it), then the
    outcome as a plain string, kept `ttl` seconds after the first delivery.

    Finished entries hold only strings (which the garbage collector does not track): with hundreds of
    thousands of keys, objects per entry would make every full collection stall the event loop."""

    def __init__(self, ttl: float, max_entries: int = 500_000) -> None:
        self._ttl, self._max = ttl, max_entries
        self._pending: dict[str, asyncio.Future[Outcome]] = {}
        self._done: dict[str, str] = {}
        self._born: deque[tuple[float, str]] = deque()

    def _expire(self, now: float) -> None:
        born = self._born
        while born and (now - born[0][0] >= self._ttl or len(born) > self._max):
            _, key = born.popleft()
            self._done.pop(key, None)
            self._pending.pop(key, None)

    async def claim(self, key: str) -> _LocalClaim:
        now = time.monotonic()
        self._expire(now)
        future = self._pending.get(key)
        if future is not None:
            return _LocalClaim(future, owner=False)
        done = self._done.get(key)
        if done is not None:
            return _LocalClaim(None, owner=False, done=Outcome.load(done))
        future = asyncio.get_running_loop().create_future()
        self._pending[key] = future
        self._born.append((now, key))

        def finished(f: asyncio.Future[Outcome]) -> None:
            if self._pending.get(key) is f:
                del self._pending[key]
                if not f.cancelled():
                    self._done[key] = f.result().dump()

        future.add_done_callback(finished)
        return _LocalClaim(future, owner=True)


class _RedisClaim:
    def __init__(self, store: RedisDedupe, key: str, owner: bool, local: _LocalClaim) -> None:
        self._store, self._key, self.owner, self._local = store, key, owner, local

    async def wait(self, timeout: float) -> Outcome | None:
        if self._local.owner:
            # Another process owns the key: poll Redis for its outcome.
            deadline = time.monotonic() + max(timeout, 0)
            while True:
                value = await self._store.redis.get(self._key)
                if isinstance(value, bytes):
                    value = value.decode()
                if value is not None and value != PENDING:
                    outcome = Outcome.load(value)
                    await self._local.resolve(outcome)
                    return outcome
                if value is None or time.monotonic() >= deadline:
                    return None
                await asyncio.sleep(self._store.poll_s)
        return await self._local.wait(timeout)

    async def resolve(self, outcome: Outcome) -> None:
        await self._store.redis.set(self._key, outcome.dump(), ex=self._store.ttl)
        await self._local.resolve(outcome)


class RedisDedupe:
    """Several processes: SET NX with an expiry decides the owner; the outcome is stored under the key.

    A pending marker expires after `pending_ttl` so that a process killed mid-message does not keep the
    key forever: WeChat's later retries can then be handled by another process.
    """

    def __init__(self, redis: Redis, prefix: str, ttl: int, pending_ttl: int, poll_s: float = 0.02) -> None:
        self.redis, self.prefix, self.ttl, self.pending_ttl, self.poll_s = (
            redis,
            prefix,
            ttl,
            pending_ttl,
            poll_s,
        )
        # Same-process retries share one future instead of polling Redis.
        self._local = MemoryDedupe(ttl)

    async def claim(self, key: str) -> _RedisClaim:
        local = await self._local.claim(key)
        rkey = f"{self.prefix}dedupe:{key}"
        if not local.owner:
            return _RedisClaim(self, rkey, owner=False, local=local)
        won = await self.redis.set(rkey, PENDING, nx=True, ex=self.pending_ttl)
        return _RedisClaim(self, rkey, owner=bool(won), local=local)
