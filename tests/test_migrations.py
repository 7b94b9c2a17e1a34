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


async def test_going_below_staff_binding_drops_only_grid_workers_codes(database_url: str) -> None:
    """0009 gave codes and QR tokens to grid workers; below it they have no member to point at and go,
    while members' codes stay."""
    from sqlalchemy import text
    from sqlalchemy.orm import Session

    from bot.domain.binding import Binder, Person
    from bot.domain.privacy import Vault
    from models import Staff
    from models.db import Database
    from tests.community import BRANCH1, seed
    from tests.conftest import DATA_KEY, T0

    db = Database(database_url)
    try:
        community = await seed(db)

        def add(session: Session) -> int:
            staff = Staff(
                number="WG-01",
                name="韩磊",
                role="网格员",
                unit_id=community.units[BRANCH1],
                created_at=T0,
                updated_at=T0,
            )
            session.add(staff)
            session.flush()
            return staff.id

        staff_id = await db.run(add)
        binder = Binder(db, Vault(DATA_KEY))
        await binder.issue_code(Person.member(community.ids["YX-004"]), "cli:test", T0)
        await binder.issue_code(Person.staff(staff_id), "cli:test", T0)
        await binder.issue_qr_token(Person.staff(staff_id), "cli:test", T0)
    finally:
        await db.dispose()
    await downgrade(database_url, "0008")
    engine = engine_for_migrations(database_url)
    try:
        async with engine.connect() as conn:
            codes = (await conn.execute(text("SELECT member_id FROM binding_codes"))).scalars().all()
            tokens = (await conn.execute(text("SELECT count(*) FROM qr_binding_tokens"))).scalar()
    finally:
        await engine.dispose()
    assert (list(codes), tokens) == ([community.ids["YX-004"]], 0)
    await upgrade(database_url, "head")
    assert await _diff(database_url) == []
