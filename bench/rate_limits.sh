#!/usr/bin/env bash
# What the query budget costs the token homepage (issue 14): one binary,
# three ways, alternating, the server alone on an already seeded database:
#   off    --rate-limit-cost-per-minute 0
#   local  the default budget, per instance (governor)
#   redis  the default budget shared through Redis (one EVALSHA a request)
# Each round: wrk (2 threads, 32 connections) for DURATION s after a 3 s
# warm-up, then one client alone for the latency a request waits (p50).
# Redis' own CPU time over the 32-client run is shown beside it.
#
# Usage: bench/rate_limits.sh BINARY DATABASE_URL
# Env: DURATION (10), ROUNDS (3), REDIS_URL (redis://127.0.0.1:6379),
#      PORT (8090). Needs wrk, curl, python3, redis-cli.
set -euo pipefail
binary=$1 database=$2
duration=${DURATION:-10} rounds=${ROUNDS:-3} port=${PORT:-8090}
redis=${REDIS_URL:-redis://127.0.0.1:6379}
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

redis_pid=$(pgrep -x redis-server | head -n1)
redis_cpu() {  # utime + stime of redis-server, in clock ticks
  awk '{print $14 + $15}' "/proc/$redis_pid/stat"
}

start() {  # extra serve flags...
  "$binary" serve --no-migrate --no-worker --listen "127.0.0.1:$port" \
    --database-url "$database" "$@" > "$work/server.log" 2>&1 &
  server=$!
  for _ in $(seq 1 100); do curl -sf -o /dev/null "http://127.0.0.1:$port/healthz" && return; sleep 0.1; done
  echo "the server did not start" >&2; cat "$work/server.log" >&2; exit 1
}

stop() {
  kill "$server"; wait "$server" 2>/dev/null || true
}

# One account for the token (signing up is a write: done once, off).
start --rate-limit-cost-per-minute 0
name="rl$RANDOM$RANDOM"
export TOKEN=$(curl -sf "$url" -H 'content-type: application/json' \
  --data "{\"query\":\"mutation { signUp(input: {username: \\\"$name\\\", email: \\\"$name@example.com\\\", password: \\\"password-bench\\\"}) { token } }\"}" \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["data"]["signUp"]["token"])')
stop

measure() {  # label flags...
  local label=$1; shift
  start "$@"
  wrk -t2 -c32 -d3s -s "$work/post.lua" "$url" > /dev/null
  local before after
  before=$(redis_cpu)
  wrk -t2 -c32 -d"${duration}s" --latency -s "$work/post.lua" "$url" > "$work/wrk.txt"
  after=$(redis_cpu)
  wrk -t1 -c1 -d5s --latency -s "$work/post.lua" "$url" > "$work/one.txt"
  local rps p50_32 p99_32 p50_1 bad
  rps=$(awk '/^Requests\/sec/ {print $2}' "$work/wrk.txt")
  p50_32=$(awk '$1 == "50%" {print $2}' "$work/wrk.txt")
  p99_32=$(awk '$1 == "99%" {print $2}' "$work/wrk.txt")
  p50_1=$(awk '$1 == "50%" {print $2}' "$work/one.txt")
  bad=$(awk '/Non-2xx/ {print $5}' "$work/wrk.txt")
  printf '%-6s %9s req/s  p50 %8s  p99 %8s  one client p50 %8s  non-2xx %s  redis cpu %s ticks\n' \
    "$label" "$rps" "$p50_32" "$p99_32" "$p50_1" "${bad:-0}" "$((after - before))"
  stop
}

for round in $(seq 1 "$rounds"); do
  echo "round $round"
  if [ $((round % 2)) = 1 ]; then order="off local redis"; else order="redis local off"; fi
  for how in $order; do
    case $how in
      off) measure off --rate-limit-cost-per-minute 0 ;;
      local) measure local ;;
      redis) measure redis --redis-url "$redis" --redis-key-prefix "bench-$round:" ;;
    esac
  done
done
