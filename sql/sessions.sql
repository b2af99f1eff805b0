-- Sessions: issuing, verifying, sliding expiry, revocation, authenticate.
\i sql/include/setup.psql
\i sql/include/settled.psql

SELECT auth.sign_up('sam@example.com', 'sam password') AS sam \gset
SELECT auth.sign_up('tia@example.com', 'tia password') AS tia \gset
SELECT token AS sam1, session_id AS sam1_id FROM auth.sign_in('sam@example.com', 'sam password', '192.0.2.1', 'regress-agent') \gset
SELECT token AS tia1, session_id AS tia1_id FROM auth.sign_in('tia@example.com', 'tia password') \gset

-- Tokens: "ses_" and 43 base64url characters; only their SHA-256 is stored.
SELECT :'sam1' ~ '^ses_[A-Za-z0-9_-]{43}$' AS token_shape;
SELECT token_hash = sha256(convert_to(:'sam1', 'UTF8')) AS hash_at_rest, ip, user_agent,
       expires_at - created_at AS lifetime
  FROM auth.sessions WHERE id = :'sam1_id';
SELECT count(*) AS plaintext_copies FROM auth.sessions s WHERE s::text LIKE '%' || :'sam1' || '%';

-- verify_session: the user, session and expiry of a live token ...
SELECT user_id = :'sam' AS right_user, session_id = :'sam1_id' AS right_session,
       expires_at > now() AS live
  FROM auth.verify_session(:'sam1');
-- ... and NULLs, never an error, for anything else.
SELECT v.* FROM (VALUES ('ses_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA'), ('ses_short'),
                        (''), ('mlk_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA'),
                        (repeat('x', 100000)), ('ses_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA!'),
                        (upper(:'sam1'))) t(token),
       LATERAL auth.verify_session(t.token) v;
SELECT * FROM auth.verify_session(NULL);
-- A token of the wrong kind or shape reads no table; a well-shaped one costs
-- one probe of the token index.
BEGIN;
SELECT pg_stat_get_xact_numscans('auth.sessions_token_hash_key'::regclass) AS probes \gset
SELECT count(v.user_id) AS live
  FROM (VALUES ('mlk_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA'), ('ses_short'), (''),
               ('ses_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA!'), (repeat('x', 100000))) t(token),
       LATERAL auth.verify_session(t.token) v;
SELECT pg_stat_get_xact_numscans('auth.sessions_token_hash_key'::regclass) - :probes AS probes_for_bad_shapes;
SELECT user_id IS NULL AS unknown FROM auth.verify_session('ses_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA');
SELECT pg_stat_get_xact_numscans('auth.sessions_token_hash_key'::regclass) - :probes AS probes_for_good_shape;
COMMIT;

-- authenticate: 28000 for anything but a live token.
SELECT pg_temp.err($$SELECT auth.authenticate('ses_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA')$$);
SELECT pg_temp.err($$SELECT auth.authenticate('nonsense')$$);
SELECT pg_temp.err($$SELECT auth.authenticate(NULL)$$);
SELECT pg_temp.err($$SELECT auth.authenticate('')$$);
SELECT auth.authenticate(:'sam1') = :'sam' AS returns_user;

-- Sliding expiry: no write before auth.session_refresh_age has passed ...
SELECT refreshed_at AS before_refresh, expires_at AS before_expiry FROM auth.sessions WHERE id = :'sam1_id' \gset
SET auth.time_offset = '12h';
SELECT user_id IS NOT NULL AS live FROM auth.verify_session(:'sam1');
SELECT refreshed_at = :'before_refresh' AS not_refreshed FROM auth.sessions WHERE id = :'sam1_id';
-- ... then the expiry moves to now + ttl ...
SET auth.time_offset = '2d';
SELECT expires_at - auth.now() AS remaining FROM auth.verify_session(:'sam1');
-- (a worker writes the refresh, after the call and outside its transaction)
SELECT pg_temp.settled(format('SELECT refreshed_at > created_at + interval %L FROM auth.sessions WHERE id = %L', '1d', :'sam1_id')) AS refresh_written;
SELECT refreshed_at - :'before_refresh'::timestamptz > interval '2 days' AS refreshed_later,
       expires_at - :'before_expiry'::timestamptz > interval '2 days' AS extended
  FROM auth.sessions WHERE id = :'sam1_id';
