-- Multi-factor authentication: TOTP (RFC 6238 vectors, enrollment, replay,
-- drift), challenges on every first factor, verify_mfa, recovery codes,
-- email as a second factor, step-up, the assurance level in the identity,
-- attempt limits across autocommit statements, and every bypass refused.
\i sql/include/setup.psql
\i sql/include/as_user.psql
\i sql/include/totp.psql

-- RFC 6238 Appendix B: the seeds of the three algorithms imported as
-- factors, each code of the table matched at its time, exactly (window 0).
SELECT auth.sign_up('rfc@mfa.example', 'rfc password') AS rfc \gset
SELECT auth.import_totp_factor(:'rfc', 'GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ', 'SHA1', 8, 'sha1') AS f_sha1,
       auth.import_totp_factor(:'rfc', 'GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQGEZA', 'SHA256', 8, 'sha256') AS f_sha256,
       auth.import_totp_factor(:'rfc', 'GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQGEZDGNA', 'SHA512', 8, 'sha512') AS f_sha512
\gset
CREATE TEMP TABLE rfc_vectors (t bigint, algorithm text, code text);
INSERT INTO rfc_vectors VALUES
    (59, 'SHA1', '94287082'), (59, 'SHA256', '46119246'), (59, 'SHA512', '90693936'),
    (1111111109, 'SHA1', '07081804'), (1111111109, 'SHA256', '68084774'), (1111111109, 'SHA512', '25091201'),
    (1111111111, 'SHA1', '14050471'), (1111111111, 'SHA256', '67062674'), (1111111111, 'SHA512', '99943326'),
    (1234567890, 'SHA1', '89005924'), (1234567890, 'SHA256', '91819424'), (1234567890, 'SHA512', '93441116'),
    (2000000000, 'SHA1', '69279037'), (2000000000, 'SHA256', '90698825'), (2000000000, 'SHA512', '38618901'),
    (20000000000, 'SHA1', '65353130'), (20000000000, 'SHA256', '77737706'), (20000000000, 'SHA512', '47863826');
SELECT v.t, v.algorithm,
       auth._totp_match(f.id, f.secret_sealed, f.algorithm, f.digits, v.code,
                        to_timestamp(v.t), 0) = v.t / 30 AS matches,
       auth._totp_match(f.id, f.secret_sealed, f.algorithm, f.digits, v.code,
                        to_timestamp(v.t + 30), 0) IS NULL AS not_a_step_later,
       pg_temp.totp(CASE v.algorithm WHEN 'SHA1' THEN 'GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ'
                        WHEN 'SHA256' THEN 'GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQGEZA'
                        ELSE 'GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQGEZDGNA' END,
                    to_timestamp(v.t), 8, lower(v.algorithm)) = v.code AS helper_agrees
  FROM rfc_vectors v JOIN auth.mfa_factors f ON f.user_id = :'rfc' AND f.algorithm = v.algorithm
 ORDER BY v.t, v.algorithm;
-- A sealed seed opens for its own row only (the row id is associated data).
SELECT auth._totp_match(:'f_sha256', f.secret_sealed, 'SHA1', 8, '89005924',
                        to_timestamp(1234567890), 0) IS NULL AS other_row_does_not_open
  FROM auth.mfa_factors f WHERE f.id = :'f_sha1';
-- End to end at T = 1234567890 (the clock moved there): a password
-- sign-in yields a challenge, the RFC's SHA-1 code redeems it.
SELECT pg_temp.clock_at(1234567890);
SELECT mfa_challenge AS rfc_challenge, token IS NULL AS no_token
  FROM auth.sign_in('rfc@mfa.example', 'rfc password') \gset
SELECT :'no_token' AS no_session, :'rfc_challenge' LIKE 'mfc\_%' AS challenge_shape;
SELECT token IS NOT NULL AS session, user_id = :'rfc' AS right_user
  FROM auth.verify_mfa(:'rfc_challenge', '89005924');
RESET auth.time_offset;
-- Password reset sets the password, opens no session, leaves the factors
-- (of a verified account: a reset that claims a never-verified one ends
-- them, below).
UPDATE auth.users SET email_verified_at = now() WHERE id = :'rfc';
SELECT auth.request_password_reset('rfc@mfa.example') AS rfc_reset \gset
SELECT auth.reset_password(:'rfc_reset', 'rfc new password') = :'rfc' AS reset;
SELECT count(*) AS sessions, (SELECT count(*) FROM auth.mfa_factors WHERE user_id = :'rfc') AS factors_left
  FROM auth.sessions WHERE user_id = :'rfc' AND revoked_at IS NULL;
SELECT token IS NULL AS no_token, mfa_challenge IS NOT NULL AS challenge
  FROM auth.sign_in('rfc@mfa.example', 'rfc new password');
-- Bad imports.
SELECT pg_temp.err(format('SELECT auth.import_totp_factor(%L, %L)', :'rfc', 'not base32!'));
SELECT pg_temp.err(format('SELECT auth.import_totp_factor(%L, %L)', :'rfc', 'GEZDGNBV'));
SELECT pg_temp.err(format('SELECT auth.import_totp_factor(%L, %L, %L)', :'rfc', 'GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ', 'MD5'));
SELECT pg_temp.err(format('SELECT auth.import_totp_factor(%L, %L, %L, 7)', :'rfc', 'GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ', 'SHA1'));
SELECT pg_temp.err(format('SELECT auth.import_totp_factor(%L, %L)', gen_random_uuid(), 'GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ'));

