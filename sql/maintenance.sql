-- The maintenance tier (auth.grant_maintenance): cleanup() and check()
-- for a scheduled job, nothing else; cleanup() logs what it deleted.
\i sql/include/setup.psql

CREATE ROLE regress_cron;

-- Without the grant: refused, like any role.
SET ROLE regress_cron;
SELECT pg_temp.err('SELECT * FROM auth.cleanup()') AS cleanup, pg_temp.err('SELECT * FROM auth.check()') AS "check";
RESET ROLE;

SELECT auth.grant_maintenance('regress_cron');
SELECT p.oid::regprocedure AS granted
  FROM pg_proc p WHERE p.pronamespace = 'auth'::regnamespace
   AND has_function_privilege('regress_cron', p.oid, 'EXECUTE')
   AND NOT has_function_privilege('public', p.oid, 'EXECUTE')
 ORDER BY p.oid::regprocedure::text;
-- and no more than that: not the functions that act for any user or
-- return a secret
SET ROLE regress_cron;
SELECT pg_temp.err($$SELECT auth.create_session('00000000-0000-0000-0000-000000000000')$$) AS create_session,
       pg_temp.err($$SELECT auth.create_magic_link('cron@example.com')$$) AS create_magic_link;
SELECT count(*) > 0 AS checks_run FROM auth.check();
RESET ROLE;

-- cleanup() returns the counts and writes them to the server log, where a
-- pg_cron job's result is not kept.  (Everything already dead goes first,
-- quietly; then one session is revoked and goes two days later.)
SET auth.time_offset = '3d';
SELECT count(*) AS first_pass FROM auth.cleanup();
SELECT token AS cron_tok, session_id AS cron_sid
  FROM auth.sign_up_and_sign_in('cron@example.com', 'cron password') \gset
BEGIN;
SELECT auth.authenticate(:'cron_tok') IS NOT NULL AS authenticated;
SELECT auth.sign_out();
COMMIT;
SET auth.time_offset = '5d';
SET ROLE regress_cron;
SET client_min_messages = log;
SELECT sessions_deleted FROM auth.cleanup();
RESET client_min_messages;
RESET ROLE;
SELECT count(*) AS cron_session_left FROM auth.sessions WHERE id = :'cron_sid';
RESET auth.time_offset;

-- revoke_maintenance takes them back; only a superuser grants either.
SELECT auth.revoke_maintenance('regress_cron');
SET ROLE regress_cron;
SELECT pg_temp.err('SELECT * FROM auth.cleanup()') AS cleanup_after_revoke;
SELECT pg_temp.err($$SELECT auth.grant_maintenance('regress_cron')$$) AS grant_self;
RESET ROLE;

DELETE FROM auth.users WHERE email = 'cron@example.com';
DROP ROLE regress_cron;
