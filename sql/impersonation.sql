-- Impersonation: who may (the admin tier and the global permission
-- users:impersonate), whom (not an administrator unless allowed), for how
-- long (auth.impersonation_ttl, never extended), what the session may not
-- do, what the user sees, and the audit rows naming both.
\i sql/include/setup.psql
\i sql/include/as_user.psql

SELECT auth.sign_up('ivy@example.com', 'ivy password') AS ivy \gset
SELECT auth.sign_up('ian@example.com', 'ian password') AS ian \gset
SELECT auth.sign_up('ida@example.com', 'ida password') AS ida \gset
SELECT auth.sign_up('ike@example.com', 'ike password') AS ike \gset
SELECT auth.create_global_role('support_desk', '{users:impersonate,tickets:*}');
SELECT auth.set_user_role(:'ivy', 'support_desk');
SELECT auth.set_user_role(:'ida', 'admin');
SELECT token AS ivy_token, session_id AS ivy_session FROM auth.sign_in('ivy@example.com', 'ivy password') \gset
SELECT token AS ian_token FROM auth.sign_in('ian@example.com', 'ian password') \gset
SELECT token AS ida_token FROM auth.sign_in('ida@example.com', 'ida password') \gset
SELECT token AS ike_token FROM auth.sign_in('ike@example.com', 'ike password') \gset
CREATE ROLE regress_imp_admin;
CREATE ROLE regress_imp_app;
SELECT auth.grant_admin('regress_imp_admin');
GRANT USAGE ON SCHEMA public TO regress_imp_admin, regress_imp_app;
DELETE FROM auth.audit_log;

-- Who may: only the admin tier ...
SET ROLE regress_imp_app;
SELECT pg_temp.as_user(:'ivy_token', format('SELECT auth.impersonate(%L, %L)', :'ike', 'ticket 1'));
RESET ROLE;
-- ... with a signed-in user (a session, not an API key) ...
SET ROLE regress_imp_admin;
SELECT pg_temp.err(format('SELECT auth.impersonate(%L, %L)', :'ike', 'ticket 1'));
-- ... whose global role grants users:impersonate.
SELECT pg_temp.as_user(:'ian_token', format('SELECT auth.impersonate(%L, %L)', :'ike', 'ticket 1'));
-- Refusals: NULL, empty, huge, unknown, self, an administrator, ttl.
SELECT pg_temp.as_user(:'ivy_token', format('SELECT auth.impersonate(NULL, %L)', 'ticket 1'));
SELECT pg_temp.as_user(:'ivy_token', format('SELECT auth.impersonate(%L, NULL)', :'ike'));
SELECT pg_temp.as_user(:'ivy_token', format('SELECT auth.impersonate(%L, %L)', :'ike', '   '));
SELECT pg_temp.as_user(:'ivy_token', format('SELECT auth.impersonate(%L, %L)', :'ike', repeat('r', 1001)));
SELECT pg_temp.as_user(:'ivy_token', format('SELECT auth.impersonate(%L, %L)', '00000000-0000-0000-0000-000000000000', 'ticket 1'));
SELECT pg_temp.as_user(:'ivy_token', format('SELECT auth.impersonate(%L, %L)', :'ivy', 'ticket 1'));
SELECT pg_temp.as_user(:'ivy_token', format('SELECT auth.impersonate(%L, %L)', :'ida', 'ticket 1'));
SELECT pg_temp.as_user(:'ida_token', format('SELECT auth.impersonate(%L, %L)', :'ivy', 'ticket 1'));
SELECT pg_temp.as_user(:'ivy_token', format('SELECT auth.impersonate(%L, %L, %L)', :'ike', 'ticket 1', '0'));
SELECT pg_temp.as_user(:'ivy_token', format('SELECT auth.impersonate(%L, %L, %L)', :'ike', 'ticket 1', '-1 hour'));
SELECT pg_temp.as_user(:'ivy_token', format('SELECT auth.impersonate(%L, %L, %L)', :'ike', 'ticket 1', '61 minutes'));
RESET ROLE;
-- Impersonating an administrator needs auth.allow_impersonating_admins.
SET auth.allow_impersonating_admins = on;
SET ROLE regress_imp_admin;
SELECT pg_temp.as_user(:'ivy_token', format('SELECT (auth.impersonate(%L, %L, %L)).token IS NOT NULL', :'ida', 'audit of admin', '5 minutes')) AS admin_impersonated;
RESET ROLE;
RESET auth.allow_impersonating_admins;
SELECT count(*) AS sessions_made FROM auth.sessions WHERE impersonator_id IS NOT NULL;

