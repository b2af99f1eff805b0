-- Housekeeping: the audit log, cleanup() and check().
\i sql/include/setup.psql

DELETE FROM auth.audit_log;
SELECT auth.sign_up('aud@example.com', 'aud password') AS aud \gset
SELECT token AS aud1, session_id AS aud1_id FROM auth.sign_in('aud@example.com', 'aud password', '198.51.100.7') \gset
SELECT token AS aud2 FROM auth.sign_in('aud@example.com', 'aud password') \gset
SELECT pg_temp.err($$SELECT auth.sign_in('aud@example.com', 'wrong password')$$);
BEGIN;
SELECT auth.authenticate(:'aud1') IS NOT NULL AS authenticated;
SELECT auth.change_password('aud password', 'new aud password');
SELECT auth.sign_out();
COMMIT;

-- Every event, in order; the failed sign-in was kept although its call
-- rolled back.
SELECT event, user_id = :'aud' AS aud, session_id = :'aud1_id' AS first_session,
       host(ip) AS ip, detail
  FROM auth.audit_log ORDER BY id;
-- No secret is in it.
SELECT count(*) AS secrets_in_audit FROM auth.audit_log l
 WHERE l::text LIKE '%' || :'aud1' || '%' OR l::text LIKE '%' || :'aud2' || '%'
    OR l::text LIKE '%aud password%' OR l::text LIKE '%argon2%';

-- With auth.notify_events on (off by default), each event is also announced
-- on the channel auth_events (listened to here from a second connection,
-- through dblink): the audit row's id and the event, no account.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS dblink;
RESET client_min_messages;
SELECT dblink_connect('listener', format('dbname=%s host=%s port=%s',
       current_database(), split_part(current_setting('unix_socket_directories'), ',', 1),
       current_setting('port'))) AS listener;
SELECT dblink_exec('listener', 'LISTEN auth_events');
SET auth.notify_events = on;
-- Notifications reach the listener shortly after the commit: wait for them
-- (up to 5 s) rather than look once.
CREATE TEMP TABLE received (notify_name text, be_pid int, extra text);
CREATE FUNCTION pg_temp.await_notifications(n int DEFAULT 1) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    FOR i IN 1..100 LOOP
        INSERT INTO received SELECT * FROM dblink_get_notify('listener');
        EXIT WHEN (SELECT count(*) FROM received) >= n;
        PERFORM pg_sleep(0.05);
    END LOOP;
END $$;
SELECT auth.sign_up('notify@example.com', 'notify password') AS notify_user \gset
SELECT pg_temp.await_notifications();
SELECT notify_name, extra::jsonb->>'event' AS event,
       (SELECT l.user_id FROM auth.audit_log l WHERE l.id = (extra::jsonb->>'id')::bigint) = :'notify_user' AS right_row,
       (SELECT array_agg(k ORDER BY k) FROM jsonb_object_keys(extra::jsonb) k) AS payload_keys
  FROM received;
TRUNCATE received;
-- auth.notify_events = off keeps events out of NOTIFY (any role may LISTEN):
-- of a quiet sign-up then a loud one, only the loud one arrives (in order).
SET auth.notify_events = off;
SELECT auth.sign_up('quiet@example.com', 'quiet password') IS NOT NULL AS quiet_signed_up;
SET auth.notify_events = on;
SELECT auth.sign_up('loud@example.com', 'loud password') AS loud \gset
SELECT pg_temp.await_notifications();
SELECT count(*) AS notifications,
       bool_and((SELECT l.user_id FROM auth.audit_log l WHERE l.id = (extra::jsonb->>'id')::bigint) = :'loud') AS only_loud
  FROM received;
-- A failed sign-in announces the same for a registered email and for an
-- unknown one (anyone may trigger it): the event, and an audit row's id.
-- (It is written by the worker that counts attempts, as the caller's
-- settings say.)
TRUNCATE received;
SELECT pg_temp.err($$SELECT auth.sign_in('loud@example.com', 'wrong password')$$) AS registered;
SELECT pg_temp.await_notifications(1);
SELECT pg_temp.err($$SELECT auth.sign_in('nobody@example.com', 'wrong password')$$) AS unknown;
SELECT pg_temp.await_notifications(2);
SELECT count(*) AS failed_notifications,
       count(DISTINCT extra::jsonb - 'id') AS distinct_payloads_without_id,
       bool_and(extra::jsonb->>'event' = 'sign_in_failed') AS all_sign_in_failed
  FROM received;
RESET auth.notify_events;
DELETE FROM auth.users WHERE email IN ('quiet@example.com', 'loud@example.com');
SELECT dblink_disconnect('listener');
DELETE FROM auth.users WHERE email = 'notify@example.com';

-- cleanup(): sessions dead for longer than auth.cleanup_grace, stale
-- attempts, audit rows older than auth.audit_retention.
SELECT count(*) AS sessions_before FROM auth.sessions WHERE user_id = :'aud';
SELECT * FROM auth.cleanup();
SET auth.time_offset = '2d';
SELECT sessions_deleted >= 2 AS revoked_removed, audit_deleted AS audit_kept FROM auth.cleanup();
SELECT count(*) AS aud_sessions_left FROM auth.sessions WHERE user_id = :'aud';
SET auth.time_offset = '91d';
SELECT auth.create_magic_link('stale@example.com') IS NOT NULL AS old_link;
SET auth.time_offset = '93d';
SELECT audit_deleted > 0 AS old_audit_removed, secrets_deleted AS dead_secrets_removed FROM auth.cleanup();
SELECT count(*) AS secrets_left FROM auth.one_time_secrets;
SELECT count(*) AS audit_left FROM auth.audit_log;
RESET auth.time_offset;

-- check(): every row ok on a sound install, and it notices a bad setting.
-- (worker headroom depends on the server's configuration, so it is left out)
SELECT "check", ok FROM auth.check() WHERE "check" <> 'background workers';
SET auth.argon2_memory_kib = 4096;
SET auth.session_ttl = '60d';
SELECT "check", ok FROM auth.check() WHERE NOT ok;
RESET auth.argon2_memory_kib;
RESET auth.session_ttl;
