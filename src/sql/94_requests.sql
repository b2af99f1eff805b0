-- requests: what an application's requests need beside authenticate():
-- the signed-in user's own profile, the retry time of a refusal in a form
-- a program reads, and PostgREST's pre-request hook.

-- The hint of every retryable PT429: {"retry_after": <seconds>}, whole
-- seconds rounded up, at least 1, so a program sets Retry-After from it
-- without parsing prose (README "Errors").
CREATE FUNCTION auth._retry_hint(retry_at timestamptz, now timestamptz) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT pg_catalog.jsonb_build_object('retry_after',
        GREATEST(1, pg_catalog.ceil(pg_catalog.date_part('epoch',
            retry_at OPERATOR(pg_catalog.-) now))::bigint))::text
$$;
COMMENT ON FUNCTION auth._retry_hint(timestamptz, timestamptz) IS
    'internal: the hint of a retryable PT429, {"retry_after": <seconds>}';
REVOKE ALL ON FUNCTION auth._retry_hint(timestamptz, timestamptz) FROM PUBLIC;

-- The seconds of such a hint, NULL for any other hint (or none): for SQL
-- and PL/pgSQL callers (GET STACKED DIAGNOSTICS h = PG_EXCEPTION_HINT).
CREATE FUNCTION auth.retry_after(hint text) RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT CASE WHEN hint OPERATOR(pg_catalog.~) '^\{"retry_after": [0-9]{1,9}\}$'
                THEN (hint::pg_catalog.jsonb OPERATOR(pg_catalog.->>) 'retry_after')::integer END
$$;
COMMENT ON FUNCTION auth.retry_after(text) IS
    'the seconds to wait that the hint of a retryable PT429 carries, NULL for any other hint';

-- The signed-in user's own profile and identity (auth.users is closed to
-- applications); 28000 when nobody is authenticated.
CREATE FUNCTION auth.me(OUT id uuid, OUT email text, OUT name text, OUT image text,
                        OUT email_verified boolean, OUT role text, OUT created_at timestamptz,
                        OUT kind text, OUT org_id uuid, OUT scopes text[], OUT aal text)
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    v_uid uuid := auth.require_uid();
BEGIN
    SELECT u.id, u.email, u.name, u.image, u.email_verified_at IS NOT NULL, u.role, u.created_at
      INTO me.id, me.email, me.name, me.image, me.email_verified, me.role, me.created_at
      FROM auth.users u WHERE u.id = v_uid;
    IF NOT FOUND THEN   -- an identity a superuser set for no user
        RAISE EXCEPTION USING ERRCODE = '28000', MESSAGE = 'not authenticated',
            DETAIL = 'The identity names no user.';
    END IF;
    me.kind := auth.identity()->>'kind';
    me.org_id := auth.org_id();
    me.scopes := auth.scopes();
    me.aal := auth.aal();
END
$$;
COMMENT ON FUNCTION auth.me() IS
    'the authenticated user''s id, email, name, image, email_verified, role, created_at, and the identity''s kind, org_id, scopes and aal (auth.aal()); 28000 when nobody is authenticated';

-- PostgREST's db-pre-request: authenticates the request's credential (a
-- header named by auth.token_header, an Authorization: Bearer value, or a
-- cookie named by auth.cookie_name, in that order), dispatching on its
-- shape: a session token (ses_...), a compact JWS (three base64url
-- segments) to auth.authenticate_jwt() when that function exists, and
-- anything else to auth.authenticate_api_key().  authenticate*() switch to
-- auth.authenticated_role; with no credential the request runs as
-- auth.anonymous_role.  A refused credential answers 401 with
-- WWW-Authenticate, a limit 429 with Retry-After, through PostgREST's
-- SQLSTATE PGRST.  Not SECURITY DEFINER: PostgreSQL refuses SET ROLE
-- there.
CREATE FUNCTION auth.postgrest_pre_request() RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_header text := lower(current_setting('auth.token_header'));
    v_cookie text := current_setting('auth.cookie_name');
    v_anonymous text := current_setting('auth.anonymous_role');
    v_headers jsonb := coalesce(nullif(current_setting('request.headers', true), '')::jsonb, '{}');
    v_cookies jsonb := coalesce(nullif(current_setting('request.cookies', true), '')::jsonb, '{}');
    v_token text;
    v_state text;
    v_message text;
    v_detail text;
    v_hint text;
    v_headers_out jsonb;
BEGIN
    -- Each request starts with nobody: an identity the pooled connection
    -- kept (a connection-scope one an earlier request set) must not serve
    -- a request that brings no credential, or one whose credential fails.
    PERFORM auth._clear_identity();
    IF v_header <> '' THEN
        v_token := nullif(v_headers->>v_header, '');
    END IF;
    IF v_token IS NULL AND v_headers->>'authorization' ~* '^bearer +[^ ]' THEN
        v_token := regexp_replace(v_headers->>'authorization', '^[Bb][Ee][Aa][Rr][Ee][Rr] +', '');
    END IF;
    IF v_token IS NULL AND v_cookie <> '' THEN
        v_token := nullif(v_cookies->>v_cookie, '');
    END IF;
    IF v_token IS NULL THEN
        IF v_anonymous <> '' THEN
            PERFORM set_config('role', v_anonymous, true);
        END IF;
        RETURN;
    END IF;
    BEGIN
        IF starts_with(v_token, 'ses_') THEN
            PERFORM auth.authenticate(v_token);
        ELSIF v_token ~ '^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$' THEN
            -- JWTs are verified by auth.authenticate_jwt() where it exists
            IF to_regprocedure('auth.authenticate_jwt(text, boolean)') IS NULL THEN
                RAISE EXCEPTION USING ERRCODE = '28000', MESSAGE = 'invalid token',
                    DETAIL = 'This version of auth does not verify JWTs.';
            END IF;
            EXECUTE 'SELECT auth.authenticate_jwt($1, true)' USING v_token;
        ELSE
            PERFORM auth.authenticate_api_key(v_token);
        END IF;
    EXCEPTION WHEN invalid_authorization_specification OR SQLSTATE 'PT429' THEN
        GET STACKED DIAGNOSTICS v_state = RETURNED_SQLSTATE, v_message = MESSAGE_TEXT,
                                v_detail = PG_EXCEPTION_DETAIL, v_hint = PG_EXCEPTION_HINT;
        v_headers_out := CASE WHEN v_state = '28000'
                              THEN jsonb_build_object('WWW-Authenticate', 'Bearer error="invalid_token"')
                              WHEN auth.retry_after(v_hint) IS NOT NULL
                              THEN jsonb_build_object('Retry-After', auth.retry_after(v_hint)::text)
                              ELSE '{}' END;
        RAISE SQLSTATE 'PGRST' USING
            MESSAGE = jsonb_build_object('code', v_state, 'message', v_message,
                                         'details', nullif(v_detail, ''),
                                         'hint', nullif(v_hint, ''))::text,
            DETAIL = jsonb_build_object('status', CASE WHEN v_state = '28000' THEN 401 ELSE 429 END,
                                        'headers', v_headers_out)::text;
    END;
END
$$;
COMMENT ON FUNCTION auth.postgrest_pre_request() IS
    'PostgREST db-pre-request: authenticates the request''s session token, API key or JWT from auth.token_header, Authorization or the auth.cookie_name cookie; 401 with WWW-Authenticate or 429 with Retry-After through SQLSTATE PGRST';
