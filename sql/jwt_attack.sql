-- Signed tokens after the outside attack: a connection-scope JWT identity
-- through a key-cache reload, JWT identities refused the account's keys
-- and memberships, weak or inconsistent keys refused, caller claims that
-- policies read as identity facts refused, membership and the user row
-- checked for tokens without a live sid, the root key file.
\i sql/include/setup.psql
CREATE FUNCTION pg_temp.b64url(data bytea) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT rtrim(translate(replace(encode(data, 'base64'), E'\n', ''), '+/', '-_'), '=')
$$;
CREATE FUNCTION pg_temp.unb64url(s text) RETURNS bytea
LANGUAGE sql IMMUTABLE AS $$
    SELECT decode(rpad(translate(s, '-_', '+/'), (length(s) + 3) / 4 * 4, '='), 'base64')
$$;
CREATE FUNCTION pg_temp.payload(token text) RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
    SELECT convert_from(pg_temp.unb64url(split_part(token, '.', 2)), 'UTF8')::jsonb
$$;
CREATE FUNCTION pg_temp.v(token text) RETURNS text
LANGUAGE sql AS $$
    SELECT CASE WHEN v.valid THEN 'valid' ELSE v.code END FROM auth.verify_jwt(token) v
$$;

INSERT INTO auth.users (email, email_verified_at)
SELECT e || '@jwtattack.example', now() FROM unnest(ARRAY['ann', 'bob']) e;
SELECT id AS ann_id FROM auth.users WHERE email = 'ann@jwtattack.example' \gset
SELECT id AS bob_id FROM auth.users WHERE email = 'bob@jwtattack.example' \gset
SELECT token AS ann FROM auth.create_session(:'ann_id') \gset
SELECT auth.create_signing_key('EdDSA', 'current') IS NOT NULL AS key_made;
BEGIN;
SELECT auth.authenticate(:'ann') IS NOT NULL AS ok;
SELECT auth.issue_jwt() AS t_ann \gset
SELECT auth.issue_jwt(scopes => '{docs:read}') AS t_narrow \gset
COMMIT;

-- 1. A connection-scope JWT identity, then this same backend's key cache
-- invalidated: the next statement re-checks the identity, and the cache
-- reload's own query does not re-enter that check (it crashed the server).
SELECT auth.authenticate_jwt(:'t_ann', false) = :'ann_id' AS authenticated;
SELECT auth.create_signing_key() IS NOT NULL AS key_made;
SELECT auth.uid() = :'ann_id' AS still_ann;
BEGIN;
SELECT auth.rotate_signing_keys() IS NOT NULL AS rotated;
COMMIT;
SELECT auth.uid() = :'ann_id' AS still_ann_after_rotation;
SELECT auth.session_id() IS NOT NULL AS has_session;
RESET ALL;
SELECT auth.uid() IS NULL AS nobody;
