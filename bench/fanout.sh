#!/usr/bin/env bash
# The outbox benchmark on PostgreSQL: createArticle's latency for an author
# with 10 followers and one with 100,000, then with WEBHOOKS (50) webhooks
# as well (to bench/webhook_receiver.rs on loopback), and how fast the
# NEW_ARTICLE fan-out writes notifications.
# Env: FOLLOWERS (100000), WEBHOOKS (50), REQUESTS (30), PG_ADMIN.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
export PATH="$HOME/.cargo/bin:$PATH"
FOLLOWERS=${FOLLOWERS:-100000}
REQUESTS=${REQUESTS:-30}
WEBHOOKS=${WEBHOOKS:-50}
PG_ADMIN=${PG_ADMIN:-postgres://postgres@127.0.0.1:5432/postgres}
db=conduit_fanout_bench
url="${PG_ADMIN%/*}/$db"
command -v oha >/dev/null || cargo install oha --locked
cargo build --release --quiet --bin conduit-gateway --example webhook-receiver
server="$root/target/release/conduit-gateway"
work=$(mktemp -d)
pid=
stop() { [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; pid=; }
"$root/target/release/examples/webhook-receiver" 127.0.0.1:18097 &
rpid=$!
trap 'stop; kill "$rpid"; rm -rf "$work"' EXIT
start() {  # extra serve flags
  "$server" serve --listen 127.0.0.1:18095 --database-url "$url" --webhook-allow-private-networks "$@" > "$work/server.log" 2>&1 &
  pid=$!
  for _ in $(seq 1 100); do curl -sf -o /dev/null http://127.0.0.1:18095/healthz && return; sleep 0.2; done
  echo "the server did not start" >&2; exit 1
}
gql() {  # token query
  curl -sf http://127.0.0.1:18095/graphql -H 'content-type: application/json' ${1:+-H "Authorization: Bearer $1"} --data "$2"
}
token_of() {
  gql "" "{\"query\":\"mutation { signUp(input: {username: \\\"$1\\\", email: \\\"$1@example.com\\\", password: \\\"password-$1\\\"}) { token } }\"}" \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["data"]["signUp"]["token"])'
}
q() { psql "$url" -qtAX -c "$1"; }

psql "$PG_ADMIN" -q -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" -c "CREATE DATABASE $db"
start --no-worker
popular=$(token_of popular)
quiet=$(token_of quiet)
# Followers straight into the database: signing 100,000 people up over
# HTTP would measure password hashing, not the outbox.
q "INSERT INTO users (username, email, password_hash, followers_count, following_count, created_at, updated_at)
   SELECT 'fan' || g, 'fan' || g || '@example.com', 'x', 0, 1, now(), now() FROM generate_series(1, $FOLLOWERS + 10) g"
q "INSERT INTO follows (follower_id, followee_id, created_at)
   SELECT u.id, CASE WHEN u.username IN (SELECT 'fan' || g FROM generate_series($FOLLOWERS + 1, $FOLLOWERS + 10) g)
                     THEN (SELECT id FROM users WHERE username = 'quiet') ELSE (SELECT id FROM users WHERE username = 'popular') END, now()
   FROM users u WHERE u.username LIKE 'fan%'"
q "UPDATE users SET followers_count = (SELECT count(*) FROM follows WHERE followee_id = users.id) WHERE username IN ('popular', 'quiet')"
q "ANALYZE"
echo "followers: popular $(q "SELECT followers_count FROM users WHERE username = 'popular'"), quiet $(q "SELECT followers_count FROM users WHERE username = 'quiet'")"

body='{"query":"mutation { createArticle(input: {title: \"Benchmark news\", description: \"d\", body: \"b\", tags: [\"bench\"]}) { slug } }"}'
echo "$body" > "$work/create.json"
latency() {  # label token
  oha --no-tui -n "$REQUESTS" -c 1 -m POST -H 'content-type: application/json' -H "Authorization: Bearer $2" \
    -D "$work/create.json" --output-format json http://127.0.0.1:18095/graphql > "$work/$1.json"
  python3 - "$work/$1.json" "$1" <<'PY'
import json, sys
d = json.load(open(sys.argv[1])); p = d["latencyPercentiles"]
errors = sum(v for k, v in d["statusCodeDistribution"].items() if k != "200")
print(f"createArticle {sys.argv[2]:<34} p50 {p['p50']*1000:6.2f} ms  p99 {p['p99']*1000:6.2f} ms  non-200: {errors}")
PY
}
echo "## createArticle, $REQUESTS sequential requests each"
latency "by quiet (10 followers), worker off" "$quiet"
latency "by popular ($FOLLOWERS), worker off" "$popular"
q "DELETE FROM outbox"
stop
start
latency "by quiet (10 followers), worker on" "$quiet"
latency "by popular ($FOLLOWERS), worker on" "$popular"
# Let the fan-outs above finish before the next series.
while [ "$(q "SELECT count(*) FROM outbox")" != 0 ]; do sleep 1; done
for i in $(seq 1 "$WEBHOOKS"); do
  gql "$popular" "{\"query\":\"mutation { createWebhook(input: {url: \\\"http://127.0.0.1:18097/hook$i\\\", events: [ARTICLE_PUBLISHED]}) { secret } }\"}" > /dev/null
done
echo "webhooks of popular: $(q "SELECT count(*) FROM webhooks w JOIN users u ON u.id = w.owner_id WHERE u.username = 'popular' AND w.active")"
latency "by quiet (10 followers), worker on" "$quiet"
latency "by popular ($FOLLOWERS + $WEBHOOKS webhooks), worker on" "$popular"
while [ "$(q "SELECT count(*) FROM outbox")" != 0 ]; do sleep 1; done
while [ "$(q "SELECT count(*) FROM webhook_deliveries WHERE status = 'PENDING'")" != 0 ]; do sleep 1; done
echo "deliveries: $(q "SELECT status, count(*) FROM webhook_deliveries GROUP BY status")"

echo "## one NEW_ARTICLE fan-out to $FOLLOWERS followers"
before=$(q "SELECT count(*) FROM notifications")
start_ns=$(date +%s%N)
gql "$popular" "$body" > /dev/null
while [ $(( $(q "SELECT count(*) FROM notifications") - before )) -lt "$FOLLOWERS" ]; do
  sleep 0.2
done
elapsed_ms=$(( ($(date +%s%N) - start_ns) / 1000000 ))
echo "all $FOLLOWERS notifications written in ${elapsed_ms} ms: $(( FOLLOWERS * 1000 / elapsed_ms )) notifications/s"
stop
psql "$PG_ADMIN" -q -c "DROP DATABASE IF EXISTS $db WITH (FORCE)"
