-- sessions: opaque session tokens, verification and revocation
-- (src/session.c is the read path).

CREATE TABLE auth.sessions (
    id             uuid PRIMARY KEY DEFAULT pg_catalog.gen_random_uuid(),
    user_id        uuid NOT NULL REFERENCES auth.users (id) ON DELETE CASCADE,
    token_hash     bytea NOT NULL,      -- SHA-256 of the token; the token is never stored
    created_at     timestamptz NOT NULL DEFAULT auth.now(),
    refreshed_at   timestamptz NOT NULL DEFAULT auth.now(),
    expires_at     timestamptz NOT NULL,
    ip             inet,
    user_agent     text,
    revoked_at     timestamptz,
    revoked_reason text,
    -- a copy of auth.users.banned_until, so verifying reads one row
    user_banned_until timestamptz,
    -- when the user last proved who they are in this session (sign-in,
    -- magic link, code); a sliding refresh does not move it
    authenticated_at timestamptz NOT NULL DEFAULT auth.now(),
    -- an impersonation session (auth.impersonate): who and why; never extended
    impersonator_id uuid REFERENCES auth.users (id) ON DELETE CASCADE,
    impersonation_reason text,
    CONSTRAINT sessions_token_hash_key UNIQUE (token_hash)
);
CREATE INDEX sessions_user_id_idx ON auth.sessions (user_id);
ALTER TABLE auth.sessions ENABLE ROW LEVEL SECURITY;
SELECT pg_catalog.pg_extension_config_dump('auth.sessions', '');
COMMENT ON TABLE auth.sessions IS 'sessions; only the SHA-256 of each token is kept';

-- auth.revoke_all_sessions() ends every session at once without writing
-- any: a session created at or before not_before is dead.  One row at
-- most; none means no cutoff.  The read path (src/session.c) compares it
-- with the session's created_at, reading it at most once per snapshot.
CREATE TABLE auth.session_epoch (
    id         boolean PRIMARY KEY DEFAULT true CHECK (id),
    not_before timestamptz NOT NULL
);
ALTER TABLE auth.session_epoch ENABLE ROW LEVEL SECURITY;
SELECT pg_catalog.pg_extension_config_dump('auth.session_epoch', '');
COMMENT ON TABLE auth.session_epoch IS
    'the cutoff of auth.revoke_all_sessions(): sessions created at or before it are dead';

-- The cutoff as SQL reads it: -infinity when there is none.
CREATE FUNCTION auth._sessions_not_before() RETURNS timestamptz
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT coalesce((SELECT e.not_before FROM auth.session_epoch e), '-infinity')
$$;
COMMENT ON FUNCTION auth._sessions_not_before() IS
    'internal: the cutoff of auth.revoke_all_sessions(), -infinity when none';
REVOKE ALL ON FUNCTION auth._sessions_not_before() FROM PUBLIC;

-- Banning or unbanning a user (UPDATE auth.users SET banned_until ...)
-- reaches their sessions in the same transaction.
CREATE FUNCTION auth._sync_session_ban() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    UPDATE auth.sessions s SET user_banned_until = NEW.banned_until
     WHERE s.user_id = NEW.id;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION auth._sync_session_ban() IS
    'internal: copies a user''s ban onto their sessions';
REVOKE ALL ON FUNCTION auth._sync_session_ban() FROM PUBLIC;
CREATE TRIGGER users_ban_reaches_sessions
    AFTER UPDATE OF banned_until ON auth.users
    FOR EACH ROW WHEN (OLD.banned_until IS DISTINCT FROM NEW.banned_until)
    EXECUTE FUNCTION auth._sync_session_ban();

-- What opening a session returns: the token (its only copy) and the session.
CREATE TYPE auth.session_grant AS (
    token      text,
    session_id uuid,
    user_id    uuid,
    expires_at timestamptz,
    mfa_challenge text      -- instead of a session, when a second factor is due
);
COMMENT ON TYPE auth.session_grant IS
    'a new session: its token, shown once and never stored, and its id, user and expiry; or, when the user has a second factor, no token but an MFA challenge for auth.verify_mfa';

-- Creates a session for a user and returns its token, the only copy;
-- 22023 for an unknown user, 28000 for a suspended one.
CREATE FUNCTION auth._issue_session_with(user_id uuid, ttl interval, ip inet, user_agent text,
                                         aal smallint, amr jsonb, auth_time timestamptz)
RETURNS auth.session_grant
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_now timestamptz := auth.now();
    v_ttl interval := coalesce(ttl, auth._setting_interval('auth.session_ttl'));
    v_max interval := auth._setting_interval('auth.session_max_lifetime');
    v_grant auth.session_grant;
    v_banned timestamptz;
    v_epoch bigint;
