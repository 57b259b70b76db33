#!/usr/bin/env bash
# Writer overload, shedding off against on, side by side in one run: cqrs-writer alone (sync,
# batches of --batch requests) on a fresh temp dir for each setting, driven by `cqrs load`
# (pipelined cqrs::Clients, upserts of 100-byte values into 1M uniform keys) with 1×, 2× and
# 10× a batch in flight. Prints one JSON line per (in flight, shedding): goodput (acknowledged
# Ok per second), p99, failed and indeterminate counts.
#
#   bench/overload.sh [--build DIR] [--batch N] [--duration S]
set -euo pipefail
build=build batch=1024 duration=8
while [[ $# -gt 0 ]]; do
  case "$1" in
    --build) build=$2; shift 2 ;;
    --batch) batch=$2; shift 2 ;;
    --duration) duration=$2; shift 2 ;;
    -h|--help) sed -n '2,8p' "$0"; exit 0 ;;
    *) echo "overload.sh: unknown argument $1 (try --help)" >&2; exit 2 ;;
  esac
done
writer="$build/bin/cqrs-writer"
cqrs="$build/bin/cqrs"
[[ -x $writer && -x $cqrs ]] || { echo "overload.sh: build first (make build)" >&2; exit 2; }
tmp=$(mktemp -d /tmp/cqrs-overload-XXXXXX)
pid=""
cleanup() { [[ -n $pid ]] && kill "$pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT

for factor in ${factors:-1 2 10}; do
  in_flight=$((batch * factor))
  clients=$((in_flight / 64))  # 64 in flight per connection
  for shed in false true; do
    printf '[writer]\nbatch_max_requests = %s\nshed_overload = %s\n' "$batch" "$shed" \
      > "$tmp/config.toml"
    rm -rf "$tmp/data" "$tmp/endpoint"
    "$writer" --config "$tmp/config.toml" --data "$tmp/data" --endpoint "ipc://$tmp/w.sock" \
      --endpoint-file "$tmp/endpoint" --log-level error &
    pid=$!
    for _ in $(seq 200); do [[ -f $tmp/endpoint ]] && break; sleep 0.05; done
    result=$("$cqrs" load --writer "ipc://$tmp/w.sock" --clients "$clients" --pipeline 64 \
      --duration "$duration" --warmup 1 --keys 1000000 --json 2> /dev/null || true)  # shed: exit 1
    echo "{\"in_flight\":$in_flight,\"batch\":$batch,\"shed\":$shed,\"result\":$result}"
    kill "$pid"; wait "$pid" || true; pid=""
  done
done
