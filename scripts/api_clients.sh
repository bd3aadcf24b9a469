#!/usr/bin/env bash
# Generated clients (docs/api.md, "Generated clients"): a Python client (openapi-python-client) and a TypeScript one
# (openapi-typescript + openapi-fetch) generated from the schema the server serves, a finance tool's program
# type-checked against each (mypy --strict, tsc) and run against gunicorn on a fresh PostgreSQL database: create a
# grant with milestones, walk a paginated list, download CSV, post a KPI reading. The generated code is a build
# output under var/clients/ and clients/typescript/generated/, never committed. Loopback only.
set -euo pipefail
cd "$(dirname "$0")/.."

CLIENTS_VENV=${CLIENTS_VENV:-.venv-clients}
CLIENTS_PYTHON=${CLIENTS_PYTHON:-python3.11}
REQUIREMENTS=clients/python/requirements.txt
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

# shellcheck source=scripts/live_server.sh
source scripts/live_server.sh
live_require_postgres "generated clients"
live_database govtrack_clients
"$APP_PY" manage.py migrate --noinput -v 0
token=$(ORGANIZATION_CREATE=anyone "$APP_PY" manage.py shell -v 0 < clients/seed.py | tail -n 1)
live_serve

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
