#!/usr/bin/env bash
# A read replica measured against its primary in one run, on this one host: one local
# nats-server (JetStream, 1 replica), a primary `cqrs up` (writer in sync mode, projector, 1
# reader, cqrs-mirror) filled with --events upserts of 100-byte values over --keys keys, then a
# `cqrs up --replica` started empty on another data directory:
#   catch-up: events/s from the replica's start until its copy (cqrs-replica), then its read
#             store (cqrs-projector), reach the primary's last seq
#   get:      Gets of random keys (8 × 16 in flight) on the primary's reader, then the replica's
#   visible:  an Upsert on the primary and, at its ack, a Get with the ack's seq as min_seq on the
#             primary's reader, then the replica's: the time from the ack to the answer is
#             command → visible (1 × 1)
# Every process shares the same cores: read the figures as ratios of one run.
#
#   bench/replica.sh [--build DIR] [--events N] [--keys K] [--duration S] [--rounds R]
set -euo pipefail
build=build events=500000 keys=100000 duration=5 rounds=3
while [[ $# -gt 0 ]]; do
  case "$1" in
    --build) build=$2; shift 2 ;;
    --events) events=$2; shift 2 ;;
    --keys) keys=$2; shift 2 ;;
    --duration) duration=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
    *) echo "replica.sh: unknown argument $1 (try --help)" >&2; exit 2 ;;
  esac
done
source "$(dirname "$0")/nats_lib.sh" cqrs-replica cqrs-replica
# Two hosts' configs: endpoints of their own (ipc in the temp dir), the primary with a mirror.
host_toml() {  # name extra
  printf 'log_level = "warn"\n[writer]\nendpoint = "ipc://%s/%s-writer.sock"\n' "$tmp" "$1"
  printf '[projector]\nevents_endpoint = "ipc://%s/%s-events.sock"\n' "$tmp" "$1"
  printf 'replay_endpoint = "ipc://%s/%s-replay.sock"\n' "$tmp" "$1"
  printf '[reader]\nendpoints = ["ipc://%s/%s-reader0.sock"]\n%s' "$tmp" "$1" "$2"
}
host_toml primary "$(printf '[mirror]\nnats = "nats://127.0.0.1:%d"\nreplicas = 1\n' "$nats_port")" \
  > "$tmp/primary.toml"
host_toml replica "" > "$tmp/replica.toml"
primary=(--config "$tmp/primary.toml" --data "$tmp/primary")
replica=(--config "$tmp/replica.toml" --data "$tmp/replica")
# Waits for `stat ... key` to reach `want`, while process `pid` lives (its log says why not).
wait_stat() {  # pid log want flags... key
  local pid=$1 log=$2 want=$3
  shift 3
  until [[ $(stat "$@") -ge $want ]]; do
    kill -0 "$pid" 2> /dev/null || { echo "replica.sh: stopped early:" >&2; tail -5 "$log" >&2; exit 1; }
    sleep 0.05
  done
}
stat() {  # flags... key
  local key=${*: -1}
  "$cqrs" stats --json "${@:1:$#-1}" 2> /dev/null |
    /usr/bin/python3 -c "import json,sys; print(json.load(sys.stdin)['$key'])" 2> /dev/null || echo 0
}
"$cqrs" up --quiet "${primary[@]}" 2>> "$tmp/up.log" &
up=$!
pids="$up $pids"
until "$cqrs" scan "${primary[@]}" --timeout 1000 load > /dev/null 2>&1; do sleep 0.1; done
echo "replica.sh: writing $events events on the primary" >&2
"$cqrs" load "${primary[@]}" --mix put=1 --requests "$events" --keys "$keys" --value-size 100 \
  --clients 8 --pipeline 64 --warmup 0 --json > /dev/null 2>> "$tmp/load.log"
end=$(stat "${primary[@]}" committed_seq)
wait_stat "$up" "$tmp/up.log" "$end" "${primary[@]}" mirrored_seq

echo "replica.sh: starting the replica empty" >&2
t0=$(date +%s.%N)
"$cqrs" up --quiet --replica --nats "nats://127.0.0.1:$nats_port" "${replica[@]}" 2>> "$tmp/rup.log" &
rup=$!
pids="$rup $pids"
wait_stat "$rup" "$tmp/rup.log" "$end" "${replica[@]}" committed_seq
t1=$(date +%s.%N)
wait_stat "$rup" "$tmp/rup.log" "$end" "${replica[@]}" applied_seq
t2=$(date +%s.%N)
/usr/bin/python3 - "$end" "$t0" "$t1" "$t2" << 'PY'
import sys
end, t0, t1, t2 = int(sys.argv[1]), *map(float, sys.argv[2:])
print(f"catch-up of {end:,} events: copied at {end / (t1 - t0):,.0f}/s, applied (copy and "
      f"read store) at {end / (t2 - t0):,.0f}/s")
PY

common=(--config "$tmp/primary.toml" --data "$tmp/primary" --writer "ipc://$tmp/primary-writer.sock"
  --keys "$keys" --value-size 100 --duration "$duration" --warmup 1 --json)
row() {  # label op json
  /usr/bin/python3 -c "
import json, sys
r = json.loads(sys.argv[3])[sys.argv[2]]
print(f\"{sys.argv[1]:<22} {r['per_sec']:>12,.0f} {r['latency_us']['p50'] / 1000:>9.3f} {r['latency_us']['p99'] / 1000:>9.3f}\")
" "$1" "$2" "$3"
}
printf '%-22s %12s %9s %9s\n' "row" "per second" "p50 ms" "p99 ms"
for round in $(seq 1 "$rounds"); do
  for host in primary replica; do
    reader="ipc://$tmp/$host-reader0.sock"
    json=$("$cqrs" load "${common[@]}" --reader "$reader" --mix get=1 --clients 8 --pipeline 16 2> /dev/null)
    row "get on $host ($round)" get "$json"
    json=$("$cqrs" load "${common[@]}" --reader "$reader" --mix rmw=1 --clients 1 --pipeline 1 2> /dev/null)
    row "visible on $host ($round)" visible "$json"
  done
done
