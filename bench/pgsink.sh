#!/usr/bin/env bash
# The PostgreSQL query side measured in one run on this host: a private PostgreSQL cluster
# (Debian's initdb in a temp dir, unix socket only, synchronous_commit = on, fsync on) and a
# `cqrs up` (writer in sync mode) of examples/orders-postgresql.toml's declarations:
#   sink:  `cqrs load --shape orders` writes for --duration s, the sink not running; half way
#          cqrs-pgsink starts and applies the live log (the backlog, and what the writer adds
#          meanwhile): its events/s until it is level with the writer or the load ends, beside
#          the writer's durable events/s
#   lag:   a fresh pipeline, the sink running, the writer open loop at half the rate it reached
#          above: each batch's lag from the writer's commit to the sink's COMMIT (cqrs stats,
#          buckets doubling: "≤")
#   query: one question asked of PostgreSQL (pgbench) and of the LMDB read models (cqrs load),
#          --clients connections each with one query in flight: a page of 10 orders of one
#          status in key order (SQL on the sink's table; cqrs Find on the status index), and the
#          count per status (SQL GROUP BY; the by_status aggregate)
# Every process shares the same cores: read the figures as ratios of one run.
#
#   bench/pgsink.sh [--build DIR] [--duration S] [--keys K] [--clients N] [--rounds R]
set -euo pipefail
build=build duration=20 keys=200000 clients=4 rounds=2
while [[ $# -gt 0 ]]; do
  case "$1" in
    --build) build=$2; shift 2 ;;
    --duration) duration=$2; shift 2 ;;
    --keys) keys=$2; shift 2 ;;
    --clients) clients=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    -h|--help) sed -n '2,21p' "$0"; exit 0 ;;
    *) echo "pgsink.sh: unknown argument $1 (try --help)" >&2; exit 2 ;;
  esac
