#!/usr/bin/env bash
# fuzz-run.sh TARGET BUILD_DIR FUZZ_DIR SECONDS MAX_LEN [libFuzzer flags...]
#
# Runs BUILD_DIR/TARGET for SECONDS over a fresh copy of its seed corpus
# (FUZZ_DIR/corpus/TARGET, never written to) in BUILD_DIR/run/TARGET/, and
# writes one line to BUILD_DIR/run/TARGET/summary:
#   TARGET: N executions in S s, 0 crashes
# or, when it crashed, the input that did it.  Always exits 0: `make fuzz`
# reads the summaries and fails at the end, after every target has run.
set -uo pipefail

target=$1 build=$2 fuzzdir=$3 seconds=$4 maxlen=$5
shift 5

work=$build/run/$target
rm -rf "$work"
mkdir -p "$work/corpus" "$work/artifacts"
cp "$fuzzdir/corpus/$target"/* "$work/corpus/" 2>/dev/null || true

dict=()
[ -f "$fuzzdir/dict/$target.dict" ] && dict=(-dict="$fuzzdir/dict/$target.dict")

echo "== $target: ${seconds}s over $(ls "$work/corpus" | wc -l) seed inputs (log: $work/log)"
start=$(date +%s)
# -timeout: one input running 10 s is a hang, reported like a crash.
# The outer timeout only guards against libFuzzer itself not stopping.
timeout -k 10 $((seconds + 60)) "$build/$target" \
	-max_total_time="$seconds" -max_len="$maxlen" -timeout=10 \
	-artifact_prefix="$work/artifacts/" -print_final_stats=1 \
	"${dict[@]}" "$@" "$work/corpus" >"$work/log" 2>&1
rc=$?
elapsed=$(( $(date +%s) - start ))

runs=$(sed -n 's/^Done \([0-9]*\) runs in \([0-9]*\) second.*/\1/p' "$work/log" | tail -1)
secs=$(sed -n 's/^Done \([0-9]*\) runs in \([0-9]*\) second.*/\2/p' "$work/log" | tail -1)
[ -n "$runs" ] || runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/log" | tail -1)
[ -n "$runs" ] || runs='?'
[ -n "$secs" ] || secs=$elapsed

crashes=$(find "$work/artifacts" -type f | wc -l)
if [ "$rc" -eq 0 ] && [ "$crashes" -eq 0 ]; then
	line="$target: $runs executions in $secs s, 0 crashes"
else
	input=$(find "$work/artifacts" -type f | head -1)
	[ "$crashes" -gt 0 ] || crashes=1
	word=crashes
	[ "$crashes" -eq 1 ] && word=crash
	line="$target: $runs executions in $secs s, $crashes $word (exit $rc; input: ${input:-none}; log: $work/log; replay: $build/$target ${input:-INPUT})"
	# what went wrong, from the log
	grep -E '^(==[0-9]+==ERROR|SUMMARY|.*check failed:|.*runtime error:)' "$work/log" | head -5 >&2
fi
echo "$line" >"$work/summary"
echo "$line"
exit 0
