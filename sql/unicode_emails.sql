-- Emails are compared after NFC and ASCII-only case folding, whatever the
-- database's collation, and a secret is only ever bound to the exact
-- address it is sent to: an address whose characters outside ASCII could
-- case-fold or normalise into another is refused (the dotless-i class of
-- takeovers).  Code points are written U&'\XXXX', so this file reads the
-- same in any UTF8 database; the stable non-ASCII address at the end needs
-- ICU (expected/unicode_emails_1.out is the run without it).  What lower()
-- of a libc or ICU locale would have made of these attacks is in
-- test/t/010_email_locales.pl.
\i sql/include/setup.psql
SET auth.magic_link_rate_limit = 100;
\i sql/include/as_user.psql
-- Runs f with each address (as the holder of a session token, when given).
CREATE FUNCTION pg_temp.refusals(f text, token text DEFAULT NULL) RETURNS TABLE (address text, result text)
LANGUAGE plpgsql AS $$
DECLARE
    a text;
BEGIN
    -- U+0130 capital I with dot, U+0131 dotless i, U+212A Kelvin sign,
    -- U+017F long s, É in JOSÉ, ß, final sigma, fullwidth a, the ligature
    -- ff, a zero-width space, a no-break space
    FOREACH a IN ARRAY ARRAY[U&'bob@g\0130thub.com', U&'bob@g\0131thub.com', U&'\212Aim@example.com',
                             U&'\017Fam@example.com', U&'JOS\00C9@exemple.fr', U&'stra\00DFe@example.de',
                             U&'\03B1\03C2@example.gr', U&'\FF41da@example.com', U&'e\FB00ie@example.com',
                             U&'b\200Bob@github.com', U&'bob\00A0@github.com', U&'J\030C@example.com'] LOOP
        address := 'U+' || coalesce((SELECT string_agg(to_hex(ascii(c)), ',')
                                       FROM regexp_split_to_table(a, '') c WHERE ascii(c) > 127), '');
        result := CASE WHEN token IS NULL THEN pg_temp.err(format(f, a))
                       ELSE pg_temp.as_user(token, format(f, a)) END;
        RETURN NEXT;
    END LOOP;
END
$$;

SELECT (SELECT count(*) FROM auth.one_time_secrets) AS secrets_before,
       (SELECT count(*) FROM auth.users) AS users_before,
       (SELECT count(*) FROM auth.allowed_emails) AS allowed_before \gset
SELECT auth.sign_up('bob@github.com', 'bob password') AS bob \gset
SELECT auth.sign_up('kim@example.com', 'kim password') AS kim \gset
UPDATE auth.users SET email_verified_at = now() WHERE id IN (:'bob', :'kim');
SELECT auth.sign_up('olga@unicode.example', 'olga password') AS olga \gset
SELECT token AS olga_session FROM auth.sign_in('olga@unicode.example', 'olga password') \gset
SELECT pg_temp.as_user(:'olga_session', $$SELECT auth.create_organization('Acme', 'acme')::text$$) <> '' AS org;
SELECT id AS acme FROM auth.organizations WHERE slug = 'acme' \gset

-- 1. A reset link asked for bob@gİthub.com (which the application mails
-- there) is not bound to bob@github.com: refused.
SELECT pg_temp.err($$SELECT auth.request_password_reset(U&'bob@g\0130thub.com')$$) AS reset_dotted_i;
SELECT pg_temp.err($$SELECT auth.request_password_reset(U&'\212Aim@example.com')$$) AS reset_kelvin;
-- 2. Nor a magic link or a code.
SELECT pg_temp.err($$SELECT auth.create_magic_link(U&'bob@g\0130thub.com')$$) AS magic_link_dotted_i;
SELECT pg_temp.err($$SELECT auth.create_magic_link(U&'\212Aim@example.com')$$) AS magic_link_kelvin;
SELECT pg_temp.err($$SELECT auth.create_email_code(U&'bob@g\0130thub.com')$$) AS code_dotted_i;
-- None of them left a secret for anyone.
SELECT count(*) AS secrets FROM auth.one_time_secrets
 WHERE email IN ('bob@github.com', 'kim@example.com', 'carol@example.com');
-- 3. A sign-up as carol@examplİ.com cannot take the invitation for
-- carol@example.com: the sign-up is refused.
SELECT pg_temp.as_user(:'olga_session',
    format($$SELECT auth.invite_member(%L, 'carol@example.com', 'member') IS NOT NULL$$, :'acme')) AS invited;
SELECT pg_temp.err($$SELECT auth.sign_up(U&'carol@exampl\0130.com', 'mallory password')$$) AS sign_up_dotted_i;
SELECT pg_temp.err($$SELECT auth.create_magic_link(U&'carol@exampl\0130.com')$$) AS magic_link_sign_up;
SELECT count(*) AS users FROM auth.users WHERE email LIKE 'carol@%';

