#!/usr/bin/env bash
# A fleet of HOSTS host vaults (default 200) on one real OpenBao dev server, each with its own AppRole login, against
# the naive set-up (each host a copy of the secret). Prints backend reads per token served, Entra requests per host
# per token lifetime, and the time for a rotation to reach every host, for both.
# --secretless: HOSTS hosts (default 50) whose app has no secret at all (an OpenBao identity token is the client
# assertion, through one federated credential), against HOSTS hosts of the secret mode on the same `bao server -dev
# -dev-tls`: Entra requests per host per token lifetime, the time from destroying a host's secret id to its first
# refused fetch, and every secret of the app wherever it is (bench/fleet_secretless.py).
# Usage: bench/fleet.sh [HOSTS] | bench/fleet.sh --secretless [HOSTS]
set -euo pipefail
cd "$(dirname "$0")/.."
script=bench/fleet.py
default=200
if [ "${1:-}" = "--secretless" ]; then
  script=bench/fleet_secretless.py
  default=50
  shift
fi
scripts/setup.sh
stage="$(mktemp -d /tmp/vault-bench-stage.XXXXXX)"
trap 'rm -rf "$stage"' EXIT
scripts/release-build.sh "$stage" /usr >/dev/null
swift build --product vault-emulator 2>&1 | grep -Ev "^\[|unhandled|CMakeLists" || true
VAULT_BIN_DIR="$(swift build --show-bin-path)" VAULT_BENCH_VAULT="$stage/usr/bin/vault" .venv/bin/python "$script" "${1:-$default}"
