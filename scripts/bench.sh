#!/usr/bin/env bash
# make bench: run test/bench/run.sh against a throwaway cluster. The bench
# gets PGHOST/PGPORT/PGUSER/PGDATABASE exported and $PGBIN (pgbench, psql)
# first on PATH. Never part of make test.
set -euo pipefail
# shellcheck source=scripts/common.sh
. "$(dirname "$0")/common.sh"
cd "$ROOT"

bench=test/bench/run.sh
if [ ! -f "$bench" ]; then
	say "there is no benchmark ($bench)"
	exit 0
fi

start_throwaway_cluster
bash "$bench"
