# The example application (examples/app: node:http and pg) end to end in
# headless Chromium (Debian's chromium, driven by playwright-core from the
# committed package-lock.json; scripts/test.sh runs npm ci first): sign-up,
# sign-in with an HttpOnly cookie, notes under RLS that another user cannot
# see, a lockout answered 429 with Retry-After, a magic link, an
# organization switch, an API key created, used and revoked, a second
# factor (TOTP enrolled and confirmed, recovery codes, the code asked after
# a password or a magic link, a wrong code 401, too many 429, the factor
# removed), sign-out then 401.  Each step of examples/app/test/e2e.mjs is one test here; it saves a
# screenshot in tmp_check/.
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
my $app = "$srcdir/examples/app";
my $chromium = $ENV{CHROMIUM} // '/usr/bin/chromium';

# What the test needs; scripts/deps.sh and scripts/test.sh install it, so a
# missing piece is a failure, not a skip.
my @missing;
push @missing, "$chromium (Debian package chromium)" unless -x $chromium;
push @missing, 'node (Node.js 20)'
  unless grep { -x "$_/node" } split /:/, $ENV{PATH};
push @missing, "$app/node_modules/playwright-core (npm ci in examples/app)"
  unless -d "$app/node_modules/playwright-core";
if (@missing)
{
	fail("missing: $_") for @missing;
	done_testing();
	exit;
}

my $node = new_node('app', conf => "shared_preload_libraries = 'auth'\n");
$node->command_ok(
	[
		'psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1',
		'-d', $node->connstr('postgres'), '-f', "$app/schema.sql"
	],
	'examples/app/schema.sql sets the database up');

my ($out, $err);
my $ok = eval {
	local $ENV{PGHOST} = $node->host;
	local $ENV{PGPORT} = $node->port;
	local $ENV{PGDATABASE} = 'postgres';
	local $ENV{PGUSER} = 'example_app';
	local $ENV{CHROMIUM} = $chromium;
	local $ENV{SCREENSHOT_DIR} = $PostgreSQL::Test::Utils::tmp_check;
	IPC::Run::run([ 'node', 'test/e2e.mjs' ],
		'<', \undef, '>', \$out, '2>', \$err,
		init => sub { chdir $app or die "chdir $app: $!" },
		IPC::Run::timeout(300));
};
my $steps = 0;
for my $line (split /\n/, $out // '')
{
	if ($line =~ /^(not )?ok - (.*)$/)
	{
		ok(!defined $1, "e2e: $2");
		$steps++;
	}
	elsif ($line =~ /^# /)
	{
		note(redact($line =~ s/^# //r));
	}
}
cmp_ok($steps, '>=', 25, 'e2e: every step reported');
ok($ok, 'e2e: node test/e2e.mjs exited 0')
  or diag(redact($@ || $err // ''));
my $shot = "$PostgreSQL::Test::Utils::tmp_check/example-app.png";
ok(-s $shot, "e2e: screenshot saved ($shot)");

# The server log holds no secret the flows handled.
my $log = slurp_file($node->logfile);
unlike($log, qr/(?:ses|mlk|ak|mfc)_[A-Za-z0-9_-]{40,}/, 'no token, key or challenge in the server log');

done_testing();
