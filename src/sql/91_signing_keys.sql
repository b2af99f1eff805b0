-- signing keys: the keys this database signs its JWTs with (src/jwt.c,
-- src/jwt_keys.c, src/jwt_cache.c).  Private parts and HS256 secrets are
-- sealed with a key derived from the root key file (src/keys_at_rest.c),
-- never stored in clear; public keys are served by auth.jwks().

CREATE TABLE auth.signing_keys (
    id           uuid PRIMARY KEY DEFAULT pg_catalog.gen_random_uuid(),
    kid          text NOT NULL,
    algorithm    text NOT NULL,
    -- standby (published, not yet signing), current (signs), previous
    -- (verifies for auth.jwt_previous_key_grace after retired_at), revoked
    state        text NOT NULL DEFAULT 'standby',
    public_jwk   jsonb,               -- NULL for HS256: a secret is never public
    private_key  bytea NOT NULL,      -- sealed: AES-256-GCM under the root key
    created_at   timestamptz NOT NULL DEFAULT auth.now(),
    activated_at timestamptz,
    retired_at   timestamptz,
    revoked_at   timestamptz,
    CONSTRAINT signing_keys_kid_key UNIQUE (kid),
    CONSTRAINT signing_keys_kid_check CHECK (length(kid) BETWEEN 1 AND 128),
    CONSTRAINT signing_keys_algorithm_check
        CHECK (algorithm IN ('EdDSA', 'ES256', 'RS256', 'HS256')),
    CONSTRAINT signing_keys_state_check
        CHECK (state IN ('standby', 'current', 'previous', 'revoked')),
    CONSTRAINT signing_keys_public_check
        CHECK ((algorithm = 'HS256') = (public_jwk IS NULL))
);
-- at most one key signs
CREATE UNIQUE INDEX signing_keys_current_key ON auth.signing_keys ((true))
    WHERE state = 'current';
ALTER TABLE auth.signing_keys ENABLE ROW LEVEL SECURITY;
SELECT pg_catalog.pg_extension_config_dump('auth.signing_keys', '');
COMMENT ON TABLE auth.signing_keys IS
    'JWT signing keys; private parts and secrets sealed under the root key file';

CREATE FUNCTION auth._jwt_keys_changed() RETURNS trigger
    AS 'MODULE_PATHNAME', 'auth_jwt_keys_changed'
    LANGUAGE C;
COMMENT ON FUNCTION auth._jwt_keys_changed() IS
    'internal: invalidates every backend''s cache of signing keys and issuers when the change commits';
REVOKE ALL ON FUNCTION auth._jwt_keys_changed() FROM PUBLIC;

CREATE TRIGGER signing_keys_changed
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON auth.signing_keys
    FOR EACH STATEMENT EXECUTE FUNCTION auth._jwt_keys_changed();

CREATE FUNCTION auth._sealed_opens(purpose text, id uuid, sealed bytea) RETURNS boolean
    AS 'MODULE_PATHNAME', 'auth_sealed_opens'
    LANGUAGE C VOLATILE STRICT;
COMMENT ON FUNCTION auth._sealed_opens(text, uuid, bytea) IS
    'internal: whether a sealed secret opens with the root key (auth.check())';
REVOKE ALL ON FUNCTION auth._sealed_opens(text, uuid, bytea) FROM PUBLIC;

CREATE FUNCTION auth._signing_key_generate(alg text, id uuid,
                                           OUT public_jwk jsonb, OUT private_key bytea)
    AS 'MODULE_PATHNAME', 'auth_signing_key_generate'
    LANGUAGE C VOLATILE STRICT;
COMMENT ON FUNCTION auth._signing_key_generate(text, uuid) IS
    'internal: a fresh key for the row id, its private part sealed';
REVOKE ALL ON FUNCTION auth._signing_key_generate(text, uuid) FROM PUBLIC;

CREATE FUNCTION auth._signing_key_import(jwk jsonb, id uuid, OUT algorithm text,
                                         OUT public_jwk jsonb, OUT private_key bytea)
    AS 'MODULE_PATHNAME', 'auth_signing_key_import'
    LANGUAGE C VOLATILE STRICT;
COMMENT ON FUNCTION auth._signing_key_import(jsonb, uuid) IS
    'internal: an existing key or secret (a JWK with its private part) for the row id, sealed';
