-- maintenance: the tier a scheduled job needs (pg_cron), and no more.

-- auth.cleanup() and auth.check(): what a job that keeps the tables small
-- and watches the configuration runs; none of them acts for a user or
-- returns a secret.  auth.grant_maintenance() grants them.
CREATE FUNCTION auth._maintenance_functions() RETURNS regprocedure[]
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT ARRAY[
        'auth.cleanup()',
        'auth.check()'
    ]::regprocedure[]
$$;
COMMENT ON FUNCTION auth._maintenance_functions() IS
    'internal: the maintenance tier, granted by auth.grant_maintenance()';
REVOKE ALL ON FUNCTION auth._maintenance_functions() FROM PUBLIC;

CREATE FUNCTION auth.grant_maintenance(role regrole) RETURNS void
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT auth._set_tier(role, auth._maintenance_functions(), true) $$;
COMMENT ON FUNCTION auth.grant_maintenance(regrole) IS
    'grants a role auth.cleanup() and auth.check() only, for a scheduled job (pg_cron); for the superuser who installed the extension';
REVOKE ALL ON FUNCTION auth.grant_maintenance(regrole) FROM PUBLIC;

CREATE FUNCTION auth.revoke_maintenance(role regrole) RETURNS void
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT auth._set_tier(role, auth._maintenance_functions(), false) $$;
COMMENT ON FUNCTION auth.revoke_maintenance(regrole) IS
    'takes auth.cleanup() and auth.check() back from a role';
REVOKE ALL ON FUNCTION auth.revoke_maintenance(regrole) FROM PUBLIC;
