-- apikey_manage: creating, listing, updating, limiting, revoking and
-- rotating API keys (who may: the owner, a key for the keys it made, an
-- admin for any user).

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
    v_epoch bigint;
    v_anonymous boolean;
    v_key record;
    v_grant auth.api_key_grant;
BEGIN
    PERFORM auth._refuse_impersonation('create API keys');
    PERFORM auth._check_api_key_fields(coalesce(name, ''), metadata);
    IF NOT auth._api_key_prefix_is_valid(v_prefix) THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'invalid API key prefix',
            DETAIL = 'A prefix is 1 to 16 lowercase letters or digits, and not one of the extension''s own token kinds.';
    END IF;
    IF expires_in <= interval '0' THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'expires_in must be positive';
    END IF;
    PERFORM auth._check_api_key_limits(rate_limit_max, rate_limit_window, remaining,
                                       refill_amount, refill_interval);
    -- No lock: a ban or an end of the user's credentials committed before
    -- this transaction commits fails it (src/lifecycle.c), and none waits
    -- for this transaction.
    SELECT u.banned_until, u.credentials_epoch, u.is_anonymous INTO v_banned, v_epoch, v_anonymous
      FROM auth.users u WHERE u.id = user_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'user does not exist';
    END IF;
    -- cleanup() removes an anonymous user idle by their sessions, and a
    -- key would go with them while in use
    IF v_anonymous THEN
        RAISE EXCEPTION USING ERRCODE = '42501', MESSAGE = 'an anonymous user cannot have API keys',
            HINT = 'Link an email first (auth.link_email_password() or a magic link).';
    END IF;
    PERFORM auth._creating_credential(user_id, v_epoch, auth.session_id());
    IF v_banned > v_now THEN
        RAISE EXCEPTION USING ERRCODE = '28000', MESSAGE = 'account is suspended';
    END IF;
    -- The session the key is made under must be live now, not only when
    -- the transaction first checked it: a reset, a claim or a sign-out
    -- committed since (one still in progress fails this transaction at
    -- commit, src/lifecycle.c) ended it, and a key made after that would outlive it.  (A key made by
    -- a key: verification walks the chain.)
    IF auth.session_id() IS NOT NULL AND NOT EXISTS (
            SELECT FROM auth.sessions s
             WHERE s.id = auth.session_id() AND s.revoked_at IS NULL
               AND s.expires_at > v_now) THEN
        RAISE EXCEPTION USING ERRCODE = '28000', MESSAGE = 'invalid session token',
            DETAIL = 'The session ended while this transaction was open.',
            HINT = 'Sign in again to get a new session token.';
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
        -- and lives only while every key above it does: verification walks
        -- up at most 7 keys (AUTH_API_KEY_MAX_ANCESTORS in src/apikey.h)
        IF (WITH RECURSIVE up (id, parent, n) AS (
                SELECT k.id, k.parent_key_id, 1 FROM auth.api_keys k WHERE k.id = parent_key_id
                UNION ALL
                SELECT k.id, k.parent_key_id, up.n + 1
                  FROM auth.api_keys k JOIN up ON k.id = up.parent WHERE up.n < 8)
            SELECT max(up.n) FROM up) >= 8 THEN
            RAISE EXCEPTION USING ERRCODE = '54000',
                MESSAGE = 'API keys made by keys nest at most 8 deep',
                DETAIL = 'A key made by a key can have at most 7 keys above it.';
        END IF;
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
    v_uid uuid := auth._require_not_jwt('make API keys');
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
     WHERE k.user_id = auth._require_not_jwt('manage API keys') AND auth.api_key_id() IS NULL
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
    PERFORM auth._require_not_jwt('manage API keys');
    -- the credentials lock first, then the row (the order every end keeps)
    PERFORM auth._share_user_credentials(k.user_id) FROM auth.api_keys k WHERE k.id = key_id;
    -- FOR NO KEY UPDATE, as the UPDATE that follows takes: a key being
    -- made by this one holds FOR KEY SHARE on it (its foreign key) until
    -- its creator commits, and must not hold off this change
    SELECT * INTO v_key FROM auth.api_keys k
     WHERE k.id = key_id AND k.id IN (SELECT auth._manageable_api_keys())
       FOR NO KEY UPDATE;
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
    PERFORM auth._require_not_jwt('manage API keys');
    SELECT k.user_id INTO v_user FROM auth.api_keys k
     WHERE k.id = key_id AND k.revoked_at IS NULL
       AND (k.id IN (SELECT auth._manageable_api_keys()) OR k.id = auth.api_key_id())
       FOR NO KEY UPDATE;   -- never waits for a key being made by this one
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    -- with every key it created, down the line (a key being made by one
    -- of them meanwhile is dead too: verification checks every key above)
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
    PERFORM auth._refuse_impersonation('rotate API keys');
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

