-- issuers: trusted external issuers of JWTs (an OIDC provider, another
-- service).  The application pushes their JWKS; the database fetches
-- nothing.  Their subjects map to users through auth.identities, or are
-- user ids themselves (subject_mapping 'uuid').

CREATE TABLE auth.issuers (
    issuer          text PRIMARY KEY,
    jwks            jsonb NOT NULL,
    audiences       text[],           -- NULL: any; else aud must name one
    subject_mapping text NOT NULL DEFAULT 'identity',
    created_at      timestamptz NOT NULL DEFAULT auth.now(),
    keys_set_at     timestamptz NOT NULL DEFAULT auth.now(),
    CONSTRAINT issuers_issuer_check CHECK (length(issuer) BETWEEN 1 AND 512),
    CONSTRAINT issuers_subject_mapping_check CHECK (subject_mapping IN ('identity', 'uuid'))
);
ALTER TABLE auth.issuers ENABLE ROW LEVEL SECURITY;
SELECT pg_catalog.pg_extension_config_dump('auth.issuers', '');
COMMENT ON TABLE auth.issuers IS
    'trusted external issuers of JWTs and their public keys (JWKS)';

CREATE TRIGGER issuers_changed
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON auth.issuers
    FOR EACH STATEMENT EXECUTE FUNCTION auth._jwt_keys_changed();

