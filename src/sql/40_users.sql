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

CREATE FUNCTION auth.change_password(current_password text, new_password text,
                                     keep_api_keys boolean DEFAULT false)
RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_uid uuid := auth._require_account_uid();
    v_hash text;
    v_ended jsonb;
    -- A stolen session must not be a way to guess the password: attempts
    -- count against the same limit as sign-ins, durably.
    v_key bytea := sha256(convert_to(v_uid::text, 'UTF8'));
    v_try jsonb;
BEGIN
    IF keep_api_keys IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'keep_api_keys must not be null';
    END IF;
    PERFORM auth._check_password_policy(new_password);
    v_try := auth._count_attempt('change_password', v_key);
    IF NOT (v_try->>'allowed')::boolean THEN
        RAISE EXCEPTION USING ERRCODE = 'PT429',
            MESSAGE = 'too many wrong current passwords',
            DETAIL = format('Password changes are locked until %s.', v_try->>'retry_at');
    END IF;
    -- FOR NO KEY UPDATE (what the UPDATE below takes): a session or key
    -- being created holds FOR KEY SHARE on the row and must not hold this off
    SELECT u.password_hash INTO v_hash FROM auth.users u WHERE u.id = v_uid FOR NO KEY UPDATE;
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
    -- A change is what a user does who fears someone else used the
    -- account: the other sessions go, and so do the API keys (which a
    -- stolen session could have made to outlive it) unless the caller
    -- keeps them, as for a routine change.
    v_ended := auth._end_credentials(v_uid, 'password_changed', auth.session_id(),
                                     NOT keep_api_keys);
    PERFORM auth._audit('password_changed', v_uid, auth.session_id(), NULL,
                        jsonb_build_object('sessions_revoked', v_ended->'sessions_revoked',
                                           'api_keys_revoked', v_ended->'api_keys_revoked'));
END
$$;
COMMENT ON FUNCTION auth.change_password(text, text, boolean) IS
    'changes the authenticated user''s password and revokes their other sessions and (unless keep_api_keys) their API keys; 28P01 when the current password is wrong';
