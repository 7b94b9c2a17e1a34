"""Triggers that record identity changes in `identity_changes` (models/identity.py), for SQLite and
PostgreSQL. Migrations call `create` and `drop`.

Keep them in place: an Alembic batch migration on SQLite that recreates one of TABLES (e.g. to alter a
column of `members`) drops its triggers with the old table, so such a migration must call `create(op)` again
afterwards; tests/test_migrations.py fails when a trigger is missing at head.
"""

from __future__ import annotations

from typing import Any

# table -> (events, what to record): a SELECT of the openids affected, in terms of the row ({row}: NEW
# or OLD); None records "every identity" (the tree changed: paths, branches).
TABLES: dict[str, tuple[tuple[str, ...], str | None]] = {
    "bindings": (("INSERT", "UPDATE", "DELETE"), "SELECT {row}.openid"),
    "members": (("UPDATE", "DELETE"), "SELECT openid FROM bindings WHERE member_id = {row}.id"),
    "staff": (("UPDATE", "DELETE"), "SELECT openid FROM bindings WHERE staff_id = {row}.id"),
    "admins": (("INSERT", "UPDATE", "DELETE"), "SELECT {row}.openid WHERE {row}.openid IS NOT NULL"),
    "dual_reports": (("INSERT", "UPDATE", "DELETE"), "SELECT {row}.openid"),
    "org_units": (("INSERT", "UPDATE", "DELETE"), None),
}


def _names(table: str, event: str) -> str:
    return f"identity_changes_{table}_{event.lower()}"


def _statements(dialect: str) -> list[str]:
    out: list[str] = []
    for table, (events, select) in TABLES.items():
        for event in events:
            name = _names(table, event)
            # An update may move a row from one openid to another: record both.
            rows = {"INSERT": ("NEW",), "UPDATE": ("OLD", "NEW"), "DELETE": ("OLD",)}[event]
            what = (
                "INSERT INTO identity_changes (openid) VALUES (NULL)"
                if select is None
                else "; ".join("INSERT INTO identity_changes (openid) " + select.format(row=r) for r in rows)
            )
            if dialect == "sqlite":
                out.append(f"CREATE TRIGGER {name} AFTER {event} ON {table} FOR EACH ROW BEGIN {what}; END")
            else:
                out.append(
                    f"CREATE OR REPLACE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS "
                    f"$$ BEGIN {what}; RETURN NULL; END $$"
                )
                out.append(
                    f"CREATE TRIGGER {name} AFTER {event} ON {table} FOR EACH ROW EXECUTE FUNCTION {name}()"
                )
    return out


def names() -> list[tuple[str, str]]:
    """(table, trigger name) of every trigger."""
    return [(table, _names(table, event)) for table, (events, _) in TABLES.items() for event in events]


def create(op: Any) -> None:
    """Create (or, after a batch migration dropped them, re-create) the triggers."""
    dialect = op.get_bind().dialect.name
    drop(op)
    for statement in _statements(dialect):
        op.execute(statement)


def drop(op: Any) -> None:
    dialect = op.get_bind().dialect.name
    for table, name in names():
        if dialect == "sqlite":
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
        else:
            op.execute(f"DROP TRIGGER IF EXISTS {name} ON {table}")
            op.execute(f"DROP FUNCTION IF EXISTS {name}()")
