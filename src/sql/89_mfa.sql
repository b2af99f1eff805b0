-- mfa: second factors (TOTP, recovery codes, email), MFA challenges and
-- the assurance level every identity carries (src/mfa.c, src/identity.c).
-- Once a user has a verified factor, no first factor (password, magic
-- link, email code, and any later one) yields more than a challenge: every
-- first factor ends in auth._open_first_factor_session.

-- Sessions carry how they were authenticated; an API key the assurance of
-- the session (or key) that made it; an organization may require aal2.
ALTER TABLE auth.sessions
    ADD COLUMN aal smallint NOT NULL DEFAULT 1 CONSTRAINT sessions_aal_check CHECK (aal IN (1, 2)),
    ADD COLUMN amr jsonb NOT NULL DEFAULT '[]',   -- [{"method": ..., "at": ...}, ...]
    ADD COLUMN auth_time timestamptz;             -- the last factor shown (NULL: created_at)
ALTER TABLE auth.api_keys
    ADD COLUMN aal smallint NOT NULL DEFAULT 1 CONSTRAINT api_keys_aal_check CHECK (aal IN (1, 2));
ALTER TABLE auth.organizations
    ADD COLUMN require_mfa boolean NOT NULL DEFAULT false;

CREATE TABLE auth.mfa_factors (
    id            uuid PRIMARY KEY DEFAULT pg_catalog.gen_random_uuid(),
    user_id       uuid NOT NULL REFERENCES auth.users (id) ON DELETE CASCADE,
    type          text NOT NULL CONSTRAINT mfa_factors_type_check CHECK (type IN ('totp', 'email')),
    label         text,
    -- the TOTP seed, AES-256-GCM under the "totp" key (keys at rest), the
    -- row's id as associated data; never in clear
    secret_sealed bytea,
    algorithm     text NOT NULL DEFAULT 'SHA1'
        CONSTRAINT mfa_factors_algorithm_check CHECK (algorithm IN ('SHA1', 'SHA256', 'SHA512')),
    digits        integer NOT NULL DEFAULT 6 CONSTRAINT mfa_factors_digits_check CHECK (digits IN (6, 8)),
    last_step     bigint,       -- the last TOTP time step accepted: each once
    created_at    timestamptz NOT NULL DEFAULT auth.now(),
    verified_at   timestamptz,
    last_used_at  timestamptz,
    CONSTRAINT mfa_factors_secret_check CHECK ((type = 'totp') = (secret_sealed IS NOT NULL))
);
CREATE INDEX mfa_factors_user_id_idx ON auth.mfa_factors (user_id);
CREATE UNIQUE INDEX mfa_factors_email_key ON auth.mfa_factors (user_id) WHERE type = 'email';
ALTER TABLE auth.mfa_factors ENABLE ROW LEVEL SECURITY;
SELECT pg_catalog.pg_extension_config_dump('auth.mfa_factors', '');
COMMENT ON TABLE auth.mfa_factors IS
    'second factors: TOTP (seed sealed with AES-256-GCM) and email';

CREATE TABLE auth.mfa_recovery_codes (
    id         uuid PRIMARY KEY DEFAULT pg_catalog.gen_random_uuid(),
    user_id    uuid NOT NULL REFERENCES auth.users (id) ON DELETE CASCADE,
    code_hash  bytea NOT NULL,      -- SHA-256 of "<user id>:<code>"; the code is never stored
    created_at timestamptz NOT NULL DEFAULT auth.now(),
    used_at    timestamptz,
    CONSTRAINT mfa_recovery_codes_code_hash_key UNIQUE (code_hash)
);
CREATE INDEX mfa_recovery_codes_user_id_idx ON auth.mfa_recovery_codes (user_id);
ALTER TABLE auth.mfa_recovery_codes ENABLE ROW LEVEL SECURITY;
SELECT pg_catalog.pg_extension_config_dump('auth.mfa_recovery_codes', '');
COMMENT ON TABLE auth.mfa_recovery_codes IS
    'recovery codes, single use; only their SHA-256 is kept';

-- A challenge is what a first factor yields once the user has a second:
-- an mfc_ token, single use, short-lived, of which only the SHA-256 is
-- kept, as of every one-time secret.  (Not a row of one_time_secrets:
-- those are mailed and count against the per-email request limit.)
CREATE TABLE auth.mfa_challenges (
    id              uuid PRIMARY KEY DEFAULT pg_catalog.gen_random_uuid(),
    user_id         uuid NOT NULL REFERENCES auth.users (id) ON DELETE CASCADE,
    secret_hash     bytea NOT NULL,     -- SHA-256 of the mfc_ token
    method          text NOT NULL,      -- the first factor shown
    ip              inet,
    created_at      timestamptz NOT NULL DEFAULT auth.now(),
    expires_at      timestamptz NOT NULL,
    consumed_at     timestamptz,
    email_code_hash bytea,              -- SHA-256 of "<id>:<code>" of the code mailed, if any
    email_code_expires_at timestamptz,
    CONSTRAINT mfa_challenges_secret_hash_key UNIQUE (secret_hash)
);
CREATE INDEX mfa_challenges_user_id_idx ON auth.mfa_challenges (user_id);
ALTER TABLE auth.mfa_challenges ENABLE ROW LEVEL SECURITY;
SELECT pg_catalog.pg_extension_config_dump('auth.mfa_challenges', '');
COMMENT ON TABLE auth.mfa_challenges IS
    'MFA challenges (mfc_...) a first factor yields; only their SHA-256 is kept';

-- The identity accessors of assurance, in C; not SECURITY DEFINER, so a
-- policy pays no user switch per row.
CREATE FUNCTION auth.aal() RETURNS text
    AS 'MODULE_PATHNAME', 'auth_aal'
    LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION auth.aal() IS
    'assurance level of the identity: aal2 after a second factor, aal1 otherwise, NULL when nobody is authenticated';

CREATE FUNCTION auth.amr() RETURNS jsonb
    AS 'MODULE_PATHNAME', 'auth_amr'
    LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION auth.amr() IS
    'the factors of the session behind the identity, each {"method", "at"}; NULL when nobody or not a session';

