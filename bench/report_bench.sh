#!/usr/bin/env bash
# `vault report` over 1,000 and 10,000 synthetic applications (3 credentials each, counting their service principals')
# against curl fetching the same pages in the same run; peak RSS at both sizes. Usage: bench/report_bench.sh [RUNS]
# vault is the release binary of scripts/release-build.sh (scratch path .build-release); vault-emulator is built in
# release with the same flags (so it shares that build), and both sides of the comparison talk to it.
set -euo pipefail
cd "$(dirname "$0")/.."
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
scripts/release-build.sh "$stage" /usr >/dev/null
revision="$("$stage/usr/bin/vault" --version | sed -n 's/.*(git \(.*\))$/\1/p')"
flags=(-c release --scratch-path .build-release --static-swift-stdlib --disable-local-rpath
       -Xcc "-DVAULT_GIT_REVISION=\"$revision\"" -Xlinker -z -Xlinker relro -Xlinker -z -Xlinker now)
swift build "${flags[@]}" --product vault-emulator 2>&1 | grep -Ev "^\[|unhandled|CMakeLists" || true
python=.venv/bin/python; [ -x "$python" ] || python=python3
"$python" bench/report_bench.py "$stage/usr/bin/vault" "$(swift build "${flags[@]}" --show-bin-path)/vault-emulator" "${1:-5}"
