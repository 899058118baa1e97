#!/usr/bin/env bash
# A fleet of HOSTS host vaults (default 200) on one real OpenBao dev server, each with its own AppRole login, against
# the naive set-up (each host a copy of the secret). Prints backend reads per token served, Entra requests per host
# per token lifetime, and the time for a rotation to reach every host, for both.
# Usage: bench/fleet.sh [HOSTS]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
stage="$(mktemp -d /tmp/vault-bench-stage.XXXXXX)"
trap 'rm -rf "$stage"' EXIT
scripts/release-build.sh "$stage" /usr >/dev/null
swift build --product vault-emulator 2>&1 | grep -Ev "^\[|unhandled|CMakeLists" || true
VAULT_BIN_DIR="$(swift build --show-bin-path)" VAULT_BENCH_VAULT="$stage/usr/bin/vault" .venv/bin/python bench/fleet.py "${1:-200}"