CREATE FUNCTION auth.auth_time() RETURNS timestamptz
    AS 'MODULE_PATHNAME', 'auth_auth_time'
    LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION auth.auth_time() IS
    'when the last factor of the session behind the identity was shown; NULL when nobody or not a session';

CREATE FUNCTION auth._set_identity_aal(aal integer) RETURNS void
    AS 'MODULE_PATHNAME', 'auth_set_identity_aal'
    LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION auth._set_identity_aal(integer) IS
    'internal: puts an assurance level into the current identity, for the transaction';
REVOKE ALL ON FUNCTION auth._set_identity_aal(integer) FROM PUBLIC;

CREATE FUNCTION auth._mfa_blocks(org_id uuid) RETURNS boolean
    AS 'MODULE_PATHNAME', 'auth_mfa_blocks'
    LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION auth._mfa_blocks(uuid) IS
    'internal: whether the caller is a member of the organization that only aal2 would let act';
REVOKE ALL ON FUNCTION auth._mfa_blocks(uuid) FROM PUBLIC;

CREATE FUNCTION auth._totp_new_secret(factor_id uuid, OUT secret text, OUT sealed bytea)
    AS 'MODULE_PATHNAME', 'auth_totp_new_secret'
    LANGUAGE C VOLATILE STRICT;
COMMENT ON FUNCTION auth._totp_new_secret(uuid) IS
    'internal: a fresh 160-bit TOTP seed, in base32 and sealed for the factor';
REVOKE ALL ON FUNCTION auth._totp_new_secret(uuid) FROM PUBLIC;

CREATE FUNCTION auth._totp_seal(factor_id uuid, secret text) RETURNS bytea
    AS 'MODULE_PATHNAME', 'auth_totp_seal'
    LANGUAGE C VOLATILE STRICT;
COMMENT ON FUNCTION auth._totp_seal(uuid, text) IS
    'internal: a base32 TOTP seed sealed for the factor; 22023 when not 16 to 64 bytes of base32';
REVOKE ALL ON FUNCTION auth._totp_seal(uuid, text) FROM PUBLIC;

CREATE FUNCTION auth._totp_match(factor_id uuid, sealed bytea, algorithm text, digits integer,
                                 code text, at timestamptz, "window" integer) RETURNS bigint
    AS 'MODULE_PATHNAME', 'auth_totp_match'
    LANGUAGE C STABLE STRICT;
COMMENT ON FUNCTION auth._totp_match(uuid, bytea, text, integer, text, timestamptz, integer) IS
    'internal: the RFC 6238 time step within window steps of at whose code is code, NULL when none';
REVOKE ALL ON FUNCTION auth._totp_match(uuid, bytea, text, integer, text, timestamptz, integer) FROM PUBLIC;

CREATE FUNCTION auth._recovery_code() RETURNS text
    AS 'MODULE_PATHNAME', 'auth_recovery_code'
    LANGUAGE C VOLATILE;
COMMENT ON FUNCTION auth._recovery_code() IS
    'internal: a recovery code of 80 random bits (xxxx-xxxx-xxxx-xxxx)';
REVOKE ALL ON FUNCTION auth._recovery_code() FROM PUBLIC;

-- Percent-encoding (RFC 3986 unreserved characters kept) for the URI.
CREATE FUNCTION auth._percent_encode(value text) RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT coalesce(string_agg(CASE WHEN c ~ '^[A-Za-z0-9._~-]$' THEN c
                                    ELSE regexp_replace(upper(encode(convert_to(c, 'UTF8'), 'hex')),
                                                        '(..)', '%\1', 'g') END,
                               '' ORDER BY n), '')
      FROM regexp_split_to_table(value, '') WITH ORDINALITY AS t(c, n)
$$;
COMMENT ON FUNCTION auth._percent_encode(text) IS
    'internal: a text percent-encoded for a URI';
REVOKE ALL ON FUNCTION auth._percent_encode(text) FROM PUBLIC;

-- Whether the user has a verified second factor.
CREATE FUNCTION auth._has_mfa(user_id uuid) RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT EXISTS (SELECT FROM auth.mfa_factors f
                    WHERE f.user_id = _has_mfa.user_id AND f.verified_at IS NOT NULL)
$$;
COMMENT ON FUNCTION auth._has_mfa(uuid) IS
    'internal: whether a user has a verified second factor';
REVOKE ALL ON FUNCTION auth._has_mfa(uuid) FROM PUBLIC;

-- What every first factor ends in: a session (aal1, its method in amr)
-- when the user has no second factor, otherwise no session but an MFA
-- challenge (token NULL, mfa_challenge set) for auth.verify_mfa.  Later
-- sign-in paths call it too.
CREATE FUNCTION auth._open_first_factor_session(user_id uuid, method text, ip inet, user_agent text)
RETURNS auth.session_grant
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    v_now timestamptz := auth.now();
    v_grant auth.session_grant;
    v_banned timestamptz;
BEGIN
    IF auth._has_mfa(user_id) THEN
        -- a suspended user gets no challenge (auth._issue_session refuses
        -- the session alike)
        SELECT u.banned_until INTO v_banned FROM auth.users u WHERE u.id = user_id;
        IF v_banned > v_now THEN
            RAISE EXCEPTION USING ERRCODE = '28000', MESSAGE = 'account is suspended',
                DETAIL = CASE WHEN v_banned < 'infinity'
                              THEN format('The suspension ends at %s.', v_banned)
                              ELSE 'The suspension has no end date.' END;
        END IF;
        -- the user's challenges used or dead go as a new one comes
        DELETE FROM auth.mfa_challenges c
         WHERE c.user_id = user_id AND (c.consumed_at IS NOT NULL OR c.expires_at < v_now);
        v_grant.user_id := user_id;
        v_grant.mfa_challenge := auth._generate_token('mfc');
        INSERT INTO auth.mfa_challenges (user_id, secret_hash, method, ip, created_at, expires_at)
        VALUES (user_id, auth._token_hash(v_grant.mfa_challenge, 'mfc'), method, ip, v_now,
                v_now + auth._setting_interval('auth.mfa_challenge_ttl'));
        RETURN v_grant;
    END IF;
    RETURN auth._issue_session_with(user_id, NULL, ip, user_agent, 1::smallint,
                                    jsonb_build_array(jsonb_build_object('method', method, 'at', v_now)),
                                    v_now);
