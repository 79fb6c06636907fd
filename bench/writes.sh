#!/usr/bin/env bash
# Writes against their floor (issue 17): for each write, pgbench runs
# bench/floor/<op>.sql, the transaction the server runs for it (the SQL of
# tests/api/snapshots/sql_statements@postgres.snap, outbox row and
# pg_notify included), then wrk sends the server that write
# (bench/writes/<op>.graphql) with fresh inputs (bench/writes/wrk.lua);
# floor and server alternate, ROUNDS times, on one seeded database. Prints
# floor tps, server req/s and server / floor (the better floor) per
# round, and checks that
# every request really wrote (rows counted before and after).
#
# The server runs with --no-worker and only while it is measured: the
# floor does not run the jobs its outbox rows queue either, and neither
# shares the cores with the other. The outbox is emptied after each
# measurement, so neither pays for the other's backlog.
#
# Env: DATABASE_URL (postgres://postgres@127.0.0.1:5432/conduit_writes_bench),
#      SEED=1 (drop, create and seed that database first), DURATION (10 s),
#      CONCURRENCY (32), ROUNDS (2), PORT (18400), OPS (all three), SERVER
#      (target/production/conduit-gateway, built when missing).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
DATABASE_URL=${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/conduit_writes_bench}
DURATION=${DURATION:-10} CONCURRENCY=${CONCURRENCY:-32} ROUNDS=${ROUNDS:-2} PORT=${PORT:-18400}
OPS=${OPS:-addComment favoriteArticle createArticle}
THREADS=2
server=${SERVER:-$root/target/production/conduit-gateway}
out="$root/bench/results/writes-$(date -u +%Y%m%dT%H%M%SZ)"
mkdir -p "$out"

command -v wrk >/dev/null || apt-get install -y wrk
[ -x "$server" ] || cargo build --profile production --quiet
if [ -n "${SEED:-}" ]; then
  db=${DATABASE_URL##*/}
  psql "${DATABASE_URL%/*}/postgres" -q -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" -c "CREATE DATABASE $db"
  "$server" seed --database-url "$DATABASE_URL" 2>&1 | tail -n 1
fi
"$server" migrate --database-url "$DATABASE_URL" > "$out/migrate.log" 2>&1
psql "$DATABASE_URL" -q -c "DELETE FROM outbox" -c "VACUUM ANALYZE"
psql "$DATABASE_URL" -qtAX -c "SELECT slug FROM articles ORDER BY id" > "$out/slugs.txt"
users=$(psql "$DATABASE_URL" -qtAX -c "SELECT max(id) FROM users")
articles=$(psql "$DATABASE_URL" -qtAX -c "SELECT max(id) FROM articles")
q() { psql "$DATABASE_URL" -qtAX -c "$1"; }

# The floor at three client counts: CONCURRENCY, as the server is loaded;
# the server's own pool size (the default, cores x 4 + 2), which is how
# many transactions the server has in the database at once; and the usual
# rule for a database's concurrency (cores x 2 + 1). Writes that take a hot
# row (createArticle: `totals`, its tags) go faster with fewer; the floor is
# the best of the three.
pool=$(( $(nproc) * 4 + 2 ))
rule=$(( $(nproc) * 2 + 1 ))
floor_at() {  # op round clients
  local op=$1 round=$2 clients=$3
  pgbench -n -M prepared -c "$clients" -j "$THREADS" -T "$DURATION" \
    -D users="$users" -D articles="$articles" -D k=0 -D run="$(date +%s)$round$clients" \
    -f "$root/bench/floor/$op.sql" "$DATABASE_URL" > "$out/floor-$op-$round-c$clients.txt" 2>&1
  q "DELETE FROM outbox" > /dev/null
  python3 - "$out/floor-$op-$round-c$clients.txt" <<'PY'
import re, sys
out = open(sys.argv[1]).read()
failed = re.search(r"number of failed transactions: (\d+)", out)
assert not failed or failed.group(1) == "0", out
print(re.search(r"tps = ([\d.]+)", out).group(1))
PY
}

# Rows each op adds, to check that every request wrote.
rows_of() {  # op viewer-id
  case $1 in
    addComment) q "SELECT count(*) FROM comments WHERE author_id = $2" ;;
    favoriteArticle) q "SELECT count(*) FROM favorites WHERE user_id = $2" ;;
    createArticle) q "SELECT count(*) FROM articles WHERE author_id = $2" ;;
  esac
}