-- Every character class, at every entry point that takes an email.
SELECT * FROM pg_temp.refusals($$SELECT auth.sign_up(%L, 'some password')$$);
SELECT DISTINCT result AS sign_in FROM pg_temp.refusals($$SELECT auth.sign_in(%L, 'some password')$$);
SELECT DISTINCT result AS magic_link FROM pg_temp.refusals($$SELECT auth.create_magic_link(%L)$$);
SELECT DISTINCT result AS email_code FROM pg_temp.refusals($$SELECT auth.create_email_code(%L)$$);
SELECT DISTINCT result AS sign_in_with_code FROM pg_temp.refusals($$SELECT auth.sign_in_with_code(%L, '123456')$$);
SELECT DISTINCT result AS verify_email_code FROM pg_temp.refusals($$SELECT auth.verify_email_code(%L, '123456', 'sign_in')$$);
SELECT DISTINCT result AS password_reset FROM pg_temp.refusals($$SELECT auth.request_password_reset(%L)$$);
SELECT DISTINCT result AS allow_email FROM pg_temp.refusals($$SELECT auth.allow_email(%L)$$);
SELECT pg_temp.err($$SELECT auth.allow_email(U&'@g\0130thub.com')$$) AS allow_domain;
SELECT DISTINCT result AS email_change
  FROM pg_temp.refusals('SELECT auth.request_email_change(%L) IS NOT NULL', :'olga_session');
SELECT DISTINCT result AS invitation
  FROM pg_temp.refusals(format('SELECT auth.invite_member(%L, %%L, ''member'') IS NOT NULL', :'acme'), :'olga_session');
SELECT count(*) - :secrets_before AS new_secrets,
       (SELECT count(*) FROM auth.users) - :users_before AS new_users,
       (SELECT count(*) FROM auth.allowed_emails) - :allowed_before AS new_allowed
  FROM auth.one_time_secrets;

