# Dump and restore: pg_dump -Fc keeps users, sessions and the audit log
# (pg_extension_config_dump), so live tokens and passwords keep working in the
# restored database, revoked sessions stay revoked, and neither the tables,
# a plain dump nor the server log hold a plaintext token or password.
#
# Tokens and passwords stay in Perl variables: no test name, message or
# printed error contains one (errors go through redact()).
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib $FindBin::RealBin;
use AuthTAP;

# Statements stay out of the server log (see AuthTAP::new_node), which also
# lets us check below that the extension itself never logs a secret.
my $node = new_node('dump');

$node->safe_psql('postgres', 'CREATE DATABASE src');
$node->safe_psql('src', 'CREATE EXTENSION auth CASCADE');

my $alice = 'alice@example.com';
my $bob = 'bob@example.com';
my %pw = ($alice => 'alice-correct-horse', $bob => 'bob-battery-staple');
my %uid;
for my $email (sort keys %pw)
{
	$uid{$email} = query($node,
		"SELECT auth.sign_up('$email', '$pw{$email}', 'n')", db => 'src');
}

# Sign in; keep token and session id, print neither token.
sub sign_in
{
	my ($db, $email) = @_;
	my $row = query($node,
		"SELECT token || '|' || session_id FROM auth.sign_in('$email', '$pw{$email}')",
		db => $db);
	return split /\|/, $row;
}
my ($tok_alice) = sign_in('src', $alice);
my ($tok_bob) = sign_in('src', $bob);
my ($tok_revoked, $sid_revoked) = sign_in('src', $bob);

# Bob revokes his second session from the first (an audit row
# session_revoked); the function acts only as auth.uid().
is( query(
		$node, qq{
BEGIN;
SELECT auth.authenticate('$tok_bob') IS NOT NULL;
SELECT auth.revoke_session('$sid_revoked');
COMMIT;}, db => 'src'),
	"t\nt",
	'bob revokes his second session');
is( query(
		$node,
		"SELECT (auth.verify_session('$tok_revoked')).user_id IS NULL",
		db => 'src'),
	't', 'revoked session no longer verifies before the dump');
is( query(
		$node,
		"SELECT count(*) FROM auth.audit_log WHERE event = 'session_revoked'",
		db => 'src'),
	'1',
	'audit row for the revocation');

# What the restored database must hold.
my $counts_sql = q{
SELECT (SELECT count(*) FROM auth.users) || ',' ||
       (SELECT count(*) FROM auth.sessions) || ',' ||
       (SELECT count(*) FROM auth.sessions WHERE revoked_at IS NOT NULL) || ',' ||
       (SELECT count(*) FROM auth.audit_log)};
my $counts_before = query($node, $counts_sql, db => 'src');
like($counts_before, qr/^2,3,1,\d+$/, 'source has 2 users, 3 sessions (1 revoked)');

my $dump = "${PostgreSQL::Test::Utils::tmp_check}/auth_src.dump";
$node->command_ok([ 'pg_dump', '-Fc', '-f', $dump, '-d', 'src' ],
	'pg_dump -Fc of the source database');
$node->safe_psql('postgres', 'CREATE DATABASE dst');
$node->command_ok([ 'pg_restore', '--exit-on-error', '-d', 'dst', $dump ],
	'pg_restore into a fresh database');

is(query($node, $counts_sql, db => 'dst'),
	$counts_before, 'users, sessions, revoked sessions and audit rows all restored');
is( query(
		$node,
		"SELECT count(*) FROM auth.audit_log WHERE event = 'session_revoked'",
		db => 'dst'),
	'1',
	'the revocation audit row was restored');

# Live tokens from before the dump still verify and authenticate.
is( query(
		$node,
		"SELECT user_id FROM auth.verify_session('$tok_alice')",
		db => 'dst'),
	$uid{$alice},
	'alice\'s old token verifies in the restored database');
