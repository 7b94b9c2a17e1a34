"""Engines and sessions.

SQLite (embedded default): WAL mode, every write through one writer connection (so writers never
fight over the file lock), reads on a small pool of their own. PostgreSQL: one asyncpg pool for both.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import ConnectionPoolEntry


def _sqlite_pragmas(dbapi_conn: DBAPIConnection, _record: ConnectionPoolEntry) -> None:
    cursor = dbapi_conn.cursor()
    # WAL lets readers go on while the single writer commits; NORMAL is durable in WAL mode except
    # for the last transactions before a power cut (not a process crash).
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def sqlite_path(url: str) -> Path | None:
    if not url.startswith("sqlite"):
        return None
    path = url.split(":///", 1)[1] if ":///" in url else ""
    return Path(path) if path and path != ":memory:" else None


class Database:
    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        if self.is_sqlite:
            path = sqlite_path(url)
            if path is not None:
                path.parent.mkdir(parents=True, exist_ok=True)
            self.writer = create_async_engine(url, echo=echo, pool_size=1, max_overflow=0, pool_timeout=120)
            self.reader = create_async_engine(url, echo=echo, pool_size=4, max_overflow=4)
            for engine in (self.writer, self.reader):
                event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        else:
            self.writer = create_async_engine(url, echo=echo, pool_size=10, max_overflow=10)
            self.reader = self.writer
        self._read = async_sessionmaker(self.reader, expire_on_commit=False, autoflush=False)
        self._write = async_sessionmaker(self.writer, expire_on_commit=False)
        # With one writer connection, queue writers here rather than in the pool (no pool timeouts).
        self._write_gate = asyncio.Lock() if self.is_sqlite else None

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        """A session for reading; nothing it does is committed."""
        async with self._read() as session:
            yield session

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncSession]:
        """A session whose transaction commits when the block ends without an exception."""
        if self._write_gate is None:
            async with self._write() as session, session.begin():
                yield session
            return
        async with self._write_gate, self._write() as session, session.begin():
            yield session

    @asynccontextmanager
    async def write_connection(self) -> AsyncIterator[AsyncConnection]:
        """A Core connection in a transaction that commits at the end of the block: for short writes on
        the hot path, without the ORM session's bookkeeping."""
        if self._write_gate is None:
            async with self.writer.begin() as conn:
                yield conn
            return
        async with self._write_gate, self.writer.begin() as conn:
            yield conn

    async def ping(self) -> bool:
        async with self.reader.connect() as conn:
            await conn.execute(text("SELECT 1"))
        return True

    async def dispose(self) -> None:
        await self.writer.dispose()
        if self.reader is not self.writer:
            await self.reader.dispose()


def engine_for_migrations(url: str) -> AsyncEngine:
    engine = (
        create_async_engine(url, pool_size=1, max_overflow=0)
        if url.startswith("sqlite")
        else (create_async_engine(url))
    )
    if url.startswith("sqlite"):
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
    return engine


def dialect_insert(bind: AsyncSession | AsyncConnection) -> Any:
    """The dialect's INSERT with ON CONFLICT support (sqlite or postgresql)."""
    dialect = bind.get_bind().dialect if isinstance(bind, AsyncSession) else bind.dialect
    if dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert
