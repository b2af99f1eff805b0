#!/usr/bin/env bash
# make test: run every test layer against a throwaway cluster and end with
# one line "N passed, M failed". Layers without files are skipped; a layer
# that fails without a failing test to show for it (crash, setup error)
# counts as one failure. AUTH_TEST_LAYERS="regress tap" runs a subset.
set -euo pipefail
# shellcheck source=scripts/common.sh
. "$(dirname "$0")/common.sh"
cd "$ROOT"
MAKE=${MAKE:-make}
LAYERS=${AUTH_TEST_LAYERS:-regress isolation tap}

start_throwaway_cluster

total_pass=0 total_fail=0
summary=() failed_layers=()

# pg_regress / pg_isolation_regress results: PG15 prints
# "test name ... ok|FAILED" (or "     name ... ok" in parallel groups),
# PG16+ prints "ok N - name" / "not ok N - name"; count both.
count_regress() {
	awk '
		/^(not )?ok +[0-9]+ +[-+] / { if ($1 == "not") f++; else p++; next }
		/^ *(test +)?[^ ]+ +\.\.\. +ok/ || /\.\.\. +failed \(ignored\)/ { p++; next }
		/^ *(test +)?[^ ]+ +\.\.\. +FAILED/ { f++ }
		END { print p + 0, f + 0 }' "$1"
}

