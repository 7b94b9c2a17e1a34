#!/usr/bin/env bash
# Set up (first run) and start the demo: the fake WeChat API (8081) and partybot (8080) on SQLite.
# Then, in another terminal: .venv/bin/partybot chat --openid o-any. The demo writes its settings to
# .env here, so other commands run in this folder (partybot outbox, jobs, audit, ...) work on it.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/partybot demo "$@"
