# API-key limits under real concurrency (pgbench, 8 clients), in both places
# a rate-limit window can live: shared memory (auth in
# shared_preload_libraries) and the key's row (not preloaded).  Also: what
# each place means for a request that meets another's open transaction,
# that shared-memory windows start afresh after a restart, and the read path
# on a hot standby.
#
# Keys stay in Perl variables and in a table of the test database: no test
# name, message or printed error contains one (errors go through redact()).
use strict;
use warnings;
use File::Spec;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib $FindBin::RealBin;
use AuthTAP;

my $CLIENTS = 8;
my $PER_CLIENT = 50;    # 400 verifications per key

# A user, a session, and keys: "rated" (100 per hour), "quota" (150 uses),
# "free" (no limits), "spare" (10 per hour).  The keys go into a table so
# that pgbench scripts can read them.
sub setup_keys
{
	my ($node) = @_;
	query($node, q{
CREATE EXTENSION IF NOT EXISTS auth CASCADE;
INSERT INTO auth.users (email) VALUES ('keys@example.com');
CREATE TABLE bench_keys (name text PRIMARY KEY, key text);
CREATE TABLE hits (name text);
INSERT INTO bench_keys
SELECT 'rated', key FROM auth.create_api_key_for(
    (SELECT id FROM auth.users WHERE email = 'keys@example.com'), 'rated',
    rate_limit_max => 100, rate_limit_window => '1 hour');
INSERT INTO bench_keys
SELECT 'quota', key FROM auth.create_api_key_for(
    (SELECT id FROM auth.users WHERE email = 'keys@example.com'), 'quota', remaining => 150);
INSERT INTO bench_keys
SELECT 'free', key FROM auth.create_api_key_for(
    (SELECT id FROM auth.users WHERE email = 'keys@example.com'), 'free', '{docs:read}');
INSERT INTO bench_keys
SELECT 'spare', key FROM auth.create_api_key_for(
    (SELECT id FROM auth.users WHERE email = 'keys@example.com'), 'spare',
    rate_limit_max => 10, rate_limit_window => '1 hour');});
}

# Runs $CLIENTS pgbench clients, $PER_CLIENT verifications each, of one key;
# every valid verification inserts a row into hits.
sub hammer
{
	my ($node, $name) = @_;
	my $script = File::Spec->catfile(PostgreSQL::Test::Utils::tempdir(), "$name.sql");
	open my $fh, '>', $script or die "cannot write $script: $!";
	print $fh "INSERT INTO hits SELECT '$name' FROM auth.verify_api_key("
	  . "(SELECT key FROM bench_keys WHERE name = '$name')) v WHERE v.valid;\n";
	close $fh;
	my ($out, $err) = ('', '');
	my $ok = IPC::Run::run(
		[
			'pgbench', '-n', '-c', $CLIENTS, '-j', $CLIENTS, '-t', $PER_CLIENT,
			'-f', $script, '-d', $node->connstr('postgres')
		],
		'>', \$out, '2>', \$err);
	diag(redact($err)) unless $ok;
	return $ok;
}

sub exactness
{
	my ($node, $where) = @_;
	my $n = $CLIENTS * $PER_CLIENT;
	ok(hammer($node, 'rated'), "$where: pgbench ran $n verifications of the rated key");
	is(query($node, "SELECT count(*) FROM hits WHERE name = 'rated'"),
		'100', "$where: exactly 100 of $n concurrent verifications pass a limit of 100");
	is( query($node, q{SELECT code FROM auth.verify_api_key((SELECT key FROM bench_keys WHERE name = 'rated'))}),
		'RATE_LIMITED', "$where: the next one is RATE_LIMITED");
	ok(hammer($node, 'quota'), "$where: pgbench ran $n verifications of the quota key");
	is(query($node, "SELECT count(*) FROM hits WHERE name = 'quota'"),
		'150', "$where: exactly 150 of $n concurrent verifications use a quota of 150");
	is( query($node, q{SELECT remaining FROM auth.api_keys k JOIN bench_keys b ON b.name = 'quota' AND k.name = 'quota'}),
		'0', "$where: the quota is 0, not below");
}

# Whether a verification of the "spare" key waits for another transaction
# that verified it and is still open: 'no wait', or the SQLSTATE it got
# under a 300 ms lock_timeout.
sub meets_open_transaction
{
	my ($node) = @_;
	my $holder = $node->background_psql('postgres');
	$holder->query_safe(q{BEGIN; SELECT valid FROM auth.verify_api_key((SELECT key FROM bench_keys WHERE name = 'spare'))});
	my $err = query_error($node, q{
SET lock_timeout = '300ms';
SELECT valid FROM auth.verify_api_key((SELECT key FROM bench_keys WHERE name = 'spare'));});
	$holder->query_safe('COMMIT');
	$holder->quit;
	return 'no wait' if $err eq '';
	return $err =~ /ERROR:\s+([0-9A-Z]{5})/ ? $1 : $err;
}

