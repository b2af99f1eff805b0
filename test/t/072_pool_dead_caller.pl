# A caller terminated while its call waits in the extension's worker queue
# (pg_terminate_backend is FATAL: no error handler runs) leaves the queue:
# its call is never run, and the next backend in its slot does not wait for
# it (second attack on issue 12, finding 3).  With one worker held on a
# table lock, one sign-in is taken by the worker and another waits in the
# queue; the waiting one is terminated, the lock released: only the first
# attempt is counted.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib $FindBin::RealBin;
use AuthTAP;

my $node = new_node(
	'dead_caller', conf => q{
shared_preload_libraries = 'auth'
auth.autonomous_workers = 1
});
query($node, q{
CREATE EXTENSION auth CASCADE;
SET auth.argon2_memory_kib = 1024;
SET auth.argon2_iterations = 1;
SELECT auth.sign_up('taken@example.com', 'dead caller horse 1');
SELECT auth.sign_up('queued@example.com', 'dead caller horse 2');});

# the worker's count of an attempt waits for this lock
my $holder = $node->background_psql('postgres');
$holder->query_safe('BEGIN; LOCK TABLE auth.attempts IN ACCESS EXCLUSIVE MODE');

my $taken = $node->background_psql('postgres', on_error_stop => 0);
$taken->query_until(qr/taken/, q{
\echo taken
SELECT auth.sign_in('taken@example.com', 'wrong horse');
});
ok( $node->poll_query_until(
		'postgres', q{
SELECT count(*) = 1 FROM pg_locks l JOIN pg_stat_activity a USING (pid)
 WHERE l.relation = 'auth.attempts'::regclass AND NOT l.granted
   AND a.backend_type <> 'client backend'}),
	'the worker waits for the lock with the first call');

my $queued = $node->background_psql('postgres', on_error_stop => 0);
my $pid = $queued->query_safe('SELECT pg_backend_pid()');
$queued->query_until(qr/queued/, q{
\echo queued
SELECT auth.sign_in('queued@example.com', 'wrong horse');
});
ok( $node->poll_query_until(
		'postgres', qq{
SELECT wait_event_type = 'Extension' FROM pg_stat_activity WHERE pid = $pid}),
	'the second call waits in the queue');
query($node, "SELECT pg_terminate_backend($pid)");
ok( $node->poll_query_until(
		'postgres', "SELECT NOT EXISTS (SELECT FROM pg_stat_activity WHERE pid = $pid)"),
	'its caller is gone');
eval { $queued->quit };

$holder->query_safe('COMMIT');
ok( $node->poll_query_until(
		'postgres', q{
SELECT NOT EXISTS (SELECT FROM pg_stat_activity
                    WHERE query LIKE '%taken@example.com%' AND state = 'active'
                      AND pid <> pg_backend_pid())}),
	'the first call completes');
eval { $taken->quit };
$holder->quit;

is( query($node, q{SELECT count(*) FROM auth.attempts WHERE scope = 'sign_in'}),
	'1', 'only the attempt whose caller waited for it is counted');
# a later sign-in answers at once, whichever slot its backend takes
my $start = time;
like(query_error($node, q{SELECT auth.sign_in('queued@example.com', 'wrong horse')}),
	qr/28P01/, 'a later sign-in is answered');
ok(time - $start < 5, 'without waiting for the call that was left');

$node->stop;
done_testing();
