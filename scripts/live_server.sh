# Sourced by scripts/schemathesis_gate.sh and scripts/api_clients.sh: govtrack served as in production (gunicorn,
# DEBUG=0, PostgreSQL) on a fresh database and a free loopback port, both removed on exit. No broker: tasks queue in
# memory and are not run, so nothing leaves the process and the shared Redis is left alone; rate limits generous so
# a run is not a 429.
#
#   live_require_postgres NAME   exit 0 (skipped) or 1 (GOVTRACK_REQUIRE_SERVICES=1) without PostgreSQL
#   live_database PREFIX         create the database; sets $work (a temp folder), $db; exports the environment
#   live_serve                   start gunicorn; sets $port, $server_pid; the log is $work/server.log

APP_PY=${APP_PY:-.venv/bin/python}
LIVE_ADMIN_URL=${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}
live_admin_base=${LIVE_ADMIN_URL%/*}
server_pid=""
work=""
db=""

live_require_postgres() {
  if ! psql -q "$live_admin_base/postgres" -c "SELECT 1" >/dev/null 2>&1; then
    if [ "${GOVTRACK_REQUIRE_SERVICES:-0}" = "1" ]; then
      echo "$1: PostgreSQL at $live_admin_base is not reachable" >&2; exit 1
    fi
    echo "$1: skipped (no PostgreSQL at $live_admin_base; set DATABASE_URL)"; exit 0
  fi
}

live_cleanup() {
  if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
  if [ -n "$db" ]; then
    psql -q "$live_admin_base/postgres" -c "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)" >/dev/null 2>&1 || true
  fi
  if [ -n "$work" ]; then rm -rf "$work"; fi
}

live_database() {
  work=$(mktemp -d)
  db="$1_$$_$(date +%s)"
  trap live_cleanup EXIT INT TERM
  psql -q "$live_admin_base/postgres" -c "CREATE DATABASE \"$db\"" >/dev/null
  port=$("$APP_PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  export DATABASE_URL="$live_admin_base/$db" DEBUG=0 SECRET_KEY="$1-$(date +%s%N)" ALLOWED_HOSTS=127.0.0.1 \
    SECURE_SSL_REDIRECT=0 API_DOCS_PUBLIC=1 CELERY_TASK_ALWAYS_EAGER=0 MEDIA_ROOT="$work/media" \
    API_THROTTLE_ANON=100000/min API_THROTTLE_USER=100000/min API_THROTTLE_TOKEN=100000/min
  unset REDIS_URL ETH_RPC_URL
}

live_serve() {
  .venv/bin/gunicorn govtrack.wsgi:application --bind "127.0.0.1:$port" --workers 2 --timeout 60 \
    --log-level warning >"$work/server.log" 2>&1 &
  server_pid=$!
  for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.2; done
}
