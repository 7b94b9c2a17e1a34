"""Who someone is, held in memory, follows changes made by any process within the poll interval: database
triggers record them in `identity_changes`, and each process reads the new rows at most once a poll."""

from __future__ import annotations

import asyncio
import os
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient
from sqlalchemy import func, select, text, update

from bot.clock import FixedClock
from bot.content import load_content
from bot.domain.identity import Identities
from bot.domain.policy import Role
from models import Admin, IdentityChange, Member, OrgUnit, identity_triggers
from models.db import Database
from scheduler.jobs import JobDeps, job_named
from tests.community import BRANCH1, GROUP1, seed
from tests.conftest import DATA_KEY, T0
from tests.helpers import services
from tests.wechat import WeChatUser

PARTYBOT = Path(sys.executable).with_name("partybot")


class Ticks:
    """A monotonic clock the test moves."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_a_change_by_another_process_is_seen_within_the_poll(database_url: str) -> None:
    here, elsewhere = Database(database_url), Database(database_url)  # two processes' connections
    try:
        community = await seed(here, bind=("YX-004", "YX-007"))
        ticks = Ticks()
        identities = Identities(here, poll_s=1.0, monotonic=ticks)
        assert await identities.load_all() == 2
        wang = await identities.lookup("o-YX-004")
        assert wang.is_member and wang.name == "王秀兰" and wang.unit_path == GROUP1
        assert (await identities.lookup("o-stranger")).roles == {Role.RESIDENT}
        # Another process: `admin add` for a stranger, a prune deactivates 王秀兰, a unit is renamed.
        now = T0
        await elsewhere.run(lambda s: s.add(Admin(name="管理员", openid="o-stranger", created_at=now)))
        await elsewhere.run(
            lambda s: s.execute(
                update(Member).where(Member.id == community.ids["YX-004"]).values(active=False)
            )
        )
        renamed = f"{BRANCH1}/一号楼党小组"
        await elsewhere.run(
            lambda s: s.execute(update(OrgUnit).where(OrgUnit.path == GROUP1).values(path=renamed))
        )
        # Within the poll interval this process still answers from memory ...
        ticks.now += 0.5
        assert (await identities.lookup("o-stranger")).roles == {Role.RESIDENT}
        # ... and once it has passed, every change is seen.
        ticks.now += 0.5
        assert (await identities.lookup("o-stranger")).roles == {Role.ADMIN}
        assert (await identities.lookup("o-YX-004")).roles == {Role.RESIDENT}
        li = await identities.lookup("o-YX-007")
        assert li.is_member and li.branch_path == BRANCH1
        async with here.read() as session:
            recorded = await session.scalar(select(func.count()).select_from(IdentityChange))
        assert recorded and recorded >= 3
    finally:
        await here.dispose()
        await elsewhere.dispose()


async def test_a_lookup_reads_no_database_for_a_known_or_unknown_openid(database_url: str) -> None:
    db = Database(database_url)
    try:
        await seed(db, bind=("YX-004",))
        ticks = Ticks()
        identities = Identities(db, poll_s=1.0, monotonic=ticks)
        await identities.load_all()
        reads = 0
        real_read = db.read

        def counting_read() -> Any:
            nonlocal reads
            reads += 1
            return real_read()

        db.read = counting_read  # type: ignore[method-assign]
        for openid in ("o-YX-004", "o-nobody", "o-YX-004", "o-someone-else") * 50:
            await identities.lookup(openid)
        assert reads == 0  # within one poll interval: dictionary reads only
        ticks.now += 1.0
        await identities.lookup("o-nobody")
        assert reads == 1  # the poll: one query on identity_changes
    finally:
        await db.dispose()


async def test_a_cli_admin_add_reaches_the_running_server(
    client: TestClient[Any, Any], clock: FixedClock, database_url: str
) -> None:
    await seed(services(client).db, bind=("YX-004",))
    user = WeChatUser(client, clock, "o-new-admin")
    assert (await user.send("帮助")).text.startswith("请回复数字：\n1 反映问题")
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("PARTYBOT_")},
        "PARTYBOT_DATABASE_URL": database_url,
        "PARTYBOT_WECHAT_TOKEN": "cli-token",
        "PARTYBOT_DATA_KEY": DATA_KEY,
    }
    process = await asyncio.create_subprocess_exec(
        str(PARTYBOT),
        "admin",
        "add",
        "--name",
        "管理员",
        "--openid",
        "o-new-admin",
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    _, err = await process.communicate()
    assert process.returncode == 0, err.decode()
    # The test app follows changes before every message (PARTYBOT_IDENTITY_POLL_S=0).
    assert "10 发布公告" in (await user.send("帮助")).text


async def test_every_identity_trigger_is_in_place(database_url: str) -> None:
    db = Database(database_url)
    try:
        async with db.read() as session:
            query = (
                "SELECT name FROM sqlite_master WHERE type = 'trigger'"
                if database_url.startswith("sqlite")
                else "SELECT tgname FROM pg_trigger WHERE NOT tgisinternal"
            )
            found = set((await session.execute(text(query))).scalars())
        missing = [name for _, name in identity_triggers.names() if name not in found]
        assert missing == [], (
            "identity triggers missing (a batch migration recreated their table? call "
            f"models.identity_triggers.create(op) after it): {missing}"
        )
    finally:
        await db.dispose()


async def test_housekeeping_forgets_old_identity_changes(make_settings: Any, database_url: str) -> None:
    settings = make_settings()
    db = Database(database_url)
    try:
        await seed(db, bind=("YX-004",))  # the triggers record the binding
        old, fresh = T0, T0 + timedelta(days=2, hours=23)
        await db.run(lambda s: s.execute(update(IdentityChange).values(at=old)))
        await db.run(lambda s: s.add(IdentityChange(openid="o-fresh", at=fresh)))
        summary = await job_named("housekeeping").run(
            JobDeps(db, settings, load_content()), T0 + timedelta(days=3)
        )
        assert "identity_changes" in summary
        async with db.read() as session:
            left = (await session.scalars(select(IdentityChange.openid))).all()
        assert left == ["o-fresh"]  # a day is far longer than any process takes to read a change
    finally:
        await db.dispose()
