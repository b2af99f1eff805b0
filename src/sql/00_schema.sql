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

-- A transaction lock on a text key that no role can take with SQL
-- (pg_advisory_lock): per-email request limits and attempt counters.
CREATE FUNCTION auth._lock_keyed(key text, wait boolean) RETURNS boolean
    AS 'MODULE_PATHNAME', 'auth_lock_keyed'
    LANGUAGE C VOLATILE;
COMMENT ON FUNCTION auth._lock_keyed(text, boolean) IS
    'internal: takes a transaction lock of the extension''s own on a key; false when not wait and it is held';
REVOKE ALL ON FUNCTION auth._lock_keyed(text, boolean) FROM PUBLIC;

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
