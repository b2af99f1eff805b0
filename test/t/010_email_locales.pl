# Emails are compared the same way whatever the database's collation: NFC
# and ASCII-only case folding, with addresses whose characters outside ASCII
# could fold into another refused.  lower() of a libc UTF-8 locale maps
# U+0130 to "i", and ICU's the Kelvin sign to "k" too, so under 0.1.0 a reset or
# magic link asked for bob@g<U+0130>thub.com signed into bob@github.com, and
# a sign-up as carol@exampl<U+0130>.com took carol@example.com's invitation.
# Each attack is tried in a UTF8 database with locale C, one with a libc
# UTF-8 locale, one with ICU, and ASCII addresses in a LATIN1 one.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib $FindBin::RealBin;
use AuthTAP;

my $node = new_node('locales');
my $REFUSED = qr/22023: unsupported character in email address/;

# A libc UTF-8 locale the machine has, and whether PostgreSQL has ICU.
my $utf8_locale = query($node, q{
SELECT collcollate FROM pg_collation
 WHERE collprovider = 'c' AND collcollate ~* '^(C|en_US)\.utf-?8$'
 ORDER BY collcollate ~* '^C' DESC LIMIT 1});
my $icu = query($node, q{
SELECT count(*) FROM pg_collation WHERE collname = 'und-x-icu' AND collprovider = 'i'});

my %dbs = (c_utf8 => q{ENCODING 'UTF8' LOCALE 'C'});
$dbs{libc_utf8} = qq{ENCODING 'UTF8' LOCALE '$utf8_locale'} if $utf8_locale;
$dbs{icu} = q{ENCODING 'UTF8' LOCALE 'C' LOCALE_PROVIDER icu ICU_LOCALE 'und'}
  if $icu;
note "databases: " . join(', ', sort keys %dbs);

for my $db (sort keys %dbs)
{
	query($node, "CREATE DATABASE $db TEMPLATE template0 $dbs{$db}");
	query($node, q{
CREATE EXTENSION auth CASCADE;
SELECT auth.grant_issuer(current_user::regrole);
SELECT auth.sign_up('bob@github.com', 'bob password');
SELECT auth.sign_up('kim@example.com', 'kim password');
SELECT auth.sign_up('olga@example.com', 'olga password');
UPDATE auth.users SET email_verified_at = now();}, db => $db);

	# In these databases lower() folds the attacks into the victims'
	# addresses (in C it does not): that is what the comparison must not use.
	is( query($node, q{SELECT lower(U&'\212Aim@example.com') = 'kim@example.com'}, db => $db),
		($db eq 'c_utf8' ? 'f' : 't'),
		"$db: lower() of this database folds the Kelvin sign into k"
		  . ($db eq 'c_utf8' ? ' (not in C)' : ''));

	# 1. A reset link for bob@g<U+0130>thub.com is not bound to bob.
	like(
		query_error(
			$node, q{SELECT auth.request_password_reset(U&'bob@g\0130thub.com')},
			db => $db),
		$REFUSED,
		"$db: a reset link for U+0130 in place of i is refused");
	# 2. Nor a magic link for <Kelvin sign>im@example.com.
	like(
		query_error(
			$node, q{SELECT auth.create_magic_link(U&'\212Aim@example.com')},
			db => $db),
		$REFUSED,
		"$db: a magic link for the Kelvin sign in place of k is refused");
	is( query($node, q{SELECT count(*) FROM auth.one_time_secrets}, db => $db),
		'0', "$db: no secret was issued for anyone");
	# 3. A sign-up as carol@exampl<U+0130>.com cannot take carol@example.com's
	# invitation.
	query($node, q{
SELECT token AS olga FROM auth.sign_in('olga@example.com', 'olga password') \gset
BEGIN;
SELECT auth.authenticate(:'olga') IS NOT NULL;
SELECT auth.create_organization('Acme', 'acme') IS NOT NULL;
SELECT auth.invite_member((SELECT id FROM auth.organizations WHERE slug = 'acme'),
                          'carol@example.com', 'member') IS NOT NULL;
COMMIT;}, db => $db);
	like(
		query_error(
			$node, q{SELECT auth.sign_up(U&'carol@exampl\0130.com', 'mallory password')},
			db => $db),
		$REFUSED,
		"$db: a sign-up as carol\@exampl<U+0130>.com is refused");
	like(
		query_error(
			$node, q{SELECT auth.create_magic_link(U&'carol@exampl\0130.com')},
			db => $db),
		$REFUSED,
		"$db: and so is a magic link that would sign it up");
	is( query($node, q{SELECT count(*) FROM auth.users WHERE email LIKE 'carol@%'}, db => $db),
		'0', "$db: no account holds carol's address");

	# ASCII case still does not matter.
	is( query($node, q{
SELECT (auth.sign_in('Bob@GitHub.COM', 'bob password')).user_id
       = (SELECT id FROM auth.users WHERE email = 'bob@github.com')}, db => $db),
		't', "$db: Bob\@GitHub.COM signs in as bob\@github.com");

	# A stable address outside ASCII works, typed composed or decomposed.
	my $jose = query_error($node, q{
SELECT auth.sign_up(U&'jos\00E9@exemple.fr', 'jose password')}, db => $db);
	if ($icu)
	{
		is($jose, '', "$db: a sign-up as jos<U+00E9>\@exemple.fr is taken");
		# (eval: under 0.1.0 this sign-in fails, and the other databases
		# must still be tried)
		is( eval { query($node, q{
SELECT (auth.sign_in(U&'jose\0301@EXEMPLE.fr', 'jose password')).user_id
       = (SELECT id FROM auth.users WHERE email = U&'jos\00E9@exemple.fr')}, db => $db) }
			  // 'refused',
			't', "$db: and signs in typed decomposed, the domain in upper case");
	}
	else
	{
		like($jose, $REFUSED,
			"$db: without ICU an address outside ASCII is refused (fail closed)");
	}
}

# A database that is not UTF8 takes ASCII addresses and refuses the others.
query($node, q{CREATE DATABASE latin1 TEMPLATE template0 ENCODING 'LATIN1' LOCALE 'C'});
query($node, q{CREATE EXTENSION auth CASCADE;
SELECT auth.sign_up('Ada@Example.com', 'ada password');}, db => 'latin1');
is(query($node, q{SELECT email FROM auth.users}, db => 'latin1'),
	'ada@example.com', 'latin1: an ASCII address is taken');
like(
	query_error(
		$node, q{SELECT auth.sign_up('jos' || convert_from('\xe9', 'LATIN1') || '@exemple.fr', 'jose password')},
		db => 'latin1'),
	$REFUSED,
	'latin1: an address outside ASCII is refused');

$node->stop;
done_testing();
