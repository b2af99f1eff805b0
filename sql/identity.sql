-- Identity: set only by a credential, scoped to the transaction by default,
-- cleared by COMMIT, ROLLBACK, savepoint rollback, RESET ALL and DISCARD ALL,
-- and visible in parallel workers.
\i sql/include/setup.psql

SELECT auth.sign_up('ida@example.com', 'ida password') AS ida \gset
SELECT token AS ida_token, session_id AS ida_session FROM auth.sign_in('ida@example.com', 'ida password') \gset

-- Nobody is authenticated at first.
SELECT auth.uid() IS NULL AS uid, auth.session_id() IS NULL AS sid,
       auth.is_authenticated() AS authenticated, auth.identity() IS NULL AS identity;
SELECT pg_temp.err($$SELECT auth.require_uid()$$);

-- Transaction scope (the default): cleared at COMMIT ...
BEGIN;
SELECT auth.authenticate(:'ida_token') = :'ida' AS authenticated;
SELECT auth.uid() = :'ida' AS uid, auth.session_id() = :'ida_session' AS sid,
       auth.is_authenticated() AS authenticated, auth.require_uid() = :'ida' AS required,
       auth.identity() = jsonb_build_object('kind', 'session', 'user_id', :'ida', 'session_id', :'ida_session') AS identity;
COMMIT;
SELECT auth.uid() IS NULL AS cleared_at_commit;
-- ... at ROLLBACK ...
BEGIN;
SELECT auth.authenticate(:'ida_token') IS NOT NULL AS authenticated;
ROLLBACK;
SELECT auth.uid() IS NULL AS cleared_at_rollback;
-- ... and when the savepoint it was set in rolls back.
BEGIN;
SAVEPOINT s;
SELECT auth.authenticate(:'ida_token') IS NOT NULL AS authenticated;
SELECT auth.uid() = :'ida' AS inside_savepoint;
ROLLBACK TO SAVEPOINT s;
SELECT auth.uid() IS NULL AS cleared_by_savepoint_rollback;
COMMIT;
-- A failed authenticate leaves no identity behind.
BEGIN;
SELECT auth.authenticate(:'ida_token') IS NOT NULL AS authenticated;
SAVEPOINT s;
SELECT pg_temp.err($$SELECT auth.authenticate('ses_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA')$$);
SELECT auth.uid() = :'ida' AS previous_identity_kept;
COMMIT;

-- Connection scope is opt-in, and outlives transactions ...
SELECT auth.authenticate(:'ida_token', false) IS NOT NULL AS authenticated;
SELECT auth.uid() = :'ida' AS kept_across_transactions;
-- ... until RESET ALL ...
RESET ALL;
SELECT auth.uid() IS NULL AS cleared_by_reset_all;
-- ... or DISCARD ALL ...
SELECT auth.authenticate(:'ida_token', false) IS NOT NULL AS authenticated;
DISCARD ALL;
SELECT auth.uid() IS NULL AS cleared_by_discard_all;
\i sql/include/setup.psql
-- ... or until the session is revoked: a connection-scope identity is
-- re-checked at the start of each transaction.
SELECT auth.authenticate(:'ida_token', false) IS NOT NULL AS authenticated;
UPDATE auth.sessions SET revoked_at = now() WHERE id = :'ida_session';
SELECT auth.uid() IS NULL AS revoked_takes_effect;
SELECT pg_temp.err($$SELECT auth.require_uid()$$);
UPDATE auth.sessions SET revoked_at = NULL WHERE id = :'ida_session';
SELECT auth.uid() = :'ida' AS back_after_unrevoke;
SELECT pg_temp.err($$SELECT auth.authenticate('ses_x', NULL)$$);
RESET ALL;

-- A superuser may set an identity directly (admin only).
SET auth.identity = 'user:00000000-0000-0000-0000-0000000000aa';
SELECT auth.uid(), auth.session_id(), auth.identity();
SELECT pg_temp.err($$SET auth.identity = 'user:not-a-uuid'$$);
SELECT pg_temp.err($$SET auth.identity = 'session:00000000-0000-0000-0000-0000000000aa'$$);
RESET auth.identity;
SELECT auth.uid() IS NULL AS reset;

-- An ordinary role cannot forge an identity in any way.
CREATE ROLE regress_forger;
GRANT CREATE ON SCHEMA public TO regress_forger;
SET ROLE regress_forger;
SELECT pg_temp.err(format('SET auth.identity = %L', 'user:' || :'ida'));
SELECT pg_temp.err(format('SET LOCAL auth.identity = %L', 'user:' || :'ida'));
SELECT pg_temp.err(format('SELECT set_config(%L, %L, false)', 'auth.identity', 'user:' || :'ida'));
SELECT pg_temp.err(format('SELECT set_config(%L, %L, true)', 'auth.identity', 'session:' || :'ida' || ':' || :'ida_session'));
SELECT pg_temp.err(format('ALTER ROLE regress_forger SET auth.identity = %L', 'user:' || :'ida'));
SELECT pg_temp.err($$RESET auth.identity$$);
SELECT pg_temp.err(format('CREATE FUNCTION public.forge() RETURNS uuid LANGUAGE sql SET auth.identity = %L AS %L',
                          'user:' || :'ida', 'SELECT auth.uid()'));