server_run() {  # op round
  local op=$1 round=$2 name="writes$(date +%s%N)"
  "$server" serve --no-migrate --no-worker --listen "127.0.0.1:$PORT" \
    --database-url "$DATABASE_URL?sslmode=disable" > "$out/server-$op-$round.log" 2>&1 &
  local pid=$!
  for _ in $(seq 1 120); do curl -sf -o /dev/null "http://127.0.0.1:$PORT/healthz" && break; sleep 0.25; done
  local token viewer before after
  token=$(curl -sf "http://127.0.0.1:$PORT/graphql" -H 'content-type: application/json' \
    --data "{\"query\":\"mutation { signUp(input: {username: \\\"$name\\\", email: \\\"$name@example.com\\\", password: \\\"password-bench\\\"}) { token } }\"}" \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["data"]["signUp"]["token"])')
  viewer=$(q "SELECT id FROM users WHERE username = '$name'")
  before=$(rows_of "$op" "$viewer")
  WRITE_OP=$op TOKEN=$token RUN="$(date +%s)$round" WRITES_DIR="$root/bench/writes" \
    SLUGS="$out/slugs.txt" THREADS=$THREADS \
    wrk -t "$THREADS" -c "$CONCURRENCY" -d "${DURATION}s" -s "$root/bench/writes/wrk.lua" \
    "http://127.0.0.1:$PORT/graphql" > "$out/server-$op-$round.txt" 2>&1
  after=$(rows_of "$op" "$viewer")
  kill "$pid"; wait "$pid" 2>/dev/null || true
  q "DELETE FROM outbox" > /dev/null
  python3 - "$out/server-$op-$round.txt" "$before" "$after" <<'PY'
import re, sys
out, before, after = open(sys.argv[1]).read(), int(sys.argv[2]), int(sys.argv[3])
assert "Non-2xx" not in out, out
done = int(re.search(r"(\d+) requests in", out).group(1))
# wrk counts the requests answered; one still in flight when it stopped
# may have written too.
assert 0 <= (after - before) - done <= 64, f"{done} requests answered, {after - before} rows written\n{out}"
print(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
PY
}

echo "# writes against their floor  duration=${DURATION}s  clients=$CONCURRENCY  rounds=$ROUNDS  $(date -u +%FT%TZ)" | tee "$out/summary.txt"
printf '%-16s %5s %13s %13s %13s %12s %7s\n' op round "floor c=$CONCURRENCY" "floor c=$pool" "floor c=$rule" 'server req/s' ratio | tee -a "$out/summary.txt"
for op in $OPS; do
  for round in $(seq 1 "$ROUNDS"); do
    f1=$(floor_at "$op" "$round" "$CONCURRENCY")
    f2=$(floor_at "$op" "$round" "$pool")
    f3=$(floor_at "$op" "$round" "$rule")
    s=$(server_run "$op" "$round")
    awk -v op="$op" -v r="$round" -v f1="$f1" -v f2="$f2" -v f3="$f3" -v s="$s" \
      'BEGIN { f = f1 > f2 ? f1 : f2; f = f > f3 ? f : f3; printf "%-16s %5s %13.1f %13.1f %13.1f %12.1f %6.2fx\n", op, r, f1, f2, f3, s, s / f }' | tee -a "$out/summary.txt"
  done
done
echo "results in $out"
