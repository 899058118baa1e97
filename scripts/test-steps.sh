#!/usr/bin/env bash
# The steps of the test command, run by whoever runs this script: build, swift test, fuzz-corpus replay, package,
# interop. scripts/test.sh calls it as the unprivileged test account (when started as root) or directly (when started
# by an ordinary user). Usage: scripts/test-steps.sh [STEP…]   STEP: build swift fuzz package interop (default: all)
# Environment: VAULT_KILL_LOOP (kill-loop iterations, default 50), VAULT_KILL_LOOP_ROTATION (default 30),
# VAULT_KILL_LOOP_MIGRATION (kills during the version-1 → 2 migration, default 20),
# VAULT_TEST_PACKAGE (default 1: build the .deb with scripts/package.sh and test it as installed; 0 skips that),
# VAULT_PACKAGE_ROOT (a tree the .deb was installed into by root; without it the package tests extract it themselves).
set -euo pipefail
cd "$(dirname "$0")/.."
steps=("$@")
[ ${#steps[@]} -gt 0 ] || steps=(build swift fuzz package interop)
# A normal account's limits, whoever starts the tests: 8 MiB of locked memory, 1024 descriptors (lowered, never raised).
lower() { # lower() OPTION MAX: sets the soft and hard limit to MAX unless it is already lower
  local now; now="$(ulimit "$1")"
  if [ "$now" = unlimited ] || [ "$now" -gt "$2" ]; then ulimit "$1" "$2"; fi
}
lower -l 8192
lower -n 1024
echo "== as $(id -un) (uid $(id -u)), RLIMIT_MEMLOCK $(ulimit -l) KiB, RLIMIT_NOFILE $(ulimit -n)"
scripts/setup.sh
VAULT_BIN_DIR="$(swift build --show-bin-path)"
export VAULT_BIN_DIR
for step in "${steps[@]}"; do
  case "$step" in
  build)
    echo "== build"
    for extra in "" --build-tests; do
      blog="$(mktemp)"
      bstatus=0
      swift build $extra >"$blog" 2>&1 || bstatus=$?
      grep -Ev "^\[|unhandled|CMakeLists" "$blog" || true
      # The project's own code builds without a compiler warning (one was a real bug): a new one fails the tests.
      if [ "$bstatus" -eq 0 ] && grep -E "^$PWD/(Sources|Tests)/[^:]+:[0-9]+:[0-9]+: warning:" "$blog" >/dev/null; then
        echo "swift build $extra: the project's code has compiler warnings (above); fix them"
        bstatus=65
      fi
      rm -f "$blog"
      [ "$bstatus" -eq 0 ] || { echo "swift build $extra FAILED (exit $bstatus)"; exit "$bstatus"; }
    done
    test -x "$VAULT_BIN_DIR/vault" || { echo "no $VAULT_BIN_DIR/vault after the build"; exit 70; }
    ;;
  swift)
    echo "== swift test"
    log="$(mktemp)"
    status=0
    swift test --skip-build >"$log" 2>&1 || status=$?
    # Show failures and the summary lines, not every passing test.
    grep -Ev "^\[|unhandled|CMakeLists|^◇|started\.$|^✔ Test \"|^Test Case .* (started|passed)" "$log" || true
    rm -f "$log"
    [ "$status" -eq 0 ] || { echo "swift test FAILED (exit $status)"; exit "$status"; }
    ;;
  fuzz)
    echo "== fuzz corpora (replayed through the plain harness builds)"
    for corpus in Tests/Fuzz/*/; do
      name="$(basename "$corpus")"
      "$VAULT_BIN_DIR/fuzz-$name" "$corpus" | sed "s/^/fuzz-$name: /"
    done
    ;;
  package)
    [ "${VAULT_TEST_PACKAGE:-1}" = "1" ] || continue
    echo "== package (scripts/package.sh: release build, .deb, tarball, lintian)"
    plog="$(mktemp)"
    pstatus=0
    scripts/package.sh >"$plog" 2>&1 || pstatus=$?
    grep -Ev "^\[|unhandled|CMakeLists|^Building for|^Build of product|running with root privileges|mktemp' is dangerous" "$plog" || true
    rm -f "$plog"
    [ "$pstatus" -eq 0 ] || { echo "scripts/package.sh FAILED (exit $pstatus)"; exit "$pstatus"; }
    ;;
  interop)
    if [ "${VAULT_TEST_PACKAGE:-1}" = "1" ]; then
      VAULT_PACKAGE_DEB="$(ls -t "$PWD"/dist/vault_*.deb | head -n 1)"
      export VAULT_PACKAGE_DEB
    fi
    echo "== interop (MSAL for Python $(.venv/bin/python -c 'import msal; print(msal.__version__)'))"
    .venv/bin/pytest -q -rs Tests/interop
    ;;
  *) echo "test-steps: unknown step '$step'" >&2; exit 64 ;;
  esac
done
