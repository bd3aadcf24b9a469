#!/usr/bin/env bash
# API fuzzing gate: schemathesis over the whole OpenAPI schema (examples, coverage, fuzzing and stateful phases)
# with an owner's read-write token and a viewer's read-only one, against gunicorn with DEBUG=0 on a fresh
# PostgreSQL database. Fails on any server error or response-schema mismatch that is not in the allow-list
# (scripts/schemathesis/baseline.json, each entry with its reason). Loopback only. See docs/security.md.
set -euo pipefail
cd "$(dirname "$0")/.."

ST_VENV=${ST_VENV:-.venv-schemathesis}
ST_REQUIREMENTS=scripts/schemathesis/requirements.txt
ST_PYTHON=${ST_PYTHON:-}
GATE_MAX_EXAMPLES=${GATE_MAX_EXAMPLES:-10}
GATE_STATEFUL_EXAMPLES=${GATE_STATEFUL_EXAMPLES:-200}   # scenarios of the stateful phase (chains of calls)
GATE_STATEFUL_TIME=${GATE_STATEFUL_TIME:-45}  # seconds per token for the stateful phase, run on its own
GATE_PHASES=${GATE_PHASES:-examples,coverage,fuzzing}
GATE_MAX_TIME=${GATE_MAX_TIME:-90}         # seconds per token, whole run
GATE_WORKERS=${GATE_WORKERS:-2}
GATE_SEED=${GATE_SEED:-20261201}
GATE_REPORT_DIR=${GATE_REPORT_DIR:-test-artifacts/schemathesis}
BASELINE=scripts/schemathesis/baseline.json

# The tool venv: its own interpreter (schemathesis 4 crashed in its coverage phase on Python 3.11.7 with two
# workers), rebuilt when the pinned requirements change.
stamp="$ST_VENV/.installed-$(sha256sum "$ST_REQUIREMENTS" | cut -c1-12)"
if [ ! -f "$stamp" ]; then
  if [ -z "$ST_PYTHON" ]; then
    # pyenv's own interpreters first: its python3.12 shim is on PATH but refuses to run outside a pyenv-selected dir.
    for candidate in "$HOME"/.pyenv/versions/3.12*/bin/python "$HOME"/.pyenv/versions/3.13*/bin/python python3.12 python3.13; do
      if "$candidate" -c 'import sys; assert sys.version_info >= (3, 12)' >/dev/null 2>&1; then ST_PYTHON=$candidate; break; fi
    done
  fi
  [ -n "$ST_PYTHON" ] || { echo "schemathesis gate: no Python 3.12 or 3.13 found (set ST_PYTHON)" >&2; exit 1; }
  test -x "$ST_VENV/bin/python" || "$ST_PYTHON" -m venv "$ST_VENV"
  "$ST_VENV/bin/pip" install --quiet --disable-pip-version-check -r "$ST_REQUIREMENTS"
  rm -f "$ST_VENV"/.installed-* && touch "$stamp"
fi

# Like the tests that need a service: skipped without PostgreSQL, unless GOVTRACK_REQUIRE_SERVICES=1 (CI).
# shellcheck source=scripts/live_server.sh
source scripts/live_server.sh
live_require_postgres "schemathesis gate"
live_database govtrack_fuzz
export STATIC_ROOT="$PWD/var/fuzz-static" GATE_TOKENS_FILE="$work/tokens.json"
echo "== preparing database $db (migrate, static files, demo data, tokens)"
"$APP_PY" manage.py migrate --noinput -v 0
echo "   migrated in $SECONDS s"
# Compressed static files take a minute to build: kept in var/ and rebuilt when the sources or packages change.
static_stamp="$STATIC_ROOT/.built-$( (git ls-files -s -- static 'apps/*/static'; ls .venv/.installed-* 2>/dev/null) | sha256sum | cut -c1-12)"
if [ ! -f "$static_stamp" ]; then
  rm -rf "$STATIC_ROOT" && "$APP_PY" manage.py collectstatic --noinput -v 0 && touch "$static_stamp"
fi
echo "   static files ready in $SECONDS s"
# The owner creates the organization as on the embedded default; the server keeps the production rule.
ORGANIZATION_CREATE=anyone "$APP_PY" manage.py shell -v 0 < scripts/schemathesis/seed.py
live_serve
# The schema, read once from the server as an integrator would (its first build takes a while on a busy machine).
curl -fsS --max-time 120 "http://127.0.0.1:$port/api/v1/schema/?format=json" -o "$work/openapi.json"

mkdir -p "$GATE_REPORT_DIR"
# The seeded organization in every `organization` query parameter and body field: without it nearly every
# creation is a 400 and the stateful phase has nothing to chain. Links come from the schema's own structure
# (dependency analysis) and from the Location headers earlier phases saw.
organization=$("$APP_PY" -c "import json,sys; print(json.load(open(sys.argv[1]))['organization'])" "$work/tokens.json")
cat >"$work/schemathesis.toml" <<TOML
[parameters]
"query.organization" = "$organization"
"body.organization" = "$organization"

[generation]
max-examples = $GATE_MAX_EXAMPLES

[phases.stateful]
max-steps = 6
generation.max-examples = $GATE_STATEFUL_EXAMPLES
inference.algorithms = ["location-headers", "dependency-analysis"]
TOML
baseline_args=()
if [ -f "$BASELINE" ]; then baseline_args=(--baseline "$BASELINE"); fi
status=0
# Two runs per token: the per-operation phases, then the stateful phase with its own time (run after them in one
# invocation, it got the few seconds they left and followed no link).
for role in owner viewer; do
  token=$("$APP_PY" -c "import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])" "$work/tokens.json" "$role")
  for run in "$GATE_PHASES:$GATE_MAX_TIME" "stateful:$GATE_STATEFUL_TIME"; do
    phases=${run%%:*} seconds=${run##*:}
    [ "$seconds" -gt 0 ] || continue
    echo "== schemathesis: $role token, phases $phases"
    "$ST_VENV/bin/schemathesis" --config-file "$work/schemathesis.toml" run "$work/openapi.json" \
      --url "http://127.0.0.1:$port" --header "Authorization: Bearer $token" \
      --checks not_a_server_error,response_schema_conformance \
      --phases "$phases" --max-time "$seconds" --seed "$GATE_SEED" \
      --workers "$GATE_WORKERS" --request-timeout 30 --no-shrink \
      "${baseline_args[@]}" --generation-database none \
      --report junit,ndjson --report-dir "$GATE_REPORT_DIR/$role-${phases//,/-}" \
      --warnings off || status=1
  done
done
# The server's own account of what failed (4xx warnings left out: the fuzzer sends bad input on purpose).
if grep -q "ERROR" "$work/server.log"; then
  echo "== server errors"; grep -A30 "ERROR" "$work/server.log" | tail -n 200
fi
cp "$work/server.log" "$GATE_REPORT_DIR/server.log"
exit $status
