# Sign-ins while parallel query holds every dynamic background worker slot.
#
# With auth in shared_preload_libraries, attempts are counted by the
# extension's own workers (auth.autonomous_workers), whose slots are taken
# at server start: a sign-in succeeds (or fails with the right answer)
# while a long parallel query holds every other slot, in two databases at
# once.  Without preloading, each attempt needs a dynamic worker, and the
# same sign-in fails closed with 53000; auth.check() says which path is in
# use.  Also: a session's sliding refresh is written by a worker in either
# case (never in the caller's transaction).
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib $FindBin::RealBin;
use AuthTAP;

my $PASSWORD = 'slots-correct-horse';
my $WRONG    = qr/ERROR:\s+28P01: invalid email or password/;
my $CLOSED   = qr/ERROR:\s+53000: could not record the attempt durably/;

# 4 slots: 2 for auth's own workers, 2 that one parallel query takes.
my $node = new_node(
	'slots', conf => q{
shared_preload_libraries = 'auth'
auth.autonomous_workers = 2
max_worker_processes = 4
max_parallel_workers = 4
max_logical_replication_workers = 0
});

for my $db ('postgres', 'other')
{
	query($node, 'CREATE DATABASE other') if $db eq 'other';
	query($node, qq{
CREATE EXTENSION auth CASCADE;
SELECT auth.sign_up('slots\@example.com', '$PASSWORD');}, db => $db);
}
query($node, q{
CREATE TABLE filler AS SELECT g FROM generate_series(1, 3000) g;
ALTER TABLE filler SET (parallel_workers = 4);
ANALYZE filler;});

# Starts a parallel query that takes every worker slot it can get (up to
# 4) for a minute or more; returns its psql handle once its workers run.
sub fill_slots
{
	my ($n) = @_;
	my $bg = $n->background_psql('postgres', on_error_stop => 0);
	$bg->query_until(qr/filling/, q{
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SET max_parallel_workers_per_gather = 4;
\echo filling
SELECT count(*) FROM filler WHERE pg_sleep(0.05) IS NOT NULL;
});
	ok( $n->poll_query_until(
			'postgres',
			"SELECT count(*) >= 2 FROM pg_stat_activity WHERE backend_type = 'parallel worker'"
		),
		"a parallel query holds worker slots");
	like(
		query($n, q{
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SET max_parallel_workers_per_gather = 2;
EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) SELECT count(*) FROM filler;}),
		qr/Workers Launched: 0/,
		'no dynamic worker slot is left: another parallel query gets no worker');
	return $bg;
}

sub stop_filling
{
	my ($n, $bg) = @_;
	query($n, q{
SELECT pg_cancel_backend(pid) FROM pg_stat_activity
 WHERE query LIKE 'SELECT count(*) FROM filler%' AND backend_type = 'client backend'});
	$bg->quit;
}

### preloaded: the extension's own workers

is( query($node,
		q{SELECT ok || ' ' || (detail LIKE '%workers of the extension''s own%') FROM auth.check() WHERE "check" = 'background workers'}),
	'true true',
	'preloaded: auth.check() says the extension\'s own workers count attempts');

my $bg = fill_slots($node);

for my $round (1 .. 2)
{
	for my $db ('postgres', 'other')
	{
		like(
			query_error($node,
				"SELECT auth.sign_in('slots\@example.com', 'wrong-password')",
				db => $db),
			$WRONG,
			"preloaded, $db, round $round: a wrong password is counted and refused with 28P01");
		is( query(
				$node,
				"SELECT token IS NOT NULL FROM auth.sign_in('slots\@example.com', '$PASSWORD')",
				db => $db),
			't',
			"preloaded, $db, round $round: the right password signs in");
	}
}
is( query($node,
		q{SELECT count(*) FROM auth.audit_log WHERE event = 'sign_in_failed'},
		db => 'other'),
	'2', 'preloaded: the failures were audited in their own database');
stop_filling($node, $bg);

# A worker bound to a database lets it go once idle: DROP DATABASE, which
# waits up to 5 s for other connections, is not refused because of it.
is(query($node, 'DROP DATABASE other; SELECT 1'),
	'1', 'preloaded: a database the workers served can be dropped');

# A session's refresh is handed to a worker and lands after the call.
sub refresh_lands
{
	my ($n, $label) = @_;
	my $tok = query($n, q{
SELECT g.token FROM auth.create_session(
  (SELECT id FROM auth.users WHERE email = 'slots@example.com')) g});
	is( query($n, qq{
SET auth.time_offset = '2d';
SELECT user_id IS NOT NULL FROM auth.verify_session('$tok');}),
		't', "$label: a session due for refresh verifies");
	ok( $n->poll_query_until(
			'postgres',
			"SELECT refreshed_at > created_at + interval '1 day' FROM auth.sessions WHERE token_hash = sha256(convert_to('$tok', 'UTF8'))"
		),
		"$label: a worker wrote its refresh");
}
refresh_lands($node, 'preloaded');

### not preloaded: a dynamic worker per attempt, which parallel query crowds out

$node->append_conf('postgresql.conf', q{
shared_preload_libraries = ''
max_worker_processes = 2
});
$node->restart;
is( query($node,
		q{SELECT ok || ' ' || (detail LIKE '%not in shared_preload_libraries%') FROM auth.check() WHERE "check" = 'background workers'}),
	'false true',
	'not preloaded: auth.check() says each attempt starts a dynamic worker');
refresh_lands($node, 'not preloaded');

$bg = fill_slots($node);
my $before = query($node, 'SELECT count(*) FROM auth.sessions');
like(
	query_error($node,
		"SELECT auth.sign_in('slots\@example.com', '$PASSWORD')"),
	$CLOSED,
	'not preloaded: with every slot taken, the right password fails closed with 53000');
is(query($node, 'SELECT count(*) FROM auth.sessions'),
	$before, 'not preloaded: no session was opened');
stop_filling($node, $bg);

$node->stop;
done_testing();
