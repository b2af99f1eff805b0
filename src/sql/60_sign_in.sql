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
    'internal: runs request in a background worker''s own, committed transaction: attempt counts in C, anything else by auth._autonomous_dispatch';
REVOKE ALL ON FUNCTION auth._autonomous(jsonb) FROM PUBLIC;

-- Who does the autonomous writes: 'workers' (the extension's own, when it
-- is preloaded) or 'dynamic' (a short-lived dynamic worker per call).
CREATE FUNCTION auth._autonomous_path() RETURNS text
    AS 'MODULE_PATHNAME', 'auth_autonomous_path'
    LANGUAGE C VOLATILE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION auth._autonomous_path() IS
    'internal: workers when the extension''s own background workers do the autonomous writes, dynamic when each starts a dynamic worker';
REVOKE ALL ON FUNCTION auth._autonomous_path() FROM PUBLIC;

-- Runs in the background worker, for what auth._autonomous asks that is
-- not an attempt to count (the worker counts attempts itself, in C:
-- src/attempts.c).  op 'audit': an audit row (with the caller's session_id
-- and actor, from auth._audit_actor()).
CREATE FUNCTION auth._autonomous_dispatch(request jsonb) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    CASE request->>'op'
    WHEN 'audit' THEN
        -- announced as the caller's settings say, not the worker's
        PERFORM pg_catalog.set_config('auth.notify_events',
                CASE WHEN (request->>'notify')::boolean THEN 'on' ELSE 'off' END, true);
        -- with the caller's session and actor (user, role, impersonator)
        PERFORM auth._audit(request->>'event', (request->>'user_id')::uuid,
                            (request->>'session_id')::uuid,
                            (request->>'ip')::inet, coalesce(request->'detail', '{}'),
                            (request->>'at')::timestamptz, request->'actor');
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

-- Checks an account's password as sign-in does, the account found by its
-- normalised email or username (login_kind 'email' or 'username'): the
-- attempt is counted durably against attempt_key first, so that concurrent
-- guesses are limited exactly; unknown logins and users without a password
-- cost the same argon2 work; a failure is audited and raises 28P01, a
-- lockout PT429.  On success the count is cleared and the user is
-- returned.  (No lock: the session it leads to is re-checked against a
-- password change or ban before commit, src/lifecycle.c.)
CREATE FUNCTION auth._check_password_login(login_kind text, login text, attempt_key bytea,
                                           password text, ip inet)
RETURNS auth.users
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    v_try jsonb;
    v_user auth.users;
    v_ok boolean;
BEGIN
    IF password IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'password is required';
    END IF;
    v_try := auth._count_attempt('sign_in', attempt_key);
    IF (v_try->>'allowed')::boolean IS NOT TRUE THEN
        RAISE EXCEPTION USING ERRCODE = 'PT429',
            MESSAGE = format('too many failed sign-ins for this %s', login_kind),
            DETAIL = format('Sign-in for this %s is locked until %s; wait until then, or reset the password.',
                            login_kind, v_try->>'retry_at'),
            HINT = auth._retry_hint((v_try->>'retry_at')::timestamptz, auth._clock());
    END IF;

    IF login_kind = 'email' THEN
        SELECT * INTO v_user FROM auth.users u WHERE auth._email_key(u.email) = login;
    ELSE
        SELECT * INTO v_user FROM auth.users u WHERE u.username = login;
    END IF;
    -- a stored hash of an unknown format is just a wrong password
    BEGIN
        v_ok := auth.verify_password(CASE WHEN length(password) > auth._limit('password') THEN ''
                                          ELSE password END,
                                     coalesce(v_user.password_hash, auth._dummy_password_hash()))
                AND v_user.password_hash IS NOT NULL AND length(password) <= auth._limit('password');
    EXCEPTION WHEN invalid_parameter_value THEN
        -- to the server log only: a client must not learn that the login
        -- has an account
        RAISE LOG 'user % has a password hash that cannot be verified', v_user.id;
        v_ok := false;
    END;
    IF NOT v_ok THEN
        -- The attempt is counted already; an audit row that cannot be
        -- written is a warning, not a different answer.
        BEGIN
            PERFORM auth._autonomous(jsonb_build_object(
                'op', 'audit', 'event', 'sign_in_failed', 'user_id', v_user.id, 'ip', ip,
                'session_id', auth.session_id(), 'actor', auth._audit_actor(),
                'at', auth._clock(), 'notify', auth._setting_bool('auth.notify_events'),
                'detail', jsonb_build_object(login_kind, left(login, 254),
                                             'attempt', (v_try->>'count')::int)));
        EXCEPTION WHEN insufficient_resources THEN
            RAISE WARNING 'failed sign-in not audited: %', SQLERRM;
        END;
        RAISE EXCEPTION USING ERRCODE = '28P01', MESSAGE = format('invalid %s or password', login_kind);
    END IF;
    DELETE FROM auth.attempts a WHERE a.scope = 'sign_in' AND a.key = attempt_key;
    -- what follows (a session) must not outlive an end of the user's
    -- credentials committed after the hash above was read
    PERFORM auth._creating_credential(v_user.id, v_user.credentials_epoch, NULL);
    RETURN v_user;
