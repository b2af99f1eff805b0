# Failed sign-ins per email: counted durably (by a background worker, so the
# failing call's rollback cannot erase them), limited exactly under
# concurrency (counted before the password check, serialised per email), and
# refused outright (fail closed) when no worker can record the attempt.
#
# Every attempt is its own autocommit psql call: counting inside a single
# transaction would prove nothing.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib $FindBin::RealBin;
use AuthTAP;

my $WRONG   = qr/ERROR:\s+28P01: invalid email or password/;
my $LOCKED  = qr/ERROR:\s+PT429: too many failed sign-ins for this email/;
my $PASSWORD = 'locked-correct-horse';

# Rows of auth.attempts counted against one email's sign-ins.
sub attempts_sql
{
	my ($email) = @_;
	return "SELECT count(*) FROM auth.attempts WHERE scope = 'sign_in'"
	  . " AND key = sha256(convert_to('$email', 'UTF8'))";
}

# 12 concurrent sign-ins below each need a worker slot at once.  (Statements
# stay out of the server log: see AuthTAP::new_node.)
my $node = new_node('limits', conf => 'max_worker_processes = 16');

my $uid = query($node, qq{
CREATE EXTENSION auth CASCADE;
SELECT auth.sign_up('locked\@example.com', '$PASSWORD');});
# (SHOW needs the module loaded: a fresh connection has not called into it.)
is(query($node, "LOAD 'auth'; SHOW auth.max_failed_sign_ins"),
	'5', 'default limit is 5');

### (a) durability: failures in separate, rolled-back calls still count

for my $i (1 .. 5)
{
	like(
		query_error($node,
			"SELECT auth.sign_in('locked\@example.com', 'wrong-password-$i')"),
		$WRONG,
		"existing email: wrong password $i fails with 28P01");
}
is(query($node, attempts_sql('locked@example.com')),
	'5', 'five attempts recorded although each call rolled back');

# The count is committed and WAL-logged: it survives a crash restart.
$node->stop('immediate');
$node->start;

like(
	query_error($node,
		"SELECT auth.sign_in('locked\@example.com', '$PASSWORD')"),
	$LOCKED,
	'existing email: the correct password is refused with PT429 after 5 failures');
like(
	query_error($node,
		"SELECT auth.sign_in('  LOCKED\@Example.COM ', '$PASSWORD')"),
	$LOCKED,
	'existing email: another spelling of the same email is refused too');
is(query($node, attempts_sql('locked@example.com')),
	'5', 'refused attempts are not counted beyond the limit');
is( query(
		$node,
		"SELECT count(*) FROM auth.audit_log WHERE event = 'sign_in_failed' AND user_id = '$uid'"
	),
	'5',
	'audit_log has 5 sign_in_failed rows for the user');
is(query($node, 'SELECT count(*) FROM auth.sessions'),
	'0', 'no session was opened');

# An unknown email is limited the same way (no enumeration by behaviour).
for my $i (1 .. 5)
{
	like(
		query_error($node,
			"SELECT auth.sign_in('ghost\@example.com', 'any-password-$i')"),
		$WRONG,
		"unknown email: attempt $i fails with 28P01");
}
like(
	query_error($node,
		"SELECT auth.sign_in('ghost\@example.com', 'any-password-6')"),
	$LOCKED,
	'unknown email: attempt 6 fails with PT429');
is( query(
		$node, q{
SELECT count(*) FROM auth.audit_log
 WHERE event = 'sign_in_failed' AND user_id IS NULL
   AND detail->>'email' = 'ghost@example.com'}),
	'5',
	'audit_log has 5 sign_in_failed rows for the unknown email');

# Once the window (15min) has passed, the correct password works again, and
# a success clears the email's count.
is( query(
		$node, qq{
SET auth.time_offset = '16min';
SELECT user_id = '$uid' FROM auth.sign_in('locked\@example.com', '$PASSWORD');}),
	't',
	'the correct password succeeds 16 minutes later');
is(query($node, attempts_sql('locked@example.com')),
	'0', 'a successful sign-in clears the email\'s attempts');

### (b) exactness: 12 concurrent wrong guesses give exactly 5 + 7

query($node, qq{
DELETE FROM auth.attempts;
SELECT auth.sign_up('victim\@example.com', 'victim-correct-horse');});

# A barrier, so that all 12 guesses really start together: each client
# waits for a shared advisory lock the controller holds exclusively.
my $barrier = $node->background_psql('postgres');
$barrier->query_safe('SELECT pg_advisory_lock(4242)');

my $n = 12;
my (@handles, @stdout, @stderr);
for my $i (0 .. $n - 1)
{
	$stdout[$i] = '';
	$stderr[$i] = '';
	# -c rather than stdin: IPC::Run feeds stdin only while we pump it.
	push @handles,
	  IPC::Run::start(
		[
			'psql', '-XAtq', '-d', $node->connstr('postgres'),
			'-v', 'VERBOSITY=verbose',
			'-c', 'SELECT pg_advisory_lock_shared(4242)',
			'-c', 'SELECT pg_advisory_unlock_shared(4242)',
			'-c', "SELECT auth.sign_in('victim\@example.com', 'wrong-password')"
		],
		'>', \$stdout[$i], '2>', \$stderr[$i],
		IPC::Run::timeout($PostgreSQL::Test::Utils::timeout_default));
}
ok( $node->poll_query_until(
		'postgres',
		"SELECT count(*) = $n FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
	),
	"all $n clients wait at the barrier");
$barrier->query_safe('SELECT pg_advisory_unlock(4242)');
$_->finish for @handles;
$barrier->quit;

my $wrong  = grep { $_ =~ $WRONG } @stderr;
my $locked = grep { $_ =~ $LOCKED } @stderr;
is($wrong,  5, 'exactly 5 concurrent guesses fail with 28P01');
is($locked, 7, 'exactly 7 concurrent guesses fail with PT429');
if ($wrong + $locked != $n)
{
	# show what the others got (no secrets in these messages)
	diag(redact($_)) for grep { $_ !~ $WRONG && $_ !~ $LOCKED } @stderr;
}
is(query($node, attempts_sql('victim@example.com')),
	'5', 'auth.attempts has exactly 5 rows for the email');
is( query(
		$node, q{
SELECT count(*) FROM auth.audit_log a JOIN auth.users u ON u.id = a.user_id
 WHERE a.event = 'sign_in_failed' AND u.email = 'victim@example.com'}),
	'5',
	'audit_log has exactly 5 sign_in_failed rows for the email');

### (c) fail closed: with no background worker, no sign-in at all

query($node, 'DELETE FROM auth.attempts');
$node->append_conf('postgresql.conf', 'max_worker_processes = 0');
$node->restart;
is(query($node, 'SHOW max_worker_processes'), '0', 'max_worker_processes = 0 accepted');

my $before = query($node, q{
SELECT (SELECT count(*) FROM auth.sessions) || ',' ||
       (SELECT count(*) FROM auth.attempts) || ',' ||
       (SELECT count(*) FROM auth.audit_log)});
like(
	query_error($node,
		"SELECT auth.sign_in('victim\@example.com', 'victim-correct-horse')"),
	qr/ERROR:\s+53000: could not record the attempt durably/,
	'the correct password is refused with 53000 when no worker slot is free');
is( query(
		$node, q{
SELECT (SELECT count(*) FROM auth.sessions) || ',' ||
       (SELECT count(*) FROM auth.attempts) || ',' ||
       (SELECT count(*) FROM auth.audit_log)}),
	$before,
	'no session, attempt or audit row was written');

$node->stop;
done_testing();