-- Enrollment: a session's, not an API key's.
SELECT auth.sign_up('mia@mfa.example', 'mia password') AS mia \gset
UPDATE auth.users SET email_verified_at = now() WHERE id = :'mia';
SELECT token AS mia1 FROM auth.sign_in('mia@mfa.example', 'mia password') \gset
SELECT pg_temp.as_user(:'mia1', $$SELECT auth.aal() || ' ' || (auth.amr()->0->>'method') || ' ' || (auth.auth_time() IS NOT NULL)$$) AS before_mfa;
SELECT pg_temp.as_user(:'mia1', $$SELECT (auth.create_api_key('ci')).key$$) AS mia_key \gset
SELECT pg_temp.as_key(:'mia_key', $$SELECT auth.enroll_totp()$$) AS key_enrolls;
SELECT pg_temp.as_key(:'mia_key', $$SELECT auth.aal() || coalesce(auth.amr()::text, ' no amr')$$) AS key_aal;
BEGIN;
SELECT auth.authenticate(:'mia1') IS NOT NULL AS authenticated;
SELECT pg_temp.err($$SELECT auth.enroll_totp(repeat('l', 65))$$);
SELECT factor_id AS mia_f, secret AS mia_secret, uri AS mia_uri FROM auth.enroll_totp('phone') \gset
COMMIT;
SELECT length(:'mia_secret') AS secret_chars, :'mia_secret' ~ '^[A-Z2-7]{32}$' AS base32,
       :'mia_uri' = 'otpauth://totp/auth:mia%40mfa.example?secret=' || :'mia_secret'
                    || '&issuer=auth&algorithm=SHA1&digits=6&period=30' AS uri;
-- Unverified, it asks for nothing yet.
SELECT token IS NOT NULL AS session, mfa_challenge IS NULL AS no_challenge
  FROM auth.sign_in('mia@mfa.example', 'mia password');
-- Another session of hers, opened before, stays aal1 (it showed no second factor).
SELECT token AS mia_aal1 FROM auth.sign_in('mia@mfa.example', 'mia password') \gset
SELECT pg_temp.as_user(:'mia1', format('SELECT auth.verify_totp_enrollment(%L, %L)', :'mia_f', '000000')) AS wrong_code;
SELECT pg_temp.as_user(:'mia1', format('SELECT auth.verify_totp_enrollment(%L, %L)', gen_random_uuid(), '000000')) AS unknown_factor;
BEGIN;
SELECT auth.authenticate(:'mia1') IS NOT NULL AS authenticated;
SELECT auth.verify_totp_enrollment(:'mia_f', pg_temp.totp(:'mia_secret', auth.now())) AS verified;
-- the code shown raised this session to aal2
SELECT auth.aal(), jsonb_array_length(auth.amr()) AS factors, auth.amr()->1->>'method' AS second;
SELECT id = :'mia_f' AS listed, type, label, verified FROM auth.list_factors();
SELECT auth.generate_recovery_codes() AS mia_codes \gset
COMMIT;
SELECT array_length(:'mia_codes'::text[], 1) AS codes,
       (SELECT count(DISTINCT c) FROM unnest(:'mia_codes'::text[]) c) AS distinct_codes,
       (:'mia_codes'::text[])[1] ~ '^[a-z2-7]{4}(-[a-z2-7]{4}){3}$' AS code_shape;
SELECT (:'mia_codes'::text[])[1] AS rc1, (:'mia_codes'::text[])[2] AS rc2,
       (:'mia_codes'::text[])[3] AS rc3 \gset

-- From now on every first factor yields a challenge, never a session.
SELECT token IS NULL AS no_token, session_id IS NULL AS no_session, mfa_challenge LIKE 'mfc\_%' AS challenge
  FROM auth.sign_in('mia@mfa.example', 'mia password');
SELECT auth.create_magic_link('mia@mfa.example') AS mia_link \gset
SELECT token IS NULL AS no_token, mfa_challenge IS NOT NULL AS challenge, is_new_user
  FROM auth.consume_magic_link(:'mia_link');
SELECT auth.create_email_code('mia@mfa.example') AS mia_code \gset
SELECT token IS NULL AS no_token, mfa_challenge IS NOT NULL AS challenge
  FROM auth.sign_in_with_code('mia@mfa.example', :'mia_code');
SELECT count(*) AS sessions_opened FROM auth.sessions
 WHERE user_id = :'mia' AND created_at > now() - interval '1 minute' AND aal = 1
   AND id NOT IN (SELECT id FROM auth.sessions WHERE token_hash IN
                  (auth._token_hash(:'mia1', 'ses'), auth._token_hash(:'mia_aal1', 'ses')));

