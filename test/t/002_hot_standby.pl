# Hot standby: the read path (verify_session, authenticate, auth.uid() in an
# RLS policy) works on a streaming replica, for an ordinary role, and makes no
# write there, not even when the session is due for its sliding refresh.
#
# Tokens stay in Perl variables: no test name, message or printed error
# contains one (errors go through redact()).
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib $FindBin::RealBin;
use AuthTAP;

# Statements (which carry tokens) stay out of the server log: see
# AuthTAP::new_node.
my $primary = new_node('primary', init => { allows_streaming => 1 });

# Two users, a session each, and an application table protected by RLS that
# an ordinary role reads.
my $alice = query($primary, q{
CREATE EXTENSION auth CASCADE;
SELECT auth.sign_up('alice@example.com', 'alice-correct-horse');});
my $bob = query($primary,
	"SELECT auth.sign_up('bob\@example.com', 'bob-battery-staple')");
my $tok_alice = query($primary,
	"SELECT token FROM auth.sign_in('alice\@example.com', 'alice-correct-horse')"
);
my $tok_bob = query($primary,
	"SELECT token FROM auth.sign_in('bob\@example.com', 'bob-battery-staple')");

query($primary, qq{
CREATE ROLE regress_app LOGIN;
CREATE TABLE docs (owner_id uuid NOT NULL, body text);
ALTER TABLE docs ENABLE ROW LEVEL SECURITY;
CREATE POLICY docs_owner ON docs USING (owner_id = auth.uid());
GRANT SELECT ON docs TO regress_app;
INSERT INTO docs VALUES ('$alice', 'a1'), ('$alice', 'a2'),
                        ('$bob', 'b1'), ('$bob', 'b2'), ('$bob', 'b3');});

# What regress_app sees after authenticating, per token.
sub visible_docs
{
	my ($node, $tok) = @_;
	return query(
		$node, qq{
BEGIN;
SELECT auth.authenticate('$tok') IS NOT NULL;
SELECT count(*) || ':' || count(*) FILTER (WHERE owner_id = auth.uid()) FROM docs;
COMMIT;}, role => 'regress_app');
}
is(visible_docs($primary, $tok_alice), "t\n2:2", 'primary: alice sees her 2 rows');
is(visible_docs($primary, $tok_bob), "t\n3:3", 'primary: bob sees his 3 rows');

$primary->backup('base');
my $standby = PostgreSQL::Test::Cluster->new('standby');
$standby->init_from_backup($primary, 'base', has_streaming => 1);
$standby->append_conf('postgresql.conf', 'hot_standby = on');
$standby->start;
$primary->wait_for_catchup($standby);

is(query($standby, 'SELECT pg_is_in_recovery()'), 't', 'standby is in recovery');

# The read path on the standby, as the ordinary role.
is( query(
		$standby, "SELECT user_id FROM auth.verify_session('$tok_alice')",
		role => 'regress_app'),
	$alice, 'standby: verify_session returns alice for regress_app');
is(visible_docs($standby, $tok_alice), "t\n2:2",
	'standby: alice sees only her 2 rows, as on the primary');
is(visible_docs($standby, $tok_bob), "t\n3:3",
	'standby: bob sees only his 3 rows, as on the primary');
is(query($standby, 'SELECT count(*) FROM docs', role => 'regress_app'),
	'0', 'standby: without authenticate regress_app sees no row');
like(
	query_error(
		$standby, 'SELECT auth.authenticate(\'ses_not-a-real-token\')',
		role => 'regress_app'),
	qr/ERROR:\s+28000: invalid session token/,
	'standby: an invalid token fails with 28000');
is( query(
		$standby,
		"SELECT num_nulls(user_id, session_id, expires_at) FROM auth.verify_session('ses_x')",
		role => 'regress_app'),
	'3',
	'standby: verify_session of an invalid token is all NULL');

