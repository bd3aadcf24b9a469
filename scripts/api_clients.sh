#!/usr/bin/env bash
# Generated clients (docs/api.md, "Generated clients"): a Python client (openapi-python-client) and a TypeScript one
# (openapi-typescript + openapi-fetch) generated from the schema the server serves, a finance tool's program
# type-checked against each (mypy --strict, tsc) and run against gunicorn on a fresh PostgreSQL database: create a
# grant with milestones, walk a paginated list, download CSV, post a KPI reading. The generated code is a build
# output under var/clients/ and clients/typescript/generated/, never committed. Loopback only.
set -euo pipefail
cd "$(dirname "$0")/.."

APP_PY=${APP_PY:-.venv/bin/python}
CLIENTS_VENV=${CLIENTS_VENV:-.venv-clients}
CLIENTS_PYTHON=${CLIENTS_PYTHON:-python3.11}
REQUIREMENTS=clients/python/requirements.txt
ADMIN_URL=${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}
OUT=var/clients

# Tool venv and npm packages, rebuilt when their pins change (the same stamps as the fuzzing gate and contracts/).
stamp="$CLIENTS_VENV/.installed-$(sha256sum "$REQUIREMENTS" | cut -c1-12)"
if [ ! -f "$stamp" ]; then
  test -x "$CLIENTS_VENV/bin/python" || "$CLIENTS_PYTHON" -m venv "$CLIENTS_VENV"
  "$CLIENTS_VENV/bin/pip" install --quiet --disable-pip-version-check -r "$REQUIREMENTS"
  rm -f "$CLIENTS_VENV"/.installed-* && touch "$stamp"
fi
want=$(sha256sum clients/typescript/package-lock.json | cut -d' ' -f1)
if [ "$(cat clients/typescript/node_modules/.ci-lock-sha256 2>/dev/null)" != "$want" ]; then
  (cd clients/typescript && npm ci --no-audit --no-fund --silent) && echo "$want" > clients/typescript/node_modules/.ci-lock-sha256
fi

if ! psql -q "${ADMIN_URL%/*}/postgres" -c "SELECT 1" >/dev/null 2>&1; then
  if [ "${GOVTRACK_REQUIRE_SERVICES:-0}" = "1" ]; then
    echo "generated clients: PostgreSQL at ${ADMIN_URL%/*} is not reachable" >&2; exit 1
  fi
  echo "generated clients: skipped (no PostgreSQL at ${ADMIN_URL%/*}; set DATABASE_URL)"; exit 0
fi

work=$(mktemp -d)
db="govtrack_clients_$$_$(date +%s)"
admin_base=${ADMIN_URL%/*}
server_pid=""
cleanup() {
  if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
  psql -q "$admin_base/postgres" -c "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT INT TERM
psql -q "$admin_base/postgres" -c "CREATE DATABASE \"$db\"" >/dev/null

port=$("$APP_PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
export DATABASE_URL="$admin_base/$db" DEBUG=0 SECRET_KEY="clients-$(date +%s%N)" ALLOWED_HOSTS=127.0.0.1 \
  SECURE_SSL_REDIRECT=0 API_DOCS_PUBLIC=1 CELERY_TASK_ALWAYS_EAGER=0 MEDIA_ROOT="$work/media" \
  API_THROTTLE_ANON=100000/min API_THROTTLE_USER=100000/min API_THROTTLE_TOKEN=100000/min
unset REDIS_URL ETH_RPC_URL
"$APP_PY" manage.py migrate --noinput -v 0
token=$(ORGANIZATION_CREATE=anyone "$APP_PY" manage.py shell -v 0 < clients/seed.py | tail -n 1)
.venv/bin/gunicorn govtrack.wsgi:application --bind "127.0.0.1:$port" --workers 2 --timeout 60 \
  --log-level warning >"$work/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.2; done

rm -rf "$OUT/python" clients/typescript/generated clients/typescript/build && mkdir -p "$OUT/python"
curl -fsS --max-time 120 -H "Authorization: Bearer $token" "http://127.0.0.1:$port/api/v1/schema/?format=json" \
  -o "$OUT/openapi.json"
export GOVTRACK_URL="http://127.0.0.1:$port" GOVTRACK_TOKEN="$token"
status=0

echo "== Python: openapi-python-client, mypy --strict, run"
PATH="$PWD/$CLIENTS_VENV/bin:$PATH" "$CLIENTS_VENV/bin/openapi-python-client" generate --path "$OUT/openapi.json" \
  --output-path "$OUT/python/govtrack_client" --meta none --overwrite >"$work/generate.log" 2>&1 \
  || { cat "$work/generate.log"; exit 1; }
if grep -q "Warning" "$work/generate.log"; then cat "$work/generate.log"; status=1; fi
(cd clients/python && MYPYPATH="../../$OUT/python" "../../$CLIENTS_VENV/bin/mypy" --config-file mypy.ini finance_tool.py) \
  || status=1
PYTHONPATH="$OUT/python" "$CLIENTS_VENV/bin/python" clients/python/finance_tool.py || status=1

echo "== TypeScript: openapi-typescript, tsc, run"
(
  cd clients/typescript
  node_modules/.bin/openapi-typescript "../../$OUT/openapi.json" -o generated/schema.d.ts --default-non-nullable=false \
    --silent
  node_modules/.bin/tsc -p .
  node build/finance_tool.js
) || status=1

if grep -q "ERROR" "$work/server.log"; then echo "== server errors"; tail -n 100 "$work/server.log"; status=1; fi
exit $status
