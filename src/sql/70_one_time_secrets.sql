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

-- A pattern of the allow-list in the form emails are compared in: an
-- address, or a domain written @example.com, normalised as an address is
-- (so one whose characters could fold into another's is refused too).
CREATE FUNCTION auth._normalize_email_pattern(pattern text) RETURNS text
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v text := btrim(pattern);
BEGIN
    IF v !~ '^([^[:space:]@]+)?@[^[:space:]@]+\.[^[:space:]@.]+$' THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'invalid allow-list pattern',
            HINT = 'Give an address (ada@example.com) or a domain (@example.com).';
    END IF;
    IF left(v, 1) = '@' THEN   -- a domain: normalised as the domain of an address
        RETURN substr(auth._normalize_email('x' || v), 2);
    END IF;
    RETURN auth._normalize_email(v);
END
$$;
COMMENT ON FUNCTION auth._normalize_email_pattern(text) IS
    'internal: an allow-list pattern (address or @domain) normalised as emails are; 22023 otherwise';
REVOKE ALL ON FUNCTION auth._normalize_email_pattern(text) FROM PUBLIC;

CREATE FUNCTION auth.allow_email(pattern text) RETURNS void
LANGUAGE plpgsql VOLATILE STRICT SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    INSERT INTO auth.allowed_emails (pattern) VALUES (auth._normalize_email_pattern(pattern))
    ON CONFLICT DO NOTHING;
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
    DELETE FROM auth.allowed_emails a
     WHERE a.pattern = auth._normalize_email_pattern(disallow_email.pattern);
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
    IF length(redirect_to) > auth._limit('redirect_to') OR redirect_to !~ '^(/($|[^/\\])|https?://)' THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'invalid redirect_to',
            DETAIL = format('A path starting with one /, or an http(s) URL, of at most %s characters.',
                            auth._limit('redirect_to'));
    END IF;
    -- a lock of the extension's own: no role can hold it with SQL
    PERFORM auth._lock_keyed('auth.request:' || email, true);
    IF auth._recent_requests(email, v_now - v_window) >= v_limit THEN
        SELECT s.created_at + v_window INTO v_retry FROM auth.one_time_secrets s
         WHERE s.email = email AND s.created_at > v_now - v_window
         ORDER BY s.created_at DESC OFFSET v_limit - 1 LIMIT 1;
        RAISE EXCEPTION USING ERRCODE = 'PT429',
            MESSAGE = 'too many requests for this email',
            DETAIL = format('At most %s per %s; try again after %s.', v_limit, v_window,
                            coalesce(v_retry, v_now + v_window)),
            HINT = auth._retry_hint(coalesce(v_retry, v_now + v_window), v_now);
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

-- The purpose of an email code: 1 to 40 of a-z0-9_, starting with a letter.
CREATE FUNCTION auth._check_code_purpose(purpose text) RETURNS void
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_max int := auth._limit('code purpose');
BEGIN
    IF purpose IS NULL OR length(purpose) > v_max OR purpose !~ '^[a-z][a-z0-9_]*$' THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'invalid code purpose',
            HINT = format('A purpose is 1 to %s lowercase letters, digits and underscores.', v_max);
    END IF;
END
$$;
COMMENT ON FUNCTION auth._check_code_purpose(text) IS
    'internal: 22023 unless an email code''s purpose is valid';
REVOKE ALL ON FUNCTION auth._check_code_purpose(text) FROM PUBLIC;

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
    PERFORM auth._check_code_purpose(purpose);
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
    IF (v_try->>'allowed')::boolean IS NOT TRUE THEN
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
