# A second-factor try that ends without a pass counts as a wrong code, how
# ever it ends (src/attempt_ledger.c): the try starts before the code is
# checked, and a cancel, a statement_timeout or a pg_terminate_backend
# during the check make it a failure that a worker writes to
# auth.attempts.  Each try here holds a right code, held in its check by
# another transaction that locks the factor's row, so only the way it
# ended can have counted it.  Then, with the worker's writes held up (a
# SHARE lock on auth.attempts), five failed tries whose callers stop
# waiting for the write still count: the sixth, a right code, is refused
# with PT429 before anything is written, and the five are written once
# the lock goes; a caller that keeps waiting is refused with 53000 after
# 5 s (not told the code was wrong, not audited) and its failure is
# written later.  No code or challenge is printed.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib $FindBin::RealBin;
use AuthTAP;

my $node = new_node(
	'mfa_try_ends', conf => q{
shared_preload_libraries = 'auth'
auth.autonomous_workers = 1
});
query($node, q{
CREATE EXTENSION auth CASCADE;
INSERT INTO auth.users (email) VALUES ('try-ends@example.com');
SELECT auth.import_totp_factor(id, 'GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ')
  FROM auth.users WHERE email = 'try-ends@example.com';
CREATE TABLE tap_try (n int, challenge text);
INSERT INTO tap_try
SELECT g, (auth._open_first_factor_session(u.id, 'password', NULL, NULL)).mfa_challenge
  FROM auth.users u, generate_series(0, 4) g WHERE u.email = 'try-ends@example.com';
INSERT INTO auth.users (email) VALUES ('try-late@example.com');
SELECT auth.import_totp_factor(id, 'GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ')
  FROM auth.users WHERE email = 'try-late@example.com';
INSERT INTO tap_try
SELECT 9, (auth._open_first_factor_session(u.id, 'password', NULL, NULL)).mfa_challenge
  FROM auth.users u WHERE u.email = 'try-late@example.com';
-- the code of the current step (RFC 6238, the RFC's SHA-1 seed)
CREATE FUNCTION tap_code() RETURNS text LANGUAGE sql AS $$
  WITH m AS (SELECT hmac(int8send(floor(extract(epoch FROM auth.now()) / 30)::bigint),
                         convert_to('12345678901234567890', 'UTF8'), 'sha1') AS mac),
       o AS (SELECT mac, get_byte(mac, 19) & 15 AS off FROM m)
  SELECT lpad(((((get_byte(mac, off) & 127)::bigint << 24) | (get_byte(mac, off + 1) << 16)
                | (get_byte(mac, off + 2) << 8) | get_byte(mac, off + 3)) % 1000000)::text, 6, '0')
    FROM o
$$;});

my $user = q{(SELECT uuid_send(id) FROM auth.users WHERE email = 'try-ends@example.com')};
sub counted
{
	my ($n) = @_;
	return qq{
SELECT (SELECT count(*) FROM auth.attempts a JOIN auth.mfa_challenges c ON a.key = uuid_send(c.id)
 WHERE a.scope = 'mfa_challenge'
   AND c.secret_hash = auth._token_hash((SELECT challenge FROM tap_try WHERE n = $n), 'mfc'))};
}
my $user_counted = qq{SELECT count(*) FROM auth.attempts WHERE scope = 'mfa' AND key = $user};

# the factor's row, held: a right code's check waits for it
my $holder = $node->background_psql('postgres');
$holder->query_safe(q{
BEGIN;
SELECT 1 FROM auth.mfa_factors f JOIN auth.users u ON u.id = f.user_id
 WHERE u.email = 'try-ends@example.com' FOR UPDATE OF f});

# Starts a try of challenge n with the right code in a new connection; its
# pid once the try waits in its check.
sub held_try
{
	my ($n, $setup) = @_;
	my $s = $node->background_psql('postgres', on_error_stop => 0);
	my $pid = $s->query_safe('SELECT pg_backend_pid()');
	$s->query_safe($setup) if $setup;
	$s->query_until(qr/trying/, qq{
\\echo trying
SELECT auth.verify_mfa((SELECT challenge FROM tap_try WHERE n = $n), tap_code());
});
	ok( $node->poll_query_until(
			'postgres', qq{
SELECT wait_event_type = 'Lock' FROM pg_stat_activity WHERE pid = $pid}),
		"try $n waits in its check");
	return ($s, $pid);
}

# cancelled
my ($s0, $pid0) = held_try(0);
query($node, "SELECT pg_cancel_backend($pid0)");
ok($node->poll_query_until('postgres', counted(0) . ' = 1'),
	'a try cancelled in its check counts against its challenge');
is(query($node, $user_counted), '1', '... and against the user');
$s0->quit;

# terminated (FATAL: no error handler runs; the backend's exit ends it)
my ($s1, $pid1) = held_try(1);
query($node, "SELECT pg_terminate_backend($pid1)");
ok($node->poll_query_until('postgres', counted(1) . ' = 1'),
	'a try whose backend is terminated in its check counts');
eval { $s1->quit };

# statement_timeout
my ($s2, $pid2) = held_try(2, q{SET statement_timeout = '300ms'});
ok($node->poll_query_until('postgres', counted(2) . ' = 1'),
	'a try that times out in its check counts');
$s2->quit;
is(query($node, $user_counted), '3', 'the user has the three tries counted');
$holder->query_safe('ROLLBACK');

# The worker's writes held up: failed tries count from shared memory.
query($node, 'DELETE FROM auth.attempts');
$holder->query_safe('BEGIN; LOCK TABLE auth.attempts IN SHARE MODE');
# a caller that waits: its failure not written within 5 s is 53000, not
# the 28000 of a wrong code (nor audited as one), and still counts
like(
	query_error($node, q{
SELECT auth.verify_mfa((SELECT challenge FROM tap_try WHERE n = 9), '000000')}),
	qr/53000: could not record the attempt durably: no auth worker wrote it in time/,
	'a wrong code whose write waits past 5 s is refused as not recorded');
is( query($node, q{
SELECT count(*) FROM auth.audit_log a JOIN auth.users u ON u.id = a.user_id
 WHERE u.email = 'try-late@example.com' AND a.event = 'mfa_failed'}),
	'0', '... and not audited as answered');
my $err = '';
for my $i (1 .. 5)
{
	# the caller stops waiting for the write: it never learns the answer
	$err .= query_error($node, q{
SET statement_timeout = '300ms';
SELECT auth.verify_mfa((SELECT challenge FROM tap_try WHERE n = 3), '000000')});
}
is(scalar(() = $err =~ /57014/g), 5,
	'five wrong codes whose write waits: each caller gives up waiting');
is(query($node, counted(3)), '0', 'none of them is written yet');
like(
	query_error($node, q{
SELECT auth.verify_mfa((SELECT challenge FROM tap_try WHERE n = 3), tap_code())}),
	qr/PT429: too many wrong codes/,
	'the right code is refused: the five pending failures count');
like(
	query_error($node, q{
SELECT auth.verify_mfa((SELECT challenge FROM tap_try WHERE n = 4), tap_code())}),
	qr/PT429: too many wrong second-factor codes for this account/,
	'... for the user too, on another challenge');
$holder->query_safe('COMMIT');
ok($node->poll_query_until('postgres', counted(3) . ' = 5'),
	'the worker writes the five once the lock goes');
is(query($node, $user_counted), '5', '... against the user as well');
ok($node->poll_query_until('postgres', counted(9) . ' = 1'),
	'the failure refused as not recorded is written too');
is( query($node, q{
SELECT count(*) FROM auth.sessions s JOIN auth.users u ON u.id = s.user_id
 WHERE u.email = 'try-ends@example.com'}),
	'0', 'no try opened a session');
$holder->quit;

$node->stop;
done_testing();