END
$$;
COMMENT ON FUNCTION auth._open_first_factor_session(uuid, text, inet, text) IS
    'internal: the session a first factor opens, or only an MFA challenge when the user has a second factor';
REVOKE ALL ON FUNCTION auth._open_first_factor_session(uuid, text, inet, text) FROM PUBLIC;

-- An API key carries the assurance of the identity that makes it (aal1
-- when an admin makes one for a user), as the session or key behind that
-- identity has it now: an identity authenticated at aal2 earlier in the
-- transaction makes an aal1 key once its second factor was removed (the
-- creation's epoch, read later, then matches the removal's).
CREATE FUNCTION auth._api_key_aal() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    NEW.aal := CASE WHEN auth.aal() = 'aal2' AND auth.uid() = NEW.user_id
                     AND (EXISTS (SELECT FROM auth.sessions s
                                   WHERE s.id = auth.session_id() AND s.aal = 2)
                          OR EXISTS (SELECT FROM auth.api_keys k
                                      WHERE k.id = auth.api_key_id() AND k.aal = 2))
                    THEN 2 ELSE 1 END;
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION auth._api_key_aal() IS
    'internal: gives a new API key the assurance level of the identity creating it';
REVOKE ALL ON FUNCTION auth._api_key_aal() FROM PUBLIC;
CREATE TRIGGER api_keys_take_aal
    BEFORE INSERT ON auth.api_keys
    FOR EACH ROW EXECUTE FUNCTION auth._api_key_aal();

-- The user of the current session for changes to second factors: 42501
-- for an API key or an impersonation session (an impersonator must not
-- leave with a seed, or strip the user's factors); once the user has a
-- verified factor, 42501 MFA_REQUIRED below aal2, so a stolen aal1
-- session cannot add or strip factors (auth._require_account_owner).
CREATE FUNCTION auth._require_mfa_session() RETURNS uuid
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_uid uuid := auth._require_account_owner('manage second factors');
BEGIN
    IF auth.session_id() IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = '42501', MESSAGE = 'second factors are managed from a session';
    END IF;
    RETURN v_uid;
END
$$;
COMMENT ON FUNCTION auth._require_mfa_session() IS
    'internal: the session''s user, or 42501 (an API key, impersonation; MFA_REQUIRED below aal2 once the user has a factor)';
REVOKE ALL ON FUNCTION auth._require_mfa_session() FROM PUBLIC;

-- A second-factor try counted in shared memory (src/attempt_ledger.c):
-- started before the code is checked, ended passed (a right code counts
-- nothing) or failed; anything else that ends it (an error, a cancel, a
-- rollback, an exit) fails it.  A failed try counts at once and a worker
-- writes it to auth.attempts.  NULL when auth is not preloaded.
CREATE FUNCTION auth._attempt_try(request jsonb) RETURNS jsonb
    AS 'MODULE_PATHNAME', 'auth_attempt_try'
    LANGUAGE C VOLATILE STRICT;
COMMENT ON FUNCTION auth._attempt_try(jsonb) IS
    'internal: starts a try of the keys of an attempts request, counted in shared memory; the answers the worker would give, NULL when auth is not preloaded';
REVOKE ALL ON FUNCTION auth._attempt_try(jsonb) FROM PUBLIC;

CREATE FUNCTION auth._attempt_try_end(passed boolean) RETURNS void
    AS 'MODULE_PATHNAME', 'auth_attempt_try_end'
    LANGUAGE C VOLATILE;
COMMENT ON FUNCTION auth._attempt_try_end(boolean) IS
    'internal: ends the backend''s try: passed counts nothing, else it is a failed attempt';
REVOKE ALL ON FUNCTION auth._attempt_try_end(boolean) FROM PUBLIC;

-- Counts a try of a second factor before it is checked, per challenge
-- (when there is one) and per user: in shared memory when auth is
-- preloaded (a right code then costs no round trip, a wrong one is
-- written by a worker), else durably in one round trip to a worker.
-- PT429 past auth.mfa_max_attempts.  The caller ends the try with
-- auth._attempt_try_end(true) once the code was right, or
-- auth._mfa_failed.
CREATE FUNCTION auth._count_mfa_attempt(user_id uuid, challenge_id uuid) RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_max int := auth._setting_int('auth.mfa_max_attempts');
    v_user jsonb := jsonb_build_object(
        'scope', 'mfa', 'key', encode(uuid_send(user_id), 'hex'),
        'window', auth._setting_interval('auth.failed_sign_in_window'), 'max', v_max);
    v_request jsonb;
    v_tries jsonb;
    v_try jsonb;
BEGIN
    -- the challenge first: a challenge used up is refused without counting
    -- against the user
    v_request := jsonb_build_object(
        'op', 'attempts', 'at', auth._clock(),
        'attempts', CASE WHEN challenge_id IS NULL THEN jsonb_build_array(v_user)
                         ELSE jsonb_build_array(
                                  jsonb_build_object(
                                      'scope', 'mfa_challenge',
                                      'key', encode(uuid_send(challenge_id), 'hex'),
                                      'window', auth._setting_interval('auth.mfa_challenge_ttl')
                                                + interval '1 day',
                                      'max', v_max),
                                  v_user) END);
    v_tries := coalesce(auth._attempt_try(v_request), auth._autonomous(v_request))->'attempts';
    IF challenge_id IS NOT NULL THEN
        v_try := v_tries->0;
        IF (v_try->>'allowed')::boolean IS NOT TRUE THEN
            -- not retryable as it is (no retry time): the challenge is dead
            RAISE EXCEPTION USING ERRCODE = 'PT429', MESSAGE = 'too many wrong codes',
                DETAIL = 'This challenge is used up.', HINT = 'Sign in again.';
        END IF;
    END IF;
    v_try := v_tries->CASE WHEN challenge_id IS NULL THEN 0 ELSE 1 END;
    IF (v_try->>'allowed')::boolean IS NOT TRUE THEN
        RAISE EXCEPTION USING ERRCODE = 'PT429', MESSAGE = 'too many wrong second-factor codes for this account',
            DETAIL = format('Second factors for this account are locked until %s.', v_try->>'retry_at'),
            HINT = auth._retry_hint((v_try->>'retry_at')::timestamptz, auth._clock());
    END IF;
END
$$;
COMMENT ON FUNCTION auth._count_mfa_attempt(uuid, uuid) IS
    'internal: counts a second-factor try per challenge and per user before it is checked (in shared memory when preloaded, else by a worker); PT429 past auth.mfa_max_attempts';
REVOKE ALL ON FUNCTION auth._count_mfa_attempt(uuid, uuid) FROM PUBLIC;

-- A wrong second factor: the try counts as failed, and is audited
-- outside the caller's transaction, which the refusal rolls back (no code
-- in the row).
CREATE FUNCTION auth._mfa_failed(user_id uuid, ip inet, detail jsonb) RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    -- outside the block below: a failure not written in time is 53000
    PERFORM auth._attempt_try_end(false);
    BEGIN
        PERFORM auth._autonomous(jsonb_build_object(
            'op', 'audit', 'event', 'mfa_failed', 'user_id', user_id, 'ip', ip,
            'session_id', auth.session_id(), 'actor', auth._audit_actor(),
            'at', auth._clock(), 'notify', auth._setting_bool('auth.notify_events'),
            'detail', detail));
    EXCEPTION WHEN insufficient_resources THEN
        RAISE WARNING 'failed second factor not audited: %', SQLERRM;
    END;
