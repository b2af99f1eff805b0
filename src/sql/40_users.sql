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
ALTER TABLE auth.users ENABLE ROW LEVEL SECURITY;
SELECT pg_catalog.pg_extension_config_dump('auth.users', '');
COMMENT ON TABLE auth.users IS 'accounts; password_hash holds argon2id (or an imported bcrypt/scrypt hash until the next sign-in)';

-- Emails are compared after NFC and ASCII-only case folding, whatever the
-- database's collation: lower() follows the locale, and would map U+0130
-- to "i" and the Kelvin sign to "k" in one database and not in another.
-- This is the comparison key of a stored email; auth._normalize_email()
-- gives a new one in this form, and refuses what could fold into another.
-- (A database that is not UTF8 keeps non-ASCII rows as they are: it
-- refuses new ones.)
CREATE FUNCTION auth._email_key(email text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT pg_catalog.translate(
        CASE WHEN pg_catalog.octet_length(email) OPERATOR(pg_catalog.=) pg_catalog.length(email)
                  OR pg_catalog.getdatabaseencoding() OPERATOR(pg_catalog.<>) 'UTF8'
             THEN email ELSE pg_catalog.normalize(email, 'NFC') END,
        'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz')
$$;
COMMENT ON FUNCTION auth._email_key(text) IS
    'internal: the comparison key of an email: NFC, then ASCII letters lower-cased';
REVOKE ALL ON FUNCTION auth._email_key(text) FROM PUBLIC;

-- Emails are unique by that key.
CREATE UNIQUE INDEX users_email_key ON auth.users (auth._email_key(email));

-- The non-ASCII part of auth._normalize_email(): NFC, then refuses (22023)
-- a character that NFKC changes (Kelvin sign, long s, fullwidth forms,
-- ligatures), that is not its own lower case or does not come back from
-- its upper case (U+0130, dotless i, uppercase letters such as É, ß, final
-- sigma), or that is invisible; case is Unicode's (ICU's root locale),
-- never the database's.  Without UTF8 or ICU it cannot tell, so it refuses.
CREATE FUNCTION auth._unicode_email(email text) RETURNS text
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v text;
    v_stable boolean;
BEGIN
    IF getdatabaseencoding() <> 'UTF8' THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'unsupported character in email address',
            DETAIL = 'Addresses with characters outside ASCII need a UTF8 database.';
    END IF;
    v := normalize(email, NFC);
    IF normalize(v, NFKC) <> v
       OR v ~ '[\u0080-\u009f\u00ad\u034f\u061c\u115f\u1160\u180e\u200b-\u200f\u202a-\u202e\u2060-\u206f\u3164\ufe00-\ufe0f\ufeff\uffa0]' THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'unsupported character in email address',
            DETAIL = 'The address has a character that is invisible, or that compatibility normalisation (NFKC) turns into another.';
    END IF;
    IF NOT EXISTS (SELECT FROM pg_collation c
                    WHERE c.collname = 'und-x-icu' AND c.collprovider = 'i'
                      AND c.collnamespace = 'pg_catalog'::regnamespace) THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'unsupported character in email address',
            DETAIL = 'Addresses with characters outside ASCII need PostgreSQL with ICU, to tell which characters change case.';
    END IF;
    -- dynamic, so that a server without the collation can still plan this
    -- function (and take ASCII addresses)
    EXECUTE $q$
        SELECT pg_catalog.bool_and(
                   pg_catalog.lower(c COLLATE pg_catalog."und-x-icu") COLLATE pg_catalog."C"
                       OPERATOR(pg_catalog.=) c COLLATE pg_catalog."C"
               AND pg_catalog.lower(pg_catalog.upper(c COLLATE pg_catalog."und-x-icu")) COLLATE pg_catalog."C"
                       OPERATOR(pg_catalog.=) c COLLATE pg_catalog."C")
          FROM pg_catalog.regexp_split_to_table($1, '') c
         WHERE pg_catalog.octet_length(c) OPERATOR(pg_catalog.>) 1
    $q$ INTO v_stable USING v;
    IF v_stable IS NOT TRUE THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'unsupported character in email address',
            DETAIL = 'The address has a character outside ASCII that changes under case mapping, so it could stand for another address.';
    END IF;
    RETURN v;
END
$$;
COMMENT ON FUNCTION auth._unicode_email(text) IS
    'internal: the NFC form of an email with characters outside ASCII; 22023 when one could fold into another address';
REVOKE ALL ON FUNCTION auth._unicode_email(text) FROM PUBLIC;

-- Trims an email, checks its length and syntax, and returns it in the form
-- auth._email_key() compares (22023 otherwise): NFC with ASCII letters
-- lower-cased, and only characters outside ASCII that no case mapping or
-- normalisation turns into another (see auth._unicode_email()).
CREATE FUNCTION auth._normalize_email(email text) RETURNS text
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v text := btrim(email);
    v_max int := auth._limit('email');
BEGIN
    IF v IS NULL OR v = '' THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'email is required';
    END IF;
    -- the length first, before any work on a huge input
    IF octet_length(v) <= v_max AND v ~ '[^\x01-\x7f]' THEN
        v := auth._unicode_email(v);
    END IF;
    v := translate(v, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz');
    IF octet_length(v) > v_max OR v ~ '[\x01-\x1f\x7f]'
       OR v !~ '^[^[:space:]@]+@[^[:space:]@]+\.[^[:space:]@.]+$' THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'invalid email address',
            HINT = format('An email looks like name@example.com and has at most %s bytes.', v_max);
    END IF;
    -- lower-casing an ASCII letter can make it compose with the mark after
    -- it (J and U+030C stay apart, j and U+030C make U+01F0)
    IF v ~ '[^\x01-\x7f]' AND normalize(v, NFC) <> v THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'unsupported character in email address',
            DETAIL = 'Lower-casing the address turns part of it into another character.';
    END IF;
    RETURN v;
END
$$;
COMMENT ON FUNCTION auth._normalize_email(text) IS
    'internal: a trimmed email in the form auth._email_key() compares (NFC, ASCII lower case); 22023 when it is not an email or could stand for another';
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
    PERFORM auth._check_length(sign_up.name, 'name');
    PERFORM auth._check_metadata(sign_up.metadata);
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
    'creates a user with a password and returns its id; 22023 for a bad email or password, a name or metadata past its bound, 23505 when the email is taken';

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
    IF current_password IS NULL OR length(current_password) > auth._limit('password') OR
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