### Not preloaded: the window is counted in the key's row

my $table = new_node('table', conf => "shared_preload_libraries = ''\n");
setup_keys($table);
is( query($table, q{SELECT ok || ' ' || (detail LIKE '%not in shared_preload_libraries%') FROM auth.check() WHERE "check" = 'API-key rate limits'}),
	'false true', 'table: auth.check() says windows are counted in the row');
exactness($table, 'table');
is(meets_open_transaction($table), '55P03',
	'table: a use of a rate-limited key waits for an open transaction that used it');
$table->stop;

### Preloaded: the window is in shared memory

my $primary = new_node(
	'memory',
	init => { allows_streaming => 1 },
	conf => "shared_preload_libraries = 'auth'\n");
setup_keys($primary);
is( query($primary, q{SELECT ok FROM auth.check() WHERE "check" = 'API-key rate limits'}),
	't', 'memory: auth.check() is satisfied');
exactness($primary, 'memory');
is(meets_open_transaction($primary), 'no wait',
	'memory: a use of a rate-limited key never waits for another transaction');
$primary->restart;
is( query($primary, q{SELECT valid FROM auth.verify_api_key((SELECT key FROM bench_keys WHERE name = 'rated'))}),
	't', 'memory: windows start afresh after a restart');
is( query($primary, q{SELECT valid || ' ' || code FROM auth.verify_api_key((SELECT key FROM bench_keys WHERE name = 'quota'))}),
	'false USAGE_EXCEEDED', 'memory: the quota is durable across a restart');

### Hot standby: keys without limits verify there, with no write

query($primary, q{
CREATE ROLE regress_app LOGIN;
GRANT SELECT ON bench_keys TO regress_app;
CREATE TABLE docs (owner_id uuid NOT NULL, body text);
ALTER TABLE docs ENABLE ROW LEVEL SECURITY;
CREATE POLICY docs_read ON docs USING (owner_id = auth.uid() AND auth.has_scope('docs:read'));
GRANT SELECT ON docs TO regress_app;
INSERT INTO docs SELECT id, 'd' || g FROM auth.users, generate_series(1, 3) g WHERE email = 'keys@example.com';
INSERT INTO docs VALUES (gen_random_uuid(), 'someone else');});
$primary->backup('base');
my $standby = PostgreSQL::Test::Cluster->new('standby');
$standby->init_from_backup($primary, 'base', has_streaming => 1);
$standby->append_conf('postgresql.conf', "hot_standby = on\nshared_preload_libraries = 'auth'\n");
$standby->start;
$primary->wait_for_catchup($standby);

my $used_before = query($primary, q{SELECT coalesce(last_used_at::text, 'never') FROM auth.api_keys WHERE name = 'free'});
# a day later, so the touch of last_used_at is due
is( query($standby, q{
SET auth.time_offset = '1d';
SELECT valid || ' ' || (user_id IS NOT NULL) FROM auth.verify_api_key((SELECT key FROM bench_keys WHERE name = 'free'));}),
	'true true', 'standby: a key without limits is valid');
is( query($standby, q{
BEGIN;
SELECT auth.authenticate_api_key((SELECT key FROM bench_keys WHERE name = 'free')) IS NOT NULL;
SELECT count(*) FROM docs;
COMMIT;}, role => 'regress_app'),
	"t\n3", 'standby: authenticate_api_key and an RLS policy on its scope, for an ordinary role');
like(query_error($standby, q{SELECT * FROM auth.verify_api_key((SELECT key FROM bench_keys WHERE name = 'spare'))}),
	qr/25006.*an API key with usage limits cannot be verified on a hot standby/s,
	'standby: a key with limits is refused with 25006');
$primary->wait_for_catchup($standby);
is(query($primary, q{SELECT coalesce(last_used_at::text, 'never') FROM auth.api_keys WHERE name = 'free'}),
	$used_before, 'standby: verification wrote nothing');

# The keys reached no server log.
my $keys = query($primary, 'SELECT string_agg(key, \' \') FROM bench_keys');
my $leaked = 0;
for my $node ($table, $primary, $standby)
{
	my $log = slurp_file($node->logfile);
	$leaked += grep { index($log, $_) >= 0 } split / /, $keys;
}
is($leaked, 0, 'no key appears in any server log');

$standby->stop;
$primary->stop;
done_testing();
