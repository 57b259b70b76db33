#!/usr/bin/env bash
# Writer throughput, sync against nosync, measured side by side in one run: starts cqrs-writer on
# a fresh temp dir for each durability mode, drives it with `cqrs load` (pipelined C++ clients,
# upserts of 100-byte values into 1M uniform keys) and prints one JSON line per mode.
#
#   bench/writer_load.sh [--build DIR] [--clients N] [--pipeline P] [--duration S]
set -euo pipefail
build=build clients=8 pipeline=16 duration=10
while [[ $# -gt 0 ]]; do
  case "$1" in
    --build) build=$2; shift 2 ;;
    --clients) clients=$2; shift 2 ;;
    --pipeline) pipeline=$2; shift 2 ;;
    --duration) duration=$2; shift 2 ;;
    -h|--help) sed -n '2,7p' "$0"; exit 0 ;;
    *) echo "writer_load.sh: unknown argument $1 (try --help)" >&2; exit 2 ;;
  esac
done
writer="$build/bin/cqrs-writer"
cqrs="$build/bin/cqrs"
[[ -x $writer && -x $cqrs ]] || { echo "writer_load.sh: build first (make build)" >&2; exit 2; }

tmp=$(mktemp -d /tmp/cqrs-load-XXXXXX)
pid=""
cleanup() { [[ -n $pid ]] && kill "$pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT

for mode in sync nosync; do
  rm -f "$tmp/endpoint"
  "$writer" --data "$tmp/$mode" --endpoint "ipc://$tmp/w.sock" --durability "$mode" \
    --endpoint-file "$tmp/endpoint" --log-level warn &
  pid=$!
  for _ in $(seq 200); do [[ -f $tmp/endpoint ]] && break; sleep 0.05; done
  result=$("$cqrs" load --writer "ipc://$tmp/w.sock" --clients "$clients" --pipeline "$pipeline" \
    --duration "$duration" --warmup 1 --value-size 100 --keys 1000000 --json 2>/dev/null)
  echo "{\"durability\":\"$mode\",\"clients\":$clients,\"pipeline\":$pipeline,\"result\":$result}"
  kill "$pid"; wait "$pid" || true; pid=""
done
