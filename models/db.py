"""Engines and sessions.

SQLite (embedded default): WAL mode, every write through one writer connection (so writers never
fight over the file lock), reads on a small pool of their own. PostgreSQL: one asyncpg pool for both.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import ConnectionPoolEntry, QueuePool


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


T = TypeVar("T")


class Database:
    """Reads are async (`read()`); every write is a short synchronous function run in one transaction by
    `run(fn)`, committed when fn returns.

    SQLite: WAL mode; writes run in a single writer thread on one plain sqlite3 connection (one thread
    hand-off per transaction; aiosqlite costs several per statement), so the event loop never waits on the
    file lock and writers never fight; reads use aiosqlite's pool. PostgreSQL: asyncpg for both, the
    write function through `AsyncSession.run_sync`.
    """

    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        self._executor: ThreadPoolExecutor | None = None
        self._sync_engine: Engine | None = None
        if self.is_sqlite:
            path = sqlite_path(url)
            if path is not None:
                path.parent.mkdir(parents=True, exist_ok=True)
            self.reader = create_async_engine(url, echo=echo, pool_size=4, max_overflow=4)
            event.listen(self.reader.sync_engine, "connect", _sqlite_pragmas)
            sync_url = url.replace("sqlite+aiosqlite://", "sqlite://", 1)
            # One connection, used only from the writer thread.
            self._sync_engine = create_engine(
                sync_url,
                echo=echo,
                poolclass=QueuePool,
                pool_size=1,
                max_overflow=0,
                connect_args={"check_same_thread": False},
            )
            event.listen(self._sync_engine, "connect", _sqlite_pragmas)
            self._sync_sessions = sessionmaker(self._sync_engine, expire_on_commit=False)
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-writer")
        else:
            self.reader = create_async_engine(url, echo=echo, pool_size=10, max_overflow=10)
        self._read = async_sessionmaker(self.reader, expire_on_commit=False, autoflush=False)

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        """A session for reading; nothing it does is committed."""
        async with self._read() as session:
            yield session

    async def run(self, fn: Callable[[Session], T]) -> T:
        """Run fn(session) in one write transaction, committed when it returns (rolled back if it raises).
        fn is synchronous: nothing is awaited while a transaction is open, so transactions stay short."""
        if self._executor is not None:
            return await asyncio.get_running_loop().run_in_executor(self._executor, self._run_sync, fn)
        async with self._read() as session, session.begin():
            return await session.run_sync(fn)

    def _run_sync(self, fn: Callable[[Session], T]) -> T:
        with self._sync_sessions.begin() as session:
            return fn(session)

    async def ping(self) -> bool:
        async with self.reader.connect() as conn:
            await conn.execute(text("SELECT 1"))
        return True

    async def dispose(self) -> None:
        await self.reader.dispose()
        if self._executor is not None:
            assert self._sync_engine is not None
            await asyncio.get_running_loop().run_in_executor(self._executor, self._sync_engine.dispose)
            self._executor.shutdown(wait=True)


def engine_for_migrations(url: str) -> AsyncEngine:
    engine = (
        create_async_engine(url, pool_size=1, max_overflow=0)
        if url.startswith("sqlite")
        else (create_async_engine(url))
    )
    if url.startswith("sqlite"):
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
    return engine


def dialect_insert(session: Session) -> Any:
    """The dialect's INSERT with ON CONFLICT support (sqlite or postgresql)."""
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert
