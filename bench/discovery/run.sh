#!/usr/bin/env bash
# Discovery sweep benchmark: `kdfm-agent scan` of a /22 (1024 loopback addresses, 127.0.8.0/22)
# where 50 addresses answer SNMP (snmpd serving the shared synthetic printer) and the rest drop
# UDP/161 silently (the shared blackhole.py), timeout 1 s, 1 retry: the floor is 2 s (a silent
# address is asked twice). Beside it, the shared harness's peers (pysnmp sweep, nmap) when
# PEERS=1. Root: binds UDP 161. Not a test.
#
# Usage: bench/discovery/run.sh        Env: CONC=256 (sessions for the live devices), PEERS=0|1,
#                                           RATE (scan --probes-per-second; default: the agent's)
# Target (the SNMP reading issue): wall <= 1.25 x 2 s = 2.5 s, 50 printers found.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd); REPO=$(cd "$HERE/../.." && pwd)
BENCH=${SNMP_BENCH:-$REPO/../shared/snmp-bench}
CONC=${CONC:-256}
W=$(mktemp -d /tmp/kdfm-discovery.XXXX); PIDS=()
cleanup() { for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done; rm -rf "$W"; }
trap cleanup EXIT
for i in $(seq 0 1023); do echo "127.0.$((8 + i/256)).$((i%256))"; done > "$W/all"
awk 'NR%20==6 && c<50 {print; c++}' "$W/all" > "$W/live"; grep -vxFf "$W/live" "$W/all" > "$W/dead"
python3 "$BENCH/gen_printer_snmprec.py" "$W/p.snmprec" 40 2>/dev/null
python3 "$BENCH/snmprec2snmpd.py" "$W/p.snmprec" > "$W/ov.conf"
printf 'rocommunity public 127.0.0.0/8\ndontLogTCPWrappersConnects yes\nincludeFile %s\n' "$W/ov.conf" > "$W/snmpd.conf"
snmpd -f -Lf /dev/null -C -c "$W/snmpd.conf" -M /dev/null -I -sysORTable \
  $(sed 's/^/udp:/; s/$/:161/' "$W/live" | paste -sd,) > /dev/null 2>&1 & PIDS+=($!)
python3 "$BENCH/blackhole.py" "$W/dead" & PIDS+=($!)
LAST=$(tail -1 "$W/live")
for _ in $(seq 300); do
  snmpget -M /dev/null -v2c -c public -r0 -t0.2 "$LAST" 1.3.6.1.2.1.1.5.0 >/dev/null 2>&1 && break; sleep 0.1
done
# The scan covers 127.0.8.0-127.0.11.255 (all 1024; a /22 CIDR would skip network/broadcast).
RATE_ARGS=(); [ -n "${RATE:-}" ] && RATE_ARGS=(--probes-per-second "$RATE")
echo "== kdfm-agent scan, 1024 addresses, 50 live, timeout 1 s, retries 1, conc $CONC ${RATE_ARGS[*]:-}"
/usr/bin/time -f "%e %U %S %M" -o "$W/t" "$REPO/.venv/bin/kdfm-agent" scan 127.0.8.0-127.0.11.255 \
  --timeout 1 --retries 1 --concurrency "$CONC" "${RATE_ARGS[@]}" --json > "$W/out"
read -r wall user sys rss < "$W/t"
found=$(grep -c '"printer": true' "$W/out" || true)
answered=$(grep -c '"answered": true' "$W/out" || true)
awk -v w="$wall" -v u="$user" -v s="$sys" -v r="$rss" -v f="$found" -v a="$answered" 'BEGIN {
  printf "kdfm scan wall_s=%.2f floor_ratio=%.2f cpu_s=%.2f rss_MB=%.1f answered=%d printers=%d\n",
         w, w/2.0, u+s, r/1024, a, f }'
if [ "${PEERS:-0}" = 1 ]; then
  t() { local s e; s=$(date +%s.%N); "$@"; e=$(date +%s.%N); echo "  -> $(echo "$e - $s" | bc) s"; }
  echo "== pysnmp v3arch asyncio, conc 1024"
  t "$REPO/.venv/bin/python" "$BENCH/discover_pysnmp.py" "$W/all" 1024 v3arch
  echo "== nmap -sU -p161 --script snmp-info, T5, min-parallelism 256"
  t sh -c "nmap -n -Pn -sU -p161 -T5 --min-parallelism 256 --max-rtt-timeout 1000ms --max-retries 1 --script snmp-info 127.0.8.0/22 -oG - 2>/dev/null | grep -c '161/open/'"
fi
