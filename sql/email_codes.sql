-- Email codes: 6 digits, single use, limited wrong tries counted durably.
\i sql/include/setup.psql
SELECT coalesce(max(id), 0) AS audit_start FROM auth.audit_log \gset
-- (the per-email rate limit has its own test in magic_links)
SET auth.magic_link_rate_limit = 100;
DELETE FROM auth.one_time_secrets;

SELECT auth.create_email_code('coder@example.com') AS code \gset
SELECT :'code' ~ '^[0-9]{6}$' AS six_digits;
SELECT purpose, secret_hash = sha256(convert_to(id::text || ':' || :'code', 'UTF8')) AS hashed_with_id,
       expires_at - created_at AS lifetime
  FROM auth.one_time_secrets WHERE email = 'coder@example.com';
SELECT count(*) AS plaintext_copies FROM auth.one_time_secrets s
 WHERE s::text ~ ('(^|[^0-9])' || :'code' || '([^0-9]|$)') AND s.email = 'coder@example.com';

-- Sign in with it: a new verified user and a session; once only.
SELECT token AS code_session, user_id AS code_user, is_new_user, redirect_to IS NULL AS no_redirect
  FROM auth.sign_in_with_code('Coder@example.com', :'code') \gset
SELECT :'is_new_user' AS is_new_user, :'no_redirect' AS no_redirect,
       (auth.verify_session(:'code_session')).user_id = :'code_user' AS session_works;
SELECT pg_temp.err(format('SELECT auth.sign_in_with_code(%L, %L)', 'coder@example.com', :'code'));

-- Wrong, malformed and unknown codes: 28000; NULL code: 22023.
SELECT auth.create_email_code('coder@example.com') AS code2 \gset
SELECT pg_temp.err($$SELECT auth.sign_in_with_code('coder@example.com', 'abcdef')$$);
SELECT pg_temp.err($$SELECT auth.sign_in_with_code('nobody@example.com', '123456')$$);
SELECT pg_temp.err($$SELECT auth.sign_in_with_code('coder@example.com', NULL)$$);
-- The code is still good after those (two wrong tries so far).
SELECT user_id IS NOT NULL AS still_good FROM auth.sign_in_with_code('coder@example.com', :'code2');

-- After auth.code_max_attempts wrong tries, each its own statement that
-- rolls back, the code is dead even for the right digits.
SELECT auth.create_email_code('coder@example.com') AS code3 \gset
SELECT CASE WHEN :'code3' = '000000' THEN '000001' ELSE '000000' END AS wrong \gset
SELECT format('SELECT auth.sign_in_with_code(%L, %L)', 'coder@example.com', :'wrong') AS wrong_try \gset
SELECT pg_temp.err(:'wrong_try');
SELECT pg_temp.err(:'wrong_try');
SELECT pg_temp.err(:'wrong_try');
SELECT pg_temp.err(:'wrong_try');
SELECT pg_temp.err(:'wrong_try');
SELECT pg_temp.err(format('SELECT auth.sign_in_with_code(%L, %L)', 'coder@example.com', :'code3'));
-- Also when the tries are plain autocommit statements that fail.
SELECT auth.create_email_code('coder@example.com') AS code3b \gset
SELECT CASE WHEN :'code3b' = '000000' THEN '000001' ELSE '000000' END AS wrong \gset
SELECT auth.sign_in_with_code('coder@example.com', :'wrong');
SELECT auth.sign_in_with_code('coder@example.com', :'wrong');
SELECT auth.sign_in_with_code('coder@example.com', :'wrong');
SELECT auth.sign_in_with_code('coder@example.com', :'wrong');
SELECT auth.sign_in_with_code('coder@example.com', :'wrong');
SELECT auth.sign_in_with_code('coder@example.com', :'code3b');
-- A new code supersedes the old one and starts afresh.
SELECT auth.create_email_code('coder@example.com') AS code4a \gset
SELECT auth.create_email_code('coder@example.com') AS code4 \gset
SELECT pg_temp.err(format('SELECT auth.sign_in_with_code(%L, %L)', 'coder@example.com', :'code4a'))
 WHERE :'code4a' <> :'code4';
SELECT user_id IS NOT NULL AS fresh_code_works FROM auth.sign_in_with_code('coder@example.com', :'code4');

-- Expired codes are refused.
SELECT auth.create_email_code('coder@example.com') AS code5 \gset
SET auth.time_offset = '6min';
SELECT pg_temp.err(format('SELECT auth.sign_in_with_code(%L, %L)', 'coder@example.com', :'code5'));
RESET auth.time_offset;

-- verify_email_code: for an application's own purposes; true once.
SELECT auth.create_email_code('coder@example.com', 'delete_account') AS step_up \gset
SELECT auth.verify_email_code('coder@example.com', :'step_up', 'sign_in') AS wrong_purpose,
       auth.verify_email_code('coder@example.com', '99999x', 'delete_account') AS malformed,
       auth.verify_email_code('coder@example.com', :'step_up', 'delete_account') AS right_code,
       auth.verify_email_code('coder@example.com', :'step_up', 'delete_account') AS used_again;
SELECT pg_temp.err($$SELECT auth.create_email_code('coder@example.com', 'Bad Purpose')$$);
SELECT pg_temp.err($$SELECT auth.create_email_code('coder@example.com', NULL)$$);
SELECT pg_temp.err($$SELECT auth.verify_email_code('coder@example.com', '123456', NULL)$$);
-- A sign-in code is not a step-up code, nor the reverse.
SELECT auth.create_email_code('coder@example.com', 'delete_account') AS step_up2 \gset
SELECT pg_temp.err(format('SELECT auth.sign_in_with_code(%L, %L)', 'coder@example.com', :'step_up2'));

-- The audit log has the events and never a code.
SELECT event, detail->>'method' AS method, count(*) FROM auth.audit_log
 WHERE event IN ('email_code_requested', 'email_code_verified', 'sign_in')
   AND (detail->>'method' = 'email_code' OR event <> 'sign_in') AND id > :audit_start
 GROUP BY 1, 2 ORDER BY 1, 2;