END
$$;
COMMENT ON FUNCTION auth._mfa_failed(uuid, inet, jsonb) IS
    'internal: counts a wrong second factor as a failed try and audits it durably';
REVOKE ALL ON FUNCTION auth._mfa_failed(uuid, inet, jsonb) FROM PUBLIC;

-- Accepts a TOTP code of one factor: the step it matches is taken with one
-- UPDATE ... WHERE last_step < step, so a code (and any earlier one) is
-- accepted once, of two concurrent submissions exactly one.
CREATE FUNCTION auth._accept_totp(factor auth.mfa_factors, code text) RETURNS boolean
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_step bigint := auth._totp_match(factor.id, factor.secret_sealed, factor.algorithm,
                                      factor.digits, code, auth.now(),
                                      auth._setting_int('auth.totp_window'));
BEGIN
    IF v_step IS NULL THEN
        RETURN false;
    END IF;
    UPDATE auth.mfa_factors f SET last_step = v_step, last_used_at = auth.now()
     WHERE f.id = factor.id AND (f.last_step IS NULL OR f.last_step < v_step);
    RETURN FOUND;
END
$$;
COMMENT ON FUNCTION auth._accept_totp(auth.mfa_factors, text) IS
    'internal: checks a TOTP code of a factor and takes its time step, once';
REVOKE ALL ON FUNCTION auth._accept_totp(auth.mfa_factors, text) FROM PUBLIC;

-- Checks a second factor of a user (after the try was counted): a TOTP
-- code of a verified factor, the email code of the challenge, or an
-- unused recovery code, each single use.  Returns the method, NULL when
-- the code is none of them.
CREATE FUNCTION auth._check_second_factor(user_id uuid, code text, challenge auth.mfa_challenges)
RETURNS text
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    v_code text := btrim(code);
    v_factor auth.mfa_factors;
    v_recovery text;
    v_id uuid;
BEGIN
    IF v_code ~ '^[0-9]{6}([0-9]{2})?$' THEN
        FOR v_factor IN SELECT * FROM auth.mfa_factors f
                         WHERE f.user_id = user_id AND f.type = 'totp' AND f.verified_at IS NOT NULL
                         ORDER BY f.created_at LOOP
            IF auth._accept_totp(v_factor, v_code) THEN
                RETURN 'totp';
            END IF;
        END LOOP;
        -- never after an email first factor (create_mfa_email_code refuses
        -- to make one; a code made before is refused here)
        IF challenge.email_code_hash IS NOT NULL AND challenge.method IN ('magic_link', 'email_code') THEN
            RAISE EXCEPTION USING ERRCODE = '42501',
                MESSAGE = 'the email cannot be the second factor after an email sign-in',
                HINT = 'Use a TOTP or recovery code.';
        END IF;
        IF challenge.email_code_hash IS NOT NULL AND challenge.email_code_expires_at > auth.now()
           AND auth._secret_equal(challenge.email_code_hash,
                                  sha256(convert_to(challenge.id::text || ':' || v_code, 'UTF8'))) THEN
            UPDATE auth.mfa_challenges c SET email_code_hash = NULL, email_code_expires_at = NULL
             WHERE c.id = challenge.id AND c.email_code_hash = challenge.email_code_hash;
            IF FOUND THEN
                UPDATE auth.mfa_factors f SET last_used_at = auth.now()
                 WHERE f.user_id = user_id AND f.type = 'email';
                RETURN 'email';
            END IF;
        END IF;
        RETURN NULL;
    END IF;
    v_recovery := lower(regexp_replace(v_code, '[-[:space:]]', '', 'g'));
    IF v_recovery !~ '^[a-z2-7]{16}$' THEN
        RETURN NULL;
    END IF;
    UPDATE auth.mfa_recovery_codes r SET used_at = auth.now()
     WHERE r.code_hash = sha256(convert_to(user_id::text || ':' || v_recovery, 'UTF8'))
       AND r.user_id = user_id AND r.used_at IS NULL
    RETURNING r.id INTO v_id;
    IF v_id IS NULL THEN
        RETURN NULL;
    END IF;
    PERFORM auth._audit('recovery_code_used', user_id, auth.session_id(), NULL,
                        jsonb_build_object('remaining',
                            (SELECT count(*) FROM auth.mfa_recovery_codes r
                              WHERE r.user_id = user_id AND r.used_at IS NULL)));
    RETURN 'recovery_code';
