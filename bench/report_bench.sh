#!/usr/bin/env bash
# `vault report` over 1,000 and 10,000 synthetic applications (3 credentials each, counting their service principals')
# against curl fetching the same pages in the same run; peak RSS at both sizes. Usage: bench/report_bench.sh [RUNS]
# Uses the release binary of scripts/release-build.sh (scratch path .build-release) and a release vault-emulator.
set -euo pipefail
cd "$(dirname "$0")/.."
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
scripts/release-build.sh "$stage" /usr >/dev/null
swift build -c release --scratch-path .build-release --product vault-emulator 2>&1 | grep -Ev "^\[|unhandled|CMakeLists" || true
python=.venv/bin/python; [ -x "$python" ] || python=python3
"$python" bench/report_bench.py "$stage/usr/bin/vault" "$(swift build -c release --scratch-path .build-release --show-bin-path)/vault-emulator" "${1:-5}"
