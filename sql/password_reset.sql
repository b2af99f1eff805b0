-- Password reset: a single-use link that sets a new password and revokes
-- every session.
\i sql/include/setup.psql
-- (the per-email rate limit has its own test in magic_links)
SET auth.magic_link_rate_limit = 100;

SELECT auth.sign_up('rita@example.com', 'rita password') AS rita \gset
SELECT token AS rita_session FROM auth.sign_in('rita@example.com', 'rita password') \gset

SELECT auth.request_password_reset('Rita@example.com') AS pwr \gset
SELECT :'pwr' ~ '^pwr_[A-Za-z0-9_-]{43}$' AS token_shape;
-- An unknown email: NULL, after the same work (a row is written, unbound).
SELECT auth.request_password_reset('ghost@example.com') IS NULL AS unknown_is_null;
SELECT email, user_id IS NULL AS unbound FROM auth.one_time_secrets
 WHERE purpose = 'password_reset' ORDER BY email;
SELECT pg_temp.err($$SELECT auth.request_password_reset('not an email')$$);

-- The policy is checked before the token is used up.
SELECT pg_temp.err(format('SELECT auth.reset_password(%L, %L)', :'pwr', 'short'));
SELECT auth.reset_password(:'pwr', 'rita new password') = :'rita' AS reset;
-- Once only; other tokens and kinds refused.
SELECT pg_temp.err(format('SELECT auth.reset_password(%L, %L)', :'pwr', 'rita newer password'));
SELECT pg_temp.err($$SELECT auth.reset_password('pwr_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA', 'whatever password')$$);
SELECT pg_temp.err($$SELECT auth.reset_password(NULL, 'whatever password')$$);
SELECT pg_temp.err(format('SELECT auth.reset_password(%L, %L)', auth.create_magic_link('rita@example.com'), 'whatever password'));

-- Every session was revoked; the new password works, the old one not.
SELECT user_id IS NULL AS old_session_revoked FROM auth.verify_session(:'rita_session');
SELECT pg_temp.err($$SELECT auth.sign_in('rita@example.com', 'rita password')$$);
SELECT user_id = :'rita' AS new_password_works FROM auth.sign_in('rita@example.com', 'rita new password');

-- A reset clears a sign-in lockout for the email.
SELECT pg_temp.err($$SELECT auth.sign_in('rita@example.com', 'guess')$$) FROM generate_series(1, 5);
SELECT pg_temp.err($$SELECT auth.sign_in('rita@example.com', 'rita new password')$$);
SELECT auth.reset_password(auth.request_password_reset('rita@example.com'), 'rita third password') = :'rita' AS reset_again;
SELECT user_id = :'rita' AS unlocked FROM auth.sign_in('rita@example.com', 'rita third password');

-- A reset link works only while the account has the address it went to.
SELECT auth.request_password_reset('rita@example.com') AS moved \gset
UPDATE auth.users SET email = 'rita.moved@example.com' WHERE id = :'rita';
SELECT pg_temp.err(format('SELECT auth.reset_password(%L, %L)', :'moved', 'rita moved password'));
UPDATE auth.users SET email = 'rita@example.com' WHERE id = :'rita';

-- Expired tokens are refused.
SELECT auth.request_password_reset('rita@example.com') AS late \gset
SET auth.time_offset = '61min';
SELECT pg_temp.err(format('SELECT auth.reset_password(%L, %L)', :'late', 'rita fourth password'));
RESET auth.time_offset;

SELECT event, detail - 'secret_id' AS detail FROM auth.audit_log
 WHERE user_id = :'rita' AND event LIKE 'password_reset%' ORDER BY id;
-- No table and no audit row holds a reset token.
SELECT count(*) AS plaintext FROM auth.one_time_secrets s WHERE strpos(s::text, 'pwr_') > 0;
SELECT count(*) AS in_audit FROM auth.audit_log l WHERE strpos(l::text, 'pwr_') > 0;
