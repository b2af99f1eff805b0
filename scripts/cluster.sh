#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for demo/test/bench.
#   cluster.sh start   initdb + start (stops a leftover one first)
#   cluster.sh stop    stop it and remove what must not linger (idempotent)
#   cluster.sh env     print `export PG...=...` lines for eval
# Data lives under ./tmp/cluster; it listens only on a unix socket in a
# short /tmp directory (socket paths are limited to 107 bytes), so it never
# conflicts with another server's TCP port.
set -euo pipefail
# shellcheck source=scripts/common.sh
. "$(dirname "$0")/common.sh"

PORT=${AUTH_TEST_PORT:-54315}   # only names the socket file; no TCP

start() {
	stop
	mkdir -p "$TMPROOT"
	local base=$TMPROOT/cluster fallback=0 sock
	rm -rf "$base"
	mkdir -p "$base"
	if is_root; then
		id postgres >/dev/null 2>&1 || die "no postgres OS user (is postgresql-15 installed?)"
		chown postgres: "$base"
		# The repo may sit where postgres cannot go (e.g. /root, mode 700).
		if ! runuser -u postgres -- test -w "$base" -a -x "$base"; then
			rm -rf "$base"
			base=$(mktemp -d /tmp/auth-test.XXXXXX)
			chown postgres: "$base"
			fallback=1
			say "postgres cannot reach $TMPROOT; using $base instead (removed at stop)"
		fi
	fi
	sock=$(mktemp -d /tmp/auth-sock.XXXXXX)
	is_root && chown postgres: "$sock"

	# Written before anything can fail, so that stop (from a trap) can
	# clean up a half-started cluster.
	{
		printf 'export PGHOST=%q\n' "$sock"
		printf 'export PGPORT=%q\n' "$PORT"
		printf 'export PGUSER=postgres\n'
		printf 'export PGDATABASE=postgres\n'
		printf 'export AUTH_CLUSTER_BASE=%q\n' "$base"
		printf 'export AUTH_CLUSTER_FALLBACK=%q\n' "$fallback"
	} >"$STATE"

	local data=$base/data log=$base/server.log
	say "initdb $data"
	# Superuser "postgres" whoever runs this, so PGUSER=postgres always works.
	as_pg initdb -D "$data" -U postgres -A trust -E UTF8 --locale=C --no-sync >"$base/initdb.log" 2>&1 ||
		{ cat "$base/initdb.log" >&2; die "initdb failed"; }
	cat >>"$data/postgresql.conf" <<-CONF

	# auth test harness
	listen_addresses = ''
	unix_socket_directories = '$sock'
	port = $PORT
	max_connections = 50
	# the extension starts short-lived dynamic background workers
	max_worker_processes = 16
	fsync = off
	# rate-limit windows of API keys live in shared memory (src/apikey.c)
	shared_preload_libraries = 'auth'
	log_min_messages = warning
	CONF
	say "starting server (socket $sock, log $log)"
	as_pg pg_ctl -D "$data" -l "$log" -w -t 120 -s start ||
		{ tail -n 50 "$log" >&2 || true; die "server did not start"; }
}

stop() {
	[ -f "$STATE" ] || return 0
	# shellcheck disable=SC1090
	. "$STATE"
	local data=$AUTH_CLUSTER_BASE/data
	if [ -f "$data/postmaster.pid" ]; then
		say "stopping server"
		as_pg pg_ctl -D "$data" -m fast -w -t 60 -s stop ||
			as_pg pg_ctl -D "$data" -m immediate -w -t 60 -s stop || true
	fi
	rm -rf "$PGHOST"
	if [ "$AUTH_CLUSTER_FALLBACK" = 1 ]; then
		# Keep the logs where a reader looks for them: ./tmp.
		cp "$AUTH_CLUSTER_BASE/server.log" "$TMPROOT/server.log" 2>/dev/null || true
		if [ -d "$AUTH_CLUSTER_BASE/tap/tmp_check/log" ]; then
			rm -rf "$TMPROOT/tap_log"
			cp -r "$AUTH_CLUSTER_BASE/tap/tmp_check/log" "$TMPROOT/tap_log"
		fi
		rm -rf "$AUTH_CLUSTER_BASE"
	fi
	rm -f "$STATE"
}

case ${1:-} in
start) start ;;
stop) stop ;;
env)
	[ -f "$STATE" ] || die "no cluster running (cluster.sh start)"
	cat "$STATE"
	;;
*) die "usage: $0 start|stop|env" ;;
esac
