#!/usr/bin/env bash
# CI (.ci/run): what every change must pass, on Debian 12.
#   build-gcc, build-clang   the extension built with each compiler and
#                            -Werror added: any warning fails
#   ubsan                    the regression suite against make UBSAN=1, a
#                            gcc build with -fsanitize=undefined where
#                            undefined behaviour aborts the backend
#   fuzz                     make fuzz (fuzz/fuzz.mk), time-bounded
#   test                     make test, the README's command, on the normal
#                            build (which it reinstalls)
# Every step runs even when one before it failed. The last line printed is
# "N passed, M failed" over all steps: the tests of make test and of the
# UBSan run, plus one check per build (and for fuzz); a step that fails
# without a failing test to show for it counts as one failure.
#
# Installs packages (scripts/deps.sh) and the extension into PostgreSQL's
# directories, so on a fresh machine run it as root. PG_CONFIG, when set, is
# used throughout (e.g. a private copy of PostgreSQL to install into);
# otherwise Debian's PostgreSQL 15, as `make` picks it.
set -euo pipefail
given_pg_config=${PG_CONFIG:-}
# shellcheck source=scripts/common.sh
. "$(dirname "$0")/common.sh"
cd "$ROOT"

# make fuzz: seconds per target, and a bound on the whole step.
FUZZ_SECONDS=${AUTH_CI_FUZZ_SECONDS:-60}
FUZZ_TIMEOUT=${AUTH_CI_FUZZ_TIMEOUT:-480}

MK=(make)
[ -z "$given_pg_config" ] || MK+=(PG_CONFIG="$given_pg_config")
JOBS=$(nproc 2>/dev/null || echo 2)
LOGS=$(mktemp -d /tmp/auth-ci.XXXXXX)
FUZZ_SID=""   # the session make fuzz runs in, while it runs
trap 'rm -rf "$LOGS"; [ -z "$FUZZ_SID" ] || kill_session "$FUZZ_SID"' EXIT
trap 'exit 130' INT TERM   # so that the EXIT trap runs

total_pass=0 total_fail=0 summary=()

# record STEP PASS FAIL SECONDS [NOTE]
record() {
	total_pass=$((total_pass + $2))
	total_fail=$((total_fail + $3))
	summary+=("$(printf '%-12s %d passed, %d failed  (%ds)%s' "$1" "$2" "$3" "$4" "${5:+ $5}")")
}

# check STEP CMD...: a step that is one check, passed when CMD succeeds.
check() {
	local step=$1 start=$SECONDS rc=0
	shift
	say "ci: $step"
	"$@" || rc=$?
	if [ "$rc" -eq 0 ]; then
		record "$step" 1 0 $((SECONDS - start))
	else
		record "$step" 0 1 $((SECONDS - start)) "(exited $rc)"
	fi
}

# tests STEP CMD...: a step whose CMD ends with "N passed, M failed"
# (scripts/test.sh); its counts are added to the total.
tests() {
	local step=$1 start=$SECONDS rc line p=0 f=0 note=""
	shift
	say "ci: $step"
	set +e
	"$@" 2>&1 | tee "$LOGS/$step.log"
	rc=${PIPESTATUS[0]}
	set -e
	line=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$LOGS/$step.log" | tail -n 1 || true)
	[ -z "$line" ] || read -r p _ f _ <<<"$line"
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		note="(exited $rc without a failing test: counted as 1 failure)"
		f=1
	fi
	record "$step" "$p" "$f" $((SECONDS - start)) "$note"
}

# Step functions chain with || return: they run where set -e is off.

# build CC [MAKE-ARGS...]: a clean build, in parallel.
build() {
	local cc=$1
	shift
	"${MK[@]}" -s clean || return
	"${MK[@]}" -j"$JOBS" CC="$cc" "$@"
}