done
cqrs="$build/bin/cqrs"
[[ -x $cqrs && -x $build/bin/cqrs-pgsink ]] || { echo "pgsink.sh: build first (make build)" >&2; exit 2; }
pgbin=$(ls -d /usr/lib/postgresql/*/bin 2> /dev/null | sort -V | tail -1)
[[ -x $pgbin/initdb ]] || { echo "pgsink.sh: PostgreSQL is missing (scripts/install-deps)" >&2; exit 2; }

tmp=$(mktemp -d /tmp/cqrs-pgsink-XXXXXX)
pg=$tmp/pg
as_owner=()
mkdir -p "$pg"
if [[ $(id -u) -eq 0 ]]; then
  chown postgres: "$pg"
  chmod 755 "$tmp"
  as_owner=(runuser -u postgres --)
fi
pids=""
cleanup() {
  for p in $pids; do kill "$p" 2> /dev/null || true; done
  wait 2> /dev/null || true
  "${as_owner[@]}" "$pgbin/pg_ctl" -D "$pg/data" -m immediate stop > /dev/null 2>&1 || true
  rm -rf "$tmp"
}
trap cleanup EXIT
"${as_owner[@]}" "$pgbin/initdb" -D "$pg/data" -U postgres -A trust -E UTF8 --locale=C > "$tmp/initdb.log" 2>&1
printf "listen_addresses = ''\nunix_socket_directories = '%s'\nsynchronous_commit = on\n" "$pg" |
  "${as_owner[@]}" tee -a "$pg/data/postgresql.conf" > /dev/null
"${as_owner[@]}" "$pgbin/pg_ctl" -D "$pg/data" -l "$pg/server.log" -w start > /dev/null
dsn="host=$pg port=5432 user=postgres dbname=postgres"
psql=("$pgbin/psql" -X -q -At -d "$dsn")
echo "pgsink.sh: PostgreSQL $("${psql[@]}" -c 'SHOW server_version'), synchronous_commit $("${psql[@]}" -c 'SHOW synchronous_commit'), fsync $("${psql[@]}" -c 'SHOW fsync')" >&2

# A config per data dir: endpoints in the temp dir; `sink` adds [postgresql].
config() {  # name with_sink
  printf 'log_level = "warn"\n[writer]\nendpoint = "ipc://%s/%s-writer.sock"\n' "$tmp" "$1"
  printf '[projector]\nevents_endpoint = "ipc://%s/%s-events.sock"\n' "$tmp" "$1"
  printf 'replay_endpoint = "ipc://%s/%s-replay.sock"\n' "$tmp" "$1"
  printf '[reader]\nendpoints = ["ipc://%s/%s-reader0.sock"]\n' "$tmp" "$1"
  sed -n '/^\[\[collections\]\]/,/^]/p' examples/orders.toml
  if [[ $2 == sink ]]; then
    printf '[postgresql]\ndsn = "%s"\n' "$dsn"
    sed -n '/^\[\[postgresql.tables\]\]/,$p' examples/orders-postgresql.toml
  fi
}
stat() {  # data config key
  "$cqrs" stats --json --data "$1" --config "$2" 2> /dev/null |
    /usr/bin/python3 -c "import json,sys; print(json.load(sys.stdin)['$3'])" 2> /dev/null || echo 0
}
up() {  # name config
  "$cqrs" up --quiet --config "$2" --data "$tmp/$1" 2>> "$tmp/$1-up.log" &
  pids="$! $pids"
  until "$cqrs" scan --config "$2" --data "$tmp/$1" --timeout 1000 orders > /dev/null 2>&1; do sleep 0.1; done
}
load=(--collection orders --shape orders --keys "$keys" --value-size 100 --json)

# sink: the live log, the sink started half way through the load.
config a plain > "$tmp/a.toml"
config a sink > "$tmp/a-sink.toml"
up a "$tmp/a.toml"
echo "pgsink.sh: writing for ${duration}s; the sink starts after $((duration / 2))s" >&2
"$cqrs" load --config "$tmp/a.toml" --data "$tmp/a" "${load[@]}" --mix put=1 --clients 8 \
  --pipeline 64 --warmup 0 --duration "$duration" > "$tmp/load.json" 2>> "$tmp/load.log" &
loader=$!
sleep $((duration / 2))
"$build/bin/cqrs-pgsink" --config "$tmp/a-sink.toml" --data "$tmp/a" 2>> "$tmp/sink.log" &
sink=$!
pids="$sink $pids"
t0=$(date +%s.%N)
c0=$(stat "$tmp/a" "$tmp/a.toml" committed_seq)
applied=0
while kill -0 "$loader" 2> /dev/null; do
  sleep 0.2
  applied=$(stat "$tmp/a" "$tmp/a.toml" postgresql_applied_seq)
  committed=$(stat "$tmp/a" "$tmp/a.toml" committed_seq)
  t1=$(date +%s.%N)
  [[ $applied -ge $committed ]] && break
done
wait "$loader" || true
/usr/bin/python3 - "$tmp/load.json" "$c0" "$applied" "$committed" "$t0" "$t1" << 'PY'
import json, sys
load = json.load(open(sys.argv[1]))
c0, applied, committed = map(int, sys.argv[2:5])
t0, t1 = map(float, sys.argv[5:7])
writer = load["put"]["per_sec"]
sink = applied / (t1 - t0)
level = "level with the writer" if applied >= committed else f"{committed - applied:,} behind"
print(f"writer (sync, 8 × 64 in flight): {writer:,.0f} events/s")
print(f"sink from the live log: {applied:,} events in {t1 - t0:.1f} s = {sink:,.0f} events/s "
      f"(backlog {c0:,} at its start; then {level}); sink / writer = {sink / writer:.2f}")
PY
writer_rate=$(/usr/bin/python3 -c "import json; print(int(json.load(open('$tmp/load.json'))['put']['per_sec']))")
kill "$sink" 2> /dev/null || true
"${psql[@]}" -c "SELECT 'orders rows: ' || count(*) FROM orders" >&2

# lag: a fresh pipeline with the sink, the writer at half its rate.
config b sink > "$tmp/b.toml"
up b "$tmp/b.toml"
half=$((writer_rate / 2))
"${psql[@]}" -c "DELETE FROM cqrs_checkpoint; DROP TABLE orders" > /dev/null
"$cqrs" load --config "$tmp/b.toml" --data "$tmp/b" "${load[@]}" --mix put=1 --clients 8 \
  --pipeline 64 --warmup 1 --duration "$duration" --rate "$half" > "$tmp/lag-load.json" 2>> "$tmp/load.log"
"$cqrs" stats --json --config "$tmp/b.toml" --data "$tmp/b" 2> /dev/null > "$tmp/lag-stats.json"
/usr/bin/python3 - "$tmp/lag-load.json" "$tmp/lag-stats.json" "$half" << 'PY'
import json, sys
load, stats = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
sink = [p for p in stats["processes"] if p["role"] == "postgresql"][0]
print(f"lag at {int(sys.argv[3]):,} events/s asked ({load['put']['per_sec']:,.0f} done): "
      f"commit → PostgreSQL COMMIT p50 ≤{sink['latency_us_p50'] / 1000:.1f} ms, "
      f"p99 ≤{sink['latency_us_p99'] / 1000:.1f} ms")
PY

# query: the same questions of PostgreSQL and of the read models.
cat > "$tmp/find.sql" << 'SQL'
\set s random(1, 5)
SELECT key, entity FROM orders WHERE status = (ARRAY['open','paid','shipped','delivered','cancelled'])[:s] ORDER BY key LIMIT 10;
SQL
cat > "$tmp/agg.sql" << 'SQL'
SELECT status, count(*) FROM orders GROUP BY status;
SQL
pgbench_row() {  # label script
  rm -f "$tmp"/pgbench_log.*
  (cd "$tmp" && "$pgbin/pgbench" -n -f "$2" -c "$clients" -j 2 -T 5 -l --log-prefix=pgbench_log \
    -h "$pg" -p 5432 -U postgres postgres > "$tmp/pgbench.out" 2>&1)
  /usr/bin/python3 - "$1" "$tmp" << 'PY'
import glob, sys
lat = sorted(int(line.split()[2]) for f in glob.glob(sys.argv[2] + "/pgbench_log.*") for line in open(f))
tps = [l for l in open(sys.argv[2] + "/pgbench.out") if l.startswith("tps")][0].split()[2]
print(f"{sys.argv[1]:<34} {float(tps):>12,.0f} {lat[len(lat) // 2] / 1000:>9.3f} {lat[len(lat) * 99 // 100] / 1000:>9.3f}")
PY
}
cqrs_row() {  # label op
  json=$("$cqrs" load --config "$tmp/b.toml" --data "$tmp/b" "${load[@]}" --mix "$2=1" \
    --clients "$clients" --pipeline 1 --duration 5 --warmup 1 --reader "ipc://$tmp/b-reader0.sock" 2> /dev/null)
  /usr/bin/python3 -c "
import json, sys
r = json.loads(sys.argv[3])[sys.argv[2]]
print(f\"{sys.argv[1]:<34} {r['per_sec']:>12,.0f} {r['latency_us']['p50'] / 1000:>9.3f} {r['latency_us']['p99'] / 1000:>9.3f}\")
" "$1" "$2" "$json"
}
echo "queries over $("${psql[@]}" -c 'SELECT count(*) FROM orders') orders, $clients connections, one query in flight each"
printf '%-34s %12s %9s %9s\n' "row" "per second" "p50 ms" "p99 ms"
for round in $(seq 1 "$rounds"); do
  pgbench_row "page of a status: SQL ($round)" "$tmp/find.sql"
  cqrs_row "page of a status: cqrs find ($round)" find
  pgbench_row "count by status: SQL ($round)" "$tmp/agg.sql"
  cqrs_row "count by status: cqrs agg ($round)" agg
done
