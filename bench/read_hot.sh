#!/usr/bin/env bash
# The read-hot cache measured: --keys entities (100-byte values) are written, then every process
# is stopped and started again with an empty cache of each --slots size, so the cache holds
# nothing the writes put there. Then, per size: a warm-up of zipf Gets, and --rounds rounds of a
# zipf run and a uniform run, interleaved. For each zipf round the hit ratio of its Gets (from
# `cqrs stats --json` before and after) is printed next to an ideal cache of the same size (the
# share of accesses that fall on the hottest `slots` keys), and each round's Get throughput.
#
#   bench/read_hot.sh [--build DIR] [--keys K] [--slots "16384 262144"] [--theta T]
#                     [--warmup S] [--duration S] [--rounds N] [--clients N] [--pipeline P]
set -euo pipefail
build=build keys=1000000 slots="16384 262144" theta=0.99 warmup=60 duration=10 rounds=3
clients=50 pipeline=16
while [[ $# -gt 0 ]]; do
  case "$1" in
    --build) build=$2; shift 2 ;;
    --keys) keys=$2; shift 2 ;;
    --slots) slots=$2; shift 2 ;;
    --theta) theta=$2; shift 2 ;;
    --warmup) warmup=$2; shift 2 ;;
    --duration) duration=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    --clients) clients=$2; shift 2 ;;
    --pipeline) pipeline=$2; shift 2 ;;
    -h|--help) sed -n '2,11p' "$0"; exit 0 ;;
    *) echo "read_hot.sh: unknown argument $1 (try --help)" >&2; exit 2 ;;
  esac
done
cqrs="$build/bin/cqrs" py=/usr/bin/python3
[[ -x $cqrs ]] || { echo "read_hot.sh: build first (make build)" >&2; exit 2; }

tmp=$(mktemp -d /tmp/cqrs-read-hot-XXXXXX)
up=""
stop_up() {
  if [[ -n $up ]]; then kill -INT "$up" 2>/dev/null || true; wait "$up" 2>/dev/null || true; fi
  up=""
}
cleanup() { stop_up; rm -rf "$tmp"; }
trap cleanup EXIT
fail() { echo "read_hot: $1; the logs:" >&2; tail -20 "$tmp/up.log" "$tmp/load.log" >&2; exit 1; }
flags=(--config "$tmp/cqrs.toml" --data "$tmp/data")
start_up() {  # $1: cache slots
  cat > "$tmp/cqrs.toml" <<TOML
log_level = "warn"
[writer]
endpoint = "ipc://$tmp/writer.sock"
[projector]
events_endpoint = "ipc://$tmp/events.sock"
replay_endpoint = "ipc://$tmp/replay.sock"
[reader]
endpoints = ["ipc://$tmp/reader0.sock", "ipc://$tmp/reader1.sock"]
[cache]
slots = $1
TOML
  "$cqrs" stats "${flags[@]}" --remove > /dev/null 2>&1 || true  # a new segment of this size
  "$cqrs" up --quiet "${flags[@]}" 2>> "$tmp/up.log" &
  up=$!
  for ((i = 0; i < 300; i++)); do  # up to 30 s: every process answers a Scan
    "$cqrs" scan "${flags[@]}" --timeout 1000 kv > /dev/null 2>&1 && return 0
    sleep 0.1
  done
  fail "cqrs up did not come up"
}
load() {
  "$cqrs" load "${flags[@]}" --keys "$keys" --value-size 100 --json "$@" 2>> "$tmp/load.log" \
    || fail "cqrs load $* failed"
}
stats() { "$cqrs" stats "${flags[@]}" --json --interval 0.05 2> /dev/null | tail -1; }

start_up 16384
echo "read_hot: writing $keys keys" >&2
load --mix put=1 --distribution sequential --requests "$keys" --clients 4 --pipeline 64 \
  --warmup 0 > /dev/null
stop_up

for n in $slots; do
  start_up "$n"
  echo "read_hot: $n slots: ${warmup} s of zipf Gets to warm up" >&2
  load --mix get=1 --distribution "zipf:$theta" --clients "$clients" --pipeline "$pipeline" \
    --duration "$warmup" --warmup 0 > /dev/null
  for ((r = 1; r <= rounds; r++)); do
    before=$(stats)
    zipf=$(load --mix get=1 --distribution "zipf:$theta" --clients "$clients" \
      --pipeline "$pipeline" --duration "$duration" --warmup 1)
    after=$(stats)
    uniform=$(load --mix get=1 --distribution uniform --clients "$clients" \
      --pipeline "$pipeline" --duration "$duration" --warmup 1)
    "$py" - "$n" "$keys" "$theta" "$r" "$before" "$after" "$zipf" "$uniform" << 'PY'
import json, sys
slots, keys, theta, rnd = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
before, after, zipf, uniform = (json.loads(a) for a in sys.argv[5:9])
weights = [(r + 1) ** -theta for r in range(keys)]
ideal = sum(weights[:slots]) / sum(weights)
hits = after["cache"]["hits"] - before["cache"]["hits"]
misses = after["cache"]["misses"] - before["cache"]["misses"]
for run in (zipf, uniform):
    if run["get"]["failed"] or run["get"]["indeterminate"]:
        sys.exit("read_hot: Gets failed: " + json.dumps(run))
print(json.dumps({"slots": slots, "round": int(rnd), "ideal_hit_ratio": round(ideal, 4),
                  "hit_ratio": round(hits / max(hits + misses, 1), 4),
                  "fills": after["cache"]["fills"],
                  "reports_dropped": after["cache"]["reports_dropped"],
                  "zipf_gets_per_s": round(zipf["get"]["per_sec"]),
                  "uniform_gets_per_s": round(uniform["get"]["per_sec"]),
                  "zipf_p50_us": zipf["get"]["latency_us"]["p50"],
                  "uniform_p50_us": uniform["get"]["latency_us"]["p50"]}))
PY
  done
  stop_up
done
