-- Email verification, email change, and require_verified_email.
\i sql/include/setup.psql
-- (the per-email rate limit has its own test in magic_links)
SET auth.magic_link_rate_limit = 100;

SELECT auth.sign_up('vera@example.com', 'vera password') AS vera \gset
SELECT token AS vera_session FROM auth.sign_in('vera@example.com', 'vera password') \gset

-- request_email_verification acts for auth.uid().
SELECT pg_temp.err($$SELECT auth.request_email_verification()$$);
BEGIN;
SELECT auth.authenticate(:'vera_session') IS NOT NULL AS authenticated;
SELECT auth.request_email_verification() AS evt \gset
COMMIT;
SELECT :'evt' ~ '^evt_[A-Za-z0-9_-]{43}$' AS token_shape;
-- Opened from a session of the account, the link verifies and keeps
-- everything.
BEGIN;
SELECT auth.authenticate(:'vera_session') IS NOT NULL AS authenticated;
SELECT auth.verify_email(:'evt') = :'vera' AS verified_user;
COMMIT;
SELECT email_verified_at IS NOT NULL AS verified, password_hash IS NOT NULL AS password_kept
  FROM auth.users WHERE id = :'vera';
SELECT user_id = :'vera' AS session_kept FROM auth.verify_session(:'vera_session');
SELECT pg_temp.err(format('SELECT auth.verify_email(%L)', :'evt'));
SELECT pg_temp.err($$SELECT auth.verify_email('evt_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA')$$);
SELECT pg_temp.err($$SELECT auth.verify_email(NULL)$$);
-- A magic link is not a verification token.
SELECT pg_temp.err(format('SELECT auth.verify_email(%L)', auth.create_magic_link('vera@example.com')));

-- create_email_verification (admin) for any user.
SELECT auth.sign_up('walt@example.com', 'walt password') AS walt \gset
SELECT auth.verify_email(auth.create_email_verification(:'walt'), 'walt password') = :'walt' AS admin_flow;
SELECT pg_temp.err($$SELECT auth.create_email_verification('00000000-0000-0000-0000-000000000000')$$);

-- require_verified_email: unverified users cannot sign in with a password.
SELECT auth.sign_up('unv@example.com', 'unv password') AS unv \gset
SET auth.require_verified_email = on;
SELECT pg_temp.err($$SELECT auth.sign_in('unv@example.com', 'unv password')$$);
SELECT pg_temp.err($$SELECT auth.sign_in('unv@example.com', 'wrong password')$$);
SELECT user_id = :'vera' AS verified_signs_in FROM auth.sign_in('vera@example.com', 'vera password');
-- Without a session, the link takes the password (with the sign-in
-- limits; a wrong one leaves the link usable).
SELECT auth.create_email_verification(:'unv') AS unv_evt \gset
SELECT pg_temp.err(format('SELECT auth.verify_email(%L, %L)', :'unv_evt', 'wrong password'));
SELECT pg_temp.err(format('SELECT auth.verify_email(%L, NULL)', :'unv_evt'));
SELECT pg_temp.err($$SELECT auth.verify_email('evt_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA', 'unv password')$$);
SELECT auth.verify_email(:'unv_evt', 'unv password') = :'unv' AS now_verified;
SELECT pg_temp.err(format('SELECT auth.verify_email(%L, %L)', :'unv_evt', 'unv password'));
SELECT user_id = :'unv' AS signs_in_after FROM auth.sign_in('unv@example.com', 'unv password');
RESET auth.require_verified_email;

-- Pre-hijacking by verification link: a squatter signs the owner's address
-- up, signs in, makes an API key and has a verification link mailed to the
-- owner, who clicks it.  Not bound to the account's holder (no session of
-- it, no password), the link proves only the mailbox: it claims the
-- account, and everything the squatter set up ends.
SELECT auth.sign_up('owner@example.com', 'squatter password') AS owner \gset
SELECT token AS squat_session FROM auth.sign_in('owner@example.com', 'squatter password') \gset
BEGIN;
SELECT auth.authenticate(:'squat_session') IS NOT NULL AS authenticated;
SELECT key AS squat_key FROM auth.create_api_key('squatter') \gset
SELECT auth.request_email_verification() AS squat_evt \gset
COMMIT;
SELECT auth.verify_email(:'squat_evt') = :'owner' AS owner_clicked;
SELECT email_verified_at IS NOT NULL AS verified, password_hash IS NULL AS password_dropped
  FROM auth.users WHERE id = :'owner';
