"""Engines and sessions.

SQLite (embedded default): WAL mode, every write through one writer connection (so writers never
fight over the file lock), reads on a small pool of their own. PostgreSQL: one asyncpg pool for both.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, Executable, Integer, any_, bindparam, create_engine, event, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine.interfaces import DBAPIConnection, Dialect
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


def _sqlite_lookup_pragmas(dbapi_conn: DBAPIConnection, record: ConnectionPoolEntry) -> None:
    _sqlite_pragmas(dbapi_conn, record)
    cursor = dbapi_conn.cursor()
    # On the event loop's thread: never write, and never wait long. A WAL reader only waits in rare
    # moments (recovery after a crash, a checkpoint that truncates the log); then the read fails quickly
    # and the message gets the handler-error answer rather than the loop stalling.
    cursor.execute("PRAGMA query_only=ON")
    cursor.execute("PRAGMA busy_timeout=200")
    cursor.close()


def _sqlite_survey_pragmas(dbapi_conn: DBAPIConnection, record: ConnectionPoolEntry) -> None:
    _sqlite_pragmas(dbapi_conn, record)
    cursor = dbapi_conn.cursor()
    cursor.execute("PRAGMA query_only=ON")  # `survey` reads; a write by mistake fails
    cursor.close()


def _one_connection(
    sync_url: str, echo: bool, pragmas: Callable[[DBAPIConnection, ConnectionPoolEntry], None]
) -> Engine:
    """A synchronous SQLite engine of one connection (used from one thread at a time) with its pragmas."""
    engine = create_engine(
        sync_url,
        echo=echo,
        poolclass=QueuePool,
        pool_size=1,
        max_overflow=0,
        connect_args={"check_same_thread": False},
    )
    event.listen(engine, "connect", pragmas)
    return engine


def sqlite_path(url: str) -> Path | None:
    if not url.startswith("sqlite"):
        return None
    path = url.split(":///", 1)[1] if ":///" in url else ""
    return Path(path) if path and path != ":memory:" else None


T = TypeVar("T")


class Database:
    """Reads are async (`read()`); every write is a short synchronous function run in one transaction by
    `run(fn)`, committed when fn returns; a short read on the message path (a few primary-key reads) is a
    synchronous function too, run by `lookup(fn)`.

    SQLite: WAL mode; writes run in a single writer thread on one plain sqlite3 connection (one thread
    hand-off per transaction; aiosqlite costs several per statement), so the event loop never waits on the
    file lock and writers never fight; reads use aiosqlite's pool, and `lookup` a read-only connection of
    its own on the event loop's thread (a WAL reader never waits on the writer, and a primary-key read
    costs less than one hand-off to another thread), and `survey` (a long read: the console's dashboard)
    a read-only connection in a thread of its own. PostgreSQL: asyncpg for all of them, the synchronous
    functions through `AsyncSession.run_sync`.
    """

    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        self._executor: ThreadPoolExecutor | None = None
        self._survey_executor: ThreadPoolExecutor | None = None
        self._survey_engine: Engine | None = None
        self._sync_engine: Engine | None = None
        self._lookup_engine: Engine | None = None
        if self.is_sqlite:
            path = sqlite_path(url)
            if path is not None:
                path.parent.mkdir(parents=True, exist_ok=True)
            self.reader = create_async_engine(url, echo=echo, pool_size=4, max_overflow=4)
            event.listen(self.reader.sync_engine, "connect", _sqlite_pragmas)
            sync_url = url.replace("sqlite+aiosqlite://", "sqlite://", 1)
            # One connection, used only from the writer thread.
            self._sync_engine = _one_connection(sync_url, echo, _sqlite_pragmas)
            self._sync_sessions = sessionmaker(self._sync_engine, expire_on_commit=False)
            # One read-only connection for `lookup`, used only from the event loop's thread.
            self._lookup_engine = _one_connection(sync_url, echo, _sqlite_lookup_pragmas)
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-writer")
            # One read-only connection for `survey`, used only from its own thread.
            self._survey_engine = _one_connection(sync_url, echo, _sqlite_survey_pragmas)
            self._survey_sessions = sessionmaker(self._survey_engine, expire_on_commit=False)
            self._survey_executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-survey")
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

    async def survey(self, fn: Callable[[Session], T]) -> T:
        """A long read (the console's dashboard: seconds for a street's first count): fn(session) is
        synchronous and writes nothing; it is rolled back. On SQLite it runs on a read-only connection in a
        thread of its own, one survey at a time, so it never holds back the writer thread (a WAL reader
        does not block the writer, nor the writer it); on PostgreSQL as `run` does, without the commit."""
        if self._survey_executor is not None:
            return await asyncio.get_running_loop().run_in_executor(
                self._survey_executor, self._survey_sync, fn
            )
        async with self._read() as session:
            try:
                return await session.run_sync(fn)
            finally:
                await session.rollback()

    def _survey_sync(self, fn: Callable[[Session], T]) -> T:
        with self._survey_sessions() as session:
            try:
                return fn(session)
            finally:
                session.rollback()

    async def lookup(self, fn: Callable[[Connection], T]) -> T:
        """A short read on the message path: fn(connection) is synchronous and reads a few rows by key
        (Core, ideally `Prepared`; on SQLite it runs on the event loop's thread, so it must not scan).
        Nothing it does is committed, and it never waits on the writer thread or a write in progress: on
        SQLite a read-only connection of its own (WAL: each statement sees the last commit); on PostgreSQL
        the pool's, through run_sync. A connection rather than a Session: a Session costs more than the
        read."""
        if self._lookup_engine is not None:
            with self._lookup_engine.connect() as connection:
                return fn(connection)
        async with self.reader.connect() as connection:
            return await connection.run_sync(fn)

    async def ping(self) -> bool:
        async with self.reader.connect() as conn:
            await conn.execute(text("SELECT 1"))
        return True

    async def dispose(self) -> None:
        await self.reader.dispose()
        if self._lookup_engine is not None:
            self._lookup_engine.dispose()
        if self._survey_executor is not None:
            assert self._survey_engine is not None
            await asyncio.get_running_loop().run_in_executor(
                self._survey_executor, self._survey_engine.dispose
            )
            self._survey_executor.shutdown(wait=True)
        if self._executor is not None:
            assert self._sync_engine is not None
            await asyncio.get_running_loop().run_in_executor(self._executor, self._sync_engine.dispose)
            self._executor.shutdown(wait=True)


class Prepared:
    """A Core statement compiled once per dialect and run on the DBAPI cursor itself, for the message path
    and the write-behind: there SQLAlchemy's execution layer (~100 µs a call on the benchmark's machine)
    costs more than the query. Parameters go through the columns' own bind processors and rows through
    their result processors, so values are what `session.execute` would give; a dialect with named
    parameters (not SQLite's nor asyncpg's) is simply run through `session.execute`.

    `column_keys`: for an INSERT, the columns every row gives (the others are left to the database)."""

    def __init__(self, statement: Executable, column_keys: Sequence[str] | None = None) -> None:
        self.statement, self.column_keys = statement, column_keys
        self._by_dialect: dict[str, _Compiled | None] = {}

    def first(self, on: Session | Connection, params: Mapping[str, Any]) -> tuple[Any, ...] | None:
        """The first row (a tuple), or None."""
        compiled = self._compiled(on)
        if compiled is None:
            row = on.execute(self.statement, dict(params)).first()
            return None if row is None else tuple(row)
        cursor = _dbapi(on).cursor()
        try:
            cursor.execute(compiled.sql, compiled.positional(params))
            row = cursor.fetchone()
        finally:
            cursor.close()
        if row is None:
            return None
        results = compiled.results
        return tuple(v if f is None or v is None else f(v) for f, v in zip(results, row, strict=True))

    def executemany(self, on: Session | Connection, rows: Sequence[Mapping[str, Any]]) -> None:
        """Run the statement once per row, in one DBAPI executemany."""
        if not rows:
            return
        compiled = self._compiled(on)
        if compiled is None:
            on.execute(self.statement, [dict(r) for r in rows])
            return
        positional = compiled.positional
        memo: dict[tuple[int, Any], Any] = {}
        cursor = _dbapi(on).cursor()
        try:
            cursor.executemany(compiled.sql, [positional(r, memo) for r in rows])
        finally:
            cursor.close()

    def _compiled(self, on: Session | Connection) -> _Compiled | None:
        dialect = on.dialect if isinstance(on, Connection) else on.get_bind().dialect
        key = f"{dialect.name}+{dialect.driver}"
        if key not in self._by_dialect:
            self._by_dialect[key] = _Compiled.of(self.statement, dialect, self.column_keys)
        return self._by_dialect[key]


@dataclass(frozen=True, slots=True)
class _Compiled:
    sql: str
    names: tuple[str, ...]  # the parameters in the order the DBAPI takes them
    constants: dict[str, Any]  # values fixed in the statement (`.values(kind="message")`)
    binds: tuple[Callable[[Any], Any] | None, ...]
    results: tuple[Callable[[Any], Any] | None, ...]

    @classmethod
    def of(
        cls, statement: Executable, dialect: Dialect, column_keys: Sequence[str] | None
    ) -> _Compiled | None:
        compiled = statement.compile(  # type: ignore[attr-defined]  # every Core statement compiles
            dialect=dialect, column_keys=list(column_keys) if column_keys is not None else None
        )
        if not compiled.positional or compiled.positiontup is None:
            return None
        names = tuple(compiled.positiontup)
        binds = tuple(compiled.binds[n].type.dialect_impl(dialect).bind_processor(dialect) for n in names)
        constants = {n: b.effective_value for n, b in compiled.binds.items() if not b.required}
        selected = getattr(statement, "selected_columns", ())
        results = tuple(c.type.dialect_impl(dialect).result_processor(dialect, None) for c in selected)
        return cls(compiled.string, names, constants, binds, results)

    def positional(
        self, params: Mapping[str, Any], memo: dict[tuple[int, Any], Any] | None = None
    ) -> tuple[Any, ...]:
        """The DBAPI's parameters. `memo`: values already processed in this batch (rows of a batch share
        their timestamps, and a datetime costs microseconds to process)."""
        constants = self.constants
        out = []
        for name, process in zip(self.names, self.binds, strict=True):
            value = params[name] if name in params else constants[name]
            if process is not None and value is not None:
                if memo is None:
                    value = process(value)
                else:
                    key = (id(process), value)
                    try:
                        done = memo.get(key, _MISSING)
                    except TypeError:  # not hashable (a JSON list): processed every time
                        done = process(value)
                    else:
                        if done is _MISSING:
                            done = memo[key] = process(value)
                    value = done
            out.append(value)
        return tuple(out)


_MISSING = object()


def _dbapi(on: Session | Connection) -> Any:
    """The DBAPI connection (sqlite3's, or SQLAlchemy's adapter of asyncpg's under run_sync)."""
    connection = on if isinstance(on, Connection) else on.connection()
    return connection.connection.dbapi_connection


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


def ids_in(session: Session | Connection, column: Any, ids: Sequence[int]) -> Any:
    """`column IN ids` for a chunk of a few thousand ids: on PostgreSQL `column = ANY(:ids)`, one array
    parameter (an expanded IN renders and casts a parameter per id: seconds for a street's chunks); on
    SQLite the plain IN."""
    dialect = session.get_bind().dialect if isinstance(session, Session) else session.dialect
    if dialect.name == "postgresql":
        return column == any_(bindparam(None, list(ids), type_=ARRAY(Integer)))
    return column.in_(list(ids))