END
$$;
COMMENT ON FUNCTION auth._check_second_factor(uuid, text, auth.mfa_challenges) IS
    'internal: checks and uses a TOTP, email or recovery code of a user; the method, or NULL';
REVOKE ALL ON FUNCTION auth._check_second_factor(uuid, text, auth.mfa_challenges) FROM PUBLIC;

-- Whether a REPEATABLE READ downgrade missed an aal2 session or key
-- (src/lifecycle.c).
CREATE FUNCTION auth._aal2_missed(user_id uuid) RETURNS boolean
    AS 'MODULE_PATHNAME', 'auth_aal2_missed'
    LANGUAGE C VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION auth._aal2_missed(uuid) IS
    'internal: whether, in the latest snapshot, the user has an aal2 session or key and no verified factor';
REVOKE ALL ON FUNCTION auth._aal2_missed(uuid) FROM PUBLIC;

-- Downgrades the user's sessions and API keys to aal1 once they have no
-- verified factor left (removed, or reset by an admin); the current
-- identity at once, a connection-scope one at its next transaction.  An
-- end of aal2, as the credential lifecycle ends credentials: under the
-- user's credentials lock (two removals at once take turns), the epoch
-- moves, so a session, key or recovery code being made or raised to aal2
-- meanwhile fails at its commit (40001), and what committed before is
-- downgraded (a REPEATABLE READ snapshot that cannot see it: 40001 here,
-- retry).  A second factor being shown at that moment holds a recovery
-- code or challenge row: the removal waits for it before taking the lock.
CREATE FUNCTION auth._mfa_factors_gone(user_id uuid) RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    v_first_factors jsonpath := '$[*] ? (!(@.method == "totp" || @.method == "recovery_code" || @.method == "email"))';
BEGIN
    -- first the rows a second factor being shown right now holds (a
    -- recovery code, a challenge): its commit goes through before this
    -- takes the lock that commit needs
    PERFORM FROM auth.mfa_recovery_codes r WHERE r.user_id = user_id FOR UPDATE;
    PERFORM FROM auth.mfa_challenges c WHERE c.user_id = user_id AND c.consumed_at IS NULL FOR UPDATE;
    -- two removals at once (two factors, or a factor and an email
    -- change) each see the other's factor: the second waits here, then
    -- looks again; a REPEATABLE READ one that cannot see it refuses
    PERFORM auth._lock_user_credentials(user_id, true);
    IF NOT auth._has_mfa(user_id) THEN
        DELETE FROM auth.mfa_recovery_codes r WHERE r.user_id = user_id;
        UPDATE auth.mfa_challenges c SET consumed_at = auth.now()
         WHERE c.user_id = user_id AND c.consumed_at IS NULL;
        UPDATE auth.users u SET credentials_epoch = u.credentials_epoch + 1 WHERE u.id = user_id;
        -- the second-factor entries of amr go with aal2
        UPDATE auth.sessions s SET aal = 1, amr = coalesce(jsonb_path_query_array(s.amr, v_first_factors), '[]')
         WHERE s.user_id = user_id
           AND (s.aal = 2 OR jsonb_path_query_array(s.amr, v_first_factors) <> s.amr);
        UPDATE auth.api_keys k SET aal = 1 WHERE k.user_id = user_id AND k.aal = 2;
        IF auth.uid() = user_id THEN
            PERFORM auth._set_identity_aal(1);
        END IF;
    END IF;
    -- a REPEATABLE READ snapshot that cannot see a factor removed, or a
    -- session or key raised, meanwhile
    IF auth._aal2_missed(user_id) THEN
        RAISE EXCEPTION USING ERRCODE = '40001',
            MESSAGE = 'a session or key reached aal2 while its second factors were removed',
            HINT = 'Retry the transaction.';
    END IF;
END
$$;
COMMENT ON FUNCTION auth._mfa_factors_gone(uuid) IS
    'internal: once a user has no verified factor, their sessions and keys drop to aal1 and their recovery codes and challenges go';
REVOKE ALL ON FUNCTION auth._mfa_factors_gone(uuid) FROM PUBLIC;

-- A moved address never carries the second factor with it: whatever
-- changes the email (confirm_email_change, an admin, a link), the email
-- factor goes, or a takeover of the new mailbox would pass it.
CREATE FUNCTION auth._email_factor_moved() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_id uuid;
BEGIN
    DELETE FROM auth.mfa_factors f
     WHERE f.user_id = NEW.id AND f.type = 'email'
    RETURNING f.id INTO v_id;
    IF v_id IS NOT NULL THEN
        PERFORM auth._audit('factor_removed', NEW.id, auth.session_id(), NULL,
                            jsonb_build_object('factor_id', v_id, 'type', 'email',
                                               'reason', 'email_changed'));
        PERFORM auth._mfa_factors_gone(NEW.id);
    END IF;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION auth._email_factor_moved() IS
    'internal: a changed email removes the user''s email factor (audited factor_removed)';
REVOKE ALL ON FUNCTION auth._email_factor_moved() FROM PUBLIC;
CREATE TRIGGER users_email_factor_moved
    AFTER UPDATE OF email ON auth.users
    FOR EACH ROW WHEN (OLD.email IS DISTINCT FROM NEW.email)
    EXECUTE FUNCTION auth._email_factor_moved();

-- A session raised to aal2 by a second factor: method and time in amr,
-- one entry per method (its latest time), so that step-ups do not grow it
-- (every JWT the session issues carries it).
CREATE FUNCTION auth._raise_session(session_id uuid, method text) RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_now timestamptz := auth.now();
BEGIN
    UPDATE auth.sessions s
       SET aal = 2, auth_time = v_now,
           amr = coalesce((SELECT jsonb_agg(e.value ORDER BY e.ord)
                             FROM jsonb_array_elements(s.amr) WITH ORDINALITY AS e (value, ord)
                            WHERE e.value->>'method' IS DISTINCT FROM _raise_session.method),
                          '[]')
                 || jsonb_build_array(jsonb_build_object('method', method, 'at', v_now))
     WHERE s.id = _raise_session.session_id;
