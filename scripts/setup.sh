#!/usr/bin/env bash
# Create .venv (Python >= 3.11) and install partybot with its development tools and uvloop; quick when nothing
# changed (keyed on pyproject.toml). Sourced by test.sh and demo.sh.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PYTHON=${PYTHON:-python3}
"$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
  || { echo "partybot needs Python 3.11 or newer (found $("$PYTHON" --version 2>&1))" >&2; exit 2; }
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
stamp=".venv/.installed-$(sha1sum < pyproject.toml | cut -c1-12)"
if [ ! -f "$stamp" ]; then
  echo "setting up .venv (first run only) ..." >&2
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -e '.[dev,speed]'  # speed: uvloop (PARTYBOT_UVLOOP)
  rm -f .venv/.installed-* && touch "$stamp"
fi