-- verify_mfa: challenges of the wrong shape, unknown, or expired.
SELECT mfa_challenge AS ch1 FROM auth.sign_in('mia@mfa.example', 'mia password') \gset
SELECT pg_temp.err($$SELECT auth.verify_mfa('mfc_short', '123456')$$);
SELECT pg_temp.err($$SELECT auth.verify_mfa(NULL, '123456')$$);
SELECT pg_temp.err(format('SELECT auth.verify_mfa(%L, %L)', :'mia1', '123456')) AS session_token_as_challenge;
SELECT pg_temp.err(format('SELECT auth.verify_mfa(%L, NULL)', :'ch1'));
-- past its bound (64 characters), refused before anything is counted
SELECT pg_temp.err(format('SELECT auth.verify_mfa(%L, %L)', :'ch1', repeat('1', 65))) AS huge_code,
       (SELECT count(*) FROM auth.attempts WHERE scope = 'mfa_challenge') AS challenge_tries;
SET auth.time_offset = '301s';
SELECT pg_temp.err(format('SELECT auth.verify_mfa(%L, %L)', :'ch1', pg_temp.totp(:'mia_secret', auth.now())));
RESET auth.time_offset;
-- A wrong code: 28000, nothing leaked; the right one opens an aal2 session.
SELECT mfa_challenge AS ch2 FROM auth.sign_in('mia@mfa.example', 'mia password') \gset
SELECT pg_temp.err(format('SELECT auth.verify_mfa(%L, %L)', :'ch2', '999999')) AS wrong;
SET auth.time_offset = '120s';
SELECT token AS mia2, session_id AS mia2_sid
  FROM auth.verify_mfa(:'ch2', pg_temp.totp(:'mia_secret', auth.now()), '10.0.0.1', 'agent') \gset
SELECT aal, amr->0->>'method' AS first, amr->1->>'method' AS second, auth_time IS NOT NULL AS auth_time
  FROM auth.sessions WHERE id = :'mia2_sid';
SELECT pg_temp.as_user(:'mia2', $$SELECT auth.aal()$$) AS aal;
-- The challenge is used up, and the same code (its time step) is not
-- accepted again, with any challenge.
SELECT pg_temp.err(format('SELECT auth.verify_mfa(%L, %L)', :'ch2', pg_temp.totp(:'mia_secret', auth.now())));
SELECT mfa_challenge AS ch3 FROM auth.sign_in('mia@mfa.example', 'mia password') \gset
SELECT pg_temp.err(format('SELECT auth.verify_mfa(%L, %L)', :'ch3', pg_temp.totp(:'mia_secret', auth.now()))) AS replay;
-- ... nor a code of an earlier step, within the window.
SET auth.time_offset = '150s';
SELECT pg_temp.err(format('SELECT auth.verify_mfa(%L, %L)', :'ch3', pg_temp.totp(:'mia_secret', auth.now() - interval '60s'))) AS earlier_step;
-- Drift: one step each way is accepted (auth.totp_window = 1), two are not.
SET auth.time_offset = '300s';
SELECT mfa_challenge AS ch4 FROM auth.sign_in('mia@mfa.example', 'mia password') \gset
SELECT token IS NOT NULL AS one_step_behind
  FROM auth.verify_mfa(:'ch4', pg_temp.totp(:'mia_secret', auth.now() - interval '30s'));
SET auth.time_offset = '600s';
SELECT mfa_challenge AS ch4 FROM auth.sign_in('mia@mfa.example', 'mia password') \gset
SELECT pg_temp.err(format('SELECT auth.verify_mfa(%L, %L)', :'ch4', pg_temp.totp(:'mia_secret', auth.now() + interval '60s'))) AS two_steps_ahead;
SELECT pg_temp.err(format('SELECT auth.verify_mfa(%L, %L)', :'ch4', pg_temp.totp(:'mia_secret', auth.now() - interval '60s'))) AS two_steps_behind;
SELECT token IS NOT NULL AS one_step_ahead
  FROM auth.verify_mfa(:'ch4', pg_temp.totp(:'mia_secret', auth.now() + interval '30s'));
SET auth.time_offset = '900s';
SELECT mfa_challenge AS ch5 FROM auth.sign_in('mia@mfa.example', 'mia password') \gset
SET auth.totp_window = 0;
SELECT pg_temp.err(format('SELECT auth.verify_mfa(%L, %L)', :'ch5', pg_temp.totp(:'mia_secret', auth.now() - interval '30s'))) AS window_0;
RESET auth.totp_window;
SELECT pg_temp.err('SET auth.totp_window = 3');
DELETE FROM auth.attempts WHERE scope = 'mfa';   -- the wrong tries so far

-- Recovery codes: each once, in any case and spacing; regenerating voids
-- the set.
SELECT token IS NOT NULL AS recovered FROM auth.verify_mfa(:'ch5', upper(:'rc1'));
SELECT mfa_challenge AS ch6 FROM auth.sign_in('mia@mfa.example', 'mia password') \gset
SELECT pg_temp.err(format('SELECT auth.verify_mfa(%L, %L)', :'ch6', :'rc1')) AS reused;
SELECT token IS NOT NULL AS recovered FROM auth.verify_mfa(:'ch6', ' ' || replace(:'rc2', '-', ' ') || ' ');
SELECT count(*) FILTER (WHERE used_at IS NULL) AS unused, count(*) AS total
  FROM auth.mfa_recovery_codes WHERE user_id = :'mia';