END
$$;
COMMENT ON FUNCTION auth._raise_session(uuid, text) IS
    'internal: records a second factor on a session (aal2)';
REVOKE ALL ON FUNCTION auth._raise_session(uuid, text) FROM PUBLIC;

CREATE FUNCTION auth.enroll_totp(label text DEFAULT NULL,
                                 OUT factor_id uuid, OUT secret text, OUT uri text)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    v_uid uuid := auth._require_mfa_session();
    v_email text;
    v_sealed bytea;
    v_issuer text := current_setting('auth.totp_issuer');
BEGIN
    PERFORM auth._check_length(label, 'factor label');
    IF (SELECT count(*) FROM auth.mfa_factors f WHERE f.user_id = v_uid) >= auth._limit('factors') THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'too many factors',
            DETAIL = format('A user has at most %s factors; remove one first.', auth._limit('factors'));
    END IF;
    SELECT u.email INTO v_email FROM auth.users u WHERE u.id = v_uid;
    factor_id := gen_random_uuid();
    SELECT n.secret, n.sealed INTO secret, v_sealed FROM auth._totp_new_secret(factor_id) n;
    INSERT INTO auth.mfa_factors (id, user_id, type, label, secret_sealed, created_at)
    VALUES (factor_id, v_uid, 'totp', nullif(btrim(label), ''), v_sealed, auth.now());
    uri := format('otpauth://totp/%s:%s?secret=%s&issuer=%s&algorithm=SHA1&digits=6&period=30',
                  auth._percent_encode(v_issuer), auth._percent_encode(v_email), secret,
                  auth._percent_encode(v_issuer));
    PERFORM auth._audit('factor_enrolled', v_uid, auth.session_id(), NULL,
                        jsonb_build_object('factor_id', factor_id, 'type', 'totp'));
END
$$;
COMMENT ON FUNCTION auth.enroll_totp(text) IS
    'starts a TOTP factor for the session''s user: its id, base32 secret and otpauth:// URI, shown once (the seed is stored sealed); unverified until auth.verify_totp_enrollment; 42501 for an API key, or below aal2 when the user has a factor';

CREATE FUNCTION auth.verify_totp_enrollment(factor_id uuid, code text) RETURNS boolean
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    v_uid uuid := auth._require_mfa_session();
    v_factor auth.mfa_factors;
BEGIN
    SELECT * INTO v_factor FROM auth.mfa_factors f
     WHERE f.id = factor_id AND f.user_id = v_uid AND f.type = 'totp' AND f.verified_at IS NULL;
    IF v_factor.id IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'no such unverified factor';
    END IF;
    IF code IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'code is required';
    END IF;
    PERFORM auth._check_length(code, 'second-factor code');
    PERFORM auth._count_mfa_attempt(v_uid, NULL);
    IF NOT auth._accept_totp(v_factor, btrim(code)) THEN
        PERFORM auth._mfa_failed(v_uid, NULL, jsonb_build_object('factor_id', factor_id,
                                                                 'stage', 'enrollment'));
        RETURN false;
    END IF;
    PERFORM auth._attempt_try_end(true);
    UPDATE auth.mfa_factors f SET verified_at = auth.now() WHERE f.id = factor_id;
    DELETE FROM auth.attempts a WHERE a.scope = 'mfa' AND a.key = uuid_send(v_uid);
    -- the code just shown is a second factor: the session is aal2 now
    PERFORM auth._raise_session(auth.session_id(), 'totp');
    PERFORM auth._set_identity_aal(2);
    PERFORM auth._audit('factor_verified', v_uid, auth.session_id(), NULL,
                        jsonb_build_object('factor_id', factor_id, 'type', 'totp'));
    RETURN true;
END
$$;
COMMENT ON FUNCTION auth.verify_totp_enrollment(uuid, text) IS
    'verifies a new TOTP factor with a code from the authenticator, which raises the session to aal2; false for a wrong code; PT429 past auth.mfa_max_attempts';

CREATE FUNCTION auth.verify_mfa(challenge text, code text, ip inet DEFAULT NULL,
                                user_agent text DEFAULT NULL)
RETURNS auth.session_grant
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    v_ch auth.mfa_challenges;
    v_method text;
    v_grant auth.session_grant;
    v_now timestamptz := auth.now();
BEGIN
    SELECT * INTO v_ch FROM auth.mfa_challenges c
     WHERE c.secret_hash = auth._token_hash(challenge, 'mfc')
       AND c.consumed_at IS NULL AND c.expires_at > v_now;
    IF v_ch.id IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = '28000', MESSAGE = 'invalid or expired MFA challenge',
            HINT = 'Sign in again.';
    END IF;
    IF code IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'code is required';
    END IF;
    PERFORM auth._check_length(code, 'second-factor code');
    PERFORM auth._count_mfa_attempt(v_ch.user_id, v_ch.id);
    v_method := auth._check_second_factor(v_ch.user_id, code, v_ch);
    IF v_method IS NULL THEN
        PERFORM auth._mfa_failed(v_ch.user_id, ip, jsonb_build_object('challenge_id', v_ch.id));
        RAISE EXCEPTION USING ERRCODE = '28000', MESSAGE = 'invalid second-factor code';
    END IF;
    PERFORM auth._attempt_try_end(true);
    -- once: of two redemptions of one challenge, one opens a session
    UPDATE auth.mfa_challenges c SET consumed_at = v_now
     WHERE c.id = v_ch.id AND c.consumed_at IS NULL;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = '28000', MESSAGE = 'invalid or expired MFA challenge',
            HINT = 'Sign in again.';
    END IF;
    DELETE FROM auth.attempts a WHERE a.scope = 'mfa' AND a.key = uuid_send(v_ch.user_id);
    v_grant := auth._issue_session_with(
        v_ch.user_id, NULL, ip, user_agent, 2::smallint,
        jsonb_build_array(jsonb_build_object('method', v_ch.method, 'at', v_ch.created_at),
                          jsonb_build_object('method', v_method, 'at', v_now)),
        v_now);
    PERFORM auth._audit('mfa_verified', v_ch.user_id, v_grant.session_id, ip,
                        jsonb_build_object('method', v_method, 'first_factor', v_ch.method,
                                           'challenge_id', v_ch.id));
    RETURN v_grant;