# Sliding refresh: two days on (auth.session_refresh_age is one day), a
# verify on the primary would extend the session; on the standby it must
# neither write (the error would be "cannot execute UPDATE in a read-only
# transaction") nor report a new expiry.
my $exp_sql =
  "SELECT expires_at FROM auth.verify_session('$tok_alice')";
my $expires = query($standby, $exp_sql);
isnt($expires, '', 'standby: expiry of alice\'s session read');
my ($ret, $out, $err) = $standby->psql('postgres', qq{
SET auth.time_offset = '2d';
SELECT user_id = '$alice', expires_at FROM auth.verify_session('$tok_alice');
BEGIN;
SELECT auth.authenticate('$tok_alice') = '$alice';
COMMIT;});
is($ret, 0, 'standby: verify and authenticate two days on succeed');
unlike($err, qr/read-only|ERROR/, 'standby: no write was attempted');
is($out, "t|$expires\nt",
	'standby: expires_at unchanged when the session is due for refresh');
is(query($standby, $exp_sql), $expires,
	'standby: stored expiry unchanged afterwards');

# Sign-in writes (its attempt counter), so the standby refuses it cleanly.
like(
	query_error(
		$standby,
		"SELECT auth.sign_in('alice\@example.com', 'alice-correct-horse')"),
	qr/ERROR:\s+25006: cannot record the attempt on a hot standby/,
	'standby: sign_in is refused with 25006');

# Control: the same verify on the primary does refresh, which shows the
# standby check above really hit a session due for refresh; the new expiry
# then replicates.
my $refreshed = query($primary, qq{
SET auth.time_offset = '2d';
SELECT expires_at > '$expires' FROM auth.verify_session('$tok_alice');});
is($refreshed, 't', 'primary: the same verify extends the session');
$primary->wait_for_catchup($standby);
is( query(
		$standby,
		"SELECT expires_at > '$expires' FROM auth.verify_session('$tok_alice')"
	),
	't',
	'standby: sees the refreshed expiry after replay');

# Identity is transaction-scoped on the standby too.
is( query(
		$standby, qq{
BEGIN;
SELECT auth.authenticate('$tok_bob') IS NOT NULL;
COMMIT;
SELECT auth.uid() IS NULL;}, role => 'regress_app'),
	"t\nt",
	'standby: identity cleared at commit');

# A revocation on the primary reaches the standby's read path.
is(query($primary, "SELECT auth.revoke_user_sessions('$bob')"),
	'1', 'primary: bob\'s session revoked');
$primary->wait_for_catchup($standby);
like(
	query_error(
		$standby, "SELECT auth.authenticate('$tok_bob')",
		role => 'regress_app'),
	qr/ERROR:\s+28000: invalid session token/,
	'standby: the revoked token fails with 28000 after replay');
is(visible_docs($standby, $tok_alice), "t\n2:2",
	'standby: alice is unaffected');

# The organization helpers read memberships on the standby too, where no
# write is possible: a tenant table replicated from the primary.
query($primary, qq{
SET auth.identity = 'user:$alice';
SELECT auth.create_organization('Standby Org', 'standby-org') IS NOT NULL;
RESET auth.identity;
CREATE TABLE tenant_docs (org_id uuid NOT NULL, body text);
ALTER TABLE tenant_docs ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_docs_member ON tenant_docs USING (auth.is_member(org_id));
GRANT SELECT ON tenant_docs TO regress_app;
INSERT INTO tenant_docs SELECT id, 'org row' FROM auth.organizations WHERE slug = 'standby-org';
INSERT INTO tenant_docs VALUES (gen_random_uuid(), 'other org');});
$primary->wait_for_catchup($standby);
is( query(
		$standby, qq{
BEGIN;
SELECT auth.authenticate('$tok_alice') IS NOT NULL;
SELECT count(*) FROM tenant_docs;
SELECT auth.has_role((SELECT org_id FROM tenant_docs LIMIT 1), 'owner');
COMMIT;}, role => 'regress_app'),
	"t\n1\nt",
	'standby: is_member and has_role work for the organization owner');

$standby->stop;
$primary->stop;
done_testing();
