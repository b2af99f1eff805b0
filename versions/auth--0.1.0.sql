-- auth: authentication and authorization inside PostgreSQL.
-- This file is assembled from src/sql/*.sql in order; each part is one
-- capability.  Every name is schema-qualified: functions pin search_path
-- (except the identity setters, which must carry no SET clause).

\echo Use "CREATE EXTENSION auth CASCADE" to load this file. \quit

COMMENT ON SCHEMA auth IS 'users, passwords, sessions and the identity that row-level security reads';

-- Applications reach the extension through functions; tables grant nothing.
REVOKE ALL ON SCHEMA auth FROM PUBLIC;
GRANT USAGE ON SCHEMA auth TO PUBLIC;

CREATE FUNCTION auth.now() RETURNS timestamptz
    AS 'MODULE_PATHNAME', 'auth_now_sql'
    LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION auth.now() IS
    'the extension''s clock: now(), shifted by auth.time_offset (tests only)';

CREATE FUNCTION auth._generate_token(prefix text) RETURNS text
    AS 'MODULE_PATHNAME', 'auth_generate_token_sql'
    LANGUAGE C VOLATILE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION auth._generate_token(text) IS
    'internal: a fresh secret "<prefix>_<256 random bits, base64url>"';
REVOKE ALL ON FUNCTION auth._generate_token(text) FROM PUBLIC;

CREATE FUNCTION auth._token_hash(token text, prefix text) RETURNS bytea
    AS 'MODULE_PATHNAME', 'auth_token_hash_sql'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION auth._token_hash(text, text) IS
    'internal: SHA-256 of a token of that kind, NULL when the token has another shape';
REVOKE ALL ON FUNCTION auth._token_hash(text, text) FROM PUBLIC;

-- Settings are read through these (not current_setting()), which load the
-- module that defines them.
CREATE FUNCTION auth._setting_interval(name text) RETURNS interval
    AS 'MODULE_PATHNAME', 'auth_setting_interval'
    LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION auth._setting_interval(text) IS
    'internal: a duration setting of the extension as an interval';

CREATE FUNCTION auth._setting_int(name text) RETURNS integer
    AS 'MODULE_PATHNAME', 'auth_setting_int'
    LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION auth._setting_int(text) IS
    'internal: an integer setting of the extension';

CREATE FUNCTION auth._setting_bool(name text) RETURNS boolean
    AS 'MODULE_PATHNAME', 'auth_setting_bool'
    LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION auth._setting_bool(text) IS
    'internal: a boolean setting of the extension';
REVOKE ALL ON FUNCTION auth._setting_bool(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION auth._setting_interval(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION auth._setting_int(text) FROM PUBLIC;
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
-- audit: what happened, to whom, from where; never a secret.

CREATE TABLE auth.audit_log (
    id          bigserial PRIMARY KEY,
    occurred_at timestamptz NOT NULL DEFAULT auth.now(),
    event       text NOT NULL,
    user_id     uuid,           -- no foreign key: history outlives the user
    session_id  uuid,
    ip          inet,
    detail      jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_log_user_id_idx ON auth.audit_log (user_id, occurred_at);
CREATE INDEX audit_log_occurred_at_idx ON auth.audit_log (occurred_at);
ALTER TABLE auth.audit_log ENABLE ROW LEVEL SECURITY;
SELECT pg_catalog.pg_extension_config_dump('auth.audit_log', '');
SELECT pg_catalog.pg_extension_config_dump('auth.audit_log_id_seq', '');
COMMENT ON TABLE auth.audit_log IS
    'security events (sign_up, sign_in, sign_in_failed, sign_out, session_revoked, password_changed); also sent as NOTIFY auth_events';

-- Records an event and announces it on the channel auth_events.
CREATE FUNCTION auth._audit(event text, user_id uuid, session_id uuid,
                            ip inet, detail jsonb DEFAULT '{}',
                            occurred_at timestamptz DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_id bigint;
    v_at timestamptz := coalesce(occurred_at, auth.now());
BEGIN
    INSERT INTO auth.audit_log (occurred_at, event, user_id, session_id, ip, detail)
    VALUES (v_at, event, user_id, session_id, ip, coalesce(detail, '{}'))
    RETURNING id INTO v_id;
    -- Any role may LISTEN: the payload names ids and the event, nothing
    -- more, and requests for links and codes (which anyone may make about
    -- any address) are not announced, so listening reveals no account.
    IF auth._setting_bool('auth.notify_events') AND event NOT LIKE '%\_requested' THEN
        PERFORM pg_notify('auth_events', json_build_object(
            'id', v_id, 'event', event, 'user_id', user_id,
            'session_id', session_id, 'occurred_at', v_at)::text);
    END IF;
END
$$;
COMMENT ON FUNCTION auth._audit(text, uuid, uuid, inet, jsonb, timestamptz) IS
    'internal: appends to auth.audit_log and notifies auth_events';
REVOKE ALL ON FUNCTION auth._audit(text, uuid, uuid, inet, jsonb, timestamptz) FROM PUBLIC;
-- password: argon2id hashing, verification of imported hashes (src/password.c).

CREATE FUNCTION auth.hash_password(password text) RETURNS text
    AS 'MODULE_PATHNAME', 'auth_hash_password'
    LANGUAGE C VOLATILE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION auth.hash_password(text) IS
    'argon2id PHC string of a password, with the cost in auth.argon2_*';

CREATE FUNCTION auth.verify_password(password text, hash text) RETURNS boolean
    AS 'MODULE_PATHNAME', 'auth_verify_password'
    LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION auth.verify_password(text, text) IS
    'whether a password matches an argon2id/argon2i, bcrypt or better-auth scrypt hash; 22023 for another format';

CREATE FUNCTION auth._password_needs_rehash(hash text) RETURNS boolean
    AS 'MODULE_PATHNAME', 'auth_password_needs_rehash'
    LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION auth._password_needs_rehash(text) IS
    'internal: whether a hash is not argon2id with the current cost settings';
REVOKE ALL ON FUNCTION auth._password_needs_rehash(text) FROM PUBLIC;

CREATE FUNCTION auth._dummy_password_hash() RETURNS text
    AS 'MODULE_PATHNAME', 'auth_dummy_password_hash'
    LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION auth._dummy_password_hash() IS
    'internal: a hash no password matches, so that unknown users cost the same work';
REVOKE ALL ON FUNCTION auth._dummy_password_hash() FROM PUBLIC;

-- The password policy: auth.password_min_length to 128 characters.
CREATE FUNCTION auth._check_password_policy(password text) RETURNS void
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_min int := auth._setting_int('auth.password_min_length');
BEGIN
    IF password IS NULL OR length(password) < v_min THEN
        RAISE EXCEPTION USING ERRCODE = '22023',
            MESSAGE = format('password must be at least %s characters long', v_min);
    END IF;
    IF length(password) > 128 THEN
        RAISE EXCEPTION USING ERRCODE = '22023',
            MESSAGE = 'password must be at most 128 characters long';
    END IF;
END
$$;
COMMENT ON FUNCTION auth._check_password_policy(text) IS
    'internal: raises 22023 unless the password''s length is within the policy';
REVOKE ALL ON FUNCTION auth._check_password_policy(text) FROM PUBLIC;
-- users: accounts, sign-up and password changes.

CREATE TABLE auth.users (
    id                uuid PRIMARY KEY DEFAULT pg_catalog.gen_random_uuid(),
    email             text NOT NULL,
    email_verified_at timestamptz,
    name              text,
    image             text,
    password_hash     text,
    role              text NOT NULL DEFAULT 'user',
    banned_until      timestamptz,
    ban_reason        text,
    metadata          jsonb NOT NULL DEFAULT '{}',
    created_at        timestamptz NOT NULL DEFAULT auth.now(),
    updated_at        timestamptz NOT NULL DEFAULT auth.now()
);
-- Emails are unique whatever their case.
CREATE UNIQUE INDEX users_email_key ON auth.users (pg_catalog.lower(email));
ALTER TABLE auth.users ENABLE ROW LEVEL SECURITY;
SELECT pg_catalog.pg_extension_config_dump('auth.users', '');
COMMENT ON TABLE auth.users IS 'accounts; password_hash holds argon2id (or an imported bcrypt/scrypt hash until the next sign-in)';

-- Trims and lower-cases an email and checks its syntax (22023).
CREATE FUNCTION auth._normalize_email(email text) RETURNS text
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v text := lower(btrim(email));
BEGIN
    IF v IS NULL OR v = '' THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'email is required';
    END IF;
    IF length(v) > 254 OR v !~ '^[^[:space:]@]+@[^[:space:]@]+\.[^[:space:]@.]+$' THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'invalid email address',
            HINT = 'An email looks like name@example.com and has at most 254 characters.';
    END IF;
    RETURN v;
END
$$;
COMMENT ON FUNCTION auth._normalize_email(text) IS
    'internal: trimmed, lower-case email; 22023 when it is not one';
REVOKE ALL ON FUNCTION auth._normalize_email(text) FROM PUBLIC;

CREATE FUNCTION auth.sign_up(email text, password text, name text DEFAULT NULL,
                             metadata jsonb DEFAULT '{}')
RETURNS uuid
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_email text := auth._normalize_email(email);
    v_id uuid;
BEGIN
    PERFORM auth._check_password_policy(password);
    INSERT INTO auth.users (email, name, password_hash, metadata)
    VALUES (v_email, sign_up.name, auth.hash_password(password),
            coalesce(sign_up.metadata, '{}'))
    ON CONFLICT DO NOTHING
    RETURNING id INTO v_id;
    IF v_id IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = '23505',
            MESSAGE = 'email is already registered',
            HINT = 'Sign in instead, or reset the password.';
    END IF;
    PERFORM auth._audit('sign_up', v_id, NULL, NULL, '{}');
    RETURN v_id;
END
$$;
COMMENT ON FUNCTION auth.sign_up(text, text, text, jsonb) IS
    'creates a user with a password and returns its id; 22023 for a bad email or password, 23505 when the email is taken';

CREATE FUNCTION auth.change_password(current_password text, new_password text)
RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_uid uuid := auth._require_account_uid();
    v_hash text;
    v_revoked int;
    -- A stolen session must not be a way to guess the password: attempts
    -- count against the same limit as sign-ins, durably.
    v_key bytea := sha256(convert_to(v_uid::text, 'UTF8'));
    v_try jsonb;
BEGIN
    PERFORM auth._check_password_policy(new_password);
    v_try := auth._count_attempt('change_password', v_key);
    IF NOT (v_try->>'allowed')::boolean THEN
        RAISE EXCEPTION USING ERRCODE = 'PT429',
            MESSAGE = 'too many wrong current passwords',
            DETAIL = format('Password changes are locked until %s.', v_try->>'retry_at');
    END IF;
    SELECT u.password_hash INTO v_hash FROM auth.users u WHERE u.id = v_uid FOR UPDATE;
    IF current_password IS NULL OR length(current_password) > 128 OR
       NOT auth.verify_password(current_password,
                                coalesce(v_hash, auth._dummy_password_hash()))
       OR v_hash IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = '28P01', MESSAGE = 'current password is incorrect';
    END IF;
    DELETE FROM auth.attempts a WHERE a.scope = 'change_password' AND a.key = v_key;
    UPDATE auth.users
       SET password_hash = auth.hash_password(new_password), updated_at = auth.now()
     WHERE id = v_uid;
    v_revoked := auth._revoke_sessions(v_uid, auth.session_id(), 'password_changed');
    PERFORM auth._audit('password_changed', v_uid, auth.session_id(), NULL,
                        jsonb_build_object('sessions_revoked', v_revoked));
END
$$;
COMMENT ON FUNCTION auth.change_password(text, text) IS
    'changes the authenticated user''s password and revokes their other sessions; 28P01 when the current password is wrong';
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
    CONSTRAINT sessions_token_hash_key UNIQUE (token_hash)
);
CREATE INDEX sessions_user_id_idx ON auth.sessions (user_id);
ALTER TABLE auth.sessions ENABLE ROW LEVEL SECURITY;
SELECT pg_catalog.pg_extension_config_dump('auth.sessions', '');
COMMENT ON TABLE auth.sessions IS 'sessions; only the SHA-256 of each token is kept';

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
    expires_at timestamptz
);
COMMENT ON TYPE auth.session_grant IS
    'a new session: its token, shown once and never stored, and its id, user and expiry';

-- Creates a session for a user and returns its token, the only copy;
-- 22023 for an unknown user, 28000 for a suspended one.
CREATE FUNCTION auth._issue_session(user_id uuid, ttl interval, ip inet, user_agent text)
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
BEGIN
    IF v_ttl <= interval '0' THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'session ttl must be positive';
    END IF;
    -- FOR SHARE waits for a ban being written to this user, so neither the
    -- check nor the copy of banned_until below can miss it
    SELECT u.banned_until INTO v_banned FROM auth.users u
     WHERE u.id = _issue_session.user_id FOR SHARE;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'user does not exist';
    END IF;
    IF v_banned > v_now THEN
        RAISE EXCEPTION USING ERRCODE = '28000', MESSAGE = 'account is suspended',
            DETAIL = CASE WHEN v_banned < 'infinity'
                          THEN format('The suspension ends at %s.', v_banned)
                          ELSE 'The suspension has no end date.' END;
    END IF;
    v_grant.token := auth._generate_token('ses');
    v_grant.user_id := _issue_session.user_id;
    INSERT INTO auth.sessions AS s (user_id, token_hash, created_at, refreshed_at,
                                    expires_at, ip, user_agent, user_banned_until)
    VALUES (_issue_session.user_id, auth._token_hash(v_grant.token, 'ses'), v_now, v_now,
            v_now + least(v_ttl, v_max), _issue_session.ip,
            left(_issue_session.user_agent, 512), v_banned)
    RETURNING s.id, s.expires_at INTO v_grant.session_id, v_grant.expires_at;
    RETURN v_grant;
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

-- The read path is C; no SET clause, so authenticate's identity survives the
-- call.  SECURITY DEFINER lets the sliding refresh write as the owner.
CREATE FUNCTION auth.verify_session(token text,
                                    OUT user_id uuid, OUT session_id uuid,
                                    OUT expires_at timestamptz)
    AS 'MODULE_PATHNAME', 'auth_verify_session'
    LANGUAGE C VOLATILE STRICT SECURITY DEFINER;
COMMENT ON FUNCTION auth.verify_session(text) IS
    'the user, session and expiry of a live session token, all NULL otherwise; never raises for a bad token';

CREATE FUNCTION auth.authenticate(token text, is_local boolean DEFAULT true)
RETURNS uuid
    AS 'MODULE_PATHNAME', 'auth_authenticate'
    LANGUAGE C VOLATILE SECURITY DEFINER;
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

CREATE FUNCTION auth.revoke_other_sessions() RETURNS integer
LANGUAGE sql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$ SELECT auth._revoke_sessions(auth._require_account_uid(), auth.session_id(), 'revoked') $$;
COMMENT ON FUNCTION auth.revoke_other_sessions() IS
    'revokes every session of the authenticated user but the current one; returns how many';

CREATE FUNCTION auth.list_sessions()
RETURNS TABLE (id uuid, created_at timestamptz, refreshed_at timestamptz,
               expires_at timestamptz, ip inet, user_agent text, is_current boolean)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT s.id, s.created_at, s.refreshed_at, s.expires_at, s.ip, s.user_agent,
           s.id IS NOT DISTINCT FROM auth.session_id()
      FROM auth.sessions s
     WHERE s.user_id = auth._require_account_uid() AND s.revoked_at IS NULL
       AND s.expires_at > auth.now()
     ORDER BY s.created_at DESC
$$;
COMMENT ON FUNCTION auth.list_sessions() IS
    'the authenticated user''s live sessions, never their tokens';

CREATE FUNCTION auth.revoke_user_sessions(user_id uuid) RETURNS integer
LANGUAGE sql VOLATILE STRICT SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$ SELECT auth._revoke_sessions(user_id, NULL, 'admin') $$;
COMMENT ON FUNCTION auth.revoke_user_sessions(uuid) IS
    'admin: revokes every session of a user; returns how many';
REVOKE ALL ON FUNCTION auth.revoke_user_sessions(uuid) FROM PUBLIC;
-- sign_in: password sign-in with a durable count of failures per email
-- (src/autonomous.c writes the count outside the caller's transaction).

-- One row per counted attempt; key is the SHA-256 of what is limited (the
-- normalised email for sign-ins), so no address is kept here.
CREATE TABLE auth.attempts (
    scope        text NOT NULL,
    key          bytea NOT NULL,
    attempted_at timestamptz NOT NULL
);
CREATE INDEX attempts_scope_key_idx ON auth.attempts (scope, key, attempted_at);
ALTER TABLE auth.attempts ENABLE ROW LEVEL SECURITY;
SELECT pg_catalog.pg_extension_config_dump('auth.attempts', '');
COMMENT ON TABLE auth.attempts IS 'attempts counted against a limit (failed sign-ins per email), written autonomously';

CREATE FUNCTION auth._autonomous(request jsonb) RETURNS jsonb
    AS 'MODULE_PATHNAME', 'auth_autonomous'
    LANGUAGE C VOLATILE STRICT PARALLEL UNSAFE;
COMMENT ON FUNCTION auth._autonomous(jsonb) IS
    'internal: runs auth._autonomous_dispatch(request) in a background worker''s own, committed transaction';
REVOKE ALL ON FUNCTION auth._autonomous(jsonb) FROM PUBLIC;

-- Runs in the background worker.  op 'attempt': counts an attempt against
-- a limit unless the limit is reached (serialised per key, so concurrent
-- attempts are counted exactly); op 'audit': an audit row.
CREATE FUNCTION auth._autonomous_dispatch(request jsonb) RETURNS jsonb
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
        PERFORM pg_advisory_xact_lock(hashtextextended(v_scope || ':' || encode(v_key, 'hex'), 0));
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
COMMENT ON FUNCTION auth._autonomous_dispatch(jsonb) IS
    'internal: the writes auth._autonomous makes in a transaction of their own';
REVOKE ALL ON FUNCTION auth._autonomous_dispatch(jsonb) FROM PUBLIC;

-- The wall clock (shifted like auth.now()), which stamps attempts: not the
-- transaction's start, so a long transaction cannot make guesses look old.
CREATE FUNCTION auth._clock() RETURNS timestamptz
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT clock_timestamp() + auth._setting_interval('auth.time_offset') $$;
COMMENT ON FUNCTION auth._clock() IS
    'internal: the wall clock, shifted by auth.time_offset';
REVOKE ALL ON FUNCTION auth._clock() FROM PUBLIC;

-- Counts an attempt against a limit (by default the failed sign-in limit:
-- auth.max_failed_sign_ins per auth.failed_sign_in_window), durably and
-- before the secret is checked; returns {"allowed", "count", "retry_at"}.
CREATE FUNCTION auth._count_attempt(scope text, key bytea, "window" interval DEFAULT NULL,
                                    max integer DEFAULT NULL) RETURNS jsonb
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT auth._autonomous(jsonb_build_object(
        'op', 'attempt', 'scope', scope, 'key', encode(key, 'hex'), 'at', auth._clock(),
        'window', coalesce("window", auth._setting_interval('auth.failed_sign_in_window')),
        'max', coalesce(max, auth._setting_int('auth.max_failed_sign_ins'))))
$$;
COMMENT ON FUNCTION auth._count_attempt(text, bytea, interval, integer) IS
    'internal: durably counts an attempt against a limit, by default the failed sign-in limit';
REVOKE ALL ON FUNCTION auth._count_attempt(text, bytea, interval, integer) FROM PUBLIC;

CREATE FUNCTION auth.sign_in(email text, password text, ip inet DEFAULT NULL,
                             user_agent text DEFAULT NULL)
RETURNS auth.session_grant
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    v_grant auth.session_grant;
    v_email text := auth._normalize_email(email);
    v_key bytea := sha256(convert_to(v_email, 'UTF8'));
    v_now timestamptz := auth.now();
    v_try jsonb;
    v_user auth.users;
    v_ok boolean;
BEGIN
    IF password IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'password is required';
    END IF;
    -- Count this attempt first, durably, so that concurrent guesses are
    -- limited exactly; a success below removes the count again.
    v_try := auth._count_attempt('sign_in', v_key);
    IF NOT (v_try->>'allowed')::boolean THEN
        RAISE EXCEPTION USING ERRCODE = 'PT429',
            MESSAGE = 'too many failed sign-ins for this email',
            DETAIL = format('Sign-in for this email is locked until %s.', v_try->>'retry_at'),
            HINT = 'Wait until then, or reset the password.';
    END IF;

    -- FOR SHARE: a password change or ban waits for this sign-in, and this
    -- sign-in for them, so neither can be undone by the other.
    SELECT * INTO v_user FROM auth.users u WHERE lower(u.email) = v_email FOR SHARE;
    -- Unknown emails and users without a password cost the same argon2 work,
    -- and a stored hash of an unknown format is just a wrong password.
    BEGIN
        v_ok := auth.verify_password(CASE WHEN length(password) > 128 THEN '' ELSE password END,
                                     coalesce(v_user.password_hash, auth._dummy_password_hash()))
                AND v_user.password_hash IS NOT NULL AND length(password) <= 128;
    EXCEPTION WHEN invalid_parameter_value THEN
        RAISE WARNING 'user % has a password hash that cannot be verified', v_user.id;
        v_ok := false;
    END;
    IF NOT v_ok THEN
        -- The attempt is counted already; an audit row that cannot be
        -- written is a warning, not a different answer.
        BEGIN
            PERFORM auth._autonomous(jsonb_build_object(
                'op', 'audit', 'event', 'sign_in_failed', 'user_id', v_user.id, 'ip', ip,
                'at', auth._clock(),
                'detail', jsonb_build_object('email', left(v_email, 254),
                                             'attempt', (v_try->>'count')::int)));
        EXCEPTION WHEN insufficient_resources THEN
            RAISE WARNING 'failed sign-in not audited: %', SQLERRM;
        END;
        RAISE EXCEPTION USING ERRCODE = '28P01', MESSAGE = 'invalid email or password';
    END IF;

    DELETE FROM auth.attempts a WHERE a.scope = 'sign_in' AND a.key = v_key;
    -- (a suspended user is refused by auth._issue_session, only now that
    -- the password was right, so a ban reveals nothing to a guesser)
    IF v_user.email_verified_at IS NULL AND auth._setting_bool('auth.require_verified_email') THEN
        RAISE EXCEPTION USING ERRCODE = '28000', MESSAGE = 'email is not verified',
            HINT = 'Verify the email with the link sent to it, or sign in with a magic link.';
    END IF;
    IF auth._password_needs_rehash(v_user.password_hash) THEN
        UPDATE auth.users u SET password_hash = auth.hash_password(password),
                                updated_at = v_now
         WHERE u.id = v_user.id AND u.password_hash = v_user.password_hash;
    END IF;
    v_grant := auth._issue_session(v_user.id, NULL, ip, user_agent);
    PERFORM auth._audit('sign_in', v_grant.user_id, v_grant.session_id, ip, '{}');
    RETURN v_grant;
END
$$;
COMMENT ON FUNCTION auth.sign_in(text, text, inet, text) IS
    'checks an email and password and opens a session; 28P01 when wrong, 28000 when suspended, PT429 after too many failures';
-- one_time_secrets: the one mechanism behind magic links, email codes,
-- email verification, email change and password reset (src/onetime.c).
-- The database cannot send mail: each request returns the secret to the
-- application, which delivers it; only its SHA-256 is stored.  Redemption
-- is one UPDATE ... WHERE consumed_at IS NULL, so of two concurrent
-- redemptions exactly one succeeds.

CREATE TABLE auth.one_time_secrets (
    id             uuid PRIMARY KEY DEFAULT pg_catalog.gen_random_uuid(),
    purpose        text NOT NULL,   -- magic_link, code:<purpose>, email_verification, email_change, password_reset
    secret_hash    bytea NOT NULL,  -- SHA-256 of the token, or of "<id>:<code>" for a code
    email          text NOT NULL,   -- normalised; the address the secret was sent to
    user_id        uuid REFERENCES auth.users (id) ON DELETE CASCADE,
    redirect_to    text,
    new_email      text,            -- email change: the address to switch to
    ip             inet,
    created_at     timestamptz NOT NULL DEFAULT auth.now(),
    expires_at     timestamptz NOT NULL,
    consumed_at    timestamptz,
    invalidated_at timestamptz,     -- superseded by a newer request
    CONSTRAINT one_time_secrets_secret_hash_key UNIQUE (secret_hash)
);
CREATE INDEX one_time_secrets_email_idx ON auth.one_time_secrets (email, purpose, created_at);
CREATE INDEX one_time_secrets_user_id_idx ON auth.one_time_secrets (user_id);
ALTER TABLE auth.one_time_secrets ENABLE ROW LEVEL SECURITY;
SELECT pg_catalog.pg_extension_config_dump('auth.one_time_secrets', '');
COMMENT ON TABLE auth.one_time_secrets IS
    'magic links, email codes, verification, email change and reset tokens; only their SHA-256 is kept';

-- Emails allowed to request magic links and codes; empty means everyone.
CREATE TABLE auth.allowed_emails (
    pattern    text PRIMARY KEY,    -- an address, or a whole domain written @example.com
    created_at timestamptz NOT NULL DEFAULT auth.now()
);
ALTER TABLE auth.allowed_emails ENABLE ROW LEVEL SECURITY;
SELECT pg_catalog.pg_extension_config_dump('auth.allowed_emails', '');
COMMENT ON TABLE auth.allowed_emails IS
    'allow-list for magic links and codes: addresses, or domains written @example.com';

CREATE FUNCTION auth._generate_code() RETURNS text
    AS 'MODULE_PATHNAME', 'auth_generate_code'
    LANGUAGE C VOLATILE PARALLEL SAFE;
COMMENT ON FUNCTION auth._generate_code() IS
    'internal: a uniformly random 6-digit code';
REVOKE ALL ON FUNCTION auth._generate_code() FROM PUBLIC;

CREATE FUNCTION auth._secret_equal(a bytea, b bytea) RETURNS boolean
    AS 'MODULE_PATHNAME', 'auth_secret_equal'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION auth._secret_equal(bytea, bytea) IS
    'internal: constant-time comparison of two digests';
REVOKE ALL ON FUNCTION auth._secret_equal(bytea, bytea) FROM PUBLIC;

CREATE FUNCTION auth._recent_requests(email text, since timestamptz) RETURNS integer
    AS 'MODULE_PATHNAME', 'auth_recent_requests'
    LANGUAGE C VOLATILE STRICT;
COMMENT ON FUNCTION auth._recent_requests(text, timestamptz) IS
    'internal: secrets requested for an email since a time, seen with the latest snapshot';
REVOKE ALL ON FUNCTION auth._recent_requests(text, timestamptz) FROM PUBLIC;

CREATE FUNCTION auth._supersede_secrets(email text, purpose text, at timestamptz) RETURNS integer
    AS 'MODULE_PATHNAME', 'auth_supersede_secrets'
    LANGUAGE C VOLATILE STRICT;
COMMENT ON FUNCTION auth._supersede_secrets(text, text, timestamptz) IS
    'internal: marks an email''s unused secrets of a purpose superseded, seen with the latest snapshot';
REVOKE ALL ON FUNCTION auth._supersede_secrets(text, text, timestamptz) FROM PUBLIC;

CREATE FUNCTION auth.allow_email(pattern text) RETURNS void
LANGUAGE plpgsql VOLATILE STRICT SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v text := lower(btrim(pattern));
BEGIN
    IF v !~ '^([^[:space:]@]+)?@[^[:space:]@]+\.[^[:space:]@.]+$' THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'invalid allow-list pattern',
            HINT = 'Give an address (ada@example.com) or a domain (@example.com).';
    END IF;
    INSERT INTO auth.allowed_emails (pattern) VALUES (v) ON CONFLICT DO NOTHING;
END
$$;
COMMENT ON FUNCTION auth.allow_email(text) IS
    'admin: adds an address or a domain (@example.com) to the allow-list for magic links and codes';
REVOKE ALL ON FUNCTION auth.allow_email(text) FROM PUBLIC;

CREATE FUNCTION auth.disallow_email(pattern text) RETURNS boolean
LANGUAGE plpgsql VOLATILE STRICT SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    DELETE FROM auth.allowed_emails a WHERE a.pattern = lower(btrim(disallow_email.pattern));
    RETURN FOUND;
END
$$;
COMMENT ON FUNCTION auth.disallow_email(text) IS
    'admin: removes a pattern from the allow-list; false when it was not there';
REVOKE ALL ON FUNCTION auth.disallow_email(text) FROM PUBLIC;

-- Refuses (42501) an email the allow-list does not cover, when it has rows.
CREATE FUNCTION auth._check_allowed_email(email text) RETURNS void
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF EXISTS (SELECT FROM auth.allowed_emails)
       AND NOT EXISTS (SELECT FROM auth.allowed_emails a
                        WHERE a.pattern = email
                           OR a.pattern = '@' || split_part(email, '@', 2)) THEN
        RAISE EXCEPTION USING ERRCODE = '42501',
            MESSAGE = 'email is not in the allowed list',
            DETAIL = 'EMAIL_NOT_ALLOWED';
    END IF;
END
$$;
COMMENT ON FUNCTION auth._check_allowed_email(text) IS
    'internal: 42501 EMAIL_NOT_ALLOWED unless the allow-list is empty or covers the email';
REVOKE ALL ON FUNCTION auth._check_allowed_email(text) FROM PUBLIC;

-- Issues a one-time secret: enforces the per-email rate limit exactly
-- (serialised per email, counted with the latest snapshot), supersedes the
-- older unused secrets of the same email and purpose, and returns the
-- secret: a token "<prefix>_..." or, when prefix is NULL, a 6-digit code.
CREATE FUNCTION auth._issue_secret(purpose text, email text, user_id uuid, ttl interval,
                                   prefix text, redirect_to text DEFAULT NULL,
                                   new_email text DEFAULT NULL, ip inet DEFAULT NULL)
RETURNS text
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    v_now timestamptz := auth.now();
    v_window interval := auth._setting_interval('auth.magic_link_rate_window');
    v_limit int := auth._setting_int('auth.magic_link_rate_limit');
    v_id uuid := gen_random_uuid();
    v_secret text;
    v_retry timestamptz;
BEGIN
    IF ttl IS NULL OR ttl <= interval '0' THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'ttl must be positive';
    END IF;
    -- a path of the application, or an absolute http(s) URL whose origin the
    -- application still checks before redirecting
    IF length(redirect_to) > 2048 OR redirect_to !~ '^(/($|[^/\\])|https?://)' THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'invalid redirect_to',
            DETAIL = 'A path starting with one /, or an http(s) URL, of at most 2048 characters.';
    END IF;
    PERFORM pg_advisory_xact_lock(hashtextextended('auth.request:' || email, 0));
    IF auth._recent_requests(email, v_now - v_window) >= v_limit THEN
        SELECT s.created_at + v_window INTO v_retry FROM auth.one_time_secrets s
         WHERE s.email = email AND s.created_at > v_now - v_window
         ORDER BY s.created_at DESC OFFSET v_limit - 1 LIMIT 1;
        RAISE EXCEPTION USING ERRCODE = 'PT429',
            MESSAGE = 'too many requests for this email',
            DETAIL = format('At most %s per %s.', v_limit, v_window),
            HINT = format('Try again after %s.', coalesce(v_retry, v_now + v_window));
    END IF;
    PERFORM auth._supersede_secrets(email, purpose, v_now);
    IF prefix IS NULL THEN
        v_secret := auth._generate_code();
    ELSE
        v_secret := auth._generate_token(prefix);
    END IF;
    INSERT INTO auth.one_time_secrets (id, purpose, secret_hash, email, user_id, redirect_to,
                                       new_email, ip, created_at, expires_at)
    VALUES (v_id, purpose,
            CASE WHEN prefix IS NULL THEN sha256(convert_to(v_id::text || ':' || v_secret, 'UTF8'))
                 ELSE auth._token_hash(v_secret, prefix) END,
            email, user_id, redirect_to, new_email, ip, v_now, v_now + ttl);
    PERFORM auth._audit(CASE WHEN prefix IS NULL THEN 'email_code_requested'
                             ELSE purpose || '_requested' END,
                        user_id, NULL, ip,
                        jsonb_build_object('email', email, 'purpose', purpose, 'secret_id', v_id));
    RETURN v_secret;
END
$$;
COMMENT ON FUNCTION auth._issue_secret(text, text, uuid, interval, text, text, text, inet) IS
    'internal: rate-limits, supersedes and issues a one-time token or code';
REVOKE ALL ON FUNCTION auth._issue_secret(text, text, uuid, interval, text, text, text, inet) FROM PUBLIC;

-- Redeems a one-time token atomically; NULL when it is unknown, expired,
-- used, superseded, of another purpose, or not shaped like one.
CREATE FUNCTION auth._consume_token(token text, prefix text, purpose text)
RETURNS auth.one_time_secrets
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    v_hash bytea := auth._token_hash(token, prefix);
    v_row auth.one_time_secrets;
BEGIN
    IF v_hash IS NULL THEN
        RETURN NULL;
    END IF;
    UPDATE auth.one_time_secrets s SET consumed_at = auth.now()
     WHERE s.secret_hash = v_hash AND s.purpose = purpose
       AND s.consumed_at IS NULL AND s.invalidated_at IS NULL AND s.expires_at > auth.now()
    RETURNING * INTO v_row;
    RETURN v_row;
END
$$;
COMMENT ON FUNCTION auth._consume_token(text, text, text) IS
    'internal: atomically redeems a one-time token of a purpose';
REVOKE ALL ON FUNCTION auth._consume_token(text, text, text) FROM PUBLIC;

-- Checks a 6-digit code for an email and purpose and redeems it.  Each try
-- is counted first, durably and serialised (as failed sign-ins are), so
-- concurrent guesses cannot exceed auth.code_max_attempts; after that many
-- wrong tries the code is dead (PT429).  Returns the redeemed row, or NULL
-- for a wrong, unknown, expired or used code.
CREATE FUNCTION auth._consume_code(email text, code text, purpose text)
RETURNS auth.one_time_secrets
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    v_email text := auth._normalize_email(email);
    v_row auth.one_time_secrets;
    v_try jsonb;
BEGIN
    IF code IS NULL OR purpose IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'code and purpose are required';
    END IF;
    SELECT * INTO v_row FROM auth.one_time_secrets s
     WHERE s.email = v_email AND s.purpose = 'code:' || purpose
       AND s.consumed_at IS NULL AND s.invalidated_at IS NULL AND s.expires_at > auth.now()
     ORDER BY s.created_at DESC LIMIT 1;
    IF v_row.id IS NULL THEN
        RETURN NULL;
    END IF;
    v_try := auth._count_attempt('code', uuid_send(v_row.id),
                                 auth._setting_interval('auth.email_code_ttl') + interval '1 day',
                                 auth._setting_int('auth.code_max_attempts'));
    IF NOT (v_try->>'allowed')::boolean THEN
        RAISE EXCEPTION USING ERRCODE = 'PT429', MESSAGE = 'too many wrong codes',
            HINT = 'Request a new code.';
    END IF;
    IF code !~ '^[0-9]{6}$' OR NOT auth._secret_equal(
           v_row.secret_hash, sha256(convert_to(v_row.id::text || ':' || code, 'UTF8'))) THEN
        RETURN NULL;
    END IF;
    UPDATE auth.one_time_secrets s SET consumed_at = auth.now()
     WHERE s.id = v_row.id AND s.consumed_at IS NULL AND s.invalidated_at IS NULL
    RETURNING * INTO v_row;
    RETURN v_row;
END
$$;
COMMENT ON FUNCTION auth._consume_code(text, text, text) IS
    'internal: checks and redeems a 6-digit code, counting every try durably';
REVOKE ALL ON FUNCTION auth._consume_code(text, text, text) FROM PUBLIC;
-- magic_links: sign in (or up) by a link sent to the email, and by a
-- 6-digit code sent to it; both end in the same passwordless sign-in.

CREATE TYPE auth.passwordless_grant AS (
    token       text,
    session_id  uuid,
    user_id     uuid,
    expires_at  timestamptz,
    redirect_to text,
    is_new_user boolean
);
COMMENT ON TYPE auth.passwordless_grant IS
    'a session opened by a magic link or code: the session token (shown once), the session, where to go, and whether the user was just created';

-- Opens a session for the email of a redeemed secret (28000 when none was
-- redeemed): finds the user, or creates one when auth.magic_link_sign_up is
-- on (28000 otherwise); the email is verified by the redemption itself.
CREATE FUNCTION auth._passwordless_sign_in(secret auth.one_time_secrets, method text,
                                           ip inet, user_agent text)
RETURNS auth.passwordless_grant
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_now timestamptz := auth.now();
    v_user auth.users;
    v_session auth.session_grant;
    v_result auth.passwordless_grant;
BEGIN
    IF secret.id IS NULL THEN   -- nothing was redeemed
        RAISE EXCEPTION USING ERRCODE = '28000', MESSAGE = 'invalid or expired sign-in link or code',
            HINT = 'Request a new link or code.';
    END IF;
    v_result.is_new_user := false;
    SELECT * INTO v_user FROM auth.users u WHERE lower(u.email) = secret.email;
    IF v_user.id IS NULL THEN
        IF NOT auth._setting_bool('auth.magic_link_sign_up') THEN
            RAISE EXCEPTION USING ERRCODE = '28000', MESSAGE = 'invalid or expired sign-in link or code';
        END IF;
        INSERT INTO auth.users (email, email_verified_at) VALUES (secret.email, v_now)
        ON CONFLICT ((lower(email))) DO NOTHING
        RETURNING * INTO v_user;
        IF v_user.id IS NULL THEN   -- created meanwhile by someone else
            SELECT * INTO v_user FROM auth.users u WHERE lower(u.email) = secret.email;
        ELSE
            v_result.is_new_user := true;
            PERFORM auth._audit('sign_up', v_user.id, NULL, ip, jsonb_build_object('method', method));
        END IF;
    END IF;
    IF v_user.email_verified_at IS NULL AND NOT v_result.is_new_user THEN
        -- The mailbox is proven only now: whoever signed this address up
        -- before may not have been its owner, so their password and
        -- sessions go (the owner can set a password again).
        UPDATE auth.users u SET email_verified_at = v_now, password_hash = NULL, updated_at = v_now
         WHERE u.id = v_user.id;
        PERFORM auth._revoke_sessions(v_user.id, NULL, 'unverified_account_claimed');
    END IF;
    v_session := auth._issue_session(v_user.id, NULL, ip, user_agent);
    PERFORM auth._audit('sign_in', v_user.id, v_session.session_id, ip,
                        jsonb_build_object('method', method, 'secret_id', secret.id));
    v_result.token := v_session.token;
    v_result.session_id := v_session.session_id;
    v_result.user_id := v_user.id;
    v_result.expires_at := v_session.expires_at;
    v_result.redirect_to := secret.redirect_to;
    RETURN v_result;
END
$$;
COMMENT ON FUNCTION auth._passwordless_sign_in(auth.one_time_secrets, text, inet, text) IS
    'internal: the session a redeemed magic link or code opens';
REVOKE ALL ON FUNCTION auth._passwordless_sign_in(auth.one_time_secrets, text, inet, text) FROM PUBLIC;

-- A passwordless request: the email, checked against the allow-list, gets
-- a secret bound to its user when there is one.
CREATE FUNCTION auth._request_passwordless(purpose text, email text, ttl interval,
                                           prefix text, redirect_to text, ip inet)
RETURNS text
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    v_email text := auth._normalize_email(email);
BEGIN
    PERFORM auth._check_allowed_email(v_email);
    RETURN auth._issue_secret(purpose, v_email,
                              (SELECT u.id FROM auth.users u WHERE lower(u.email) = v_email),
                              ttl, prefix, redirect_to, NULL, ip);
END
$$;
COMMENT ON FUNCTION auth._request_passwordless(text, text, interval, text, text, inet) IS
    'internal: a magic link or code for an allowed email';
REVOKE ALL ON FUNCTION auth._request_passwordless(text, text, interval, text, text, inet) FROM PUBLIC;

-- A requested lifetime, at most the setting's (22023 beyond it).
CREATE FUNCTION auth._capped_ttl(ttl interval, setting text) RETURNS interval
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_max interval := auth._setting_interval(setting);
BEGIN
    IF ttl > v_max THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = format('ttl exceeds %s', setting),
            DETAIL = format('The longest lifetime is %s.', v_max);
    END IF;
    RETURN coalesce(ttl, v_max);
END
$$;
COMMENT ON FUNCTION auth._capped_ttl(interval, text) IS
    'internal: a requested lifetime, defaulting to and capped by a setting';
REVOKE ALL ON FUNCTION auth._capped_ttl(interval, text) FROM PUBLIC;

CREATE FUNCTION auth.create_magic_link(email text, redirect_to text DEFAULT NULL,
                                       ttl interval DEFAULT NULL, ip inet DEFAULT NULL)
RETURNS text
LANGUAGE sql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT auth._request_passwordless('magic_link', email,
        auth._capped_ttl(ttl, 'auth.magic_link_ttl'), 'mlk', redirect_to, ip)
$$;
COMMENT ON FUNCTION auth.create_magic_link(text, text, interval, inet) IS
    'a magic-link token (mlk_...) for an email, to be sent by the application; 42501 outside the allow-list, PT429 past the rate limit';

CREATE FUNCTION auth.consume_magic_link(token text, ip inet DEFAULT NULL,
                                        user_agent text DEFAULT NULL)
RETURNS auth.passwordless_grant
LANGUAGE sql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT auth._passwordless_sign_in(auth._consume_token(token, 'mlk', 'magic_link'),
                                      'magic_link', ip, user_agent)
$$;
COMMENT ON FUNCTION auth.consume_magic_link(text, inet, text) IS
    'redeems a magic link once: opens a session (creating the user when allowed) and marks the email verified; 28000 when unknown, expired or used';

CREATE FUNCTION auth.create_email_code(email text, purpose text DEFAULT 'sign_in')
RETURNS text
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF purpose IS NULL OR purpose !~ '^[a-z][a-z0-9_]{0,39}$' THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'invalid code purpose',
            HINT = 'A purpose is 1 to 40 lowercase letters, digits and underscores.';
    END IF;
    RETURN auth._request_passwordless('code:' || purpose, email,
                                      auth._setting_interval('auth.email_code_ttl'), NULL, NULL, NULL);
END
$$;
COMMENT ON FUNCTION auth.create_email_code(text, text) IS
    'a 6-digit code for an email and purpose, to be sent by the application; same allow-list and rate limit as magic links';

CREATE FUNCTION auth.sign_in_with_code(email text, code text, ip inet DEFAULT NULL,
                                       user_agent text DEFAULT NULL)
RETURNS auth.passwordless_grant
LANGUAGE sql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT auth._passwordless_sign_in(auth._consume_code(email, code, 'sign_in'),
                                      'email_code', ip, user_agent)
$$;
COMMENT ON FUNCTION auth.sign_in_with_code(text, text, inet, text) IS
    'signs in with a 6-digit code sent to the email; 28000 when wrong, expired or used, PT429 after auth.code_max_attempts wrong tries';

CREATE FUNCTION auth.verify_email_code(email text, code text, purpose text)
RETURNS boolean
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_secret auth.one_time_secrets := auth._consume_code(email, code, purpose);
BEGIN
    IF v_secret.id IS NOT NULL THEN
        PERFORM auth._audit('email_code_verified', v_secret.user_id, NULL, NULL,
                            jsonb_build_object('purpose', purpose, 'secret_id', v_secret.id));
    END IF;
    RETURN v_secret.id IS NOT NULL;
END
$$;
COMMENT ON FUNCTION auth.verify_email_code(text, text, text) IS
    'checks and redeems a 6-digit code of a purpose, for an application''s own step-up checks; PT429 after auth.code_max_attempts wrong tries';
-- email_verification: proving an address, and moving an account to a new one.

-- A verification token (evt_...) for a user's current email.
CREATE FUNCTION auth._email_verification_for(user_id uuid) RETURNS text
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_email text;
BEGIN
    SELECT u.email INTO v_email FROM auth.users u WHERE u.id = _email_verification_for.user_id;
    IF v_email IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'user does not exist';
    END IF;
    RETURN auth._issue_secret('email_verification', lower(v_email), _email_verification_for.user_id,
                              auth._setting_interval('auth.email_verification_ttl'), 'evt');
END
$$;
COMMENT ON FUNCTION auth._email_verification_for(uuid) IS
    'internal: issues an email verification token for a user';
REVOKE ALL ON FUNCTION auth._email_verification_for(uuid) FROM PUBLIC;

CREATE FUNCTION auth.request_email_verification() RETURNS text
LANGUAGE sql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$ SELECT auth._email_verification_for(auth._require_account_uid()) $$;
COMMENT ON FUNCTION auth.request_email_verification() IS
    'a verification token (evt_...) for the authenticated user''s email, to be sent by the application';

CREATE FUNCTION auth.create_email_verification(user_id uuid) RETURNS text
LANGUAGE sql VOLATILE STRICT SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$ SELECT auth._email_verification_for(user_id) $$;
COMMENT ON FUNCTION auth.create_email_verification(uuid) IS
    'admin: a verification token (evt_...) for any user''s email';
REVOKE ALL ON FUNCTION auth.create_email_verification(uuid) FROM PUBLIC;

CREATE FUNCTION auth.verify_email(token text) RETURNS uuid
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_secret auth.one_time_secrets := auth._consume_token(token, 'evt', 'email_verification');
BEGIN
    -- the token proves the address it was sent to, and only while it is the user's
    UPDATE auth.users u SET email_verified_at = coalesce(u.email_verified_at, auth.now()),
                            updated_at = auth.now()
     WHERE u.id = v_secret.user_id AND lower(u.email) = v_secret.email;
    IF v_secret.id IS NULL OR NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = '28000', MESSAGE = 'invalid or expired verification link',
            HINT = 'Request a new link.';
    END IF;
    PERFORM auth._audit('email_verified', v_secret.user_id, NULL, NULL,
                        jsonb_build_object('email', v_secret.email));
    RETURN v_secret.user_id;
END
$$;
COMMENT ON FUNCTION auth.verify_email(text) IS
    'redeems a verification token once and marks the email verified; returns the user; 28000 when unknown, expired or used';

CREATE FUNCTION auth.request_email_change(new_email text) RETURNS text
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_uid uuid := auth._require_account_uid();
    v_new text := auth._normalize_email(new_email);
BEGIN
    IF EXISTS (SELECT FROM auth.users u WHERE lower(u.email) = v_new) THEN
        RAISE EXCEPTION USING ERRCODE = '23505', MESSAGE = 'email is already registered';
    END IF;
    -- sent to the new address, which the token then proves
    RETURN auth._issue_secret('email_change', v_new, v_uid,
                              auth._setting_interval('auth.email_verification_ttl'),
                              'ect', NULL, v_new);
END
$$;
COMMENT ON FUNCTION auth.request_email_change(text) IS
    'a token (ect_...) to send to the new address; confirming it moves the authenticated user there; 23505 when taken';

CREATE FUNCTION auth.confirm_email_change(token text) RETURNS uuid
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_secret auth.one_time_secrets := auth._consume_token(token, 'ect', 'email_change');
    v_old text;
BEGIN
    -- only the account that asked, signed in: a link mailed to someone
    -- else's address must not move their address into this account
    IF v_secret.id IS NULL OR v_secret.user_id IS DISTINCT FROM auth.uid() THEN
        RAISE EXCEPTION USING ERRCODE = '28000', MESSAGE = 'invalid or expired email change link',
            HINT = 'Request the change again.';
    END IF;
    PERFORM auth._require_account_uid();  -- not with an API key
    SELECT u.email INTO v_old FROM auth.users u WHERE u.id = v_secret.user_id FOR UPDATE;
    BEGIN
        UPDATE auth.users u SET email = v_secret.new_email, email_verified_at = auth.now(),
                                updated_at = auth.now()
         WHERE u.id = v_secret.user_id;
    EXCEPTION WHEN unique_violation THEN
        RAISE EXCEPTION USING ERRCODE = '23505', MESSAGE = 'email is already registered';
    END;
    -- secrets sent to the old address die with it, and so do other sessions
    UPDATE auth.one_time_secrets s SET invalidated_at = auth.now()
     WHERE s.user_id = v_secret.user_id AND s.consumed_at IS NULL AND s.invalidated_at IS NULL;
    PERFORM auth._revoke_sessions(v_secret.user_id, auth.session_id(), 'email_changed');
    PERFORM auth._audit('email_changed', v_secret.user_id, auth.session_id(), NULL,
                        jsonb_build_object('old_email', v_old, 'new_email', v_secret.new_email));
    RETURN v_secret.user_id;
END
$$;
COMMENT ON FUNCTION auth.confirm_email_change(text) IS
    'redeems an email change token once, signed in as the user who asked: switches the email to the new, now verified, address, voids secrets sent to the old one and revokes the other sessions; 28000 when invalid, 23505 when taken meanwhile';
-- password_reset: a link to set a new password without the old one.

CREATE FUNCTION auth.request_password_reset(email text) RETURNS text
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_email text := auth._normalize_email(email);
    v_uid uuid;
    v_token text;
BEGIN
    SELECT u.id INTO v_uid FROM auth.users u WHERE lower(u.email) = v_email;
    -- The same work either way (rate limit, token, row); an unknown email's
    -- token is stored unbound to any user and never returned.
    v_token := auth._issue_secret('password_reset', v_email, v_uid,
                                  auth._setting_interval('auth.password_reset_ttl'), 'pwr');
    RETURN CASE WHEN v_uid IS NOT NULL THEN v_token END;
END
$$;
COMMENT ON FUNCTION auth.request_password_reset(text) IS
    'a reset token (pwr_...) to send to the email, or NULL for an unknown email at the same cost; PT429 past the rate limit';

CREATE FUNCTION auth.reset_password(token text, new_password text) RETURNS uuid
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_secret auth.one_time_secrets;
    v_revoked int;
BEGIN
    -- the policy first, so a rejected password does not use up the token
    PERFORM auth._check_password_policy(new_password);
    v_secret := auth._consume_token(token, 'pwr', 'password_reset');
    -- and only while the account still has the address the link went to
    IF v_secret.user_id IS NULL OR NOT EXISTS (
           SELECT FROM auth.users u WHERE u.id = v_secret.user_id AND lower(u.email) = v_secret.email) THEN
        RAISE EXCEPTION USING ERRCODE = '28000', MESSAGE = 'invalid or expired password reset link',
            HINT = 'Request a new link.';
    END IF;
    UPDATE auth.users u SET password_hash = auth.hash_password(new_password),
                            updated_at = auth.now()
     WHERE u.id = v_secret.user_id;
    -- the reset proves the mailbox: failed sign-ins for it no longer count
    DELETE FROM auth.attempts a
     WHERE a.scope = 'sign_in' AND a.key = sha256(convert_to(v_secret.email, 'UTF8'));
    v_revoked := auth._revoke_sessions(v_secret.user_id, NULL, 'password_reset');
    PERFORM auth._audit('password_reset', v_secret.user_id, NULL, NULL,
                        jsonb_build_object('sessions_revoked', v_revoked));
    RETURN v_secret.user_id;
END
$$;
COMMENT ON FUNCTION auth.reset_password(text, text) IS
    'redeems a reset token once, sets the new password (policy applies, 22023) and revokes every session of the user; 28000 when invalid';
-- organizations: tenants, their members and roles, and the RLS helpers
-- (src/organization.c).  Every function acts as auth.uid() and checks its
-- permission itself: 42501 names the permission that is missing.

CREATE TABLE auth.organizations (
    id         uuid PRIMARY KEY DEFAULT pg_catalog.gen_random_uuid(),
    name       text NOT NULL,
    slug       text NOT NULL,
    logo       text,
    metadata   jsonb NOT NULL DEFAULT '{}',
    created_at timestamptz NOT NULL DEFAULT auth.now(),
    updated_at timestamptz NOT NULL DEFAULT auth.now(),
    CONSTRAINT organizations_slug_key UNIQUE (slug)
);
ALTER TABLE auth.organizations ENABLE ROW LEVEL SECURITY;
SELECT pg_catalog.pg_extension_config_dump('auth.organizations', '');
COMMENT ON TABLE auth.organizations IS 'tenants';

-- Built-in roles have org_id NULL; custom roles belong to one organization.
CREATE TABLE auth.roles (
    id          uuid PRIMARY KEY DEFAULT pg_catalog.gen_random_uuid(),
    org_id      uuid REFERENCES auth.organizations (id) ON DELETE CASCADE,
    name        text NOT NULL,
    permissions text[] NOT NULL DEFAULT '{}',
    created_at  timestamptz NOT NULL DEFAULT auth.now(),
    updated_at  timestamptz NOT NULL DEFAULT auth.now()
);
CREATE UNIQUE INDEX roles_org_name_key
    ON auth.roles (COALESCE(org_id, '00000000-0000-0000-0000-000000000000'::pg_catalog.uuid), name);
ALTER TABLE auth.roles ENABLE ROW LEVEL SECURITY;
-- only custom roles are the database's own data; built-ins come with the extension
SELECT pg_catalog.pg_extension_config_dump('auth.roles', 'WHERE org_id IS NOT NULL');
COMMENT ON TABLE auth.roles IS 'built-in roles (owner, admin, member) and each organization''s custom roles with their permissions';
-- better-auth's default statements; the owner holds every permission.
INSERT INTO auth.roles (org_id, name, permissions) VALUES
    (NULL, 'owner', '{*}'),
    (NULL, 'admin', '{organization:update,member:create,member:update,member:delete,invitation:create,invitation:cancel,team:create,team:update,team:delete,apikey:create}'),
    (NULL, 'member', '{}');

CREATE TABLE auth.members (
    org_id     uuid NOT NULL REFERENCES auth.organizations (id) ON DELETE CASCADE,
    user_id    uuid NOT NULL REFERENCES auth.users (id) ON DELETE CASCADE,
    role       text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT auth.now(),
    PRIMARY KEY (org_id, user_id)
);
CREATE INDEX members_user_id_idx ON auth.members (user_id);
ALTER TABLE auth.members ENABLE ROW LEVEL SECURITY;
SELECT pg_catalog.pg_extension_config_dump('auth.members', '');
COMMENT ON TABLE auth.members IS 'who belongs to which organization, with which role';

CREATE TABLE auth.teams (
    id         uuid PRIMARY KEY DEFAULT pg_catalog.gen_random_uuid(),
    org_id     uuid NOT NULL REFERENCES auth.organizations (id) ON DELETE CASCADE,
    name       text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT auth.now(),
    updated_at timestamptz NOT NULL DEFAULT auth.now(),
    CONSTRAINT teams_org_name_key UNIQUE (org_id, name),
    CONSTRAINT teams_org_id_id_key UNIQUE (org_id, id)
);
ALTER TABLE auth.teams ENABLE ROW LEVEL SECURITY;
SELECT pg_catalog.pg_extension_config_dump('auth.teams', '');
COMMENT ON TABLE auth.teams IS 'teams within an organization';

-- A team member is a member of the team's organization: leaving the
-- organization leaves its teams.
CREATE TABLE auth.team_members (
    org_id     uuid NOT NULL,
    team_id    uuid NOT NULL,
    user_id    uuid NOT NULL,
    created_at timestamptz NOT NULL DEFAULT auth.now(),
    PRIMARY KEY (team_id, user_id),
    FOREIGN KEY (org_id, team_id) REFERENCES auth.teams (org_id, id) ON DELETE CASCADE,
    FOREIGN KEY (org_id, user_id) REFERENCES auth.members (org_id, user_id) ON DELETE CASCADE
);
CREATE INDEX team_members_user_id_idx ON auth.team_members (user_id);
ALTER TABLE auth.team_members ENABLE ROW LEVEL SECURITY;
SELECT pg_catalog.pg_extension_config_dump('auth.team_members', '');
COMMENT ON TABLE auth.team_members IS 'team membership; always within the organization';

-- The session's active organization (auth.org_id()).
ALTER TABLE auth.sessions
    ADD COLUMN active_org_id uuid REFERENCES auth.organizations (id) ON DELETE SET NULL;

-- RLS helpers, in C; not SECURITY DEFINER, so a policy pays no user switch per row.
CREATE FUNCTION auth.org_id() RETURNS uuid
    AS 'MODULE_PATHNAME', 'auth_org_id'
    LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION auth.org_id() IS
    'the active organization of the current session, NULL when none';

CREATE FUNCTION auth.is_member(org_id uuid) RETURNS boolean
    AS 'MODULE_PATHNAME', 'auth_is_member'
    LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION auth.is_member(uuid) IS
    'whether the authenticated user belongs to the organization';

CREATE FUNCTION auth.has_role(org_id uuid, role text) RETURNS boolean
    AS 'MODULE_PATHNAME', 'auth_has_role'
    LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION auth.has_role(uuid, text) IS
    'whether the authenticated user holds the role in the organization; rank-aware for owner > admin > member';

CREATE FUNCTION auth.has_permission(org_id uuid, permission text) RETURNS boolean
    AS 'MODULE_PATHNAME', 'auth_has_permission'
    LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION auth.has_permission(uuid, text) IS
    'whether the authenticated user''s role in the organization grants the permission (resource:action; resource:* and * grant more)';

CREATE FUNCTION auth.org_ids() RETURNS uuid[]
    AS 'MODULE_PATHNAME', 'auth_org_ids'
    LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION auth.org_ids() IS
    'the organizations the authenticated user belongs to';

CREATE FUNCTION auth.team_ids() RETURNS uuid[]
    AS 'MODULE_PATHNAME', 'auth_team_ids'
    LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION auth.team_ids() IS
    'the teams the authenticated user belongs to';

CREATE FUNCTION auth._role_rank(role text) RETURNS integer
    AS 'MODULE_PATHNAME', 'auth_role_rank_sql'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION auth._role_rank(text) IS
    'internal: rank of a role: owner 3, admin 2, any other 1';
REVOKE ALL ON FUNCTION auth._role_rank(text) FROM PUBLIC;

-- 42501 unless the authenticated user holds the permission in the organization.
CREATE FUNCTION auth._require_permission(org_id uuid, permission text) RETURNS uuid
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_uid uuid := auth.require_uid();
BEGIN
    IF org_id IS NULL OR NOT auth.has_permission(org_id, permission) THEN
        RAISE EXCEPTION USING ERRCODE = '42501',
            MESSAGE = format('permission denied: %s', permission),
            DETAIL = 'The organization does not exist, or your role in it does not grant this permission.';
    END IF;
    RETURN v_uid;
END
$$;
COMMENT ON FUNCTION auth._require_permission(uuid, text) IS
    'internal: the caller''s id, or 42501 naming the missing permission';
REVOKE ALL ON FUNCTION auth._require_permission(uuid, text) FROM PUBLIC;

-- 42501 unless the authenticated user is a member.
CREATE FUNCTION auth._require_member(org_id uuid) RETURNS uuid
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_uid uuid := auth.require_uid();
BEGIN
    IF org_id IS NULL OR NOT auth.is_member(org_id) THEN
        RAISE EXCEPTION USING ERRCODE = '42501', MESSAGE = 'not a member of this organization';
    END IF;
    RETURN v_uid;
END
$$;
COMMENT ON FUNCTION auth._require_member(uuid) IS
    'internal: the caller''s id, or 42501 when not a member';
REVOKE ALL ON FUNCTION auth._require_member(uuid) FROM PUBLIC;

-- A role that exists for the organization (built-in or its own), or 22023.
CREATE FUNCTION auth._check_role(org_id uuid, role text) RETURNS void
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF NOT EXISTS (SELECT FROM auth.roles r
                    WHERE r.name = role AND (r.org_id IS NULL OR r.org_id = _check_role.org_id)) THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = format('role "%s" does not exist', role);
    END IF;
END
$$;
COMMENT ON FUNCTION auth._check_role(uuid, text) IS
    'internal: 22023 unless the role exists for the organization';
REVOKE ALL ON FUNCTION auth._check_role(uuid, text) FROM PUBLIC;

-- Locks the organization row, so that changes to its members (and the
-- last-owner and limit checks) are serialised; 42501 when it does not exist.
CREATE FUNCTION auth._lock_organization(org_id uuid) RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    -- an update rather than a row lock: under REPEATABLE READ a concurrent
    -- change to the members then fails with 40001 instead of going unseen
    UPDATE auth.organizations o SET updated_at = o.updated_at WHERE o.id = org_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = '42501', MESSAGE = 'not a member of this organization';
    END IF;
END
$$;
COMMENT ON FUNCTION auth._lock_organization(uuid) IS
    'internal: serialises membership changes of one organization';
REVOKE ALL ON FUNCTION auth._lock_organization(uuid) FROM PUBLIC;

-- Refuses a membership change that would leave the organization without
-- an owner (run under auth._lock_organization).
CREATE FUNCTION auth._check_owner_left(org_id uuid) RETURNS void
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF NOT EXISTS (SELECT FROM auth.members m WHERE m.org_id = _check_owner_left.org_id AND m.role = 'owner') THEN
        RAISE EXCEPTION USING ERRCODE = '42501', MESSAGE = 'an organization must keep an owner',
            HINT = 'Make another member owner first, or delete the organization.';
    END IF;
END
$$;
COMMENT ON FUNCTION auth._check_owner_left(uuid) IS
    'internal: 42501 when the organization has no owner left';
REVOKE ALL ON FUNCTION auth._check_owner_left(uuid) FROM PUBLIC;

-- The slug of a name: lower-case letters, digits and single dashes.
CREATE FUNCTION auth._slugify(name text) RETURNS text
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT left(btrim(regexp_replace(lower(name), '[^a-z0-9]+', '-', 'g'), '-'), 48) $$;
COMMENT ON FUNCTION auth._slugify(text) IS 'internal: a slug derived from a name';
REVOKE ALL ON FUNCTION auth._slugify(text) FROM PUBLIC;

CREATE FUNCTION auth._check_slug(slug text) RETURNS void
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF slug IS NULL OR slug !~ '^[a-z0-9]([a-z0-9-]{0,62}[a-z0-9])?$' OR slug ~ '--' THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'invalid slug',
            HINT = 'A slug is 1 to 64 lowercase letters, digits and single dashes, starting and ending with a letter or digit.';
    END IF;
END
$$;
COMMENT ON FUNCTION auth._check_slug(text) IS 'internal: 22023 unless the slug is valid';
REVOKE ALL ON FUNCTION auth._check_slug(text) FROM PUBLIC;

CREATE FUNCTION auth.create_organization(name text, slug text DEFAULT NULL,
                                         metadata jsonb DEFAULT '{}')
RETURNS uuid
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    v_uid uuid := auth._require_account_uid();
    v_slug text := slug;
    v_id uuid;
    v_n int := 1;
BEGIN
    IF name IS NULL OR btrim(name) = '' OR length(name) > 200 THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'an organization needs a name of 1 to 200 characters';
    END IF;
    IF v_slug IS NOT NULL THEN
        PERFORM auth._check_slug(v_slug);
        INSERT INTO auth.organizations (name, slug, metadata)
        VALUES (btrim(name), v_slug, coalesce(metadata, '{}'))
        ON CONFLICT DO NOTHING RETURNING id INTO v_id;
        IF v_id IS NULL THEN
            RAISE EXCEPTION USING ERRCODE = '23505', MESSAGE = 'slug is already taken';
        END IF;
    ELSE
        -- derived from the name; "-2", "-3", ... when taken
        v_slug := coalesce(nullif(auth._slugify(name), ''), 'org');
        LOOP
            INSERT INTO auth.organizations (name, slug, metadata)
            VALUES (btrim(name), CASE WHEN v_n = 1 THEN v_slug ELSE v_slug || '-' || v_n END,
                    coalesce(metadata, '{}'))
            ON CONFLICT DO NOTHING RETURNING id INTO v_id;
            EXIT WHEN v_id IS NOT NULL;
            v_n := v_n + 1;
        END LOOP;
    END IF;
    INSERT INTO auth.members (org_id, user_id, role) VALUES (v_id, v_uid, 'owner');
    PERFORM auth._audit('organization_created', v_uid, auth.session_id(), NULL,
                        jsonb_build_object('org_id', v_id));
    RETURN v_id;
END
$$;
COMMENT ON FUNCTION auth.create_organization(text, text, jsonb) IS
    'creates an organization with the caller as owner; the slug is validated (22023) and unique (23505), or derived from the name';

CREATE FUNCTION auth.update_organization(org_id uuid, name text DEFAULT NULL, slug text DEFAULT NULL,
                                         logo text DEFAULT NULL, metadata jsonb DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    v_uid uuid := auth._require_permission(org_id, 'organization:update');
BEGIN
    IF slug IS NOT NULL THEN
        PERFORM auth._check_slug(slug);
    END IF;
    IF name IS NOT NULL AND (btrim(name) = '' OR length(name) > 200) THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'an organization needs a name of 1 to 200 characters';
    END IF;
    BEGIN
        UPDATE auth.organizations o
           SET name = coalesce(btrim(name), o.name), slug = coalesce(slug, o.slug),
               logo = coalesce(logo, o.logo), metadata = coalesce(metadata, o.metadata),
               updated_at = auth.now()
         WHERE o.id = org_id;
    EXCEPTION WHEN unique_violation THEN
        RAISE EXCEPTION USING ERRCODE = '23505', MESSAGE = 'slug is already taken';
    END;
    PERFORM auth._audit('organization_updated', v_uid, auth.session_id(), NULL,
                        jsonb_build_object('org_id', org_id));
END
$$;
COMMENT ON FUNCTION auth.update_organization(uuid, text, text, text, jsonb) IS
    'changes an organization''s name, slug, logo or metadata (NULL keeps it); needs organization:update';

CREATE FUNCTION auth.delete_organization(org_id uuid) RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_uid uuid := auth._require_permission(org_id, 'organization:delete');
BEGIN
    DELETE FROM auth.organizations o WHERE o.id = delete_organization.org_id;
    PERFORM auth._audit('organization_deleted', v_uid, auth.session_id(), NULL,
                        jsonb_build_object('org_id', delete_organization.org_id));
END
$$;
COMMENT ON FUNCTION auth.delete_organization(uuid) IS
    'deletes an organization with its members, roles, teams and invitations; needs organization:delete (owners)';

CREATE FUNCTION auth.list_my_organizations()
RETURNS TABLE (id uuid, name text, slug text, logo text, role text, created_at timestamptz)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT o.id, o.name, o.slug, o.logo, m.role, o.created_at
      FROM auth.members m JOIN auth.organizations o ON o.id = m.org_id
     WHERE m.user_id = auth.require_uid() AND auth.is_member(m.org_id)  -- an org-bound key: its own
     ORDER BY o.name, o.id
$$;
COMMENT ON FUNCTION auth.list_my_organizations() IS
    'the organizations of the authenticated user, with their role';
-- members: who belongs to an organization, with which role; custom roles;
-- the session's active organization.  Changes to one organization's members
-- are serialised on its row, so it never loses its last owner and never
-- exceeds auth.membership_limit, however many run at once.

-- Refuses granting or touching a role above the caller's own (42501): a
-- built-in role by rank, a custom role by its permissions, every one of
-- which the caller must hold.
CREATE FUNCTION auth._check_rank(org_id uuid, role text) RETURNS void
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF role IN ('owner', 'admin', 'member') THEN
        IF NOT auth.has_role(org_id, 'owner') AND auth._role_rank(role) > 2
           OR NOT auth.has_role(org_id, 'admin') AND auth._role_rank(role) > 1 THEN
            RAISE EXCEPTION USING ERRCODE = '42501',
                MESSAGE = format('cannot grant or change the role "%s", which ranks above your own', role);
        END IF;
        -- an API key also needs, in its scopes, every permission the role holds
        IF auth.api_key_id() IS NOT NULL THEN
            PERFORM auth._check_permissions_held(org_id,
                (SELECT r.permissions FROM auth.roles r WHERE r.org_id IS NULL AND r.name = role),
                format('the role "%s"', role));
        END IF;
    ELSE
        PERFORM auth._check_permissions_held(org_id,
            (SELECT r.permissions FROM auth.roles r WHERE r.org_id = _check_rank.org_id AND r.name = role),
            format('the role "%s"', role));
    END IF;
END
$$;
COMMENT ON FUNCTION auth._check_rank(uuid, text) IS
    'internal: 42501 when the role ranks above the caller''s or grants a permission the caller lacks';
REVOKE ALL ON FUNCTION auth._check_rank(uuid, text) FROM PUBLIC;

-- 42501 unless the caller holds every one of the permissions, so nobody
-- hands out (through a custom role) more than they have.
CREATE FUNCTION auth._check_permissions_held(org_id uuid, permissions text[], what text) RETURNS void
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_missing text;
BEGIN
    SELECT p INTO v_missing FROM unnest(permissions) p
     WHERE NOT auth.has_permission(org_id, p) LIMIT 1;
    IF v_missing IS NOT NULL THEN
        RAISE EXCEPTION USING ERRCODE = '42501',
            MESSAGE = format('cannot grant or change %s, which grants %s, a permission you lack', what, v_missing);
    END IF;
END
$$;
COMMENT ON FUNCTION auth._check_permissions_held(uuid, text[], text) IS
    'internal: 42501 unless the caller holds every permission';
REVOKE ALL ON FUNCTION auth._check_permissions_held(uuid, text[], text) FROM PUBLIC;

-- Adds a member under the organization's lock, within auth.membership_limit.
CREATE FUNCTION auth._insert_member(org_id uuid, user_id uuid, role text) RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    v_limit int := auth._setting_int('auth.membership_limit');
BEGIN
    PERFORM auth._lock_organization(org_id);
    IF (SELECT count(*) FROM auth.members m WHERE m.org_id = org_id) >= v_limit THEN
        RAISE EXCEPTION USING ERRCODE = '54000', MESSAGE = 'the organization has reached its membership limit',
            DETAIL = format('An organization has at most %s members (auth.membership_limit).', v_limit);
    END IF;
    INSERT INTO auth.members (org_id, user_id, role) VALUES (org_id, user_id, role);
EXCEPTION WHEN unique_violation THEN
    RAISE EXCEPTION USING ERRCODE = '23505', MESSAGE = 'already a member of this organization';
END
$$;
COMMENT ON FUNCTION auth._insert_member(uuid, uuid, text) IS
    'internal: adds a member within the membership limit';
REVOKE ALL ON FUNCTION auth._insert_member(uuid, uuid, text) FROM PUBLIC;

-- For a change to an organization's members: checks the permission (so
-- nobody else can take the lock), locks the organization, and checks the
-- permission again, now that no concurrent change can alter roles before
-- this one commits.  Returns the caller's id.
CREATE FUNCTION auth._lock_organization_for(org_id uuid, permission text) RETURNS uuid
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM auth._require_permission(org_id, permission);
    PERFORM auth._lock_organization(org_id);
    RETURN auth._require_permission(org_id, permission);
END
$$;
COMMENT ON FUNCTION auth._lock_organization_for(uuid, text) IS
    'internal: checks a permission, locks the organization, checks it again';
REVOKE ALL ON FUNCTION auth._lock_organization_for(uuid, text) FROM PUBLIC;

CREATE FUNCTION auth.add_member(org_id uuid, user_id uuid, role text) RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    v_uid uuid := auth._lock_organization_for(org_id, 'member:create');
BEGIN
    PERFORM auth._check_role(org_id, role);
    PERFORM auth._check_rank(org_id, role);
    IF NOT EXISTS (SELECT FROM auth.users u WHERE u.id = user_id) THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'user does not exist';
    END IF;
    PERFORM auth._insert_member(org_id, user_id, role);
    PERFORM auth._audit('member_added', v_uid, auth.session_id(), NULL,
                        jsonb_build_object('org_id', org_id, 'member_id', user_id, 'role', role));
END
$$;
COMMENT ON FUNCTION auth.add_member(uuid, uuid, text) IS
    'adds a user to an organization; needs member:create and a role not above the caller''s';

CREATE FUNCTION auth.update_member_role(org_id uuid, user_id uuid, role text) RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    v_uid uuid := auth._lock_organization_for(org_id, 'member:update');
    v_old text;
BEGIN
    PERFORM auth._check_role(org_id, role);
    PERFORM auth._check_rank(org_id, role);
    SELECT m.role INTO v_old FROM auth.members m WHERE m.org_id = org_id AND m.user_id = user_id;
    IF v_old IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'not a member of this organization';
    END IF;
    PERFORM auth._check_rank(org_id, v_old);
    UPDATE auth.members m SET role = update_member_role.role
     WHERE m.org_id = org_id AND m.user_id = user_id;
    PERFORM auth._check_owner_left(org_id);
    IF v_old IS DISTINCT FROM role THEN
        PERFORM auth._cancel_invitations_by(org_id, user_id);
    END IF;
    PERFORM auth._audit('member_role_changed', v_uid, auth.session_id(), NULL,
                        jsonb_build_object('org_id', org_id, 'member_id', user_id,
                                           'old_role', v_old, 'role', role));
END
$$;
COMMENT ON FUNCTION auth.update_member_role(uuid, uuid, text) IS
    'changes a member''s role; needs member:update, neither role above the caller''s, and an owner left';

-- Removes a member under the organization's lock, keeping an owner.
CREATE FUNCTION auth._delete_member(org_id uuid, user_id uuid, event text, actor uuid) RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
BEGIN
    PERFORM auth._lock_organization(org_id);
    DELETE FROM auth.members m WHERE m.org_id = org_id AND m.user_id = user_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'not a member of this organization';
    END IF;
    PERFORM auth._check_owner_left(org_id);
    PERFORM auth._cancel_invitations_by(org_id, user_id);
    -- a session whose active organization this was has none any more
    UPDATE auth.sessions s SET active_org_id = NULL
     WHERE s.user_id = user_id AND s.active_org_id = org_id;
    PERFORM auth._audit(event, actor, auth.session_id(), NULL,
                        jsonb_build_object('org_id', org_id, 'member_id', user_id));
END
$$;
COMMENT ON FUNCTION auth._delete_member(uuid, uuid, text, uuid) IS
    'internal: removes a member, keeping an owner';
REVOKE ALL ON FUNCTION auth._delete_member(uuid, uuid, text, uuid) FROM PUBLIC;

CREATE FUNCTION auth.remove_member(org_id uuid, user_id uuid) RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    v_uid uuid := auth._lock_organization_for(org_id, 'member:delete');
    v_role text;
BEGIN
    SELECT m.role INTO v_role FROM auth.members m WHERE m.org_id = org_id AND m.user_id = user_id;
    IF v_role IS NOT NULL THEN
        PERFORM auth._check_rank(org_id, v_role);
    END IF;
    PERFORM auth._delete_member(org_id, user_id, 'member_removed', v_uid);
END
$$;
COMMENT ON FUNCTION auth.remove_member(uuid, uuid) IS
    'removes a member; needs member:delete and a role not above the caller''s; never the last owner';

CREATE FUNCTION auth.leave_organization(org_id uuid) RETURNS void
LANGUAGE sql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$ SELECT auth._delete_member(org_id, auth._require_member(org_id), 'member_left', auth._require_account_uid()) $$;
COMMENT ON FUNCTION auth.leave_organization(uuid) IS
    'the authenticated user leaves an organization; the last owner cannot';

CREATE FUNCTION auth.list_members(org_id uuid)
RETURNS TABLE (user_id uuid, email text, name text, role text, created_at timestamptz)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT m.user_id, u.email, u.name, m.role, m.created_at
      FROM auth.members m JOIN auth.users u ON u.id = m.user_id
     WHERE m.org_id = list_members.org_id AND auth._require_member(list_members.org_id) IS NOT NULL
     ORDER BY auth._role_rank(m.role) DESC, u.email
$$;
COMMENT ON FUNCTION auth.list_members(uuid) IS
    'the members of an organization the caller belongs to';

-- Custom roles: names must not shadow the built-ins; permissions are
-- resource:action strings (resource:* and * allowed).
CREATE FUNCTION auth._check_role_definition(name text, permissions text[]) RETURNS void
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF name IS NULL OR name !~ '^[a-z][a-z0-9_-]{0,39}$' OR name IN ('owner', 'admin', 'member') THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'invalid role name',
            HINT = 'A custom role is 1 to 40 lowercase letters, digits, - and _, and not owner, admin or member.';
    END IF;
    IF permissions IS NULL OR EXISTS (SELECT FROM unnest(permissions) p
                                       WHERE p IS NULL OR p !~ '^([a-z][a-z0-9_-]*:([a-z][a-z0-9_-]*|\*)|\*)$') THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'invalid permission',
            HINT = 'A permission is resource:action, resource:* or *.';
    END IF;
END
$$;
COMMENT ON FUNCTION auth._check_role_definition(text, text[]) IS
    'internal: 22023 unless a custom role''s name and permissions are valid';
REVOKE ALL ON FUNCTION auth._check_role_definition(text, text[]) FROM PUBLIC;

CREATE FUNCTION auth.create_role(org_id uuid, name text, permissions text[]) RETURNS uuid
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    v_uid uuid := auth._require_permission(org_id, 'organization:update');
    v_id uuid;
BEGIN
    PERFORM auth._check_role_definition(name, permissions);
    PERFORM auth._check_permissions_held(org_id, permissions, format('the role "%s"', name));
    INSERT INTO auth.roles (org_id, name, permissions) VALUES (org_id, name, permissions)
    ON CONFLICT DO NOTHING RETURNING id INTO v_id;
    IF v_id IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = '23505', MESSAGE = format('role "%s" already exists', name);
    END IF;
    PERFORM auth._audit('role_created', v_uid, auth.session_id(), NULL,
                        jsonb_build_object('org_id', org_id, 'role', name, 'permissions', permissions));
    RETURN v_id;
END
$$;
COMMENT ON FUNCTION auth.create_role(uuid, text, text[]) IS
    'creates a custom role with its permissions; needs organization:update';

CREATE FUNCTION auth.update_role(org_id uuid, name text, permissions text[]) RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    v_uid uuid := auth._require_permission(org_id, 'organization:update');
BEGIN
    PERFORM auth._check_role_definition(name, permissions);
    -- both what the role grants now and what it will grant
    PERFORM auth._check_rank(org_id, name);
    PERFORM auth._check_permissions_held(org_id, permissions, format('the role "%s"', name));
    UPDATE auth.roles r SET permissions = update_role.permissions, updated_at = auth.now()
     WHERE r.org_id = org_id AND r.name = name;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = format('role "%s" does not exist', name);
    END IF;
    PERFORM auth._audit('role_updated', v_uid, auth.session_id(), NULL,
                        jsonb_build_object('org_id', org_id, 'role', name, 'permissions', permissions));
END
$$;
COMMENT ON FUNCTION auth.update_role(uuid, text, text[]) IS
    'replaces a custom role''s permissions; needs organization:update';

CREATE FUNCTION auth.delete_role(org_id uuid, name text) RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    v_uid uuid := auth._require_permission(org_id, 'organization:update');
BEGIN
    PERFORM auth._lock_organization(org_id);
    IF EXISTS (SELECT FROM auth.members m WHERE m.org_id = org_id AND m.role = name) THEN
        RAISE EXCEPTION USING ERRCODE = '2BP01', MESSAGE = format('role "%s" is held by members', name),
            HINT = 'Give those members another role first.';
    END IF;
    DELETE FROM auth.roles r WHERE r.org_id = org_id AND r.name = name;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = format('role "%s" does not exist', name);
    END IF;
    -- pending invitations to it die with it
    UPDATE auth.invitations i SET status = 'canceled'
     WHERE i.org_id = org_id AND i.role = name AND i.status = 'pending';
    PERFORM auth._audit('role_deleted', v_uid, auth.session_id(), NULL,
                        jsonb_build_object('org_id', org_id, 'role', name));
END
$$;
COMMENT ON FUNCTION auth.delete_role(uuid, text) IS
    'deletes a custom role no member holds (2BP01 otherwise); needs organization:update';

-- No SET clause: the identity it updates must outlast the call; only
-- schema-qualified calls inside.
CREATE FUNCTION auth.set_active_organization(org_id uuid) RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
AS $$
BEGIN
    PERFORM auth._store_active_organization(org_id);
    PERFORM auth._set_identity_org(org_id);
END
$$;
COMMENT ON FUNCTION auth.set_active_organization(uuid) IS
    'makes an organization the current session''s active one (auth.org_id()); the caller must be a member; NULL clears';

CREATE FUNCTION auth._store_active_organization(org_id uuid) RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_sid uuid := auth.session_id();
BEGIN
    PERFORM auth.require_uid();
    IF v_sid IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = '28000', MESSAGE = 'an active organization needs a session',
            HINT = 'Authenticate with a session token.';
    END IF;
    IF org_id IS NOT NULL THEN
        PERFORM auth._require_member(org_id);
    END IF;
    UPDATE auth.sessions s SET active_org_id = org_id WHERE s.id = v_sid;
END
$$;
COMMENT ON FUNCTION auth._store_active_organization(uuid) IS
    'internal: stores the active organization on the current session';
REVOKE ALL ON FUNCTION auth._store_active_organization(uuid) FROM PUBLIC;

CREATE FUNCTION auth._set_identity_org(org_id uuid) RETURNS void
    AS 'MODULE_PATHNAME', 'auth_set_identity_org'
    LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION auth._set_identity_org(uuid) IS
    'internal: puts the active organization into the current identity';
REVOKE ALL ON FUNCTION auth._set_identity_org(uuid) FROM PUBLIC;
-- invitations: joining an organization by an emailed token.  Only a
-- signed-in user whose verified email is the invited one can accept it
-- (better-auth's GHSA-fmh4-wcc4-5jm3 was a missing check of exactly this),
-- and an invitation is accepted, rejected or canceled once.

CREATE TABLE auth.invitations (
    id          uuid PRIMARY KEY DEFAULT pg_catalog.gen_random_uuid(),
    org_id      uuid NOT NULL REFERENCES auth.organizations (id) ON DELETE CASCADE,
    email       text NOT NULL,
    role        text NOT NULL,
    team_id     uuid REFERENCES auth.teams (id) ON DELETE SET NULL,
    token_hash  bytea NOT NULL,
    inviter_id  uuid REFERENCES auth.users (id) ON DELETE SET NULL,
    status      text NOT NULL DEFAULT 'pending'
                CHECK (status IN ('pending', 'accepted', 'rejected', 'canceled')),
    expires_at  timestamptz NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT auth.now(),
    CONSTRAINT invitations_token_hash_key UNIQUE (token_hash)
);
CREATE INDEX invitations_org_id_idx ON auth.invitations (org_id, status);
CREATE INDEX invitations_email_idx ON auth.invitations (email, status);
ALTER TABLE auth.invitations ENABLE ROW LEVEL SECURITY;
SELECT pg_catalog.pg_extension_config_dump('auth.invitations', '');
COMMENT ON TABLE auth.invitations IS
    'invitations to organizations; only the SHA-256 of each token is kept; a pending one past expires_at reads as expired';

-- Pending invitations a member issued die when they leave or change role.
CREATE FUNCTION auth._cancel_invitations_by(org_id uuid, inviter_id uuid) RETURNS void
LANGUAGE sql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    UPDATE auth.invitations i SET status = 'canceled'
     WHERE i.org_id = _cancel_invitations_by.org_id AND i.inviter_id = _cancel_invitations_by.inviter_id
       AND i.status = 'pending'
$$;
COMMENT ON FUNCTION auth._cancel_invitations_by(uuid, uuid) IS
    'internal: cancels the pending invitations a member issued';
REVOKE ALL ON FUNCTION auth._cancel_invitations_by(uuid, uuid) FROM PUBLIC;

CREATE FUNCTION auth.invite_member(org_id uuid, email text, role text, team_id uuid DEFAULT NULL,
                                   ttl interval DEFAULT NULL)
RETURNS text
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    v_uid uuid := auth._require_permission(org_id, 'invitation:create');
    v_email text := auth._normalize_email(email);
    v_token text := auth._generate_token('inv');
    v_ttl interval := auth._capped_ttl(ttl, 'auth.invitation_ttl');
    v_id uuid;
BEGIN
    IF v_ttl <= interval '0' THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'ttl must be positive';
    END IF;
    PERFORM auth._check_role(org_id, role);
    PERFORM auth._check_rank(org_id, role);
    IF team_id IS NOT NULL AND NOT EXISTS (SELECT FROM auth.teams t WHERE t.id = team_id AND t.org_id = org_id) THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'the team is not in this organization';
    END IF;
    IF EXISTS (SELECT FROM auth.members m JOIN auth.users u ON u.id = m.user_id
                WHERE m.org_id = org_id AND lower(u.email) = v_email) THEN
        RAISE EXCEPTION USING ERRCODE = '23505', MESSAGE = 'already a member of this organization';
    END IF;
    -- a new invitation replaces a pending one for the same address
    UPDATE auth.invitations i SET status = 'canceled'
     WHERE i.org_id = org_id AND i.email = v_email AND i.status = 'pending';
    INSERT INTO auth.invitations (org_id, email, role, team_id, token_hash, inviter_id, expires_at)
    VALUES (org_id, v_email, role, team_id, auth._token_hash(v_token, 'inv'), v_uid, auth.now() + v_ttl)
    RETURNING id INTO v_id;
    PERFORM auth._audit('invitation_created', v_uid, auth.session_id(), NULL,
                        jsonb_build_object('org_id', org_id, 'invitation_id', v_id,
                                           'email', v_email, 'role', role));
    RETURN v_token;
END
$$;
COMMENT ON FUNCTION auth.invite_member(uuid, text, text, uuid, interval) IS
    'an invitation token (inv_...) to mail; needs invitation:create and a role not above the inviter''s; default lifetime auth.invitation_ttl';

-- The pending, unexpired invitation a token names, addressed to the
-- signed-in user's verified email; 28000 or 42501 otherwise.
CREATE FUNCTION auth._my_invitation(token text) RETURNS auth.invitations
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_uid uuid := auth._require_account_uid();
    v_hash bytea := auth._token_hash(token, 'inv');
    v_inv auth.invitations;
BEGIN
    SELECT * INTO v_inv FROM auth.invitations i
     WHERE i.token_hash = v_hash AND i.status = 'pending' AND i.expires_at > auth.now();
    IF v_inv.id IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = '28000', MESSAGE = 'invalid or expired invitation';
    END IF;
    IF NOT EXISTS (SELECT FROM auth.users u
                    WHERE u.id = v_uid AND lower(u.email) = v_inv.email
                      AND u.email_verified_at IS NOT NULL) THEN
        RAISE EXCEPTION USING ERRCODE = '42501', MESSAGE = 'this invitation is for another email',
            HINT = 'Sign in with the invited address, verified.';
    END IF;
    RETURN v_inv;
END
$$;
COMMENT ON FUNCTION auth._my_invitation(text) IS
    'internal: the caller''s pending invitation named by a token';
REVOKE ALL ON FUNCTION auth._my_invitation(text) FROM PUBLIC;

-- Moves a pending invitation to a final status, once (28000 when it was
-- not pending any more).
CREATE FUNCTION auth._close_invitation(id uuid, status text) RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    UPDATE auth.invitations i SET status = _close_invitation.status
     WHERE i.id = _close_invitation.id AND i.status = 'pending';
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = '28000', MESSAGE = 'invalid or expired invitation';
    END IF;
END
$$;
COMMENT ON FUNCTION auth._close_invitation(uuid, text) IS
    'internal: closes a pending invitation once';
REVOKE ALL ON FUNCTION auth._close_invitation(uuid, text) FROM PUBLIC;

CREATE FUNCTION auth.accept_invitation(token text) RETURNS uuid
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_inv auth.invitations := auth._my_invitation(token);
    v_uid uuid := auth.uid();
BEGIN
    PERFORM auth._close_invitation(v_inv.id, 'accepted');
    IF NOT EXISTS (SELECT FROM auth.members m WHERE m.org_id = v_inv.org_id AND m.user_id = v_uid) THEN
        PERFORM auth._insert_member(v_inv.org_id, v_uid, v_inv.role);
    END IF;
    IF v_inv.team_id IS NOT NULL THEN
        INSERT INTO auth.team_members (org_id, team_id, user_id)
        VALUES (v_inv.org_id, v_inv.team_id, v_uid) ON CONFLICT DO NOTHING;
    END IF;
    PERFORM auth._audit('invitation_accepted', v_uid, auth.session_id(), NULL,
                        jsonb_build_object('org_id', v_inv.org_id, 'invitation_id', v_inv.id,
                                           'role', v_inv.role));
    RETURN v_inv.org_id;
END
$$;
COMMENT ON FUNCTION auth.accept_invitation(text) IS
    'joins the organization of an invitation addressed to the signed-in user''s verified email, once; returns the organization; 28000 when invalid, 42501 for another email';

CREATE FUNCTION auth.reject_invitation(token text) RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_inv auth.invitations := auth._my_invitation(token);
BEGIN
    PERFORM auth._close_invitation(v_inv.id, 'rejected');
    PERFORM auth._audit('invitation_rejected', auth.uid(), auth.session_id(), NULL,
                        jsonb_build_object('org_id', v_inv.org_id, 'invitation_id', v_inv.id));
END
$$;
COMMENT ON FUNCTION auth.reject_invitation(text) IS
    'declines an invitation addressed to the signed-in user''s verified email';

CREATE FUNCTION auth.cancel_invitation(invitation_id uuid) RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_org uuid := (SELECT i.org_id FROM auth.invitations i WHERE i.id = invitation_id);
    v_uid uuid := auth._require_permission(v_org, 'invitation:cancel');
BEGIN
    PERFORM auth._close_invitation(invitation_id, 'canceled');
    PERFORM auth._audit('invitation_canceled', v_uid, auth.session_id(), NULL,
                        jsonb_build_object('org_id', v_org, 'invitation_id', invitation_id));
END
$$;
COMMENT ON FUNCTION auth.cancel_invitation(uuid) IS
    'withdraws a pending invitation; needs invitation:cancel';

CREATE FUNCTION auth.list_invitations(org_id uuid)
RETURNS TABLE (id uuid, email text, role text, team_id uuid, status text, inviter_id uuid,
               expires_at timestamptz, created_at timestamptz)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT i.id, i.email, i.role, i.team_id,
           CASE WHEN i.status = 'pending' AND i.expires_at <= auth.now() THEN 'expired' ELSE i.status END,
           i.inviter_id, i.expires_at, i.created_at
      FROM auth.invitations i
     WHERE i.org_id = list_invitations.org_id AND auth._require_member(list_invitations.org_id) IS NOT NULL
     ORDER BY i.created_at DESC
$$;
COMMENT ON FUNCTION auth.list_invitations(uuid) IS
    'the invitations of an organization the caller belongs to, never their tokens; status pending, accepted, rejected, canceled or expired';

CREATE FUNCTION auth.list_my_invitations()
RETURNS TABLE (id uuid, org_id uuid, org_name text, role text, inviter_id uuid, expires_at timestamptz)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT i.id, i.org_id, o.name, i.role, i.inviter_id, i.expires_at
      FROM auth.invitations i
      JOIN auth.organizations o ON o.id = i.org_id
      JOIN auth.users u ON lower(u.email) = i.email AND u.email_verified_at IS NOT NULL
     WHERE u.id = auth._require_account_uid() AND i.status = 'pending' AND i.expires_at > auth.now()
     ORDER BY i.created_at DESC
$$;
COMMENT ON FUNCTION auth.list_my_invitations() IS
    'pending invitations addressed to the signed-in user''s verified email';
-- teams: groups within an organization; every team member is a member of
-- the organization (a foreign key on auth.members).

-- The organization of a team and the caller's id, or 42501.
CREATE FUNCTION auth._team_org(team_id uuid, permission text) RETURNS uuid
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_org uuid := (SELECT t.org_id FROM auth.teams t WHERE t.id = team_id);
BEGIN
    PERFORM auth._require_permission(v_org, permission);
    RETURN v_org;
END
$$;
COMMENT ON FUNCTION auth._team_org(uuid, text) IS
    'internal: a team''s organization, after checking the caller''s permission there';
REVOKE ALL ON FUNCTION auth._team_org(uuid, text) FROM PUBLIC;

CREATE FUNCTION auth._check_team_name(name text) RETURNS void
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF name IS NULL OR btrim(name) = '' OR length(name) > 200 THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'a team needs a name of 1 to 200 characters';
    END IF;
END
$$;
COMMENT ON FUNCTION auth._check_team_name(text) IS 'internal: 22023 unless a team name is valid';
REVOKE ALL ON FUNCTION auth._check_team_name(text) FROM PUBLIC;

CREATE FUNCTION auth.create_team(org_id uuid, name text) RETURNS uuid
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    v_uid uuid := auth._require_permission(org_id, 'team:create');
    v_id uuid;
BEGIN
    PERFORM auth._check_team_name(name);
    INSERT INTO auth.teams (org_id, name) VALUES (org_id, btrim(name))
    ON CONFLICT DO NOTHING RETURNING id INTO v_id;
    IF v_id IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = '23505', MESSAGE = 'a team of that name exists';
    END IF;
    PERFORM auth._audit('team_created', v_uid, auth.session_id(), NULL,
                        jsonb_build_object('org_id', org_id, 'team_id', v_id));
    RETURN v_id;
END
$$;
COMMENT ON FUNCTION auth.create_team(uuid, text) IS 'creates a team; needs team:create';

CREATE FUNCTION auth.update_team(team_id uuid, name text) RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    v_org uuid := auth._team_org(team_id, 'team:update');
BEGIN
    PERFORM auth._check_team_name(name);
    UPDATE auth.teams t SET name = btrim(name), updated_at = auth.now() WHERE t.id = team_id;
EXCEPTION WHEN unique_violation THEN
    RAISE EXCEPTION USING ERRCODE = '23505', MESSAGE = 'a team of that name exists';
END
$$;
COMMENT ON FUNCTION auth.update_team(uuid, text) IS 'renames a team; needs team:update';

CREATE FUNCTION auth.delete_team(team_id uuid) RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    v_org uuid := auth._team_org(team_id, 'team:delete');
BEGIN
    DELETE FROM auth.teams t WHERE t.id = team_id;
    PERFORM auth._audit('team_deleted', auth.uid(), auth.session_id(), NULL,
                        jsonb_build_object('org_id', v_org, 'team_id', team_id));
END
$$;
COMMENT ON FUNCTION auth.delete_team(uuid) IS 'deletes a team; needs team:delete';

CREATE FUNCTION auth.add_team_member(team_id uuid, user_id uuid) RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    v_org uuid := auth._team_org(team_id, 'team:update');
BEGIN
    INSERT INTO auth.team_members (org_id, team_id, user_id) VALUES (v_org, team_id, user_id)
    ON CONFLICT DO NOTHING;
EXCEPTION WHEN foreign_key_violation THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'not a member of this organization',
        HINT = 'Team members must belong to the team''s organization.';
END
$$;
COMMENT ON FUNCTION auth.add_team_member(uuid, uuid) IS
    'adds an organization member to a team; needs team:update';

CREATE FUNCTION auth.remove_team_member(team_id uuid, user_id uuid) RETURNS boolean
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    v_org uuid := auth._team_org(team_id, 'team:update');
BEGIN
    DELETE FROM auth.team_members tm WHERE tm.team_id = team_id AND tm.user_id = user_id;
    RETURN FOUND;
END
$$;
COMMENT ON FUNCTION auth.remove_team_member(uuid, uuid) IS
    'takes a user out of a team; needs team:update; false when they were not in it';

CREATE FUNCTION auth.list_teams(org_id uuid)
RETURNS TABLE (id uuid, name text, members bigint, created_at timestamptz)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT t.id, t.name, (SELECT count(*) FROM auth.team_members tm WHERE tm.team_id = t.id), t.created_at
      FROM auth.teams t
     WHERE t.org_id = list_teams.org_id AND auth._require_member(list_teams.org_id) IS NOT NULL
     ORDER BY t.name
$$;
COMMENT ON FUNCTION auth.list_teams(uuid) IS 'the teams of an organization the caller belongs to';
-- apikey: API keys for servers, CLIs and integrations: scoped, optionally
-- bound to an organization, with a rate limit and a usage quota
-- (src/apikey.c is the read path and the rate-limit windows).

CREATE TABLE auth.api_keys (
    id                uuid PRIMARY KEY DEFAULT pg_catalog.gen_random_uuid(),
    user_id           uuid NOT NULL REFERENCES auth.users (id) ON DELETE CASCADE,
    -- the key acts within this organization only; leaving it deletes the key
    org_id            uuid,
    -- the key that created this one; revoking it revokes this one
    parent_key_id     uuid REFERENCES auth.api_keys (id) ON DELETE CASCADE,
    name              text NOT NULL,
    prefix            text NOT NULL,
    start             text NOT NULL,      -- "<prefix>_" and 4 characters, for display
    key_hash          bytea NOT NULL,     -- SHA-256 of the key; the key is never stored
    previous_key_hash bytea,              -- the key before the last rotation ...
    previous_key_expires_at timestamptz,  -- ... which works until then
    scopes            text[] NOT NULL DEFAULT '{}',
    metadata          jsonb NOT NULL DEFAULT '{}',
    enabled           boolean NOT NULL DEFAULT true,
    expires_at        timestamptz,
    rate_limit_max    integer,
    rate_limit_window interval,
    request_count     integer NOT NULL DEFAULT 0,  -- the window in the row (see auth.check())
    window_start      timestamptz,
    remaining         integer,            -- durable quota; NULL is unlimited
    refill_amount     integer,
    refill_interval   interval,
    last_refill_at    timestamptz,
    last_used_at      timestamptz,
    managed           boolean NOT NULL DEFAULT false,  -- limits set by an admin
    user_banned_until timestamptz,        -- a copy of auth.users.banned_until
    created_at        timestamptz NOT NULL DEFAULT auth.now(),
    updated_at        timestamptz NOT NULL DEFAULT auth.now(),
    revoked_at        timestamptz,
    CONSTRAINT api_keys_key_hash_key UNIQUE (key_hash),
    CONSTRAINT api_keys_member_fkey FOREIGN KEY (org_id, user_id)
        REFERENCES auth.members (org_id, user_id) ON DELETE CASCADE,
    CONSTRAINT api_keys_rate_limit_check
        CHECK ((rate_limit_max IS NULL) = (rate_limit_window IS NULL)),
    CONSTRAINT api_keys_refill_check
        CHECK ((refill_amount IS NULL) = (refill_interval IS NULL)
               AND (refill_amount IS NULL OR remaining IS NOT NULL))
);
CREATE UNIQUE INDEX api_keys_previous_key_hash_key ON auth.api_keys (previous_key_hash)
    WHERE previous_key_hash IS NOT NULL;
CREATE INDEX api_keys_user_id_idx ON auth.api_keys (user_id);
CREATE INDEX api_keys_org_id_user_id_idx ON auth.api_keys (org_id, user_id) WHERE org_id IS NOT NULL;
CREATE INDEX api_keys_parent_key_id_idx ON auth.api_keys (parent_key_id) WHERE parent_key_id IS NOT NULL;
ALTER TABLE auth.api_keys ENABLE ROW LEVEL SECURITY;
SELECT pg_catalog.pg_extension_config_dump('auth.api_keys', '');
COMMENT ON TABLE auth.api_keys IS 'API keys; only the SHA-256 of each key is kept';

-- A ban reaches the user's keys in the same transaction, as it does sessions.
CREATE FUNCTION auth._sync_api_key_ban() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    UPDATE auth.api_keys k SET user_banned_until = NEW.banned_until WHERE k.user_id = NEW.id;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION auth._sync_api_key_ban() IS
    'internal: copies a user''s ban onto their API keys';
REVOKE ALL ON FUNCTION auth._sync_api_key_ban() FROM PUBLIC;
CREATE TRIGGER users_ban_reaches_api_keys
    AFTER UPDATE OF banned_until ON auth.users
    FOR EACH ROW WHEN (OLD.banned_until IS DISTINCT FROM NEW.banned_until)
    EXECUTE FUNCTION auth._sync_api_key_ban();

CREATE FUNCTION auth._generate_api_key(prefix text, OUT key text, OUT key_hash bytea)
    AS 'MODULE_PATHNAME', 'auth_generate_api_key'
    LANGUAGE C VOLATILE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION auth._generate_api_key(text) IS
    'internal: a fresh key "<prefix>_<288 random bits>" and its SHA-256';
REVOKE ALL ON FUNCTION auth._generate_api_key(text) FROM PUBLIC;

CREATE FUNCTION auth._api_key_prefix_is_valid(prefix text) RETURNS boolean
    AS 'MODULE_PATHNAME', 'auth_api_key_prefix_is_valid'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION auth._api_key_prefix_is_valid(text) IS
    'internal: whether a prefix may start API keys (the rule verification applies)';
REVOKE ALL ON FUNCTION auth._api_key_prefix_is_valid(text) FROM PUBLIC;

CREATE FUNCTION auth._scopes_cover(held text[], scope text) RETURNS boolean
    AS 'MODULE_PATHNAME', 'auth_scopes_cover_sql'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION auth._scopes_cover(text[], text) IS
    'internal: whether a list of scopes covers one ("*" and "resource:*" are wildcards)';
REVOKE ALL ON FUNCTION auth._scopes_cover(text[], text) FROM PUBLIC;

CREATE FUNCTION auth._api_key_window(key_id uuid, rate_limit_window interval,
                                     OUT request_count integer, OUT window_start timestamptz)
    AS 'MODULE_PATHNAME', 'auth_api_key_window'
    LANGUAGE C VOLATILE PARALLEL RESTRICTED;
COMMENT ON FUNCTION auth._api_key_window(uuid, interval) IS
    'internal: the open rate-limit window of a key in shared memory';
REVOKE ALL ON FUNCTION auth._api_key_window(uuid, interval) FROM PUBLIC;

CREATE FUNCTION auth._api_key_rate_limit_store() RETURNS text
    AS 'MODULE_PATHNAME', 'auth_api_key_rate_limit_store'
    LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION auth._api_key_rate_limit_store() IS
    'internal: where rate-limit windows are counted: memory (auth preloaded) or table';
REVOKE ALL ON FUNCTION auth._api_key_rate_limit_store() FROM PUBLIC;

-- Scopes are 1 to 64 characters of letters, digits and _ . / : -, or "*",
-- or end in ":*"; at most 32.  Returns them sorted without duplicates.
CREATE FUNCTION auth._check_scopes(scopes text[]) RETURNS text[]
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF scopes IS NULL THEN
        RETURN '{}';
    END IF;
    IF array_position(scopes, NULL) IS NOT NULL THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'scopes must not contain null';
    END IF;
    IF cardinality(scopes) > 32 THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'an API key holds at most 32 scopes';
    END IF;
    IF EXISTS (SELECT FROM unnest(scopes) s
                WHERE NOT (s ~ '^[A-Za-z0-9_./:-]{1,64}$' OR s = '*'
                           OR (s ~ '^[A-Za-z0-9_./:-]{1,62}:\*$'))) THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'invalid scope',
            DETAIL = 'A scope is 1 to 64 letters, digits or _ . / : -, or "*", or ends in ":*".';
    END IF;
    RETURN ARRAY(SELECT DISTINCT s FROM unnest(scopes) s ORDER BY s);
END
$$;
COMMENT ON FUNCTION auth._check_scopes(text[]) IS
    'internal: validates scopes (22023) and returns them sorted and distinct';
REVOKE ALL ON FUNCTION auth._check_scopes(text[]) FROM PUBLIC;

-- Whether every scope of wanted is covered by held.
CREATE FUNCTION auth._scopes_subset(wanted text[], held text[]) RETURNS boolean
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT NOT EXISTS (SELECT FROM unnest(wanted) w WHERE NOT auth._scopes_cover(held, w)) $$;
COMMENT ON FUNCTION auth._scopes_subset(text[], text[]) IS
    'internal: whether held covers every scope of wanted';
REVOKE ALL ON FUNCTION auth._scopes_subset(text[], text[]) FROM PUBLIC;

-- Limits come in pairs: a rate limit is a maximum per window; a refill is
-- an amount per interval and needs a quota (remaining) to refill.
CREATE FUNCTION auth._check_api_key_limits(rate_limit_max integer, rate_limit_window interval,
                                           remaining integer, refill_amount integer,
                                           refill_interval interval)
RETURNS void
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF (rate_limit_max IS NULL) <> (rate_limit_window IS NULL) THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'a rate limit needs both rate_limit_max and rate_limit_window';
    END IF;
    IF rate_limit_max < 1 OR rate_limit_window < interval '1 second' OR rate_limit_window > interval '366 days' THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'a rate limit is at least 1 request per window of 1 second to 366 days';
    END IF;
    IF remaining < 0 THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'remaining must not be negative';
    END IF;
    IF (refill_amount IS NULL) <> (refill_interval IS NULL) THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'a refill needs both refill_amount and refill_interval';
    END IF;
    IF refill_amount < 1 OR refill_interval < interval '1 second' THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'a refill is at least 1 use per interval of at least 1 second';
    END IF;
    IF refill_amount IS NOT NULL AND remaining IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'a refill needs a quota: set remaining';
    END IF;
END
$$;
COMMENT ON FUNCTION auth._check_api_key_limits(integer, interval, integer, integer, interval) IS
    'internal: validates the limits of an API key (22023)';
REVOKE ALL ON FUNCTION auth._check_api_key_limits(integer, interval, integer, integer, interval) FROM PUBLIC;

-- The name and metadata of a key (NULL passes: "unchanged" or a default).
CREATE FUNCTION auth._check_api_key_fields(name text, metadata jsonb) RETURNS void
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF btrim(name) = '' OR length(name) > 200 THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'an API key needs a name of 1 to 200 characters';
    END IF;
    IF jsonb_typeof(metadata) <> 'object' OR octet_length(metadata::text) > 16384 THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'metadata must be a JSON object of at most 16 kB';
    END IF;
END
$$;
COMMENT ON FUNCTION auth._check_api_key_fields(text, jsonb) IS
    'internal: 22023 unless a key''s name and metadata are valid';
REVOKE ALL ON FUNCTION auth._check_api_key_fields(text, jsonb) FROM PUBLIC;

-- The keys a key made, down the line.
CREATE FUNCTION auth._api_key_descendants(key_id uuid) RETURNS SETOF uuid
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    WITH RECURSIVE tree AS (
        SELECT k.id FROM auth.api_keys k WHERE k.parent_key_id = _api_key_descendants.key_id
        UNION
        SELECT k.id FROM auth.api_keys k JOIN tree t ON k.parent_key_id = t.id
    )
    SELECT id FROM tree
$$;
COMMENT ON FUNCTION auth._api_key_descendants(uuid) IS
    'internal: ids of the keys a key made, and those they made, ...';
REVOKE ALL ON FUNCTION auth._api_key_descendants(uuid) FROM PUBLIC;

-- What creating a key returns: the key (its only copy) and its id.
CREATE TYPE auth.api_key_grant AS (
    key    text,
    key_id uuid
);
COMMENT ON TYPE auth.api_key_grant IS
    'a new API key, shown once and never stored, and its id';

-- Creates a key for a user; the callers check who may.
CREATE FUNCTION auth._create_api_key(user_id uuid, parent_key_id uuid, managed boolean,
                                     name text, scopes text[], expires_in interval, org_id uuid,
                                     prefix text, rate_limit_max integer, rate_limit_window interval,
                                     remaining integer, refill_amount integer,
                                     refill_interval interval, metadata jsonb)
RETURNS auth.api_key_grant
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    v_now timestamptz := auth.now();
    v_prefix text := coalesce(prefix, current_setting('auth.api_key_prefix'));
    v_scopes text[] := auth._check_scopes(scopes);
    v_expires timestamptz;
    v_banned timestamptz;
    v_key record;
    v_grant auth.api_key_grant;
BEGIN
    IF name IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'an API key needs a name of 1 to 200 characters';
    END IF;
    PERFORM auth._check_api_key_fields(name, metadata);
    IF NOT auth._api_key_prefix_is_valid(v_prefix) THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'invalid API key prefix',
            DETAIL = 'A prefix is 1 to 16 lowercase letters or digits, and not one of the extension''s own token kinds.';
    END IF;
    IF expires_in <= interval '0' THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'expires_in must be positive';
    END IF;
    PERFORM auth._check_api_key_limits(rate_limit_max, rate_limit_window, remaining,
                                       refill_amount, refill_interval);
    -- FOR SHARE waits for a ban being written, so the copy below is current
    SELECT u.banned_until INTO v_banned FROM auth.users u WHERE u.id = user_id FOR SHARE;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'user does not exist';
    END IF;
    IF v_banned > v_now THEN
        RAISE EXCEPTION USING ERRCODE = '28000', MESSAGE = 'account is suspended';
    END IF;
    IF org_id IS NOT NULL AND NOT EXISTS (
            SELECT FROM auth.members m WHERE m.org_id = org_id AND m.user_id = user_id FOR SHARE) THEN
        RAISE EXCEPTION USING ERRCODE = '42501', MESSAGE = 'not a member of this organization';
    END IF;
    v_expires := v_now + expires_in;
    IF parent_key_id IS NOT NULL THEN
        -- a key made by a key dies no later than its maker
        SELECT least(v_expires, k.expires_at) INTO v_expires  -- least() skips NULLs
          FROM auth.api_keys k WHERE k.id = parent_key_id;
    END IF;
    v_key := auth._generate_api_key(v_prefix);
    INSERT INTO auth.api_keys (user_id, org_id, parent_key_id, name, prefix, start, key_hash,
                               scopes, metadata, expires_at, rate_limit_max, rate_limit_window,
                               remaining, refill_amount, refill_interval, last_refill_at,
                               managed, user_banned_until, created_at, updated_at)
    VALUES (user_id, org_id, parent_key_id, btrim(name), v_prefix,
            left(v_key.key, length(v_prefix) + 5), v_key.key_hash, v_scopes,
            coalesce(metadata, '{}'), v_expires, rate_limit_max, rate_limit_window,
            remaining, refill_amount, refill_interval, v_now, managed, v_banned, v_now, v_now)
    RETURNING id INTO v_grant.key_id;
    v_grant.key := v_key.key;
    PERFORM auth._audit('api_key_created', user_id, auth.session_id(), NULL,
                        jsonb_strip_nulls(jsonb_build_object(
                            'key_id', v_grant.key_id, 'org_id', org_id,
                            'by_key_id', parent_key_id, 'managed', managed)));
    RETURN v_grant;
END
$$;
COMMENT ON FUNCTION auth._create_api_key(uuid, uuid, boolean, text, text[], interval, uuid, text,
                                         integer, interval, integer, integer, interval, jsonb) IS
    'internal: creates an API key and returns it, the only copy';
REVOKE ALL ON FUNCTION auth._create_api_key(uuid, uuid, boolean, text, text[], interval, uuid, text,
                                            integer, interval, integer, integer, interval, jsonb) FROM PUBLIC;

CREATE FUNCTION auth.create_api_key(name text, scopes text[] DEFAULT '{}',
                                    expires_in interval DEFAULT NULL, org_id uuid DEFAULT NULL,
                                    prefix text DEFAULT NULL, rate_limit_max integer DEFAULT NULL,
                                    rate_limit_window interval DEFAULT NULL,
                                    remaining integer DEFAULT NULL, refill_amount integer DEFAULT NULL,
                                    refill_interval interval DEFAULT NULL,
                                    metadata jsonb DEFAULT '{}')
RETURNS auth.api_key_grant
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    v_uid uuid := auth.require_uid();
    v_caller_key uuid := auth.api_key_id();
BEGIN
    IF v_caller_key IS NOT NULL THEN
        -- its children would escape its limits
        IF EXISTS (SELECT FROM auth.api_keys k WHERE k.id = v_caller_key
                      AND (k.rate_limit_max IS NOT NULL OR k.remaining IS NOT NULL)) THEN
            RAISE EXCEPTION USING ERRCODE = '42501',
                MESSAGE = 'an API key with usage limits cannot create keys';
        END IF;
        IF NOT auth._scopes_subset(auth._check_scopes(scopes), auth.scopes()) THEN
            RAISE EXCEPTION USING ERRCODE = '42501',
                MESSAGE = 'an API key can only create keys with a subset of its own scopes';
        END IF;
        IF auth.org_id() IS NOT NULL AND org_id IS DISTINCT FROM auth.org_id() THEN
            RAISE EXCEPTION USING ERRCODE = '42501',
                MESSAGE = 'an organization''s API key can only create keys for that organization';
        END IF;
    END IF;
    IF org_id IS NOT NULL THEN
        PERFORM auth._require_permission(org_id, 'apikey:create');
    END IF;
    RETURN auth._create_api_key(v_uid, v_caller_key, false, name, scopes, expires_in, org_id,
                                prefix, rate_limit_max, rate_limit_window, remaining,
                                refill_amount, refill_interval, metadata);
END
$$;
COMMENT ON FUNCTION auth.create_api_key(text, text[], interval, uuid, text, integer, interval,
                                        integer, integer, interval, jsonb) IS
    'creates an API key for the authenticated user and returns it once; an organization key needs apikey:create there; an API key may only create keys with a subset of its scopes';

CREATE FUNCTION auth.create_api_key_for(user_id uuid, name text, scopes text[] DEFAULT '{}',
                                        expires_in interval DEFAULT NULL, org_id uuid DEFAULT NULL,
                                        prefix text DEFAULT NULL, rate_limit_max integer DEFAULT NULL,
                                        rate_limit_window interval DEFAULT NULL,
                                        remaining integer DEFAULT NULL,
                                        refill_amount integer DEFAULT NULL,
                                        refill_interval interval DEFAULT NULL,
                                        metadata jsonb DEFAULT '{}')
RETURNS auth.api_key_grant
LANGUAGE sql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT auth._create_api_key(user_id, NULL, true, name, scopes, expires_in, org_id, prefix,
                                rate_limit_max, rate_limit_window, remaining, refill_amount,
                                refill_interval, metadata)
$$;
COMMENT ON FUNCTION auth.create_api_key_for(uuid, text, text[], interval, uuid, text, integer,
                                            interval, integer, integer, interval, jsonb) IS
    'admin: creates an API key for any user (a member, for an organization key); its limits are the admin''s to change';
REVOKE ALL ON FUNCTION auth.create_api_key_for(uuid, text, text[], interval, uuid, text, integer,
                                               interval, integer, integer, interval, jsonb) FROM PUBLIC;

-- The keys the caller may manage: its own; for an API key, the keys it
-- created, down the line, never itself (a key must not lift its own limits
-- or re-enable itself).
CREATE FUNCTION auth._manageable_api_keys() RETURNS SETOF uuid
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT k.id FROM auth.api_keys k
     WHERE k.user_id = auth.require_uid() AND auth.api_key_id() IS NULL
    UNION ALL
    SELECT d FROM auth._api_key_descendants(auth.api_key_id()) d
$$;
COMMENT ON FUNCTION auth._manageable_api_keys() IS
    'internal: ids of the API keys the caller may list and manage';
REVOKE ALL ON FUNCTION auth._manageable_api_keys() FROM PUBLIC;

-- A key the caller may manage, locked; 22023 for any other (someone else's
-- keys are indistinguishable from keys that do not exist).
CREATE FUNCTION auth._lock_manageable_api_key(key_id uuid) RETURNS auth.api_keys
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_key auth.api_keys;
BEGIN
    SELECT * INTO v_key FROM auth.api_keys k
     WHERE k.id = key_id AND k.id IN (SELECT auth._manageable_api_keys())
       FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'API key not found';
    END IF;
    IF v_key.revoked_at IS NOT NULL THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'API key is revoked';
    END IF;
    RETURN v_key;
END
$$;
COMMENT ON FUNCTION auth._lock_manageable_api_key(uuid) IS
    'internal: locks a live API key the caller may manage; 22023 otherwise';
REVOKE ALL ON FUNCTION auth._lock_manageable_api_key(uuid) FROM PUBLIC;

CREATE FUNCTION auth.list_api_keys()
RETURNS TABLE (id uuid, name text, prefix text, start text, org_id uuid, scopes text[],
               metadata jsonb, enabled boolean, expires_at timestamptz,
               rate_limit_max integer, rate_limit_window interval,
               request_count integer, window_start timestamptz,
               remaining integer, refill_amount integer, refill_interval interval,
               last_refill_at timestamptz, last_used_at timestamptz, managed boolean,
               parent_key_id uuid, created_at timestamptz, updated_at timestamptz,
               revoked_at timestamptz)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT k.id, k.name, k.prefix, k.start, k.org_id, k.scopes, k.metadata, k.enabled,
           k.expires_at, k.rate_limit_max, k.rate_limit_window,
           CASE WHEN k.rate_limit_max IS NULL THEN NULL
                WHEN auth._api_key_rate_limit_store() = 'memory' THEN coalesce(w.request_count, 0)
                WHEN k.window_start + k.rate_limit_window > auth.now() THEN k.request_count
                ELSE 0 END,
           CASE WHEN auth._api_key_rate_limit_store() = 'memory' THEN w.window_start
                WHEN k.window_start + k.rate_limit_window > auth.now() THEN k.window_start END,
           k.remaining, k.refill_amount, k.refill_interval, k.last_refill_at, k.last_used_at,
           k.managed, k.parent_key_id, k.created_at, k.updated_at, k.revoked_at
      FROM auth.api_keys k
      LEFT JOIN LATERAL auth._api_key_window(k.id, k.rate_limit_window) w ON true
     WHERE k.id IN (SELECT auth._manageable_api_keys()) OR k.id = auth.api_key_id()
     ORDER BY k.created_at, k.id
$$;
COMMENT ON FUNCTION auth.list_api_keys() IS
    'the authenticated user''s API keys (for an API key: itself and the keys it created), never the secret: prefix, start, scopes, usage, expiry';

CREATE FUNCTION auth.update_api_key(key_id uuid, name text DEFAULT NULL, enabled boolean DEFAULT NULL,
                                    metadata jsonb DEFAULT NULL, scopes text[] DEFAULT NULL,
                                    rate_limit_max integer DEFAULT NULL,
                                    rate_limit_window interval DEFAULT NULL,
                                    remaining integer DEFAULT NULL, refill_amount integer DEFAULT NULL,
                                    refill_interval interval DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    v_key auth.api_keys := auth._lock_manageable_api_key(key_id);
    v_scopes text[] := CASE WHEN scopes IS NULL THEN v_key.scopes ELSE auth._check_scopes(scopes) END;
    v_limits boolean := num_nonnulls(rate_limit_max, rate_limit_window, remaining,
                                     refill_amount, refill_interval) > 0;
BEGIN
    PERFORM auth._check_api_key_fields(name, metadata);
    IF NOT auth._scopes_subset(v_scopes, v_key.scopes) THEN
        RAISE EXCEPTION USING ERRCODE = '42501', MESSAGE = 'the scopes of an API key may only shrink';
    END IF;
    IF v_limits AND v_key.managed THEN
        RAISE EXCEPTION USING ERRCODE = '42501', MESSAGE = 'the limits of this API key are set by an administrator';
    END IF;
    IF v_limits THEN
        v_key.rate_limit_max := coalesce(rate_limit_max, v_key.rate_limit_max);
        v_key.rate_limit_window := coalesce(rate_limit_window, v_key.rate_limit_window);
        v_key.remaining := coalesce(remaining, v_key.remaining);
        v_key.refill_amount := coalesce(refill_amount, v_key.refill_amount);
        v_key.refill_interval := coalesce(refill_interval, v_key.refill_interval);
        PERFORM auth._check_api_key_limits(v_key.rate_limit_max, v_key.rate_limit_window,
                                           v_key.remaining, v_key.refill_amount, v_key.refill_interval);
    END IF;
    UPDATE auth.api_keys k
       SET name = coalesce(btrim(name), k.name), enabled = coalesce(enabled, k.enabled),
           metadata = coalesce(metadata, k.metadata), scopes = v_scopes,
           rate_limit_max = v_key.rate_limit_max, rate_limit_window = v_key.rate_limit_window,
           remaining = v_key.remaining, refill_amount = v_key.refill_amount,
           refill_interval = v_key.refill_interval, updated_at = auth.now()
     WHERE k.id = key_id;
    IF enabled = false THEN
        -- and every key it made, down the line
        UPDATE auth.api_keys k SET enabled = false, updated_at = auth.now()
         WHERE k.id IN (SELECT auth._api_key_descendants(key_id)) AND k.enabled;
    END IF;
    PERFORM auth._audit('api_key_updated', v_key.user_id, auth.session_id(), NULL,
                        jsonb_build_object('key_id', key_id));
END
$$;
COMMENT ON FUNCTION auth.update_api_key(uuid, text, boolean, jsonb, text[], integer, interval,
                                        integer, integer, interval) IS
    'changes a key''s name, enabled (disabling reaches the keys it made), metadata, scopes (only fewer) and limits (not of a key an admin created); NULL leaves a field as it is';

CREATE FUNCTION auth.set_api_key_limits(key_id uuid, rate_limit_max integer, rate_limit_window interval,
                                        remaining integer, refill_amount integer DEFAULT NULL,
                                        refill_interval interval DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    v_user uuid;
BEGIN
    PERFORM auth._check_api_key_limits(rate_limit_max, rate_limit_window, remaining,
                                       refill_amount, refill_interval);
    UPDATE auth.api_keys k
       SET rate_limit_max = rate_limit_max, rate_limit_window = rate_limit_window,
           request_count = 0, window_start = NULL, remaining = remaining,
           refill_amount = refill_amount, refill_interval = refill_interval,
           last_refill_at = auth.now(), managed = true, updated_at = auth.now()
     WHERE k.id = key_id
    RETURNING k.user_id INTO v_user;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'API key not found';
    END IF;
    PERFORM auth._audit('api_key_limits_set', v_user, NULL, NULL, jsonb_build_object('key_id', key_id));
END
$$;
COMMENT ON FUNCTION auth.set_api_key_limits(uuid, integer, interval, integer, integer, interval) IS
    'admin: sets every limit of a key (NULL lifts one); the owner can no longer change them';
REVOKE ALL ON FUNCTION auth.set_api_key_limits(uuid, integer, interval, integer, integer, interval) FROM PUBLIC;

CREATE FUNCTION auth.revoke_api_key(key_id uuid) RETURNS boolean
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    v_user uuid;
    v_now timestamptz := auth.now();
BEGIN
    SELECT k.user_id INTO v_user FROM auth.api_keys k
     WHERE k.id = key_id AND k.revoked_at IS NULL
       AND (k.id IN (SELECT auth._manageable_api_keys()) OR k.id = auth.api_key_id())
       FOR UPDATE;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    -- with every key it created, down the line
    UPDATE auth.api_keys k SET revoked_at = v_now, updated_at = v_now
     WHERE (k.id = key_id OR k.id IN (SELECT auth._api_key_descendants(key_id)))
       AND k.revoked_at IS NULL;
    PERFORM auth._audit('api_key_revoked', v_user, auth.session_id(), NULL,
                        jsonb_build_object('key_id', key_id));
    RETURN true;
END
$$;
COMMENT ON FUNCTION auth.revoke_api_key(uuid) IS
    'revokes one of the caller''s keys and the keys it created, at once; false when it is not theirs or already revoked';

CREATE FUNCTION auth.rotate_api_key(key_id uuid, grace interval DEFAULT '0') RETURNS text
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    v_old auth.api_keys := auth._lock_manageable_api_key(key_id);
    v_now timestamptz := auth.now();
    v_new record;
BEGIN
    IF grace IS NULL OR grace < interval '0' OR grace > interval '30 days' THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'grace must be between 0 and 30 days';
    END IF;
    v_new := auth._generate_api_key(v_old.prefix);
    UPDATE auth.api_keys k
       SET key_hash = v_new.key_hash, start = left(v_new.key, length(k.prefix) + 5),
           previous_key_hash = CASE WHEN grace > interval '0' THEN k.key_hash END,
           previous_key_expires_at = CASE WHEN grace > interval '0' THEN v_now + grace END,
           updated_at = v_now
     WHERE k.id = key_id;
    PERFORM auth._audit('api_key_rotated', v_old.user_id, auth.session_id(), NULL,
                        jsonb_build_object('key_id', key_id, 'grace', grace));
    RETURN v_new.key;
END
$$;
COMMENT ON FUNCTION auth.rotate_api_key(uuid, interval) IS
    'gives a key a new secret and returns it once; the old one works until grace (0 to 30 days) ends';

-- Counts one use of a key in its row: the quota, and the rate-limit window
-- when count_window (auth is not preloaded).  One UPDATE ... WHERE there is
-- room ... RETURNING: under READ COMMITTED a concurrent use waits for the
-- row and re-checks, so N uses of a key with room for M succeed min(N, M)
-- times.  code is NULL when the use is counted.
CREATE FUNCTION auth._api_key_consume(key_id uuid, at timestamptz, count_window boolean,
                                      OUT code text, OUT remaining integer, OUT retry_after interval)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    v_key auth.api_keys;
BEGIN
    UPDATE auth.api_keys k SET
        request_count = CASE WHEN NOT count_window OR k.rate_limit_max IS NULL THEN k.request_count
                             WHEN k.window_start IS NULL OR k.window_start + k.rate_limit_window <= at THEN 1
                             ELSE k.request_count + 1 END,
        window_start = CASE WHEN NOT count_window OR k.rate_limit_max IS NULL THEN k.window_start
                            WHEN k.window_start IS NULL OR k.window_start + k.rate_limit_window <= at THEN at
                            ELSE k.window_start END,
        remaining = CASE WHEN k.remaining IS NULL THEN NULL
                         WHEN k.refill_interval IS NOT NULL
                              AND coalesce(k.last_refill_at, k.created_at) + k.refill_interval <= at
                         THEN k.refill_amount - 1
                         ELSE k.remaining - 1 END,
        last_refill_at = CASE WHEN k.refill_interval IS NOT NULL
                                   AND coalesce(k.last_refill_at, k.created_at) + k.refill_interval <= at
                              THEN at ELSE k.last_refill_at END,
        last_used_at = at
     WHERE k.id = key_id AND k.revoked_at IS NULL AND k.enabled
       AND (NOT count_window OR k.rate_limit_max IS NULL OR k.window_start IS NULL
            OR k.window_start + k.rate_limit_window <= at OR k.request_count < k.rate_limit_max)
       AND (k.remaining IS NULL OR k.remaining > 0
            OR (k.refill_interval IS NOT NULL
                AND coalesce(k.last_refill_at, k.created_at) + k.refill_interval <= at))
    RETURNING k.remaining INTO remaining;
    IF FOUND THEN
        RETURN;
    END IF;
    -- why not: the row as it is now
    SELECT * INTO v_key FROM auth.api_keys k WHERE k.id = key_id;
    IF NOT FOUND THEN
        code := 'INVALID';
    ELSIF v_key.revoked_at IS NOT NULL THEN
        code := 'REVOKED';
    ELSIF NOT v_key.enabled THEN
        code := 'DISABLED';
    ELSIF count_window AND v_key.rate_limit_max IS NOT NULL
          AND v_key.window_start + v_key.rate_limit_window > at
          AND v_key.request_count >= v_key.rate_limit_max THEN
        code := 'RATE_LIMITED';
        remaining := v_key.remaining;
        retry_after := v_key.window_start + v_key.rate_limit_window - at;
    ELSE
        code := 'USAGE_EXCEEDED';
        remaining := v_key.remaining;
        retry_after := coalesce(v_key.last_refill_at, v_key.created_at) + v_key.refill_interval - at;
    END IF;
END
$$;
COMMENT ON FUNCTION auth._api_key_consume(uuid, timestamptz, boolean) IS
    'internal: counts a use of a key in its row, exactly; code says why not';
REVOKE ALL ON FUNCTION auth._api_key_consume(uuid, timestamptz, boolean) FROM PUBLIC;

-- The read path is C; no SET clause, so authenticate_api_key's identity
-- survives the call.  SECURITY DEFINER lets the use be counted as the owner.
CREATE FUNCTION auth.verify_api_key(key text, required_scopes text[] DEFAULT '{}',
                                    OUT valid boolean, OUT code text, OUT key_id uuid,
                                    OUT user_id uuid, OUT org_id uuid, OUT scopes text[],
                                    OUT remaining integer, OUT retry_after interval)
    AS 'MODULE_PATHNAME', 'auth_verify_api_key'
    LANGUAGE C VOLATILE SECURITY DEFINER;
COMMENT ON FUNCTION auth.verify_api_key(text, text[]) IS
    'checks an API key and counts the use against its limits; code (NULL when valid) is INVALID, EXPIRED, DISABLED, REVOKED, RATE_LIMITED, USAGE_EXCEEDED or INSUFFICIENT_SCOPE; never raises for a bad key';

CREATE FUNCTION auth.authenticate_api_key(key text, is_local boolean DEFAULT true)
RETURNS uuid
    AS 'MODULE_PATHNAME', 'auth_authenticate_api_key'
    LANGUAGE C VOLATILE SECURITY DEFINER;
COMMENT ON FUNCTION auth.authenticate_api_key(text, boolean) IS
    'verifies an API key and sets the identity (kind api_key: owner, key, organization, scopes) for the transaction or the connection; 28000 when not valid, PT429 when a limit refuses it';
-- admin: granting the admin tier, housekeeping, and the post-install check.

-- Every function that acts for any user; EXECUTE is revoked from PUBLIC and
-- auth.grant_admin() grants them (and the issuer tier).
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
        'auth.set_api_key_limits(uuid, integer, interval, integer, integer, interval)'
    ]::regprocedure[] || auth._issuer_functions()
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
        'auth.request_password_reset(text)'
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
BEGIN
    DELETE FROM auth.sessions s
     WHERE s.expires_at < v_now - v_grace OR s.revoked_at < v_now - v_grace;
    GET DIAGNOSTICS sessions_deleted = ROW_COUNT;
    -- attempts no limit counts any more (codes count theirs for their lifetime)
    DELETE FROM auth.attempts a
     WHERE a.attempted_at < v_now - greatest(auth._setting_interval('auth.failed_sign_in_window'),
                                             auth._setting_interval('auth.email_code_ttl') + interval '1 day');
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
    RETURN NEXT;
END
$$;
COMMENT ON FUNCTION auth.cleanup() IS
    'admin: deletes sessions and API keys expired or revoked longer than auth.cleanup_grace ago, stale attempts, audit rows older than auth.audit_retention, and dead one-time secrets; returns counts';
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
COMMENT ON FUNCTION auth.check() IS
    'admin: rows (check, ok, detail) to run after install or upgrade';
REVOKE ALL ON FUNCTION auth.check() FROM PUBLIC;

-- The issuer tier is not PUBLIC's (see auth._issuer_functions()).
REVOKE ALL ON FUNCTION auth.create_magic_link(text, text, interval, inet) FROM PUBLIC;
REVOKE ALL ON FUNCTION auth.create_email_code(text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION auth.request_email_verification() FROM PUBLIC;
REVOKE ALL ON FUNCTION auth.request_email_change(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION auth.request_password_reset(text) FROM PUBLIC;