END
$$;
COMMENT ON FUNCTION auth.verify_mfa(text, text, inet, text) IS
    'redeems an MFA challenge with a TOTP, email or recovery code and opens an aal2 session; 28000 when the challenge is invalid or expired or the code wrong, PT429 past auth.mfa_max_attempts';

CREATE FUNCTION auth.step_up_mfa(code text) RETURNS boolean
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_uid uuid := auth._require_account_uid();
    v_sid uuid := auth.session_id();
    v_method text;
BEGIN
    PERFORM auth._refuse_impersonation('step up');
    IF v_sid IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = '42501', MESSAGE = 'a step-up needs a session';
    END IF;
    IF NOT auth._has_mfa(v_uid) THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'no verified second factor',
            HINT = 'Enroll one with auth.enroll_totp().';
    END IF;
    IF code IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'code is required';
    END IF;
    PERFORM auth._check_length(code, 'second-factor code');
    PERFORM auth._count_mfa_attempt(v_uid, NULL);
    v_method := auth._check_second_factor(v_uid, code, NULL);
    IF v_method IS NULL THEN
        PERFORM auth._mfa_failed(v_uid, NULL, jsonb_build_object('stage', 'step_up'));
        RETURN false;
    END IF;
    PERFORM auth._attempt_try_end(true);
    DELETE FROM auth.attempts a WHERE a.scope = 'mfa' AND a.key = uuid_send(v_uid);
    PERFORM auth._raise_session(v_sid, v_method);
    PERFORM auth._set_identity_aal(2);
    PERFORM auth._audit('mfa_verified', v_uid, v_sid, NULL,
                        jsonb_build_object('method', v_method, 'step_up', true));
    RETURN true;
END
$$;
COMMENT ON FUNCTION auth.step_up_mfa(text) IS
    'raises the current session to aal2 with a TOTP or recovery code (method and time in amr); false for a wrong code; PT429 past auth.mfa_max_attempts';

CREATE FUNCTION auth.generate_recovery_codes() RETURNS text[]
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_uid uuid := auth._require_mfa_session();
    v_codes text[] := '{}';
    v_code text;
BEGIN
    -- made under the session as a key is: a removal of the last factor
    -- or reset_mfa committed before ours fails it at commit (40001), and
    -- one committed before this check leaves no factor and no aal2 here
    PERFORM auth._creating_credential(v_uid,
        (SELECT u.credentials_epoch FROM auth.users u WHERE u.id = v_uid), auth.session_id());
    IF auth.aal() IS DISTINCT FROM 'aal2' OR NOT auth._has_mfa(v_uid)
       OR NOT EXISTS (SELECT FROM auth.sessions s WHERE s.id = auth.session_id() AND s.aal = 2) THEN
        RAISE EXCEPTION USING ERRCODE = '42501', MESSAGE = 'a second factor is required',
            DETAIL = 'MFA_REQUIRED',
            HINT = 'Enroll and verify a TOTP factor first.';
    END IF;
    DELETE FROM auth.mfa_recovery_codes r WHERE r.user_id = v_uid;
    FOR i IN 1..10 LOOP
        v_code := auth._recovery_code();
        INSERT INTO auth.mfa_recovery_codes (user_id, code_hash, created_at)
        VALUES (v_uid, sha256(convert_to(v_uid::text || ':' || replace(v_code, '-', ''), 'UTF8')),
                auth.now());
        v_codes := v_codes || v_code;
    END LOOP;
    PERFORM auth._audit('recovery_codes_generated', v_uid, auth.session_id(), NULL,
                        jsonb_build_object('count', 10));
    RETURN v_codes;
END
$$;
COMMENT ON FUNCTION auth.generate_recovery_codes() IS
    '10 single-use recovery codes, shown once (stored hashed), voiding the previous set; needs an aal2 session (42501 MFA_REQUIRED)';

CREATE FUNCTION auth.list_factors()
RETURNS TABLE (id uuid, type text, label text, verified boolean,
               created_at timestamptz, last_used_at timestamptz)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT f.id, f.type, f.label, f.verified_at IS NOT NULL, f.created_at, f.last_used_at
      FROM auth.mfa_factors f
     WHERE f.user_id = auth._require_account_uid()
     ORDER BY f.created_at, f.id
$$;
COMMENT ON FUNCTION auth.list_factors() IS
    'the authenticated user''s second factors, never a secret';

CREATE FUNCTION auth.remove_factor(factor_id uuid) RETURNS boolean
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    v_uid uuid := auth._require_mfa_session();
    v_type text;
BEGIN
    DELETE FROM auth.mfa_factors f WHERE f.id = factor_id AND f.user_id = v_uid
    RETURNING f.type INTO v_type;
    IF v_type IS NULL THEN
        RETURN false;
    END IF;
    PERFORM auth._audit('factor_removed', v_uid, auth.session_id(), NULL,
                        jsonb_build_object('factor_id', factor_id, 'type', v_type));
    PERFORM auth._mfa_factors_gone(v_uid);
    RETURN true;
END
$$;
COMMENT ON FUNCTION auth.remove_factor(uuid) IS
    'removes one of the user''s factors; needs aal2 while the user has a verified factor (42501 MFA_REQUIRED); without one left, sessions and keys drop to aal1 and recovery codes go; false when not theirs';

CREATE FUNCTION auth.enable_email_factor() RETURNS uuid
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_uid uuid := auth._require_mfa_session();
    v_id uuid;