SELECT pg_temp.as_user(:'mia1', $$SELECT array_length(auth.generate_recovery_codes(), 1)::text$$) AS aal1_generates;
SELECT pg_temp.as_user(:'mia2', $$SELECT array_length(auth.generate_recovery_codes(), 1)::text$$) AS regenerated;
SELECT mfa_challenge AS ch7 FROM auth.sign_in('mia@mfa.example', 'mia password') \gset
SELECT pg_temp.err(format('SELECT auth.verify_mfa(%L, %L)', :'ch7', :'rc3')) AS old_set;
DELETE FROM auth.attempts WHERE scope LIKE 'mfa%';
SELECT event, count(*) FROM auth.audit_log
 WHERE user_id = :'mia' AND event IN ('recovery_code_used', 'recovery_codes_generated', 'mfa_verified')
 GROUP BY event ORDER BY event;

-- Wrong codes count durably per challenge, each its own autocommit
-- statement rolled back by its error; the 6th try is refused even right.
SET auth.time_offset = '1200s';
SELECT mfa_challenge AS ch7 FROM auth.sign_in('mia@mfa.example', 'mia password') \gset
SELECT pg_temp.err(format('SELECT auth.verify_mfa(%L, %L)', :'ch7', '000001'));
SELECT pg_temp.err(format('SELECT auth.verify_mfa(%L, %L)', :'ch7', '000002'));
SELECT pg_temp.err(format('SELECT auth.verify_mfa(%L, %L)', :'ch7', '000003'));
SELECT pg_temp.err(format('SELECT auth.verify_mfa(%L, %L)', :'ch7', '000004'));
SELECT pg_temp.err(format('SELECT auth.verify_mfa(%L, %L)', :'ch7', '000005'));
SELECT pg_temp.err(format('SELECT auth.verify_mfa(%L, %L)', :'ch7', pg_temp.totp(:'mia_secret', auth.now())));
-- ... and per user, across challenges (a new sign-in does not reset it).
SELECT mfa_challenge AS ch8 FROM auth.sign_in('mia@mfa.example', 'mia password') \gset
SELECT pg_temp.err(format('SELECT auth.verify_mfa(%L, %L)', :'ch8', pg_temp.totp(:'mia_secret', auth.now())));
SELECT count(*) AS failures_audited FROM auth.audit_log WHERE user_id = :'mia' AND event = 'mfa_failed';
-- The per-user refusal carries its retry time in the hint (issue 13's
-- machine-readable form); the per-challenge one has none: sign in again.
CREATE FUNCTION pg_temp.hint_of(statement text) RETURNS text LANGUAGE plpgsql AS $f$
DECLARE h text;
BEGIN
    EXECUTE statement;
    RETURN NULL;
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS h = PG_EXCEPTION_HINT;
    RETURN h;
END $f$;
SELECT auth.retry_after(pg_temp.hint_of(format('SELECT auth.verify_mfa(%L, %L)', :'ch8', '000007'))) > 0
       AS per_user_retry_after,
       auth.retry_after(pg_temp.hint_of(format('SELECT auth.verify_mfa(%L, %L)', :'ch7', '000007'))) IS NULL
       AS per_challenge_not_retryable;
-- Also plain autocommit statements that fail.
SELECT auth.verify_mfa(:'ch8', '000006');
-- Both counts of a try go to the background worker in one request (op
-- 'attempts'): one clock reading stamps the challenge's row and the user's.
SELECT count(*) AS user_tries_counted_with_their_challenge
  FROM auth.attempts u
 WHERE u.scope = 'mfa' AND u.key = uuid_send(:'mia')
   AND EXISTS (SELECT FROM auth.attempts c
                WHERE c.scope = 'mfa_challenge' AND c.attempted_at = u.attempted_at);
-- op 'attempts' itself: every key locked, then each counted in the order
-- given; the first refused one ends the count (later ones not counted).
CREATE TEMP TABLE tries AS
SELECT jsonb_build_object('op', 'attempts', 'at', now(), 'attempts', jsonb_build_array(
           jsonb_build_object('scope', 'test_a', 'key', 'aa', 'window', '1 hour', 'max', 2),
           jsonb_build_object('scope', 'test_b', 'key', 'BB', 'window', '1 hour', 'max', 1),
           jsonb_build_object('scope', 'test_c', 'key', 'cc', 'window', '1 hour', 'max', 5))) AS r;
CREATE TEMP TABLE answers (n int, a jsonb);
INSERT INTO answers SELECT g, auth._autonomous(r)->'attempts' FROM tries, generate_series(1, 3) g;
SELECT n, jsonb_path_query_array(a, '$[*].allowed') AS allowed,
       jsonb_path_query_array(a, '$[*].count') AS counts,
       jsonb_path_query_array(a, '$[*].retry_at') <> '[]' AS says_when
  FROM answers ORDER BY n;
SELECT scope, encode(key, 'hex') AS key, count(*) FROM auth.attempts
 WHERE scope LIKE 'test\_%' GROUP BY 1, 2 ORDER BY 1;
