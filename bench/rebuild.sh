#!/usr/bin/env bash
# Rebuild speed (`cqrs rebuild`), side by side in one run: for each read-model setting, `cqrs up`
# (writer nosync) on a fresh temp dir, --events Upserts of orders-shaped entities (`cqrs load
# --shape orders`: status, customer, amount and a --value-size field v) over --keys uniform keys,
# then `cqrs rebuild` while idle, --rounds times. Settings:
#   none:   no [[collections]] (entities and the collection log only)
#   orders: examples/orders.toml's declarations (3 indexes, 2 aggregates) on the collection
# Prints one JSON line per rebuild: setting, events, seconds, events_per_s.
#
#   bench/rebuild.sh [--build DIR] [--events N] [--keys K] [--value-size B] [--rounds N]
set -euo pipefail
build=build events=1000000 keys=1000000 value_size=100 rounds=1
while [[ $# -gt 0 ]]; do
  case "$1" in
    --build) build=$2; shift 2 ;;
    --events) events=$2; shift 2 ;;
    --keys) keys=$2; shift 2 ;;
    --value-size) value_size=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
    *) echo "rebuild.sh: unknown argument $1 (try --help)" >&2; exit 2 ;;
  esac
done
cqrs="$build/bin/cqrs"
[[ -x $cqrs ]] || { echo "rebuild.sh: build first (make build)" >&2; exit 2; }
tmp=$(mktemp -d /tmp/cqrs-rebuild-XXXXXX)
up=""
cleanup() { [[ -n $up ]] && kill "$up" 2> /dev/null; wait 2> /dev/null; rm -rf "$tmp"; }
trap cleanup EXIT
base=$((20000 + RANDOM % 30000))
models='[[collections]]
name = "orders"
indexes = ["status", "customer", "amount"]
aggregates = [
  { name = "by_customer", group_by = "customer", sum = "amount" },
  { name = "by_status", group_by = "status" },
]'
for ((round = 0; round < rounds; round++)); do
  for setting in none orders; do
    rm -rf "$tmp/data"
    printf 'base_port = %d\nlog_level = "warn"\n[writer]\ndurability = "nosync"\n' "$base" \
      > "$tmp/cqrs.toml"
    [[ $setting == orders ]] && printf '%s\n' "$models" >> "$tmp/cqrs.toml"
    flags=(--config "$tmp/cqrs.toml" --data "$tmp/data")
    "$cqrs" up --quiet "${flags[@]}" 2>> "$tmp/up.log" &
    up=$!
    until "$cqrs" scan "${flags[@]}" --timeout 1000 orders > /dev/null 2>&1; do sleep 0.1; done
    "$cqrs" load "${flags[@]}" --collection orders --shape orders --mix put=1 \
      --requests "$events" --keys "$keys" --value-size "$value_size" --clients 8 --pipeline 64 \
      --warmup 0 --json > /dev/null 2>&1
    # Wait until the projector has applied everything, so the rebuild runs alone.
    # (exit 3: DeadlineExceeded, not there yet; 0 or 1, NotFound: there.)
    while :; do
      rc=0
      "$cqrs" get "${flags[@]}" --min-seq "$events" --wait 1000 orders k0000000000 \
        > /dev/null 2>&1 || rc=$?
      [[ $rc == 3 ]] || break
    done
    result=$("$cqrs" rebuild "${flags[@]}" 2> /dev/null)
    seconds=$(sed -n 's/.*"seconds":\([0-9.]*\).*/\1/p' <<< "$result")
    rate=$(awk -v e="$events" -v s="$seconds" 'BEGIN { printf "%.0f", e / s }')
    echo "{\"setting\":\"$setting\",\"events\":$events,\"seconds\":$seconds,\"events_per_s\":$rate}"
    kill "$up"; wait "$up" || true; up=""
  done
done
