-- apikey_verify: verifying a key and counting its use (the read path is C:
-- src/apikey.c, src/apikey_usage.c, src/apikey_window.c).

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

-- The read path is C: one index probe; a use of a key with limits is
-- counted by auth._api_key_consume, which C calls as the extension's owner.
-- Not SECURITY DEFINER, so a call pays no settings push and pop.
CREATE FUNCTION auth.verify_api_key(key text, required_scopes text[] DEFAULT '{}',
                                    OUT valid boolean, OUT code text, OUT key_id uuid,
                                    OUT user_id uuid, OUT org_id uuid, OUT scopes text[],
                                    OUT remaining integer, OUT retry_after interval)
    AS 'MODULE_PATHNAME', 'auth_verify_api_key'
    LANGUAGE C VOLATILE;
COMMENT ON FUNCTION auth.verify_api_key(text, text[]) IS
    'checks an API key and counts the use against its limits; code (NULL when valid) is INVALID, EXPIRED, DISABLED, REVOKED, RATE_LIMITED, USAGE_EXCEEDED or INSUFFICIENT_SCOPE; never raises for a bad key';

CREATE FUNCTION auth.authenticate_api_key(key text, is_local boolean DEFAULT true)
RETURNS uuid
    AS 'MODULE_PATHNAME', 'auth_authenticate_api_key'
    LANGUAGE C VOLATILE;
COMMENT ON FUNCTION auth.authenticate_api_key(text, boolean) IS
    'verifies an API key and sets the identity (kind api_key: owner, key, organization, scopes) for the transaction or the connection; 28000 when not valid, PT429 when a limit refuses it';