SELECT pg_temp.err($$SELECT current_setting('auth.identity')$$) AS hidden, auth.uid() IS NULL AS not_forged;
SELECT count(*) AS shown FROM pg_settings WHERE name = 'auth.identity';
RESET ROLE;
-- Nor by setting it in a new connection before the module is loaded: the
-- value is refused when the module loads (or at once, when auth is in
-- shared_preload_libraries; either way nothing is taken).
\c -
SET ROLE regress_forger;
SET client_min_messages = error;
DO $$ BEGIN SET auth.identity = 'user:00000000-0000-0000-0000-0000000000aa';
   EXCEPTION WHEN insufficient_privilege THEN NULL; END $$;
DO $$ BEGIN SET auth.time_offset = '30d';
   EXCEPTION WHEN insufficient_privilege THEN NULL; END $$;
DO $$ BEGIN PERFORM set_config('auth.max_failed_sign_ins', '1000', false);
   EXCEPTION WHEN insufficient_privilege THEN NULL; END $$;
SELECT auth.uid() IS NULL AS placeholder_not_trusted;
RESET client_min_messages;
SELECT auth.now() < now() + interval '1 minute' AS clock_not_moved,
       current_setting('auth.max_failed_sign_ins') AS limit_kept;
RESET ROLE;
\i sql/include/setup.psql
REVOKE CREATE ON SCHEMA public FROM regress_forger;
DROP ROLE regress_forger;

-- Parallel workers see the identity: a forced parallel plan whose rows all
-- come from workers counts the same rows as a serial one.
CREATE TABLE parallel_rows AS
    SELECT g AS id, CASE WHEN g % 4 = 0 THEN :'ida'::uuid ELSE gen_random_uuid() END AS owner_id
      FROM generate_series(1, 20000) g;
