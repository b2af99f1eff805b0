# Upgrade: a database filled through the 0.1.0 API, as an application fills
# it, is upgraded with ALTER EXTENSION auth UPDATE to the control file's
# default version.  Then
#   - none of the database's own rows (those pg_dump keeps) is lost or
#     changed: row count and content of every table, on its old columns;
#   - every credential issued before still works: sessions, API keys (plain,
#     limited, organization-bound, made by a key, rotated with grace), the
#     magic link, the email code, the verification and reset tokens, the
#     invitation; the organization helpers answer as before;
#   - roles granted the admin and issuer tiers keep what they had (then
#     the grants are made again, as the README asks after an upgrade);
#   - the extension's objects equal a fresh CREATE EXTENSION auth in another
#     database, as described by extension_objects.sql (functions with their
#     attributes and source, tables, columns, constraints, indexes,
#     triggers, policies, types, sequences, privileges, comments, members,
#     tables registered for pg_dump), and so do the rows the extension
#     ships itself (the built-in roles);
#   - a second ALTER EXTENSION auth UPDATE has nothing to do;
#   - pg_dump of the upgraded database restores into a database equal to a
#     fresh install, with the data.
# Every other released version (an install script in versions/) is upgraded
# empty and compared the same way.
#
# Tokens, keys and codes stay in Perl variables: no test name, message or
# printed error contains one (errors go through redact()).
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib $FindBin::RealBin;
use AuthTAP;

my $OLD = '0.1.0';    # the release the data is written with
my $srcdir = $ENV{AUTH_SRCDIR} // "$FindBin::RealBin/../..";
my ($DEFAULT) = slurp_file("$srcdir/auth.control") =~ /^default_version\s*=\s*'([^']+)'/m
  or die "no default_version in $srcdir/auth.control\n";
my @released = sort grep { $_ ne $OLD && $_ ne $DEFAULT } map { m{/auth--([^-]+)\.sql$} ? $1 : () }
  glob("$srcdir/versions/auth--*.sql");
my $objects_sql = slurp_file("$FindBin::RealBin/extension_objects.sql");

# Preloaded like the other clusters of make test; cheap password hashes.
my $node = new_node(
	'upgrade',
	conf => "shared_preload_libraries = 'auth'\n"
	  . "auth.argon2_memory_kib = 1024\nauth.argon2_iterations = 1\n");

sub q_up { my ($sql) = @_; return query($node, $sql, db => 'up'); }

