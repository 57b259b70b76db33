#!/usr/bin/env bash
# Writer recovery times (issue #16), on one fresh data dir:
#   1. `cqrs up` (sync durability, a state checkpoint every --checkpoint events), --events
#      Upserts over --keys uniform keys;
#   2. kill -9 of the writer under a running load: seconds from the kill until a write is
#      acknowledged again (`cqrs up` restarts it; the state applies the log after its state_seq);
#   3. faked machine restart: the pipeline stopped, the state's `unsynced` guard set to another
#      boot, the writer started alone: seconds until it serves (newest checkpoint + the log after
#      it), then the same with the checkpoints moved away (the whole log).
# Prints one JSON line per measurement.
#
#   bench/recovery.sh [--build DIR] [--events N] [--keys K] [--checkpoint N]
set -euo pipefail
build=build events=10000000 keys=1000000 checkpoint=1000000
while [[ $# -gt 0 ]]; do
  case "$1" in
    --build) build=$2; shift 2 ;;
    --events) events=$2; shift 2 ;;
    --keys) keys=$2; shift 2 ;;
    --checkpoint) checkpoint=$2; shift 2 ;;
    -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
    *) echo "recovery.sh: unknown argument $1 (try --help)" >&2; exit 2 ;;
  esac
done
for n in "$events" "$keys" "$checkpoint"; do
  [[ $n =~ ^[1-9][0-9]*$ ]] || { echo "recovery.sh: '$n' is not a positive integer" >&2; exit 2; }
done
cqrs="$build/bin/cqrs" writer="$build/bin/cqrs-writer"
[[ -x $cqrs && -x $writer ]] || { echo "recovery.sh: build first (make build)" >&2; exit 2; }
tmp=$(mktemp -d /tmp/cqrs-recovery-XXXXXX)
up="" solo=""
cleanup() {
  [[ -n $up ]] && kill "$up" 2> /dev/null
  [[ -n $solo ]] && kill "$solo" 2> /dev/null
  wait 2> /dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT
base=$((20000 + RANDOM % 30000))
data="$tmp/data"
printf '[writer]\ncheckpoint_interval_events = %s\ncheckpoint_interval_s = 0\n' "$checkpoint" \
  > "$tmp/config.toml"
flags=(--config "$tmp/config.toml" --data "$data" --base-port "$base")
now() { date +%s.%N; }
log() { echo "recovery.sh: $*" >&2; }

"$cqrs" up "${flags[@]}" --quiet > "$tmp/up.log" 2>&1 &
up=$!
until "$cqrs" put warm w n=1 "${flags[@]}" > /dev/null 2>&1; do sleep 0.2; done
log "filling: $events upserts over $keys keys"
start=$(now)
"$cqrs" load "${flags[@]}" --mix put=1 --clients 50 --pipeline 16 --keys "$keys" \
  --requests "$events" --warmup 0 --json > "$tmp/fill.json"
echo "{\"step\":\"fill\",\"events\":$events,\"seconds\":$(echo "$(now) - $start" | bc)}"

# kill -9 under load.
"$cqrs" load "${flags[@]}" --mix put=1 --clients 8 --pipeline 16 --keys "$keys" --duration 6 \
  --warmup 0 --json > "$tmp/under_kill.json" 2> /dev/null &
load=$!
sleep 2
pid=$(pgrep -f "cqrs-writer.*$data" | head -1)
killed=$(now)
kill -9 "$pid"
until "$cqrs" put after kill n=1 "${flags[@]}" > /dev/null 2>&1; do sleep 0.01; done
echo "{\"step\":\"kill -9 under load\",\"seconds_to_serve\":$(echo "$(now) - $killed" | bc)}"
wait "$load" || true

# Faked machine restart: stop, mark the state as of another boot, start the writer alone.
kill -INT "$up"
wait "$up" || true
up=""
head=$(grep -o '"ok":[0-9]*' "$tmp/fill.json" | head -1)
measure() {  # $1: label
  echo "another-boot" > "$data/write/state/unsynced"
  rm -f "$tmp/endpoint"
  local started
  started=$(now)
  "$writer" --data "$data" --endpoint "ipc://$tmp/writer.sock" --endpoint-file "$tmp/endpoint" \
    --log-level warn > "$tmp/$1.log" 2>&1 &
  solo=$!
  until [[ -s $tmp/endpoint ]]; do
    kill -0 "$solo" 2> /dev/null || { cat "$tmp/$1.log" >&2; exit 1; }
    sleep 0.01
  done
  local seconds applied
  seconds=$(echo "$(now) - $started" | bc)
  applied=$(grep -o 'entity state rebuilt: [0-9]* events[^"]*' "$tmp/$1.log" | head -1)
  echo "{\"step\":\"$1\",\"seconds_to_serve\":$seconds,\"log\":\"$applied\"}"
  kill -TERM "$solo"
  wait "$solo" || true
  solo=""
}
log "fill: $head"
measure "faked reboot, newest checkpoint + tail"
mv "$data/write/checkpoints" "$tmp/checkpoints.away"
measure "faked reboot, whole log"
