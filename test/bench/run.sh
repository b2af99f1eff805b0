#!/usr/bin/env bash
# Benchmarks of the auth extension (`make bench`; never part of `make test`).
#
#   (a) auth.verify_session over 20,000 live sessions vs the same lookup
#       written by hand in SQL                                  goal <= 1.5x
#   (b) RLS `owner_id = auth.uid()` over 1M rows vs a literal owner with RLS
#       off (serial seq scan; a parallel run is reported too)   goal <= 1.15x
#   (c) the same policy with a Supabase-style SQL function reading
#       request.jwt.claim.sub vs auth.uid()               goal >= 3x faster
#   (d) pgbench TPS of verify_session vs the bare token lookup, SELECT 1 and
#       the hand-written lookup of (a)
#   (e) pgbench TPS of a magic link's create + consume (a new session each,
#       often a new user) vs the core's sign-in by password, same run
#   (f) RLS `USING (auth.is_member(org_id))` over 1M rows in 1,000
#       organizations (the user in 10) vs org_id = ANY('{...}') as a literal
#       with RLS off                                           goal <= 1.5x;
#       and basejump's style (a SQL EXISTS on the members table per row)
#   (g) pgbench TPS of verify_api_key for a key without limits (20,000 keys)
#       vs verify_session and SELECT 1 (goal: within 10% of verify_session),
#       and of one rate-limited key shared by 8 clients vs SELECT 1 and a
#       key without limits at 8 clients
#   (h) pgbench TPS of a failing auth.sign_in (argon2, the attempt counted
#       and the failure audited outside the transaction) vs
#       auth.verify_password alone at the same hash cost    goal <= 1.1x
#   (i) from node-postgres (pool of 8, 8 requests at a time; test/bench/node,
#       npm ci from its committed lockfile): a request that authenticates
#       and reads 20 notes in one round trip (auth.with_identity; an
#       application's PL/pgSQL function, unnamed and prepared) vs four
#       (BEGIN, authenticate, query, COMMIT), and vs better-auth's getSession
#       plus the same query                               goal >= 8x
#       (skipped with a warning when node is missing; BENCH_NODE=0 skips it)
#   (j) RLS `USING (auth.has_global_permission('docs:read'))` over the 1M
#       documents of (b), for a user whose global role grants it, vs a
#       comparison with a constant that passes every row, `id > 0`, with
#       RLS off (serial)                                       goal <= 1.15x;
#       the same query with no filter at all is shown as well
#   (k) pgbench TPS of auth.authenticate_jwt: HS256 without the revocation
#       check vs verify_session (goal within 1.2x); EdDSA and ES256 with
#       and without it; and the signature cost per verification (the
#       server-side time a token of the algorithm takes beyond an HS256
#       one, serially) against
#       OpenSSL's own verify time on this machine (`openssl speed`), the
#       physical limit                                     goal <= 1.2x
#   (j) RLS `owner_id = auth.uid() AND auth.aal() = 'aal2'` over 1M rows
#       vs the literal of (b) with RLS off (serial)          goal <= 1.15x
#       (the auth.uid() policy alone of (b) shown beside it);
#       and the server time of auth.verify_mfa with a TOTP code, per call,
#       over batches of 100 challenges                      goal < 1 ms
#
# BENCH_ONLY=jwt runs (k) alone (with verify_session as its baseline);
# BENCH_ONLY=mfa runs (j) alone.
#
# Needs PGHOST/PGPORT/PGUSER/PGDATABASE of a superuser (the harness exports
# them for a throwaway cluster).  Creates the database $BENCH_DB (default
# auth_bench) and the roles bench_app and bench_supabase (unless they
# exist), and drops what it created when done, whatever happens.  Timings are server-side: the "Execution Time" of EXPLAIN
# (ANALYZE, TIMING OFF), median of $BENCH_RUNS (5) interleaved runs after a
# warm-up.  Tokens are never printed: no query selects one to the client
# and none is ever written into SQL text.
#
# Knobs: BENCH_DB, BENCH_RUNS (5), BENCH_PGBENCH_T (seconds per pgbench run,
# 10), BENCH_PGBENCH_ROUNDS (5, median taken), BENCH_CLIENTS (2), BENCH_NODE_T
# (seconds per run of each form of (i), 5), BENCH_NODE_ROUNDS (3).  About
# 4 minutes on 2 cores, most of it pgbench.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
DB=${BENCH_DB:-auth_bench}
RUNS=${BENCH_RUNS:-5}
PGB_T=${BENCH_PGBENCH_T:-10}
PGB_ROUNDS=${BENCH_PGBENCH_ROUNDS:-5}
CLIENTS=${BENCH_CLIENTS:-2}
ONLY=${BENCH_ONLY:-}
ADMIN_DB=${PGDATABASE:-postgres}

find_bin() {
	if command -v "$1" >/dev/null 2>&1; then
		command -v "$1"
	elif [ -x "/usr/lib/postgresql/15/bin/$1" ]; then
		echo "/usr/lib/postgresql/15/bin/$1"
	else
		echo "error: $1 not found" >&2
		exit 1
	fi
}
PSQL_BIN=$(find_bin psql)
PGBENCH_BIN=$(find_bin pgbench)