-- An impersonation: the default and longest lifetime is an hour.
SET ROLE regress_imp_admin;
BEGIN;
SELECT auth.authenticate(:'ivy_token') IS NOT NULL AS authenticated;
SELECT token AS imp_token, session_id AS imp_session, user_id = :'ike' AS for_ike,
       expires_at = auth.now() + interval '1 hour' AS one_hour
  FROM auth.impersonate(:'ike', '  ticket 42: cannot see invoices  ') \gset
SELECT :'for_ike' AS for_ike, :'one_hour' AS one_hour;
COMMIT;
RESET ROLE;
SELECT impersonator_id = :'ivy' AS by_ivy, impersonation_reason FROM auth.sessions WHERE id = :'imp_session';

-- Acting as the user: auth.uid() is theirs, auth.impersonator_id() names the
-- administrator, in policies too, serial and in parallel workers.
CREATE TABLE notes AS
    SELECT g AS id, CASE WHEN g % 4 = 0 THEN :'ike'::uuid ELSE gen_random_uuid() END AS owner_id,
           NULL::uuid AS written_by
      FROM generate_series(1, 20000) g;
ANALYZE notes;
ALTER TABLE notes ENABLE ROW LEVEL SECURITY;
-- the user's rows, but an impersonator does not see the private ones
CREATE POLICY notes_own ON notes USING (owner_id = auth.uid());
CREATE POLICY notes_private ON notes AS RESTRICTIVE USING (id % 8 <> 0 OR auth.impersonator_id() IS NULL);
GRANT SELECT ON notes TO regress_imp_app;
BEGIN;
SELECT auth.authenticate(:'imp_token') IS NOT NULL AS authenticated;
SELECT auth.uid() = :'ike' AS uid_is_ike, auth.impersonator_id() = :'ivy' AS impersonator_is_ivy,
       auth.session_id() = :'imp_session' AS session;
SET LOCAL ROLE regress_imp_app;
SET LOCAL max_parallel_workers_per_gather = 0;
SELECT count(*) AS serial_rows FROM notes;
SET LOCAL max_parallel_workers_per_gather = 2;
SET LOCAL parallel_setup_cost = 0;
SET LOCAL parallel_tuple_cost = 0;
SET LOCAL min_parallel_table_scan_size = 0;
SET LOCAL parallel_leader_participation = off;
SELECT count(*) AS parallel_rows FROM notes;
COMMIT;
BEGIN;
SELECT auth.authenticate(:'ike_token') IS NOT NULL AS authenticated;
SELECT auth.impersonator_id() IS NULL AS not_impersonated;
SET LOCAL ROLE regress_imp_app;
SELECT count(*) AS own_rows FROM notes;
COMMIT;
SELECT auth.impersonator_id() IS NULL AS nobody;

