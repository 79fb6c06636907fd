#!/usr/bin/env bash
# The HTTP benchmark, side by side with the peers in one run.
#
# On a fresh machine: installs oha (from crates.io), builds the server with
# the `production` profile (Cargo.toml), seeds the default benchmark dataset
# (`conduit-gateway seed`) into a fresh PostgreSQL database and a fresh
# SQLite file, then runs
# ../shared/peers/run-all.sh over that same PostgreSQL data: the pgbench
# floor, the Node.js Express + Apollo peer, this server, and PostGraphile,
# one after another, with the same ops and the same load. Then it measures
# what the peers cannot: `homepage` with a viewer's token, the `addComment`
# write, and the same ops on SQLite. Results land in bench/results/<time>/.
#
# Env: DURATION (15 s per op), CONCURRENCY (32), PG_ADMIN (an admin URL),
#      BENCH_DB (conduit_bench_project), SKIP_SEED=1 (reuse the databases:
#      only right for the first run after a seed, since a run's writes add
#      articles, comments and favorites that later runs would read).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
export PATH="$HOME/.cargo/bin:$PATH"
export DURATION=${DURATION:-15} CONCURRENCY=${CONCURRENCY:-32}
PG_ADMIN=${PG_ADMIN:-postgres://postgres@127.0.0.1:5432/postgres}
BENCH_DB=${BENCH_DB:-conduit_bench_project}
export DATABASE_URL="postgres://postgres@127.0.0.1:5432/$BENCH_DB"
# The Node peers connect without TLS (node-postgres' default); over loopback
# this server does the same. Left to sqlx's default (`prefer`), every
# statement would go through TLS: 960 vs 640 homepage req/s in one test.
SERVER_DATABASE_URL="$DATABASE_URL?sslmode=disable"
out="$root/bench/results/$(date -u +%Y%m%dT%H%M%SZ)"
mkdir -p "$out"
sqlite_db="$root/bench/results/bench.sqlite"

command -v oha >/dev/null || cargo install oha --locked
command -v wrk >/dev/null || apt-get install -y wrk
cargo build --profile production --quiet
server="$root/target/production/conduit-gateway"

# The peers' scripts write files next to themselves (request bodies,
# node_modules): they run from a copy, so ../shared stays as it is.
peers="$root/bench/results/peers"
rm -rf "$peers" && cp -r "$root/../shared/peers" "$peers"

# pg_stat_statements for count-sql.sh, and the peers' documented
# PostgreSQL settings (restarts the local cluster once).
"$peers/pg-setup.sh" > "$out/pg-setup.log" 2>&1

if [ -z "${SKIP_SEED:-}" ]; then
  psql "$PG_ADMIN" -q -c "DROP DATABASE IF EXISTS $BENCH_DB WITH (FORCE)" -c "CREATE DATABASE $BENCH_DB"
  echo "seeding PostgreSQL ($BENCH_DB)..."
  /usr/bin/time -f "seed PostgreSQL: %e s" "$server" seed --database-url "$DATABASE_URL" 2>&1 | tail -n 3 | tee "$out/seed-postgres.txt"
  rm -f "$sqlite_db"*
  echo "seeding SQLite ($sqlite_db)..."
  /usr/bin/time -f "seed SQLite: %e s" "$server" seed --database-url "sqlite://$sqlite_db?mode=rwc" 2>&1 | tail -n 3 | tee "$out/seed-sqlite.txt"
fi

# Databases seeded by an earlier build (SKIP_SEED) get this build's
# migrations; the servers below start with --no-migrate.
"$server" migrate --database-url "$DATABASE_URL" > "$out/migrate.log" 2>&1
"$server" migrate --database-url "sqlite://$sqlite_db?mode=rwc" >> "$out/migrate.log" 2>&1
psql "$DATABASE_URL" -q -c "VACUUM ANALYZE"
# The articles the write benchmark comments on and favorites (the same
# seed on both databases: the same slugs).
psql "$DATABASE_URL" -qtAX -c "SELECT slug FROM articles ORDER BY id" > "$out/slugs.txt"

# 1. Everyone over the same PostgreSQL data, one at a time.
EXTRA_NAME=conduit-gateway EXTRA_URL=http://127.0.0.1:8080/graphql \
EXTRA_START="exec '$server' serve --no-migrate --database-url '$SERVER_DATABASE_URL'" \
OUTDIR="$out" "$peers/run-all.sh"

# 2. What only this server does: a viewer's homepage, a write, and SQLite.
viewer_ops="$out/viewer-ops"
mkdir -p "$viewer_ops"
run_own() {  # label database-url
  local label=$1 url=$2
  "$server" serve --no-migrate --database-url "$url" > "$out/$label.log" 2>&1 &
  local pid=$!
  for _ in $(seq 1 120); do curl -sf -o /dev/null http://127.0.0.1:8080/healthz && break; sleep 0.5; done
  local token
  token=$(curl -sf http://127.0.0.1:8080/graphql -H 'content-type: application/json' \
    --data "{\"query\":\"mutation { signUp(input: {username: \\\"bench$RANDOM$RANDOM\\\", email: \\\"bench$RANDOM$RANDOM@example.com\\\", password: \\\"password-bench\\\"}) { token } }\"}" \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["data"]["signUp"]["token"])')
  # One request of each op, to count its statements: the writes from
  # bench/writes/, with inputs no other request uses.
  python3 - "$peers/ops/homepage.json" "$viewer_ops" "${ARTICLE_SLUG:-}" "$root/bench/writes" "$label" <<'PY'
import json, sys, os
homepage, out, slug, writes, label = sys.argv[1:6]
os.makedirs(out, exist_ok=True)
json.dump(json.load(open(homepage)), open(f"{out}/homepage.json", "w"))
doc = lambda op: open(f"{writes}/{op}.graphql").read()
json.dump({"query": doc("addComment"), "variables": {"s": slug}}, open(f"{out}/addComment.json", "w"))
json.dump({"query": doc("favoriteArticle"), "variables": {"s": slug}}, open(f"{out}/favoriteArticle.json", "w"))
json.dump({"query": doc("createArticle"), "variables": {"title": f"Counted write {label}"}},
          open(f"{out}/createArticle.json", "w"))
PY
  for op in homepage addComment favoriteArticle createArticle; do
    printf '%s ' "$op"
    before=$(curl -sf http://127.0.0.1:8080/metrics | awk '/^conduit_sql_statements_total/ {print $2}')
    curl -sf -o /dev/null http://127.0.0.1:8080/graphql -H 'content-type: application/json' -H "Authorization: Bearer $token" --data @"$viewer_ops/$op.json"
    after=$(curl -sf http://127.0.0.1:8080/metrics | awk '/^conduit_sql_statements_total/ {print $2}')
    echo "SQL statements per request: $((after - before))"
  done | tee -a "$out/sql-statements-$label.txt"
  oha --no-tui -c "$CONCURRENCY" -z 3s -m POST -H 'content-type: application/json' -H "Authorization: Bearer $token" \
    -D "$viewer_ops/homepage.json" http://127.0.0.1:8080/graphql > /dev/null
  oha --no-tui -c "$CONCURRENCY" -z "${DURATION}s" -m POST -H 'content-type: application/json' -H "Authorization: Bearer $token" \
    -D "$viewer_ops/homepage.json" --output-format json http://127.0.0.1:8080/graphql > "$out/$label-homepage.oha.json"
  python3 - "$out/$label-homepage.oha.json" "$label" homepage <<'PY' | tee -a "$out/own.txt"
import json, sys
d = json.load(open(sys.argv[1])); s, p = d["summary"], d["latencyPercentiles"]
errors = sum(v for k, v in d["statusCodeDistribution"].items() if k != "200")
print(f"{sys.argv[2]:<26} {sys.argv[3]:<15} {s['requestsPerSec']:9.1f} req/s  p50 {p['p50']*1000:7.2f} ms  p99 {p['p99']*1000:7.2f} ms  non-200 {errors}")
PY
  # The peers' ops on SQLite, before this server's writes below: those add
  # articles (createArticle) that would come first in `deep` and `articles`.
  if [ "$label" = conduit-gateway-sqlite ]; then
    (cd "$peers" && LABEL=$label CSV="$out/sqlite.csv" ./bench.sh http://127.0.0.1:8080/graphql ops) | tee -a "$out/own.txt" || true
  fi
  # The writes, each request with inputs of its own (bench/writes/wrk.lua:
  # a random article to comment on, the next article not yet favorited, a
  # new title); the viewer signed up above has favorited nothing.
  for op in addComment favoriteArticle createArticle; do
    WRITE_OP=$op TOKEN=$token RUN="$label$(date +%s)" WRITES_DIR="$root/bench/writes" \
      SLUGS="$out/slugs.txt" THREADS=2 \
      wrk -t 2 -c "$CONCURRENCY" -d "${DURATION}s" --latency -s "$root/bench/writes/wrk.lua" \
      http://127.0.0.1:8080/graphql > "$out/$label-$op.wrk.txt" 2>&1
    python3 - "$out/$label-$op.wrk.txt" "$label" "$op" <<'PY' | tee -a "$out/own.txt"
import re, sys
out = open(sys.argv[1]).read()
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
pct = lambda p: re.search(rf"\s{p}%\s+([\d.]+)(us|ms|s)", out)
ms = lambda m: float(m.group(1)) * {"us": 0.001, "ms": 1, "s": 1000}[m.group(2)]
errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
print(f"{sys.argv[2]:<26} {sys.argv[3]:<15} {rps:9.1f} req/s  p50 {ms(pct(50)):7.2f} ms  p99 {ms(pct(99)):7.2f} ms  non-200 {errors.group(1) if errors else 0}")
PY
  done
  # The writes queued notification jobs; let the worker finish them here,
  # so the next measurement (or the next run) does not pay for them.
  local started=$SECONDS pending=1
  for _ in $(seq 1 600); do
    pending=$(curl -sf http://127.0.0.1:8080/metrics | awk '/^conduit_outbox_pending/ {print $2}')
    [ "${pending:-1}" = 0 ] && break
    sleep 0.5
  done
  echo "$label: outbox drained in $((SECONDS - started)) s (pending now: $pending)" | tee -a "$out/own.txt"
  kill "$pid"; wait "$pid" 2>/dev/null || true
}
# What PostgreSQL still has to do after a part's writes (writing their
# pages out at the next checkpoint; autovacuum, where the cluster runs it)
# is done here, between the measurements, rather than during SQLite's
# reads or the write floor below. Prints how long it took.
quiesce_postgres() {
  psql "$DATABASE_URL" -q -c "CHECKPOINT"
  local started=$SECONDS busy=1
  for _ in $(seq 1 300); do
    busy=$(psql "$DATABASE_URL" -qtAX -c "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'autovacuum worker'")
    [ "$busy" = 0 ] && break
    sleep 1
  done
  echo "PostgreSQL quiet after $((SECONDS - started)) s (autovacuum workers now: $busy)" | tee -a "$out/own.txt"
}
source "$peers/pgenv.sh"
run_own conduit-gateway-postgres "$SERVER_DATABASE_URL"
quiesce_postgres
run_own conduit-gateway-sqlite "sqlite://$sqlite_db?mode=rwc"
quiesce_postgres

# 3. The writes against their floor: pgbench running the same transactions
# (bench/floor/), then the server, alternating (bench/writes.sh).
DATABASE_URL=$DATABASE_URL SERVER=$server PORT=8080 ROUNDS=1 "$root/bench/writes.sh" | tee "$out/writes.txt"

python3 "$peers/summarize.py" "$out" | tee "$out/summary.md" || true
echo "results in $out"
