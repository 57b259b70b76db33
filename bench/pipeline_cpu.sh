#!/usr/bin/env bash
# Where the CPU of a loaded pipeline goes, per request: `cqrs up` (writer, projector, --readers)
# on a fresh temp dir over tcp loopback, --keys keys filled in order, then a closed-loop
# `cqrs load --mix MIX` of --clients x --pipeline; over the middle of the run it reads each
# process's user+system CPU time from /proc and prints, per process, the share of a core it took
# and its CPU microseconds per completed request, and the machine's idle share.
#
#   bench/pipeline_cpu.sh [--build DIR] [--durability sync|nosync] [--mix MIX] [--clients N]
#                         [--pipeline P] [--query-batch B] [--command-batch B] [--keys K]
#                         [--duration S] [--readers N (default 2)]
set -euo pipefail
build=build durability=sync mix=put=1 clients=50 pipeline=16 query_batch=64 command_batch=64 keys=1000000 duration=10
readers=2
while [[ $# -gt 0 ]]; do
  case "$1" in
    --build) build=$2; shift 2 ;;
    --durability) durability=$2; shift 2 ;;
    --mix) mix=$2; shift 2 ;;
    --clients) clients=$2; shift 2 ;;
    --pipeline) pipeline=$2; shift 2 ;;
    --query-batch) query_batch=$2; shift 2 ;;
    --command-batch) command_batch=$2; shift 2 ;;
    --keys) keys=$2; shift 2 ;;
    --duration) duration=$2; shift 2 ;;
    --readers) readers=$2; shift 2 ;;
    -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
    *) echo "pipeline_cpu.sh: unknown argument $1 (try --help)" >&2; exit 2 ;;
  esac
done
[[ $durability == sync || $durability == nosync ]] \
  || { echo "pipeline_cpu.sh: --durability must be sync or nosync" >&2; exit 2; }
((duration >= 4)) || { echo "pipeline_cpu.sh: --duration must be at least 4 (s)" >&2; exit 2; }
cqrs="$build/bin/cqrs"
[[ -x $cqrs ]] || { echo "pipeline_cpu.sh: build first (make build)" >&2; exit 2; }
py=/usr/bin/python3
tmp=$(mktemp -d /tmp/cqrs-cpu-XXXXXX)
up="" load=""
cleanup() {
  [[ -n $load ]] && kill "$load" 2> /dev/null
  [[ -n $up ]] && kill "$up" 2> /dev/null
  wait 2> /dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT
base=$((20000 + RANDOM % 30000))
printf 'base_port = %d\nlog_level = "warn"\n[writer]\ndurability = "%s"\n[reader]\ncount = %d\n' \
  "$base" "$durability" "$readers" > "$tmp/cqrs.toml"
flags=(--config "$tmp/cqrs.toml" --data "$tmp/data")
"$cqrs" up --quiet "${flags[@]}" 2>> "$tmp/up.log" &
up=$!
until "$cqrs" scan "${flags[@]}" --timeout 1000 load > /dev/null 2>&1; do sleep 0.1; done
echo "pipeline_cpu.sh: filling $keys keys" >&2
"$cqrs" load "${flags[@]}" --mix put=1 --distribution sequential --requests "$keys" \
  --keys "$keys" --clients 4 --pipeline 64 --warmup 0 --json > /dev/null 2>> "$tmp/load.log"
echo "pipeline_cpu.sh: $readers readers, $mix, $clients x $pipeline (query batch $query_batch, command batch $command_batch) for $duration s" >&2
"$cqrs" load "${flags[@]}" --mix "$mix" --keys "$keys" --clients "$clients" \
  --pipeline "$pipeline" --query-batch "$query_batch" \
  --command-batch "$command_batch" --value-size 100 --duration "$duration" --warmup 0 --json \
  > "$tmp/load.json" 2>> "$tmp/load.log" &
load=$!

# pid name for every process of the pipeline and the load generator
processes() {
  local pid
  for pid in $(pgrep -P "$up") "$load"; do
    printf '%s %s\n' "$pid" "$(basename "$(tr '\0' ' ' < "/proc/$pid/cmdline" | cut -d' ' -f1)")"
  done
}
# pid cpu_ticks for each process; then the machine's idle ticks
sample() {
  local pid name
  while read -r pid name; do
    printf '%s %s\n' "$pid" "$(awk '{print $14 + $15}' "/proc/$pid/stat")"
  done < "$tmp/processes"
  awk '/^cpu /{print "idle", $5 + $6}' /proc/stat
}
sleep 1
processes > "$tmp/processes"
sample > "$tmp/before"
t0=$(date +%s.%N)
sleep $((duration - 3))
sample > "$tmp/after"
t1=$(date +%s.%N)
wait "$load"
load=""
$py - "$tmp" "$t0" "$t1" "$(getconf CLK_TCK)" "$(nproc)" << 'PY'
import json, sys
tmp, t0, t1, hz, cores = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
report = json.load(open(f"{tmp}/load.json"))
op, result = next((k, v) for k, v in report.items() if isinstance(v, dict))
rate = result["per_sec"]
names = dict(line.split() for line in open(f"{tmp}/processes"))
before = dict(line.split() for line in open(f"{tmp}/before"))
after = dict(line.split() for line in open(f"{tmp}/after"))
seconds = t1 - t0
print(f"{op}: {rate:,.0f}/s (p50 {result['latency_us']['p50'] / 1000:.2f} ms, "
      f"p99 {result['latency_us']['p99'] / 1000:.2f} ms)")
print(f"{'process':<16} {'% of a core':>12} {'CPU us/request':>15}")
total = 0.0
for pid, name in names.items():
    cpu = (int(after[pid]) - int(before[pid])) / hz
    total += cpu
    print(f"{name:<16} {100 * cpu / seconds:>12.0f} {1e6 * cpu / (rate * seconds):>15.1f}")
print(f"{'all of them':<16} {100 * total / seconds:>12.0f} {1e6 * total / (rate * seconds):>15.1f}")
idle = (int(after['idle']) - int(before['idle'])) / hz
print(f"machine idle: {100 * idle / (seconds * cores):.0f} % of {cores} cores")
PY
