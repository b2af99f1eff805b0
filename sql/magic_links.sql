-- Magic links: request, single redemption, sign-up, allow-list, rate limit.
\i sql/include/setup.psql
SELECT coalesce(max(id), 0) AS audit_start FROM auth.audit_log \gset

-- A link for a new email: mlk_ token, only its SHA-256 stored.
SELECT auth.create_magic_link(' New@Example.com ', '/welcome', NULL, '203.0.113.9') AS link \gset
SELECT :'link' ~ '^mlk_[A-Za-z0-9_-]{43}$' AS token_shape;
SELECT purpose, email, redirect_to, host(ip) AS ip, user_id IS NULL AS no_user_yet,
       secret_hash = sha256(convert_to(:'link', 'UTF8')) AS hash_at_rest,
       expires_at - created_at AS lifetime
  FROM auth.one_time_secrets WHERE email = 'new@example.com';
SELECT count(*) AS plaintext_copies FROM auth.one_time_secrets s WHERE strpos(s::text, :'link') > 0;

-- Redeeming it signs the user up, verified, and opens a session.
SELECT token AS ml_session, user_id AS ml_user, redirect_to, is_new_user
  FROM auth.consume_magic_link(:'link', '203.0.113.9', 'regress-agent') \gset
SELECT :'ml_session' ~ '^ses_' AS session_token, :'redirect_to' AS redirect_to, :'is_new_user' AS is_new_user,
       (auth.verify_session(:'ml_session')).user_id = :'ml_user' AS session_works;
SELECT email, email_verified_at IS NOT NULL AS verified, password_hash IS NULL AS no_password
  FROM auth.users WHERE email = 'new@example.com';
-- Once only: used, unknown, malformed and wrong-kind tokens are the same 28000.
SELECT pg_temp.err(format('SELECT auth.consume_magic_link(%L)', :'link'));
SELECT pg_temp.err($$SELECT auth.consume_magic_link('mlk_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA')$$);
SELECT pg_temp.err($$SELECT auth.consume_magic_link('nonsense')$$);
SELECT pg_temp.err($$SELECT auth.consume_magic_link(NULL)$$);
SELECT token AS ses FROM auth.create_session((SELECT id FROM auth.users WHERE email = 'new@example.com')) \gset
SELECT pg_temp.err(format('SELECT auth.consume_magic_link(%L)', :'ses'));

-- An existing user: not new; the email is marked verified (and, never
-- verified before, the account loses the password it was signed up with:
-- see below).
SELECT auth.sign_up('old@example.com', 'old password') AS old \gset
SELECT is_new_user, user_id = :'old' AS same_user
  FROM auth.consume_magic_link(auth.create_magic_link('old@example.com'));
SELECT email_verified_at IS NOT NULL AS verified FROM auth.users WHERE id = :'old';

-- Expired links are refused; ttl can be chosen and must be positive.
SELECT auth.create_magic_link('old@example.com', NULL, '1 minute') AS short \gset
SET auth.time_offset = '2min';
SELECT pg_temp.err(format('SELECT auth.consume_magic_link(%L)', :'short'));
RESET auth.time_offset;
SELECT pg_temp.err($$SELECT auth.create_magic_link('old@example.com', NULL, '-1 minute')$$);
SELECT pg_temp.err($$SELECT auth.create_magic_link('redirect@example.com', NULL, '16 minutes')$$);
-- redirect_to: a path of the application or an http(s) URL, nothing else.
SELECT pg_temp.err($$SELECT auth.create_magic_link('redirect@example.com', '/' || repeat('x', 3000))$$);
SELECT pg_temp.err($$SELECT auth.create_magic_link('redirect@example.com', '//evil.example/')$$);
SELECT pg_temp.err($$SELECT auth.create_magic_link('redirect@example.com', 'javascript:alert(1)')$$);
SELECT pg_temp.err($$SELECT auth.create_magic_link('redirect@example.com', 'https://app.example/next')$$);
SELECT pg_temp.err($$SELECT auth.create_magic_link('not an email')$$);
SELECT pg_temp.err($$SELECT auth.create_magic_link(NULL)$$);

-- A new request supersedes the older unused link.
SELECT auth.create_magic_link('old@example.com') AS first \gset
SELECT auth.create_magic_link('old@example.com') AS second \gset
SELECT pg_temp.err(format('SELECT auth.consume_magic_link(%L)', :'first'));
SELECT user_id = :'old' AS second_works FROM auth.consume_magic_link(:'second');

