# A database's owner (not a superuser) cannot keep the failed second-factor
# tries of its database from being written, nor let them fill the list
# that every database shares (second attack on the ledger, F1 and F2):
# the extension's workers connect whatever ALTER DATABASE set for the
# database (connections disallowed; session_authorization, role,
# lock_timeout, exit_on_error), and no database takes more than half of
# the pending list, so with one database's writes held up (a lock on its
# auth.attempts, which a worker does not wait for), another database's
# wrong codes are still answered as wrong.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(sleep);
use FindBin;
use lib $FindBin::RealBin;
use AuthTAP;

my $node = new_node(
	'ledger_tenant', conf => q{
shared_preload_libraries = 'auth'
auth.autonomous_workers = 2
max_connections = 20
});
query($node, q{
CREATE ROLE tenant LOGIN;
CREATE DATABASE tdb OWNER tenant;
CREATE DATABASE odb;});
# 60 users with a factor and a challenge each (one wrong code per user
# stays under the user's limit)
for my $db (qw(tdb odb))
{
	query($node, q{
CREATE EXTENSION auth CASCADE;
INSERT INTO auth.users (email) SELECT 'tenant' || g || '@example.com' FROM generate_series(1, 60) g;
SELECT count(auth.import_totp_factor(id, 'GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ')) FROM auth.users;
CREATE TABLE tap_try (n int, challenge text);
INSERT INTO tap_try
SELECT row_number() OVER (), (auth._open_first_factor_session(u.id, 'password', NULL, NULL)).mfa_challenge
  FROM auth.users u;},
		db => $db);
}
my $wrong = q{SELECT auth.verify_mfa((SELECT challenge FROM tap_try WHERE n = %d), '000000')};
my $tries = q{SELECT count(*) FROM auth.attempts WHERE scope = 'mfa_challenge'};

# The owner's settings, then connections to tdb disallowed (the test's
# sessions there opened before, so they do not have them).
my $s = $node->background_psql('tdb', on_error_stop => 0);
my $lock = $node->background_psql('tdb');
query($node, q{
ALTER DATABASE tdb SET session_authorization = 'tenant';
ALTER DATABASE tdb SET role = 'tenant';
ALTER DATABASE tdb SET lock_timeout = '1ms';
ALTER DATABASE tdb SET exit_on_error = on;
ALTER DATABASE tdb ALLOW_CONNECTIONS false;}, role => 'tenant');
like($s->query(sprintf($wrong, 1)), qr/^$/, 'a wrong code in the owner\'s database');
like($s->{stderr}, qr/invalid second-factor code/, '... is wrong, and answered');
$s->{stderr} = '';
is($s->query_safe($tries), '1', '... once a worker has written it there');

# tdb's writes held up: its failures pile up to half the list at most
$lock->query_safe(q{BEGIN; LOCK TABLE auth.attempts IN SHARE MODE});
$s->query_safe(q{SET statement_timeout = '100ms'});
my ($timeouts, $behind) = (0, 0);
for my $n (2 .. 60)
{
	$s->query(sprintf($wrong, $n));
	my $err = $s->{stderr};
	$s->{stderr} = '';
	$timeouts++ if $err =~ /canceling statement due to statement timeout/;
	if ($err =~ /the extension's workers are behind/)
	{
		$behind = 1;
		last;
	}
}
ok($behind, "tdb's tries are refused once its failures fill half the list ($timeouts pending)");
ok($timeouts > 10, '... after many failures waited for their write');
like(query_error($node, sprintf($wrong, 1), db => 'odb'),
	qr/28000: invalid second-factor code/,
	"another database's wrong code is still answered as wrong");
$lock->query_safe('COMMIT');
$s->query_safe(q{RESET statement_timeout});
my $written = 0;
for (1 .. 100)
{
	$written = $s->query_safe($tries);
	last if $written == $timeouts + 1;
	sleep 0.1;
}
is($written, $timeouts + 1, "tdb's failures are all written once the lock goes");
$lock->quit;
$s->quit;

$node->stop;
done_testing();
