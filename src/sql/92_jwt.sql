-- jwt: signed tokens issued and verified in C (src/jwt.c).  A token this
-- database issues from a session or an API key names it in sid, and is
-- refused as soon as that credential ends.

CREATE FUNCTION auth.verify_jwt(token text, audience text DEFAULT NULL,
                                OUT valid boolean, OUT code text, OUT user_id uuid,
                                OUT claims jsonb, OUT kid text)
    AS 'MODULE_PATHNAME', 'auth_verify_jwt'
    LANGUAGE C STABLE PARALLEL RESTRICTED;
COMMENT ON FUNCTION auth.verify_jwt(text, text) IS
    'checks a JWT; code NULL when valid, else INVALID, BAD_SIGNATURE, UNKNOWN_KEY, EXPIRED, NOT_YET_VALID, WRONG_AUDIENCE, WRONG_ISSUER, REVOKED or UNKNOWN_SUBJECT; never raises for a bad token';

CREATE FUNCTION auth.authenticate_jwt(token text, is_local boolean DEFAULT true)
RETURNS uuid
    AS 'MODULE_PATHNAME', 'auth_authenticate_jwt'
    LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION auth.authenticate_jwt(text, boolean) IS
    'verifies a JWT and sets an identity of kind jwt for the transaction (or, is_local false, the connection); returns the user; 28000 with the reason in the detail';

CREATE FUNCTION auth.jwt() RETURNS jsonb
    AS 'MODULE_PATHNAME', 'auth_jwt_claims_sql'
    LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION auth.jwt() IS
    'the claims of the current identity in Supabase''s shape (a JWT identity''s own claims; sub, role, aal, session_id or api_key_id, org, scopes for the others); NULL when nobody is authenticated';

CREATE FUNCTION auth._jwt_issuer() RETURNS text
    AS 'MODULE_PATHNAME', 'auth_jwt_issuer_sql'
    LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION auth._jwt_issuer() IS
    'internal: auth.jwt_issuer, the iss of this database''s own tokens';
REVOKE ALL ON FUNCTION auth._jwt_issuer() FROM PUBLIC;

CREATE FUNCTION auth._jwt_sign(claims jsonb) RETURNS text
    AS 'MODULE_PATHNAME', 'auth_jwt_sign'
    LANGUAGE C VOLATILE STRICT;
COMMENT ON FUNCTION auth._jwt_sign(jsonb) IS
    'internal: the claims signed with the current key, as a compact JWS';
REVOKE ALL ON FUNCTION auth._jwt_sign(jsonb) FROM PUBLIC;

-- Builds the claims and signs them: the registered claims are the
-- extension's, the caller's own may not replace them (22023), and the hook
-- named by auth.jwt_claims_hook (superuser-set) adds its own.  aal and amr
-- are the issuing session's or key's (aal 1 and no amr without one).  The
-- first token ever issued makes the first key (EdDSA, current).
CREATE FUNCTION auth._issue_jwt(user_id uuid, sid_field text, sid uuid, org_id uuid,
                                scopes text[], ttl interval, audience text, claims jsonb,
                                aal integer, amr jsonb)