SELECT pg_temp.err($$SELECT auth._autonomous('{"op": "attempts", "attempts": {}}')$$) AS not_an_array;
DELETE FROM auth.attempts WHERE scope LIKE 'test\_%';
-- Once the window has passed, the right code works.
SET auth.time_offset = '2400s';
SELECT mfa_challenge AS ch9 FROM auth.sign_in('mia@mfa.example', 'mia password') \gset
SELECT token IS NOT NULL AS after_window FROM auth.verify_mfa(:'ch9', pg_temp.totp(:'mia_secret', auth.now()));
RESET auth.time_offset;

-- Step-up: an aal1 session raises itself with a code.
SET auth.time_offset = '2700s';
BEGIN;
SELECT auth.authenticate(:'mia_aal1') IS NOT NULL AS authenticated;
SELECT auth.aal() AS before;
SELECT auth.step_up_mfa('123456') AS wrong_step_up;
SELECT auth.step_up_mfa(pg_temp.totp(:'mia_secret', auth.now())) AS stepped_up;
SELECT auth.aal() AS after, auth.amr()->1->>'method' AS method;
COMMIT;
SELECT pg_temp.as_user(:'mia_aal1', $$SELECT auth.aal()$$) AS stays_aal2;
-- A second step-up with the same method moves its time: amr keeps one
-- entry per method (every JWT the session issues carries it).
SET auth.time_offset = '2760s';
SELECT pg_temp.as_user(:'mia_aal1', format('SELECT auth.step_up_mfa(%L)', pg_temp.totp(:'mia_secret', auth.now()))) AS stepped_up_again;
SELECT pg_temp.as_user(:'mia_aal1', $$SELECT jsonb_array_length(auth.amr()) || ' entries, totp ' ||
    (SELECT count(*) FROM jsonb_array_elements(auth.amr()) e WHERE e->>'method' = 'totp') || ', ' ||
    ((auth.amr()->-1->>'at')::timestamptz = auth.auth_time())::text$$) AS amr_after_second_step_up;
SELECT pg_temp.as_user(:'mia_aal1', $$SELECT (auth.me()).aal$$) AS me_aal;
RESET auth.time_offset;

-- Bypasses, all refused: an aal1 session cannot add or strip factors, nor
-- make codes; a key it makes is aal1.
SELECT token AS mia_plain FROM auth.create_session(:'mia') \gset
SELECT pg_temp.as_user(:'mia_plain', $$SELECT auth.aal()$$) AS admin_session;
SELECT pg_temp.as_user(:'mia_plain', format('SELECT auth.remove_factor(%L)', :'mia_f')) AS remove_from_aal1;
SELECT pg_temp.as_user(:'mia_plain', $$SELECT (auth.enroll_totp()).factor_id$$) AS enroll_from_aal1;
SELECT pg_temp.as_user(:'mia_plain', $$SELECT auth.enable_email_factor()$$) AS email_from_aal1;
SELECT pg_temp.as_user(:'mia_plain', $$SELECT (auth.create_api_key('from aal1')).key$$) AS key_aal1 \gset
SELECT pg_temp.as_user(:'mia2', $$SELECT (auth.create_api_key('from aal2')).key$$) AS key_aal2 \gset
SELECT pg_temp.as_key(:'key_aal1', $$SELECT auth.aal()$$) AS key1, pg_temp.as_key(:'key_aal2', $$SELECT auth.aal()$$) AS key2;
-- A key made by an aal2 key is aal2; an admin's key for the user aal1.
SELECT pg_temp.as_key(:'key_aal2', $$SELECT (auth.create_api_key('child')).key$$) AS key_child \gset
SELECT pg_temp.as_key(:'key_child', $$SELECT auth.aal()$$) AS child;
SELECT (auth.create_api_key_for(:'mia', 'admin made')).key AS key_admin \gset
SELECT pg_temp.as_key(:'key_admin', $$SELECT auth.aal()$$) AS admin_key;

-- Email as a second factor.
SET auth.time_offset = '3000s';
SELECT mfa_challenge AS ch10 FROM auth.sign_in('mia@mfa.example', 'mia password') \gset
SELECT token AS mia3 FROM auth.verify_mfa(:'ch10', pg_temp.totp(:'mia_secret', auth.now())) \gset
SELECT mfa_challenge AS ch11 FROM auth.sign_in('mia@mfa.example', 'mia password') \gset
SELECT pg_temp.err(format('SELECT auth.create_mfa_email_code(%L)', :'ch11')) AS not_enabled;
SELECT pg_temp.as_user(:'mia3', $$SELECT auth.enable_email_factor() IS NOT NULL$$) AS enabled;
SELECT auth.create_mfa_email_code(:'ch11') AS email_code \gset
SELECT :'email_code' ~ '^[0-9]{6}$' AS six_digits;
SELECT token IS NOT NULL AS by_email FROM auth.verify_mfa(:'ch11', :'email_code');
SELECT pg_temp.err(format('SELECT auth.create_mfa_email_code(%L)', :'ch11')) AS used_challenge;
SELECT pg_temp.err($$SELECT auth.create_mfa_email_code('mfc_nope')$$);
SELECT pg_temp.as_user(:'mia3', $$SELECT string_agg(type || ':' || verified, ',' ORDER BY type) FROM auth.list_factors()$$) AS factors;
RESET auth.time_offset;