-- Invisible, format, unassigned and private-use characters, and
-- noncharacters: the whole set from Unicode data (auth._email_refused_char(),
-- scripts/gen_unicode_ranges.py), not a list.  bob@git<U+180B>hub.com looks
-- like bob@github.com, and may be delivered there.  Each one is refused,
-- and the detail names its kind.
CREATE FUNCTION pg_temp.errd(statement text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    d text;
BEGIN
    EXECUTE statement;
    RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS d = PG_EXCEPTION_DETAIL;
    RETURN SQLSTATE || ': ' || SQLERRM || ' (' || d || ')';
END
$$;
CREATE TEMP TABLE invisible AS
SELECT h AS code_point, 'bob@git' || chr(('x' || lpad(h, 8, '0'))::bit(32)::int) || 'hub.com' AS address
  FROM unnest(ARRAY[
    '180B', '180C', '180D', '180F', '1806', '17B4', '17B5',     -- Mongolian, Khmer
    'E0001', 'E0020', 'E0041', 'E007F',                         -- tags
    'E0100', 'E01EF', 'FE00', 'FE0F',                           -- variation selectors
    'FFF9', 'FFFA', 'FFFB', '1BCA0', '1BCA3', '1D173', '1D17A', -- format controls
    '0600', '0605', '06DD', '070F', '08E2', '110BD', '110CD', '13430', '1343F',
    '200B', '200C', '200D', '200E', '200F', '202A', '202E', '2060', '2064', '206F',
    'FEFF', '00AD', '034F', '115F', '1160', '3164', 'FFA0',     -- soft hyphen, CGJ, fillers
    '2028', '2029', '1680',                                     -- separators
    '0378', 'FFF0', 'E0080', '1E030',                           -- unassigned (U+1E030: Unicode 15)
    'E000', 'F8FF', 'F0000', 'FFFFD', '100000', '10FFFD',       -- private use
    'FDD0', 'FDEF', 'FFFE', 'FFFF', '1FFFE', '1FFFF', 'EFFFF', '10FFFE', '10FFFF' -- noncharacters
  ]) h;
SELECT code_point, pg_temp.errd(format($$SELECT auth.sign_up(%L, 'some password')$$, address)) AS sign_up
  FROM invisible;
-- the same at every other entry point that takes an email
SELECT DISTINCT pg_temp.err(format($$SELECT auth.sign_in(%L, 'some password')$$, address)) AS sign_in FROM invisible;
SELECT DISTINCT pg_temp.err(format($$SELECT auth.create_magic_link(%L)$$, address)) AS magic_link FROM invisible;
SELECT DISTINCT pg_temp.err(format($$SELECT auth.create_email_code(%L)$$, address)) AS email_code FROM invisible;
SELECT DISTINCT pg_temp.err(format($$SELECT auth.sign_in_with_code(%L, '123456')$$, address)) AS sign_in_with_code FROM invisible;
SELECT DISTINCT pg_temp.err(format($$SELECT auth.request_password_reset(%L)$$, address)) AS password_reset FROM invisible;
SELECT DISTINCT pg_temp.err(format($$SELECT auth.allow_email(%L)$$, address)) AS allow_email FROM invisible;
SELECT DISTINCT pg_temp.err(format($$SELECT auth.allow_email(%L)$$, substr(address, 4))) AS allow_domain FROM invisible;
SELECT DISTINCT pg_temp.as_user(:'olga_session', format('SELECT auth.request_email_change(%L) IS NOT NULL', address)) AS email_change
  FROM invisible;
SELECT DISTINCT pg_temp.as_user(:'olga_session', format('SELECT auth.invite_member(%L, %L, ''member'') IS NOT NULL', :'acme', address)) AS invitation
  FROM invisible;
SELECT count(*) - :secrets_before AS new_secrets,
       (SELECT count(*) FROM auth.users) - :users_before AS new_users,
       (SELECT count(*) FROM auth.allowed_emails) - :allowed_before AS new_allowed
  FROM auth.one_time_secrets;
-- (A surrogate cannot even be written in a UTF8 database.)
SELECT pg_temp.err($$SELECT U&'bob@git\D800hub.com'$$) AS surrogate;

-- ASCII case still does not matter, and the same key serves every path.
SELECT user_id = :'bob' AS bob_in FROM auth.sign_in('Bob@GitHub.COM', 'bob password');
SELECT pg_temp.err($$SELECT auth.sign_up('  BOB@github.com ', 'other password')$$) AS taken;
SELECT auth.request_password_reset('BOB@GITHUB.COM') AS reset \gset
SELECT auth.reset_password(:'reset', 'new bob password') = :'bob' AS reset_bob;
SELECT auth.create_magic_link('Kim@Example.Com') AS kim_link \gset
SELECT user_id = :'kim' AS kim_in, is_new_user FROM auth.consume_magic_link(:'kim_link');
SELECT pg_temp.as_user(:'olga_session',
    format($$SELECT auth.invite_member(%L, 'KIM@example.com', 'member') IS NOT NULL$$, :'acme')) AS kim_invited;
SELECT email FROM auth.invitations WHERE email LIKE 'kim%';

-- Without ICU the server cannot tell which characters change case, so an
-- address outside ASCII is refused (fail closed); ASCII ones still work.
BEGIN;
DROP COLLATION IF EXISTS pg_catalog."und-x-icu";
SELECT pg_temp.err($$SELECT auth.sign_up(U&'jos\00E9@exemple.fr', 'jose password')$$) AS without_icu;
SELECT auth.sign_up('ascii@example.com', 'ascii password') IS NOT NULL AS ascii_without_icu;
ROLLBACK;

SELECT EXISTS (SELECT FROM pg_collation c WHERE c.collname = 'und-x-icu' AND c.collprovider = 'i') AS icu \gset
\if :icu
-- A stable address outside ASCII (lower-case letters that no case mapping
-- or normalisation turns into another) works end to end, whichever way
-- it is typed: composed, decomposed, ASCII letters in upper case.
SELECT auth.sign_up(U&'jos\00E9@exemple.fr', 'jose password') AS jose \gset
SELECT email = U&'jos\00E9@exemple.fr' AS stored_nfc FROM auth.users WHERE id = :'jose';
SELECT user_id = :'jose' AS decomposed FROM auth.sign_in(U&'jose\0301@exemple.fr', 'jose password');
SELECT user_id = :'jose' AS ascii_upper FROM auth.sign_in(U&'JOS\00E9@EXEMPLE.FR', 'jose password');
-- (É is not: its lower case would be another address.)
SELECT pg_temp.err($$SELECT auth.sign_up(U&'JOSE\0301@exemple.fr', 'other password')$$) AS upper_e_acute;
SELECT pg_temp.err($$SELECT auth.sign_up(U&'jos\00E9@Exemple.FR', 'other password')$$) AS taken;
SELECT auth.request_password_reset(U&'jos\00E9@EXEMPLE.fr') IS NOT NULL AS reset_token;
SELECT auth.create_magic_link(U&'jose\0301@Exemple.fr') AS jose_link \gset
SELECT token AS jose_session, user_id = :'jose' AS link_in, is_new_user
  FROM auth.consume_magic_link(:'jose_link') \gset
SELECT :'link_in' AS link_in, :'is_new_user' AS is_new_user;
SELECT email_verified_at IS NOT NULL AS verified FROM auth.users WHERE id = :'jose';
SELECT pg_temp.as_user(:'olga_session',
    format($$SELECT auth.invite_member(%L, %L, 'member')$$, :'acme', U&'JOS\00E9@exemple.fr')) AS jose_invitation \gset
SELECT pg_temp.as_user(:'jose_session', format('SELECT auth.accept_invitation(%L)', :'jose_invitation')) = :'acme' AS joined;
SELECT email FROM auth.invitations WHERE email LIKE 'jos%' AND email = U&'jos\00E9@exemple.fr';
\else
-- (Without ICU the same address is refused: expected/unicode_emails_1.out.)
SELECT pg_temp.err($$SELECT auth.sign_up(U&'jos\00E9@exemple.fr', 'jose password')$$) AS without_icu;
\endif
