# auth.revoke_all_sessions() reaches a hot standby: its cutoff replicates,
# so a session created before it is refused on the standby as well, by a
# new connection and by a backend that verified sessions before the cutoff
# arrived (the cutoff it kept is read again once its snapshots see the
# replayed commit), and a connection-scope identity held on the standby is
# gone at its next transaction; a session opened after the cutoff verifies
# there.
#
# Tokens stay in a table (replicated with the rest): no statement, test
# name, message or printed error contains one, even the statements a
# background psql echoes.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib $FindBin::RealBin;
use AuthTAP;

my $primary = new_node(
	'primary',
	init => { allows_streaming => 1 },
	conf => "shared_preload_libraries = 'auth'\n"
	  . "auth.argon2_memory_kib = 1024\nauth.argon2_iterations = 1\n");
query($primary, q{
CREATE EXTENSION auth CASCADE;
SELECT auth.sign_up('alice@example.com', 'alice-correct-horse');
SELECT auth.sign_up('bob@example.com', 'bob-battery-staple');
CREATE TABLE tap_tokens (name text PRIMARY KEY, token text NOT NULL);
INSERT INTO tap_tokens
  SELECT 'alice', token FROM auth.sign_in('alice@example.com', 'alice-correct-horse');
INSERT INTO tap_tokens
  SELECT 'bob', token FROM auth.sign_in('bob@example.com', 'bob-battery-staple');});
my $tok_alice = "(SELECT token FROM tap_tokens WHERE name = 'alice')";
my $tok_bob = "(SELECT token FROM tap_tokens WHERE name = 'bob')";
my $tok_new = "(SELECT token FROM tap_tokens WHERE name = 'new')";

$primary->backup('base');
my $standby = PostgreSQL::Test::Cluster->new('standby');
$standby->init_from_backup($primary, 'base', has_streaming => 1);
$standby->append_conf('postgresql.conf', "hot_standby = on\nshared_preload_libraries = 'auth'\n");
$standby->start;
$primary->wait_for_catchup($standby);

# A standby backend that holds alice's session for the connection and has
# verified bob's (so it keeps the cutoff it read: none).
my $held = $standby->background_psql('postgres');
is($held->query_safe("SELECT auth.authenticate($tok_alice, false) IS NOT NULL"),
	't', 'standby: a connection-scope identity');
is($held->query_safe("SELECT auth.uid() IS NOT NULL"),
	't', 'standby: it holds in the next transaction');
is($held->query_safe("SELECT (auth.verify_session($tok_bob)).user_id IS NOT NULL"),
	't', 'standby: bob\'s session verifies before the cutoff');

query($primary, 'SELECT auth.revoke_all_sessions()');
query($primary, q{INSERT INTO tap_tokens
  SELECT 'new', token FROM auth.sign_in('bob@example.com', 'bob-battery-staple')});
$primary->wait_for_catchup($standby);

is(query($primary, "SELECT (auth.verify_session($tok_bob)).user_id IS NULL"),
	't', 'primary: bob\'s old session is refused');
is($held->query_safe("SELECT auth.uid() IS NULL"),
	't', 'standby: the connection-scope identity is gone at its next transaction');
is($held->query_safe("SELECT (auth.verify_session($tok_bob)).user_id IS NULL"),
	't', 'standby, same backend: bob\'s old session is refused');
is($held->query_safe("SELECT (auth.verify_session($tok_new)).user_id IS NOT NULL"),
	't', 'standby, same backend: the session opened after the cutoff verifies');
$held->quit;
is( query($standby,
		"SELECT (auth.verify_session($tok_alice)).user_id IS NULL AND (auth.verify_session($tok_bob)).user_id IS NULL"),
	't', 'standby, new connection: both old sessions are refused');
like(
	query_error($standby, "SELECT auth.authenticate($tok_alice)"),
	qr/ERROR:\s+28000: invalid session token/,
	'standby: authenticate refuses an old session with 28000');
is(query($standby, "SELECT (auth.verify_session($tok_new)).user_id IS NOT NULL"),
	't', 'standby, new connection: the new session verifies');
is(query($standby, 'SELECT pg_is_in_recovery()'), 't', 'the standby is still in recovery');

$standby->stop;
$primary->stop;
done_testing();
