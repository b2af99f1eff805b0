-- identity: who the current database session acts for (src/identity.c).
-- The accessors are what RLS policies call; they read a struct parsed once,
-- so `owner_id = auth.uid()` costs about as much per row as a constant.

CREATE FUNCTION auth.uid() RETURNS uuid
    AS 'MODULE_PATHNAME', 'auth_uid'
    LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION auth.uid() IS
    'id of the authenticated user, NULL when nobody is authenticated';

CREATE FUNCTION auth.session_id() RETURNS uuid
    AS 'MODULE_PATHNAME', 'auth_session_id'
    LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION auth.session_id() IS
    'id of the session the identity was authenticated with, NULL otherwise';

-- (an impersonation session records who impersonates: 99_impersonation.sql)
CREATE FUNCTION auth.impersonator_id() RETURNS uuid
    AS 'MODULE_PATHNAME', 'auth_impersonator_id'
    LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION auth.impersonator_id() IS
    'who impersonates the authenticated user (the identity is an impersonation session), NULL otherwise';

CREATE FUNCTION auth.is_authenticated() RETURNS boolean
    AS 'MODULE_PATHNAME', 'auth_is_authenticated'
    LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION auth.is_authenticated() IS
    'whether an identity is set';

CREATE FUNCTION auth.require_uid() RETURNS uuid
    AS 'MODULE_PATHNAME', 'auth_require_uid'
    LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION auth.require_uid() IS
    'id of the authenticated user; raises 28000 when nobody is authenticated';

CREATE FUNCTION auth._require_account_uid() RETURNS uuid
    AS 'MODULE_PATHNAME', 'auth_require_account_uid'
    LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION auth._require_account_uid() IS
    'internal: the authenticated user for account functions; 28000 when nobody, 42501 for an API key';
REVOKE ALL ON FUNCTION auth._require_account_uid() FROM PUBLIC;

-- A JWT is a bearer token for reading data under RLS: it makes and manages
-- no credential (it would outlive its scopes and its session).
CREATE FUNCTION auth._require_not_jwt(action text) RETURNS uuid
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF auth.identity() OPERATOR(pg_catalog.->>) 'kind' OPERATOR(pg_catalog.=) 'jwt' THEN
        RAISE EXCEPTION USING ERRCODE = '42501',
            MESSAGE = format('a JWT identity cannot %s', action),
            HINT = 'Authenticate with the session or API key the token was issued from.';
    END IF;
    RETURN auth.require_uid();
END
$$;
COMMENT ON FUNCTION auth._require_not_jwt(text) IS
    'internal: the authenticated user; 28000 when nobody, 42501 under a JWT identity';
REVOKE ALL ON FUNCTION auth._require_not_jwt(text) FROM PUBLIC;

CREATE FUNCTION auth.api_key_id() RETURNS uuid
    AS 'MODULE_PATHNAME', 'auth_api_key_id'
    LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION auth.api_key_id() IS
    'id of the API key the identity was authenticated with, NULL otherwise';

CREATE FUNCTION auth.has_scope(scope text) RETURNS boolean
    AS 'MODULE_PATHNAME', 'auth_has_scope'
    LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION auth.has_scope(text) IS
    'whether the identity holds a scope: a session every scope, an API key its own ("*" and "resource:*" are wildcards), nobody none';

CREATE FUNCTION auth.scopes() RETURNS text[]
    AS 'MODULE_PATHNAME', 'auth_scopes'
    LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION auth.scopes() IS
    'the identity''s scopes: {*} for a session, an API key''s own, NULL when nobody is authenticated';

CREATE FUNCTION auth.identity() RETURNS jsonb
    AS 'MODULE_PATHNAME', 'auth_identity_json'
    LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION auth.identity() IS
    'the identity as jsonb (kind, user_id, session_id or api_key_id and scopes, org_id), NULL when nobody is authenticated';

CREATE FUNCTION auth._clear_identity() RETURNS void
    AS 'MODULE_PATHNAME', 'auth_clear_identity_sql'
    LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION auth._clear_identity() IS
    'internal: forgets the identity of the current session';
REVOKE ALL ON FUNCTION auth._clear_identity() FROM PUBLIC;
-- Forgetting only narrows: anyone may (auth.postgrest_pre_request, which is
-- not SECURITY DEFINER, starts every request with it).
GRANT EXECUTE ON FUNCTION auth._clear_identity() TO PUBLIC;