SELECT refreshed_at AS refreshed_2d FROM auth.sessions WHERE id = :'sam1_id' \gset
-- ... and a read-only transaction (PostgREST runs each GET in one) hands
-- the refresh off too: the worker writes it in a transaction of its own.
SET auth.time_offset = '4d';
BEGIN READ ONLY;
SELECT user_id IS NOT NULL AS live_read_only FROM auth.verify_session(:'sam1');
COMMIT;
SELECT pg_temp.settled(format('SELECT refreshed_at > %L FROM auth.sessions WHERE id = %L', :'refreshed_2d', :'sam1_id')) AS refreshed_read_only;
-- Used every few days it lives on, but never past created_at +
-- auth.session_max_lifetime (30 days) ...
SET auth.time_offset = '8d';
SELECT user_id IS NOT NULL AS live_8d FROM auth.verify_session(:'sam1');
SELECT pg_temp.settled(format('SELECT refreshed_at > created_at + interval %L FROM auth.sessions WHERE id = %L', '7d', :'sam1_id')) AS refresh_written;
SET auth.time_offset = '14d';
SELECT user_id IS NOT NULL AS live_14d FROM auth.verify_session(:'sam1');
SELECT pg_temp.settled(format('SELECT refreshed_at > created_at + interval %L FROM auth.sessions WHERE id = %L', '13d', :'sam1_id')) AS refresh_written;
SET auth.time_offset = '20d';
SELECT user_id IS NOT NULL AS live_20d FROM auth.verify_session(:'sam1');
SELECT pg_temp.settled(format('SELECT refreshed_at > created_at + interval %L FROM auth.sessions WHERE id = %L', '19d', :'sam1_id')) AS refresh_written;
SET auth.time_offset = '26d';
SELECT user_id IS NOT NULL AS live_26d FROM auth.verify_session(:'sam1');
SELECT pg_temp.settled(format('SELECT refreshed_at > created_at + interval %L FROM auth.sessions WHERE id = %L', '25d', :'sam1_id')) AS refresh_written;
SELECT expires_at - created_at AS capped_lifetime FROM auth.sessions WHERE id = :'sam1_id';
-- ... and dead once expired.
SET auth.time_offset = '43201min';  -- 30 days and a minute
SELECT user_id IS NULL AS expired FROM auth.verify_session(:'sam1');
SELECT pg_temp.err(format('SELECT auth.authenticate(%L)', :'sam1'));
-- Unused for longer than auth.session_ttl, a session expires.
SET auth.time_offset = '0';
SELECT token AS idle FROM auth.sign_in('sam@example.com', 'sam password') \gset
SET auth.time_offset = '10081min';  -- 7 days and a minute
SELECT user_id IS NULL AS idle_expired FROM auth.verify_session(:'idle');
RESET auth.time_offset;

-- Only a superuser may move the clock.
CREATE ROLE regress_clock;
SET ROLE regress_clock;
SELECT pg_temp.err($$SET auth.time_offset = '1d'$$);
SELECT pg_temp.err($$SET auth.session_ttl = '1000d'$$);
RESET ROLE;
DROP ROLE regress_clock;

-- A session's lifetime can be chosen at creation (admin), capped by the maximum.
SELECT token AS sam2, session_id AS sam2_id FROM auth.create_session(:'sam', '1 hour') \gset
SELECT expires_at - created_at AS one_hour FROM auth.sessions WHERE id = :'sam2_id';
SELECT expires_at - created_at AS capped FROM auth.create_session(:'sam', '400 days') c
  JOIN auth.sessions s ON s.id = c.session_id;
SELECT pg_temp.err(format('SELECT auth.create_session(%L, %L)', :'sam', '-1 hour'));
SELECT pg_temp.err($$SELECT auth.create_session('00000000-0000-0000-0000-000000000000')$$);

-- list_sessions: own live sessions, never tokens, with the current one marked.
BEGIN;
SELECT auth.authenticate(:'sam2') IS NOT NULL AS authenticated;
SELECT count(*) AS live_sessions, count(*) FILTER (WHERE is_current) AS current,
       bool_and(id <> :'tia1_id') AS only_own
  FROM auth.list_sessions();
-- revoke_session: someone else's session is not touched.
SELECT auth.revoke_session(:'tia1_id') AS revoked_other_users;
SELECT auth.revoke_session('00000000-0000-0000-0000-000000000000') AS revoked_unknown;
SELECT auth.revoke_session(NULL) IS NULL AS null_in_null_out;
-- revoke_other_sessions keeps the current one.
SELECT auth.revoke_other_sessions() AS revoked_others;
SELECT count(*) AS left_live FROM auth.list_sessions();
COMMIT;
SELECT (auth.verify_session(:'tia1')).user_id = :'tia' AS tia_untouched;

-- Anonymous callers of self-service functions get 28000.
SELECT pg_temp.err($$SELECT auth.revoke_session('00000000-0000-0000-0000-000000000000')$$);
SELECT pg_temp.err($$SELECT auth.revoke_other_sessions()$$);
SELECT pg_temp.err($$SELECT * FROM auth.list_sessions()$$);
SELECT auth.sign_out() AS sign_out_anonymous;

-- sign_out revokes the current session and clears the identity at once.
BEGIN;
SELECT auth.authenticate(:'sam2') IS NOT NULL AS authenticated;
SELECT auth.sign_out() AS signed_out;
SELECT auth.uid() IS NULL AS identity_cleared;
COMMIT;
SELECT user_id IS NULL AS token_refused FROM auth.verify_session(:'sam2');
SELECT revoked_reason FROM auth.sessions WHERE id = :'sam2_id';

-- A banned user's sessions stop verifying, and verify again after the ban.
SELECT token AS tia2 FROM auth.sign_in('tia@example.com', 'tia password') \gset
UPDATE auth.users SET banned_until = now() + interval '1 day' WHERE id = :'tia';
SELECT user_id IS NULL AS banned_refused FROM auth.verify_session(:'tia2');
SELECT pg_temp.err(format('SELECT auth.authenticate(%L)', :'tia2'));
SET auth.time_offset = '25h';
SELECT user_id = :'tia' AS ban_over FROM auth.verify_session(:'tia2');
RESET auth.time_offset;
UPDATE auth.users SET banned_until = NULL WHERE id = :'tia';

-- revoke_user_sessions (admin) revokes every session of a user.
SELECT auth.revoke_user_sessions(:'tia') AS revoked;
SELECT user_id IS NULL AS tia_refused FROM auth.verify_session(:'tia2');
SELECT auth.revoke_user_sessions(:'tia') AS none_left;

-- Deleting a user deletes their sessions.
DELETE FROM auth.users WHERE id = :'tia';
SELECT count(*) AS orphans FROM auth.sessions WHERE user_id = :'tia';
