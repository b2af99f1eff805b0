# TOTP interoperability: a code computed by an authenticator library nobody
# here wrote (the npm package otpauth, test/interop-otp, installed from its
# committed lockfile by make test) from the otpauth:// URI enroll_totp
# returns verifies the enrollment, and a later code redeems an MFA
# challenge.  Then the second factor survives what it must: wrong codes in
# separate autocommit connections still count, and a challenge never
# opens a session without a code.
#
# The URI and the codes stay in Perl variables and go to node on standard
# input: no test name, message or printed error contains one.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib $FindBin::RealBin;
use AuthTAP;
use IPC::Run;

my $srcdir = $ENV{AUTH_SRCDIR} // "$FindBin::RealBin/../..";
my $otpdir = "$srcdir/test/interop-otp";
if (!-d "$otpdir/node_modules/otpauth")
{
	# make test runs npm ci first; without it this test cannot say anything
	fail("otpauth is installed in test/interop-otp (npm ci)");
	done_testing();
	exit;
}

# The code otpauth shows for $uri at unix time $secs.
sub otpauth_code
{
	my ($uri, $secs) = @_;
	my ($out, $err) = ('', '');
	IPC::Run::run([ 'node', "$otpdir/code.js", $secs * 1000 ],
		'<', \$uri, '>', \$out, '2>', \$err)
	  or die "node failed: " . redact($err) . "\n";
	chomp $out;
	return $out;
}

my $node = new_node('mfa');
query($node, q{
CREATE EXTENSION auth CASCADE;
SELECT auth.sign_up('otp@example.com', 'otp password one');});

# Enrollment, within one transaction of one connection.
my $token = query($node,
	"SELECT token FROM auth.sign_in('otp\@example.com', 'otp password one')");
my $out = query($node, qq{
BEGIN;
SELECT auth.authenticate('$token') IS NOT NULL;
SELECT factor_id || ' ' || uri || ' ' || extract(epoch FROM auth.now())::bigint
  FROM auth.enroll_totp('phone');
COMMIT;});
my ($factor, $uri, $now) = (split /\n/, $out)[1] =~ /^(\S+) (\S+) (\d+)$/;
like($uri // '', qr{^otpauth://totp/auth:otp%40example\.com\?secret=[A-Z2-7]{32}&issuer=auth&algorithm=SHA1&digits=6&period=30$},
	'enroll_totp returns an otpauth:// URI');

my $code = otpauth_code($uri, $now);
like($code, qr/^[0-9]{6}$/, 'otpauth computes a 6-digit code from the URI');
is( query($node, qq{
BEGIN;
SELECT auth.authenticate('$token') IS NOT NULL;
SELECT auth.verify_totp_enrollment('$factor', '$code');
COMMIT;}),
	"t\nt", "otpauth's code verifies the enrollment");

# A later step's code (the clock moved on 60 s) redeems a challenge.
query($node, "LOAD 'auth'; ALTER DATABASE postgres SET auth.time_offset = 60");
my $challenge = query($node,
	"SELECT mfa_challenge FROM auth.sign_in('otp\@example.com', 'otp password one')");
like($challenge, qr/^mfc_/, 'a sign-in yields a challenge, not a session');
$now = query($node, "SELECT extract(epoch FROM auth.now())::bigint");
$code = otpauth_code($uri, $now);
is( query($node,
		"SELECT token IS NOT NULL FROM auth.verify_mfa('$challenge', '$code')"),
	't', "otpauth's code redeems the challenge for a session");
is(query($node, "SELECT aal FROM auth.sessions ORDER BY created_at DESC LIMIT 1"),
	'2', 'the session is aal2');
# The same code again, with a new challenge: the step was taken.
$challenge = query($node,
	"SELECT mfa_challenge FROM auth.sign_in('otp\@example.com', 'otp password one')");
like(query_error($node, "SELECT auth.verify_mfa('$challenge', '$code')"),
	qr/28000: invalid second-factor code/, 'the code is not accepted twice');

# Wrong codes, each in its own connection (autocommit, rolled back by its
# error), still count: the 6th try, even with otpauth's next code, is
# refused.  (20 minutes on, past the per-user window of the failure above.)
query($node, "LOAD 'auth'; ALTER DATABASE postgres SET auth.time_offset = 1200");
$challenge = query($node,
	"SELECT mfa_challenge FROM auth.sign_in('otp\@example.com', 'otp password one')");
for my $i (1 .. 5)
{
	like(query_error($node, "SELECT auth.verify_mfa('$challenge', '00000$i')"),
		qr/28000: invalid second-factor code/, "wrong code $i is refused");
}
$now = query($node, "SELECT extract(epoch FROM auth.now())::bigint");
$code = otpauth_code($uri, $now);
like(query_error($node, "SELECT auth.verify_mfa('$challenge', '$code')"),
	qr/PT429: too many wrong codes/, 'the 6th try is refused, right or not');
is(query($node, "SELECT count(*) FROM auth.audit_log WHERE event = 'mfa_failed'"),
	'6', 'each wrong code was audited though its call rolled back');

# Nothing in the server log or the audit log holds the secret or a code.
my ($secret) = $uri =~ /secret=([A-Z2-7]+)/;
my $log = slurp_file($node->logfile);
ok(index($log, $secret) < 0 && index($log, $challenge) < 0,
	'the server log holds no TOTP secret or challenge');
is(query($node, "SELECT count(*) FROM auth.audit_log WHERE detail::text LIKE '%$secret%'"
	  . " OR detail::text LIKE '%mfc\\_%'"),
	'0', 'the audit log holds no secret or challenge');

$node->stop;
done_testing();