ANALYZE parallel_rows;
BEGIN;
SELECT auth.authenticate(:'ida_token') IS NOT NULL AS authenticated;
SET LOCAL max_parallel_workers_per_gather = 0;
SELECT count(*) AS serial_count FROM parallel_rows WHERE owner_id = auth.uid();
SET LOCAL max_parallel_workers_per_gather = 2;
SET LOCAL parallel_setup_cost = 0;
SET LOCAL parallel_tuple_cost = 0;
SET LOCAL min_parallel_table_scan_size = 0;
SET LOCAL parallel_leader_participation = off;
SELECT count(*) AS parallel_count FROM parallel_rows WHERE owner_id = auth.uid();
CREATE FUNCTION pg_temp.workers_launched() RETURNS int LANGUAGE plpgsql AS $$
DECLARE plan json;
BEGIN
    EXECUTE 'EXPLAIN (ANALYZE, FORMAT JSON, TIMING OFF) SELECT count(*) FROM parallel_rows WHERE owner_id = auth.uid()' INTO plan;
    RETURN (plan #>> '{0,Plan,Plans,0,Workers Launched}')::int;
END $$;
SELECT pg_temp.workers_launched() > 0 AS ran_in_workers;
COMMIT;
-- Workers agree with the leader also when the session is revoked during the
-- transaction: the identity stands until the transaction ends.
BEGIN;
SELECT auth.authenticate(:'ida_token') IS NOT NULL AS authenticated;
SELECT auth.revoke_session(auth.session_id()) AS revoked;
SET LOCAL max_parallel_workers_per_gather = 0;
SELECT count(*) AS serial_count FROM parallel_rows WHERE owner_id = auth.uid();
SET LOCAL max_parallel_workers_per_gather = 2;
SET LOCAL parallel_setup_cost = 0;
SET LOCAL parallel_tuple_cost = 0;
SET LOCAL min_parallel_table_scan_size = 0;
SET LOCAL parallel_leader_participation = off;
SELECT count(*) AS parallel_count FROM parallel_rows WHERE owner_id = auth.uid();
COMMIT;
-- ... and a connection-scope identity whose session was revoked is cleared
-- in the leader before workers copy it.
SELECT token AS ida_token2 FROM auth.sign_in('ida@example.com', 'ida password') \gset
SELECT auth.authenticate(:'ida_token2', false) IS NOT NULL AS authenticated;
SELECT auth.revoke_user_sessions(:'ida') > 0 AS revoked;
BEGIN;
SET LOCAL max_parallel_workers_per_gather = 2;
SET LOCAL parallel_setup_cost = 0;
SET LOCAL parallel_tuple_cost = 0;
SET LOCAL min_parallel_table_scan_size = 0;
SET LOCAL parallel_leader_participation = off;
SELECT count(*) AS parallel_count_after_revoke FROM parallel_rows WHERE owner_id = auth.uid();
COMMIT;
-- ... and before a utility statement whose own workers evaluate expressions
-- that read it (a parallel CREATE INDEX).  First, that the build does run
-- the expression in workers; then that none of them sees the dead identity.
CREATE TABLE parallel_index AS SELECT g AS i FROM generate_series(1, 20000) g;
ALTER TABLE parallel_index SET (parallel_workers = 2);
SET max_parallel_maintenance_workers = 2;
SELECT set_config('regress.leader_pid', pg_backend_pid()::text, false) IS NOT NULL AS leader_known;
CREATE FUNCTION public.regress_in_worker(i int) RETURNS int
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
BEGIN
    IF pg_backend_pid() <> current_setting('regress.leader_pid')::int THEN
        RAISE EXCEPTION 'ran in a parallel worker';
    END IF;
    RETURN i;
END
$$;
CREATE FUNCTION public.regress_identity_seen(i int) RETURNS int
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
BEGIN
    IF auth.uid() IS NOT NULL THEN
        RAISE EXCEPTION 'a dead identity reached a worker';
    END IF;
    RETURN i;
END
$$;
SELECT pg_temp.err('CREATE INDEX ON parallel_index (public.regress_in_worker(i))') AS workers_run;
SELECT auth.uid() IS NULL AS leader_sees_nobody;
-- (top level, in a transaction of its own: nothing else settles it first)
CREATE INDEX ON parallel_index (public.regress_identity_seen(i));
SELECT count(*) AS indexes_built FROM pg_indexes WHERE tablename = 'parallel_index';
DROP TABLE parallel_index;
DROP FUNCTION public.regress_in_worker(int), public.regress_identity_seen(int);
RESET ALL;
DROP TABLE parallel_rows;
-- Behind a transaction pooler a connection-scope identity would outlive the
-- client that set it: auth.allow_connection_scope = off refuses it outright,
-- while transaction-scope identities work as before.
SET auth.allow_connection_scope = off;
SELECT token AS ida_token5 FROM auth.sign_in('ida@example.com', 'ida password') \gset
SELECT pg_temp.err(format('SELECT auth.authenticate(%L, false)', :'ida_token5')) AS connection_scope;
SELECT auth.uid() IS NULL AS nobody;
BEGIN;
SELECT auth.authenticate(:'ida_token5') = :'ida' AS transaction_scope;
COMMIT;
RESET auth.allow_connection_scope;
CREATE ROLE regress_pooled_app;
SET ROLE regress_pooled_app;
SELECT pg_temp.err('SET auth.allow_connection_scope = on') AS not_for_applications;
RESET ROLE;
DROP ROLE regress_pooled_app;
-- Nobody sets an identity inside a security-restricted operation (here a
-- materialized view's refresh, run as its owner): a function a table owner
-- planted there cannot authenticate the connection of whoever refreshes.
SELECT token AS ida_token4 FROM auth.sign_in('ida@example.com', 'ida password') \gset
CREATE FUNCTION public.regress_plant(token text) RETURNS int
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM auth.authenticate(token, false);
    RETURN 1;
END
$$;
CREATE TABLE regress_planted_token AS SELECT :'ida_token4'::text AS token;
CREATE MATERIALIZED VIEW regress_planted AS
    SELECT public.regress_plant(t.token) AS x FROM regress_planted_token t WITH NO DATA;
SELECT pg_temp.err('REFRESH MATERIALIZED VIEW regress_planted') AS refresh;
SELECT auth.uid() IS NULL AS nobody_after_refresh;
-- ... while the extension's own setters, SECURITY DEFINER functions, still
-- set it, and a plain function may call them.
SELECT public.regress_plant(:'ida_token4') AS planted_outside;
SELECT auth.uid() = :'ida' AS authenticated_outside;
RESET auth.identity;
DROP MATERIALIZED VIEW regress_planted;
DROP TABLE regress_planted_token;
DROP FUNCTION public.regress_plant(text);
-- A missing extension means no identity: after DROP EXTENSION a connection
-- that kept one goes on working, and can install the extension again.
SELECT token AS ida_token3 FROM auth.sign_in('ida@example.com', 'ida password') \gset
SELECT auth.authenticate(:'ida_token3', false) IS NOT NULL AS authenticated;
SET client_min_messages = warning;
DROP EXTENSION auth CASCADE;
RESET client_min_messages;
SELECT 1 AS still_works;
CREATE TABLE after_drop (i int);
DROP TABLE after_drop;
SET client_min_messages = warning;
CREATE EXTENSION auth CASCADE;
RESET client_min_messages;
SELECT auth.uid() IS NULL AS nobody_after_reinstall;
