-- Users: sign-up and password changes.
\i sql/include/setup.psql

-- Emails are trimmed, lower-cased and unique whatever their case.
SELECT auth.sign_up('  Ada@Example.COM ', 'ada password', 'Ada', '{"plan": "pro"}') IS NOT NULL AS signed_up;
SELECT email, name, metadata, role, email_verified_at IS NULL AS unverified,
       password_hash LIKE '$argon2id$%' AS argon2id
  FROM auth.users WHERE email = 'ada@example.com';
SELECT pg_temp.err($$SELECT auth.sign_up('ADA@example.com', 'another password')$$);

-- Bad input: 22023 with a clear message.
SELECT pg_temp.err($$SELECT auth.sign_up(NULL, 'ada password')$$);
SELECT pg_temp.err($$SELECT auth.sign_up('', 'ada password')$$);
SELECT pg_temp.err($$SELECT auth.sign_up('no-at-sign', 'ada password')$$);
SELECT pg_temp.err($$SELECT auth.sign_up('two@@example.com', 'ada password')$$);
SELECT pg_temp.err($$SELECT auth.sign_up('sp ace@example.com', 'ada password')$$);
SELECT pg_temp.err($$SELECT auth.sign_up(repeat('a', 250) || '@example.com', 'ada password')$$);
SELECT pg_temp.err($$SELECT auth.sign_up('short@example.com', 'seven77')$$);
SELECT pg_temp.err($$SELECT auth.sign_up('long@example.com', repeat('p', 129))$$);
SELECT pg_temp.err($$SELECT auth.sign_up('null@example.com', NULL)$$);
SELECT auth.sign_up('exact@example.com', repeat('p', 128)) IS NOT NULL AS max_length_ok;
SELECT auth.sign_up('nometa@example.com', 'eight888', NULL, NULL) IS NOT NULL AS null_metadata_ok;
-- The minimum length is a setting.
SET auth.password_min_length = 12;
SELECT pg_temp.err($$SELECT auth.sign_up('twelve@example.com', 'eleven11111')$$);
RESET auth.password_min_length;
-- Nothing was created by the refusals.
SELECT count(*) AS users FROM auth.users
 WHERE email IN ('short@example.com', 'long@example.com', 'null@example.com', 'twelve@example.com', 'sp ace@example.com');

-- change_password acts for auth.uid() and revokes the user's other sessions.
SELECT token AS ada1 FROM auth.sign_in('ada@example.com', 'ada password') \gset
SELECT token AS ada2 FROM auth.sign_in('ada@example.com', 'ada password') \gset
SELECT pg_temp.err($$SELECT auth.change_password('ada password', 'new ada password')$$);
BEGIN;
SELECT auth.authenticate(:'ada1') IS NOT NULL AS authenticated;
SELECT pg_temp.err($$SELECT auth.change_password('wrong password', 'new ada password')$$);
SELECT pg_temp.err($$SELECT auth.change_password(NULL, 'new ada password')$$);
SELECT pg_temp.err($$SELECT auth.change_password('ada password', 'short')$$);
SELECT auth.change_password('ada password', 'new ada password');
COMMIT;
SELECT (auth.verify_session(:'ada1')).user_id IS NOT NULL AS current_session_kept,
       (auth.verify_session(:'ada2')).user_id IS NULL AS other_session_revoked;
SELECT pg_temp.err($$SELECT auth.sign_in('ada@example.com', 'ada password')$$);
SELECT user_id IS NOT NULL AS new_password_works FROM auth.sign_in('ada@example.com', 'new ada password');
SELECT event, detail FROM auth.audit_log
 WHERE user_id = (SELECT id FROM auth.users WHERE email = 'ada@example.com') ORDER BY id;

-- A stolen session is no way to guess the password: wrong current
-- passwords count against auth.max_failed_sign_ins, durably.
SELECT token AS ada3 FROM auth.sign_in('ada@example.com', 'new ada password') \gset
BEGIN;
SELECT auth.authenticate(:'ada3') IS NOT NULL AS authenticated;
SELECT pg_temp.err(format('SELECT auth.change_password(%L, %L)', 'guess ' || g, 'whatever password'))
  FROM generate_series(1, 5) g;
SELECT pg_temp.err($$SELECT auth.change_password('new ada password', 'newest ada password')$$);
COMMIT;
