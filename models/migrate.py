"""Alembic, driven from code: `partybot db upgrade`, `serve` on an empty database, and the tests."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, inspect

from models.db import engine_for_migrations

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(connection: Connection | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = connection
    return cfg


async def upgrade(url: str, revision: str = "head") -> None:
    engine = engine_for_migrations(url)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(lambda sync: command.upgrade(alembic_config(sync), revision))
    finally:
        await engine.dispose()


async def downgrade(url: str, revision: str) -> None:
    engine = engine_for_migrations(url)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(lambda sync: command.downgrade(alembic_config(sync), revision))
    finally:
        await engine.dispose()


async def current_revision(url: str) -> str | None:
    engine = engine_for_migrations(url)
    try:
        async with engine.connect() as conn:

            def read(sync: Connection) -> str | None:
                if not inspect(sync).has_table("alembic_version"):
                    return None
                row = sync.exec_driver_sql("SELECT version_num FROM alembic_version").first()
                return str(row[0]) if row else None

            return await conn.run_sync(read)
    finally:
        await engine.dispose()


async def is_empty(url: str) -> bool:
    """True when the database has no tables at all (a fresh install)."""
    engine = engine_for_migrations(url)
    try:
        async with engine.connect() as conn:
            names = await conn.run_sync(lambda sync: inspect(sync).get_table_names())
            return not names
    finally:
        await engine.dispose()


def head_revision() -> str | None:
    from alembic.script import ScriptDirectory

    head: str | None = ScriptDirectory.from_config(alembic_config()).get_current_head()
    return head
