#!/usr/bin/env bash
# Set up (first run) and run the test suite. Extra arguments go to pytest: `bash scripts/test.sh -k safe`.
# Optional: PARTYBOT_TEST_REDIS_URL runs the multi-process tests; PARTYBOT_TEST_DATABASE_URL
# (postgresql+asyncpg://...) runs the whole suite on PostgreSQL + Redis instead of SQLite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# On every core (pytest-xdist): each worker migrates its own template database and copies it per test.
exec .venv/bin/python -m pytest -n auto "$@"