# Runs $sql in one transaction authenticated with a session token (or an
# API key when $kind is 'key'); returns its output.
sub as
{
	my ($cred, $sql, %opt) = @_;
	my $fn = ($opt{kind} // '') eq 'key' ? 'authenticate_api_key' : 'authenticate';
	my $out = query($node, "BEGIN;\nSELECT auth.$fn('$cred') IS NOT NULL;\n$sql\nCOMMIT;",
		db => $opt{db} // 'up');
	$out =~ s/^t(\n|$)// or die "could not authenticate\n";
	return $out;
}

# Lines only in one of two sorted line lists: "- " in $want, "+ " in $got;
# '' when the texts are equal.
sub line_diff
{
	my ($got, $want) = @_;
	return '' if $got eq $want;
	my @g = sort split /\n/, $got;
	my @w = sort split /\n/, $want;
	my @out;
	my ($i, $j) = (0, 0);
	while ($i < @w || $j < @g)
	{
		if ($j >= @g || ($i < @w && $w[$i] lt $g[$j])) { push @out, "- $w[$i++]"; }
		elsif ($i >= @w || $g[$j] lt $w[$i]) { push @out, "+ $g[$j++]"; }
		else { $i++; $j++; }
	}
	return @out ? join("\n", @out) : '(the same lines, in another order)';
}

sub objects { my ($db) = @_; return query($node, $objects_sql, db => $db); }

# Rows the extension ships itself: those of its tables that pg_dump leaves
# out (not matching the table's pg_extension_config_dump condition, or in a
# table not registered), without the columns filled by gen_random_uuid(),
# now() or a sequence.
sub shipped_rows
{
	my ($db) = @_;
	my @tables = split /\n/, query($node, q{
SELECT format('%s|%s|%s', c.oid::regclass, coalesce(x.cond, 'WHERE false'),
              string_agg(quote_ident(a.attname), ',' ORDER BY a.attname))
  FROM pg_extension e
  JOIN pg_depend d ON d.refclassid = 'pg_extension'::regclass AND d.refobjid = e.oid AND d.deptype = 'e'
  JOIN pg_class c ON d.classid = 'pg_class'::regclass AND c.oid = d.objid AND c.relkind IN ('r', 'p')
  LEFT JOIN unnest(e.extconfig, e.extcondition) x(tbl, cond) ON x.tbl = c.oid
  JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
  LEFT JOIN pg_attrdef f ON f.adrelid = c.oid AND f.adnum = a.attnum
 WHERE e.extname = 'auth' AND coalesce(x.cond, 'x') <> ''
   AND pg_get_expr(f.adbin, f.adrelid) ~ '(gen_random_uuid|now|nextval)\(' IS NOT TRUE
 GROUP BY c.oid, x.cond ORDER BY 1}, db => $db);
	return '' unless @tables;
	return query($node, join("\nUNION ALL\n", map {
		my ($t, $cond, $cols) = split /\|/, $_, 3;
		"(SELECT '$t ' || r::text FROM (SELECT $cols FROM $t EXCEPT ALL SELECT $cols FROM $t $cond) r)"
	} @tables) . "\nORDER BY 1", db => $db);
}

# The row count, and a digest of the rows on the given columns, of each
# table (name => 'col,col,...'); only rows matching $where->{name} ('WHERE
# ...') when given.
sub table_state
{
	my ($db, $tables, $where) = @_;
	return query($node, join("\nUNION ALL\n", map {
		"SELECT '$_ ' || count(*) || ' ' || coalesce(md5(string_agg(r::text, E'\\n' ORDER BY r::text)), '-')"
		  . " FROM (SELECT $tables->{$_} FROM auth.$_ " . ($where->{$_} // '') . ") r"
	} sort keys %$tables), db => $db);
}

### The installed extension is the one built from this source

is( query($node, "SELECT default_version FROM pg_available_extensions WHERE name = 'auth'"),
	$DEFAULT, "the installed control file's default version is $DEFAULT, as in auth.control");
isnt($DEFAULT, $OLD, "the default version is not $OLD");

### A 0.1.0 database, filled as an application fills it

query($node, q{
CREATE DATABASE up;
CREATE ROLE regress_admin;
CREATE ROLE regress_issuer;});
q_up(qq{
SET client_min_messages = warning;
CREATE EXTENSION auth VERSION '$OLD' CASCADE;
SELECT auth.grant_admin('regress_admin');
SELECT auth.grant_issuer('regress_issuer');
SELECT auth.allow_email('\@example.com');});
is(q_up("SELECT extversion FROM pg_extension WHERE extname = 'auth'"),
	$OLD, "CREATE EXTENSION auth VERSION '$OLD'");

# Users, each with a password and a session; alice also has a revoked one,
# erin a session made by an admin; one failed sign-in (an attempts row).
my @users = qw(alice bob carol dave erin);
my %pw = map { $_ => "$_-correct-horse-battery" } @users;
my (%uid, %tok, %sid);
for my $u (@users)
{
	$uid{$u} = q_up("SELECT auth.sign_up('$u\@example.com', '$pw{$u}', '\u$u')");
	next if $u eq 'erin';
	($tok{$u}, $sid{$u}) = split /\|/,
	  q_up("SELECT token || '|' || session_id FROM auth.sign_in('$u\@example.com', '$pw{$u}')");
}
($tok{erin}, $sid{erin}) = split /\|/,
  q_up("SELECT token || '|' || session_id FROM auth.create_session('$uid{erin}')");
my ($tok_revoked) = split /\|/,
  q_up("SELECT token FROM auth.sign_in('alice\@example.com', '$pw{alice}')");
is(as($tok_revoked, 'SELECT auth.sign_out();'), 't', 'alice signs out of her second session');
like(query_error($node, "SELECT auth.sign_in('dave\@example.com', 'not-dave-password')", db => 'up'),
	qr/28P01/, 'a failed sign-in');

# Alice and bob verify their emails (a magic link or code for an address
# never verified would end its sessions and password); then secrets mailed
# but not used yet.
for my $u (qw(alice bob))
{
	is( q_up("SELECT auth.verify_email(auth.create_email_verification('$uid{$u}'))"),
		$uid{$u}, "$u verifies the email address");
}
my $mlk = q_up("SELECT auth.create_magic_link('alice\@example.com', '/welcome')");
my $code = q_up("SELECT auth.create_email_code('bob\@example.com')");
my $evt = q_up("SELECT auth.create_email_verification('$uid{carol}')");
my $pwr = q_up("SELECT auth.request_password_reset('erin\@example.com')");
ok($mlk ne '' && $code ne '' && $evt ne '' && $pwr ne '',
	'a magic link, an email code, a verification and a reset token issued');

# Organizations: acme (alice owner, bob admin, dave with the custom role
# billing, erin member; a team with bob; carol invited to it by bob) and
# beta (bob owner).  Alice's session has acme active.
my $org = as($tok{alice}, "SELECT auth.create_organization('Acme', 'acme');");
as($tok{alice}, qq{
SELECT auth.add_member('$org', '$uid{bob}', 'admin');
SELECT auth.create_role('$org', 'billing', '{invoice:read,invoice:pay}');
SELECT auth.add_member('$org', '$uid{dave}', 'billing');
SELECT auth.add_member('$org', '$uid{erin}', 'member');
SELECT auth.set_active_organization('$org');});
my $team = as($tok{alice}, "SELECT auth.create_team('$org', 'core');");
as($tok{alice}, "SELECT auth.add_team_member('$team', '$uid{bob}');");
my $inv = as($tok{bob}, "SELECT auth.invite_member('$org', 'carol\@example.com', 'member', '$team');");
my $org2 = as($tok{bob}, "SELECT auth.create_organization('Beta');");
ok($org ne '' && $org2 ne '' && $team ne '' && $inv ne '',
	'two organizations, a custom role, a team and an invitation');

# API keys: plain (alice), limited (bob: 100 an hour, 50 uses), acme's
# (alice), one made by the plain key, and one rotated with a day of grace
# (dave), whose old secret still works.
my %key;
$key{plain} = as($tok{alice}, "SELECT key FROM auth.create_api_key('plain', '{docs:read,docs:write}');");
$key{limited} = q_up(qq{
SELECT key FROM auth.create_api_key_for('$uid{bob}', 'limited', '{docs:read}',
    rate_limit_max => 100, rate_limit_window => '1 hour', remaining => 50)});
$key{org} = as($tok{alice}, "SELECT key FROM auth.create_api_key('acme', '{docs:read}', org_id => '$org');");
$key{child} = as($key{plain}, "SELECT key FROM auth.create_api_key('child', '{docs:read}');", kind => 'key');
my ($rotated_old, $rotated_id) = split /\|/,
  as($tok{dave}, "SELECT key || '|' || key_id FROM auth.create_api_key('rotating');");
$key{rotated} = as($tok{dave}, "SELECT auth.rotate_api_key('$rotated_id', '1 day');");
$key{rotated_old} = $rotated_old;
is( q_up(qq{
SELECT valid || ' ' || remaining FROM auth.verify_api_key('$key{limited}');
SELECT valid || ' ' || remaining FROM auth.verify_api_key('$key{limited}');}),
	"true 49\ntrue 48", 'the limited key is used twice');
is(q_up("SELECT count(*) FROM auth.api_keys"), '5', 'five API keys');

# What the organization helpers answer, for sessions and keys.
sub helpers
{
	my ($cred, %opt) = @_;
	my $members = $opt{kind} ? '' : qq{
SELECT string_agg(slug || ':' || role, ',' ORDER BY slug) FROM auth.list_my_organizations();
SELECT string_agg(email || ':' || role, ',' ORDER BY email) FROM auth.list_members('$org');};
	return as($cred, qq{
SELECT coalesce((SELECT slug FROM auth.organizations WHERE id = auth.org_id()), '-'),
       (SELECT string_agg(slug, ',' ORDER BY slug) FROM auth.organizations WHERE id = ANY (auth.org_ids())),
       (SELECT string_agg(name, ',' ORDER BY name) FROM auth.teams WHERE id = ANY (auth.team_ids())),
       auth.is_member('$org'), auth.is_member('$org2'),
       auth.has_role('$org', 'owner'), auth.has_role('$org', 'admin'), auth.has_role('$org', 'member'),
       auth.has_role('$org', 'billing'), auth.has_permission('$org', 'invoice:pay'),
       auth.has_permission('$org', 'member:create'), auth.has_permission('$org2', 'organization:delete'),
       auth.has_scope('docs:read'), auth.has_scope('docs:write'), auth.api_key_id() IS NOT NULL;$members},
		%opt);
}
my %helpers_before;
$helpers_before{$_} = helpers($tok{$_}) for qw(alice bob dave);
$helpers_before{"key $_"} = helpers($key{$_}, kind => 'key') for qw(plain org child);
like($helpers_before{dave}, qr/^-\|acme\|\|t\|f\|f\|f\|t\|t\|t\|f\|f\|/,
	'dave: a member of acme with the custom role billing');
like($helpers_before{'key org'}, qr/^acme\|acme\|/, "acme's key acts in acme only");

my $audit_rows = q_up('SELECT count(*) FROM auth.audit_log');
cmp_ok($audit_rows, '>', 20, 'audit rows written');

# What the admin and issuer roles may execute.
my %tier_before;
$tier_before{$_} = q_up(qq{
SELECT string_agg(oid::regprocedure::text, ';' ORDER BY 1) FROM pg_proc
 WHERE pronamespace = 'auth'::regnamespace AND has_function_privilege('$_', oid, 'EXECUTE')
   AND NOT has_function_privilege('public', oid, 'EXECUTE')})
  for qw(regress_admin regress_issuer);
like($tier_before{regress_admin}, qr/auth\.create_session\(/, 'regress_admin may create sessions');

### ALTER EXTENSION auth UPDATE

# Each table's columns before, so that columns an upgrade adds do not count.
# (An upgrade script that rewrites stored values on purpose leaves those
# columns out here, and says why.)
my %columns = map { split /\|/ } split /\n/, q_up(q{
SELECT c.relname || '|' || string_agg(quote_ident(a.attname), ',' ORDER BY a.attname)
  FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
 WHERE c.relnamespace = 'auth'::regnamespace AND c.relkind IN ('r', 'p')
 GROUP BY c.relname});
cmp_ok(scalar(keys %columns), '>=', 13, 'the tables of schema auth');
# The rows that are the database's own: those pg_dump keeps (the
# condition each table is registered with).  The rest are the extension's
# (the built-in roles), compared with a fresh install's below.
my %dumped = map { split /\|/, $_, 2 } split /\n/, q_up(q{
SELECT c.relname || '|' || x.cond
  FROM pg_extension e, unnest(e.extconfig, e.extcondition) x(tbl, cond)
  JOIN pg_class c ON c.oid = x.tbl AND c.relkind IN ('r', 'p')
 WHERE e.extname = 'auth'});
my $state_before = table_state('up', \%columns, \%dumped);
like($state_before, qr/^roles 1 /m, 'one custom role among the rows');

my ($ret, $out, $err) = $node->psql('up', 'ALTER EXTENSION auth UPDATE');
is($ret, 0, 'ALTER EXTENSION auth UPDATE') or diag(redact($err));
is(q_up("SELECT extversion FROM pg_extension WHERE extname = 'auth'"),
	$DEFAULT, "the extension is at version $DEFAULT");
is(table_state('up', \%columns, \%dumped), $state_before,
	'every table has the same rows, on the columns it had (count and digest per table)');

($ret, $out, $err) = $node->psql('up', 'ALTER EXTENSION auth UPDATE');
is($ret, 0, 'a second ALTER EXTENSION auth UPDATE succeeds');
like($err, qr/version "\Q$DEFAULT\E" of extension "auth" is already installed/,
	'and says the version is already installed');

### Everything issued before works

for my $u (@users)
{
	is(q_up("SELECT user_id FROM auth.verify_session('$tok{$u}')"),
		$uid{$u}, "$u\'s session verifies");
	is( q_up(qq{
BEGIN;
SELECT auth.authenticate('$tok{$u}') = '$uid{$u}';
SELECT auth.uid() = '$uid{$u}' AND auth.session_id() = '$sid{$u}';
COMMIT;}), "t\nt", "$u authenticates with it");
}
is(q_up("SELECT num_nulls(user_id, session_id, expires_at) FROM auth.verify_session('$tok_revoked')"),
	'3', 'the revoked session stays revoked');
is(q_up("SELECT user_id FROM auth.sign_in('bob\@example.com', '$pw{bob}')"),
	$uid{bob}, 'bob signs in with his password');

for my $h (sort keys %helpers_before)
{
	my ($cred, %opt) = $h =~ /^key (.*)/ ? ($key{$1}, kind => 'key') : ($tok{$h});
	is(helpers($cred, %opt), $helpers_before{$h}, "$h: the organization helpers answer as before");
}

# "valid code user organization remaining" of a verification, '-' for NULL.
sub verify_key
{
	my ($k, $scopes) = @_;
	return q_up(qq{
SELECT format('%s %s %s %s %s', v.valid, coalesce(v.code, '-'),
              coalesce((SELECT name FROM auth.users WHERE id = v.user_id), '-'),
              coalesce((SELECT slug FROM auth.organizations WHERE id = v.org_id), '-'),
              coalesce(v.remaining::text, '-'))
  FROM auth.verify_api_key('$k', '{$scopes}') v});
}
is(verify_key($key{plain}, 'docs:write'), 't - Alice - -', 'the plain key verifies, with its scopes');
is(verify_key($key{limited}, ''), 't - Bob - 47', 'the limited key verifies, and its quota goes on');
is(verify_key($key{org}, 'docs:read'), 't - Alice acme -', "acme's key verifies, bound to acme");
is(verify_key($key{child}, 'docs:read'), 't - Alice - -', 'the key made by a key verifies');
is(verify_key($key{child}, 'docs:write'), 'f INSUFFICIENT_SCOPE - - -',
	'the key made by a key has only its scopes');
is(verify_key($key{rotated}, ''), 't - Dave - -', 'the rotated key verifies');
is(verify_key($key{rotated_old}, ''), 't - Dave - -', 'its previous secret verifies during the grace');
is(q_up("SELECT auth.authenticate_api_key('$key{plain}') = '$uid{alice}'"), 't',
	'authenticate_api_key with the plain key');

# The secrets mailed before the upgrade are redeemed after it, once.
my ($mlk_tok, $mlk_rest) = split /\|/, q_up(qq{
SELECT token || '|' || user_id || ' ' || redirect_to || ' ' || is_new_user
  FROM auth.consume_magic_link('$mlk')}), 2;
is($mlk_rest, "$uid{alice} /welcome false", 'the magic link signs alice in');
is(q_up("SELECT user_id FROM auth.verify_session('$mlk_tok')"), $uid{alice},
	'and its session verifies');
like(query_error($node, "SELECT auth.consume_magic_link('$mlk')", db => 'up'),
	qr/28000/, 'the magic link works once');
is(q_up("SELECT user_id FROM auth.sign_in_with_code('bob\@example.com', '$code')"),
	$uid{bob}, 'the email code signs bob in');
is(q_up("SELECT auth.verify_email('$evt', '$pw{carol}')"), $uid{carol},
	"the verification token, with carol's password, verifies carol's email");
is(as($tok{carol}, "SELECT auth.accept_invitation('$inv');"), $org,
	'carol accepts the invitation');
like(helpers($tok{carol}), qr/^-\|acme\|core\|t\|f\|f\|f\|t\|/,
	'carol is a member of acme and of its team');
is(q_up("SELECT auth.reset_password('$pwr', 'erin-new-password-1')"),
	$uid{erin}, "the reset token sets erin's password");
is(q_up("SELECT num_nulls(user_id) FROM auth.verify_session('$tok{erin}')"),
	'1', "and ends erin's session");
is(q_up("SELECT user_id FROM auth.sign_in('erin\@example.com', 'erin-new-password-1')"),
	$uid{erin}, 'erin signs in with the new password');
is(as($tok{alice}, q{SELECT auth.revoke_api_key(id) FROM auth.api_keys WHERE name = 'plain';}),
	't', 'alice revokes the plain key');
is(verify_key($key{child}, ''), 'f REVOKED - - -', 'which revokes the key it made');
is( q_up(q{SELECT string_agg(format('%s %s: %s', "check", ok, detail), E'\n' ORDER BY "check") FROM auth.check()
             WHERE "check" IN ('extension installed', 'tables closed to PUBLIC')}),
	"extension installed t: auth $DEFAULT\n"
	  . 'tables closed to PUBLIC t: every table in schema auth has RLS enabled and grants nothing to PUBLIC',
	'auth.check(): the version, and every table closed to PUBLIC');

# Roles granted a tier keep it (for functions that still exist); then the
# grants are made again, as after every upgrade (README, Upgrading), for
# functions a release adds to a tier.
for my $role (sort keys %tier_before)
{
	my $lost = q_up(qq{
SELECT string_agg(f, ';') FROM unnest(string_to_array('$tier_before{$role}', ';')) f
 WHERE to_regprocedure(f) IS NOT NULL AND NOT has_function_privilege('$role', to_regprocedure(f), 'EXECUTE')});
	is($lost, '', "$role keeps EXECUTE on its functions");
}
q_up(q{
SELECT auth.grant_admin('regress_admin');
SELECT auth.grant_issuer('regress_issuer');});

### The upgraded extension equals a fresh install

query($node, 'CREATE DATABASE fresh');
query($node, q{
SET client_min_messages = warning;
CREATE EXTENSION auth CASCADE;
SELECT auth.grant_admin('regress_admin');
SELECT auth.grant_issuer('regress_issuer');}, db => 'fresh');
my $fresh = objects('fresh');
my $upgraded = objects('up');
like($fresh, qr/^function auth\.sign_out\(\).*\| kind=f lang=plpgsql secdef=t /m,
	'the description names functions with their attributes');
like($fresh, qr/^member function auth\.uid\(\)$/m, 'the description lists members');
like($fresh, qr/^column auth\.users\.id \| type=uuid notnull=t /m, 'the description lists columns');
like($fresh, qr/^extension config auth\.users \| condition=''$/m,
	'the description lists the tables pg_dump keeps');
is(line_diff($upgraded, $fresh), '',
	"the upgraded extension's objects equal a fresh install's (- fresh only, + upgraded only)");
is(shipped_rows('up'), shipped_rows('fresh'), 'the rows the extension ships are the same');
like(shipped_rows('fresh'), qr/^auth\.roles .*owner/m, 'those rows include the built-in roles');
for my $db ('up', 'fresh')
{
	is( query($node, q{
SELECT coalesce(string_agg(c.oid::regclass::text, ',' ORDER BY 1), '')
  FROM pg_extension e
  JOIN pg_depend d ON d.refclassid = 'pg_extension'::regclass AND d.refobjid = e.oid AND d.deptype = 'e'
  JOIN pg_class c ON d.classid = 'pg_class'::regclass AND c.oid = d.objid
 WHERE e.extname = 'auth' AND c.relkind IN ('r', 'p', 'S') AND c.oid <> ALL (e.extconfig)}, db => $db),
		'', "$db: every table and sequence of the extension is registered for pg_dump");
}

# The comparison sees a difference of each kind an upgrade script may miss.
my $changed = query($node, qq{
BEGIN;
CREATE FUNCTION auth._upgrade_test_probe() RETURNS int LANGUAGE sql AS 'SELECT 1';
ALTER FUNCTION auth.uid() VOLATILE;
ALTER TABLE auth.users ALTER COLUMN role SET DEFAULT 'member';
GRANT SELECT ON auth.sessions TO regress_admin;
COMMENT ON INDEX auth.users_email_key IS 'x';
$objects_sql
ROLLBACK;}, db => 'fresh');
my $diff = line_diff($changed, $fresh);
like($diff, qr/^\+ function auth\._upgrade_test_probe\(\) \|/m, 'self-check: a new function is seen');
like($diff, qr/^\+ function auth\.uid\(\) .* volatile=v /m, 'self-check: a volatility is seen');
like($diff, qr/^\+ column auth\.users\.role .*default='''member''::text'/m, 'self-check: a default is seen');
like($diff, qr/^\+ relation auth\.sessions .*regress_admin=r\//m, 'self-check: a grant is seen');
like($diff, qr/^\+ index auth\.users_email_key .*comment='x'$/m, 'self-check: a comment is seen');

### Every other released version, upgraded empty

for my $v (@released)
{
	my $db = 'from_' . ($v =~ s/\W/_/gr);
	query($node, "CREATE DATABASE $db");
	query($node, qq{
SET client_min_messages = warning;
CREATE EXTENSION auth VERSION '$v' CASCADE;
ALTER EXTENSION auth UPDATE;
SELECT auth.grant_admin('regress_admin');
SELECT auth.grant_issuer('regress_issuer');}, db => $db);
	is(line_diff(objects($db), $fresh), '', "$v upgraded equals a fresh install");
}

### pg_dump of the upgraded database restores

my $dump = "${PostgreSQL::Test::Utils::tmp_check}/auth_upgraded.dump";
$node->command_ok([ 'pg_dump', '-Fc', '-f', $dump, '-d', 'up' ],
	'pg_dump -Fc of the upgraded database');
query($node, 'CREATE DATABASE restored');
$node->command_ok([ 'pg_restore', '--exit-on-error', '-d', 'restored', $dump ],
	'pg_restore into a new database');
is(line_diff(objects('restored'), $fresh), '', 'the restored extension equals a fresh install');
is(table_state('restored', \%columns, \%dumped), table_state('up', \%columns, \%dumped),
	'the restored tables have the rows pg_dump keeps');
is(shipped_rows('restored'), shipped_rows('fresh'), 'and those the extension ships');
is( query($node, "SELECT user_id FROM auth.verify_session('$tok{alice}')", db => 'restored'),
	$uid{alice}, "alice's session from $OLD verifies in the restored database");

$node->stop;
done_testing();
