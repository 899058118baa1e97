#!/usr/bin/env bash
# `vault run users` vs the seed's Python script at 10k and 100k users. Usage: bench/users_bench.sh [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
swift build -c release --product vault --static-swift-stdlib 2>&1 | grep -Ev "^\[|unhandled|CMakeLists" || true
swift build -c release --product vault-emulator 2>&1 | grep -Ev "^\[|unhandled|CMakeLists" || true
.venv/bin/python bench/users_bench.py "$(swift build -c release --show-bin-path)/vault" "$(swift build -c release --show-bin-path)/vault-emulator" "${1:-5}"
