-- Global roles: built-in user and admin, custom roles with resource:action
-- permissions, set_user_role (admin tier), and auth.has_global_permission()
-- in policies, serial and in parallel workers, narrowed by API-key scopes.
\i sql/include/setup.psql
\i sql/include/as_user.psql

SELECT auth.sign_up('gina@example.com', 'gina password') AS gina \gset
SELECT auth.sign_up('gus@example.com', 'gus password') AS gus \gset
SELECT token AS gina_token FROM auth.sign_in('gina@example.com', 'gina password') \gset
SELECT token AS gus_token FROM auth.sign_in('gus@example.com', 'gus password') \gset

-- The built-in roles; a new user has the role user, which grants nothing.
SELECT name, permissions FROM auth.global_roles ORDER BY name;
SELECT role FROM auth.users WHERE id = :'gina';
SELECT auth.has_global_permission('docs:read') AS nobody;
SELECT auth.has_global_permission(NULL) IS NULL AS null_permission;
SELECT pg_temp.as_user(:'gina_token', $$SELECT auth.has_global_permission('docs:read')$$) AS plain_user;

-- Custom roles; the console's levels read < write < admin as three roles.
SELECT auth.create_global_role('console_read', '{console:read}');
SELECT auth.create_global_role('console_write', '{console:read,console:write,console:read}');
SELECT auth.create_global_role('support', '{users:*,docs:read}');
SELECT name, permissions FROM auth.global_roles WHERE name LIKE 'console%' ORDER BY name;
-- Refusals: bad names, built-in or taken names, bad permissions.
SELECT pg_temp.err($$SELECT auth.create_global_role(NULL, '{a:b}')$$);
SELECT pg_temp.err($$SELECT auth.create_global_role('', '{a:b}')$$);
SELECT pg_temp.err($$SELECT auth.create_global_role(repeat('r', 41), '{a:b}')$$);
SELECT pg_temp.err($$SELECT auth.create_global_role('Reader', '{a:b}')$$);
SELECT pg_temp.err($$SELECT auth.create_global_role('rеader', '{a:b}')$$);   -- Cyrillic е
SELECT pg_temp.err($$SELECT auth.create_global_role('admin', '{a:b}')$$);
SELECT pg_temp.err($$SELECT auth.create_global_role('user', '{}')$$);
SELECT pg_temp.err($$SELECT auth.create_global_role('support', '{}')$$);
SELECT pg_temp.err($$SELECT auth.create_global_role('other', NULL)$$);
SELECT pg_temp.err($$SELECT auth.create_global_role('other', '{NULL}')$$);
SELECT pg_temp.err($$SELECT auth.create_global_role('other', '{"docs read"}')$$);
SELECT pg_temp.err($$SELECT auth.create_global_role('other', ARRAY[repeat('p', 124) || ':read'])$$);
SELECT pg_temp.err($$SELECT auth.create_global_role('other', ARRAY(SELECT 'r' || g || ':read' FROM generate_series(1, 65) g))$$);
SELECT count(*) AS roles FROM auth.global_roles;

-- set_user_role: refusals, then a role given.
SELECT pg_temp.err($$SELECT auth.set_user_role(NULL, 'support')$$);
SELECT pg_temp.err($$SELECT auth.set_user_role('00000000-0000-0000-0000-000000000000', 'support')$$);
SELECT pg_temp.err(format('SELECT auth.set_user_role(%L, NULL)', :'gina'));
SELECT pg_temp.err(format('SELECT auth.set_user_role(%L, %L)', :'gina', 'nosuchrole'));
SELECT pg_temp.err(format('SELECT auth.set_user_role(%L, %L)', :'gina', repeat('x', 100000)));
SELECT auth.set_user_role(:'gina', 'support');
SELECT role FROM auth.users WHERE id = :'gina';
SELECT event, user_id = :'gina' AS gina, detail FROM auth.audit_log
 WHERE event IN ('global_role_created', 'global_role_set') ORDER BY id;

-- What the role grants, with "resource:*" and "*".
BEGIN;
SELECT auth.authenticate(:'gina_token') IS NOT NULL AS authenticated;
SELECT auth.has_global_permission('docs:read') AS docs_read,
       auth.has_global_permission('docs:write') AS docs_write,
       auth.has_global_permission('users:impersonate') AS users_any,
       auth.has_global_permission('console:read') AS console_read,
       auth.has_global_permission('') AS empty,
       auth.has_global_permission(repeat('x', 100000)) AS huge;
COMMIT;
SELECT auth.set_user_role(:'gus', 'admin');
SELECT pg_temp.as_user(:'gus_token', $$SELECT auth.has_global_permission('anything:at_all')$$) AS admin_any;

