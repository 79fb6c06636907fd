#!/usr/bin/env bash
# The WebSocket fan-out benchmark: 10,000 idle `commentAdded` subscribers on
# one instance, then writes; and the PostgreSQL hop between two instances.
# Prints what BENCHMARKS.md records. Env: SUBSCRIBERS (10000), PG_ADMIN.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
SUBSCRIBERS=${SUBSCRIBERS:-10000}
PG_ADMIN=${PG_ADMIN:-postgres://postgres@127.0.0.1:5432/postgres}
work=$(mktemp -d)
cargo build --release --quiet --bin conduit-gateway --example ws-fanout
server="$root/target/release/conduit-gateway"
client="$root/target/release/examples/ws-fanout"
pids=()
cleanup() { kill "${pids[@]}" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

serve() {  # port database-url
  "$server" serve --listen "127.0.0.1:$1" --database-url "$2" > "$work/$1.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 1 100); do curl -sf -o /dev/null "http://127.0.0.1:$1/healthz" && return; sleep 0.2; done
  echo "server on $1 did not start" >&2; exit 1
}

pg_db=conduit_ws_bench
psql "$PG_ADMIN" -q -c "DROP DATABASE IF EXISTS $pg_db WITH (FORCE)" -c "CREATE DATABASE $pg_db"
pg_url="${PG_ADMIN%/*}/$pg_db"
serve 18091 "$pg_url"
serve 18092 "$pg_url"
serve 18093 "sqlite://$work/ws.db?mode=rwc"
pid_of() { pgrep -f "listen 127.0.0.1:$1"; }

echo "## $SUBSCRIBERS subscribers, one instance, SQLite (in-process bus)"
"$client" --subscribe-to 127.0.0.1:18093 --write-to 127.0.0.1:18093 --subscribers "$SUBSCRIBERS" --writes 5 --server-pid "$(pid_of 18093)"
echo "## $SUBSCRIBERS subscribers on instance A, written through instance B, PostgreSQL (LISTEN/NOTIFY)"
"$client" --subscribe-to 127.0.0.1:18091 --write-to 127.0.0.1:18092 --subscribers "$SUBSCRIBERS" --writes 5 --server-pid "$(pid_of 18091)"
echo "## the PostgreSQL hop, 100 subscribers, 10 writes each"
for case in "SQLite in-process:18093:18093" "PostgreSQL, same instance:18091:18091" "PostgreSQL, other instance:18091:18092"; do
  IFS=: read -r name sub write <<< "$case"
  printf '%-28s ' "$name"
  "$client" --subscribe-to "127.0.0.1:$sub" --write-to "127.0.0.1:$write" --subscribers 100 --writes 10 \
    | awk '/^write/ { gsub(",", "", $8); print $8 }' | sort -n | awk '{ v[NR] = $1 } END { printf "median of the writes'"'"' p50: %.1f ms\n", v[int((NR + 1) / 2)] }'
done
psql "$PG_ADMIN" -q -c "DROP DATABASE IF EXISTS $pg_db WITH (FORCE)"