is( query(
		$node,
		"SELECT user_id FROM auth.verify_session('$tok_bob')",
		db => 'dst'),
	$uid{$bob},
	'bob\'s old token verifies in the restored database');
is( query(
		$node, qq{
BEGIN;
SELECT auth.authenticate('$tok_alice') = auth.uid();
SELECT auth.uid();
COMMIT;}, db => 'dst'),
	"t\n$uid{$alice}",
	'authenticate with alice\'s old token sets auth.uid() in the restored database');

# The revoked session stays revoked.
is( query(
		$node,
		"SELECT num_nulls(user_id, session_id, expires_at) FROM auth.verify_session('$tok_revoked')",
		db => 'dst'),
	'3',
	'revoked token does not verify in the restored database');
like(
	query_error(
		$node, "SELECT auth.authenticate('$tok_revoked')",
		db => 'dst'),
	qr/ERROR:\s+28000: invalid session token/,
	'authenticate with the revoked token fails with 28000 in the restored database');

# Only the SHA-256 of each token is at rest, in both databases.
for my $db ('src', 'dst')
{
	my $n = 0;
	for my $tok ($tok_alice, $tok_bob, $tok_revoked)
	{
		$n++;
		is( query(
				$node,
				"SELECT count(*) FROM auth.sessions WHERE token_hash = sha256(convert_to('$tok', 'UTF8'))",
				db => $db),
			'1',
			"$db: token $n is stored as its SHA-256");
	}
}

# No column of any table in schema auth holds a plaintext token or password.
my $secrets = join(', ',
	map { "('$_')" } $tok_alice, $tok_bob, $tok_revoked, values %pw);
my @tables = split /\n/,
  query($node,
	"SELECT tablename FROM pg_tables WHERE schemaname = 'auth' ORDER BY 1",
	db => 'dst');
ok(scalar(grep { $_ eq 'sessions' } @tables), 'auth tables listed');
for my $db ('src', 'dst')
{
	for my $t (@tables)
	{
		is( query(
				$node, qq{
SELECT count(*) FROM auth.$t x, (VALUES $secrets) v(secret)
 WHERE strpos(x::text, v.secret) > 0}, db => $db),
			'0',
			"$db: no plaintext token or password in auth.$t");
	}
}

# Old passwords still sign in (the hash was restored) and new audit rows
# get fresh ids (the audit_log sequence was restored too).
for my $email (sort keys %pw)
{
	is( query(
			$node,
			"SELECT token IS NOT NULL AND user_id = '$uid{$email}' FROM auth.sign_in('$email', '$pw{$email}')",
			db => 'dst'),
		't',
		"$email signs in with the old password in the restored database");
}
is( query(
		$node, qq{
SELECT auth.verify_password('$pw{$alice}', password_hash),
       auth.verify_password('not-alice-password', password_hash)
  FROM auth.users WHERE email = '$alice'}, db => 'dst'),
	't|f',
	'verify_password of the restored hash');

# A plain-text dump has hashes only: no token, no password.
my ($dump_sql, $dump_err);
my $ok = IPC::Run::run([ 'pg_dump', '-Fp', '-d', $node->connstr('dst') ],
	'>', \$dump_sql, '2>', \$dump_err);
ok($ok, 'plain pg_dump of the restored database');
like($dump_sql, qr/COPY auth\.sessions/, 'the plain dump contains auth.sessions');
is( scalar(grep { index($dump_sql, $_) >= 0 }
		  ($tok_alice, $tok_bob, $tok_revoked, values %pw)),
	0,
	'the plain dump contains no plaintext token or password');

# With statement logging off, nothing the extension logged holds a secret.
my $log = slurp_file($node->logfile);
is( scalar(grep { index($log, $_) >= 0 }
		  ($tok_alice, $tok_bob, $tok_revoked, values %pw)),
	0,
	'the server log contains no token or password');
unlike($log, qr/\$argon2id\$/, 'the server log contains no password hash');

$node->stop;
done_testing();
