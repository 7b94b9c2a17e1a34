#!/usr/bin/env bash
# Set up (first run: a virtualenv with partybot and its test tools) and run the test suite.
# Extra arguments go to pytest, e.g. `bash scripts/test.sh -k safe_mode`.
# Optional: PARTYBOT_TEST_REDIS_URL runs the multi-process tests; PARTYBOT_TEST_DATABASE_URL
# (postgresql://...) runs the whole suite on PostgreSQL + Redis instead of SQLite.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
"$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
  || { echo "partybot needs Python 3.11 or newer (found $("$PYTHON" --version))" >&2; exit 2; }
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
stamp=".venv/.installed-$(cat pyproject.toml | sha1sum | cut -c1-12)"
if [ ! -f "$stamp" ]; then
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -e '.[dev]'
  rm -f .venv/.installed-* && touch "$stamp"
fi
exec .venv/bin/python -m pytest "$@"
