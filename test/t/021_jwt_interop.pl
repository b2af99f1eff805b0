# Interoperability with a JOSE library nobody here wrote: jose, from the npm
# registry, pinned by test/interop/package-lock.json and installed by
# `make test` (npm ci).  (a) Tokens from auth.issue_jwt verify in jose
# against auth.jwks() (EdDSA, ES256, RS256; HS256 with the secret the test
# imported, since the JWKS never holds it).  (b) Tokens jose signs with its
# own generated keys authenticate through auth.add_issuer and
# auth.authenticate_jwt.
#
# Tokens and keys stay in Perl variables and pipes: the output shows
# verdicts only.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;
use FindBin;
use lib $FindBin::RealBin;
use AuthTAP;

my $srcdir = $ENV{AUTH_SRCDIR} // "$FindBin::RealBin/../..";
my $interop = "$srcdir/test/interop";
plan skip_all => 'node is not installed (Node.js 20 and npm run this test)'
  unless IPC::Run::run([ 'node', '--version' ], '>', \my $v, '2>', \my $e);
ok(-f "$interop/node_modules/jose/package.json",
	'jose is installed from the committed package-lock.json (npm ci)')
  or BAIL_OUT('run npm ci in test/interop (make test does)');

# Runs jose.mjs in a mode with a JSON request; returns the decoded answer.
sub jose
{
	my ($mode, $request) = @_;
	my ($out, $err) = ('', '');
	my $ok = IPC::Run::run([ 'node', "$interop/jose.mjs", $mode ],
		'<', \$request, '>', \$out, '2>', \$err);
	die "jose.mjs $mode failed: " . redact($err) . "\n" unless $ok;
	return $out;
}

my $node = new_node('interop');
my $user = query($node, q{
SET client_min_messages = warning;
CREATE EXTENSION auth CASCADE;
SELECT auth.sign_up('ivy@example.com', 'ivy-correct-horse');});
my $session = query($node,
	"SELECT token FROM auth.sign_in('ivy\@example.com', 'ivy-correct-horse')");

# (a) One token per algorithm, each key current in turn.
my $hs_secret = query($node,
	q{SELECT rtrim(translate(encode(gen_random_bytes(32), 'base64'), '+/', '-_'), '=')});
my @tokens;
for my $alg (qw(EdDSA ES256 RS256 HS256))
{
	my $make = $alg eq 'HS256'
	  ? "SELECT auth.import_signing_key(jsonb_build_object('kty', 'oct', 'k', '$hs_secret'), 'current') IS NOT NULL;"
	  : "SELECT auth.create_signing_key('$alg', 'current') IS NOT NULL;";
	my $out = query($node, qq{
$make
BEGIN;
SELECT auth.authenticate('$session') IS NOT NULL;
SELECT auth.issue_jwt(audience => 'api');
COMMIT;});
	push @tokens,
	  {
		name => "$alg:issued",
		token => (split /\n/, $out)[-1],
		$alg eq 'HS256' ? (secret => $hs_secret) : ()
	  };
}
# and one with a byte changed, which jose must refuse
my $bad = $tokens[0]{token};
substr($bad, -10, 1) = substr($bad, -10, 1) eq 'A' ? 'B' : 'A';
push @tokens, { name => 'EdDSA:altered', token => $bad };

my $jwks = query($node, 'SELECT auth.jwks()');
my $request = '{"jwks": ' . $jwks . ', "issuer": "auth", "tokens": [' . join(
	', ',
	map {
		my $t = $_;
		'{' . join(', ', map { "\"$_\": \"$t->{$_}\"" } sort keys %$t) . '}'
	} @tokens) . ']}';
my $verdicts = jose('verify', $request);
for my $alg (qw(EdDSA ES256 RS256 HS256))
{
	like($verdicts, qr/"$alg:issued":"valid"/,
		"jose verifies auth.issue_jwt's $alg token against auth.jwks()");
}
like($verdicts, qr/"EdDSA:altered":"ERR_JWS_SIGNATURE_VERIFICATION_FAILED"/,
	'jose refuses an altered token');
unlike($jwks, qr/"(d|k|p|q|dp|dq|qi)"\s*:/, 'auth.jwks() holds no private part or secret');

# (b) jose's own keys and tokens, through an external issuer.
my $signed = jose('sign',
	'{"issuer": "https://jose.example", "audience": "api", "subject": "jose-ivy"}');
my ($jose_jwks) = $signed =~ /^\{"jwks":(\{"keys":\[.*?\]\}),"tokens":/
  or die "unexpected answer from jose.mjs sign\n";
my %jose_tok = $signed =~ /"(EdDSA|ES256|RS256)":"([A-Za-z0-9_.-]+)"/g;
is(scalar(keys %jose_tok), 3, 'jose signed a token per algorithm');
query($node, qq{
SELECT auth.add_issuer('https://jose.example', '$jose_jwks', '{api}');
SELECT auth.link_identity('https://jose.example', 'jose-ivy', '$user');});
for my $alg (qw(EdDSA ES256 RS256))
{
	is( query($node, qq{
BEGIN;
SELECT auth.authenticate_jwt('$jose_tok{$alg}') = '$user';
SELECT auth.scopes();
COMMIT;}), "t\n{docs:read}",
		"a token jose signed with its own $alg key authenticates as the linked user");
}
my $forged = $jose_tok{EdDSA};
substr($forged, -10, 1) = substr($forged, -10, 1) eq 'A' ? 'B' : 'A';
is(query($node, "SELECT code FROM auth.verify_jwt('$forged')"),
	'BAD_SIGNATURE', 'an altered jose token is a BAD_SIGNATURE');

done_testing();
