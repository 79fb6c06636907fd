#!/usr/bin/env bash
# What a stored document saves (issue 16): the token homepage sent as its
# text beside the same document stored with `documents add` and asked for
# by `documentId` (parsed when loaded, validated by its first request
# only). One binary, alternating, the server alone on a seeded database:
#   1. wrk, 2 threads, 32 connections, DURATION s after a 3 s warm-up, ROUNDS
#      rounds alternating text/id;
#   2. callgrind: instructions per request for each, on the same server
#      (counters zeroed after a warm-up, dumped after a fixed wrk run).
#
# Usage: bench/trusted_documents.sh BINARY DATABASE_URL
# Env: DURATION (10), ROUNDS (3), PORT (8091), CALLGRIND (1: run step 2).
set -euo pipefail
binary=$1 database=$2
duration=${DURATION:-10} rounds=${ROUNDS:-3} port=${PORT:-8091}
root=$(cd "$(dirname "$0")/.." && pwd)
ops="$root/../shared/peers/ops"
url="http://127.0.0.1:$port/graphql"
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT

# The id in Python, from the exact text (a shell substitution would drop
# its final newline, and the id would not match: `add` says so).
python3 - "$ops/homepage.json" "$work" <<'PY'
import hashlib, json, sys
homepage, work = sys.argv[1], sys.argv[2]
query = json.load(open(homepage))["query"]
id = hashlib.sha256(query.encode()).hexdigest()
json.dump({id: query}, open(f"{work}/manifest.json", "w"))
json.dump({"query": query}, open(f"{work}/text.json", "w"))
json.dump({"documentId": f"sha256:{id}"}, open(f"{work}/id.json", "w"))
PY
DATABASE_URL="$database" "$binary" documents add "$work/manifest.json" > /dev/null

for how in text id; do
  cat > "$work/$how.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("TOKEN")
local file = io.open("$work/$how.json")
wrk.body = file:read("*a")
file:close()
LUA
done

start() {  # command prefix...
  "$@" "$binary" serve --no-migrate --no-worker --listen "127.0.0.1:$port" \
    --database-url "$database" --rate-limit-cost-per-minute 0 > "$work/server.log" 2>&1 &
  server=$!
  for _ in $(seq 1 300); do curl -sf -o /dev/null "http://127.0.0.1:$port/healthz" && return; sleep 0.1; done
  echo "the server did not start" >&2; cat "$work/server.log" >&2; exit 1
}
stop() { kill "$server"; wait "$server" 2>/dev/null || true; }

start
name="td$RANDOM$RANDOM"
export TOKEN=$(curl -sf "$url" -H 'content-type: application/json' \
  --data "{\"query\":\"mutation { signUp(input: {username: \\\"$name\\\", email: \\\"$name@example.com\\\", password: \\\"password-bench\\\"}) { token } }\"}" \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["data"]["signUp"]["token"])')
for how in text id; do  # both answer the same
  curl -sf "$url" -H 'content-type: application/json' -H "Authorization: Bearer $TOKEN" --data @"$work/$how.json" \
    | python3 -c 'import json,sys; d=json.load(sys.stdin); assert "errors" not in d, d; print(sys.argv[1], "answers", len(d["data"]["articles"]["edges"]), "articles")' "$how"
done
stop

for round in $(seq 1 "$rounds"); do
  if [ $((round % 2)) = 1 ]; then order="text id"; else order="id text"; fi
  for how in $order; do
    start
    wrk -t2 -c32 -d3s -s "$work/$how.lua" "$url" > /dev/null
    wrk -t2 -c32 -d"${duration}s" --latency -s "$work/$how.lua" "$url" > "$work/wrk.txt"
    printf 'round %s %-4s %9s req/s  p50 %8s  p99 %8s  non-2xx %s\n' "$round" "$how" \
      "$(awk '/^Requests\/sec/ {print $2}' "$work/wrk.txt")" \
      "$(awk '$1 == "50%" {print $2}' "$work/wrk.txt")" \
      "$(awk '$1 == "99%" {print $2}' "$work/wrk.txt")" \
      "$(awk '/Non-2xx/ {print $5}' "$work/wrk.txt")"
    stop
  done
done

[ "${CALLGRIND:-1}" = 1 ] || exit 0
for how in text id; do
  start valgrind --tool=callgrind --callgrind-out-file="$work/cg.$how.%p"
  wrk -t1 -c4 -d5s -s "$work/$how.lua" "$url" > /dev/null
  callgrind_control -z "$server" > /dev/null
  wrk -t1 -c4 -d20s -s "$work/$how.lua" "$url" > "$work/wrk.txt"
  callgrind_control -d "$server" > /dev/null
  requests=$(awk '/requests in/ {print $1}' "$work/wrk.txt")
  instructions=$(cat "$work"/cg."$how".*.[0-9]* 2>/dev/null | awk '/^summary:|^totals:/ {print $2}' | sort -n | tail -n1)
  printf 'callgrind %-4s %s requests, %s instructions per request\n' "$how" "$requests" \
    "$(python3 -c 'import sys; print(f"{int(sys.argv[1]) / int(sys.argv[2]):,.0f}")' "$instructions" "$requests")"
  stop
done
