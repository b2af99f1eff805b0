-- apikey: the table of API keys for servers, CLIs and integrations (scoped,
-- optionally bound to an organization, with a rate limit and a usage quota),
-- and the checks management and verification share.

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

-- After both copies (triggers fire in name order): a REPEATABLE READ ban
-- whose snapshot missed a session or key created meanwhile refuses (40001)
-- rather than leave it unbanned.
CREATE FUNCTION auth._ban_missed_nothing() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF auth._ban_missed(NEW.id, NEW.banned_until) THEN
        RAISE EXCEPTION USING ERRCODE = '40001',
            MESSAGE = 'could not end the credentials: one was created concurrently',
            HINT = 'Retry the transaction.';
    END IF;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION auth._ban_missed_nothing() IS
    'internal: refuses a ban whose snapshot missed a session or key created meanwhile';
REVOKE ALL ON FUNCTION auth._ban_missed_nothing() FROM PUBLIC;
CREATE TRIGGER users_ban_then_nothing_missed
    AFTER UPDATE OF banned_until ON auth.users
    FOR EACH ROW WHEN (OLD.banned_until IS DISTINCT FROM NEW.banned_until)
    EXECUTE FUNCTION auth._ban_missed_nothing();

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
    IF cardinality(scopes) > auth._limit('scopes') THEN
        RAISE EXCEPTION USING ERRCODE = '22023',
            MESSAGE = format('an API key holds at most %s scopes', auth._limit('scopes'));
    END IF;
    IF EXISTS (SELECT FROM unnest(scopes) s
                WHERE length(s) > auth._limit('scope')
                   OR NOT (s ~ '^[A-Za-z0-9_./:-]+$' OR s = '*' OR s ~ '^[A-Za-z0-9_./:-]+:\*$')) THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'invalid scope',
            DETAIL = format('A scope is 1 to %s letters, digits or _ . / : -, or "*", or ends in ":*".',
                            auth._limit('scope'));
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
    IF btrim(name) = '' OR length(name) > auth._limit('API key name') THEN
        RAISE EXCEPTION USING ERRCODE = '22023',
            MESSAGE = format('an API key needs a name of 1 to %s characters', auth._limit('API key name'));
    END IF;
    PERFORM auth._check_metadata(metadata);
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
