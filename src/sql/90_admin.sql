-- admin: granting the admin tier, housekeeping, and the post-install check.

-- Every function that acts for any user; EXECUTE is revoked from PUBLIC and
-- auth.grant_admin() grants them.
CREATE FUNCTION auth._admin_functions() RETURNS regprocedure[]
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT ARRAY[
        'auth.create_session(uuid, interval, inet, text)',
        'auth.revoke_user_sessions(uuid)',
        'auth.cleanup()',
        'auth.check()',
        'auth.allow_email(text)',
        'auth.disallow_email(text)',
        'auth.create_email_verification(uuid)'
    ]::regprocedure[]
$$;
COMMENT ON FUNCTION auth._admin_functions() IS
    'internal: the admin tier, granted by auth.grant_admin()';
REVOKE ALL ON FUNCTION auth._admin_functions() FROM PUBLIC;

-- Grants (or revokes) EXECUTE on every admin function.
CREATE FUNCTION auth._set_admin(role regrole, admin boolean) RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    f regprocedure;
BEGIN
    FOREACH f IN ARRAY auth._admin_functions() LOOP
        EXECUTE format(CASE WHEN admin THEN 'GRANT EXECUTE ON FUNCTION %s TO %s'
                            ELSE 'REVOKE EXECUTE ON FUNCTION %s FROM %s' END, f, role);
    END LOOP;
END
$$;
COMMENT ON FUNCTION auth._set_admin(regrole, boolean) IS
    'internal: grants or revokes the admin functions';
REVOKE ALL ON FUNCTION auth._set_admin(regrole, boolean) FROM PUBLIC;

CREATE FUNCTION auth.grant_admin(role regrole) RETURNS void
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT auth._set_admin(role, true) $$;
COMMENT ON FUNCTION auth.grant_admin(regrole) IS
    'grants a role the admin functions (acting for any user); for the superuser who installed the extension';
REVOKE ALL ON FUNCTION auth.grant_admin(regrole) FROM PUBLIC;

CREATE FUNCTION auth.revoke_admin(role regrole) RETURNS void
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT auth._set_admin(role, false) $$;
COMMENT ON FUNCTION auth.revoke_admin(regrole) IS
    'takes the admin functions back from a role';
REVOKE ALL ON FUNCTION auth.revoke_admin(regrole) FROM PUBLIC;

CREATE FUNCTION auth.cleanup()
RETURNS TABLE (sessions_deleted bigint, attempts_deleted bigint, audit_deleted bigint,
               secrets_deleted bigint)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_now timestamptz := auth.now();
    v_grace interval := auth._setting_interval('auth.cleanup_grace');
BEGIN
    DELETE FROM auth.sessions s
     WHERE s.expires_at < v_now - v_grace OR s.revoked_at < v_now - v_grace;
    GET DIAGNOSTICS sessions_deleted = ROW_COUNT;
    -- no limit counts attempts older than a year
    DELETE FROM auth.attempts a
     WHERE a.attempted_at < v_now - greatest(auth._setting_interval('auth.failed_sign_in_window'),
                                             interval '1 day');
    GET DIAGNOSTICS attempts_deleted = ROW_COUNT;
    DELETE FROM auth.audit_log l
     WHERE l.occurred_at < v_now - auth._setting_interval('auth.audit_retention');
    GET DIAGNOSTICS audit_deleted = ROW_COUNT;
    -- used, superseded or expired secrets, once no rate-limit window reads them
    DELETE FROM auth.one_time_secrets o
     WHERE greatest(o.expires_at, o.created_at + auth._setting_interval('auth.magic_link_rate_window'))
           < v_now - v_grace;
    GET DIAGNOSTICS secrets_deleted = ROW_COUNT;
    RETURN NEXT;
END
$$;
COMMENT ON FUNCTION auth.cleanup() IS
    'admin: deletes sessions expired or revoked longer than auth.cleanup_grace ago, stale attempts, and audit rows older than auth.audit_retention; returns counts';
REVOKE ALL ON FUNCTION auth.cleanup() FROM PUBLIC;

CREATE FUNCTION auth.check()
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
        v_workers > current_setting('max_parallel_workers')::int,
        format('max_worker_processes = %s, max_parallel_workers = %s; sign-ins need worker slots parallel query leaves free',
               v_workers, current_setting('max_parallel_workers'));
    RETURN QUERY SELECT 'tables closed to PUBLIC',
        NOT EXISTS (SELECT FROM pg_class c
                     WHERE c.relnamespace = 'auth'::regnamespace AND c.relkind = 'r'
                       AND (NOT c.relrowsecurity
                            OR has_table_privilege('public', c.oid, 'SELECT,INSERT,UPDATE,DELETE'))),
        'every table in schema auth has RLS enabled and grants nothing to PUBLIC';
END
$$;
COMMENT ON FUNCTION auth.check() IS
    'admin: rows (check, ok, detail) to run after install or upgrade';
REVOKE ALL ON FUNCTION auth.check() FROM PUBLIC;