END
$$;
COMMENT ON FUNCTION auth._check_password_login(text, text, bytea, text, inet) IS
    'internal: checks the password of the account with a normalized email or username, with the sign-in limits, and returns the user; 28P01 when wrong, PT429 when locked';
REVOKE ALL ON FUNCTION auth._check_password_login(text, text, bytea, text, inet) FROM PUBLIC;

-- The same by email, failures counted per email.
CREATE FUNCTION auth._check_sign_in_password(email text, password text, ip inet)
RETURNS auth.users
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    RETURN auth._check_password_login('email', email, sha256(convert_to(email, 'UTF8')), password, ip);
END
$$;
COMMENT ON FUNCTION auth._check_sign_in_password(text, text, inet) IS
    'internal: checks a normalized email''s password with the sign-in limits and returns the user; 28P01 when wrong, PT429 when locked';
REVOKE ALL ON FUNCTION auth._check_sign_in_password(text, text, inet) FROM PUBLIC;

-- The session a password sign-in opens once the password was right
-- (sign_in, sign_in_with_username), audited as sign_in with detail.
CREATE FUNCTION auth._open_password_session(signed_in auth.users, password text, ip inet,
                                            user_agent text, detail jsonb)
RETURNS auth.session_grant
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    v_grant auth.session_grant;
BEGIN
    -- (a suspended user is refused by auth._issue_session, only now that
    -- the password was right, so a ban reveals nothing to a guesser)
    IF signed_in.email_verified_at IS NULL AND auth._setting_bool('auth.require_verified_email') THEN
        RAISE EXCEPTION USING ERRCODE = '28000', MESSAGE = 'email is not verified',
            HINT = 'Verify the email with the link sent to it, giving the password, or sign in with a magic link.';
    END IF;
    IF auth._password_needs_rehash(signed_in.password_hash) THEN
        UPDATE auth.users u SET password_hash = auth.hash_password(password),
                                updated_at = auth.now()
         WHERE u.id = signed_in.id AND u.password_hash = signed_in.password_hash;
    END IF;
    v_grant := auth._open_first_factor_session(signed_in.id, 'password', ip, user_agent);
    PERFORM auth._audit('sign_in', v_grant.user_id, v_grant.session_id, ip, detail);
    RETURN v_grant;
END
$$;
COMMENT ON FUNCTION auth._open_password_session(auth.users, text, inet, text, jsonb) IS
    'internal: the session a password sign-in opens for the user whose password was right';
REVOKE ALL ON FUNCTION auth._open_password_session(auth.users, text, inet, text, jsonb) FROM PUBLIC;

CREATE FUNCTION auth.sign_in(email text, password text, ip inet DEFAULT NULL,
                             user_agent text DEFAULT NULL)
RETURNS auth.session_grant
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    RETURN auth._open_password_session(
        auth._check_sign_in_password(auth._normalize_email(email), password, ip),
        password, ip, user_agent, '{}');
END
$$;
COMMENT ON FUNCTION auth.sign_in(text, text, inet, text) IS
    'checks an email and password and opens a session (only an MFA challenge when the user has a second factor); 28P01 when wrong, 28000 when suspended, PT429 after too many failures';

-- Sign-up that opens the session in the same call: one argon2 hash (the
-- new password's) instead of sign_up's and then sign_in's verification of
-- what was just hashed.
CREATE FUNCTION auth.sign_up_and_sign_in(email text, password text, name text DEFAULT NULL,
                                         metadata jsonb DEFAULT '{}', ip inet DEFAULT NULL,
                                         user_agent text DEFAULT NULL)
RETURNS auth.session_grant
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_grant auth.session_grant;
BEGIN
    -- sign_in would refuse the new, unverified account: refuse before
    -- creating it
    IF auth._setting_bool('auth.require_verified_email') THEN
        RAISE EXCEPTION USING ERRCODE = '28000', MESSAGE = 'email is not verified',
            HINT = 'auth.require_verified_email is on: sign up with auth.sign_up(), then verify the email.';
    END IF;
    v_grant := auth._issue_session(auth.sign_up(email, password, sign_up_and_sign_in.name,
                                                sign_up_and_sign_in.metadata),
                                   NULL, ip, user_agent);
    PERFORM auth._audit('sign_in', v_grant.user_id, v_grant.session_id, ip,
                        jsonb_build_object('method', 'sign_up'));
    RETURN v_grant;
END
$$;
COMMENT ON FUNCTION auth.sign_up_and_sign_in(text, text, text, jsonb, inet, text) IS
    'creates a user with a password and opens a session (one argon2 hash); sign_up''s refusals, and 28000 under auth.require_verified_email';
