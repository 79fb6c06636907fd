#!/usr/bin/env bash
# What sessions and the query budget cost the token homepage (issue 14): a
# build from before both beside this one, alternating, each with a token of
# its own (an old token names no session), the server alone on a seeded
# database: `old`, `new` with the budget off (only the session check
# differs) and `budget` (the default budget, per instance).
# wrk, 2 threads, 32 connections, DURATION s after a 3 s warm-up.
#
# Usage: bench/sessions.sh OLD_BINARY NEW_BINARY DATABASE_URL
# Env: DURATION (10), ROUNDS (4), PORT (8092).
set -euo pipefail
old=$1 new=$2 database=$3
duration=${DURATION:-10} rounds=${ROUNDS:-4} port=${PORT:-8092}
root=$(cd "$(dirname "$0")/.." && pwd)
ops="$root/../shared/peers/ops"
url="http://127.0.0.1:$port/graphql"
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
cat > "$work/post.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("TOKEN")
local file = io.open("$ops/homepage.json")
wrk.body = file:read("*a")
file:close()
LUA

measure() {  # label binary flags...
  local label=$1 binary=$2; shift 2
  "$binary" serve --no-migrate --no-worker --listen "127.0.0.1:$port" --database-url "$database" "$@" \
    > "$work/server.log" 2>&1 &
  local server=$!
  for _ in $(seq 1 100); do curl -sf -o /dev/null "http://127.0.0.1:$port/healthz" && break; sleep 0.1; done
  local name="se$RANDOM$RANDOM"
  TOKEN=$(curl -sf "$url" -H 'content-type: application/json' \
    --data "{\"query\":\"mutation { signUp(input: {username: \\\"$name\\\", email: \\\"$name@example.com\\\", password: \\\"password-bench\\\"}) { token } }\"}" \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["data"]["signUp"]["token"])')
  export TOKEN
  wrk -t2 -c32 -d3s -s "$work/post.lua" "$url" > /dev/null
  wrk -t2 -c32 -d"${duration}s" --latency -s "$work/post.lua" "$url" > "$work/wrk.txt"
  printf '%-6s %9s req/s  p50 %8s  p99 %8s  non-2xx %s\n' "$label" \
    "$(awk '/^Requests\/sec/ {print $2}' "$work/wrk.txt")" \
    "$(awk '$1 == "50%" {print $2}' "$work/wrk.txt")" \
    "$(awk '$1 == "99%" {print $2}' "$work/wrk.txt")" \
    "$(awk '/Non-2xx/ {print $5}' "$work/wrk.txt")"
  kill "$server"; wait "$server" 2>/dev/null || true
}

for round in $(seq 1 "$rounds"); do
  echo "round $round"
  if [ $((round % 2)) = 1 ]; then
    measure old "$old"; measure new "$new" --rate-limit-cost-per-minute 0; measure budget "$new"
  else
    measure budget "$new"; measure new "$new" --rate-limit-cost-per-minute 0; measure old "$old"
  fi
done
