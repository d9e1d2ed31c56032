#!/usr/bin/env bash
# Ingest benchmark: readings/s and CPU per reading through the gateway vs raw inserts (same run).
# Usage: bench/ingest/run.sh [--readings N] [--batch B] [--concurrency C] [--database URL]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
exec "$repo/.venv/bin/python" "$here/ingest.py" "$@"
