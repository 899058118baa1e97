#!/usr/bin/env bash
# Warm `vault token` vs MSAL for Python, whole processes. Usage: bench/token_warm.sh [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
# The binary users get: the one scripts/package.sh and scripts/install.sh ship (release, static Swift standard library,
# stripped, RELRO + BIND_NOW), built by the same script.
stage="$(mktemp -d /tmp/vault-bench-stage.XXXXXX)"
trap 'rm -rf "$stage"' EXIT
scripts/release-build.sh "$stage" /usr >/dev/null
swift build --product vault-emulator 2>&1 | grep -Ev "^\[|unhandled|CMakeLists" || true
release="$stage/usr/bin/vault"
echo "release binary: $("$release" --version)"
# The test-only hooks must not exist in what users run.
if grep -qa -e VAULT_TEST_CRASH_AT -e VAULT_TEST_HARDENING_FAIL -e VAULT_TEST_COUNT_KDF -e VAULT_TEST_FAST_PATH "$release"; then
  echo "FAIL: the release binary contains a test hook" >&2; exit 1
fi
echo "release binary: no test hooks (VAULT_TEST_CRASH_AT, VAULT_TEST_HARDENING_FAIL, VAULT_TEST_COUNT_KDF, VAULT_TEST_FAST_PATH absent)"
# The floor for a Swift tool on this machine, measured in the same run: a static Swift "hello".
echo 'print("hello")' >"$stage/hello.swift"
swiftc -O -static-stdlib "$stage/hello.swift" -o "$stage/hello"
.venv/bin/python bench/token_warm.py "$release" "$(swift build --show-bin-path)/vault-emulator" "${1:-40}" "$stage/hello"
