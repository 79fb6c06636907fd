#!/usr/bin/env bash
# The WebSocket fan-out benchmark: SUBSCRIBERS idle `commentAdded`
# subscribers (all of one subscription) on one instance, then writes; and
# the PostgreSQL hop between two instances. Prints what BENCHMARKS.md
# records.
#
# Env: SUBSCRIBERS (10000); SOURCES, how many loopback source addresses the
# subscribers spread over, from 127.0.0.2 on, new ones for each scenario (1 +
# SUBSCRIBERS / 20000: one address has ~28,000 ephemeral ports; a run
# started within a minute of another finds their ports in TIME_WAIT and
# connects slowly); SERVER, another server binary to
# measure (an older build, for before and after) and CLIENT, a built
# ws-fanout (with both, nothing is built); PORT_BASE (18391);
# SCENARIOS (`sqlite postgres hop`); PG_ADMIN.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
SUBSCRIBERS=${SUBSCRIBERS:-10000}
SOURCES=${SOURCES:-$((1 + SUBSCRIBERS / 20000))}
PORT_BASE=${PORT_BASE:-18391}
SCENARIOS=${SCENARIOS:-sqlite postgres hop}
PG_ADMIN=${PG_ADMIN:-postgres://postgres@127.0.0.1:5432/postgres}

# Each connection is a file descriptor in the server and one in the client.
want=$((SUBSCRIBERS + 1024))
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt "$want" ]; then
  ulimit -n "$want" 2>/dev/null || {
    echo "cannot raise open files to $want (hard limit $(ulimit -Hn)); lower SUBSCRIBERS or raise the limit" >&2
    exit 1
  }
fi

work=$(mktemp -d)
if [ -z "${SERVER:-}" ] || [ -z "${CLIENT:-}" ]; then
  cargo build --release --quiet --bin conduit-gateway --example ws-fanout
fi
server=${SERVER:-"$root/target/release/conduit-gateway"}
client=${CLIENT:-"$root/target/release/examples/ws-fanout"}
pids=()
cleanup() { kill "${pids[@]}" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

serve() {  # port database-url
  "$server" serve --listen "127.0.0.1:$1" --database-url "$2" \
    --ws-max-connections $((SUBSCRIBERS + 1000)) --ws-max-connections-per-client $((SUBSCRIBERS + 1000)) \
    --ws-max-total-subscriptions $((SUBSCRIBERS + 1000)) > "$work/$1.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 1 100); do curl -sf -o /dev/null "http://127.0.0.1:$1/healthz" && return; sleep 0.2; done
  echo "server on $1 did not start" >&2; exit 1
}

a=$PORT_BASE b=$((PORT_BASE + 1)) s=$((PORT_BASE + 2))
pg_db=conduit_ws_bench_$PORT_BASE
psql "$PG_ADMIN" -q -c "DROP DATABASE IF EXISTS $pg_db WITH (FORCE)" -c "CREATE DATABASE $pg_db"
pg_url="${PG_ADMIN%/*}/$pg_db"
serve "$a" "$pg_url"
serve "$b" "$pg_url"
serve "$s" "sqlite://$work/ws.db?mode=rwc"
pid_of() { pgrep -f "listen 127.0.0.1:$1 "; }
# Each scenario connects from source addresses of its own: the previous
# one's ports sit in TIME_WAIT for a minute, and binding beside 10,000 of
# them made the next scenario's connecting take 16-26 s instead of 2.
first_source=2
fanout() {  # subscribe-port write-port
  local sources
  sources=$(seq -s, -f '127.0.0.%g' "$first_source" $((first_source + SOURCES - 1)))
  first_source=$((first_source + SOURCES))
  "$client" --subscribe-to "127.0.0.1:$1" --write-to "127.0.0.1:$2" --subscribers "$SUBSCRIBERS" \
    --writes 5 --server-pid "$(pid_of "$1")" --source-addresses "$sources"
  echo "server /metrics: $(curl -s "http://127.0.0.1:$1/metrics" | grep -E '^conduit_subscription_(executions|deliveries)_total' | tr '\n' ' ')"
}

for scenario in $SCENARIOS; do
  case $scenario in
    sqlite)
      echo "## $SUBSCRIBERS subscribers, one instance, SQLite (in-process bus), from $SOURCES source addresses"
      fanout "$s" "$s" ;;
    postgres)
      echo "## $SUBSCRIBERS subscribers on instance A, written through instance B, PostgreSQL (LISTEN/NOTIFY)"
      fanout "$a" "$b" ;;
    hop)
      echo "## the PostgreSQL hop, 100 subscribers, 10 writes each"
      for case in "SQLite in-process:$s:$s" "PostgreSQL, same instance:$a:$a" "PostgreSQL, other instance:$a:$b"; do
        IFS=: read -r name sub write <<< "$case"
        printf '%-28s ' "$name"
        "$client" --subscribe-to "127.0.0.1:$sub" --write-to "127.0.0.1:$write" --subscribers 100 --writes 10 \
          | awk '/^write/ { gsub(",", "", $8); print $8 }' | sort -n | awk '{ v[NR] = $1 } END { printf "median of the writes'"'"' p50: %.1f ms\n", v[int((NR + 1) / 2)] }'
      done ;;
  esac
done
psql "$PG_ADMIN" -q -c "DROP DATABASE IF EXISTS $pg_db WITH (FORCE)"