RETURNS text
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_now timestamptz := auth.now();
    v_ttl interval := coalesce(ttl, auth._setting_interval('auth.jwt_ttl'));
    v_max interval := auth._setting_interval('auth.jwt_max_ttl');
    v_hook text := current_setting('auth.jwt_claims_hook');
    v_iat bigint := floor(extract(epoch FROM v_now))::bigint;
    v_claims jsonb := coalesce(claims, '{}');
    v_registered text[] := '{iss,sub,aud,exp,nbf,iat,jti,sid,session_id,api_key_id,org,scopes,scope,role,aal,amr}';
    -- what Supabase-style policies read as facts about the identity: only
    -- this database (or the superuser's hook) says them
    v_identity text[] := '{email,phone,app_metadata,user_metadata,user_role,is_anonymous}';
    v_extra jsonb;
BEGIN
    IF v_ttl <= interval '0' THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'ttl must be positive';
    END IF;
    IF v_ttl > v_max THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'ttl exceeds auth.jwt_max_ttl',
            DETAIL = format('The longest lifetime is %s.', v_max);
    END IF;
    IF jsonb_typeof(v_claims) <> 'object' OR octet_length(v_claims::text) > 4096 THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'claims must be a JSON object of at most 4 kB';
    END IF;
    IF audience IS NOT NULL AND length(audience) NOT BETWEEN 1 AND 512 THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'an audience is 1 to 512 characters';
    END IF;
    IF v_claims ?| v_registered THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'registered claims cannot be set',
            DETAIL = format('These claims are the extension''s: %s.', array_to_string(v_registered, ', '));
    END IF;
    IF v_claims ?| v_identity THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'claims about the identity cannot be set',
            DETAIL = format('Policies read these as facts about the identity: %s.', array_to_string(v_identity, ', ')),
            HINT = 'Add them with auth.jwt_claims_hook, or name your own claims otherwise.';
    END IF;
    IF v_hook <> '' THEN
        EXECUTE format('SELECT %s($1)', v_hook::regproc) INTO v_extra USING v_claims;
        IF v_extra IS NOT NULL AND jsonb_typeof(v_extra) = 'object' THEN
            v_claims := v_claims || (v_extra - v_registered);
        END IF;
    END IF;
    v_claims := v_claims || jsonb_strip_nulls(jsonb_build_object(
        'iss', auth._jwt_issuer(),
        'sub', user_id,
        'aud', audience,
        'iat', v_iat,
        'nbf', v_iat,
        'exp', v_iat + floor(extract(epoch FROM v_ttl))::bigint,
        'jti', gen_random_uuid(),
        'sid', sid,
        sid_field, sid,
        'org', org_id,
        'scopes', to_jsonb(scopes),
        'role', 'authenticated',
        'aal', CASE WHEN aal >= 2 AND sid IS NOT NULL THEN 'aal2' ELSE 'aal1' END,
        'amr', CASE WHEN sid IS NOT NULL THEN amr END));
    -- only the very first token locks (to make the first key once): with
    -- keys but none current, signing fails (55000) without waiting
    IF NOT EXISTS (SELECT FROM auth.signing_keys k WHERE k.state = 'current')
       AND NOT EXISTS (SELECT FROM auth.signing_keys k) THEN
        LOCK TABLE auth.signing_keys IN SHARE ROW EXCLUSIVE MODE;
        IF NOT EXISTS (SELECT FROM auth.signing_keys k) THEN
            PERFORM auth.create_signing_key('EdDSA', 'current');
        END IF;
    END IF;
    RETURN auth._jwt_sign(v_claims);
END
$$;
COMMENT ON FUNCTION auth._issue_jwt(uuid, text, uuid, uuid, text[], interval, text, jsonb, integer, jsonb) IS
    'internal: builds the claims of a JWT (aal and amr those of the issuing session or key) and signs them';
REVOKE ALL ON FUNCTION auth._issue_jwt(uuid, text, uuid, uuid, text[], interval, text, jsonb, integer, jsonb) FROM PUBLIC;

CREATE FUNCTION auth.issue_jwt(ttl interval DEFAULT NULL, audience text DEFAULT NULL,
                               scopes text[] DEFAULT NULL, claims jsonb DEFAULT '{}')
RETURNS text
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_ident jsonb := auth.identity();
    v_kind text := v_ident->>'kind';
    v_held text[] := auth.scopes();
    v_scopes text[];
BEGIN
    IF v_ident IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = '28000', MESSAGE = 'not authenticated',
            HINT = 'Call auth.authenticate() with the session token first.';
    END IF;
    -- a token would carry the user's identity past the impersonation
    PERFORM auth._refuse_impersonation('issue JWTs');
    IF v_kind NOT IN ('session', 'api_key') THEN
        RAISE EXCEPTION USING ERRCODE = '42501',
            MESSAGE = 'only a session or an API key can issue a JWT',
            HINT = 'A JWT cannot mint further JWTs: authenticate with the session or key it came from.';
    END IF;
    IF scopes IS NULL THEN
        v_scopes := v_held;
    ELSE
        v_scopes := auth._check_scopes(scopes);
        IF NOT auth._scopes_subset(v_scopes, v_held) THEN
            RAISE EXCEPTION USING ERRCODE = '42501',
                MESSAGE = 'a JWT can only carry a subset of the caller''s scopes';
        END IF;
    END IF;
    RETURN auth._issue_jwt(auth.uid(),
                           CASE v_kind WHEN 'session' THEN 'session_id' ELSE 'api_key_id' END,
                           coalesce(auth.session_id(), auth.api_key_id()),
                           auth.org_id(), v_scopes, ttl, audience, claims,
                           CASE auth.aal() WHEN 'aal2' THEN 2 ELSE 1 END, auth.amr());
END
$$;
COMMENT ON FUNCTION auth.issue_jwt(interval, text, text[], jsonb) IS
    'a signed JWT for the current session or API key (sid names it, so ending it ends the token); scopes a subset of the caller''s; aal and amr the caller''s';

CREATE FUNCTION auth.issue_jwt_for(user_id uuid, scopes text[], ttl interval,
                                   org_id uuid DEFAULT NULL, claims jsonb DEFAULT '{}')
RETURNS text
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_user auth.users;
BEGIN
    SELECT * INTO v_user FROM auth.users u WHERE u.id = issue_jwt_for.user_id;
    IF v_user.id IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'user does not exist';
    END IF;
    IF v_user.banned_until > auth.now() THEN
        RAISE EXCEPTION USING ERRCODE = '28000', MESSAGE = 'account is suspended';
    END IF;
    IF org_id IS NOT NULL AND NOT EXISTS (
            SELECT FROM auth.members m
             WHERE m.org_id = issue_jwt_for.org_id AND m.user_id = issue_jwt_for.user_id) THEN
        RAISE EXCEPTION USING ERRCODE = '42501', MESSAGE = 'not a member of this organization';
    END IF;
    RETURN auth._issue_jwt(user_id, 'session_id', NULL, org_id, auth._check_scopes(scopes),
                           ttl, NULL, claims, 1, NULL);
END
$$;
COMMENT ON FUNCTION auth.issue_jwt_for(uuid, text[], interval, uuid, jsonb) IS
    'admin: a signed service JWT for any user (a member of org_id when given), with the scopes given; no sid: it ends with its expiry or its key';
REVOKE ALL ON FUNCTION auth.issue_jwt_for(uuid, text[], interval, uuid, jsonb) FROM PUBLIC;
