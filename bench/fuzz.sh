#!/usr/bin/env bash
# Fuzzes every parser harness with libFuzzer + ASan (docs/development.md, "Fuzzing") for SECONDS each
# (default 60), starting from the committed corpora in Tests/Fuzz/NAME. New interesting inputs go to a scratch corpus
# under .build-fuzz/corpus/NAME (not committed); crashes land in .build-fuzz/artifacts/NAME. Prints, per harness:
# executions, exec/s, coverage (cov: edges, ft: features) and whether anything crashed, timed out or leaked.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-60}"
harnesses=(${FUZZ_HARNESSES:-vault-file token-cache token-response graph retry-after user-input identity-request backend-json json})
scratch=.build-fuzz
work=.build-fuzz-work   # outside SwiftPM's scratch folder
mkdir -p "$work"
for h in "${harnesses[@]}"; do
  swift build --product "fuzz-$h" -c release --sanitize=fuzzer -Xswiftc -sanitize=fuzzer,address -Xswiftc -DFUZZING \
    --scratch-path "$scratch" 2>&1 | grep -E "error|warning: .*instrument" || true
done
bin="$(swift build -c release --scratch-path "$scratch" --show-bin-path)"
printf "%-16s %12s %10s %8s %8s  %s\n" harness executions exec/s cov ft result
status=0
for h in "${harnesses[@]}"; do
  corpus="$work/corpus/$h"; artifacts="$work/artifacts/$h"
  mkdir -p "$corpus" "$artifacts"
  log="$work/fuzz-$h.log"
  maxlen=65536
  [ "$h" = retry-after ] && maxlen=512   # a header value
  set +e
  SWIFT_BACKTRACE=enable=no "$bin/fuzz-$h" -max_total_time="$seconds" -print_final_stats=1 -workers=1 -timeout=10 \
    -rss_limit_mb=2048 -max_len=$maxlen -artifact_prefix="$artifacts/" "$corpus" "Tests/Fuzz/$h" >"$log" 2>&1
  rc=$?
  set -e
  execs=$(grep -oE "stat::number_of_executed_units: *[0-9]+" "$log" | grep -oE "[0-9]+$" || echo 0)
  rate=$(grep -oE "stat::average_exec_per_sec: *[0-9]+" "$log" | grep -oE "[0-9]+$" || echo 0)
  cov=$(grep -oE "cov: [0-9]+" "$log" | tail -1 | grep -oE "[0-9]+" || echo 0)
  ft=$(grep -oE "ft: [0-9]+" "$log" | tail -1 | grep -oE "[0-9]+" || echo 0)
  found=$(find "$artifacts" -type f 2>/dev/null | wc -l)
  result="ok"
  if [ "$rc" -ne 0 ] || [ "$found" -ne 0 ]; then result="FOUND $(find "$artifacts" -type f -printf '%f ' 2>/dev/null)(see $log)"; status=1; fi
  printf "%-16s %12s %10s %8s %8s  %s\n" "$h" "$execs" "$rate" "$cov" "$ft" "$result"
done
exit $status
