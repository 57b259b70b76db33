#!/usr/bin/env bash
# How fast cqrs-mirror publishes the event log to NATS JetStream, by segment size: `cqrs up`
# (nosync, no mirror) on a fresh temp dir fills --events events (upserts of 100-byte values over
# 100k keys); then, for each --sizes value in turn and --rounds times, a cqrs-mirror publishes the
# whole log into a stream of its own on one local nats-server (JetStream, file storage, 1
# replica) and the time from its start to the stream's tip reaching the log's end is taken. It
# prints events/s, messages and the mirror's CPU per event.
#
#   bench/mirror.sh [--build DIR] [--events N] [--sizes "69632 262144 1048576"] [--rounds R]
set -euo pipefail
build=build events=500000 sizes="69632 262144 1048576" rounds=3
while [[ $# -gt 0 ]]; do
  case "$1" in
    --build) build=$2; shift 2 ;;
    --events) events=$2; shift 2 ;;
    --sizes) sizes=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    -h|--help) sed -n '2,9p' "$0"; exit 0 ;;
    *) echo "mirror.sh: unknown argument $1 (try --help)" >&2; exit 2 ;;
  esac
done
source "$(dirname "$0")/nats_lib.sh" cqrs-mirror cqrs-mirror
printf 'base_port = %d\nlog_level = "warn"\n[writer]\ndurability = "nosync"\n[reader]\ncount = 1\n' \
  "$base" > "$tmp/cqrs.toml"
flags=(--config "$tmp/cqrs.toml" --data "$tmp/data")
"$cqrs" up --quiet "${flags[@]}" 2>> "$tmp/up.log" &
up=$!
pids="$up $pids"
until "$cqrs" scan "${flags[@]}" --timeout 1000 load > /dev/null 2>&1; do sleep 0.1; done
echo "mirror.sh: writing $events events" >&2
"$cqrs" load "${flags[@]}" --mix put=1 --requests "$events" --keys 100000 --value-size 100 \
  --clients 8 --pipeline 64 --warmup 0 --json > /dev/null 2>> "$tmp/load.log"
stat() { "$cqrs" stats --json "${flags[@]}" | /usr/bin/python3 -c "import json,sys; print(json.load(sys.stdin)['$1'])"; }
mirror_row() { "$cqrs" stats --json "${flags[@]}" | /usr/bin/python3 -c "import json,sys; print(next((p['$1'] for p in json.load(sys.stdin)['processes'] if p['role']=='nats'), 0))"; }
end=$(stat committed_seq)
printf '%-10s %8s %12s %10s %12s %16s\n' "bytes" "round" "events/s" "messages" "events/msg" "mirror CPU µs/event"
for round in $(seq 1 "$rounds"); do
  for size in $sizes; do
    stream="b${round}s${size}"
    cfg="$tmp/mirror-$stream.toml"
    { cat "$tmp/cqrs.toml"; printf '[mirror]\nnats = "nats://127.0.0.1:%d"\nstream = "%s"\nreplicas = 1\nmax_message_bytes = %d\n' \
        "$nats_port" "$stream" "$size"; } > "$cfg"
    before=$(mirror_row batches)  # the slot's counters go on across mirrors
    t0=$(date +%s.%N)
    "$build/bin/cqrs-mirror" --config "$cfg" --data "$tmp/data" 2>> "$tmp/mirror.log" &
    mirror=$!
    pids="$mirror $pids"
    # Its own slot first (it then zeroes the published seq until it has read the tip).
    until [[ $(mirror_row pid) == "$mirror" ]]; do sleep 0.01; done
    until [[ $(stat mirrored_seq) -ge $end ]]; do sleep 0.05; done
    t1=$(date +%s.%N)
    ticks=$(awk '{print $14 + $15}' "/proc/$mirror/stat")
    messages=$(($(mirror_row batches) - before))
    kill "$mirror"; wait "$mirror" 2> /dev/null || true; pids=${pids#"$mirror "}
    /usr/bin/python3 - "$size" "$round" "$end" "$t0" "$t1" "$messages" "$ticks" "$(getconf CLK_TCK)" << 'PY'
import sys
size, rnd, end, t0, t1, messages, ticks, hz = sys.argv[1:]
seconds = float(t1) - float(t0)
end, messages = int(end), int(messages)
print(f"{size:<10} {rnd:>8} {end / seconds:>12,.0f} {messages:>10,} {end / max(messages, 1):>12,.0f} "
      f"{1e6 * int(ticks) / int(hz) / end:>16.2f}")
PY
  done
done