-- Organizations requiring MFA: an aal1 identity is no member of them.
SELECT pg_temp.as_user(:'mia3', $$SELECT auth.create_organization('Vault', 'vault')$$) AS vault \gset
SELECT pg_temp.as_user(:'mia3', $$SELECT auth.create_organization('Open', 'open')$$) AS open_org \gset
SELECT pg_temp.as_user(:'mia3', format('SELECT auth.create_team(%L, %L)', :'vault', 'ops')) AS ops \gset
SELECT pg_temp.as_user(:'mia3', format('SELECT auth.add_team_member(%L, %L)', :'ops', :'mia')) AS team_member;
SELECT pg_temp.as_user(:'mia3', format('SELECT auth.update_organization(%L, require_mfa => true)', :'vault')) AS set_require_mfa;
SELECT pg_temp.as_user(:'mia_plain', format('SELECT auth.update_organization(%L, require_mfa => false)', :'vault')) AS aal1_cannot_unset;
SELECT detail->>'require_mfa' AS audited FROM auth.audit_log
 WHERE event = 'organization_updated' ORDER BY id DESC LIMIT 1;
SELECT pg_temp.as_user(:'mia_plain', format($$SELECT format('%%s %%s %%s %%s %%s %%s', auth.is_member(%L), auth.has_role(%L, 'owner'),
    auth.has_permission(%L, 'member:create'), auth.is_member(%L), cardinality(auth.org_ids()), cardinality(auth.team_ids()))$$,
    :'vault', :'vault', :'vault', :'open_org')) AS aal1_sees;
SELECT pg_temp.as_user(:'mia3', format($$SELECT format('%%s %%s %%s %%s %%s %%s', auth.is_member(%L), auth.has_role(%L, 'owner'),
    auth.has_permission(%L, 'member:create'), auth.is_member(%L), cardinality(auth.org_ids()), cardinality(auth.team_ids()))$$,
    :'vault', :'vault', :'vault', :'open_org')) AS aal2_sees;
SELECT pg_temp.as_user(:'mia_plain', format('SELECT count(*) FROM auth.list_members(%L)', :'vault')) AS aal1_list;
SELECT pg_temp.as_user(:'mia_plain', format('SELECT auth.set_active_organization(%L)', :'vault')) AS aal1_activate;
SELECT pg_temp.as_user(:'mia_plain', $$SELECT count(*) FROM auth.list_my_organizations()$$) AS aal1_orgs;
SELECT pg_temp.as_user(:'mia3', format('SELECT count(*) FROM auth.list_members(%L)', :'vault')) AS aal2_list;
SELECT pg_temp.as_key(:'key_aal1', format('SELECT auth.is_member(%L)', :'vault')) AS key1_member,
       pg_temp.as_key(:'key_aal2', format('SELECT auth.is_member(%L)', :'vault')) AS key2_member;
-- Nor does a JWT issued from an aal1 session reach it; auth.jwt() shows
-- each session's aal in Supabase's shape.
SELECT pg_temp.as_user(:'mia_plain', $$SELECT auth.issue_jwt()$$) AS jwt_aal1 \gset
BEGIN;
SELECT auth.authenticate_jwt(:'jwt_aal1') IS NOT NULL AS authenticated;
SELECT auth.aal() AS jwt_aal, auth.is_member(:'vault') AS jwt_member, auth.is_member(:'open_org') AS jwt_open;
COMMIT;
SELECT pg_temp.as_user(:'mia_plain', $$SELECT auth.jwt()->>'aal'$$) AS claims_aal1,
       pg_temp.as_user(:'mia3', $$SELECT auth.jwt()->>'aal'$$) AS claims_aal2;
