# Wrong second-factor codes under concurrency: verify_mfa counts a try per
# challenge and per user in one request to a background worker (op
# 'attempts': both keys locked in one order, then counted), and the counts
# stay exact.  12 connections submit a wrong code at once, 6 on each of two
# challenges of one user: exactly 5 are told the code is wrong (the user's
# limit, auth.mfa_max_attempts) and 7 are refused with PT429, whether the
# extension's own workers (preloaded, which answer "busy" rather than wait
# for a lock) or dynamic workers (which wait) do the counting.
#
# Every try is its own autocommit psql call; no challenge or code is ever
# printed (the challenges stay in a table the clients read).
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib $FindBin::RealBin;
use AuthTAP;
use IPC::Run;

my $WRONG  = qr/ERROR:\s+28000: invalid second-factor code/;
my $LOCKED = qr/ERROR:\s+PT429: too many wrong/;

for my $mode ([ 'pool', "shared_preload_libraries = 'auth'" ],
	[ 'dynamic', '' ])
{
	my ($name, $conf) = @$mode;
	my $node = new_node("mfa_$name",
		conf => "max_worker_processes = 16\n$conf\n");
	query($node, q{
CREATE EXTENSION auth CASCADE;
INSERT INTO auth.users (email) VALUES ('mfa-race@example.com');
SELECT auth.import_totp_factor(id, 'GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ')
  FROM auth.users WHERE email = 'mfa-race@example.com';
CREATE TABLE tap_mfa (n int, challenge text);
INSERT INTO tap_mfa
SELECT g, (auth._open_first_factor_session(u.id, 'password', NULL, NULL)).mfa_challenge
  FROM auth.users u, generate_series(0, 1) g WHERE u.email = 'mfa-race@example.com';});
	is( query($node, "SELECT auth._autonomous_path()"),
		$name eq 'pool' ? 'workers' : 'dynamic',
		"$name: the attempts are counted by the expected workers");

	# A barrier, so that all 12 tries really start together.
	my $barrier = $node->background_psql('postgres');
	$barrier->query_safe('SELECT pg_advisory_lock(4243)');
	my $n = 12;
	my (@handles, @stdout, @stderr);
	for my $i (0 .. $n - 1)
	{
		$stdout[$i] = '';
		$stderr[$i] = '';
		# 8 digits for a 6-digit factor: wrong at every step, yet a
		# well-formed code, so the try is counted before it is checked
		push @handles,
		  IPC::Run::start(
			[
				'psql', '-XAtq', '-d', $node->connstr('postgres'),
				'-v', 'VERBOSITY=verbose',
				'-c', 'SELECT pg_advisory_lock_shared(4243)',
				'-c', 'SELECT pg_advisory_unlock_shared(4243)',
				'-c',
				"SELECT auth.verify_mfa((SELECT challenge FROM tap_mfa WHERE n = "
				  . ($i % 2) . "), '00000000')"
			],
			'>', \$stdout[$i], '2>', \$stderr[$i],
			IPC::Run::timeout($PostgreSQL::Test::Utils::timeout_default));
	}
	ok( $node->poll_query_until(
			'postgres',
			"SELECT count(*) = $n FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
		),
		"$name: all $n clients wait at the barrier");
	$barrier->query_safe('SELECT pg_advisory_unlock(4243)');
	$_->finish for @handles;
	$barrier->quit;

	my $wrong  = grep { $_ =~ $WRONG } @stderr;
	my $locked = grep { $_ =~ $LOCKED } @stderr;
	is($wrong,  5, "$name: exactly 5 concurrent tries are told the code is wrong");
	is($locked, 7, "$name: exactly 7 concurrent tries are refused with PT429");
	if ($wrong + $locked != $n)
	{
		diag(redact($_)) for grep { $_ !~ $WRONG && $_ !~ $LOCKED } @stderr;
	}
	# a refusal for the account names when it ends, counted from what the
	# others committed while this try waited for the count's lock
	my @until = grep { $_ =~ /locked until/ } @stderr;
	ok(@until > 0, "$name: some tries are refused for the account");
	is( scalar(grep { $_ !~ /locked until \d{4}-\d\d-\d\d/ } @until),
		0, "$name: every refusal for the account names the time it ends");
	is( query(
			$node, q{
SELECT count(*) FROM auth.attempts a JOIN auth.users u ON a.key = uuid_send(u.id)
 WHERE a.scope = 'mfa' AND u.email = 'mfa-race@example.com'}),
		'5',
		"$name: exactly 5 tries counted against the user");
	is( query(
			$node, q{
SELECT bool_and(n <= 5) AND sum(n) BETWEEN 5 AND 10 FROM (
  SELECT count(*) AS n FROM auth.attempts a JOIN auth.mfa_challenges c ON a.key = uuid_send(c.id)
   WHERE a.scope = 'mfa_challenge' GROUP BY c.id) t}),
		't',
		"$name: at most 5 tries counted against each challenge");
	# one request per try: the user's count and the challenge's carry the
	# same stamp
	is( query(
			$node, q{
SELECT count(*) FROM auth.attempts u
 WHERE u.scope = 'mfa' AND EXISTS (
   SELECT FROM auth.attempts c
    WHERE c.scope = 'mfa_challenge' AND c.attempted_at = u.attempted_at)}),
		'5',
		"$name: each try counted per user was counted per challenge in the same request");
	is( query(
			$node, q{
SELECT count(*) FROM auth.audit_log a JOIN auth.users u ON u.id = a.user_id
 WHERE a.event = 'mfa_failed' AND u.email = 'mfa-race@example.com'}),
		'5',
		"$name: 5 mfa_failed rows audited");
	is(query($node, 'SELECT count(*) FROM auth.sessions'),
		'0', "$name: no session was opened");
	$node->stop;
}

done_testing();
