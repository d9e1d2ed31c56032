#!/usr/bin/env bash
# Benchmark the agent's SNMP session beside raw gufo-snmp and pysnmp, using the shared harness
# /work/shared/snmp-bench/run.sh (root: it binds UDP 161 on 127.0.X.Y). Not a test.
# Usage: bench/snmp/run.sh [N=200] [snmpd|snmpsim]   Env: CONC, REPS as in the shared harness.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd); REPO=$(cd "$HERE/../.." && pwd)
BENCH=${SNMP_BENCH:-$REPO/../shared/snmp-bench}
N=${1:-200}; RESP=${2:-snmpd}
export VENV=$REPO/.venv FAST_VENV=$REPO/.venv POLLERS=${POLLERS:-"gufo pysnmp"}
export EXTRA_POLLER="$REPO/.venv/bin/python $HERE/poll_kdfm.py {ADDRS} {CONC} gufo"
OUT=$(mktemp); trap 'rm -f "$OUT"' EXIT
bash "$BENCH/run.sh" "$N" "$RESP" | tee "$OUT"
# Ratios against raw gufo-snmp: wall time and CPU per device (1.00 = as fast as raw gufo).
awk '$1=="gufo"{gw=$5; gc=$8} {w[$1]=$5; c[$1]=$8}
     END{for (p in w) if (p!="poller" && gw>0) printf "ratio %-8s wall=%.2f cpu_per_dev=%.2f\n", p, w[p]/gw, c[p]/gc}' "$OUT"
