#!/usr/bin/env bash
# Retention of the event log, measured side by side in one run (docs/BENCHMARKS.md, "Retention").
#
# 1. Size over a run: for each setting, `cqrs up` (writer sync) on a fresh temp dir and
#    `cqrs load --mix put=1` for --duration seconds over --keys keys (values of --value-size),
#    sampling `cqrs log status --json` every --every seconds. Settings:
#      keep-all:  no [log] rule (every event kept)
#      retention: [log] keep_events = --keep (checkpoints every --keep / 2 events or second)
#    One JSON line per sample: setting, t, last_seq, events kept, file MiB; then one per setting
#    with the put rate.
# 2. A new read store, for each --entities N: N entities (Upserts of keys 0..N-1, each key twice:
#    2N events, writer nosync), then `cqrs rebuild` from the whole log; then the pipeline
#    restarted with [log] keep_events = --keep, so that retention removes all but the tail, and
#    `cqrs rebuild` again, now seeded from the newest state checkpoint plus the tail. One JSON
#    line per rebuild: entities, events, from ("whole log" or "checkpoint"), seconds.
#
#   bench/retention.sh [--build DIR] [--duration S] [--every S] [--keys K] [--value-size B]
#                      [--keep N] [--entities "N ..."] [--skip-size] [--skip-rebuild]
set -euo pipefail
build=build duration=60 every=5 keys=100000 value_size=100 keep=200000 entities="1000000"
skip_size=0 skip_rebuild=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    --build) build=$2; shift 2 ;;
    --duration) duration=$2; shift 2 ;;
    --every) every=$2; shift 2 ;;
    --keys) keys=$2; shift 2 ;;
    --value-size) value_size=$2; shift 2 ;;
    --keep) keep=$2; shift 2 ;;
    --entities) entities=$2; shift 2 ;;
    --skip-size) skip_size=1; shift ;;
    --skip-rebuild) skip_rebuild=1; shift ;;
    -h|--help) sed -n '2,19p' "$0"; exit 0 ;;
    *) echo "retention.sh: unknown argument $1 (try --help)" >&2; exit 2 ;;
  esac
done
cqrs="$build/bin/cqrs"
[[ -x $cqrs ]] || { echo "retention.sh: build first (make build)" >&2; exit 2; }
tmp=$(mktemp -d /tmp/cqrs-retention-XXXXXX)
up=""
cleanup() { [[ -n $up ]] && kill "$up" 2> /dev/null; wait 2> /dev/null; rm -rf "$tmp"; }
trap cleanup EXIT
base=$((20000 + RANDOM % 30000))

# start_up CONFIG_TEXT: a pipeline on $tmp/data with that config; sets flags and up.
start_up() {
  printf 'base_port = %d\nlog_level = "warn"\n%s\n' "$base" "$1" > "$tmp/cqrs.toml"
  flags=(--config "$tmp/cqrs.toml" --data "$tmp/data")
  "$cqrs" up --quiet "${flags[@]}" 2>> "$tmp/up.log" &
  up=$!
  until "$cqrs" scan "${flags[@]}" --timeout 1000 load > /dev/null 2>&1; do sleep 0.1; done
}
stop_up() { kill "$up"; wait "$up" || true; up=""; }
# field NAME JSON: a number of a one-line JSON object.
field() { sed -n "s/.*\"$1\":\([0-9]*\).*/\1/p" <<< "$2"; }
# applied SEQ: waits until the projector applied SEQ (exit 3 of get: not yet).
applied() {
  while :; do
    rc=0
    "$cqrs" get "${flags[@]}" --min-seq "$1" --wait 1000 load k0000000000 > /dev/null 2>&1 || rc=$?
    [[ $rc == 3 ]] || break
  done
}

if [[ $skip_size == 0 ]]; then
  for setting in keep-all retention; do
    rm -rf "$tmp/data"
    config=$'[writer]\ncheckpoint_interval_s = 1'
    [[ $setting == retention ]] &&
      config+=$'\n'"checkpoint_interval_events = $((keep / 2))"$'\n[log]\n'"keep_events = $keep"
    start_up "$config"
    "$cqrs" load "${flags[@]}" --mix put=1 --keys "$keys" --value-size "$value_size" \
      --clients 8 --pipeline 64 --warmup 0 --duration "$duration" --json > "$tmp/load.json" 2>&1 &
    load=$!
    for ((t = every; t <= duration; t += every)); do
      sleep "$every"
      s=$("$cqrs" log status "${flags[@]}" --json)
      first=$(field first_seq "$s") last=$(field last_seq "$s") bytes=$(field file_bytes "$s")
      awk -v set="$setting" -v t="$t" -v f="$first" -v l="$last" -v b="$bytes" 'BEGIN {
        printf "{\"setting\":\"%s\",\"t\":%d,\"last_seq\":%d,\"events_kept\":%d,\"file_mib\":%.1f}\n",
          set, t, l, l - f + 1, b / 1048576 }'
    done
    wait "$load" || true
    rate=$(sed -n 's/.*"put":{[^}]*"per_sec":\([0-9.]*\).*/\1/p' "$tmp/load.json" | head -1)
    echo "{\"setting\":\"$setting\",\"puts_per_s\":${rate:-0}}"
    stop_up
  done
fi

if [[ $skip_rebuild == 0 ]]; then
  for n in $entities; do
    rm -rf "$tmp/data"
    start_up $'[writer]\ndurability = "nosync"\ncheckpoint_interval_s = 1'
    # Every key twice, in order: N creates, then N updates.
    for pass in 1 2; do
      "$cqrs" load "${flags[@]}" --mix put=1 --distribution sequential --keys "$n" \
        --requests "$n" --value-size "$value_size" --clients 8 --pipeline 64 --warmup 0 \
        --json > /dev/null 2>&1
    done
    events=$((2 * n))
    applied "$events"
    result=$("$cqrs" rebuild "${flags[@]}" 2> /dev/null)
    echo "{\"entities\":$n,\"events\":$events,\"from\":\"whole log\",\"seconds\":$(
      sed -n 's/.*"seconds":\([0-9.]*\).*/\1/p' <<< "$result")}"
    sleep 2  # a checkpoint at the log's end (checkpoint_interval_s)
    stop_up
    start_up $'[writer]\ndurability = "nosync"\ncheckpoint_interval_s = 1\n[log]\n'"keep_events = $keep"
    until [[ $(field first_seq "$("$cqrs" log status "${flags[@]}" --json)") -gt 1 ]]; do
      sleep 0.2
    done
    result=$("$cqrs" rebuild "${flags[@]}" 2> /dev/null)
    first=$(field first_seq "$("$cqrs" log status "${flags[@]}" --json)")
    echo "{\"entities\":$n,\"events\":$events,\"from\":\"checkpoint\",\"log_first_seq\":$first,\"seconds\":$(
      sed -n 's/.*"seconds":\([0-9.]*\).*/\1/p' <<< "$result")}"
    stop_up
  done
fi
