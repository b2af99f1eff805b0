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

-- Each event is also announced on the channel auth_events (listened to here
-- from a second connection, through dblink).
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS dblink;
RESET client_min_messages;
SELECT dblink_connect('listener', format('dbname=%s host=%s port=%s',
       current_database(), split_part(current_setting('unix_socket_directories'), ',', 1),
       current_setting('port'))) AS listener;
SELECT dblink_exec('listener', 'LISTEN auth_events');
-- Notifications reach the listener shortly after the commit: wait for them
-- (up to 5 s) rather than look once.
CREATE TEMP TABLE received (notify_name text, be_pid int, extra text);
CREATE FUNCTION pg_temp.await_notifications() RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    FOR i IN 1..100 LOOP
        INSERT INTO received SELECT * FROM dblink_get_notify('listener');
        EXIT WHEN EXISTS (SELECT FROM received);
        PERFORM pg_sleep(0.05);
    END LOOP;
END $$;
SELECT auth.sign_up('notify@example.com', 'notify password') AS notify_user \gset
SELECT pg_temp.await_notifications();
SELECT notify_name, extra::jsonb->>'event' AS event, (extra::jsonb->>'user_id') = :'notify_user' AS right_user,
       extra::jsonb ?& array['id', 'session_id', 'occurred_at'] AS complete,
       extra NOT LIKE '%password%' AS no_secret
  FROM received;
TRUNCATE received;
-- auth.notify_events = off keeps events out of NOTIFY (any role may LISTEN):
-- of a quiet sign-up then a loud one, only the loud one arrives (in order).
SET auth.notify_events = off;
SELECT auth.sign_up('quiet@example.com', 'quiet password') IS NOT NULL AS quiet_signed_up;
RESET auth.notify_events;
SELECT auth.sign_up('loud@example.com', 'loud password') AS loud \gset
SELECT pg_temp.await_notifications();
SELECT count(*) AS notifications, bool_and(extra::jsonb->>'user_id' = :'loud') AS only_loud FROM received;
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
