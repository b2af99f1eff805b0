-- limits: the bound on every field a caller supplies, in one place (README
-- "Limits"), and the checks that apply them: past a bound, 22023.

-- Every bound: field, largest accepted value, and its unit (characters,
-- bytes, items or levels).  User agents are cut to their bound, not
-- refused: a browser supplies them, not the person signing in.
CREATE FUNCTION auth._limits() RETURNS TABLE (field text, max integer, unit text)
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    VALUES ('email', 254, 'bytes'),              -- RFC 5321's longest path
           ('password', 128, 'characters'),      -- the policy; C refuses 4096 bytes
           ('name', 256, 'characters'),          -- a user's name
           ('image', 2048, 'characters'),        -- a user's image URL
           ('ban reason', 1000, 'characters'),
           ('search', 254, 'characters'),        -- auth.list_users()
           ('metadata', 16384, 'bytes'),         -- users, organizations, API keys
           ('metadata depth', 32, 'levels'),
           ('redirect_to', 2048, 'characters'),
           ('logo', 2048, 'characters'),
           ('code purpose', 40, 'characters'),
           ('organization name', 200, 'characters'),
           ('slug', 64, 'characters'),
           ('role', 40, 'characters'),
           ('permission', 128, 'characters'),
           ('permissions', 64, 'items'),         -- per role
           ('team name', 200, 'characters'),
           ('API key name', 200, 'characters'),
           ('scope', 64, 'characters'),
           ('scopes', 32, 'items'),              -- per API key
           ('factor label', 64, 'characters'),
           ('second-factor code', 64, 'characters'), -- a recovery code spaced out
           ('factors', 10, 'items'),             -- second factors per user
           ('user agent', 512, 'characters'),    -- kept; the rest is cut
           ('impersonation reason', 1000, 'characters'),
           ('username', 32, 'characters')
$$;
COMMENT ON FUNCTION auth._limits() IS
    'internal: the bound on every field a caller supplies (README "Limits")';
REVOKE ALL ON FUNCTION auth._limits() FROM PUBLIC;

CREATE FUNCTION auth._limit(field text) RETURNS integer
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v integer;
BEGIN
    SELECT l.max INTO v FROM auth._limits() l WHERE l.field = _limit.field;
    IF v IS NULL THEN   -- a bug, never a caller's fault: no check may pass silently
        RAISE EXCEPTION USING ERRCODE = 'XX000', MESSAGE = format('no limit named "%s"', field);
    END IF;
    RETURN v;
END
$$;
COMMENT ON FUNCTION auth._limit(text) IS
    'internal: the bound of a field in auth._limits()';
REVOKE ALL ON FUNCTION auth._limit(text) FROM PUBLIC;

-- 22023 when a text field is longer than its bound (NULL passes: the
-- callers say whether a field is required).
CREATE FUNCTION auth._check_length(value text, field text) RETURNS void
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_max integer;
    v_unit text;
BEGIN
    SELECT l.max, l.unit INTO v_max, v_unit FROM auth._limits() l WHERE l.field = _check_length.field;
    IF v_max IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'XX000', MESSAGE = format('no limit named "%s"', field);
    END IF;
    IF (CASE v_unit WHEN 'bytes' THEN octet_length(value) ELSE length(value) END) > v_max THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = format('%s is too long', field),
            DETAIL = format('The longest accepted is %s %s.', v_max, v_unit);
    END IF;
END
$$;
COMMENT ON FUNCTION auth._check_length(text, text) IS
    'internal: 22023 when a text is longer than the bound auth._limits() gives its field';
REVOKE ALL ON FUNCTION auth._check_length(text, text) FROM PUBLIC;

-- A user's display name and picture, as an application will show them: a
-- name within its bound and without control, format or bidirectional
-- characters (U+202E would spoof what follows it); a picture that is an
-- http(s) URL or a path of the application, never javascript: or data:.
-- NULL and '' (clear) pass.
CREATE FUNCTION auth._check_profile(name text, image text) RETURNS void
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM auth._check_length(name, 'name');
    PERFORM auth._check_length(image, 'image');
    IF name ~ '[[:cntrl:]\u00ad\u061c\u180e\u200b-\u200f\u202a-\u202e\u2060-\u206f\ufeff\ufff9-\ufffb]' THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'invalid name',
            DETAIL = 'A name has no control, format or bidirectional characters.';
    END IF;
    IF image <> '' AND image !~* '^(https?://[^[:space:]]+|/[^/[:space:]][^[:space:]]*)$' THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'invalid image',
            DETAIL = 'An image is an http(s) URL or a path starting with one /.';
    END IF;
END
$$;
COMMENT ON FUNCTION auth._check_profile(text, text) IS
    'internal: 22023 for a name past its bound or with control, format or bidi characters, or an image that is not an http(s) URL or a path';
REVOKE ALL ON FUNCTION auth._check_profile(text, text) FROM PUBLIC;

-- Metadata (of a user, an organization, an API key): a JSON object of at
-- most 16 kB as text, nested at most 32 levels; NULL passes.
CREATE FUNCTION auth._check_metadata(metadata jsonb) RETURNS void
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_max integer := auth._limit('metadata');
    v_depth integer := auth._limit('metadata depth');
BEGIN
    IF jsonb_typeof(metadata) <> 'object' OR octet_length(metadata::text) > v_max THEN
        RAISE EXCEPTION USING ERRCODE = '22023',
            MESSAGE = format('metadata must be a JSON object of at most %s kB', v_max / 1024);
    END IF;
    -- .**{n} stops descending at level n, so this costs no more than the
    -- levels it looks at
    IF jsonb_path_exists(metadata, format('strict $.**{%s}', v_depth + 1)::jsonpath) THEN
        RAISE EXCEPTION USING ERRCODE = '22023',
            MESSAGE = format('metadata must be a JSON object nested at most %s levels deep', v_depth);
    END IF;
END
$$;
COMMENT ON FUNCTION auth._check_metadata(jsonb) IS
    'internal: 22023 unless metadata is a JSON object within its size and depth bounds';
REVOKE ALL ON FUNCTION auth._check_metadata(jsonb) FROM PUBLIC;