BEGIN
    IF NOT EXISTS (SELECT FROM auth.users u WHERE u.id = v_uid AND u.email_verified_at IS NOT NULL) THEN
        RAISE EXCEPTION USING ERRCODE = '42501', MESSAGE = 'email is not verified',
            HINT = 'Verify the email before using it as a second factor.';
    END IF;
    INSERT INTO auth.mfa_factors (user_id, type, verified_at, created_at)
    VALUES (v_uid, 'email', auth.now(), auth.now())
    ON CONFLICT (user_id) WHERE type = 'email' DO NOTHING
    RETURNING id INTO v_id;
    IF v_id IS NULL THEN
        SELECT f.id INTO v_id FROM auth.mfa_factors f WHERE f.user_id = v_uid AND f.type = 'email';
    ELSE
        PERFORM auth._audit('factor_enrolled', v_uid, auth.session_id(), NULL,
                            jsonb_build_object('factor_id', v_id, 'type', 'email'));
    END IF;
    RETURN v_id;
END
$$;
COMMENT ON FUNCTION auth.enable_email_factor() IS
    'makes a code mailed to the verified email a second factor (auth.create_mfa_email_code); returns the factor; needs aal2 once the user has a factor';

CREATE FUNCTION auth.create_mfa_email_code(challenge text) RETURNS text
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_ch auth.mfa_challenges;
    v_code text;
    v_now timestamptz := auth.now();
BEGIN
    SELECT * INTO v_ch FROM auth.mfa_challenges c
     WHERE c.secret_hash = auth._token_hash(challenge, 'mfc')
       AND c.consumed_at IS NULL AND c.expires_at > v_now
       FOR NO KEY UPDATE;
    IF v_ch.id IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = '28000', MESSAGE = 'invalid or expired MFA challenge',
            HINT = 'Sign in again.';
    END IF;
    IF NOT EXISTS (SELECT FROM auth.mfa_factors f WHERE f.user_id = v_ch.user_id AND f.type = 'email') THEN
        RAISE EXCEPTION USING ERRCODE = '42501', MESSAGE = 'email is not a second factor of this user',
            HINT = 'The user enables it with auth.enable_email_factor().';
    END IF;
    -- the mailbox that signed in is not a second factor as well
    IF v_ch.method IN ('magic_link', 'email_code') THEN
        RAISE EXCEPTION USING ERRCODE = '42501',
            MESSAGE = 'the email cannot be the second factor after an email sign-in',
            DETAIL = format('The first factor was %s, from the same mailbox.', v_ch.method),
            HINT = 'Use a TOTP or recovery code.';
    END IF;
    v_code := auth._generate_code();
    -- a new code replaces the previous; the tries of the challenge stay counted
    UPDATE auth.mfa_challenges c
       SET email_code_hash = sha256(convert_to(v_ch.id::text || ':' || v_code, 'UTF8')),
           email_code_expires_at = least(v_ch.expires_at,
                                         v_now + auth._setting_interval('auth.email_code_ttl'))
     WHERE c.id = v_ch.id;
    RETURN v_code;
END
$$;
COMMENT ON FUNCTION auth.create_mfa_email_code(text) IS
    'issuer: a 6-digit code for an MFA challenge, to mail to the user''s address, accepted once by auth.verify_mfa; 42501 unless the user enabled the email factor';
REVOKE ALL ON FUNCTION auth.create_mfa_email_code(text) FROM PUBLIC;

CREATE FUNCTION auth.import_totp_factor(user_id uuid, secret text, algorithm text DEFAULT 'SHA1',
                                        digits integer DEFAULT 6, label text DEFAULT NULL)
RETURNS uuid
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    v_id uuid := gen_random_uuid();
BEGIN
    IF secret IS NULL OR algorithm IS NULL OR algorithm NOT IN ('SHA1', 'SHA256', 'SHA512')
       OR digits IS NULL OR digits NOT IN (6, 8) THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'invalid TOTP factor',
            HINT = 'A base32 secret, algorithm SHA1, SHA256 or SHA512, and 6 or 8 digits.';
    END IF;
    PERFORM auth._check_length(label, 'factor label');
    IF NOT EXISTS (SELECT FROM auth.users u WHERE u.id = user_id) THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'user does not exist';
    END IF;
    INSERT INTO auth.mfa_factors (id, user_id, type, label, secret_sealed, algorithm, digits,
                                  created_at, verified_at)
    VALUES (v_id, user_id, 'totp', nullif(btrim(label), ''), auth._totp_seal(v_id, secret),
            algorithm, digits, auth.now(), auth.now());
    PERFORM auth._audit('factor_enrolled', user_id, NULL, NULL,
                        jsonb_build_object('factor_id', v_id, 'type', 'totp', 'imported', true));
    RETURN v_id;
END
$$;
COMMENT ON FUNCTION auth.import_totp_factor(uuid, text, text, integer, text) IS
    'admin: adds a verified TOTP factor with a known base32 secret (moving users from another system), SHA1, SHA256 or SHA512, 6 or 8 digits; 22023 otherwise';
REVOKE ALL ON FUNCTION auth.import_totp_factor(uuid, text, text, integer, text) FROM PUBLIC;

CREATE FUNCTION auth.reset_mfa(user_id uuid) RETURNS integer
LANGUAGE plpgsql VOLATILE STRICT SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    v_count int;
BEGIN
    IF NOT EXISTS (SELECT FROM auth.users u WHERE u.id = user_id) THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'user does not exist';
    END IF;
    DELETE FROM auth.mfa_factors f WHERE f.user_id = user_id;
    GET DIAGNOSTICS v_count = ROW_COUNT;
    PERFORM auth._mfa_factors_gone(user_id);
    PERFORM auth._audit('mfa_reset', user_id, NULL, NULL, jsonb_build_object('factors_removed', v_count));
    RETURN v_count;
END
$$;
COMMENT ON FUNCTION auth.reset_mfa(uuid) IS
    'admin: removes every factor and recovery code of a user (a lost device), whose sessions and keys drop to aal1; audited; returns how many factors';
REVOKE ALL ON FUNCTION auth.reset_mfa(uuid) FROM PUBLIC;
