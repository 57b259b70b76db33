#!/usr/bin/env bash
# CURVE on vs off, side by side in one run: two `cqrs up` pipelines on fresh temp dirs (ipc://
# endpoints, writer in sync mode), one plain and one with [security] (server key, one principal
# with read/write "*"). Both are populated with --keys entities of 100-byte values; then, for
# --rounds rounds, the same `cqrs load` runs alternate between them:
#   put:     Upserts, --clients connections x --pipeline in flight (write throughput)
#   get:     Gets of random keys, same concurrency (read throughput)
#   get-lat: Gets, 1 connection, 1 in flight (Get p50: a round trip's latency)
# Prints each run's JSON (one line each), then the median ratio on/off per measure.
#
#   bench/security.sh [--build DIR] [--clients N] [--pipeline P] [--duration S] [--keys K]
#                     [--rounds R]
set -euo pipefail
build=build clients=8 pipeline=16 duration=5 keys=100000 rounds=3
while [[ $# -gt 0 ]]; do
  case "$1" in
    --build) build=$2; shift 2 ;;
    --clients) clients=$2; shift 2 ;;
    --pipeline) pipeline=$2; shift 2 ;;
    --duration) duration=$2; shift 2 ;;
    --keys) keys=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    *) echo "security.sh: unknown argument $1 (try --help)" >&2; exit 2 ;;
  esac
done
cqrs="$build/bin/cqrs"
[[ -x $cqrs ]] || { echo "security.sh: build first (make build)" >&2; exit 2; }

tmp=$(mktemp -d /tmp/cqrs-security-XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2> /dev/null || true; done
  wait 2> /dev/null || true
  for mode in off on; do "$cqrs" stats --remove --data "$tmp/$mode/data" > /dev/null 2>&1 || true; done
  rm -rf "$tmp"
}
trap cleanup EXIT

"$cqrs" keygen server --dir "$tmp/keys" > /dev/null 2>&1
"$cqrs" keygen bench --dir "$tmp/keys" > /dev/null 2>&1
for mode in off on; do
  d="$tmp/$mode"
  mkdir -p "$d"
  cat > "$d/cqrs.toml" <<TOML
log_level = "warn"
[writer]
endpoint = "ipc://$d/writer.sock"
[projector]
events_endpoint = "ipc://$d/events.sock"
replay_endpoint = "ipc://$d/replay.sock"
[reader]
endpoints = ["ipc://$d/reader0.sock", "ipc://$d/reader1.sock"]
TOML
  if [[ $mode == on ]]; then
    printf '[security]\nserver_key = "%s"\n' "$tmp/keys/server.key" >> "$d/cqrs.toml"
    "$cqrs" principal add bench --tenant bench --read '*' --write '*' \
      --key-file "$tmp/keys/bench.pub" --config "$d/cqrs.toml" --data "$d/data" > /dev/null
  fi
  "$cqrs" up --quiet --config "$d/cqrs.toml" --data "$d/data" 2> "$d/up.log" &
  pids+=($!)
done
flags() {  # the flags of pipeline $1
  local d="$tmp/$1"
  echo --config "$d/cqrs.toml" --data "$d/data"
  [[ $1 == on ]] && echo --key "$tmp/keys/bench.key" --server-key "$tmp/keys/server.pub"
  return 0
}
for mode in off on; do
  # shellcheck disable=SC2046
  "$cqrs" load $(flags $mode) --mix put=1 --requests "$keys" --keys "$keys" --clients 4 \
    --pipeline 64 --warmup 0 --json > /dev/null 2> "$tmp/$mode/populate.log" || {
    echo "security.sh: populating the $mode pipeline failed:" >&2
    cat "$tmp/$mode/populate.log" "$tmp/$mode/up.log" >&2
    exit 1
  }
done

common=(--keys "$keys" --value-size 100 --duration "$duration" --warmup 1 --json)
for ((round = 1; round <= rounds; round++)); do
  for run in put get get-lat; do
    case $run in
      put) args=(--mix put=1 --clients "$clients" --pipeline "$pipeline") ;;
      get) args=(--mix get=1 --clients "$clients" --pipeline "$pipeline") ;;
      get-lat) args=(--mix get=1 --clients 1 --pipeline 1) ;;
    esac
    for mode in off on; do
      # shellcheck disable=SC2046
      result=$("$cqrs" load $(flags $mode) "${args[@]}" "${common[@]}" 2> /dev/null)
      echo "{\"round\":$round,\"run\":\"$run\",\"curve\":\"$mode\",\"result\":$result}"
    done
  done
done | tee "$tmp/results.jsonl"

/usr/bin/python3 - "$tmp/results.jsonl" <<'PY'
import json, statistics, sys
runs = [json.loads(line) for line in open(sys.argv[1])]
def pick(run, mode, op, field):
    return [r["result"][op][field] if field == "per_sec" else r["result"][op]["latency_us"][field]
            for r in runs if r["run"] == run and r["curve"] == mode]
for run, op, field, what in (("put", "put", "per_sec", "put throughput"),
                             ("get", "get", "per_sec", "get throughput"),
                             ("get-lat", "get", "p50", "Get p50 (1 in flight)"),
                             ("put", "put", "p50", "put p50 under load")):
    off, on = pick(run, "off", op, field), pick(run, "on", op, field)
    ratios = [b / a for a, b in zip(off, on) if a]
    print("%-24s off %10.1f  on %10.1f  on/off %.3f (median of %d rounds)" % (
        what, statistics.median(off), statistics.median(on), statistics.median(ratios),
        len(ratios)))
PY
