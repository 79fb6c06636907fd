#!/usr/bin/env bash
# Instructions per request of one op, counted by callgrind on the server.
#
# Usage: bench/callgrind.sh BINARY DATABASE_URL OP_JSON N OUT
#   BINARY: a server build (the `production` profile with
#   CARGO_PROFILE_PRODUCTION_DEBUG=line-tables-only gives a profile with
#   source lines); OP_JSON: a POST body (../shared/peers/ops/*.json);
#   N: requests measured; OUT: the callgrind output file.
# The server runs under valgrind with --no-worker; 8 requests warm it up,
# then instrumentation goes on for N requests, 4 at a time. Prints the
# instructions per request; `bench/callgrind_by_file.py OUT` says where
# they went. On SQLite the count includes the database's work, on
# PostgreSQL only the server's. TOKEN (optional): a bearer token every
# request carries (the writes need a viewer).
set -euo pipefail
bin=$1 url=$2 body=$3 n=$4 out=$5
port=${PORT:-18080}
valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$out" \
  "$bin" serve --no-migrate --no-worker --database-url "$url" --listen "127.0.0.1:$port" > "$out.log" 2>&1 &
pid=$!
for _ in $(seq 1 240); do curl -sf -o /dev/null "http://127.0.0.1:$port/healthz" && break; sleep 0.5; done
ask() { curl -s -o /dev/null -w '%{http_code}\n' "http://127.0.0.1:$port/graphql" -H 'content-type: application/json' ${TOKEN:+-H "Authorization: Bearer $TOKEN"} --data @"$body"; }
for _ in $(seq 1 8); do ask > /dev/null; done
callgrind_control -i on "$pid" > /dev/null 2>&1
export -f ask; export port body TOKEN
seq 1 "$n" | xargs -P 4 -I{} bash -c ask > "$out.codes"
callgrind_control -i off "$pid" > /dev/null 2>&1
kill "$pid"; wait "$pid" 2>/dev/null || true
total=$(grep -m1 '^totals:' "$out" | awk '{print $2}')
echo "$(basename "$body" .json): $((total / n)) instructions per request ($n requests; HTTP $(sort "$out.codes" | uniq -c | tr -s ' \n' ' '))"