say() { printf '== %s\n' "$*" >&2; }
psql_admin() { "$PSQL_BIN" -X -q -v ON_ERROR_STOP=1 -d "$ADMIN_DB" "$@"; }
psql_db() { "$PSQL_BIN" -X -q -v ON_ERROR_STOP=1 -v VERBOSITY=terse -d "$DB" "$@"; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/auth-bench.XXXXXX")
created_roles=""
cleanup() {
	local rc=$?
	set +e
	psql_admin -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1
	for role in $created_roles; do
		psql_admin -c "DROP ROLE IF EXISTS $role" >/dev/null 2>&1
	done
	rm -rf "$WORK"
	exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

started=$(date +%s)

# Other work on the machine skews every ratio; say so rather than hide it.
check_load() { # when
	local load cores
	load=$(cut -d' ' -f1 /proc/loadavg 2>/dev/null || echo 0)
	cores=$(nproc 2>/dev/null || echo 1)
	if awk -v l="$load" -v c="$cores" 'BEGIN { exit !(l > c / 2) }'; then
		echo "warning: load average $load on $cores cores $1: other work is running, timings will be noisy" >&2
	fi
}
check_load "before the bench"

# ---------------------------------------------------------------- setup
say "creating database $DB"
psql_admin -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS $DB" >/dev/null
psql_admin -c "CREATE DATABASE $DB" >/dev/null
# bench_app reads docs through auth.uid(), bench_supabase through the
# Supabase-style function, bench_global through auth.has_global_permission();
# none is superuser or owner, so RLS applies.
for role in bench_app bench_supabase bench_mfa bench_global; do
	if [ -z "$(psql_admin -Atc "SELECT 1 FROM pg_roles WHERE rolname = '$role'")" ]; then
		psql_admin -c "CREATE ROLE $role NOLOGIN NOSUPERUSER NOBYPASSRLS" >/dev/null
		created_roles="$created_roles $role"
	fi
done

say "loading data: 20,000 users and sessions, 1M documents"
psql_db -f "$HERE/setup.sql" >/dev/null
if [ "$ONLY" != mfa ]; then
	say "(k) issuing 2,000 JWTs per algorithm (HS256, EdDSA, ES256)"
	psql_db -f "$HERE/setup_jwt.sql" >/dev/null
fi

# The owner whose documents (b) and (c) count: the user of token 1.  A uuid
# is no secret; the token itself never leaves the server.
OWNER=$(psql_db -Atc "SELECT user_id FROM bench_tokens WHERE id = 1")
OWNER_ORGS=$(psql_db -Atc "SELECT '{' || string_agg(org_id::text, ',') || '}' FROM auth.members WHERE user_id = '$OWNER'")

# ------------------------------------------------------------- queries
Q_HAND="SELECT count(h.user_id) FROM bench_tokens t CROSS JOIN LATERAL (SELECT s.user_id FROM hand_sessions s WHERE s.token_hash = sha256(convert_to(t.token, 'UTF8')) AND s.expires_at > now() AND s.revoked_at IS NULL LIMIT 1) h"
# the same, plus the ban check verify_session also makes (info only)
Q_HAND_BAN="SELECT count(h.user_id) FROM bench_tokens t CROSS JOIN LATERAL (SELECT s.user_id FROM hand_sessions s JOIN auth.users u ON u.id = s.user_id WHERE s.token_hash = sha256(convert_to(t.token, 'UTF8')) AND s.expires_at > now() AND s.revoked_at IS NULL AND (u.banned_until IS NULL OR u.banned_until <= now()) LIMIT 1) h"
Q_AUTH="SELECT count(v.user_id) FROM bench_tokens t CROSS JOIN LATERAL auth.verify_session(t.token) v"

# Each timed query is preceded by "\echo @@ <label>"; its EXPLAIN output
# ends with "Execution Time: <ms> ms".
explain() { # label query [setup statements run in the same transaction]
	printf '\\echo @@ %s\n' "$1"
	printf 'BEGIN;\n%s\nEXPLAIN (ANALYZE, TIMING OFF) %s;\nCOMMIT;\n' "${3:-}" "$2"
}
AUTHN="SELECT auth.authenticate(t.token) IS NOT NULL FROM bench_tokens t WHERE t.id = 1 \\g /dev/null"
rls_auth() { # label parallel-settings
	explain "$1" "SELECT count(*) FROM docs" \
		"$AUTHN
SET LOCAL ROLE bench_app;
$2"
}
rls_literal() {
	explain "$1" "SELECT count(*) FROM docs WHERE owner_id = '$OWNER'" "$2"
}
rls_supabase() {
	explain "$1" "SELECT count(*) FROM docs" \
		"SET LOCAL ROLE bench_supabase;
SET LOCAL request.jwt.claim.sub = '$OWNER';
$2"
}
rls_global() { # label parallel-settings
	explain "$1" "SELECT count(*) FROM docs" \
		"$AUTHN
SET LOCAL ROLE bench_global;
$2"
}
global_literal() {
	explain "$1" "SELECT count(*) FROM docs WHERE id > 0" "$2"
}
global_none() {
	explain "$1" "SELECT count(*) FROM docs" "$2"
}
tenant_literal() {
	explain "$1" "SELECT count(*) FROM tenant_rows WHERE org_id = ANY ('$OWNER_ORGS'::uuid[])" "$SERIAL"
}
tenant_auth() {
	explain "$1" "SELECT count(*) FROM tenant_rows" "$AUTHN
SET LOCAL ROLE bench_app;
$SERIAL"
}
tenant_basejump() {
	explain "$1" "SELECT count(*) FROM tenant_rows" "$AUTHN
SET LOCAL ROLE bench_supabase;
$SERIAL"
}
SERIAL="SET LOCAL max_parallel_workers_per_gather = 0;"
PARALLEL="SET LOCAL max_parallel_workers_per_gather = 2; SET LOCAL parallel_setup_cost = 0; SET LOCAL parallel_tuple_cost = 0; SET LOCAL min_parallel_table_scan_size = 0;"

# ------------------------------------------------------------- (j) MFA
mfa_bench() {
	say "(j) auth.aal() in a policy over 1M rows, and verify_mfa with a TOTP code"
	psql_db -f "$HERE/setup_mfa.sql" >/dev/null
	local mfa_check
	mfa_check=$(psql_db -At <<-SQL
		BEGIN;
		$SERIAL
		SELECT 'literal', count(*) FROM docs WHERE owner_id = '$OWNER';
		$AUTHN
		SET LOCAL ROLE bench_mfa;
		SELECT 'rls_aal', count(*) FROM docs;
		COMMIT;
	SQL
	)
	if [ "$(awk -F'|' '{ print $2 }' <<<"$mfa_check" | sort -u | wc -l)" != 1 ]; then
		echo "error: (j) the aal2 policy and the literal disagree: $mfa_check" >&2
		exit 1
	fi
	local clock="SELECT set_config('auth.time_offset', (2000000000 - floor(extract(epoch FROM now())))::bigint::text, true);"
	local verify="SELECT count(v.token) FROM bench_mfa b CROSS JOIN LATERAL auth.verify_mfa(b.challenge, (SELECT code FROM bench_mfa_code)) v WHERE b.batch ="
	{
		explain warm "SELECT count(*) FROM docs WHERE owner_id = '$OWNER'" "$SERIAL"
		explain warm "SELECT count(*) FROM docs" "$AUTHN
SET LOCAL ROLE bench_mfa;
$SERIAL"
		for ((r = 1; r <= RUNS; r++)); do
			explain j_literal "SELECT count(*) FROM docs WHERE owner_id = '$OWNER'" "$SERIAL"
			explain j_aal "SELECT count(*) FROM docs" "$AUTHN
SET LOCAL ROLE bench_mfa;
$SERIAL"
			explain j_uid "SELECT count(*) FROM docs" "$AUTHN
SET LOCAL ROLE bench_app;
$SERIAL"
		done
		explain warm "$verify 0" "$clock"
		for ((r = 1; r <= RUNS && r <= 9; r++)); do
			explain j_verify_mfa "$verify $r" "$clock"
		done
	} >"$WORK/j.sql"
	psql_db -At <"$WORK/j.sql" >"$WORK/j.out"
	awk '/^@@ / { label = $2; next } /^Execution Time:/ { if (label != "warm") print label, $3 }' \
		"$WORK/j.out" >>"$WORK/times"
	local sessions
	sessions=$(psql_db -At -c "SELECT count(*) FROM auth.sessions s JOIN bench_mfa b USING (user_id) WHERE s.aal = 2")
	if [ "$sessions" -lt $((100 * (RUNS < 9 ? RUNS + 1 : 10))) ]; then
		echo "error: (j) verify_mfa opened $sessions aal2 sessions, not one per challenge" >&2
		exit 1
	fi
	local jl ja jv
	jl=$(median j_literal); ja=$(median j_aal); jv=$(median j_verify_mfa)
	local ju
	ju=$(median j_uid)
	echo
	echo "(j) execution times in ms (server side), in run order:"
	for l in j_literal j_uid j_aal j_verify_mfa; do
		printf '  %-13s median %7.1f   runs: %s\n' "$l" "$(median "$l")" "$(runs_of "$l")"
	done
	awk -v a="$ja" -v l="$jl" -v v="$jv" -v u="$ju" 'BEGIN {
		r = (l > 0) ? a / l : 0
		printf "%-40s %-12s %-12s %-14s %-9s %s\n", "RLS auth.aal() policy / literal", sprintf("%.1f ms", a), sprintf("%.1f ms", l), sprintf("%.2fx", r), "<= 1.15x", (r <= 1.15) ? "ok" : "MISSED"
		printf "%-40s %-12s %-12s %-14s %-9s %s\n", "  the auth.uid() policy alone / literal", sprintf("%.1f ms", u), sprintf("%.1f ms", l), sprintf("%.2fx", (l > 0) ? u / l : 0), "", "info"
		printf "%-40s %-12s %-12s %-14s %-9s %s\n", "verify_mfa (TOTP) per call", sprintf("%.3f ms", v / 100), "", "", "< 1 ms", (v / 100 < 1) ? "ok" : "MISSED"
	}'
}
: >"$WORK/times"
runs_of() { awk -v k="$1" '$1 == k && $2 != "workers" { printf "%s%.1f", sep, $2; sep = " " }' "$WORK/times"; }
median() { # label -> median ms
	awk -v k="$1" '$1 == k && $2 != "workers" { print $2 }' "$WORK/times" | sort -g |
		awk '{ v[NR] = $1 } END { if (NR == 0) print "nan"; else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
if [ "$ONLY" != jwt ]; then
	mfa_bench
fi
if [ "$ONLY" = mfa ]; then
	echo
	echo "bench finished in $(($(date +%s) - started)) s ($(nproc 2>/dev/null || echo ?) cores)"
	exit 0
fi

if [ "$ONLY" != jwt ]; then
# ------------------------------------------------------------- sanity
say "checking that every side computes the same answer"
check=$(psql_db -At <<-SQL
	SELECT 'a_auth', ($Q_AUTH);
	SELECT 'a_hand', ($Q_HAND);
	SELECT 'a_hand_ban', ($Q_HAND_BAN);
	SELECT 'bad_token', count(v.user_id) FROM auth.verify_session('ses_not-a-token') v;
	BEGIN;
	$SERIAL
	SELECT 'literal', count(*) FROM docs WHERE owner_id = '$OWNER';
	$AUTHN
	SET LOCAL ROLE bench_app;
	SELECT 'rls_auth', count(*) FROM docs;
	$PARALLEL
	SELECT 'rls_auth_parallel', count(*) FROM docs;
	COMMIT;
	BEGIN;
	$SERIAL
	SELECT 'global_literal', count(*) FROM docs WHERE id > 0;
	$AUTHN
	SET LOCAL ROLE bench_global;
	SELECT 'rls_global', count(*) FROM docs;
	$PARALLEL
	SELECT 'rls_global_parallel', count(*) FROM docs;
	COMMIT;
	BEGIN;
	SET LOCAL ROLE bench_global;
	SELECT 'rls_global_anonymous', count(*) FROM docs;
	COMMIT;
	BEGIN;
	SET LOCAL ROLE bench_app;
	SELECT 'rls_anonymous', count(*) FROM docs;
	SET LOCAL ROLE bench_supabase;
	SELECT 'rls_supabase_anonymous', count(*) FROM docs;
	SET LOCAL request.jwt.claim.sub = '$OWNER';
	SELECT 'rls_supabase', count(*) FROM docs;
	COMMIT;
	BEGIN;
	$SERIAL
	SELECT 'tenant_literal', count(*) FROM tenant_rows WHERE org_id = ANY ('$OWNER_ORGS'::uuid[]);
	$AUTHN
	SET LOCAL ROLE bench_app;
	SELECT 'tenant_auth', count(*) FROM tenant_rows;
	SET LOCAL ROLE bench_supabase;
	SELECT 'tenant_basejump', count(*) FROM tenant_rows;
	COMMIT;
	BEGIN;
	SET LOCAL ROLE bench_app;
	SELECT 'tenant_anonymous', count(*) FROM tenant_rows;
	COMMIT;
	SELECT 'docs_size', pg_size_pretty(pg_table_size('docs'));
	SELECT 'server', current_setting('server_version');
	SELECT 'auth_version', extversion FROM pg_extension WHERE extname = 'auth';
	SELECT 'shared_buffers', current_setting('shared_buffers');
SQL
)
val() { awk -F'|' -v k="$1" '$1 == k { print $2 }' <<<"$check"; }
ok=1
[ "$(val a_auth)" = 20000 ] && [ "$(val a_hand)" = 20000 ] && [ "$(val a_hand_ban)" = 20000 ] || ok=0
[ "$(val bad_token)" = 0 ] && [ "$(val rls_anonymous)" = 0 ] && [ "$(val rls_supabase_anonymous)" = 0 ] || ok=0
tlit=$(val tenant_literal)
[ "$tlit" -gt 0 ] && [ "$(val tenant_auth)" = "$tlit" ] && [ "$(val tenant_basejump)" = "$tlit" ] &&
	[ "$(val tenant_anonymous)" = 0 ] || ok=0
lit=$(val literal)
[ "$lit" -gt 0 ] && [ "$(val rls_auth)" = "$lit" ] && [ "$(val rls_auth_parallel)" = "$lit" ] &&
	[ "$(val rls_supabase)" = "$lit" ] || ok=0
[ "$(val global_literal)" = 1000000 ] && [ "$(val rls_global)" = 1000000 ] &&
	[ "$(val rls_global_parallel)" = 1000000 ] && [ "$(val rls_global_anonymous)" = 0 ] || ok=0
printf 'PostgreSQL %s, auth %s, shared_buffers %s, %s cores\n' "$(val server)" \
	"$(val auth_version)" "$(val shared_buffers)" "$(nproc 2>/dev/null || echo ?)"
printf 'sanity: verify_session %s/20000 live, hand SQL %s/20000, bad token %s;\n' \
	"$(val a_auth)" "$(val a_hand)" "$(val bad_token)"
printf '        docs (%s) rows for one owner: literal %s, auth.uid() %s (parallel %s), supabase-style %s, anonymous %s\n' \
	"$(val docs_size)" "$lit" "$(val rls_auth)" "$(val rls_auth_parallel)" "$(val rls_supabase)" "$(val rls_anonymous)"
printf '        docs through auth.has_global_permission(): literal %s, policy %s (parallel %s), anonymous %s\n' \
	"$(val global_literal)" "$(val rls_global)" "$(val rls_global_parallel)" "$(val rls_global_anonymous)"
printf '        tenant_rows rows in the 10 organizations: literal %s, auth.is_member() %s, basejump-style %s, anonymous %s\n' \
	"$tlit" "$(val tenant_auth)" "$(val tenant_basejump)" "$(val tenant_anonymous)"
if [ "$ok" != 1 ]; then
	echo "error: the compared queries disagree; timings would be meaningless" >&2
	exit 1
fi

# ------------------------------------------------------------- timings
# One psql session per part; a warm-up of each query first (module load,
# catalog caches, table pages), then $RUNS rounds whose order alternates.
timed() { # out-file: reads the script on stdin
	psql_db -At >"$1"
}
{
	explain warm "$Q_HAND"; explain warm "$Q_AUTH"; explain warm "$Q_HAND_BAN"
	for ((r = 1; r <= RUNS; r++)); do
		if ((r % 2)); then
			explain a_hand "$Q_HAND"; explain a_auth "$Q_AUTH"
		else
			explain a_auth "$Q_AUTH"; explain a_hand "$Q_HAND"
		fi
		explain a_hand_ban "$Q_HAND_BAN"
	done
} >"$WORK/a.sql"
{
	rls_literal warm "$SERIAL"; rls_auth warm "$SERIAL"; rls_supabase warm "$SERIAL"
	for ((r = 1; r <= RUNS; r++)); do
		if ((r % 2)); then
			rls_literal b_literal "$SERIAL"; rls_auth b_auth "$SERIAL"; rls_supabase c_supabase "$SERIAL"
		else
			rls_supabase c_supabase "$SERIAL"; rls_auth b_auth "$SERIAL"; rls_literal b_literal "$SERIAL"
		fi
	done
	rls_literal warm "$PARALLEL"; rls_auth warm "$PARALLEL"
	for ((r = 1; r <= RUNS; r++)); do
		if ((r % 2)); then
			rls_literal p_literal "$PARALLEL"; rls_auth p_auth "$PARALLEL"
		else
			rls_auth p_auth "$PARALLEL"; rls_literal p_literal "$PARALLEL"
		fi
	done
	global_literal warm "$SERIAL"; rls_global warm "$SERIAL"; global_none warm "$SERIAL"
	for ((r = 1; r <= RUNS; r++)); do
		if ((r % 2)); then
			global_literal j_literal "$SERIAL"; rls_global j_global "$SERIAL"; global_none j_none "$SERIAL"
		else
			global_none j_none "$SERIAL"; rls_global j_global "$SERIAL"; global_literal j_literal "$SERIAL"
		fi
	done
} >"$WORK/b.sql"
{
	tenant_literal warm; tenant_auth warm; tenant_basejump warm
	for ((r = 1; r <= RUNS; r++)); do
		if ((r % 2)); then
			tenant_literal f_literal; tenant_auth f_auth
		else
			tenant_auth f_auth; tenant_literal f_literal
		fi
	done
	# seconds per run: two runs are enough to see the order of magnitude
	tenant_basejump f_basejump; tenant_basejump f_basejump
} >"$WORK/f.sql"

say "(a) verify_session vs hand-written SQL, $RUNS runs each"
timed "$WORK/a.out" <"$WORK/a.sql"
# (b)/(c) compare per-row CPU cost, so docs is loaded into shared_buffers
# first when it fits (a seq scan of a table bigger than a quarter of
# shared_buffers otherwise reads it through a small ring, from the OS cache).
cached=$(psql_db -At 2>/dev/null <<-'SQL' || echo "no (pg_prewarm unavailable)"
	CREATE EXTENSION IF NOT EXISTS pg_prewarm;
	SELECT CASE WHEN pg_relation_size('docs') < 0.8 * pg_size_bytes(current_setting('shared_buffers'))
	            THEN 'yes (' || pg_prewarm('docs') || ' pages)'
	            ELSE 'no (bigger than shared_buffers ' || current_setting('shared_buffers') || ')' END;
SQL
)
say "(b)(c)(j) RLS over 1M rows, $RUNS runs each (serial, then parallel; then has_global_permission); docs in shared_buffers: $cached"
timed "$WORK/b.out" <"$WORK/b.sql"
tcached=$(psql_db -At -c "SELECT CASE WHEN pg_relation_size('tenant_rows') < 0.8 * pg_size_bytes(current_setting('shared_buffers')) THEN 'yes (' || pg_prewarm('tenant_rows') || ' pages)' ELSE 'no' END" 2>/dev/null || echo no)
say "(f) RLS over 1M rows in 1,000 organizations, $RUNS runs (basejump-style 2); tenant_rows in shared_buffers: $tcached"
timed "$WORK/f.out" <"$WORK/f.sql"

# "label ms" per timed run, and "label workers N" for parallel plans
cat "$WORK/a.out" "$WORK/b.out" "$WORK/f.out" | awk '
	/^@@ / { label = $2; next }
	/Workers Launched:/ { sub(/.*Workers Launched: */, ""); print label, "workers", $1; next }
	/^Execution Time:/ { if (label != "warm") print label, $3 }
' >>"$WORK/times"

runs_of() { awk -v k="$1" '$1 == k && $2 != "workers" { printf "%s%.1f", sep, $2; sep = " " }' "$WORK/times"; }
median() { # label -> median ms
	awk -v k="$1" '$1 == k && $2 != "workers" { print $2 }' "$WORK/times" | sort -g |
		awk '{ v[NR] = $1 } END { if (NR == 0) print "nan"; else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
workers_of() { awk -v k="$1" '$1 == k && $2 == "workers" { print $3 }' "$WORK/times" | sort -u | paste -sd, -; }

echo
echo "execution times in ms (server side), in run order:"
for l in a_hand a_auth a_hand_ban b_literal b_auth c_supabase p_literal p_auth j_literal j_global j_none f_literal f_auth f_basejump; do
	printf '  %-11s median %7.1f   min %7.1f   runs: %s\n' "$l" "$(median "$l")" \
		"$(runs_of "$l" | tr ' ' '\n' | sort -g | head -1)" "$(runs_of "$l")"
done
printf '  parallel workers launched: literal %s, auth.uid() %s\n' \
	"$(workers_of p_literal)" "$(workers_of p_auth)"

fi # not BENCH_ONLY=jwt

# (k) every token of every algorithm authenticates, with and without the
# revocation check
jwt_ok=$(psql_db -At <<-SQL
	SELECT count(*) FILTER (WHERE v.valid) || '/' || count(*) FROM bench_jwts j, auth.verify_jwt(j.token) v;
	SET auth.jwt_check_revocation = off;
	SELECT count(*) FILTER (WHERE v.valid) || '/' || count(*) FROM bench_jwts j, auth.verify_jwt(j.token) v;
SQL
)
printf 'sanity (k): valid JWTs %s (without the revocation check %s)\n' $jwt_ok
if [ "$(echo $jwt_ok | tr ' ' '\n' | sort -u)" != 6000/6000 ]; then
	echo "error: not every benchmark JWT is valid" >&2
	exit 1
fi

# ------------------------------------------------------------- pgbench
say "(d, e, g, h) pgbench -c $CLIENTS (8 for g_*8) -T $PGB_T -M prepared, $PGB_ROUNDS rounds of 12 scripts"
pgb() { # label script
	local out=$WORK/pgbench.$1.$r c=$CLIENTS opts=${PGOPTIONS:-}
	case $1 in *8) c=8 ;; esac
	# (k) without the revocation check: set for the connections
	case $1 in *_nocheck) opts="$opts -c auth.jwt_check_revocation=off" ;; esac
	if ! PGOPTIONS="$opts" "$PGBENCH_BIN" -n -c "$c" -j "$c" -T "$PGB_T" -M prepared \
		-f "$HERE/$2" "$DB" >"$out" 2>&1; then
		echo "error: pgbench $2 failed:" >&2
		cat "$out" >&2
		exit 1
	fi
	local tps failed
	tps=$(sed -n 's/^tps = \([0-9.]*\) (without initial connection time).*/\1/p' "$out")
	failed=$(sed -n 's/^number of failed transactions: \([0-9]*\).*/\1/p' "$out")
	if [ -z "$tps" ] || [ "${failed:-0}" != 0 ]; then
		echo "error: pgbench $2: no tps or failed transactions:" >&2
		cat "$out" >&2
		exit 1
	fi
	echo "$1 $tps" >>"$WORK/tps"
}
: >"$WORK/tps"
# the order rotates from round to round
pgb_labels=(d_verify d_token d_select1 d_hand e_magic_link e_sign_in
	g_api_key g_rated8 g_api_key8 g_select1_8 h_sign_in_failing h_verify_password)
pgb_scripts=(pgbench_verify.sql pgbench_token.sql pgbench_select1.sql pgbench_hand.sql
	pgbench_magic_link.sql pgbench_sign_in.sql
	pgbench_api_key.sql pgbench_api_key_rated.sql pgbench_api_key.sql pgbench_select1.sql
	pgbench_sign_in_failing.sql pgbench_verify_password.sql)
jwt_labels=(i_hs256_nocheck i_eddsa i_eddsa_nocheck i_es256 i_es256_nocheck i_hs256)
jwt_scripts=(pgbench_jwt_hs256.sql pgbench_jwt_eddsa.sql pgbench_jwt_eddsa.sql
	pgbench_jwt_es256.sql pgbench_jwt_es256.sql pgbench_jwt_hs256.sql)
if [ "$ONLY" = jwt ]; then
	pgb_labels=(d_verify "${jwt_labels[@]}")
	pgb_scripts=(pgbench_verify.sql "${jwt_scripts[@]}")
else
	pgb_labels+=("${jwt_labels[@]}")
	pgb_scripts+=("${jwt_scripts[@]}")
fi
for ((r = 1; r <= PGB_ROUNDS; r++)); do
	for ((k = 0; k < ${#pgb_labels[@]}; k++)); do
		j=$(((r - 1 + k) % ${#pgb_labels[@]}))
		pgb "${pgb_labels[j]}" "${pgb_scripts[j]}"
	done
done
tps_runs() { awk -v k="$1" '$1 == k { printf "%s%.0f", sep, $2; sep = " " }' "$WORK/tps"; }
tps_median() {
	awk -v k="$1" '$1 == k { print $2 }' "$WORK/tps" | sort -g |
		awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
echo
echo "pgbench TPS per round:"
for l in "${pgb_labels[@]}"; do
	printf '  %-12s %s\n' "$l" "$(tps_runs "$l")"
done

# ------------------------------------------------------------- node
# (i): its own login role (RLS applies to it), its own tables in $DB.
NODE_T=${BENCH_NODE_T:-5}
NODE_ROUNDS=${BENCH_NODE_ROUNDS:-3}
: >"$WORK/node.out"
if [ "${BENCH_NODE:-1}" = 0 ]; then
	say "(i) skipped (BENCH_NODE=0)"
elif ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
	echo "warning: node or npm not found: (i) skipped" >&2
else
	say "(i) node-postgres and better-auth: npm ci in test/bench/node, then $NODE_ROUNDS rounds of $NODE_T s per form"
	(cd "$HERE/node" && npm ci --no-audit --no-fund --loglevel=error) >&2
	if [ -z "$(psql_admin -Atc "SELECT 1 FROM pg_roles WHERE rolname = 'bench_node'")" ]; then
		psql_admin -c "CREATE ROLE bench_node LOGIN NOSUPERUSER NOBYPASSRLS" >/dev/null
		created_roles="$created_roles bench_node"
	fi
	if ! (cd "$HERE/node" && PGDATABASE=$DB BENCH_SUPERUSER=${PGUSER:-postgres} BENCH_NODE_ROLE=bench_node \
		BENCH_NODE_T=$NODE_T BENCH_NODE_ROUNDS=$NODE_ROUNDS node bench.mjs) >"$WORK/node.out" 2>&1; then
		echo "error: test/bench/node/bench.mjs failed:" >&2
		cat "$WORK/node.out" >&2
		exit 1
	fi
	echo
	grep -v '^RESULT ' "$WORK/node.out"
fi
node_rps() { awk -v k="$1" '$1 == "RESULT" && $2 == k { print $3 }' "$WORK/node.out"; }
# ------------------------------------------------------------- (k) summary
# OpenSSL's own verify rate for the same algorithms on this machine; the
# signature cost of a token is what it takes beyond an HS256 token without
# the check (per client: TPS is summed over $CLIENTS clients).
ossl=$(openssl speed -seconds 2 ed25519 ecdsap256 2>/dev/null || true)
ossl_ed=$(awk '/Ed25519\)/ && $NF ~ /^[0-9.]+$/ { print $NF }' <<<"$ossl" | tail -1)
ossl_es=$(awk '/nistp256\)/ && $NF ~ /^[0-9.]+$/ { print $NF }' <<<"$ossl" | tail -1)
i_hs_nc=$(tps_median i_hs256_nocheck); i_hs=$(tps_median i_hs256)
i_ed=$(tps_median i_eddsa); i_ed_nc=$(tps_median i_eddsa_nocheck)
i_es=$(tps_median i_es256); i_es_nc=$(tps_median i_es256_nocheck)
d_verify_i=$(tps_median d_verify)
# The signature cost, serially and server side: the execution time of
# verifying an algorithm's 2,000 tokens (without the revocation check, best
# of 3) beyond that of the HS256 ones, per token; pgbench's TPS on a shared
# 2-core machine would count the wait for a core too.
jwt_exec() { # alg -> ms
	for k in 1 2 3; do
		psql_db -At -c "SET auth.jwt_check_revocation = off" \
			-c "EXPLAIN (ANALYZE, TIMING OFF) SELECT count(*) FROM bench_jwts j, auth.verify_jwt(j.token) v WHERE j.alg = '$1' AND v.valid" |
			sed -n 's/^Execution Time: \([0-9.]*\) ms/\1/p'
	done | sort -g | head -1
}
x_hs=$(jwt_exec HS256); x_ed=$(jwt_exec EdDSA); x_es=$(jwt_exec ES256)
sigcost() { # ms of an algorithm -> microseconds per verification beyond HS256
	awk -v t="$1" -v h="$x_hs" 'BEGIN { printf "%.1f", (t - h) / 2000 * 1000 }'
}
jwt_summary() {
	local ed_cost es_cost ed_ossl es_ossl
	ed_cost=$(sigcost "$x_ed"); es_cost=$(sigcost "$x_es")
	ed_ossl=$(awk -v v="${ossl_ed:-0}" 'BEGIN { if (v > 0) printf "%.1f", 1e6 / v; else print 0 }')
	es_ossl=$(awk -v v="${ossl_es:-0}" 'BEGIN { if (v > 0) printf "%.1f", 1e6 / v; else print 0 }')
	row "pgbench verify_session / jwt HS256 no check" "$i_hs_nc" "$d_verify_i" "$(ratio "$d_verify_i" "$i_hs_nc")" le 1.2 tps
	row "  jwt HS256 with the revocation check" "$i_hs" "$d_verify_i" "$(ratio "$d_verify_i" "$i_hs")" info "" tps
	row "pgbench jwt EdDSA / HS256 (no check)" "$i_ed_nc" "$i_hs_nc" "$(ratio "$i_ed_nc" "$i_hs_nc")" info "" tps
	row "  EdDSA with the check" "$i_ed" "$i_hs_nc" "$(ratio "$i_ed" "$i_hs_nc")" info "" tps
	row "pgbench jwt ES256 / HS256 (no check)" "$i_es_nc" "$i_hs_nc" "$(ratio "$i_es_nc" "$i_hs_nc")" info "" tps
	row "  ES256 with the check" "$i_es" "$i_hs_nc" "$(ratio "$i_es" "$i_hs_nc")" info "" tps
	printf '%-40s %-12s %-12s %-14s %-9s %s\n' "EdDSA signature us / openssl verify us" "$ed_cost" "$ed_ossl" \
		"$(awk -v a="$ed_cost" -v b="$ed_ossl" 'BEGIN { printf "%.2fx", (b > 0) ? a / b : 0 }')" "<= 1.2x" \
		"$(awk -v a="$ed_cost" -v b="$ed_ossl" 'BEGIN { print (b > 0 && a / b <= 1.2) ? "ok" : "MISSED" }')"
	printf '%-40s %-12s %-12s %-14s %-9s %s\n' "ES256 signature us / openssl verify us" "$es_cost" "$es_ossl" \
		"$(awk -v a="$es_cost" -v b="$es_ossl" 'BEGIN { printf "%.2fx", (b > 0) ? a / b : 0 }')" "<= 1.2x" \
		"$(awk -v a="$es_cost" -v b="$es_ossl" 'BEGIN { print (b > 0 && a / b <= 1.2) ? "ok" : "MISSED" }')"
}
if [ "$ONLY" = jwt ]; then
	ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.6f", (b > 0) ? a / b : 0 }'; }
	row() { # as below
		awk -v name="$1" -v a="$2" -v b="$3" -v r="$4" -v op="$5" -v g="$6" 'BEGIN {
			fa = sprintf("%.0f tps", a); fb = sprintf("%.0f tps", b); verdict = "info"; goal = ""
			if (op == "le") { goal = sprintf("<= %sx", g); verdict = (r <= g) ? "ok" : "MISSED" }
			printf "%-40s %-12s %-12s %-14s %-9s %s\n", name, fa, fb, sprintf("%.2fx", r), goal, verdict
		}'
	}
	echo
	echo "summary (k) (medians; tps higher is better; signature cost in microseconds per verification)"
	printf '%-40s %-12s %-12s %-14s %-9s %s\n' bench auth baseline ratio goal result
	jwt_summary
	echo
	echo "bench finished in $(($(date +%s) - started)) s ($(nproc 2>/dev/null || echo ?) cores)"
	exit 0
fi

# ------------------------------------------------------------- summary
a_hand=$(median a_hand); a_auth=$(median a_auth); a_hand_ban=$(median a_hand_ban)
b_lit=$(median b_literal); b_auth=$(median b_auth); c_sb=$(median c_supabase)
p_lit=$(median p_literal); p_auth=$(median p_auth)
d_verify=$(tps_median d_verify); d_token=$(tps_median d_token)
d_select1=$(tps_median d_select1); d_hand=$(tps_median d_hand)
e_magic=$(tps_median e_magic_link); e_sign_in=$(tps_median e_sign_in)
f_lit=$(median f_literal); f_auth=$(median f_auth); f_bj=$(median f_basejump)
g_key=$(tps_median g_api_key); g_rated8=$(tps_median g_rated8)
g_key8=$(tps_median g_api_key8); g_select1_8=$(tps_median g_select1_8)
h_fail=$(tps_median h_sign_in_failing); h_verify=$(tps_median h_verify_password)
j_lit=$(median j_literal); j_global=$(median j_global); j_none=$(median j_none)

row() { # name auth baseline ratio-expression goal-op goal-value unit [ratio-suffix]
	awk -v name="$1" -v a="$2" -v b="$3" -v r="$4" -v op="$5" -v g="$6" -v unit="$7" -v sfx="${8:-}" 'BEGIN {
		if (unit == "ms") { fa = sprintf("%.1f ms", a); fb = sprintf("%.1f ms", b) }
		else { fa = sprintf("%.0f %s", a, unit); fb = sprintf("%.0f %s", b, unit) }
		verdict = "info"; goal = ""
		if (op == "le") { goal = sprintf("<= %sx", g); verdict = (r <= g) ? "ok" : "MISSED" }
		if (op == "ge") { goal = sprintf(">= %sx", g); verdict = (r >= g) ? "ok" : "MISSED" }
		printf "%-40s %-12s %-12s %-14s %-9s %s\n", name, fa, fb, sprintf("%.2fx%s", r, sfx), goal, verdict
	}'
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.6f", (b > 0) ? a / b : 0 }'; }

echo
echo "summary (medians; ms = EXPLAIN ANALYZE execution time, lower is better; tps higher is better)"
printf '%-40s %-12s %-12s %-14s %-9s %s\n' bench auth baseline ratio goal result
row "verify_session vs hand SQL (20k tokens)" "$a_auth" "$a_hand" "$(ratio "$a_auth" "$a_hand")" le 1.5 ms
row "  hand SQL + ban check, as baseline" "$a_auth" "$a_hand_ban" "$(ratio "$a_auth" "$a_hand_ban")" info "" ms
row "RLS auth.uid() vs literal (1M, serial)" "$b_auth" "$b_lit" "$(ratio "$b_auth" "$b_lit")" le 1.15 ms
row "  same, parallel (2 workers)" "$p_auth" "$p_lit" "$(ratio "$p_auth" "$p_lit")" info "" ms
row "RLS supabase-style vs auth.uid()" "$b_auth" "$c_sb" "$(ratio "$c_sb" "$b_auth")" ge 3 ms " faster"
row "pgbench verify_session / token lookup" "$d_verify" "$d_token" "$(ratio "$d_verify" "$d_token")" info "" tps
row "pgbench verify_session / SELECT 1" "$d_verify" "$d_select1" "$(ratio "$d_verify" "$d_select1")" info "" tps
row "pgbench verify_session / hand SQL" "$d_verify" "$d_hand" "$(ratio "$d_verify" "$d_hand")" info "" tps
row "pgbench magic link / password sign-in" "$e_magic" "$e_sign_in" "$(ratio "$e_magic" "$e_sign_in")" info "" tps
row "RLS has_global_permission vs id > 0 (1M)" "$j_global" "$j_lit" "$(ratio "$j_global" "$j_lit")" le 1.15 ms
row "  vs no filter at all" "$j_global" "$j_none" "$(ratio "$j_global" "$j_none")" info "" ms
row "RLS is_member vs literal ANY (1M, 1k orgs)" "$f_auth" "$f_lit" "$(ratio "$f_auth" "$f_lit")" le 1.5 ms
row "RLS basejump-style vs auth.is_member" "$f_auth" "$f_bj" "$(ratio "$f_bj" "$f_auth")" info "" ms " faster"
row "pgbench verify_session / verify_api_key" "$g_key" "$d_verify" "$(ratio "$d_verify" "$g_key")" le 1.1 tps
row "pgbench verify_api_key / SELECT 1" "$g_key" "$d_select1" "$(ratio "$g_key" "$d_select1")" info "" tps
row "pgbench rate-limited key, 8 clients / SELECT 1" "$g_rated8" "$g_select1_8" "$(ratio "$g_rated8" "$g_select1_8")" info "" tps
row "  / key without limits, 8 clients" "$g_rated8" "$g_key8" "$(ratio "$g_rated8" "$g_key8")" info "" tps
row "pgbench verify_password / failing sign_in" "$h_fail" "$h_verify" "$(ratio "$h_verify" "$h_fail")" le 1.1 tps
if [ -n "$(node_rps one)" ]; then
	i_four=$(node_rps four); i_one=$(node_rps one); i_fn=$(node_rps one_fn)
	i_named=$(node_rps one_fn_named); i_ba=$(node_rps ba)
	row "node: with_identity / 4 round trips" "$i_one" "$i_four" "$(ratio "$i_one" "$i_four")" info "" rps
	row "node: with_identity / better-auth" "$i_one" "$i_ba" "$(ratio "$i_one" "$i_ba")" ge 8 rps
	row "node: PL/pgSQL function / better-auth" "$i_fn" "$i_ba" "$(ratio "$i_fn" "$i_ba")" ge 8 rps
	row "  same, named prepared / better-auth" "$i_named" "$i_ba" "$(ratio "$i_named" "$i_ba")" info "" rps
	row "node: 4 round trips / better-auth" "$i_four" "$i_ba" "$(ratio "$i_four" "$i_ba")" info "" rps
fi
echo "(h) autonomous writes by: $(psql_db -Atc "SELECT auth._autonomous_path()")"
jwt_summary
echo
echo "bench finished in $(($(date +%s) - started)) s ($(nproc 2>/dev/null || echo ?) cores)"
