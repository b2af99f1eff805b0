#!/usr/bin/env bash
# make demo: run examples/quickstart.sql in a fresh database of a throwaway
# cluster, echoing every statement and its result.
set -euo pipefail
# shellcheck source=scripts/common.sh
. "$(dirname "$0")/common.sh"
cd "$ROOT"

demo=examples/quickstart.sql
if [ ! -f "$demo" ]; then
	say "no $demo yet: nothing to demo"
	exit 0
fi

start_throwaway_cluster
createdb auth_demo
psql -X -v ON_ERROR_STOP=1 --echo-all -d auth_demo -f "$demo"
say "demo done"
