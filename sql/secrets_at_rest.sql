-- After every flow, no table of the extension holds any secret it issued:
-- session tokens, magic links, codes, verification, email change and reset
-- tokens, passwords.
\i sql/include/setup.psql
SET auth.magic_link_rate_limit = 100;
CREATE TEMP TABLE issued (secret text);

SELECT auth.sign_up('rest@example.com', 'rest password one') AS rest \gset
INSERT INTO issued VALUES ('rest password one');
INSERT INTO issued SELECT auth.create_email_verification(:'rest') RETURNING secret AS first_evt \gset
SELECT auth.verify_email(:'first_evt', 'rest password one') = :'rest' AS verified_first;
INSERT INTO issued SELECT token FROM auth.sign_in('rest@example.com', 'rest password one');
INSERT INTO issued SELECT token FROM auth.create_session(:'rest');
SELECT token AS rest_session FROM auth.sign_in('rest@example.com', 'rest password one') \gset
INSERT INTO issued VALUES (:'rest_session');

-- magic link, redeemed and not
INSERT INTO issued SELECT auth.create_magic_link('rest@example.com') RETURNING secret AS link \gset
INSERT INTO issued SELECT token FROM auth.consume_magic_link(:'link');
INSERT INTO issued SELECT auth.create_magic_link('rest-other@example.com');
-- codes
INSERT INTO issued SELECT auth.create_email_code('rest@example.com') RETURNING secret AS code \gset
INSERT INTO issued SELECT token FROM auth.sign_in_with_code('rest@example.com', :'code');
INSERT INTO issued SELECT auth.create_email_code('rest@example.com', 'step_up');
-- verification and email change
BEGIN;
SELECT auth.authenticate(:'rest_session') IS NOT NULL AS authenticated;
INSERT INTO issued SELECT auth.request_email_verification() RETURNING secret AS evt \gset
INSERT INTO issued SELECT auth.request_email_change('rest-new@example.com') RETURNING secret AS ect \gset
SELECT auth.change_password('rest password one', 'rest password two');
INSERT INTO issued VALUES ('rest password two');
COMMIT;
SELECT auth.verify_email(:'evt') = :'rest' AS verified;
BEGIN;
SELECT auth.authenticate(:'rest_session') IS NOT NULL AS authenticated;
SELECT auth.confirm_email_change(:'ect') = :'rest' AS changed;
COMMIT;
-- password reset
INSERT INTO issued SELECT auth.request_password_reset('rest-new@example.com') RETURNING secret AS pwr \gset
SELECT auth.reset_password(:'pwr', 'rest password three') = :'rest' AS reset;
INSERT INTO issued VALUES ('rest password three');
-- a failed sign-in with a password guess
SELECT pg_temp.err($$SELECT auth.sign_in('rest-new@example.com', 'guessed password four')$$);
INSERT INTO issued VALUES ('guessed password four');

-- API keys: created, rotated with a grace period, created by a key
BEGIN;
SELECT auth.authenticate(:'rest_session') IS NOT NULL AS authenticated;
INSERT INTO issued SELECT (auth.create_api_key('rest key', '{read}')).key RETURNING secret AS rest_key \gset
SELECT id AS rest_key_id FROM auth.list_api_keys() \gset
INSERT INTO issued SELECT auth.rotate_api_key(:'rest_key_id', '1 hour') RETURNING secret AS rest_key2 \gset
COMMIT;
BEGIN;
SELECT auth.authenticate_api_key(:'rest_key2') IS NOT NULL AS authenticated;
INSERT INTO issued SELECT (auth.create_api_key('child key', '{read}')).key;
COMMIT;
-- what a key shows for display aside, no part of a key is kept either
INSERT INTO issued SELECT substr(secret, 10) FROM issued WHERE secret LIKE 'ak\_%';

-- JWTs: no table keeps an issued token, nor a signing key's private part
-- or HS256 secret in clear (base64url as given, or its bytes).
SELECT token AS rest_jwt_session FROM auth.create_session(:'rest') \gset
BEGIN;
SELECT auth.authenticate(:'rest_jwt_session') IS NOT NULL AS authenticated;
INSERT INTO issued SELECT auth.issue_jwt();
COMMIT;
CREATE TEMP TABLE key_parts (b64 text);
INSERT INTO key_parts VALUES
    ('AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow'),
    ('nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A');
SELECT auth.import_signing_key(jsonb_build_object('kty', 'oct', 'k', (SELECT b64 FROM key_parts LIMIT 1)))
       IS NOT NULL AS hs_imported;
SELECT auth.import_signing_key(jsonb_build_object('kty', 'OKP', 'crv', 'Ed25519',
           'x', '11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo', 'd', (SELECT b64 FROM key_parts OFFSET 1)))
       IS NOT NULL AS ed25519_imported;
SELECT auth.create_signing_key('HS256') IS NOT NULL AS hs_created;
INSERT INTO issued SELECT b64 FROM key_parts;
INSERT INTO issued
SELECT encode(decode(rpad(translate(b64, '-_', '+/'), (length(b64) + 3) / 4 * 4, '='), 'base64'), 'hex')
  FROM key_parts;

SELECT count(*) AS secrets_issued FROM issued;
-- Every row of every table in schema auth, as text, against every secret
-- (codes are matched as whole 6-digit numbers).
CREATE FUNCTION pg_temp.leaks() RETURNS TABLE (tablename text, leaked bigint) LANGUAGE plpgsql AS $$
DECLARE t regclass;
BEGIN
    FOR t IN SELECT c.oid FROM pg_class c
              WHERE c.relnamespace = 'auth'::regnamespace AND c.relkind = 'r' ORDER BY c.relname LOOP
        tablename := t::text;
        EXECUTE format($q$SELECT count(*) FROM %s r, issued i
                          WHERE CASE WHEN i.secret ~ '^[0-9]{6}$'
                                     THEN r::text ~ ('(^|[^0-9])' || i.secret || '([^0-9]|$)')
                                     ELSE strpos(r::text, i.secret) > 0 END$q$, t)
            INTO leaked;
        RETURN NEXT;
    END LOOP;
END $$;
SELECT * FROM pg_temp.leaks();