BEGIN
    IF v_ttl <= interval '0' THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'session ttl must be positive';
    END IF;
    -- No lock: a ban or an end of the user's credentials committed before
    -- this transaction commits fails it (src/lifecycle.c), and none waits
    -- for this transaction.
    SELECT u.banned_until, u.credentials_epoch INTO v_banned, v_epoch FROM auth.users u
     WHERE u.id = _issue_session_with.user_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'user does not exist';
    END IF;
    PERFORM auth._creating_credential(_issue_session_with.user_id, v_epoch, NULL);
    IF v_banned > v_now THEN
        RAISE EXCEPTION USING ERRCODE = '28000', MESSAGE = 'account is suspended',
            DETAIL = CASE WHEN v_banned < 'infinity'
                          THEN format('The suspension ends at %s.', v_banned)
                          ELSE 'The suspension has no end date.' END;
    END IF;
    v_grant.token := auth._generate_token('ses');
    v_grant.user_id := _issue_session_with.user_id;
    INSERT INTO auth.sessions AS s (user_id, token_hash, created_at, refreshed_at,
                                    expires_at, ip, user_agent, user_banned_until,
                                    authenticated_at, aal, amr, auth_time)
    VALUES (_issue_session_with.user_id, auth._token_hash(v_grant.token, 'ses'), v_now, v_now,
            v_now + least(v_ttl, v_max), _issue_session_with.ip,
            left(_issue_session_with.user_agent, auth._limit('user agent')), v_banned, v_now,
            _issue_session_with.aal, _issue_session_with.amr, _issue_session_with.auth_time)
    RETURNING s.id, s.expires_at INTO v_grant.session_id, v_grant.expires_at;
    RETURN v_grant;
END
$$;
COMMENT ON FUNCTION auth._issue_session_with(uuid, interval, inet, text, smallint, jsonb, timestamptz) IS
    'internal: inserts a session with its assurance (aal, amr, auth_time) and returns its token';
REVOKE ALL ON FUNCTION auth._issue_session_with(uuid, interval, inet, text, smallint, jsonb, timestamptz) FROM PUBLIC;

-- A session of the first assurance level, no factor recorded (amr empty).
CREATE FUNCTION auth._issue_session(user_id uuid, ttl interval, ip inet, user_agent text)
RETURNS auth.session_grant
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    RETURN auth._issue_session_with(user_id, ttl, ip, user_agent, 1::smallint, '[]'::jsonb,
                                    NULL::timestamptz);
END
$$;
COMMENT ON FUNCTION auth._issue_session(uuid, interval, inet, text) IS
    'internal: inserts a session and returns its token';
REVOKE ALL ON FUNCTION auth._issue_session(uuid, interval, inet, text) FROM PUBLIC;

CREATE FUNCTION auth.create_session(user_id uuid, ttl interval DEFAULT NULL,
                                    ip inet DEFAULT NULL, user_agent text DEFAULT NULL)
RETURNS auth.session_grant
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_grant auth.session_grant;
BEGIN
    v_grant := auth._issue_session(create_session.user_id, ttl, ip, user_agent);
    PERFORM auth._audit('session_created', v_grant.user_id, v_grant.session_id, ip, '{}');
    RETURN v_grant;
END
$$;
COMMENT ON FUNCTION auth.create_session(uuid, interval, inet, text) IS
    'admin: creates a session for any user and returns its token';
REVOKE ALL ON FUNCTION auth.create_session(uuid, interval, inet, text) FROM PUBLIC;

