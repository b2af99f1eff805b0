-- admin: granting the admin tier, housekeeping, and the post-install check.

-- Every function that acts for any user; EXECUTE is revoked from PUBLIC and
-- auth.grant_admin() grants them (and the issuer tier).  The names are
-- cast when called, not when this is created: some are defined in files
-- after this one.
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
        'auth.create_email_verification(uuid)',
        'auth.create_api_key_for(uuid, text, text[], interval, uuid, text, integer, interval, integer, integer, interval, jsonb)',
        'auth.set_api_key_limits(uuid, integer, interval, integer, integer, interval)',
        'auth.list_users(text, boolean, text, boolean, integer, integer)',
        'auth.create_user(text, text, text, text, boolean)',
        'auth.update_user_as_admin(uuid, text, text, text, boolean, jsonb, text)',
        'auth.set_user_password(uuid, text, boolean)',
        'auth.ban_user(uuid, timestamptz, text)',
        'auth.unban_user(uuid)',
        'auth.delete_user(uuid, uuid)',
        'auth.list_user_sessions(uuid)',
        'auth.revoke_all_sessions()',
        -- issue 11 (defined after this file: resolved when called)
        'auth.create_signing_key(text, text)',
        'auth.import_signing_key(jsonb, text)',
        'auth.rotate_signing_keys()',
        'auth.revoke_signing_key(text)',
        'auth.issue_jwt_for(uuid, text[], interval, uuid, jsonb)',
        'auth.add_issuer(text, jsonb, text[], text)',
        'auth.set_issuer_jwks(text, jsonb)',
        'auth.remove_issuer(text)',
        'auth.link_identity(text, text, uuid)',
        -- issue 12 (defined in 89_mfa.sql, before this file)
        'auth.import_totp_factor(uuid, text, text, integer, text)',
        'auth.reset_mfa(uuid)',
        -- issue 14 (likewise)
        'auth.create_global_role(text, text[])',
        'auth.set_user_role(uuid, text)',
        'auth.impersonate(uuid, text, interval)'
    ]::text[]::regprocedure[] || auth._issuer_functions()
$$;
COMMENT ON FUNCTION auth._admin_functions() IS
    'internal: the admin tier, granted by auth.grant_admin()';
REVOKE ALL ON FUNCTION auth._admin_functions() FROM PUBLIC;

