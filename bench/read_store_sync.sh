#!/usr/bin/env bash
# The read store with and without fsync per commit (projector.sync_read_store), side by side in
# one run: for each setting, `cqrs up` (writer in sync mode) on a fresh temp dir over tcp
# loopback, --keys keys filled, then
#   put:  closed-loop Upserts, --clients x --pipeline (the maximum durable write rate)
#   rmw:  open loop at --rate writes/s, one in ten an rmw (the command-to-visible row)
# The two settings alternate --rounds times. Prints one JSON line per run.
#
#   bench/read_store_sync.sh [--build DIR] [--clients N] [--pipeline P] [--duration S]
#                            [--keys K] [--rate R] [--rounds N]
set -euo pipefail
build=build clients=50 pipeline=16 duration=5 keys=100000 rate=8000 rounds=2
while [[ $# -gt 0 ]]; do
  case "$1" in
    --build) build=$2; shift 2 ;;
    --clients) clients=$2; shift 2 ;;
    --pipeline) pipeline=$2; shift 2 ;;
    --duration) duration=$2; shift 2 ;;
    --keys) keys=$2; shift 2 ;;
    --rate) rate=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    -h|--help) sed -n '2,11p' "$0"; exit 0 ;;
    *) echo "read_store_sync.sh: unknown argument $1 (try --help)" >&2; exit 2 ;;
  esac
done
cqrs="$build/bin/cqrs"
[[ -x $cqrs ]] || { echo "read_store_sync.sh: build first (make build)" >&2; exit 2; }
tmp=$(mktemp -d /tmp/cqrs-rss-XXXXXX)
up=""
cleanup() { [[ -n $up ]] && kill "$up" 2> /dev/null; wait 2> /dev/null; rm -rf "$tmp"; }
trap cleanup EXIT
base=$((20000 + RANDOM % 30000))
for ((round = 0; round < rounds; round++)); do
  for sync in true false; do
    rm -rf "$tmp/data"
    printf 'base_port = %d\nlog_level = "warn"\n[projector]\nsync_read_store = %s\n' \
      "$base" "$sync" > "$tmp/cqrs.toml"
    flags=(--config "$tmp/cqrs.toml" --data "$tmp/data")
    "$cqrs" up --quiet "${flags[@]}" 2>> "$tmp/up.log" &
    up=$!
    until "$cqrs" scan "${flags[@]}" --timeout 1000 load > /dev/null 2>&1; do sleep 0.1; done
    "$cqrs" load "${flags[@]}" --mix put=1 --distribution sequential --requests "$keys" \
      --keys "$keys" --clients 4 --pipeline 64 --warmup 0 --json > /dev/null 2>&1
    common=(--keys "$keys" --clients "$clients" --pipeline "$pipeline" --duration "$duration" --json)
    echo "{\"sync_read_store\":$sync,\"run\":\"put\",\"result\":$("$cqrs" load "${flags[@]}" --mix put=1 "${common[@]}" 2> /dev/null)}"
    echo "{\"sync_read_store\":$sync,\"run\":\"rmw\",\"rate\":$rate,\"result\":$("$cqrs" load "${flags[@]}" --mix put=9,rmw=1 --rate "$rate" "${common[@]}" 2> /dev/null)}"
    kill "$up"; wait "$up" || true; up=""
  done
done
