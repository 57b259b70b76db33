# Sourced by the NATS benchmarks (bench/mirror.sh, bench/replica.sh) after their argument parsing:
# checks the build has `cqrs` and the binary $1, then makes a temp dir ($tmp, prefix $2), removed
# at exit with every pid in $pids killed, picks $base (the cqrs base port) and $nats_port, and
# starts one local nats-server with JetStream (file storage in $tmp/js).
bench_name=$(basename "$0")
cqrs="$build/bin/cqrs"
[[ -x $cqrs && -x $build/bin/$1 ]] || { echo "$bench_name: build first (make build)" >&2; exit 2; }
nats_server=$(command -v nats-server || echo /usr/sbin/nats-server)
[[ -x $nats_server ]] || { echo "$bench_name: nats-server is missing (scripts/install-deps)" >&2; exit 2; }
tmp=$(mktemp -d "/tmp/$2-XXXXXX")
pids=""
cleanup() {
  for p in $pids; do kill "$p" 2> /dev/null || true; done
  wait 2> /dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT
base=$((20000 + RANDOM % 30000))
nats_port=$((base + 50))
"$nats_server" -js -a 127.0.0.1 -p "$nats_port" -sd "$tmp/js" > "$tmp/nats.log" 2>&1 &
pids="$!"
