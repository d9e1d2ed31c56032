#!/usr/bin/env bash
# Ingest benchmark: readings/s and CPU per reading through the gateway vs raw inserts (same run).
# Usage: bench/ingest/run.sh [--readings N] [--batch B] [--concurrency C]
#                            [--database URL | --postgres]
# --postgres starts a throwaway cluster with the test harness (tests/harness/postgres.py).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
export PYTHONPATH="$repo/tests${PYTHONPATH:+:$PYTHONPATH}"
exec "$repo/.venv/bin/python" "$here/ingest.py" "$@"
