#!/usr/bin/env bash
# Runs every test: installs what is missing, builds, runs the Swift tests and the MSAL-for-Python interop tests.
# Environment: VAULT_KILL_LOOP (kill-loop iterations, default 50), VAULT_KILL_LOOP_ROTATION (default 30),
# VAULT_KILL_LOOP_MIGRATION (kills during the version-1 → 2 migration, default 20),
# VAULT_TEST_PACKAGE (default 1: build the .deb with scripts/package.sh and test it as installed; 0 skips that).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
echo "== build"
swift build 2>&1 | grep -Ev "^\[|unhandled|CMakeLists" || true
swift build --build-tests 2>&1 | grep -Ev "^\[|unhandled|CMakeLists" || true
VAULT_BIN_DIR="$(swift build --show-bin-path)"
export VAULT_BIN_DIR
test -x "$VAULT_BIN_DIR/vault" && test -x "$VAULT_BIN_DIR/vault-emulator"
echo "== swift test"
log="$(mktemp)"
status=0
swift test --skip-build >"$log" 2>&1 || status=$?
# Show failures and the summary lines, not every passing test.
grep -Ev "^\[|unhandled|CMakeLists|^◇|started\.$|^✔ Test \"|^Test Case .* (started|passed)" "$log" || true
rm -f "$log"
[ "$status" -eq 0 ] || { echo "swift test FAILED (exit $status)"; exit "$status"; }
echo "== fuzz corpora (replayed through the plain harness builds)"
for corpus in Tests/Fuzz/*/; do
  name="$(basename "$corpus")"
  "$VAULT_BIN_DIR/fuzz-$name" "$corpus" | sed "s/^/fuzz-$name: /"
done
if [ "${VAULT_TEST_PACKAGE:-1}" = "1" ]; then
  echo "== package (scripts/package.sh: release build, .deb, tarball, lintian)"
  plog="$(mktemp)"
  pstatus=0
  scripts/package.sh >"$plog" 2>&1 || pstatus=$?
  grep -Ev "^\[|unhandled|CMakeLists|^Building for|^Build of product|running with root privileges|mktemp' is dangerous" "$plog" || true
  rm -f "$plog"
  [ "$pstatus" -eq 0 ] || { echo "scripts/package.sh FAILED (exit $pstatus)"; exit "$pstatus"; }
  VAULT_PACKAGE_DEB="$(ls -t dist/vault_*.deb | head -n 1)"
  export VAULT_PACKAGE_DEB
fi
echo "== interop (MSAL for Python $(.venv/bin/python -c 'import msal; print(msal.__version__)'))"
.venv/bin/pytest -q Tests/interop
echo "== all tests passed"
