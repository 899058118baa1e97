#!/usr/bin/env bash
# Emulator throughput (release build). Usage: bench/emulator_throughput.sh [USERS] [TOKEN_REQUESTS]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
swift build -c release --product vault-emulator 2>&1 | grep -Ev "^\[|unhandled|CMakeLists" || true
.venv/bin/python bench/emulator_throughput.py "$(swift build -c release --show-bin-path)/vault-emulator" "${1:-100000}" "${2:-400}"
