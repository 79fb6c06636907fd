#!/usr/bin/env bash
# The webhook delivery benchmark on PostgreSQL (issue 15's targets):
# 1. DELIVERIES (10,000) queued for one webhook whose receiver answers at
#    once: how fast the runner delivers them (target: 2,000/s or more);
# 2. the same, beside a webhook whose receiver takes 5 s per request with
#    SLOW (1,000) deliveries queued ahead of the fast ones: the fast rate
#    must stay within 20 % of the first run's.
# The deliveries are written straight into the table (as the jobs write
# them), so what is timed is the runner alone. Env: DELIVERIES, SLOW,
# PG_ADMIN, SERVE_FLAGS (extra serve flags).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
export PATH="$HOME/.cargo/bin:$PATH"
DELIVERIES=${DELIVERIES:-10000}
SLOW=${SLOW:-1000}
PG_ADMIN=${PG_ADMIN:-postgres://postgres@127.0.0.1:5432/postgres}
SERVE_FLAGS=${SERVE_FLAGS:-}
db=conduit_webhook_bench
url="${PG_ADMIN%/*}/$db?sslmode=disable"
cargo build --release --quiet --bin conduit-gateway --example webhook-receiver
server="$root/target/release/conduit-gateway"
receiver="$root/target/release/examples/webhook-receiver"
work=$(mktemp -d)
pid=
rpid=
stop() { [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; pid=; }
trap 'stop; [ -n "$rpid" ] && kill "$rpid"; rm -rf "$work"' EXIT
start() {  # extra serve flags
  # shellcheck disable=SC2086
  "$server" serve --listen 127.0.0.1:18095 --database-url "$url" --webhook-allow-private-networks $SERVE_FLAGS "$@" > "$work/server.log" 2>&1 &
  pid=$!
}
q() { psql "${PG_ADMIN%/*}/$db" -qtAX -c "$1"; }

"$receiver" 127.0.0.1:18096 &
rpid=$!
psql "$PG_ADMIN" -q -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" -c "CREATE DATABASE $db"
"$server" migrate --database-url "$url" > /dev/null
q "INSERT INTO users (username, username_key, email, password_hash, followers_count, following_count, created_at, updated_at)
   VALUES ('owner', 'owner', 'owner@example.com', 'x', 0, 0, now(), now())"
webhook() {  # path -> id
  q "INSERT INTO webhooks (owner_id, url, secret, events, active, consecutive_failures, created_at, updated_at)
     SELECT id, 'http://127.0.0.1:18096$1', 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw', 'USER_FOLLOWED', TRUE, 0, now(), now()
     FROM users WHERE username = 'owner' RETURNING id"
}
queue() {  # webhook_id count due_at
  q "INSERT INTO webhook_deliveries (webhook_id, message_id, event, payload, status, attempts, next_attempt_at, created_at)
     SELECT $1, 'msg_bench_$1_' || g, 'USER_FOLLOWED',
            '{\"type\":\"user.followed\",\"timestamp\":\"2026-01-01T00:00:00.000000Z\",\"data\":{\"follower\":{\"username\":\"fan' || g || '\"}}}',
            'PENDING', 0, $3, now() FROM generate_series(1, $2) g"
}
succeeded() { q "SELECT count(*) FROM webhook_deliveries WHERE webhook_id = $1 AND status = 'SUCCEEDED'"; }

run() {  # label fast_webhook
  local fast=$1 label=$2 begin end done
  q "ANALYZE"
  start
  # Timed from the moment the server answers: start-up is not delivery.
  for _ in $(seq 1 200); do curl -sf -o /dev/null http://127.0.0.1:18095/healthz && break; sleep 0.02; done
  begin=$(date +%s%N)
  while :; do
    done=$(succeeded "$fast")
    [ "$done" -ge "$DELIVERIES" ] && break
    sleep 0.05
  done
  end=$(date +%s%N)
  stop
  python3 -c "import sys; n=$DELIVERIES; s=($end-$begin)/1e9; print(f'$label: {n} deliveries in {s:.2f} s: {n/s:,.0f}/s')"
}

echo "## $DELIVERIES deliveries to a receiver that answers at once"
fast=$(webhook /fast)
queue "$fast" "$DELIVERIES" "now()"
run "$fast" "fast alone"
alone=$(q "SELECT count(*) FROM webhook_deliveries WHERE status <> 'SUCCEEDED'")
echo "not SUCCEEDED: $alone"

echo "## the same, with $SLOW deliveries to a 5 s receiver queued ahead"
q "DELETE FROM webhook_deliveries"
slow=$(webhook /slow)
fast2=$(webhook /fast2)
queue "$slow" "$SLOW" "now() - interval '1 minute'"
queue "$fast2" "$DELIVERIES" "now()"
run "$fast2" "fast beside slow"
echo "slow deliveries done meanwhile: $(succeeded "$slow") of $SLOW (5 s each, a few at a time)"
curl -s http://127.0.0.1:18096/count; echo
