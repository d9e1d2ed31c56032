#!/usr/bin/env bash
# Datagrams and bytes one complete reading costs a device, for the agent and for snmp_exporter:
# one snmpd serves the shared synthetic printer on two loopback addresses, tcpdump counts what
# each poller exchanges with its own address. Root (binds UDP 161, captures on lo). Not a test.
#
# Usage: bench/snmp/datagrams.sh        Needs (Debian): snmpd snmp prometheus-snmp-exporter curl
#                                        tcpdump
# Prints per poller: requests, GET/GETNEXT/GETBULK split, max-repetitions used, reply bytes.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd); REPO=$(cd "$HERE/../.." && pwd)
BENCH=${SNMP_BENCH:-$REPO/../shared/snmp-bench}
KDFM=127.0.253.1 EXP=127.0.253.2 PORT=${EXPORTER_PORT:-9317}
W=$(mktemp -d /tmp/kdfm-datagrams.XXXX); PIDS=()
cleanup() { for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done; rm -rf "$W"; }
trap cleanup EXIT
python3 "$BENCH/gen_printer_snmprec.py" "$W/p.snmprec" 40 2>/dev/null
python3 "$BENCH/snmprec2snmpd.py" "$W/p.snmprec" > "$W/ov.conf" 2>/dev/null
printf 'rocommunity public 127.0.0.0/8\ndontLogTCPWrappersConnects yes\nincludeFile %s\n' "$W/ov.conf" > "$W/snmpd.conf"
# The same modules off as in the shared harness, so the overrides serve hrDevice as it does.
HRX=""; for m in hr_system hr_device hr_other hr_proc hr_network hr_print hr_disk hr_partition \
                 hr_filesys hrh_filesys hrh_storage hr_swrun hr_swinst hr_storage sysORTable; do
  HRX="$HRX -I -$m"; done
snmpd -f -Lf /dev/null -C -c "$W/snmpd.conf" -M /dev/null $HRX \
  "udp:$KDFM:161,udp:$EXP:161" > /dev/null 2>&1 & PIDS+=($!)
for _ in $(seq 300); do
  snmpget -M /dev/null -v2c -c public -r0 -t0.2 "$EXP" 1.3.6.1.2.1.1.5.0 >/dev/null 2>&1 && break; sleep 0.1
done
prometheus-snmp-exporter --config.file="$BENCH/snmp_exporter.yml" \
  --web.listen-address="127.0.0.1:$PORT" > /dev/null 2>&1 & PIDS+=($!)
for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$PORT/" && break; sleep 0.1; done
tcpdump -i lo -n -l "udp and port 161 and (host $KDFM or host $EXP)" > "$W/cap" 2>"$W/tcpdump.err" &
PIDS+=($!)
for _ in $(seq 100); do grep -q listening "$W/tcpdump.err" && break; sleep 0.1; done
echo "$KDFM" > "$W/one"
"$REPO/.venv/bin/python" "$HERE/poll_kdfm.py" "$W/one" 1 gufo > /dev/null
curl -s -o /dev/null "http://127.0.0.1:$PORT/snmp?module=printer_bench&target=$EXP"
# tcpdump writes as it captures (-l); wait until both replies to the last requests are in.
for _ in $(seq 50); do
  req=$(grep -c " > 127.0.253.[12].161:" "$W/cap" || true); rep=$(grep -c "^[^ ]* IP 127.0.253.[12].161 >" "$W/cap" || true)
  [ "$req" -gt 0 ] && [ "$req" = "$rep" ] && break; sleep 0.1
done
for who in "kdfm $KDFM" "snmp_exporter $EXP"; do
  set -- $who
  awk -v name="$1" -v addr="$2.161:" -v src="$2.161" '
    $5 == addr { n++; kind = $6; sub(/\(.*/, "", kind); t[kind]++
                 for (i = 7; i <= NF; i++) if ($i ~ /^M=/) m[$i]++ }
    $3 == src  { r++; size = $6; sub(/.*\(/, "", size); sub(/\).*/, "", size); b += size }
    END {
      printf "%-14s requests=%d replies=%d reply_bytes=%d", name, n, r, b
      for (k in t) printf " %s=%d", k, t[k]
      for (k in m) printf " %s(x%d)", k, m[k]
      printf "\n"
    }' "$W/cap"
done