-- A JWT issued from an aal2 session carries aal2 and the session's amr,
-- and reaches the organization.  Once its session loses the second factor
-- (downgraded, as removing the last factor or an admin's reset_mfa does),
-- the same token is aal1 at once, in auth.aal() and auth.jwt() alike, for
-- a connection-scope identity at its next transaction; with the
-- revocation check off it keeps the aal it was issued with.
SELECT token AS mia_jwt_session FROM auth._issue_session_with(:'mia', NULL, NULL, NULL, 2::smallint,
    '[{"method": "password"}, {"method": "totp"}]', auth.now()) \gset
SELECT pg_temp.as_user(:'mia_jwt_session', $$SELECT auth.issue_jwt()$$) AS jwt_aal2 \gset
SELECT v.claims->>'aal' AS claim_aal, v.claims->'amr'->1->>'method' AS second_method,
       v.claims->>'sid' = (SELECT s.id::text FROM auth.sessions s
                            WHERE s.token_hash = auth._token_hash(:'mia_jwt_session', 'ses')) AS sid_is_session
  FROM auth.verify_jwt(:'jwt_aal2') v;
SELECT (auth.verify_jwt(pg_temp.as_user(:'mia_plain', $$SELECT auth.issue_jwt()$$))).claims->>'aal' AS from_aal1;
BEGIN;
SELECT auth.authenticate_jwt(:'jwt_aal2') IS NOT NULL AS authenticated;
SELECT auth.aal() AS jwt_aal, auth.jwt()->>'aal' AS claims_aal, auth.is_member(:'vault') AS jwt_member;
COMMIT;
SELECT auth.authenticate_jwt(:'jwt_aal2', false) IS NOT NULL AS connection_scope;
SELECT auth.aal() AS before_downgrade, auth.is_member(:'vault') AS member_before;
UPDATE auth.sessions SET aal = 1 WHERE token_hash = auth._token_hash(:'mia_jwt_session', 'ses');
SELECT auth.aal() AS after_downgrade, auth.jwt()->>'aal' AS claims_after, auth.is_member(:'vault') AS member_after;
SELECT v.claims->>'aal' AS verify_claims_after, v.claims->'amr'->1->>'method' AS amr_as_issued
  FROM auth.verify_jwt(:'jwt_aal2') v;
RESET auth.identity;
BEGIN;
SELECT auth.authenticate_jwt(:'jwt_aal2') IS NOT NULL AS authenticated;
SELECT auth.aal() AS fresh_aal, auth.jwt()->>'aal' AS fresh_claims, auth.is_member(:'vault') AS fresh_member;
COMMIT;
SET auth.jwt_check_revocation = off;
BEGIN;
SELECT auth.authenticate_jwt(:'jwt_aal2') IS NOT NULL AS authenticated;
SELECT auth.aal() AS unchecked_aal;
COMMIT;
RESET auth.jwt_check_revocation;
-- A service token (issue_jwt_for) has no session behind it: aal1.
SELECT (auth.verify_jwt(auth.issue_jwt_for(:'mia', NULL, '5 minutes'))).claims->>'aal' AS service_aal;
-- The detail says why, for an application to ask for a second factor.
BEGIN;
SELECT auth.authenticate(:'mia_plain') IS NOT NULL AS authenticated;
\set VERBOSITY default
SAVEPOINT s;
SELECT auth.list_members(:'vault');
ROLLBACK TO s;
\set VERBOSITY terse
COMMIT;

-- RLS on a table of the organization: the same user's aal1 and aal2
-- sessions, serial and forced parallel.
CREATE ROLE regress_mfa_app;
CREATE TABLE vault_rows AS
    SELECT g AS id, CASE WHEN g % 2 = 0 THEN :'vault'::uuid ELSE :'open_org'::uuid END AS org_id
      FROM generate_series(1, 20000) g;
ANALYZE vault_rows;
GRANT SELECT ON vault_rows TO regress_mfa_app;
ALTER TABLE vault_rows ENABLE ROW LEVEL SECURITY;
CREATE POLICY members ON vault_rows USING (auth.is_member(org_id));
CREATE TABLE aal_rows AS SELECT g AS id FROM generate_series(1, 20000) g;
GRANT SELECT ON aal_rows TO regress_mfa_app;
ALTER TABLE aal_rows ENABLE ROW LEVEL SECURITY;
CREATE POLICY aal2_only ON aal_rows USING (auth.aal() = 'aal2');
CREATE FUNCTION pg_temp.counts(token text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    serial bigint;
    parallel bigint;
    aal_serial bigint;
    aal_parallel bigint;
    plan json;
BEGIN
    PERFORM auth.authenticate(token);
    SET LOCAL ROLE regress_mfa_app;
    SET LOCAL max_parallel_workers_per_gather = 0;
    SELECT count(*) INTO serial FROM vault_rows;
    SELECT count(*) INTO aal_serial FROM aal_rows;
    SET LOCAL max_parallel_workers_per_gather = 2;
    SET LOCAL parallel_setup_cost = 0;
    SET LOCAL parallel_tuple_cost = 0;
    SET LOCAL min_parallel_table_scan_size = 0;
    SET LOCAL parallel_leader_participation = off;
    SELECT count(*) INTO parallel FROM vault_rows;
    SELECT count(*) INTO aal_parallel FROM aal_rows;
    EXECUTE 'EXPLAIN (ANALYZE, FORMAT JSON, TIMING OFF) SELECT count(*) FROM vault_rows' INTO plan;
    RESET ROLE;
    RETURN format('serial %s parallel %s aal_rows serial %s parallel %s workers %s',
                  serial, parallel, aal_serial, aal_parallel,
                  (plan #>> '{0,Plan,Plans,0,Workers Launched}')::int > 0);
END
$$;
BEGIN;
SELECT pg_temp.counts(:'mia_plain') AS aal1;
COMMIT;
BEGIN;
SELECT pg_temp.counts(:'mia3') AS aal2;
COMMIT;

-- auth.require_mfa: every organization of a user with a factor.
SET auth.require_mfa = on;
SELECT pg_temp.as_user(:'mia_plain', format('SELECT auth.is_member(%L)', :'open_org')) AS aal1_open_org;
SELECT pg_temp.as_user(:'mia3', format('SELECT auth.is_member(%L)', :'open_org')) AS aal2_open_org;
RESET auth.require_mfa;
SELECT pg_temp.as_user(:'mia_plain', format('SELECT auth.is_member(%L)', :'open_org')) AS aal1_open_org;
SELECT pg_temp.err('SET auth.require_mfa = on; SET ROLE regress_mfa_app; SET auth.require_mfa = off');
RESET ROLE;

-- A connection-scope identity picks up a changed aal at its next
-- transaction: reset_mfa (admin, audited) drops every session to aal1.
SELECT auth.authenticate(:'mia3', false) IS NOT NULL AS authenticated;
SELECT auth.aal() AS before_reset;
SELECT auth.reset_mfa(:'mia') AS factors_removed;
SELECT auth.aal() AS after_reset, auth.is_member(:'vault') AS member;
SELECT auth._clear_identity();
SELECT pg_temp.as_key(:'key_aal2', $$SELECT auth.aal()$$) AS key_after_reset;
SELECT event, detail FROM auth.audit_log WHERE event = 'mfa_reset' AND user_id = :'mia';
SELECT count(*) AS factors, (SELECT count(*) FROM auth.mfa_recovery_codes WHERE user_id = :'mia') AS codes
  FROM auth.mfa_factors WHERE user_id = :'mia';
-- the second factors leave amr with aal2 (the first factors stay)
SELECT count(*) FILTER (WHERE s.amr @> '[{"method": "totp"}]' OR s.amr @> '[{"method": "recovery_code"}]'
                          OR s.amr @> '[{"method": "email"}]') AS second_factors_in_amr,
       count(*) FILTER (WHERE jsonb_array_length(s.amr) > 0) AS sessions_with_amr
  FROM auth.sessions s WHERE s.user_id = :'mia';
SELECT token IS NOT NULL AS session_again, mfa_challenge IS NULL AS no_challenge
  FROM auth.sign_in('mia@mfa.example', 'mia password');
SELECT pg_temp.err(format('SELECT auth.reset_mfa(%L)', gen_random_uuid()));

-- remove_factor from aal2: the last one gone, sessions drop to aal1.
SELECT auth.sign_up('rex@mfa.example', 'rex password') AS rex \gset
SELECT token AS rex1 FROM auth.sign_in('rex@mfa.example', 'rex password') \gset
SET auth.time_offset = '3300s';
BEGIN;
SELECT auth.authenticate(:'rex1') IS NOT NULL AS authenticated;
SELECT factor_id AS rex_f, secret AS rex_secret FROM auth.enroll_totp() \gset
SELECT auth.verify_totp_enrollment(:'rex_f', pg_temp.totp(:'rex_secret', auth.now())) AS verified;
SELECT auth.remove_factor(gen_random_uuid()) AS not_theirs;
SELECT auth.remove_factor(:'rex_f') AS removed;
SELECT auth.aal() AS after_remove;
COMMIT;
RESET auth.time_offset;
SELECT count(*) AS aal2_sessions FROM auth.sessions WHERE user_id = :'rex' AND aal = 2;
SELECT string_agg(event, ',' ORDER BY id) AS rex_events FROM auth.audit_log
 WHERE user_id = :'rex' AND event LIKE 'factor%';

-- A claim of a never-verified account ends the factors whoever signed it
-- up enrolled (credential lifecycle).
SELECT auth.sign_up('sam@mfa.example', 'squatter password') AS sam \gset
SELECT auth.import_totp_factor(:'sam', 'GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ') IS NOT NULL AS squatter_factor;
SELECT auth.create_magic_link('sam@mfa.example') AS sam_link \gset
SELECT token IS NOT NULL AS owner_session, mfa_challenge IS NULL AS no_challenge
  FROM auth.consume_magic_link(:'sam_link');
SELECT count(*) AS squatter_factors FROM auth.mfa_factors WHERE user_id = :'sam';

-- No secret, code or challenge in any audit row or stored in clear.
SELECT count(*) AS leaked FROM auth.audit_log
 WHERE detail::text LIKE '%' || :'mia_secret' || '%' OR detail::text LIKE '%' || :'rc1' || '%'
    OR detail::text LIKE '%mfc\_%' OR detail::text LIKE '%' || :'email_code' || '"%';
SELECT count(*) AS clear_secrets FROM auth.mfa_factors
 WHERE position(convert_to(:'mia_secret', 'UTF8') IN coalesce(secret_sealed, '')) > 0
    OR position(pg_temp.b32(:'mia_secret') IN coalesce(secret_sealed, '')) > 0;

-- The accessors: C, STABLE, PARALLEL SAFE; the internal setters closed.
SELECT proname, provolatile, proparallel, prolang = (SELECT oid FROM pg_language WHERE lanname = 'c') AS is_c,
       has_function_privilege('public', oid, 'EXECUTE') AS public
  FROM pg_proc WHERE pronamespace = 'auth'::regnamespace
   AND proname IN ('aal', 'amr', 'auth_time', '_set_identity_aal', '_totp_match', '_mfa_blocks')
 ORDER BY proname;
SELECT auth.aal() IS NULL AS nobody_aal, auth.amr() IS NULL AS nobody_amr, auth.auth_time() IS NULL AS nobody_time;
-- Nobody raises their own assurance by hand.
CREATE ROLE regress_mfa_forger;
SET ROLE regress_mfa_forger;
SELECT pg_temp.err('SELECT auth._set_identity_aal(2)');
SELECT pg_temp.err($$SET auth.identity = 'user:00000000-0000-0000-0000-000000000000!2'$$);
RESET ROLE;
DROP ROLE regress_mfa_forger;
DROP TABLE vault_rows, aal_rows;
DROP ROLE regress_mfa_app;
-- (the users of this test leave, so later tests see theirs alone)
DELETE FROM auth.users WHERE email LIKE '%@mfa.example';
