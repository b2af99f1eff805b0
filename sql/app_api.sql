-- What an application calls beside authenticate(): auth.me(), sign-up
-- that opens the session, the retry time of every retryable refusal, and
-- the grant that says a passwordless sign-in removed a password.
\i sql/include/setup.psql

-- Runs a statement and shows its SQLSTATE and the seconds its hint says
-- to wait (auth.retry_after), or that it has none.
CREATE FUNCTION pg_temp.retry(statement text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    h text;
BEGIN
    EXECUTE statement;
    RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS h = PG_EXCEPTION_HINT;
    RETURN SQLSTATE || ': ' || SQLERRM || ' | ' ||
           CASE WHEN auth.retry_after(h) IS NULL THEN 'no retry time'
                ELSE 'retry_after ' || CASE WHEN auth.retry_after(h) BETWEEN 1 AND 3600
                                            THEN 'within the window' ELSE auth.retry_after(h)::text END
           END;
END
$$;

-- sign_up_and_sign_in: the user and a session in one call, with one
-- argon2 hash and no verification of what was just hashed.
SET track_functions = 'all';
BEGIN;
SELECT token AS una_tok, user_id AS una, session_id AS una_sid
  FROM auth.sign_up_and_sign_in('una@example.com', 'una password', 'Una', '{"plan": "free"}',
                                '192.0.2.7', 'regress-agent') \gset
SELECT pg_stat_get_xact_function_calls('auth.hash_password(text)'::regprocedure) AS hashes,
       coalesce(pg_stat_get_xact_function_calls('auth.verify_password(text, text)'::regprocedure), 0) AS verifications;
COMMIT;
RESET track_functions;
SELECT :'una_tok' ~ '^ses_[A-Za-z0-9_-]{43}$' AS token_shape;
SELECT auth.verify_session(:'una_tok') = ROW(:'una'::uuid, :'una_sid'::uuid, expires_at)
  FROM auth.sessions WHERE id = :'una_sid';
SELECT ip, user_agent FROM auth.sessions WHERE id = :'una_sid';
SELECT event, detail FROM auth.audit_log WHERE user_id = :'una' ORDER BY id;
-- sign_up's refusals, and nothing is created
SELECT pg_temp.err($$SELECT auth.sign_up_and_sign_in('una@example.com', 'another password')$$) AS taken;
SELECT pg_temp.err($$SELECT auth.sign_up_and_sign_in('not an email', 'una password')$$) AS bad_email;
SELECT pg_temp.err($$SELECT auth.sign_up_and_sign_in('vic@example.com', 'short')$$) AS short_password;
SELECT pg_temp.err($$SELECT auth.sign_up_and_sign_in('vic@example.com', NULL)$$) AS null_password;
SELECT pg_temp.err($$SELECT auth.sign_up_and_sign_in('vic@example.com', 'vic password', repeat('n', 257))$$) AS long_name;
-- under auth.require_verified_email sign_in would refuse the new account:
-- so does this, before creating it
SET auth.require_verified_email = on;
SELECT pg_temp.err($$SELECT auth.sign_up_and_sign_in('vic@example.com', 'vic password')$$) AS unverified;
RESET auth.require_verified_email;
SELECT count(*) AS vic_created FROM auth.users WHERE email = 'vic@example.com';
-- PUBLIC may call it, as sign_up and sign_in
SELECT has_function_privilege('public', 'auth.sign_up_and_sign_in(text, text, text, jsonb, inet, text)', 'EXECUTE') AS public;

-- auth.me(): the user's own profile and identity.
SELECT pg_temp.err('SELECT * FROM auth.me()') AS nobody;
BEGIN;
SELECT auth.authenticate(:'una_tok') IS NOT NULL AS authenticated;
SELECT id = :'una' AS id, email, name, image, email_verified, role, created_at IS NOT NULL AS created,
       kind, org_id, scopes, aal FROM auth.me();
SELECT auth.create_organization('Una Org', 'una-org') AS una_org \gset
SELECT auth.set_active_organization(:'una_org');
SELECT kind, org_id = :'una_org' AS org FROM auth.me();
SELECT key AS una_key FROM auth.create_api_key('me', scopes => '{notes:read,notes:write}', org_id => :'una_org') \gset
COMMIT;
UPDATE auth.users SET email_verified_at = now(), image = 'https://example.com/una.png' WHERE id = :'una';
BEGIN;
SELECT auth.authenticate_api_key(:'una_key') IS NOT NULL AS authenticated;
SELECT email, email_verified, image, kind, org_id = :'una_org' AS org, scopes FROM auth.me();
ROLLBACK;
-- a superuser's identity for a user; none for a user who does not exist
BEGIN;
SELECT set_config('auth.identity', 'user:' || :'una', true) IS NOT NULL AS set;
SELECT email, kind, scopes FROM auth.me();
SET LOCAL auth.identity = 'user:00000000-0000-0000-0000-000000000000';
SELECT pg_temp.err('SELECT * FROM auth.me()') AS no_such_user;
ROLLBACK;

-- Retry time: every retryable PT429 carries {"retry_after": <seconds>}
-- in its hint; auth.retry_after() reads it.
SELECT auth.retry_after('{"retry_after": 42}') AS seconds, auth.retry_after('Wait a bit.') AS prose,
       auth.retry_after(NULL) AS none, auth.retry_after('{"retry_after": 4.5}') AS not_whole;
SELECT auth._retry_hint('2026-01-01 00:00:10.2+00', '2026-01-01 00:00:00+00') AS rounded_up,
       auth._retry_hint('2026-01-01 00:00:00+00', '2026-01-01 00:00:10+00') AS at_least_one;
-- failed sign-ins
SELECT auth.sign_up('wes@example.com', 'wes password') IS NOT NULL AS wes;
SELECT pg_temp.retry($$SELECT auth.sign_in('wes@example.com', 'wrong')$$) FROM generate_series(1, 5);
SELECT pg_temp.retry($$SELECT auth.sign_in('wes@example.com', 'wes password')$$) AS locked;
-- wrong current passwords
SELECT token AS una_tok FROM auth.sign_in('una@example.com', 'una password') \gset
CREATE FUNCTION pg_temp.change_as(token text, current_password text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM auth.authenticate(token);
    PERFORM auth.change_password(current_password, 'una new password');
END
$$;
SELECT pg_temp.retry(format('SELECT pg_temp.change_as(%L, %L)', :'una_tok', 'wrong')) FROM generate_series(1, 5);
SELECT pg_temp.retry(format('SELECT pg_temp.change_as(%L, %L)', :'una_tok', 'una password')) AS locked;
-- secrets requested for an email
SELECT pg_temp.retry($$SELECT auth.create_magic_link('xan@example.com')$$) FROM generate_series(1, 6);
-- a code past its wrong tries cannot be retried: no retry time
SELECT auth.create_email_code('yul@example.com') AS yul_code \gset
SELECT pg_temp.retry(format('SELECT auth.sign_in_with_code(%L, %L)', 'yul@example.com',
                            CASE WHEN :'yul_code' = '000000' THEN '000001' ELSE '000000' END))
  FROM generate_series(1, 6);
-- an API key's rate limit, and a quota that never refills (no retry time)
DELETE FROM auth.attempts;
SELECT token AS una_tok FROM auth.sign_in('una@example.com', 'una password') \gset
BEGIN;
SELECT auth.authenticate(:'una_tok') IS NOT NULL AS authenticated;
SELECT key AS k_rate FROM auth.create_api_key('rate', rate_limit_max => 1, rate_limit_window => '1 hour') \gset
SELECT key AS k_quota FROM auth.create_api_key('quota', remaining => 1) \gset
COMMIT;
SELECT pg_temp.retry(format('SELECT auth.authenticate_api_key(%L)', :'k_rate')) FROM generate_series(1, 2);
SELECT pg_temp.retry(format('SELECT auth.authenticate_api_key(%L)', :'k_quota')) FROM generate_series(1, 2);

-- A passwordless sign-in into an account whose email was never verified
-- removes its password, and its grant says so.
SELECT auth.sign_up('zed@example.com', 'zed password') IS NOT NULL AS zed;
SELECT auth.create_magic_link('zed@example.com') AS zed_link \gset
SELECT is_new_user, password_removed FROM auth.consume_magic_link(:'zed_link');
SELECT pg_temp.err($$SELECT auth.sign_in('zed@example.com', 'zed password')$$) AS old_password;
-- verified now: the next link removes nothing
SELECT auth.create_magic_link('zed@example.com') AS zed_link \gset
SELECT is_new_user, password_removed FROM auth.consume_magic_link(:'zed_link');
-- a new user, and a never-verified account without a password
SELECT auth.create_email_code('amy@example.com') AS amy_code \gset
SELECT is_new_user, password_removed FROM auth.sign_in_with_code('amy@example.com', :'amy_code');
UPDATE auth.users SET email_verified_at = NULL WHERE email = 'amy@example.com';
SELECT auth.create_email_code('amy@example.com') AS amy_code \gset
SELECT is_new_user, password_removed FROM auth.sign_in_with_code('amy@example.com', :'amy_code');
-- and by code, with a password
SELECT auth.sign_up('bo@example.com', 'bo password') IS NOT NULL AS bo;
SELECT auth.create_email_code('bo@example.com') AS bo_code \gset
SELECT is_new_user, password_removed FROM auth.sign_in_with_code('bo@example.com', :'bo_code');

DELETE FROM auth.organizations WHERE slug = 'una-org';
DELETE FROM auth.users WHERE email IN ('una@example.com', 'wes@example.com', 'zed@example.com',
                                       'amy@example.com', 'bo@example.com', 'xan@example.com', 'yul@example.com');
DELETE FROM auth.attempts;
DELETE FROM auth.one_time_secrets;
