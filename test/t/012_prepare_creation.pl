# A transaction that created a session or API key cannot be prepared
# (PREPARE TRANSACTION): its re-check before commit holds a lock that every
# end of the user's credentials waits for, and a prepared transaction would
# hold it until someone finishes it, so a squatter could keep the owner
# from ever claiming the account (issue 10 attack, M2).
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib $FindBin::RealBin;
use AuthTAP;

my $node = new_node('prepare', conf => qq{
shared_preload_libraries = 'auth'
max_prepared_transactions = 2
auth.argon2_memory_kib = 1024
auth.argon2_iterations = 1
});

query($node, q{
CREATE EXTENSION auth CASCADE;
SELECT auth.sign_up('prep@example.com', 'prep correct horse');
});

like(query_error($node, q{
BEGIN;
SELECT auth.sign_in('prep@example.com', 'prep correct horse') IS NOT NULL;
PREPARE TRANSACTION 'held';
}), qr/cannot prepare a transaction that created a session or API key/,
	'a transaction that signed in cannot be prepared');
is(query($node, q{SELECT count(*) FROM pg_prepared_xacts}), '0',
	'nothing is left prepared');
is(query($node, q{SELECT count(*) FROM auth.sessions}), '0',
	'and the session it opened is gone');

# Without a credential created, PREPARE works as usual.
query($node, q{
BEGIN;
SELECT auth.hash_password('unrelated') IS NOT NULL;
PREPARE TRANSACTION 'plain';
});
is(query($node, q{SELECT count(*) FROM pg_prepared_xacts}), '1',
	'a transaction that created nothing can be prepared');
query($node, q{COMMIT PREPARED 'plain'});

# The owner's claim (a password change here) never waits.
is(query($node, q{SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'}), '0',
	'no lock is left behind');

$node->stop;
done_testing();
