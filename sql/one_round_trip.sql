-- One round trip per request: auth.with_identity(token, query) sets the
-- identity before its query is planned, so the query sees the user's rows;
-- the one-statement forms that put authenticate in a join do not, and a
-- bad credential gives 28000 and no row.
\i sql/include/setup.psql

CREATE ROLE regress_rt_app;
GRANT USAGE ON SCHEMA public TO regress_rt_app;
CREATE TABLE rt_notes (
    id       bigserial PRIMARY KEY,
    owner_id uuid NOT NULL DEFAULT auth.uid(),
    body     text NOT NULL
);
ALTER TABLE rt_notes ENABLE ROW LEVEL SECURITY;
CREATE POLICY own ON rt_notes
    USING (owner_id = auth.uid()) WITH CHECK (owner_id = auth.uid());
GRANT SELECT, INSERT ON rt_notes TO regress_rt_app;
GRANT USAGE ON SEQUENCE rt_notes_id_seq TO regress_rt_app;

SELECT auth.sign_up('rt-rita@example.com', 'rita password') AS rita \gset
SELECT auth.sign_up('rt-ravi@example.com', 'ravi password') AS ravi \gset
SELECT token AS rita_token FROM auth.sign_in('rt-rita@example.com', 'rita password') \gset
SELECT token AS ravi_token FROM auth.sign_in('rt-ravi@example.com', 'ravi password') \gset
INSERT INTO rt_notes (owner_id, body)
SELECT CASE WHEN i % 4 = 0 THEN :'rita'::uuid ELSE :'ravi'::uuid END, 'note ' || i
  FROM generate_series(1, 20000) i;
ANALYZE rt_notes;
-- The application's own function (README): authenticate, then the query.
CREATE FUNCTION rt_my_notes(token text) RETURNS SETOF rt_notes
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM auth.authenticate(token);
    RETURN QUERY SELECT * FROM rt_notes;
END $$;

SET ROLE regress_rt_app;

-- The natural one-statement form: the scan runs before authenticate, the
-- policy refuses every row, and authenticate is never even called.
SELECT count(*) AS lateral_rows
  FROM rt_notes n, LATERAL (SELECT auth.authenticate(:'rita_token')) a;
SELECT auth.uid() IS NULL AS nobody_was_authenticated;

-- A MATERIALIZED CTE is one input of a join: right only when the planner
-- happens to read it first.  With a hash join (the CTE hashed, rt_notes
-- read first to see whether it is empty) it returns nothing.
BEGIN;
SET LOCAL enable_nestloop = off;
SET LOCAL enable_mergejoin = off;
WITH a AS MATERIALIZED (SELECT auth.authenticate(:'rita_token') AS uid)
SELECT count(*) AS materialized_cte_rows FROM rt_notes n, a;
ROLLBACK;

-- auth.with_identity: the credential first, then the query.
SELECT count(*) AS rita_rows, count(*) FILTER (WHERE (r->>'owner_id')::uuid = :'rita') AS all_hers
  FROM auth.with_identity(:'rita_token', 'SELECT * FROM rt_notes') r;
SELECT r->>'body' AS body
  FROM auth.with_identity(:'ravi_token', 'SELECT body FROM rt_notes WHERE id = ($1->>''id'')::bigint',
                          '{"id": 2}') r;
-- ... another user's row is not there
SELECT count(*) AS ravi_reads_ritas
  FROM auth.with_identity(:'ravi_token', 'SELECT body FROM rt_notes WHERE id = ($1->>''id'')::bigint',
                          '{"id": 4}') r;
-- writes through it, with RETURNING
SELECT r->>'body' AS inserted, (r->>'owner_id')::uuid = :'rita' AS owned
  FROM auth.with_identity(:'rita_token',
                          'INSERT INTO rt_notes (body) VALUES ($1->>''body'') RETURNING owner_id, body',
                          '{"body": "new"}') r;
-- the application's own function, likewise
SELECT count(*) AS my_notes_rows, bool_and(owner_id = :'rita') AS all_hers FROM rt_my_notes(:'rita_token');
SELECT pg_temp.err($$SELECT * FROM rt_my_notes('ses_' || repeat('A', 43))$$);
-- the identity lasts for the rest of the transaction, like authenticate's
BEGIN;
SELECT count(*) AS rows FROM auth.with_identity(:'rita_token', 'SELECT 1 AS one') r;
SELECT auth.uid() = :'rita' AS identity_set;
COMMIT;
SELECT auth.uid() IS NULL AS cleared_at_commit;

-- Under a forced parallel plan: workers start after authenticate and copy
-- its identity (the plan really is parallel: see the EXPLAIN below).
SET force_parallel_mode = on;
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SET max_parallel_workers_per_gather = 2;
-- the leader reads no row itself: every row counted comes from a worker
SET parallel_leader_participation = off;
BEGIN;
SELECT auth.authenticate(:'rita_token') IS NOT NULL AS authenticated;
EXPLAIN (COSTS OFF) SELECT count(*) FROM rt_notes;
ROLLBACK;
SELECT (r->>'n')::int AS parallel_rita_rows
  FROM auth.with_identity(:'rita_token', 'SELECT count(*) AS n FROM rt_notes') r;
