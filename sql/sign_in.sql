-- Sign-in: same refusal for a wrong password and an unknown email, bans,
-- the durable failure limit, and rehashing of outdated hashes.
\i sql/include/setup.psql

SELECT auth.sign_up('una@example.com', 'una password') AS una \gset
SELECT token IS NOT NULL AS token, user_id = :'una' AS right_user,
       expires_at - now() > interval '6 days 23 hours' AS seven_days
  FROM auth.sign_in(' UNA@example.com', 'una password');

-- Wrong password and unknown email: the same code and message.
SELECT pg_temp.err($$SELECT auth.sign_in('una@example.com', 'not her password')$$);
SELECT pg_temp.err($$SELECT auth.sign_in('nobody@example.com', 'una password')$$);
SELECT pg_temp.err($$SELECT auth.sign_in('una@example.com', repeat('x', 129))$$);
SELECT pg_temp.err($$SELECT auth.sign_in('una@example.com', '')$$);
SELECT pg_temp.err($$SELECT auth.sign_in('una@example.com', NULL)$$);
SELECT pg_temp.err($$SELECT auth.sign_in(NULL, 'una password')$$);
SELECT pg_temp.err($$SELECT auth.sign_in('not an email', 'una password')$$);
-- Each refusal was audited, without the password.
SELECT event, detail->>'email' AS email, user_id = :'una' AS known_user
  FROM auth.audit_log WHERE event = 'sign_in_failed'
   AND detail->>'email' IN ('una@example.com', 'nobody@example.com') ORDER BY id;
SELECT count(*) AS leaked FROM auth.audit_log WHERE detail::text LIKE '%not her password%';

-- A success clears the email's failures.
SELECT user_id = :'una' AS signed_in FROM auth.sign_in('una@example.com', 'una password');
SELECT count(*) AS failures_left FROM auth.attempts
 WHERE key = sha256(convert_to('una@example.com', 'UTF8'));

-- Five failures, each its own autocommit statement that rolls back, still
-- count; the sixth attempt is refused even with the right password.
SELECT pg_temp.err($$SELECT auth.sign_in('una@example.com', 'guess 1')$$);
SELECT pg_temp.err($$SELECT auth.sign_in('una@example.com', 'guess 2')$$);
SELECT pg_temp.err($$SELECT auth.sign_in('una@example.com', 'guess 3')$$);
SELECT pg_temp.err($$SELECT auth.sign_in('una@example.com', 'guess 4')$$);
SELECT pg_temp.err($$SELECT auth.sign_in('una@example.com', 'guess 5')$$);
SELECT pg_temp.err($$SELECT auth.sign_in('una@example.com', 'una password')$$);
SELECT pg_temp.err($$SELECT auth.sign_in('Una@Example.com', 'una password')$$);
-- Also when the statements are plain autocommit statements that fail.
SELECT auth.sign_in('una@example.com', 'una password');
-- Refused attempts do not extend the lock; once the window has passed the
-- right password works again.
SELECT count(*) AS counted FROM auth.attempts
 WHERE key = sha256(convert_to('una@example.com', 'UTF8'));
SET auth.time_offset = '16min';
SELECT user_id = :'una' AS unlocked FROM auth.sign_in('una@example.com', 'una password');
RESET auth.time_offset;
-- An unknown email is limited the same way, so the limit reveals nothing.
SELECT pg_temp.err($$SELECT auth.sign_in('ghost@example.com', 'guess')$$) FROM generate_series(1, 5);
SELECT pg_temp.err($$SELECT auth.sign_in('ghost@example.com', 'guess')$$);
-- The limit and the window are settings.
SET auth.max_failed_sign_ins = 1;
SELECT pg_temp.err($$SELECT auth.sign_in('una@example.com', 'guess')$$);
SELECT pg_temp.err($$SELECT auth.sign_in('una@example.com', 'una password')$$);
RESET auth.max_failed_sign_ins;
DELETE FROM auth.attempts;

-- A banned user with the right password: 28000, account suspended; with a
-- wrong password the usual 28P01, so a ban reveals nothing to a guesser.
UPDATE auth.users SET banned_until = 'infinity', ban_reason = 'abuse' WHERE id = :'una';
SELECT pg_temp.err($$SELECT auth.sign_in('una@example.com', 'una password')$$);
SELECT pg_temp.err($$SELECT auth.sign_in('una@example.com', 'wrong password')$$);
UPDATE auth.users SET banned_until = now() - interval '1 second' WHERE id = :'una';
SELECT user_id = :'una' AS ban_expired FROM auth.sign_in('una@example.com', 'una password');

-- A stored hash of an unknown format is a wrong password to the client (a
-- WARNING names the user in the server log), not a different error.
INSERT INTO auth.users (email, password_hash) VALUES ('md5@example.com', 'md5abcdef0123456789');
SET client_min_messages = error;
SELECT pg_temp.err($$SELECT auth.sign_in('md5@example.com', 'anything at all')$$);
RESET client_min_messages;

-- A user without a password (signed up another way) cannot sign in with one.
INSERT INTO auth.users (email) VALUES ('nopass@example.com');
SELECT pg_temp.err($$SELECT auth.sign_in('nopass@example.com', 'anything at all')$$);

-- Outdated hashes are replaced by argon2id on the next successful sign-in:
-- bcrypt, better-auth's scrypt, and argon2id with weaker parameters.
INSERT INTO auth.users (email, password_hash) VALUES
    ('bcrypt@example.com', crypt('bcrypt password', gen_salt('bf', 6))),
    ('scrypt@example.com', '0123456789abcdef0123456789abcdef:2bbecf9980047461b557199fcc07b2532b2d625ae4a2bbcfbcb870c7accba86a70b3784e81d6405474546822c63b32459fee8de3b296bf921829bd39b8404ca0'),
    ('weak@example.com', '$argon2id$v=19$m=65536,t=2,p=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc');
SELECT user_id IS NOT NULL AS bcrypt_in FROM auth.sign_in('bcrypt@example.com', 'bcrypt password');
SELECT user_id IS NOT NULL AS scrypt_in FROM auth.sign_in('scrypt@example.com', 'better-auth-pass');
SELECT user_id IS NOT NULL AS weak_in FROM auth.sign_in('weak@example.com', 'password');
SELECT email, password_hash ~ '^\$argon2id\$v=19\$m=19456,t=2,p=1\$' AS rehashed
  FROM auth.users WHERE email IN ('bcrypt@example.com', 'scrypt@example.com', 'weak@example.com')
 ORDER BY email;
SELECT user_id IS NOT NULL AS still_works FROM auth.sign_in('scrypt@example.com', 'better-auth-pass');
-- A current hash is left alone.
SELECT password_hash AS una_hash FROM auth.users WHERE id = :'una' \gset
SELECT user_id IS NOT NULL AS signed_in FROM auth.sign_in('una@example.com', 'una password');
SELECT password_hash = :'una_hash' AS unchanged FROM auth.users WHERE id = :'una';