-- Every function that returns a secret meant for a mailbox: only the
-- application's server, which mails it, may call them, never a role its
-- users reach directly (such as PostgREST's anon); auth.grant_issuer().
CREATE FUNCTION auth._issuer_functions() RETURNS regprocedure[]
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT ARRAY[
        'auth.create_magic_link(text, text, interval, inet)',
        'auth.create_email_code(text, text)',
        'auth.request_email_verification()',
        'auth.request_email_change(text)',
        'auth.request_password_reset(text)',
        'auth.create_mfa_email_code(text)'
    ]::regprocedure[]
$$;
COMMENT ON FUNCTION auth._issuer_functions() IS
    'internal: the issuer tier, granted by auth.grant_issuer()';
REVOKE ALL ON FUNCTION auth._issuer_functions() FROM PUBLIC;

-- Grants (or revokes) EXECUTE on a tier's functions.
CREATE FUNCTION auth._set_tier(role regrole, functions regprocedure[], granted boolean)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    f regprocedure;
BEGIN
    FOREACH f IN ARRAY functions LOOP
        EXECUTE format(CASE WHEN granted THEN 'GRANT EXECUTE ON FUNCTION %s TO %s'
                            ELSE 'REVOKE EXECUTE ON FUNCTION %s FROM %s' END, f, role);
    END LOOP;
END
$$;
COMMENT ON FUNCTION auth._set_tier(regrole, regprocedure[], boolean) IS
    'internal: grants or revokes a tier of functions';
REVOKE ALL ON FUNCTION auth._set_tier(regrole, regprocedure[], boolean) FROM PUBLIC;

CREATE FUNCTION auth.grant_admin(role regrole) RETURNS void
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT auth._set_tier(role, auth._admin_functions(), true) $$;
COMMENT ON FUNCTION auth.grant_admin(regrole) IS
    'grants a role the admin functions (acting for any user, and issuing secrets); for the superuser who installed the extension';
REVOKE ALL ON FUNCTION auth.grant_admin(regrole) FROM PUBLIC;

CREATE FUNCTION auth.revoke_admin(role regrole) RETURNS void
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT auth._set_tier(role, auth._admin_functions(), false) $$;
COMMENT ON FUNCTION auth.revoke_admin(regrole) IS
    'takes the admin functions back from a role';
REVOKE ALL ON FUNCTION auth.revoke_admin(regrole) FROM PUBLIC;

CREATE FUNCTION auth.grant_issuer(role regrole) RETURNS void
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT auth._set_tier(role, auth._issuer_functions(), true) $$;
COMMENT ON FUNCTION auth.grant_issuer(regrole) IS
    'grants the application''s server role the functions that return secrets to mail (magic links, codes, verification, email change, reset)';
REVOKE ALL ON FUNCTION auth.grant_issuer(regrole) FROM PUBLIC;

CREATE FUNCTION auth.revoke_issuer(role regrole) RETURNS void
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT auth._set_tier(role, auth._issuer_functions(), false) $$;
COMMENT ON FUNCTION auth.revoke_issuer(regrole) IS
    'takes the issuer functions back from a role';
REVOKE ALL ON FUNCTION auth.revoke_issuer(regrole) FROM PUBLIC;

CREATE FUNCTION auth.cleanup()
RETURNS TABLE (sessions_deleted bigint, attempts_deleted bigint, audit_deleted bigint,
               secrets_deleted bigint, api_keys_deleted bigint)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_now timestamptz := auth.now();
    v_grace interval := auth._setting_interval('auth.cleanup_grace');
    v_idle timestamptz := auth.now() - auth._setting_interval('auth.anonymous_ttl');
    v_anonymous bigint;
BEGIN
    -- anonymous users with no session created or refreshed for
    -- auth.anonymous_ttl (but the owners of an organization); the
    -- application's rows go as its foreign keys say.  Counted in the audit
    -- log: the result keeps the columns of 0.1.0.
    DELETE FROM auth.users u
     WHERE u.is_anonymous AND u.created_at < v_idle
       AND NOT EXISTS (SELECT FROM auth.sessions s
                        WHERE s.user_id = u.id AND greatest(s.created_at, s.refreshed_at) >= v_idle)
       AND NOT EXISTS (SELECT FROM auth.members m WHERE m.user_id = u.id AND m.role = 'owner');
    GET DIAGNOSTICS v_anonymous = ROW_COUNT;
    IF v_anonymous > 0 THEN
        PERFORM auth._audit('anonymous_users_deleted', NULL, NULL, NULL,
                            jsonb_build_object('count', v_anonymous));
    END IF;
    DELETE FROM auth.sessions s
     WHERE s.expires_at < v_now - v_grace OR s.revoked_at < v_now - v_grace
        -- ended by auth.revoke_all_sessions() longer than the grace ago
        OR (s.created_at <= auth._sessions_not_before()
            AND auth._sessions_not_before() < v_now - v_grace);
    GET DIAGNOSTICS sessions_deleted = ROW_COUNT;
    -- attempts no limit counts any more (codes count theirs for their lifetime)
    DELETE FROM auth.attempts a
     WHERE a.attempted_at < v_now - greatest(auth._setting_interval('auth.failed_sign_in_window'),
                                             auth._setting_interval('auth.email_code_ttl') + interval '1 day',
                                             auth._setting_interval('auth.anonymous_sign_in_window'));
    GET DIAGNOSTICS attempts_deleted = ROW_COUNT;
    DELETE FROM auth.audit_log l
     WHERE l.occurred_at < v_now - auth._setting_interval('auth.audit_retention');
    GET DIAGNOSTICS audit_deleted = ROW_COUNT;
    -- used, superseded or expired secrets, once no rate-limit window reads them
    DELETE FROM auth.one_time_secrets o
     WHERE greatest(o.expires_at, o.created_at + auth._setting_interval('auth.magic_link_rate_window'))
           < v_now - v_grace;
    GET DIAGNOSTICS secrets_deleted = ROW_COUNT;
    DELETE FROM auth.api_keys k
     WHERE k.expires_at < v_now - v_grace OR k.revoked_at < v_now - v_grace;
    GET DIAGNOSTICS api_keys_deleted = ROW_COUNT;
    -- hashes a rotation kept, once their grace period is over
    UPDATE auth.api_keys k SET previous_key_hash = NULL, previous_key_expires_at = NULL
     WHERE k.previous_key_expires_at <= v_now;
    -- to the server log too: a scheduled job (pg_cron) keeps no result
    RAISE LOG 'auth.cleanup() deleted % sessions, % attempts, % audit rows, % one-time secrets, % API keys',
        sessions_deleted, attempts_deleted, audit_deleted, secrets_deleted, api_keys_deleted;
    RETURN NEXT;
END
$$;
COMMENT ON FUNCTION auth.cleanup() IS
    'admin and maintenance: deletes sessions and API keys expired or revoked (or ended by revoke_all_sessions) longer than auth.cleanup_grace ago, stale attempts, audit rows older than auth.audit_retention, dead one-time secrets, and anonymous users idle past auth.anonymous_ttl (audited with their count); returns the counts and logs them';
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
    RETURN QUERY SELECT 'signing keys open',
        NOT EXISTS (SELECT FROM auth.signing_keys k
                     WHERE k.state <> 'revoked'
                       AND NOT auth._sealed_opens('signing-key', k.id, k.private_key)),
        'every signing key opens with the root key file (auth.root_key_file); restore the file they were sealed with, or revoke them';
    RETURN QUERY SELECT 'current signing key',
        EXISTS (SELECT FROM auth.signing_keys k WHERE k.state = 'current')
        OR NOT EXISTS (SELECT FROM auth.signing_keys k),
        'a current key signs issued JWTs (none at all: the first auth.issue_jwt() makes one); else auth.rotate_signing_keys()';
    RETURN QUERY SELECT 'no HS256 signing keys',
        NOT EXISTS (SELECT FROM auth.signing_keys k WHERE k.algorithm = 'HS256' AND k.state <> 'revoked'),
        'an HS256 secret must be shared with every verifier, who can then sign too; prefer EdDSA, ES256 or RS256';
    RETURN QUERY SELECT 'previous signing keys within grace',
        NOT EXISTS (SELECT FROM auth.signing_keys k
                     WHERE k.state = 'previous'
                       AND k.retired_at + auth._setting_interval('auth.jwt_previous_key_grace') <= auth.now()),
        'previous keys past auth.jwt_previous_key_grace verify nothing: revoke them (auth.revoke_signing_key)';
    RETURN QUERY SELECT 'issuer keys refreshed',
        NOT EXISTS (SELECT FROM auth.issuers i WHERE i.keys_set_at < auth.now() - interval '7 days'),
        'every trusted issuer''s JWKS was pushed within a week (auth.set_issuer_jwks)';
    RETURN QUERY SELECT 'issuer audiences',
        NOT EXISTS (SELECT FROM auth.issuers i WHERE i.audiences IS NULL OR cardinality(i.audiences) = 0),
        'every trusted issuer lists the audiences its tokens must name (auth.add_issuer(..., audiences)): without, a token the issuer made for any other service is accepted here';
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

-- The issuer tier is not PUBLIC's (see auth._issuer_functions()).
REVOKE ALL ON FUNCTION auth.create_magic_link(text, text, interval, inet) FROM PUBLIC;
REVOKE ALL ON FUNCTION auth.create_email_code(text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION auth.request_email_verification() FROM PUBLIC;
REVOKE ALL ON FUNCTION auth.request_email_change(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION auth.request_password_reset(text) FROM PUBLIC;
