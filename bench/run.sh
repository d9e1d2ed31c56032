#!/usr/bin/env bash
# Run every benchmark suite (bench/<suite>/run.sh). Benchmarks print ratios against a peer measured
# in the same run: absolute times are noise on shared 2-core machines. Not part of `make test`.
# Usage: bench/run.sh [SUITE...]
set -euo pipefail
cd "$(dirname "$0")"
suites=("$@")
if [ ${#suites[@]} -eq 0 ]; then
  for run in */run.sh; do suites+=("${run%/run.sh}"); done
fi
for suite in "${suites[@]}"; do
  echo "== bench/$suite"
  bash "$suite/run.sh"
done
