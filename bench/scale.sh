#!/usr/bin/env bash
# vault at 1, 1,000 and 10,000 apps with cached tokens. Usage: bench/scale.sh [SIZES…]   (SCALE_RUNS=15)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
swift build -c release --product vault --static-swift-stdlib 2>&1 | grep -Ev "^\[|unhandled|CMakeLists" || true
swift build -c release --product vault-scale-seed 2>&1 | grep -Ev "^\[|unhandled|CMakeLists" || true
swift build --product vault-emulator 2>&1 | grep -Ev "^\[|unhandled|CMakeLists" || true
rel="$(swift build -c release --show-bin-path)"
.venv/bin/python bench/scale.py "$rel/vault" "$(swift build --show-bin-path)/vault-emulator" "$rel/vault-scale-seed" "$@"