-- The read path is C: one index probe, no SQL, no write (a due refresh is
-- handed to the extension's worker).  Not SECURITY DEFINER, so a call pays
-- no settings push and pop, and the identity authenticate sets is the
-- caller's.
CREATE FUNCTION auth.verify_session(token text,
                                    OUT user_id uuid, OUT session_id uuid,
                                    OUT expires_at timestamptz)
    AS 'MODULE_PATHNAME', 'auth_verify_session'
    LANGUAGE C VOLATILE STRICT;
COMMENT ON FUNCTION auth.verify_session(text) IS
    'the user, session and expiry of a live session token, all NULL otherwise; never raises for a bad token';

CREATE FUNCTION auth.authenticate(token text, is_local boolean DEFAULT true)
RETURNS uuid
    AS 'MODULE_PATHNAME', 'auth_authenticate'
    LANGUAGE C VOLATILE;
COMMENT ON FUNCTION auth.authenticate(text, boolean) IS
    'verifies a session token and sets the identity for the transaction (or the connection when is_local is false); 28000 when invalid';

-- Revokes a user's live sessions but one; returns how many.
CREATE FUNCTION auth._revoke_sessions(user_id uuid, except_session uuid, reason text)
RETURNS integer
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_count int;
BEGIN
    -- a key being made under one of these sessions re-checks it at commit
    PERFORM auth._lock_user_credentials(_revoke_sessions.user_id, false);
    UPDATE auth.sessions s
       SET revoked_at = auth.now(), revoked_reason = reason
     WHERE s.user_id = _revoke_sessions.user_id AND s.revoked_at IS NULL
       AND s.id IS DISTINCT FROM except_session;
    GET DIAGNOSTICS v_count = ROW_COUNT;
    IF v_count > 0 THEN
        PERFORM auth._audit('session_revoked', _revoke_sessions.user_id, NULL, NULL,
                            jsonb_build_object('reason', reason, 'count', v_count));
    END IF;
    RETURN v_count;
END
$$;
COMMENT ON FUNCTION auth._revoke_sessions(uuid, uuid, text) IS
    'internal: revokes every live session of a user except one';
REVOKE ALL ON FUNCTION auth._revoke_sessions(uuid, uuid, text) FROM PUBLIC;

CREATE FUNCTION auth.revoke_session(session_id uuid) RETURNS boolean
LANGUAGE plpgsql VOLATILE STRICT SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_uid uuid := auth._require_account_uid();
    v_reason text := CASE WHEN session_id = auth.session_id() THEN 'sign_out' ELSE 'revoked' END;
BEGIN
    -- a key being made under this session re-checks it at commit
    PERFORM auth._lock_user_credentials(v_uid, false);
    UPDATE auth.sessions s SET revoked_at = auth.now(), revoked_reason = v_reason
     WHERE s.id = revoke_session.session_id AND s.user_id = v_uid AND s.revoked_at IS NULL;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    PERFORM auth._audit(CASE v_reason WHEN 'sign_out' THEN 'sign_out' ELSE 'session_revoked' END,
                        v_uid, revoke_session.session_id, NULL, '{}');
    RETURN true;
END
$$;
COMMENT ON FUNCTION auth.revoke_session(uuid) IS
    'revokes one of the authenticated user''s sessions; false when it is not theirs or not live';

-- No SET clause: clearing the identity must outlast the call.  Only
-- schema-qualified calls inside, so the caller's search_path cannot matter.
CREATE FUNCTION auth.sign_out() RETURNS boolean
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_revoked boolean := false;
BEGIN
    IF auth.session_id() IS NOT NULL THEN
        v_revoked := auth.revoke_session(auth.session_id());
    END IF;
    PERFORM auth._clear_identity();
    RETURN v_revoked;
END
$$;
COMMENT ON FUNCTION auth.sign_out() IS
    'revokes the current session and clears the identity; false when there was no session to revoke';

-- plpgsql: the gate is defined later in the install script
CREATE FUNCTION auth.revoke_other_sessions() RETURNS integer
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    RETURN auth._revoke_sessions(auth._require_account_owner('sign out other sessions'),
                                 auth.session_id(), 'revoked');
END
$$;
COMMENT ON FUNCTION auth.revoke_other_sessions() IS
    'revokes every session of the authenticated user but the current one; returns how many; 42501 with an API key, an impersonation session, or below aal2 once the user has a second factor (MFA_REQUIRED)';

CREATE FUNCTION auth.list_sessions()
RETURNS TABLE (id uuid, created_at timestamptz, refreshed_at timestamptz,
               expires_at timestamptz, ip inet, user_agent text, is_current boolean,
               impersonator_id uuid)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT s.id, s.created_at, s.refreshed_at, s.expires_at, s.ip, s.user_agent,
           s.id IS NOT DISTINCT FROM auth.session_id(), s.impersonator_id
      FROM auth.sessions s
     WHERE s.user_id = auth._require_account_uid() AND s.revoked_at IS NULL
       AND s.expires_at > auth.now() AND s.created_at > auth._sessions_not_before()
     ORDER BY s.created_at DESC
$$;
COMMENT ON FUNCTION auth.list_sessions() IS
    'the authenticated user''s live sessions, never their tokens; impersonator_id names who impersonates them in an impersonation session';

CREATE FUNCTION auth.revoke_user_sessions(user_id uuid) RETURNS integer
LANGUAGE sql VOLATILE STRICT SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$ SELECT auth._revoke_sessions(user_id, NULL, 'admin') $$;
COMMENT ON FUNCTION auth.revoke_user_sessions(uuid) IS
    'admin: revokes every session of a user; returns how many';
REVOKE ALL ON FUNCTION auth.revoke_user_sessions(uuid) FROM PUBLIC;