# prove -v output: top-level TAP lines only (subtests are indented);
# "not ok ... # TODO" is an expected failure, as prove counts it.
count_tap() {
	awk '
		/^not ok [0-9]+/ { if ($0 ~ /# *TODO/) p++; else f++; next }
		/^ok [0-9]+/ { p++ }
		END { print p + 0, f + 0 }' "$1"
}

# record LAYER RC PASS FAIL [EXPECTED]
record() {
	local layer=$1 rc=$2 p=$3 f=$4 expected=${5:-} note=""
	if [ -n "$expected" ] && [ $((p + f)) -lt "$expected" ]; then
		note=" ($((expected - p - f)) of $expected tests not reported)"
		f=$((f + expected - p - f))
	fi
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		note="$note (exited $rc without a failing test: counted as 1 failure)"
		f=1
	fi
	total_pass=$((total_pass + p))
	total_fail=$((total_fail + f))
	[ "$f" -eq 0 ] || failed_layers+=("$layer")
	summary+=("$(printf '%-10s %d passed, %d failed%s' "$layer" "$p" "$f" "$note")")
}

skip() { summary+=("$(printf '%-10s skipped (%s)' "$1" "$2")"); }

in_dir() { local d=$1; shift; (cd "$d" && "$@"); }

has_layer() { [[ " $LAYERS " == *" $1 "* ]]; }

# run LOG CMD...: show the output and keep it; sets rc.
run() {
	local log=$1
	shift
	set +e
	"$@" 2>&1 | tee "$log"
	rc=${PIPESTATUS[0]}
	set -e
}

shopt -s nullglob
regress=(sql/*.sql)
specs=(test/specs/*.spec)
taps=(test/t/*.pl)

# pg_regress and pg_isolation_regress the PGXS way (make installcheck), one
# layer at a time so that a failing one does not keep the other from running.
# installcheck_layer LAYER COUNT WHAT-IS-MISSING MAKE-VARIABLE-THAT-SKIPS-THE-OTHER
installcheck_layer() {
	local layer=$1 count=$2 missing=$3 other=$4
	if ! has_layer "$layer"; then
		return
	elif [ "$count" -eq 0 ]; then
		skip "$layer" "$missing"
		return
	fi
	say "layer $layer: $count tests"
	run "$TMPROOT/$layer.log" "$MAKE" -s --no-print-directory installcheck "$other="
	read -r p f < <(count_regress "$TMPROOT/$layer.log")
	record "$layer" "$rc" "$p" "$f" "$count"
}
installcheck_layer regress "${#regress[@]}" "no sql/*.sql" ISOLATION
installcheck_layer isolation "${#specs[@]}" "no test/specs/*.spec" REGRESS

# test/interop: the JOSE library the JWT interoperability test runs against
# (jose, from the npm registry), exactly as its committed lock file pins it.
if has_layer tap && [ -f test/interop/package-lock.json ]; then
	if ! command -v npm >/dev/null; then
		say "npm is not installed: test/t/021_jwt_interop.pl will be skipped"
	elif [ ! -f test/interop/node_modules/.package-lock.json ] ||
		[ test/interop/package-lock.json -nt test/interop/node_modules/.package-lock.json ]; then
		say "npm ci in test/interop"
		(cd test/interop && npm ci --no-audit --no-fund --loglevel=error) ||
			die "npm ci failed in test/interop"
	fi
fi

# TAP tests make their own clusters with initdb, so when root they run as
# postgres, from a copy of test/t that postgres can read. PG15's
# PostgreSQL::Test::Utils reads TESTDIR (its tmp_check/ and tmp_check/log/
# go there); TESTDATADIR/TESTLOGDIR are what PG16+ reads, set for later.
if ! has_layer tap; then
	:
elif [ ${#taps[@]} -eq 0 ]; then
	skip tap "no test/t/*.pl"
else
	say "layer tap: ${#taps[@]} files"
	# The example application's browser test needs its npm packages, from
	# the committed lockfile; without them that test fails and says why.
	if [ -f examples/app/package-lock.json ]; then
		say "npm ci in examples/app"
		(cd examples/app && npm ci --no-audit --no-fund --loglevel=error) ||
			say "npm ci failed: test/t/040_example_app.pl will fail"
	fi
	tapdir=$AUTH_CLUSTER_BASE/tap
	rm -rf "$tapdir"
	mkdir -p "$tapdir/test"
	cp -r test/t "$tapdir/test/t"
	if is_root; then chown -R postgres: "$tapdir"; fi
	run "$TMPROOT/tap.log" in_dir "$tapdir" as_pg env -u PGHOST -u PGPORT -u PGUSER -u PGDATABASE \
		TESTDIR="$tapdir" TESTDATADIR="$tapdir/tmp_check" TESTLOGDIR="$tapdir/tmp_check/log" \
		PG_REGRESS="$PGXSDIR/src/test/regress/pg_regress" \
		AUTH_SRCDIR="$ROOT" \
		prove -v -I "$PGXSDIR/src/test/perl" -I test/t "${taps[@]}"
	read -r p f < <(count_tap "$TMPROOT/tap.log")
	record tap "$rc" "$p" "$f"
fi

# Stop now (the trap is the safety net) so the summary line comes last.
bash scripts/cluster.sh stop

# Details of what failed, after the noise of the runs.
show() {  # show FILE: at most 1000 lines of it
	[ -s "$1" ] || return 0
	say "$1"
	head -n 1000 "$1"
	[ "$(wc -l <"$1")" -le 1000 ] || say "... cut; the whole file is $1"
}
for layer in "${failed_layers[@]}"; do
	case $layer in
	regress) show regression.diffs ;;
	isolation) show output_iso/regression.diffs ;;
	tap)
		# Per-test logs (server output, die messages): regress_log_<test>.
		taplog=$AUTH_CLUSTER_BASE/tap/tmp_check/log
		[ "$AUTH_CLUSTER_FALLBACK" = 0 ] || taplog=$TMPROOT/tap_log
		say "TAP failures (whole output: $TMPROOT/tap.log; per-test logs: $taplog)"
		grep -E '^(not ok|#|Dubious|Failed)' "$TMPROOT/tap.log" || true
		sed -n 's|^test/t/\([^ ]*\)\.pl  *(Wstat.*|\1|p' "$TMPROOT/tap.log" | while read -r t; do
			say "last lines of $taplog/regress_log_$t"
			tail -n 30 "$taplog/regress_log_$t" 2>/dev/null || true
		done
		;;
	esac
done

say "results"
printf '%s\n' "${summary[@]}"
echo "$total_pass passed, $total_fail failed"
[ "$total_fail" -eq 0 ]
