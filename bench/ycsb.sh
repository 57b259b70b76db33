#!/usr/bin/env bash
# YCSB's six core workloads against cqrs (`cqrs load --workload a..f`), as YCSB runs them: a load
# phase writes --records records of 1,000 bytes (keys in order), then each workload runs for
# --duration seconds against that data set, in the order a, b, c, f, d, e (YCSB's recommended
# order: d and e insert). Prints one row per workload and op: throughput, p50, p99, p99.9.
#
#   bench/ycsb.sh [--build DIR] [--records N] [--duration S] [--clients N] [--pipeline P]
#                 [--durability sync|nosync]
set -euo pipefail
build=build records=100000 duration=10 clients=16 pipeline=8 durability=sync
while [[ $# -gt 0 ]]; do
  case "$1" in
    --build) build=$2; shift 2 ;;
    --records) records=$2; shift 2 ;;
    --duration) duration=$2; shift 2 ;;
    --clients) clients=$2; shift 2 ;;
    --pipeline) pipeline=$2; shift 2 ;;
    --durability) durability=$2; shift 2 ;;
    -h|--help) sed -n '2,8p' "$0"; exit 0 ;;
    *) echo "ycsb.sh: unknown argument $1 (try --help)" >&2; exit 2 ;;
  esac
done
[[ $durability == sync || $durability == nosync ]] || { echo "ycsb.sh: --durability sync or nosync" >&2; exit 2; }
cqrs="$build/bin/cqrs" py=/usr/bin/python3
[[ -x $cqrs ]] || { echo "ycsb.sh: build first (make build)" >&2; exit 2; }
tmp=$(mktemp -d /tmp/cqrs-ycsb-XXXXXX)
up=""
cleanup() {
  if [[ -n $up ]]; then kill -INT "$up" 2>/dev/null || true; wait "$up" 2>/dev/null || true; fi
  rm -rf "$tmp"
}
trap cleanup EXIT
cat > "$tmp/cqrs.toml" <<TOML
log_level = "warn"
[writer]
endpoint = "ipc://$tmp/writer.sock"
durability = "$durability"
[projector]
events_endpoint = "ipc://$tmp/events.sock"
replay_endpoint = "ipc://$tmp/replay.sock"
[reader]
endpoints = ["ipc://$tmp/reader0.sock", "ipc://$tmp/reader1.sock"]
TOML
flags=(--config "$tmp/cqrs.toml" --data "$tmp/data")
"$cqrs" up --quiet "${flags[@]}" 2>> "$tmp/up.log" &
up=$!
for ((i = 0; i < 300; i++)); do
  "$cqrs" scan "${flags[@]}" --timeout 1000 load > /dev/null 2>&1 && break
  sleep 0.1
done
echo "ycsb: load phase, $records records of 1000 bytes" >&2
"$cqrs" load "${flags[@]}" --mix put=1 --distribution sequential --requests "$records" \
  --keys "$records" --value-size 1000 --clients 4 --pipeline 32 --warmup 0 > /dev/null 2>> "$tmp/load.log"
echo "| workload | op | per second | p50 ms | p99 ms | p99.9 ms |"
echo "|---|---|---|---|---|---|"
n=0
for w in a b c f d e; do
  n=$((n + 1))
  echo "ycsb: step $n/6: workload $w (${duration}s)" >&2
  json=$("$cqrs" load "${flags[@]}" --workload "$w" --keys "$records" --clients "$clients" \
    --pipeline "$pipeline" --duration "$duration" --warmup 1 --json 2>> "$tmp/load.log") \
    || { echo "ycsb: workload $w failed:" >&2; tail "$tmp/load.log" >&2; exit 1; }
  $py - "$w" "$json" <<'PY'
import json, sys
w, r = sys.argv[1], json.loads(sys.argv[2])
for op in ("get", "put", "scan", "insert", "modify"):
    if op in r:
        l = r[op]["latency_us"]
        print(f"| {w} | {op} | {r[op]['per_sec']:,.0f} | {l['p50'] / 1000:.3f} | "
              f"{l['p99'] / 1000:.3f} | {l['p999'] / 1000:.3f} |")
PY
done