-- What an impersonation session may not do.
SELECT pg_temp.as_user(:'imp_token', $$SELECT auth.change_password('ike password', 'new ike password')$$);
SELECT pg_temp.as_user(:'imp_token', $$SELECT auth.create_api_key('sneaky')$$);
SELECT pg_temp.as_user(:'imp_token', $$SELECT auth.revoke_all_credentials()$$);
SELECT pg_temp.as_user(:'imp_token', $$SELECT auth.delete_account()$$);
SELECT pg_temp.as_user(:'imp_token', $$SELECT auth.issue_jwt()$$);
SELECT pg_temp.as_user(:'imp_token', $$SELECT auth.delete_account('ike password')$$);
SET ROLE regress_imp_admin;
SELECT pg_temp.as_user(:'imp_token', $$SELECT auth.request_email_change('ivy-owns-this@example.com')$$);
SELECT pg_temp.as_user(:'imp_token', format('SELECT auth.impersonate(%L, %L)', :'ian', 'chain'));
RESET ROLE;
-- (a key the user made before stays theirs; rotating it is refused too)
BEGIN;
SELECT auth.authenticate(:'ike_token') IS NOT NULL AS authenticated;
SELECT key_id AS ike_key FROM auth.create_api_key('ike own key') \gset
COMMIT;
SELECT pg_temp.as_user(:'imp_token', format('SELECT auth.rotate_api_key(%L)', :'ike_key'));
-- What it may do: the user's ordinary actions, audited with both names.
SELECT pg_temp.as_user(:'imp_token', format('SELECT auth.update_api_key(%L, name => %L)', :'ike_key', 'renamed by support')) AS key_renamed;

-- The user sees the impersonation among their sessions, and who it is.
BEGIN;
SELECT auth.authenticate(:'ike_token') IS NOT NULL AS authenticated;
SELECT is_current, impersonator_id = :'ivy' AS impersonated_by_ivy
  FROM auth.list_sessions() ORDER BY is_current, impersonator_id NULLS FIRST;
COMMIT;

-- Sliding expiry never extends it: an ordinary session is extended, the
-- impersonation is not, even past the refresh age.
SET auth.session_refresh_age = 0;
SELECT (auth.verify_session(:'imp_token')).expires_at = expires_at AS impersonation_not_extended
  FROM auth.sessions WHERE id = :'imp_session';
SELECT (auth.verify_session(:'ike_token')).expires_at > s.expires_at AS ordinary_extended
  FROM auth.sessions s WHERE s.user_id = :'ike' AND s.impersonator_id IS NULL;
RESET auth.session_refresh_age;
-- It ends at its expiry ...
SET auth.time_offset = '61min';
SELECT pg_temp.err(format('SELECT auth.authenticate(%L)', :'imp_token'));
RESET auth.time_offset;
-- ... or when stopped: the session is revoked and the identity cleared.
BEGIN;
SELECT auth.authenticate(:'imp_token') IS NOT NULL AS authenticated;
SELECT auth.stop_impersonating() AS stopped;
SELECT auth.uid() IS NULL AS identity_cleared;
COMMIT;
SELECT revoked_reason FROM auth.sessions WHERE id = :'imp_session';
SELECT pg_temp.err(format('SELECT auth.authenticate(%L)', :'imp_token'));
-- Not impersonating: nothing to stop.
SELECT pg_temp.as_user(:'ike_token', $$SELECT auth.stop_impersonating()$$) AS not_impersonating;
SELECT auth.stop_impersonating() AS nobody;

-- The audit log names both, for every row written during the impersonation.
SELECT event, user_id = :'ike' AS ike, impersonator_id = :'ivy' AS by_ivy,
       session_id = :'imp_session' AS imp_session, detail - 'expires_at' - 'key_id' AS detail
  FROM auth.audit_log
 WHERE event IN ('impersonation_started', 'impersonation_stopped')
    OR impersonator_id IS NOT NULL OR detail ? 'reason'
 ORDER BY id;
SELECT count(*) AS secrets_in_audit FROM auth.audit_log l
 WHERE l::text LIKE '%' || :'imp_token' || '%' OR l::text LIKE '%' || :'ivy_token' || '%';

-- Deleting the impersonator ends their impersonation sessions.
BEGIN;
SELECT auth.authenticate(:'ivy_token') IS NOT NULL AS authenticated;
SELECT token AS imp2_token FROM auth.impersonate(:'ike', 'ticket 43') \gset
COMMIT;
DELETE FROM auth.users WHERE id = :'ivy';
SELECT pg_temp.err(format('SELECT auth.authenticate(%L)', :'imp2_token'));

DROP TABLE notes;
SELECT auth.revoke_admin('regress_imp_admin');
REVOKE USAGE ON SCHEMA public FROM regress_imp_admin, regress_imp_app;
DROP ROLE regress_imp_admin;
DROP ROLE regress_imp_app;