SELECT user_id IS NULL AS squatter_session_ended FROM auth.verify_session(:'squat_session');
SELECT user_id IS NULL AS squatter_key_ended FROM auth.verify_api_key(:'squat_key');
SELECT pg_temp.err($$SELECT auth.sign_in('owner@example.com', 'squatter password')$$);
SELECT (detail->>'account_claimed')::boolean AS audited_as_claim
  FROM auth.audit_log WHERE event = 'email_verified' AND user_id = :'owner';
-- An API key of the account is not a session of it: the link is a claim.
SELECT auth.sign_up('keyed@example.com', 'keyed password') AS keyed \gset
SELECT key AS keyed_key FROM auth.create_api_key_for(:'keyed', 'k') \gset
SELECT auth.create_email_verification(:'keyed') AS keyed_evt \gset
BEGIN;
SELECT auth.authenticate_api_key(:'keyed_key') = :'keyed' AS authenticated;
SELECT auth.verify_email(:'keyed_evt') = :'keyed' AS verified;
COMMIT;
SELECT password_hash IS NULL AS password_dropped FROM auth.users WHERE id = :'keyed';
SELECT user_id IS NULL AS key_ended FROM auth.verify_api_key(:'keyed_key');

-- A verification token stops working once the email has changed.
SELECT auth.create_email_verification(:'walt') AS stale \gset
UPDATE auth.users SET email = 'walter@example.com' WHERE id = :'walt';
SELECT pg_temp.err(format('SELECT auth.verify_email(%L)', :'stale'));

-- Email change: a token for the new address; confirming moves the account.
BEGIN;
SELECT auth.authenticate(:'vera_session') IS NOT NULL AS authenticated;
SELECT pg_temp.err($$SELECT auth.request_email_change('walter@example.com')$$);
SELECT pg_temp.err($$SELECT auth.request_email_change('bad address')$$);
SELECT auth.request_email_change('Vera.New@Example.com') AS ect \gset
COMMIT;
SELECT :'ect' ~ '^ect_[A-Za-z0-9_-]{43}$' AS token_shape;
SELECT email FROM auth.users WHERE id = :'vera';
-- Confirming takes the account that asked, signed in: not anonymous, not
-- someone else (the token stays good meanwhile).
SELECT pg_temp.err(format('SELECT auth.confirm_email_change(%L)', :'ect'));
SELECT token AS walt_session FROM auth.sign_in('walter@example.com', 'walt password') \gset
BEGIN;
SELECT auth.authenticate(:'walt_session') IS NOT NULL AS authenticated;
SELECT pg_temp.err(format('SELECT auth.confirm_email_change(%L)', :'ect'));
COMMIT;
SELECT token AS vera_other FROM auth.sign_in('vera@example.com', 'vera password') \gset
SELECT auth.request_password_reset('vera@example.com') AS old_reset \gset
BEGIN;
SELECT auth.authenticate(:'vera_session') IS NOT NULL AS authenticated;
SELECT auth.confirm_email_change(:'ect') = :'vera' AS changed;
COMMIT;
SELECT email, email_verified_at IS NOT NULL AS verified FROM auth.users WHERE id = :'vera';
BEGIN;
SELECT auth.authenticate(:'vera_session') IS NOT NULL AS authenticated;
SELECT pg_temp.err(format('SELECT auth.confirm_email_change(%L)', :'ect'));
COMMIT;
-- Other sessions are revoked, and secrets sent to the old address are void.
SELECT user_id IS NULL AS other_session_revoked FROM auth.verify_session(:'vera_other');
SELECT pg_temp.err(format('SELECT auth.reset_password(%L, %L)', :'old_reset', 'taken over password'));
SELECT detail FROM auth.audit_log WHERE event = 'email_changed' AND user_id = :'vera';
-- Taken meanwhile: 23505 and nothing changes.
BEGIN;
SELECT auth.authenticate(:'vera_session') IS NOT NULL AS authenticated;
SELECT auth.request_email_change('contested@example.com') AS ect2 \gset
COMMIT;
SELECT auth.sign_up('contested@example.com', 'other password') IS NOT NULL AS taken_meanwhile;
BEGIN;
SELECT auth.authenticate(:'vera_session') IS NOT NULL AS authenticated;
SELECT pg_temp.err(format('SELECT auth.confirm_email_change(%L)', :'ect2'));
COMMIT;
SELECT email FROM auth.users WHERE id = :'vera';
-- The session still works; signing in uses the new address.
SELECT user_id = :'vera' AS new_email_signs_in FROM auth.sign_in('vera.new@example.com', 'vera password');