CREATE TABLE auth.identities (
    issuer     text NOT NULL REFERENCES auth.issuers (issuer) ON DELETE CASCADE,
    subject    text NOT NULL,
    user_id    uuid NOT NULL REFERENCES auth.users (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT auth.now(),
    PRIMARY KEY (issuer, subject),
    CONSTRAINT identities_subject_check CHECK (length(subject) BETWEEN 1 AND 255)
);
CREATE INDEX identities_user_id_idx ON auth.identities (user_id);
ALTER TABLE auth.identities ENABLE ROW LEVEL SECURITY;
SELECT pg_catalog.pg_extension_config_dump('auth.identities', '');
COMMENT ON TABLE auth.identities IS
    'links from an external issuer''s subject to a user';

CREATE FUNCTION auth._jwks_check(jwks jsonb) RETURNS integer
    AS 'MODULE_PATHNAME', 'auth_jwks_check'
    LANGUAGE C IMMUTABLE STRICT;
COMMENT ON FUNCTION auth._jwks_check(jsonb) IS
    'internal: the number of public RS256, ES256 and EdDSA keys in a JWKS; 22023 for anything else';
REVOKE ALL ON FUNCTION auth._jwks_check(jsonb) FROM PUBLIC;

CREATE FUNCTION auth._check_jwks(jwks jsonb) RETURNS void
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF jwks IS NULL OR octet_length(jwks::text) > 65536 THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'invalid JWKS',
            DETAIL = 'A JWKS of at most 64 kB.';
    END IF;
    IF auth._jwks_check(jwks) > 32 THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'invalid JWKS',
            DETAIL = 'An issuer has at most 32 keys.';
    END IF;
END
$$;
COMMENT ON FUNCTION auth._check_jwks(jsonb) IS
    'internal: validates an issuer''s JWKS (22023)';
REVOKE ALL ON FUNCTION auth._check_jwks(jsonb) FROM PUBLIC;

CREATE FUNCTION auth.add_issuer(issuer text, jwks jsonb, audiences text[] DEFAULT NULL,
                                subject_mapping text DEFAULT 'identity')
RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF issuer IS NULL OR length(issuer) NOT BETWEEN 1 AND 512 THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'an issuer is 1 to 512 characters';
    END IF;
    IF issuer = auth._jwt_issuer() THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'the issuer is this database''s own',
            HINT = 'Its keys are the signing keys: auth.import_signing_key().';
    END IF;
    IF subject_mapping IS NULL OR subject_mapping NOT IN ('identity', 'uuid') THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'invalid subject mapping',
            HINT = 'identity (through auth.identities) or uuid (sub is the user id).';
    END IF;
    IF audiences IS NOT NULL AND (cardinality(audiences) > 16 OR EXISTS (
            SELECT FROM unnest(audiences) a WHERE a IS NULL OR length(a) NOT BETWEEN 1 AND 512)) THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'invalid audiences',
            DETAIL = 'At most 16 audiences of 1 to 512 characters.';
    END IF;
    PERFORM auth._check_jwks(jwks);
    IF EXISTS (SELECT FROM auth.issuers i WHERE i.issuer = add_issuer.issuer) THEN
        RAISE EXCEPTION USING ERRCODE = '23505', MESSAGE = 'issuer already exists',
            HINT = 'Refresh its keys with auth.set_issuer_jwks().';
    END IF;
    INSERT INTO auth.issuers (issuer, jwks, audiences, subject_mapping)
    VALUES (issuer, jwks, audiences, subject_mapping);
    PERFORM auth._audit('issuer_added', NULL, NULL, NULL,
                        jsonb_build_object('issuer', issuer, 'subject_mapping', subject_mapping));
END
$$;
COMMENT ON FUNCTION auth.add_issuer(text, jsonb, text[], text) IS
    'admin: trusts an external issuer of JWTs with its public keys (JWKS); subject_mapping identity (auth.identities) or uuid';
REVOKE ALL ON FUNCTION auth.add_issuer(text, jsonb, text[], text) FROM PUBLIC;

CREATE FUNCTION auth.set_issuer_jwks(issuer text, jwks jsonb) RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM auth._check_jwks(jwks);
    UPDATE auth.issuers i SET jwks = set_issuer_jwks.jwks, keys_set_at = auth.now()
     WHERE i.issuer = set_issuer_jwks.issuer;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'issuer does not exist';
    END IF;
    PERFORM auth._audit('issuer_keys_set', NULL, NULL, NULL, jsonb_build_object('issuer', issuer));
END
$$;
COMMENT ON FUNCTION auth.set_issuer_jwks(text, jsonb) IS
    'admin: replaces an issuer''s public keys (the application refreshes them; the database fetches nothing)';
REVOKE ALL ON FUNCTION auth.set_issuer_jwks(text, jsonb) FROM PUBLIC;

CREATE FUNCTION auth.remove_issuer(issuer text) RETURNS boolean
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    DELETE FROM auth.issuers i WHERE i.issuer = remove_issuer.issuer;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    PERFORM auth._audit('issuer_removed', NULL, NULL, NULL, jsonb_build_object('issuer', issuer));
    RETURN true;
END
$$;
COMMENT ON FUNCTION auth.remove_issuer(text) IS
    'admin: stops trusting an issuer (its tokens are refused at once) and drops its identity links';
REVOKE ALL ON FUNCTION auth.remove_issuer(text) FROM PUBLIC;

CREATE FUNCTION auth.link_identity(issuer text, subject text, user_id uuid) RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF subject IS NULL OR length(subject) NOT BETWEEN 1 AND 255 THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'a subject is 1 to 255 characters';
    END IF;
    IF NOT EXISTS (SELECT FROM auth.issuers i WHERE i.issuer = link_identity.issuer) THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'issuer does not exist';
    END IF;
    IF NOT EXISTS (SELECT FROM auth.users u WHERE u.id = link_identity.user_id) THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'user does not exist';
    END IF;
    INSERT INTO auth.identities (issuer, subject, user_id)
    VALUES (issuer, subject, user_id)
    ON CONFLICT ON CONSTRAINT identities_pkey DO UPDATE SET user_id = EXCLUDED.user_id;
END
$$;
COMMENT ON FUNCTION auth.link_identity(text, text, uuid) IS
    'admin: maps an external issuer''s subject to a user (replacing an earlier link)';
REVOKE ALL ON FUNCTION auth.link_identity(text, text, uuid) FROM PUBLIC;
