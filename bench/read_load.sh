#!/usr/bin/env bash
# The read path measured in one run: `cqrs up` (writer in sync mode, projector, N readers) on a
# fresh temp dir with ipc:// endpoints, populated with --keys entities of 100-byte values, then
#   get: Gets of random keys from any snapshot (read throughput and latency)
#   rmw: an Upsert and, at its ack, a Get with the ack's seq as min_seq; the "visible" row is
#        the time from the ack to the reader's answer (command-to-visible latency)
# Prints the JSON of each `cqrs load` run, one line each.
#
#   bench/read_load.sh [--build DIR] [--readers N] [--clients N] [--pipeline P] [--duration S]
#                      [--keys K] [--rmw-clients N] [--rmw-pipeline P]
set -euo pipefail
build=build readers=2 clients=8 pipeline=16 duration=10 keys=100000 rmw_clients=1 rmw_pipeline=1
while [[ $# -gt 0 ]]; do
  case "$1" in
    --build) build=$2; shift 2 ;;
    --readers) readers=$2; shift 2 ;;
    --clients) clients=$2; shift 2 ;;
    --pipeline) pipeline=$2; shift 2 ;;
    --duration) duration=$2; shift 2 ;;
    --keys) keys=$2; shift 2 ;;
    --rmw-clients) rmw_clients=$2; shift 2 ;;
    --rmw-pipeline) rmw_pipeline=$2; shift 2 ;;
    -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
    *) echo "read_load.sh: unknown argument $1 (try --help)" >&2; exit 2 ;;
  esac
done
cqrs="$build/bin/cqrs"
[[ -x $cqrs ]] || { echo "read_load.sh: build first (make build)" >&2; exit 2; }

tmp=$(mktemp -d /tmp/cqrs-read-XXXXXX)
up=""
cleanup() { [[ -n $up ]] && kill "$up" 2>/dev/null; wait 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT
list=""
for ((i = 0; i < readers; i++)); do list+="${list:+, }\"ipc://$tmp/reader$i.sock\""; done
cat > "$tmp/cqrs.toml" <<TOML
log_level = "warn"
[writer]
endpoint = "ipc://$tmp/writer.sock"
[projector]
events_endpoint = "ipc://$tmp/events.sock"
replay_endpoint = "ipc://$tmp/replay.sock"
[reader]
endpoints = [$list]
TOML
flags=(--config "$tmp/cqrs.toml" --data "$tmp/data")
"$cqrs" up --quiet "${flags[@]}" 2> "$tmp/up.log" &
up=$!
"$cqrs" load "${flags[@]}" --mix put=1 --requests "$keys" --keys "$keys" --clients 4 \
  --pipeline 64 --warmup 0 --json > /dev/null 2>&1
common=(--keys "$keys" --value-size 100 --duration "$duration" --warmup 1 --json)
echo "{\"run\":\"get\",\"readers\":$readers,\"clients\":$clients,\"pipeline\":$pipeline,\"result\":$(
  "$cqrs" load "${flags[@]}" --mix get=1 --clients "$clients" --pipeline "$pipeline" "${common[@]}" 2>/dev/null)}"
echo "{\"run\":\"rmw\",\"clients\":$rmw_clients,\"pipeline\":$rmw_pipeline,\"result\":$(
  "$cqrs" load "${flags[@]}" --mix rmw=1 --clients "$rmw_clients" --pipeline "$rmw_pipeline" "${common[@]}" 2>/dev/null)}"