# The regression suite against the UBSan build, installed in place of the
# normal one, then uninstalled (the test step installs the normal one). A
# report in the server log fails the step even if no test noticed.
ubsan() {
	local rc=0 log
	build gcc UBSAN=1 || return
	# (no grep -q after a pipe: under pipefail its early exit fails the pipe)
	[[ $(ldd auth.so) == *libubsan* ]] || { say "auth.so does not link libubsan"; return 1; }
	[[ $(nm -D --defined-only auth.so) == *__ubsan_default_options* ]] ||
		{ say "auth.so does not export __ubsan_default_options"; return 1; }
	"${MK[@]}" -s install UBSAN=1 || return
	PG_CONFIG=$PG_CONFIG MAKE=make AUTH_TEST_LAYERS=regress bash scripts/test.sh || rc=$?
	for log in "$TMPROOT/cluster/server.log" "$TMPROOT/server.log"; do
		[ -f "$log" ] || continue
		if grep -q 'runtime error:' "$log"; then
			say "UBSan reports in $log:"
			grep -A 20 'runtime error:' "$log" | head -n 200
			rc=1
		fi
	done
	# Nothing of it stays installed (its bitcode has a file more).
	"${MK[@]}" -s uninstall UBSAN=1 || rc=$?
	return "$rc"
}

say "ci: packages"
bash scripts/deps.sh || { echo "0 passed, 1 failed"; exit 1; }

check build-gcc build gcc COPT=-Werror
check build-clang build clang COPT=-Werror
tests ubsan ubsan

# kill_session SID: SIGKILL every process of session SID. From /proc, as a
# bare Debian 12 has no procps (pkill).
kill_session() {
	local f line pid fields pids=()
	for f in /proc/[0-9]*/stat; do
		{ read -r line <"$f"; } 2>/dev/null || continue
		pid=${line%% *}
		read -r -a fields <<<"${line##*) }"   # state ppid pgrp session ...
		[ "${fields[3]}" = "$1" ] && pids+=("$pid")
	done
	[ ${#pids[@]} -eq 0 ] || kill -KILL "${pids[@]}" 2>/dev/null || true
}

# make fuzz, killed with all it started after FUZZ_TIMEOUT seconds. It runs
# in a session of its own: fuzz-run.sh's timeout puts each fuzzer in a
# process group of its own, out of reach of a timeout around make.
fuzz_bounded() {
	local pid rc=0 wrc=0 waited=0
	setsid "${MK[@]}" -j"$JOBS" fuzz FUZZ_SECONDS="$FUZZ_SECONDS" &
	pid=$!
	FUZZ_SID=$pid   # setsid made it the session leader
	while kill -0 "$pid" 2>/dev/null && [ "$waited" -lt "$FUZZ_TIMEOUT" ]; do
		sleep 1
		waited=$((waited + 1))
	done
	if kill -0 "$pid" 2>/dev/null; then
		say "make fuzz still running after ${FUZZ_TIMEOUT}s: killed"
		kill_session "$FUZZ_SID"
		rc=124
	fi
	wait "$pid" || wrc=$?
	[ "$rc" -ne 0 ] || rc=$wrc
	FUZZ_SID=""
	return "$rc"
}

# The UBSan objects must not reach make test; cleaning now, not after fuzz,
# keeps what make fuzz leaves (a crash's input) for the reader.
"${MK[@]}" -s clean || record clean 0 1 0 "(make clean failed)"

# ---- FUZZ ------------------------------------------------------------------
# make fuzz (fuzz/fuzz.mk): every libFuzzer target for AUTH_CI_FUZZ_SECONDS
# (60), as many at a time as there are cores; the step is killed after
# AUTH_CI_FUZZ_TIMEOUT seconds (480) should a target not stop by itself. A
# crash's input stays in fuzz/build/run/<target>/artifacts/.
check fuzz fuzz_bounded
# ---------------------------------------------------------------------------

# Last, so that the normal build is what stays installed.
tests test "${MK[@]}" test

say "ci results"
printf '%s\n' "${summary[@]}"
echo "$total_pass passed, $total_fail failed"
[ "$total_fail" -eq 0 ]
