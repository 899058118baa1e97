#!/usr/bin/env bash
# The federated demo, offline: an app moves from its client secret to a federated credential (vault federate), with a
# local OIDC issuer and vault-emulator trusting it (scripts/demo_federated.py). Installs what is missing first.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
echo "== building vault and vault-emulator (debug)"
swift build --product vault 2>&1 | grep -Ev "^\[|unhandled|CMakeLists" || true
swift build --product vault-emulator 2>&1 | grep -Ev "^\[|unhandled|CMakeLists" || true
VAULT_BIN_DIR="$(swift build --show-bin-path)" exec .venv/bin/python scripts/demo_federated.py