REVOKE ALL ON FUNCTION auth._signing_key_import(jsonb, uuid) FROM PUBLIC;

-- Stores a key in the state asked for; a new current key retires the one
-- before it to previous.  Key changes are serialised by the table lock.
CREATE FUNCTION auth._add_signing_key(id uuid, kid text, algorithm text, state text,
                                      public_jwk jsonb, private_key bytea)
RETURNS text
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_now timestamptz := auth.now();
BEGIN
    IF state IS NULL OR state NOT IN ('standby', 'current') THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'invalid signing key state',
            HINT = 'A new key is standby or current.';
    END IF;
    IF kid IS NULL OR length(kid) NOT BETWEEN 1 AND 128 OR kid !~ '^[\x21-\x7e]+$' THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'invalid kid',
            DETAIL = 'A kid is 1 to 128 printable ASCII characters.';
    END IF;
    IF EXISTS (SELECT FROM auth.signing_keys k WHERE k.kid = _add_signing_key.kid) THEN
        RAISE EXCEPTION USING ERRCODE = '23505', MESSAGE = 'kid is already taken';
    END IF;
    IF state = 'current' THEN
        UPDATE auth.signing_keys k SET state = 'previous', retired_at = v_now
         WHERE k.state = 'current';
    END IF;
    INSERT INTO auth.signing_keys (id, kid, algorithm, state, public_jwk, private_key,
                                   created_at, activated_at)
    VALUES (id, kid, algorithm, state, public_jwk, private_key, v_now,
            CASE WHEN state = 'current' THEN v_now END);
    PERFORM auth._audit('signing_key_created', NULL, NULL, NULL,
                        jsonb_build_object('kid', kid, 'algorithm', algorithm, 'state', state));
    RETURN kid;
END
$$;
COMMENT ON FUNCTION auth._add_signing_key(uuid, text, text, text, jsonb, bytea) IS
    'internal: stores a new signing key (a new current key retires the current one)';
REVOKE ALL ON FUNCTION auth._add_signing_key(uuid, text, text, text, jsonb, bytea) FROM PUBLIC;

CREATE FUNCTION auth.create_signing_key(alg text DEFAULT 'EdDSA', state text DEFAULT 'standby')
RETURNS text
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_id uuid := gen_random_uuid();
    v_key record;
BEGIN
    IF alg IS NULL OR alg NOT IN ('EdDSA', 'ES256', 'RS256', 'HS256') THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'unsupported signing algorithm',
            HINT = 'Use EdDSA, ES256, RS256 or HS256.';
    END IF;
    LOCK TABLE auth.signing_keys IN SHARE ROW EXCLUSIVE MODE;
    SELECT * INTO v_key FROM auth._signing_key_generate(alg, v_id);
    RETURN auth._add_signing_key(v_id, v_id::text, alg, state, v_key.public_jwk, v_key.private_key);
END
$$;
COMMENT ON FUNCTION auth.create_signing_key(text, text) IS
    'admin: makes a signing key (EdDSA, ES256, RS256 of 2048 bits, HS256 of 256 random bits), standby or current; returns its kid';
REVOKE ALL ON FUNCTION auth.create_signing_key(text, text) FROM PUBLIC;

CREATE FUNCTION auth.import_signing_key(jwk jsonb, state text DEFAULT 'standby')
RETURNS text
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_id uuid := gen_random_uuid();
    v_key record;
BEGIN
    IF jwk IS NULL OR pg_column_size(jwk) > 16384 THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'invalid signing key',
            DETAIL = 'A JWK of at most 16 kB.';
    END IF;
    LOCK TABLE auth.signing_keys IN SHARE ROW EXCLUSIVE MODE;
    SELECT * INTO v_key FROM auth._signing_key_import(jwk, v_id);
    RETURN auth._add_signing_key(v_id, coalesce(jwk->>'kid', v_id::text), v_key.algorithm,
                                 state, v_key.public_jwk, v_key.private_key);
END
$$;
COMMENT ON FUNCTION auth.import_signing_key(jsonb, text) IS
    'admin: brings an existing key or secret (a JWK with its private part; an HS256 secret of at least 32 bytes); returns its kid';
REVOKE ALL ON FUNCTION auth.import_signing_key(jsonb, text) FROM PUBLIC;

