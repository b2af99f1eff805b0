# Failed second-factor tries waiting in shared memory for their write
# (src/attempt_ledger.c) when their database loses the extension or goes
# altogether: the worker does not spin on a write that cannot succeed, nor
# on connecting to a database that is gone, and other databases' tries
# are answered as before (third attack on the ledger, findings 2 and 3).
# One worker; the worker's write is held up with a SHARE lock on
# auth.attempts (it puts the write off rather than wait for the lock) so
# that a failure is pending at the moment of the drop.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time);
use FindBin;
use lib $FindBin::RealBin;
use AuthTAP;

my $node = new_node(
	'ledger_drops', conf => q{
shared_preload_libraries = 'auth'
auth.autonomous_workers = 1
});
for my $db (qw(dba dbb dbc))
{
	query($node, "CREATE DATABASE $db");
	query($node, q{
CREATE EXTENSION auth CASCADE;
INSERT INTO auth.users (email) VALUES ('drops@example.com');
SELECT auth.import_totp_factor(id, 'GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ')
  FROM auth.users WHERE email = 'drops@example.com';
CREATE TABLE tap_try (n int, challenge text);
INSERT INTO tap_try
SELECT g, (auth._open_first_factor_session(u.id, 'password', NULL, NULL)).mfa_challenge
  FROM auth.users u, generate_series(0, 2) g WHERE u.email = 'drops@example.com';},
		db => $db);
}
my $wrong = q{SELECT auth.verify_mfa((SELECT challenge FROM tap_try WHERE n = %d), '000000')};

# Leaves a failure of database $db pending: the worker's write waits for
# the lock $holder takes, and the caller stops waiting for it.
sub pending_failure
{
	my ($db, $holder) = @_;
	$holder->query_safe('BEGIN; LOCK TABLE auth.attempts IN SHARE MODE');
	like(
		query_error(
			$node, "SET statement_timeout = '300ms';\n" . sprintf($wrong, 0),
			db => $db),
		qr/57014/,
		"$db: a wrong code whose write is held up");
	is( $holder->query_safe(
			q{SELECT count(*) FROM auth.attempts WHERE scope = 'mfa_challenge'}),
		'0', "$db: the worker cannot write it (and does not wait)");
}

# Another database's wrong code is answered at once, as wrong.
sub others_served
{
	my ($what, $n) = @_;
	my $start = time;
	like(query_error($node, sprintf($wrong, $n), db => 'dbb'),
		qr/28000: invalid second-factor code/, "after $what, another database's wrong code is wrong");
	ok(time - $start < 3, "... and answered without waiting for the worker");
}

# 1. The extension dropped (by the lock's holder) with a failure pending.
my $holder = $node->background_psql('dba');
pending_failure('dba', $holder);
$holder->query_safe('DROP EXTENSION auth CASCADE; COMMIT');
$holder->quit;
others_served('DROP EXTENSION', 1);
sleep 2;
my $log = slurp_file($node->logfile);
my $missing = () = $log =~ /relation "auth\.attempts" does not exist/g;
ok($missing <= 2,
	"the worker does not retry a write into a dropped extension ($missing errors)");

# 2. The database dropped with a failure pending.
$holder = $node->background_psql('dbc');
pending_failure('dbc', $holder);
query($node, 'DROP DATABASE dbc WITH (FORCE)');
eval { $holder->quit };
# the failures are put off for a second after each worker that dies
# trying to connect for them; no worker tries more than three times, and
# one connected elsewhere forgets them
sleep 4;
others_served('DROP DATABASE', 2);
sleep 1;
$log = slurp_file($node->logfile);
my $gone = () = $log =~ /FATAL:\s+database \d+ does not exist/g;
ok($gone <= 3, "workers stop connecting to the dropped database ($gone tries)");
sleep 3;
$log = slurp_file($node->logfile);
my $later = () = $log =~ /FATAL:\s+database \d+ does not exist/g;
is($later, $gone, 'and do not try again later');

$node->stop;
done_testing();
