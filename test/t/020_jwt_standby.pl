# Signed tokens on a streaming hot standby: tokens issued on the primary
# verify there (EdDSA, ES256, and HS256, whose secret the standby opens with
# the root key file it copied with the data directory); a standby backend
# whose key cache is warm refuses a token as soon as the key's revocation,
# or the sign-out of the session it came from, has been replayed (the
# relcache invalidation is WAL-logged with the commit); a standby never
# creates a root key file, and issues no token.
#
# Tokens stay in Perl variables: no test name, message or printed error
# contains one (errors go through redact()).
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib $FindBin::RealBin;
use AuthTAP;

my $primary = new_node('primary', init => { allows_streaming => 1 });
my $user = query($primary, q{
SET client_min_messages = warning;
CREATE EXTENSION auth CASCADE;
SELECT auth.sign_up('sam@example.com', 'sam-correct-horse');});
my $session = query($primary,
	"SELECT token FROM auth.sign_in('sam\@example.com', 'sam-correct-horse')");
ok(!-e $primary->data_dir . '/auth_root.key',
	'primary: no root key file before the first key');

# One token per algorithm, each signed by a current key of its own.
my %tok;
for my $alg (qw(EdDSA ES256 HS256))
{
	$tok{$alg} = query($primary, qq{
SELECT auth.create_signing_key('$alg', 'current') IS NOT NULL;
BEGIN;
SELECT auth.authenticate('$session') IS NOT NULL;
SELECT auth.issue_jwt(ttl => '1 hour');
COMMIT;});
	$tok{$alg} = (split /\n/, $tok{$alg})[-1];
}
my $mode = (stat($primary->data_dir . '/auth_root.key'))[2];
is(sprintf('%o', $mode & 07777), '600', 'primary: the root key file is mode 0600');
is(-s $primary->data_dir . '/auth_root.key', 32, 'primary: it holds 256 bits');

$primary->backup('base');
my $standby = PostgreSQL::Test::Cluster->new('standby');
$standby->init_from_backup($primary, 'base', has_streaming => 1);
# The test framework copies the backup with the umask's modes; a root key
# file others may read is refused, so it gets the mode pg_basebackup of a
# data directory without group access gives it.
chmod 0600, $standby->data_dir . '/auth_root.key';
$standby->append_conf('postgresql.conf', "hot_standby = on\nlog_statement = none\nlog_min_error_statement = panic\n");
$standby->start;
$primary->wait_for_catchup($standby);
is(query($standby, 'SELECT pg_is_in_recovery()'), 't', 'standby is in recovery');

# Previous keys verify through their grace: every token is valid.
for my $alg (qw(EdDSA ES256 HS256))
{
	is(query($standby, "SELECT coalesce(code, 'valid') FROM auth.verify_jwt('$tok{$alg}')"),
		'valid', "standby: the $alg token verifies");
}
is( query($standby, qq{
BEGIN;
SELECT auth.authenticate_jwt('$tok{EdDSA}') = '$user';
SELECT auth.session_id() IS NOT NULL;
COMMIT;}), "t\nt", 'standby: authenticate_jwt sets the jwt identity');
# Issuing writes nothing: a standby issues tokens too, which the primary
# verifies.
my $from_standby = query($standby, qq{
BEGIN;
SELECT auth.authenticate('$session') IS NOT NULL;
SELECT auth.issue_jwt();
COMMIT;});
$from_standby = (split /\n/, $from_standby)[-1];
is(query($primary, "SELECT coalesce(code, 'valid') FROM auth.verify_jwt('$from_standby')"),
	'valid', 'standby: issues a token (no write), which the primary verifies');

