#!/usr/bin/env bash
# Contracts CI: the single entry point (`make test` calls it).
#
# Installs what is missing (npm deps via `npm ci`, the slither/web3 venv), then:
#   1. committed build artifacts match a fresh deterministic compile
#   2. formatting (forge fmt --check)
#   3. forge build (compiler and lint warnings are errors)
#   4. forge test: unit, fuzz and invariant suites
#   5. gas snapshot: no entry may grow; prints the per-call gas figures
#   6. slither: no finding at all (accepted ones are suppressed in code with a reason)
#   7. anvil smoke: the committed artifacts deploy and run on anvil from web3.py
# Works from a fresh clone with only node/npm and python3.11 installed.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")"
ROOT="$(pwd)"
FORGE="$ROOT/node_modules/.bin/forge"
VENV="$ROOT/.venv-slither"
PYTHON="${PYTHON:-python3.11}"
command -v "$PYTHON" >/dev/null 2>&1 || PYTHON=python3

SUMMARY=()
CI_START=$SECONDS
TEST_COUNTS=""

print_summary() {
  local status=$1
  echo
  echo "==================== contracts CI summary ===================="
  for line in "${SUMMARY[@]}"; do echo "  $line"; done
  echo "  total: $((SECONDS - CI_START))s"
  if [[ -n "$TEST_COUNTS" ]]; then echo "contracts: $TEST_COUNTS"; fi
  echo "contracts CI: $status"
  echo "=============================================================="
}

# step NAME CMD...: runs CMD, records its duration; stops the run with a summary on failure.
# (errexit does not apply inside a condition, so step functions check their commands themselves.)
step() {
  local name=$1
  shift
  local start=$SECONDS
  echo
  echo "---- $name"
  if "$@"; then
    SUMMARY+=("$(printf '%-40s ok    %4ss' "$name" $((SECONDS - start)))")
  else
    local rc=$?
    SUMMARY+=("$(printf '%-40s FAIL  %4ss (exit %s)' "$name" $((SECONDS - start)) "$rc")")
    print_summary FAILED
    exit 1
  fi
}

sha() { sha256sum "$1" | cut -d' ' -f1; }

install_node_deps() {
  local want
  want="$(sha package-lock.json)"
  if [[ -x "$FORGE" && -f node_modules/.ci-lock-sha256 && "$(cat node_modules/.ci-lock-sha256)" == "$want" ]]; then
    echo "node_modules up to date"
  else
    npm ci --no-audit --no-fund || return 1
    echo "$want" > node_modules/.ci-lock-sha256
  fi
  chmod +x scripts/solc || return 1
  "$FORGE" --version | head -1 || return 1
  "$ROOT/node_modules/.bin/anvil" --version | head -1 || return 1
}

install_venv() {
  local want
  want="$(sha slither-requirements.txt)"
  if [[ -x "$VENV/bin/slither" && -f "$VENV/.ci-req-sha256" && "$(cat "$VENV/.ci-req-sha256")" == "$want" ]]; then
    echo ".venv-slither up to date"
  else
    rm -rf "$VENV"
    "$PYTHON" -m venv "$VENV" || return 1
    "$VENV/bin/pip" install --disable-pip-version-check --quiet -r slither-requirements.txt || return 1
    echo "$want" > "$VENV/.ci-req-sha256"
  fi
  "$VENV/bin/slither" --version
}

forge_test() {
  mkdir -p cache
  local log=cache/forge-test.log
  set +e
  "$FORGE" test 2>&1 | tee "$log"
  local rc=${PIPESTATUS[0]}
  set -e
  # "Ran 4 test suites in ...: 79 tests passed, 0 failed, 0 skipped (79 total tests)"
  local line
  line="$(grep -Eo '[0-9]+ tests passed, [0-9]+ failed, [0-9]+ skipped' "$log" | tail -1 || true)"
  if [[ -n "$line" ]]; then
    TEST_COUNTS="$(sed -E 's/([0-9]+) tests passed, ([0-9]+) failed, ([0-9]+) skipped/\1 passed, \2 failed, \3 skipped/' <<<"$line")"
  fi
  return "$rc"
}

run_slither() {
  "$VENV/bin/slither" . --fail-pedantic
}

step "npm dependencies" install_node_deps
step "slither venv" install_venv
step "artifacts unchanged (compile --check)" node scripts/compile.js --check --build-info .build-info
step "forge fmt --check" "$FORGE" fmt --check src test
step "forge build" "$FORGE" build --deny warnings
step "forge test" forge_test
step "gas snapshot (no growth)" node scripts/gas-check.js
step "slither" run_slither
step "anvil smoke (web3.py)" "$VENV/bin/python" scripts/anvil_smoke.py
print_summary PASSED
