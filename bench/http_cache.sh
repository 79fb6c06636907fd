#!/usr/bin/env bash
# The anonymous homepage through a caching proxy (Debian's nginx with
# proxy_cache, honouring the server's Cache-Control) and directly.
#
# Builds the release binary, seeds a SQLite file with a smaller set than the
# default (SEED_SIZES below; the default set takes long on SQLite), stores
# ../shared/peers/ops/homepage.graphql as a trusted document, starts the
# server on 127.0.0.1:8080 and nginx on 127.0.0.1:8081, then runs
#   wrk -t2 -c32 -d10s http://127.0.0.1:8080/graphql?documentId=sha256:<hex>
#   wrk -t2 -c32 -d10s http://127.0.0.1:8081/graphql?documentId=sha256:<hex>
# and counts nginx's $upstream_cache_status in its access log for the hit
# ratio. Results land in bench/results/<time>/http-cache.txt.
#
# Env: DURATION (10s), CONNECTIONS (32), SKIP_SEED=1 (reuse the database),
#      DATABASE_URL (default: a SQLite file under bench/results/).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
DURATION=${DURATION:-10s}
CONNECTIONS=${CONNECTIONS:-32}
SEED_SIZES=(--users 1000 --articles 5000 --comments 20000 --favorites 20000 --follows 20000)
mkdir -p bench/results
sqlite_db="$root/bench/results/http-cache.sqlite"
DATABASE_URL=${DATABASE_URL:-"sqlite://$sqlite_db?mode=rwc"}
out="$root/bench/results/$(date -u +%Y%m%dT%H%M%SZ)"
mkdir -p "$out"
report="$out/http-cache.txt"

command -v nginx >/dev/null || { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y nginx; }
command -v wrk >/dev/null || { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y wrk; }
cargo build --release --quiet
server="$root/target/release/conduit-gateway"

if [ -z "${SKIP_SEED:-}" ]; then
  case "$DATABASE_URL" in sqlite://*) rm -f "$sqlite_db" "$sqlite_db"-* ;; esac
  echo "seeding ${SEED_SIZES[*]}..."
  "$server" seed --database-url "$DATABASE_URL" "${SEED_SIZES[@]}" 2>&1 | tail -n 2
fi

homepage="$root/../shared/peers/ops/homepage.graphql"
manifest="$out/manifest.json"
hash=$(python3 - "$homepage" "$manifest" <<'PY'
import hashlib, json, sys
text = open(sys.argv[1]).read()
digest = hashlib.sha256(text.encode()).hexdigest()
json.dump({digest: text}, open(sys.argv[2], "w"))
print(digest)
PY
)
DATABASE_URL="$DATABASE_URL" "$server" documents add "$manifest" > "$out/documents.log" 2>&1
path="/graphql?documentId=sha256:$hash"

pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; }
trap cleanup EXIT

"$server" serve --no-migrate --listen 127.0.0.1:8080 --database-url "$DATABASE_URL" > "$out/server.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 120); do curl -sf -o /dev/null http://127.0.0.1:8080/healthz && break; sleep 0.5; done

nginx_dir="$out/nginx"
mkdir -p "$nginx_dir"
cat > "$nginx_dir/nginx.conf" <<CONF
daemon off;
worker_processes 1;
pid $nginx_dir/nginx.pid;
error_log $nginx_dir/error.log warn;
events { worker_connections 1024; }
http {
    log_format cache '\$upstream_cache_status \$status';
    access_log $nginx_dir/access.log cache;
    client_body_temp_path $nginx_dir/client_body;
    proxy_temp_path $nginx_dir/proxy;
    fastcgi_temp_path $nginx_dir/fastcgi;
    uwsgi_temp_path $nginx_dir/uwsgi;
    scgi_temp_path $nginx_dir/scgi;
    proxy_cache_path $nginx_dir/cache levels=1:2 keys_zone=graphql:10m max_size=256m;
    upstream server { server 127.0.0.1:8080; keepalive 32; }
    server {
        listen 127.0.0.1:8081;
        location / {
            proxy_pass http://server;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_cache graphql;
            add_header X-Cache-Status \$upstream_cache_status always;
        }
    }
}
CONF
nginx -p "$nginx_dir" -e "$nginx_dir/error.log" -c "$nginx_dir/nginx.conf" &
pids+=($!)
for _ in $(seq 1 50); do curl -sf -o /dev/null "http://127.0.0.1:8081$path" && break; sleep 0.1; done

{
  echo "# $(git rev-parse --short HEAD), $(date -u +%FT%TZ), SQLite seed ${SEED_SIZES[*]}"
  echo "## headers"
  curl -s -D - -o /dev/null "http://127.0.0.1:8081$path" | grep -iE '^(cache-control|etag|vary|x-cache-status):'
  echo "## directly: wrk -t2 -c$CONNECTIONS -d$DURATION http://127.0.0.1:8080$path"
  wrk -t2 -c"$CONNECTIONS" -d"$DURATION" "http://127.0.0.1:8080$path"
  : > "$nginx_dir/access.log"
  echo "## through nginx: wrk -t2 -c$CONNECTIONS -d$DURATION http://127.0.0.1:8081$path"
  wrk -t2 -c"$CONNECTIONS" -d"$DURATION" "http://127.0.0.1:8081$path"
  echo "## nginx \$upstream_cache_status over that run"
  sort "$nginx_dir/access.log" | uniq -c | sort -rn
  awk '{ n++; if ($1 == "HIT") h++ } END { printf "hit ratio: %d / %d = %.4f\n", h, n, h / n }' "$nginx_dir/access.log"
} 2>&1 | tee "$report"
