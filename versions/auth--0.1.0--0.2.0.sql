-- auth 0.1.0 -> 0.2.0: ALTER EXTENSION auth UPDATE TO '0.2.0'.
--
-- Every change of schema or function made since 0.1.0 is here, in the same
-- commit as the change in src/sql/, so that an upgraded database equals a
-- fresh install of 0.2.0 (test/t/005_upgrade.pl compares the two).
\echo Use "ALTER EXTENSION auth UPDATE TO '0.2.0'" to load this file. \quit

-- issue 10: the extension's own workers (attempts and the read path's writes)
-- Who does the autonomous writes: 'workers' (the extension's own, when it
-- is preloaded) or 'dynamic' (a short-lived dynamic worker per call).
CREATE FUNCTION auth._autonomous_path() RETURNS text
    AS 'MODULE_PATHNAME', 'auth_autonomous_path'
    LANGUAGE C VOLATILE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION auth._autonomous_path() IS
    'internal: workers when the extension''s own background workers do the autonomous writes, dynamic when each starts a dynamic worker';
REVOKE ALL ON FUNCTION auth._autonomous_path() FROM PUBLIC;

CREATE OR REPLACE FUNCTION auth._autonomous_dispatch(request jsonb) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_scope text := request->>'scope';
    v_key bytea := decode(request->>'key', 'hex');
    v_at timestamptz := (request->>'at')::timestamptz;
    v_window interval := (request->>'window')::interval;
    v_max int := (request->>'max')::int;
    v_count int;
    v_retry timestamptz;
BEGIN
    CASE request->>'op'
    WHEN 'attempt' THEN
        IF NOT coalesce((request->>'nowait')::boolean, false) THEN
            PERFORM pg_advisory_xact_lock(hashtextextended(v_scope || ':' || encode(v_key, 'hex'), 0));
        ELSIF NOT pg_try_advisory_xact_lock(hashtextextended(v_scope || ':' || encode(v_key, 'hex'), 0)) THEN
            RETURN jsonb_build_object('busy', true);
        END IF;
        SELECT count(*) INTO v_count FROM auth.attempts a
         WHERE a.scope = v_scope AND a.key = v_key AND a.attempted_at > v_at - v_window;
        IF v_count >= v_max THEN
            -- the limit frees up when the max-th newest attempt leaves the window
            SELECT a.attempted_at + v_window INTO v_retry FROM auth.attempts a
             WHERE a.scope = v_scope AND a.key = v_key AND a.attempted_at > v_at - v_window
             ORDER BY a.attempted_at DESC OFFSET v_max - 1 LIMIT 1;
            RETURN jsonb_build_object('allowed', false, 'count', v_count, 'retry_at', v_retry);
        END IF;
        INSERT INTO auth.attempts (scope, key, attempted_at) VALUES (v_scope, v_key, v_at);
        RETURN jsonb_build_object('allowed', true, 'count', v_count + 1);
    WHEN 'audit' THEN
        PERFORM auth._audit(request->>'event', (request->>'user_id')::uuid, NULL,
                            (request->>'ip')::inet, coalesce(request->'detail', '{}'),
                            (request->>'at')::timestamptz);
        RETURN '{}';
    ELSE
        RAISE EXCEPTION 'unknown autonomous operation %', request->>'op';
    END CASE;
END
$$;

CREATE OR REPLACE FUNCTION auth.check()
RETURNS TABLE ("check" text, ok boolean, detail text)
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_mem int := auth._setting_int('auth.argon2_memory_kib');
    v_iter int := auth._setting_int('auth.argon2_iterations');
    v_ttl interval := auth._setting_interval('auth.session_ttl');
    v_max interval := auth._setting_interval('auth.session_max_lifetime');
    v_refresh interval := auth._setting_interval('auth.session_refresh_age');
    v_min int := auth._setting_int('auth.password_min_length');
    v_workers int := current_setting('max_worker_processes')::int;
    v_version text;
BEGIN
    SELECT e.extversion INTO v_version FROM pg_extension e WHERE e.extname = 'auth';
    RETURN QUERY SELECT 'extension installed', v_version IS NOT NULL,
        format('auth %s', coalesce(v_version, 'missing'));
    RETURN QUERY SELECT 'pgcrypto installed',
        EXISTS (SELECT FROM pg_extension e WHERE e.extname = 'pgcrypto'),
        'needed to verify imported bcrypt hashes';
    RETURN QUERY SELECT 'argon2 memory', v_mem >= 19456,
        format('auth.argon2_memory_kib = %s (OWASP minimum 19456)', v_mem);
    RETURN QUERY SELECT 'argon2 iterations', v_iter >= 2 OR v_mem >= 47104,
        format('auth.argon2_iterations = %s (OWASP: 2 at 19 MiB, 1 at 46 MiB)', v_iter);
    RETURN QUERY SELECT 'password length', v_min >= 8,
        format('auth.password_min_length = %s (at least 8)', v_min);
    RETURN QUERY SELECT 'session lifetime', v_ttl <= v_max,
        format('auth.session_ttl = %s within auth.session_max_lifetime = %s', v_ttl, v_max);
    RETURN QUERY SELECT 'session refresh', v_refresh < v_ttl,
        format('auth.session_refresh_age = %s below auth.session_ttl = %s', v_refresh, v_ttl);
    RETURN QUERY SELECT 'clock', auth._setting_interval('auth.time_offset') = interval '0',
        format('auth.time_offset = %s (tests only)', current_setting('auth.time_offset'));
    RETURN QUERY SELECT 'background workers',
        auth._autonomous_path() = 'workers' OR v_workers > current_setting('max_parallel_workers')::int,
        CASE WHEN auth._autonomous_path() = 'workers'
             THEN format('attempts are counted by %s workers of the extension''s own (auth.autonomous_workers), which parallel query cannot crowd out',
                         current_setting('auth.autonomous_workers'))
             ELSE format('auth is not in shared_preload_libraries: each counted attempt starts a dynamic background worker; max_worker_processes = %s, max_parallel_workers = %s; sign-ins need worker slots parallel query leaves free',
                         v_workers, current_setting('max_parallel_workers')) END;
    RETURN QUERY SELECT 'API-key rate limits', auth._api_key_rate_limit_store() = 'memory',
        CASE WHEN auth._api_key_rate_limit_store() = 'memory'
             THEN format('counted in shared memory (auth.api_key_rate_limit_slots = %s)',
                         current_setting('auth.api_key_rate_limit_slots'))
             ELSE 'auth is not in shared_preload_libraries: a rate-limited key''s uses are counted by a row update, exact but serializing that key''s requests until each transaction ends' END;
    RETURN QUERY SELECT 'tables closed to PUBLIC',
        NOT EXISTS (SELECT FROM pg_class c
                     WHERE c.relnamespace = 'auth'::regnamespace AND c.relkind = 'r'
                       AND (NOT c.relrowsecurity
                            OR has_table_privilege('public', c.oid, 'SELECT,INSERT,UPDATE,DELETE'))),
        'every table in schema auth has RLS enabled and grants nothing to PUBLIC';
END
$$;