# A standby backend with a warm cache.
# The tokens go through a table, so that no query the framework prints
# holds one.
query($primary, 'CREATE TABLE jwt_tokens (a int, token text)');
for my $i (0 .. 2)
{
	my $alg = (qw(EdDSA ES256 HS256))[$i];
	query($primary, "INSERT INTO jwt_tokens VALUES ($i, '$tok{$alg}')");
}
$primary->wait_for_catchup($standby);
my $bg = $standby->background_psql('postgres');
my $verdicts = q{SELECT string_agg(coalesce(v.code, 'valid'), ',' ORDER BY t.a)
  FROM jwt_tokens t, auth.verify_jwt(t.token) v;};
is($bg->query_safe($verdicts), 'valid,valid,valid', 'standby backend: warm cache, all valid');

# A standby backend holding a connection-scope JWT identity while the
# primary makes a key: at its next statement the identity is re-checked
# through a reloaded cache, whose own query does not re-enter the check
# (that once crashed the standby).
my $holder = $standby->background_psql('postgres');
is($holder->query_safe(
		"SELECT auth.authenticate_jwt((SELECT token FROM jwt_tokens WHERE a = 0), false) IS NOT NULL"),
	't', 'standby: a connection-scope JWT identity');
query($primary, "SELECT auth.create_signing_key()");
$primary->wait_for_catchup($standby);
is($holder->query_safe('SELECT auth.uid() IS NOT NULL'), 't',
	'standby: the identity lives through the key cache reload');
$holder->quit;

# The ES256 key is revoked on the primary: refused at once after replay.
my $es_kid = query($primary,
	"SELECT kid FROM auth.verify_jwt('$tok{ES256}')");
query($primary, "SELECT auth.revoke_signing_key('$es_kid')");
$primary->wait_for_catchup($standby);
is($bg->query_safe($verdicts), 'valid,REVOKED,valid',
	'standby backend: the revoked key is refused by the warm cache');

# Signing out on the primary ends every token of the session (its sid).
query($primary, "SELECT auth.revoke_user_sessions('$user')");
$primary->wait_for_catchup($standby);
is($bg->query_safe($verdicts), 'REVOKED,REVOKED,REVOKED',
	'standby backend: the tokens of the signed-out session are refused');
is($bg->query_safe(
		"SET auth.jwt_check_revocation = off; $verdicts"),
	'valid,REVOKED,valid',
	'standby backend: without the revocation check only the key counts');
$bg->quit;

# A standby never creates a root key file: without one, an HS256 key does
# not open (55000).
like(
	query_error($standby, qq{
SET auth.root_key_file = 'missing_root.key';
SET auth.jwt_check_revocation = off;
SELECT code FROM auth.verify_jwt('$tok{HS256}');}),
	qr/ERROR:\s+55000: the root key file ".*missing_root.key" is missing/,
	'standby: a missing root key file is an error, not a new key');
ok(!-e $standby->data_dir . '/missing_root.key', 'standby: no file was created');

# A root key file that group or others may read is refused (55000) by a
# backend that reads it, and so is replacing a missing one while sealed
# keys exist.
my $root_file = $primary->data_dir . '/auth_root.key';
chmod 0640, $root_file;
like(query_error($primary, "SELECT auth.create_signing_key('HS256')"),
	qr/ERROR:\s+55000: the root key file ".*auth_root.key" is accessible to group or others/,
	'primary: a group-readable root key file is refused');
chmod 0600, $root_file;
rename $root_file, "$root_file.moved";
like(query_error($primary, "SELECT auth.create_signing_key('HS256')"),
	qr/ERROR:\s+55000: the root key file ".*auth_root.key" is missing/,
	'primary: no new root key while sealed keys exist');
ok(!-e $root_file, 'primary: no file was created');
rename "$root_file.moved", $root_file;
is(query($primary, "SELECT auth.create_signing_key('HS256') IS NOT NULL"), 't',
	'primary: with the file back, keys are made');

# No token and no key in either server's log.
for my $node ($primary, $standby)
{
	my $log = slurp_file($node->logfile);
	unlike($log, qr/eyJ[A-Za-z0-9_-]{10,}/, $node->name . ': the log holds no JWT');
}

done_testing();
