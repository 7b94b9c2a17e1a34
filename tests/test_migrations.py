"""The migrations are what the models say, on this run's database, and they go down and up again."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection

from models import Base
from models.db import engine_for_migrations
from models.migrate import downgrade, upgrade


async def _diff(url: str) -> list[Any]:
    engine = engine_for_migrations(url)
    try:
        async with engine.connect() as conn:

            def compare(sync: Connection) -> list[Any]:
                context = MigrationContext.configure(sync, opts={"compare_type": False})
                return list(compare_metadata(context, Base.metadata))

            return await conn.run_sync(compare)
    finally:
        await engine.dispose()


async def test_migrated_schema_matches_the_models(database_url: str) -> None:
    assert await _diff(database_url) == []


async def test_the_latest_migration_goes_down_and_up_again(database_url: str) -> None:
    await downgrade(database_url, "0005")
    await upgrade(database_url, "head")
    assert await _diff(database_url) == []
