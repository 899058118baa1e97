#!/usr/bin/env bash
# The fleet rotation under faults, checked like Jepsen would (issue 30): 3 host vaults and a 3-node OpenBao raft
# cluster (TLS) in network namespaces on this machine, the emulator reachable from each; per round (one seed) a fresh
# app, a workload of `vault token` / `run users` / `rotate-secret` (and `--resume` after a failure) on every host, one
# nemesis fault chosen by the seed, healing, a last `--resume`, and a checker of the four safety properties and the
# availability figure over the history and every version of the backend's records. Prints figures per fault kind.
# Usage (as root: namespaces, nftables and signals; the processes under test run as vault-test):
#   bench/fleet_faults.sh [SEED…]         the rounds named, or VAULT_FAULTS_ROUNDS rounds (default 200) from seed 1
# Environment: VAULT_FAULTS_ROUNDS, VAULT_BIN_DIR (a built vault and vault-emulator; default: swift build here, debug),
# VAULT_FAULTS_USER (default vault-test, created if missing), VAULT_FAULTS_BAO (the bao binary; default: the venv's),
# VAULT_FAULTS_HISTORY (where every round's history goes as JSON lines; default a file under /tmp, named at the end).
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" -eq 0 ] || { echo "fleet_faults: run as root (namespaces, nftables, signals); the processes under test run as an ordinary user" >&2; exit 77; }
VAULT_SETUP_SYSTEM_ONLY=1 VAULT_SKIP_VENV=1 scripts/setup.sh >/dev/null
if [ -z "${VAULT_FAULTS_USER:-}" ]; then
  eval "$(scripts/test-accounts.sh)"
  export VAULT_FAULTS_USER="$TEST_USER"
fi
if [ -z "${VAULT_BIN_DIR:-}" ]; then
  swift build -j 1 --product vault 2>&1 | grep -Ev "^\[|unhandled|CMakeLists" || true
  swift build -j 1 --product vault-emulator 2>&1 | grep -Ev "^\[|unhandled|CMakeLists" || true
  VAULT_BIN_DIR="$(swift build --show-bin-path)"
  export VAULT_BIN_DIR
fi
history="${VAULT_FAULTS_HISTORY:-$(mktemp /tmp/vault-fleet-faults.XXXXXX.jsonl)}"
status=0
/usr/bin/python3 bench/fleet_faults.py --rounds "${VAULT_FAULTS_ROUNDS:-200}" --history-out "$history" --self-check "$@" || status=$?
echo "history of every round: $history"
exit "$status"
