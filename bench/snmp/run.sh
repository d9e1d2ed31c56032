#!/usr/bin/env bash
# The agent's complete device reading (identity, status, counters, supplies, trays, alerts)
# beside Prometheus snmp_exporter, raw gufo-snmp and plain pysnmp, in the same run of the shared
# harness /work/shared/snmp-bench/run.sh (root: it binds UDP 161 on 127.0.X.Y). Not a test.
#
# Usage: bench/snmp/run.sh [N ...]        (default: 100 500 1000)
# Env:   RESP=snmpd|snmpsim  CONC=64  REPS=2  POLLERS="exporter gufo pysnmp"  as in the harness.
# Needs (Debian): snmpd snmp prometheus-snmp-exporter curl time bc.
#
# Per N it prints the harness table (the agent is the row `custom`) and then the agent's
# devices/s, CPU-ms per complete reading, peak RSS, failed devices and the responder's CPU, each
# also as a ratio to every peer measured in the same run. Targets (the SNMP reading issue):
# cpu vs exporter <= 1.00, pysnmp/agent cpu >= 20, responder cpu vs exporter <= 1.10, failed 0.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd); REPO=$(cd "$HERE/../.." && pwd)
BENCH=${SNMP_BENCH:-$REPO/../shared/snmp-bench}
RESP=${RESP:-snmpd}
[ $# -gt 0 ] || set -- 100 500 1000
export VENV=$REPO/.venv FAST_VENV=$REPO/.venv POLLERS=${POLLERS:-"exporter gufo pysnmp"}
export EXTRA_POLLER="$REPO/.venv/bin/python $HERE/poll_kdfm.py {ADDRS} {CONC} gufo"
OUT=$(mktemp); trap 'rm -f "$OUT"' EXIT
for N in "$@"; do
  echo "== N=$N responder=$RESP conc=${CONC:-64} reps=${REPS:-2}"
  bash "$BENCH/run.sh" "$N" "$RESP" | tee "$OUT"
  # Harness columns: poller resp N conc wall_s dev_per_s cpu_s cpu_ms/dev rss_MB ok resp_cpu
  awk '$1 != "poller" { dps[$1]=$6; cpu[$1]=$8; rss[$1]=$9; ok[$1]=$10; rc[$1]=$11; n=$3 }
    END {
      if (!("custom" in cpu)) { print "kdfm: no result"; exit 1 }
      printf "kdfm N=%d dev/s=%.1f cpu_ms/dev=%.2f peak_rss_MB=%.1f failed=%d responder_cpu_s=%.2f\n",
             n, dps["custom"], cpu["custom"], rss["custom"], n - ok["custom"], rc["custom"]
      for (p in cpu) if (p != "custom") {
        printf "kdfm vs %-8s cpu_ms/dev=%.2fx dev/s=%.2fx rss=%.2fx responder_cpu=%.2fx (peer failed=%d)\n",
               p, cpu["custom"]/cpu[p], dps["custom"]/dps[p], rss["custom"]/rss[p],
               (rc[p] > 0 ? rc["custom"]/rc[p] : 0), n - ok[p]
        if (p == "pysnmp") printf "kdfm pysnmp/kdfm cpu = %.1fx better\n", cpu[p]/cpu["custom"]
      }
    }' "$OUT"
done
