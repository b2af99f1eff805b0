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
    v_max int := auth._limit('password');
BEGIN
    IF password IS NULL OR length(password) < v_min THEN
        RAISE EXCEPTION USING ERRCODE = '22023',
            MESSAGE = format('password must be at least %s characters long', v_min);
    END IF;
    IF length(password) > v_max THEN
        RAISE EXCEPTION USING ERRCODE = '22023',
            MESSAGE = format('password must be at most %s characters long', v_max);
    END IF;
END
$$;
COMMENT ON FUNCTION auth._check_password_policy(text) IS
    'internal: raises 22023 unless the password''s length is within the policy';
REVOKE ALL ON FUNCTION auth._check_password_policy(text) FROM PUBLIC;