-- The tiers: only the admin tier creates roles and sets them.
CREATE ROLE regress_gr_app;
CREATE ROLE regress_gr_admin;
SELECT auth.grant_admin('regress_gr_admin');
SET ROLE regress_gr_app;
SELECT pg_temp.err($$SELECT auth.create_global_role('sneaky', '{*}')$$);
SELECT pg_temp.err(format('SELECT auth.set_user_role(%L, %L)', :'gina', 'admin'));
RESET ROLE;
SET ROLE regress_gr_admin;
SELECT auth.create_global_role('auditor', '{audit:read}');
SELECT auth.set_user_role(:'gina', 'console_read');
RESET ROLE;
SELECT auth.revoke_admin('regress_gr_admin');

-- A role change is seen by the next statement, and by a connection-scope
-- identity at its next transaction.
SELECT auth.authenticate(:'gina_token', false) IS NOT NULL AS authenticated;
SELECT auth.has_global_permission('console:read') AS read, auth.has_global_permission('console:write') AS write;
SELECT auth.set_user_role(:'gina', 'console_write');
SELECT auth.has_global_permission('console:read') AS read, auth.has_global_permission('console:write') AS write;
BEGIN;
SELECT auth.set_user_role(:'gina', 'user');
SELECT auth.has_global_permission('console:read') AS read_in_same_transaction;
ROLLBACK;
SELECT auth.has_global_permission('console:write') AS write_after_rollback;
SELECT auth._clear_identity();

-- An API key's scopes narrow the global permissions as they narrow an
-- organization role's: the role's grant and one of the key's scopes.
SELECT auth.set_user_role(:'gina', 'support');
BEGIN;
SELECT auth.authenticate(:'gina_token') IS NOT NULL AS authenticated;
SELECT key AS k_docs FROM auth.create_api_key('docs only', '{docs:read,users:list}') \gset
SELECT key AS k_all FROM auth.create_api_key('everything', '{*}') \gset
SELECT key AS k_none FROM auth.create_api_key('no scopes') \gset
COMMIT;
SELECT pg_temp.as_key(:'k_docs', $$SELECT format('docs:read %s, users:list %s, users:delete %s, docs:write %s',
       auth.has_global_permission('docs:read'), auth.has_global_permission('users:list'),
       auth.has_global_permission('users:delete'), auth.has_global_permission('docs:write'))$$) AS narrow_key;
SELECT pg_temp.as_key(:'k_all', $$SELECT format('docs:read %s, users:delete %s, docs:write %s',
       auth.has_global_permission('docs:read'), auth.has_global_permission('users:delete'),
       auth.has_global_permission('docs:write'))$$) AS star_key;
SELECT pg_temp.as_key(:'k_none', $$SELECT format('docs:read %s', auth.has_global_permission('docs:read'))$$) AS scopeless_key;

-- In a policy: readers with docs:read see every row, others their own.
CREATE ROLE regress_gr_reader;
CREATE TABLE global_docs AS
    SELECT g AS id, CASE WHEN g % 4 = 0 THEN :'gus'::uuid ELSE gen_random_uuid() END AS owner_id
      FROM generate_series(1, 20000) g;
ANALYZE global_docs;
ALTER TABLE global_docs ENABLE ROW LEVEL SECURITY;
CREATE POLICY global_docs_read ON global_docs
    USING (owner_id = auth.uid() OR auth.has_global_permission('docs:read'));
GRANT SELECT ON global_docs TO regress_gr_reader;
SELECT auth.set_user_role(:'gus', 'user');
CREATE FUNCTION pg_temp.counts(token text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    serial bigint;
    parallel bigint;
    plan json;
BEGIN
    PERFORM auth.authenticate(token);
    SET LOCAL ROLE regress_gr_reader;
    SET LOCAL max_parallel_workers_per_gather = 0;
    SELECT count(*) INTO serial FROM global_docs;
    SET LOCAL max_parallel_workers_per_gather = 2;
    SET LOCAL parallel_setup_cost = 0;
    SET LOCAL parallel_tuple_cost = 0;
    SET LOCAL min_parallel_table_scan_size = 0;
    SET LOCAL parallel_leader_participation = off;
    SELECT count(*) INTO parallel FROM global_docs;
    EXECUTE 'EXPLAIN (ANALYZE, FORMAT JSON, TIMING OFF) SELECT count(*) FROM global_docs' INTO plan;
    RETURN format('serial %s, parallel %s, in workers %s', serial, parallel,
                  (plan #>> '{0,Plan,Plans,0,Workers Launched}')::int > 0);
END
$$;
BEGIN;
SELECT pg_temp.counts(:'gina_token') AS reader;
ROLLBACK;
BEGIN;
SELECT pg_temp.counts(:'gus_token') AS own_rows_only;
ROLLBACK;
BEGIN;
SET LOCAL ROLE regress_gr_reader;
SELECT count(*) AS anonymous FROM global_docs;
ROLLBACK;
-- The helper is a plain STABLE C call, safe in parallel workers.
SELECT provolatile, proparallel, proisstrict, prosecdef FROM pg_proc
 WHERE oid = 'auth.has_global_permission(text)'::regprocedure;

DROP TABLE global_docs;
DROP ROLE regress_gr_reader;
DROP ROLE regress_gr_app;
DROP ROLE regress_gr_admin;
