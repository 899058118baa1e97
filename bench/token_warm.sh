#!/usr/bin/env bash
# Warm `vault token` vs MSAL for Python, whole processes. Usage: bench/token_warm.sh [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
swift build -c release --product vault --static-swift-stdlib 2>&1 | grep -Ev "^\[|unhandled|CMakeLists" || true
swift build --product vault-emulator 2>&1 | grep -Ev "^\[|unhandled|CMakeLists" || true
release="$(swift build -c release --show-bin-path)/vault"
# The test-only hooks must not exist in what users run.
if grep -qa -e VAULT_TEST_CRASH_AT -e VAULT_TEST_HARDENING_FAIL "$release"; then
  echo "FAIL: the release binary contains a test hook" >&2; exit 1
fi
echo "release binary: no test hooks (VAULT_TEST_CRASH_AT, VAULT_TEST_HARDENING_FAIL absent)"
.venv/bin/python bench/token_warm.py "$(swift build -c release --show-bin-path)/vault" "$(swift build --show-bin-path)/vault-emulator" "${1:-40}"
