#!/usr/bin/env bash
# Warm `vault token` vs MSAL for Python, whole processes. Usage: bench/token_warm.sh [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
swift build -c release --product vault --static-swift-stdlib 2>&1 | grep -Ev "^\[|unhandled|CMakeLists" || true
swift build --product vault-emulator 2>&1 | grep -Ev "^\[|unhandled|CMakeLists" || true
.venv/bin/python bench/token_warm.py "$(swift build -c release --show-bin-path)/vault" "$(swift build --show-bin-path)/vault-emulator" "${1:-40}"
