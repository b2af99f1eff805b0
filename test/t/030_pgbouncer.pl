# Behind PgBouncer in transaction mode (Debian's pgbouncer, 2 server
# connections, 20 clients), transaction-scoped identities and the role
# auth.authenticated_role switches to never reach another client: pgbench
# runs thousands of interleaved transactions through it, each checking in
# every statement that it reads only its own user's identity and rows, and
# after each COMMIT, in a statement of its own (which may run on either
# server connection), that nobody is authenticated and the role is the
# login role again.  A control run with connection-scope identities
# (is_local => false), which the README says not to use there, must be
# caught by the same checks.  Both simple and extended (unnamed
# statements) protocols are used, as node-postgres and psycopg with
# prepare_threshold=None send them.
#
# Tokens stay in a table of the test database; nothing prints one.
use strict;
use warnings;
use File::Spec;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib $FindBin::RealBin;
use AuthTAP;

my $USERS = 20;
my $CLIENTS = 20;
my $PER_CLIENT = 100;    # per run: 2,000 transactions

my ($pgbouncer) = grep { -x $_ } map { "$_/pgbouncer" }
  (split(/:/, $ENV{PATH} // ''), '/usr/sbin', '/usr/bin');
BAIL_OUT('pgbouncer is not installed (scripts/deps.sh installs it)')
  unless $pgbouncer;

my $node = new_node('bouncer', conf => "shared_preload_libraries = 'auth'\n");
query($node, qq{
CREATE EXTENSION auth CASCADE;
CREATE ROLE app LOGIN NOINHERIT;
CREATE ROLE app_user NOLOGIN;
GRANT app_user TO app;
ALTER DATABASE postgres SET auth.authenticated_role = 'app_user';
CREATE TABLE notes (owner_id uuid NOT NULL DEFAULT auth.uid(), n int NOT NULL);
ALTER TABLE notes ENABLE ROW LEVEL SECURITY;
CREATE POLICY own ON notes USING (owner_id = auth.uid()) WITH CHECK (owner_id = auth.uid());
GRANT SELECT, INSERT ON notes TO app_user;
-- test only: where the pgbench script finds user i's token
CREATE TABLE bench_tokens (i int PRIMARY KEY, user_id uuid NOT NULL, token text NOT NULL);
GRANT SELECT ON bench_tokens TO app, app_user;
INSERT INTO auth.users (email, email_verified_at)
SELECT 'u' || i || '\@example.com', now() FROM generate_series(1, $USERS) i;
INSERT INTO bench_tokens
SELECT i, u.id, (auth.create_session(u.id)).token
  FROM generate_series(1, $USERS) i JOIN auth.users u ON u.email = 'u' || i || '\@example.com';
INSERT INTO notes SELECT user_id, 0 FROM bench_tokens, generate_series(1, 3);
CREATE TABLE reads (i int NOT NULL, others int NOT NULL);
GRANT INSERT ON reads TO app_user;

-- Inside a transaction of user i: the identity and role are i's, and
-- every row RLS shows is i's (recorded, and refused when not).
CREATE FUNCTION check_identity(i int) RETURNS void LANGUAGE plpgsql AS \$\$
DECLARE
    expected uuid := (SELECT b.user_id FROM bench_tokens b WHERE b.i = check_identity.i);
    v_others int;
    v_mine int;
BEGIN
    SELECT count(*) FILTER (WHERE owner_id <> expected), count(*) FILTER (WHERE owner_id = expected)
      INTO v_others, v_mine FROM notes;
    INSERT INTO reads VALUES (i, v_others);
    IF auth.uid() IS DISTINCT FROM expected OR current_user <> 'app_user' OR v_others > 0 OR v_mine < 3 THEN
        RAISE EXCEPTION 'client % read another identity', i;
    END IF;
END
\$\$;
-- After COMMIT, in a statement of its own: nobody, and the login role.
CREATE FUNCTION check_nobody() RETURNS void LANGUAGE plpgsql AS \$\$
BEGIN
    IF auth.uid() IS NOT NULL OR current_user <> 'app' THEN
        RAISE EXCEPTION 'an identity outlived its transaction';
    END IF;
END
\$\$;
GRANT EXECUTE ON FUNCTION check_identity(int), check_nobody() TO app, app_user;});

my $dir = PostgreSQL::Test::Utils::tempdir();
my $port = PostgreSQL::Test::Cluster::get_free_port();
my $ini = File::Spec->catfile($dir, 'pgbouncer.ini');
open my $fh, '>', $ini or die "cannot write $ini: $!";
printf $fh <<'INI', $node->host, $node->port, $port, $dir, $dir, $dir;
[databases]
app = host=%s port=%d dbname=postgres user=app

[pgbouncer]
listen_port = %d
unix_socket_dir = %s
auth_type = any
pool_mode = transaction
default_pool_size = 2
max_db_connections = 2
max_client_conn = 100
logfile = %s/pgbouncer.log
pidfile = %s/pgbouncer.pid
INI
close $fh;
my ($bout, $berr) = ('', '');
my $bouncer = IPC::Run::start([ $pgbouncer, $ini ], '>', \$bout, '2>', \$berr);
my $via = "host=$dir port=$port dbname=app user=app";
my $up = 0;
for (1 .. 100)
{
	$up = IPC::Run::run([ 'psql', '-XAtq', '-d', $via, '-c', 'SELECT 1' ],
		'>', \my $o, '2>', \my $e) and last;
	select(undef, undef, undef, 0.1);
}
ok($up, 'PgBouncer accepts connections');

# One pgbench run of $CLIENTS clients through PgBouncer; returns whether
# every client finished, and how many transactions it reported.
sub run_pgbench
{
	my ($name, $protocol, $is_local) = @_;
	my $script = File::Spec->catfile($dir, "$name.sql");
	open my $sfh, '>', $script or die "cannot write $script: $!";
	print $sfh <<"SQL";
\\set i random(1, $USERS)
BEGIN;
SELECT auth.authenticate(token, $is_local) FROM bench_tokens WHERE i = :i;
SELECT check_identity(:i);
INSERT INTO notes (n) VALUES (:i);
SELECT check_identity(:i);
COMMIT;
SELECT check_nobody();
SQL
	close $sfh;
	my ($out, $err) = ('', '');
	my $ok = IPC::Run::run(
		[
			'pgbench', '-n', '-M', $protocol, '-c', $CLIENTS, '-j', 2,
			'-t', $PER_CLIENT, '-f', $script, '-d', $via
		],
		'>', \$out, '2>', \$err);
	my ($done) = $out =~ /number of transactions actually processed: (\d+)/;
	return ($ok, $done // 0, redact($err));
}

my $n = $CLIENTS * $PER_CLIENT;
for my $protocol ('simple', 'extended')
{
	my ($ok, $done, $err) = run_pgbench("tx_$protocol", $protocol, 'true');
	ok($ok, "$protocol protocol: $CLIENTS clients ran through 2 server connections")
	  or diag($err);
	is($done, $n, "$protocol protocol: all $n transactions completed");
}
is(query($node, 'SELECT count(*) FROM reads'), 4 * $n,
	'every transaction checked its reads twice');
is(query($node, 'SELECT count(*) FROM reads WHERE others > 0'), '0',
	'zero reads of another identity');
is( query($node, q{SELECT count(*) FROM notes n JOIN bench_tokens b ON b.user_id = n.owner_id
                    WHERE n.n <> 0 AND n.n <> b.i}),
	'0', "every note written went to its writer's identity");
is(query($node, q{SELECT count(*) <= 2 FROM pg_stat_activity WHERE usename = 'app'}),
	't', 'PgBouncer used at most 2 server connections');

# The control: connection-scope identities outlive the transaction on the
# server connection, and the next client's statement finds one.
my ($ok, $done, $err) = run_pgbench('connection_scope', 'simple', 'false');
ok(!$ok && $err =~ /an identity outlived its transaction/,
	'control: connection-scope identities are caught leaking through the pooler');
# ... which auth.allow_connection_scope = off refuses outright.
query($node, q{ALTER DATABASE postgres SET auth.allow_connection_scope = off;});
like(
	query_error($node, q{SELECT auth.authenticate(token, false) FROM bench_tokens WHERE i = 1},
		role => 'app'),
	qr/42501.*connection-scope identities are disabled/,
	'auth.allow_connection_scope = off refuses them');

$bouncer->kill_kill;
$node->stop;
done_testing();
