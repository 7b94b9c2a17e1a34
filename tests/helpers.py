"""Reading what the app stored, for assertions."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient
from sqlalchemy import func, select

from bot.app import SERVICES
from bot.services import Services
from models import Base


def services(client: TestClient[Any, Any]) -> Services:
    assert client.app is not None
    found: Services = client.app[SERVICES]
    return found


async def flush(client: TestClient[Any, Any]) -> None:
    await services(client).write_behind.flush()


# Tables the app fills as it starts, before any message (the study index syncs content/study): not counted.
FILLED_AT_START = frozenset({"study_materials"})


async def row_counts(client: TestClient[Any, Any]) -> dict[str, int]:
    """Rows in every table but those filled at start-up, after committing anything written behind."""
    await flush(client)
    counts = {}
    async with services(client).db.read() as session:
        for table in Base.metadata.sorted_tables:
            if table.name in FILLED_AT_START:
                continue
            counts[table.name] = int(await session.scalar(select(func.count()).select_from(table)) or 0)
    return counts


def metric(client: TestClient[Any, Any], name: str, **labels: str) -> float:
    value = services(client).metrics.registry.get_sample_value(name, labels)
    return float(value or 0.0)