-- Someone signed the victim's address up with a password of their own and
-- never verified it; when the owner of the mailbox signs in by link, that
-- password and its sessions are gone.
SELECT auth.sign_up('claimed@example.com', 'squatter password') AS claimed \gset
SELECT token AS squatter_session FROM auth.sign_in('claimed@example.com', 'squatter password') \gset
SELECT is_new_user, user_id = :'claimed' AS same_account
  FROM auth.consume_magic_link(auth.create_magic_link('claimed@example.com'));
SELECT password_hash IS NULL AS password_cleared, email_verified_at IS NOT NULL AS verified
  FROM auth.users WHERE id = :'claimed';
SELECT user_id IS NULL AS squatter_session_revoked FROM auth.verify_session(:'squatter_session');
SELECT pg_temp.err($$SELECT auth.sign_in('claimed@example.com', 'squatter password')$$);
-- A verified account keeps its password when its owner uses a link.
SELECT auth.sign_up('kept@example.com', 'kept password') AS kept \gset
SELECT auth.verify_email(auth.create_email_verification(:'kept'), 'kept password') = :'kept' AS verified;
SELECT user_id = :'kept' AS signed_in FROM auth.consume_magic_link(auth.create_magic_link('kept@example.com'));
SELECT password_hash IS NOT NULL AS password_kept FROM auth.users WHERE id = :'kept';

-- A suspended user's link opens nothing.
SELECT auth.create_magic_link('old@example.com') AS banned_link \gset
UPDATE auth.users SET banned_until = 'infinity' WHERE id = :'old';
SELECT pg_temp.err(format('SELECT auth.consume_magic_link(%L)', :'banned_link'));
UPDATE auth.users SET banned_until = NULL WHERE id = :'old';

-- With auth.magic_link_sign_up off, an unknown email gets no account.
SET auth.magic_link_sign_up = off;
SELECT pg_temp.err(format('SELECT auth.consume_magic_link(%L)', auth.create_magic_link('stranger@example.com')));
SELECT count(*) AS stranger_created FROM auth.users WHERE email = 'stranger@example.com';
RESET auth.magic_link_sign_up;

-- Rate limit: auth.magic_link_rate_limit requests per email per window,
-- links and codes together; other emails are not affected.
DELETE FROM auth.one_time_secrets;
SELECT count(auth.create_magic_link('busy@example.com')) AS issued FROM generate_series(1, 4);
SELECT auth.create_email_code('busy@example.com') ~ '^[0-9]{6}$' AS fifth_is_a_code;
SELECT pg_temp.err($$SELECT auth.create_magic_link('busy@example.com')$$);
SELECT pg_temp.err($$SELECT auth.create_email_code('BUSY@example.com')$$);
SELECT auth.create_magic_link('calm@example.com') IS NOT NULL AS other_email_ok;
SET auth.time_offset = '61min';
SELECT auth.create_magic_link('busy@example.com') IS NOT NULL AS after_window;
RESET auth.time_offset;
SET auth.magic_link_rate_limit = 100;
SELECT auth.create_magic_link('busy@example.com') IS NOT NULL AS limit_is_a_setting;
RESET auth.magic_link_rate_limit;

-- Allow-list: once it has rows, other emails get 42501 (EMAIL_NOT_ALLOWED).
SELECT auth.allow_email('boss@corp.example');
SELECT auth.allow_email('@staff.example');
SELECT pg_temp.err($$SELECT auth.allow_email('not a pattern')$$);
SELECT auth.create_magic_link('Boss@corp.example') IS NOT NULL AS address_allowed;
SELECT auth.create_magic_link('anyone@staff.example') IS NOT NULL AS domain_allowed;
SELECT pg_temp.err($$SELECT auth.create_magic_link('intruder@corp.example')$$);
SELECT pg_temp.err($$SELECT auth.create_magic_link('x@sub.staff.example')$$);
SELECT pg_temp.err($$SELECT auth.create_email_code('intruder@corp.example')$$);
SELECT auth.disallow_email('@staff.example') AS removed, auth.disallow_email('@nowhere.example') AS absent;
SELECT pg_temp.err($$SELECT auth.create_magic_link('anyone@staff.example')$$);
SELECT auth.disallow_email('boss@corp.example');
SELECT auth.create_magic_link('anyone@staff.example') IS NOT NULL AS empty_list_allows_all;

-- Audited without the secret.
SELECT event, count(*) FROM auth.audit_log
 WHERE event IN ('magic_link_requested', 'email_code_requested') AND id > :audit_start
 GROUP BY event ORDER BY event;
SELECT count(*) AS secrets_in_audit FROM auth.audit_log l WHERE strpos(l::text, 'mlk_') > 0;