CREATE FUNCTION auth.rotate_signing_keys() RETURNS text
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_now timestamptz := auth.now();
    v_current auth.signing_keys;
    v_standby auth.signing_keys;
    v_id uuid := gen_random_uuid();
    v_key record;
BEGIN
    LOCK TABLE auth.signing_keys IN SHARE ROW EXCLUSIVE MODE;
    SELECT * INTO v_current FROM auth.signing_keys k WHERE k.state = 'current';
    SELECT * INTO v_standby FROM auth.signing_keys k WHERE k.state = 'standby'
     ORDER BY k.created_at LIMIT 1;
    IF v_standby.id IS NULL THEN
        -- nothing waits: a fresh key of the current one's algorithm signs
        SELECT * INTO v_key FROM auth._signing_key_generate(coalesce(v_current.algorithm, 'EdDSA'), v_id);
        INSERT INTO auth.signing_keys (id, kid, algorithm, state, public_jwk, private_key, created_at)
        VALUES (v_id, v_id::text, coalesce(v_current.algorithm, 'EdDSA'), 'standby',
                v_key.public_jwk, v_key.private_key, v_now)
        RETURNING * INTO v_standby;
        v_id := gen_random_uuid();
    END IF;
    UPDATE auth.signing_keys k SET state = 'previous', retired_at = v_now
     WHERE k.state = 'current';
    UPDATE auth.signing_keys k SET state = 'current', activated_at = v_now
     WHERE k.id = v_standby.id;
    -- a fresh standby of the same algorithm, published before it signs
    SELECT * INTO v_key FROM auth._signing_key_generate(v_standby.algorithm, v_id);
    INSERT INTO auth.signing_keys (id, kid, algorithm, state, public_jwk, private_key, created_at)
    VALUES (v_id, v_id::text, v_standby.algorithm, 'standby', v_key.public_jwk, v_key.private_key, v_now);
    PERFORM auth._audit('signing_keys_rotated', NULL, NULL, NULL,
                        jsonb_build_object('current', v_standby.kid, 'previous', v_current.kid,
                                           'standby', v_id::text));
    RETURN v_standby.kid;
END
$$;
COMMENT ON FUNCTION auth.rotate_signing_keys() IS
    'admin: standby becomes current, current becomes previous (verifying for auth.jwt_previous_key_grace), a fresh standby is made; returns the new current kid';
REVOKE ALL ON FUNCTION auth.rotate_signing_keys() FROM PUBLIC;

CREATE FUNCTION auth.revoke_signing_key(kid text) RETURNS boolean
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_id uuid;
BEGIN
    LOCK TABLE auth.signing_keys IN SHARE ROW EXCLUSIVE MODE;
    UPDATE auth.signing_keys k SET state = 'revoked', revoked_at = auth.now()
     WHERE k.kid = revoke_signing_key.kid AND k.state <> 'revoked'
    RETURNING k.id INTO v_id;
    IF v_id IS NULL THEN
        RETURN false;
    END IF;
    PERFORM auth._audit('signing_key_revoked', NULL, NULL, NULL,
                        jsonb_build_object('kid', kid));
    RETURN true;
END
$$;
COMMENT ON FUNCTION auth.revoke_signing_key(text) IS
    'admin: revokes a signing key: every token it signed is refused at once; false when unknown or already revoked';
REVOKE ALL ON FUNCTION auth.revoke_signing_key(text) FROM PUBLIC;

CREATE FUNCTION auth.jwks() RETURNS jsonb
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT jsonb_build_object('keys', coalesce(jsonb_agg(
               k.public_jwk || jsonb_build_object('kid', k.kid, 'alg', k.algorithm, 'use', 'sig')
               ORDER BY k.created_at, k.kid), '[]'))
      FROM auth.signing_keys k
     WHERE k.public_jwk IS NOT NULL
       AND (k.state IN ('current', 'standby')
            OR (k.state = 'previous'
                AND k.retired_at + auth._setting_interval('auth.jwt_previous_key_grace') > auth.now()))
$$;
COMMENT ON FUNCTION auth.jwks() IS
    'the public signing keys (current, standby, previous within its grace) as an RFC 7517 JWK set, for /.well-known/jwks.json; never a private part or an HS256 secret';
