# Sourced by the harness scripts: paths and helpers shared by all of them.
# shellcheck shell=bash disable=SC2034  # variables are for the sourcing script

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# Debian's PostgreSQL 15 unless the Makefile passed another pg_config.
PG_CONFIG=${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}
PGBIN=$("$PG_CONFIG" --bindir 2>/dev/null || echo /usr/lib/postgresql/15/bin)
# pg_regress and the TAP modules live in the pgxs tree: .../lib/pgxs/src/...
pgxs_mk=$("$PG_CONFIG" --pgxs 2>/dev/null || echo /usr/lib/postgresql/15/lib/pgxs/src/makefiles/pgxs.mk)
PGXSDIR=$(dirname "$(dirname "$(dirname "$pgxs_mk")")")
TMPROOT=$ROOT/tmp                 # everything a run leaves behind
STATE=$TMPROOT/cluster.env        # where the running throwaway cluster is
export PATH="$PGBIN:$PATH"

say() { printf '== %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

is_root() { [ "$(id -u)" -eq 0 ]; }

# postgres refuses to run as root, so server-side programs (initdb, pg_ctl,
# and the TAP tests, which run initdb themselves) run as the postgres OS
# user when we are root. runuser resets part of the environment, so the
# variables the programs need are passed explicitly through env.
as_pg() {
	if is_root; then
		runuser -u postgres -- env PATH="$PATH" "$@"
	else
		"$@"
	fi
}

# start_throwaway_cluster: start the cluster of scripts/cluster.sh, export its
# PG* variables (and AUTH_CLUSTER_*) into the calling shell, and stop it when
# that shell exits, Ctrl-C and TERM included. Call it from the script's own
# shell, not from a subshell: the traps and the variables belong to it.
start_throwaway_cluster() {
	trap 'bash "$ROOT/scripts/cluster.sh" stop' EXIT
	trap 'exit 130' INT TERM   # so that the EXIT trap stops the cluster
	bash "$ROOT/scripts/cluster.sh" start
	eval "$(bash "$ROOT/scripts/cluster.sh" env)"
}