SELECT (r->>'n')::int AS parallel_ravi_rows
  FROM auth.with_identity(:'ravi_token', 'SELECT count(*) AS n FROM rt_notes') r;
RESET force_parallel_mode;
RESET parallel_setup_cost;
RESET parallel_tuple_cost;
RESET min_parallel_table_scan_size;
RESET max_parallel_workers_per_gather;
RESET parallel_leader_participation;

-- A bad credential: 28000, no row, no identity left behind.
SELECT pg_temp.err($$SELECT * FROM auth.with_identity('ses_' || repeat('A', 43), 'SELECT * FROM rt_notes')$$);
SELECT pg_temp.err($$SELECT * FROM auth.with_identity('not a token', 'SELECT * FROM rt_notes')$$);
SELECT pg_temp.err($$SELECT * FROM auth.with_identity(NULL, 'SELECT * FROM rt_notes')$$);
SELECT pg_temp.err($$SELECT * FROM auth.with_identity('', 'SELECT * FROM rt_notes')$$);
SELECT pg_temp.err(format('SELECT * FROM auth.with_identity(%L, NULL)', :'rita_token'));
SELECT auth.uid() IS NULL AS no_identity;
-- an expired session: its rows stay hidden
RESET ROLE;
SET auth.time_offset = '8d';
SET ROLE regress_rt_app;
SELECT pg_temp.err(format('SELECT * FROM auth.with_identity(%L, %L)', :'rita_token', 'SELECT * FROM rt_notes'));
RESET ROLE;
RESET auth.time_offset;
-- a revoked one too
SET ROLE regress_rt_app;
BEGIN;
SELECT auth.authenticate(:'ravi_token') IS NOT NULL AS authenticated;
SELECT auth.sign_out() AS signed_out;
COMMIT;
SELECT pg_temp.err(format('SELECT * FROM auth.with_identity(%L, %L)', :'ravi_token', 'SELECT * FROM rt_notes'));
-- the query is the caller's, run with the caller's rights
SELECT pg_temp.err(format('SELECT * FROM auth.with_identity(%L, %L)', :'rita_token', 'SELECT * FROM auth.users'));
SELECT pg_temp.err(format('SELECT * FROM auth.with_identity(%L, %L)', :'rita_token', 'SELECT 1; SELECT 2'));

-- Kept plans: the same text under another role or search_path is planned
-- again (a superuser's plan bypasses RLS; it must not serve the app role).
RESET ROLE;
SELECT (r->>'n')::int AS superuser_sees_all
  FROM auth.with_identity(:'rita_token', 'SELECT count(*) AS n FROM rt_notes') r;
SET ROLE regress_rt_app;
SELECT (r->>'n')::int AS app_role_sees_hers
  FROM auth.with_identity(:'rita_token', 'SELECT count(*) AS n FROM rt_notes') r;
RESET ROLE;
CREATE SCHEMA rt_other;
CREATE TABLE rt_other.rt_notes (id int, owner_id uuid, body text);
INSERT INTO rt_other.rt_notes VALUES (1, NULL, 'other');
GRANT USAGE ON SCHEMA rt_other TO regress_rt_app;
GRANT SELECT ON rt_other.rt_notes TO regress_rt_app;
SET ROLE regress_rt_app;
SET search_path = rt_other, public;
SELECT (r->>'n')::int AS other_schema
  FROM auth.with_identity(:'rita_token', 'SELECT count(*) AS n FROM rt_notes') r;
RESET search_path;
SELECT (r->>'n')::int AS back_to_public
  FROM auth.with_identity(:'rita_token', 'SELECT count(*) AS n FROM rt_notes') r;
-- more distinct queries than plans kept, then the first again
SELECT sum((r->>'g')::int) AS seventy_queries
  FROM generate_series(1, 70) g,
       LATERAL auth.with_identity(:'rita_token', format('SELECT %s AS g', g)) r;
SELECT (r->>'n')::int AS first_again
  FROM auth.with_identity(:'rita_token', 'SELECT count(*) AS n FROM rt_notes') r;
-- a query that calls with_identity itself (the inner call keeps no plan)
SELECT (x->>'n')::int AS nested
  FROM auth.with_identity(:'rita_token',
         'SELECT r.n FROM auth.with_identity($1->>''t'', ''SELECT count(*) AS n FROM rt_notes'') i,
                 LATERAL (SELECT (i->>''n'')::int AS n) r',
         jsonb_build_object('t', :'rita_token')) x;
-- An API key works as well.
SELECT key AS rita_key FROM auth.with_identity(:'rita_token',
    'SELECT * FROM auth.create_api_key(''rt'', ''{notes:read}'')') r,
    LATERAL (SELECT r->>'key' AS key) k \gset
SELECT count(*) AS key_rows FROM auth.with_identity(:'rita_key', 'SELECT * FROM rt_notes') r;
SELECT pg_temp.err($$SELECT * FROM auth.with_identity('ak_' || repeat('A', 48), 'SELECT * FROM rt_notes')$$);
RESET ROLE;
DROP FUNCTION rt_my_notes(text);
DROP TABLE rt_notes;
DROP SCHEMA rt_other CASCADE;
REVOKE USAGE ON SCHEMA public FROM regress_rt_app;
DROP ROLE regress_rt_app;
