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

-- 2. A JWT identity makes and manages no API key, and changes no
-- organization unless issued from a session.
BEGIN;
SELECT auth.authenticate(:'ann') IS NOT NULL AS ok;
SELECT (auth.create_api_key('ann-key', '{docs:read}')).key_id AS ann_key \gset
SELECT auth.create_organization('Acme', 'acme-jwtattack') AS acme \gset
SELECT auth.add_member(:'acme', :'bob_id', 'member');
SELECT auth.issue_jwt(scopes => '{docs:read}') AS t_narrow \gset
SELECT auth.issue_jwt() AS t_wide \gset
COMMIT;
BEGIN;
SELECT auth.authenticate_jwt(:'t_narrow') = :'ann_id' AS narrow_jwt;
SELECT pg_temp.err($$SELECT auth.create_api_key('wide', '{*}')$$) AS create_key;
SELECT pg_temp.err(format($$SELECT auth.rotate_api_key(%L)$$, :'ann_key')) AS rotate_key;
SELECT pg_temp.err(format($$SELECT auth.update_api_key(%L, name => 'x')$$, :'ann_key')) AS update_key;
SELECT pg_temp.err(format($$SELECT auth.revoke_api_key(%L)$$, :'ann_key')) AS revoke_key;
SELECT pg_temp.err($$SELECT count(*) FROM auth.list_api_keys()$$) AS list_keys;
SELECT pg_temp.err(format($$SELECT auth.set_active_organization(%L)$$, :'acme')) AS set_active_org;
SELECT pg_temp.err($$SELECT auth.create_organization('Evil')$$) AS create_org;
-- its scopes do not hold organization:update
SELECT pg_temp.err(format($$SELECT auth.update_organization(%L, name => 'Evil')$$, :'acme')) AS update_org;
ROLLBACK;
-- a token issued from a session with every scope may change an
-- organization its user administers
BEGIN;
SELECT auth.authenticate_jwt(:'t_wide') = :'ann_id' AS wide_jwt;
SELECT pg_temp.err(format($$SELECT auth.update_organization(%L, name => 'Acme Inc')$$, :'acme')) AS update_org;
SELECT pg_temp.err($$SELECT auth.create_api_key('wide', '{*}')$$) AS create_key;
ROLLBACK;
-- a service token (no sid) changes no organization
SELECT auth.issue_jwt_for(:'ann_id', '{*}', '1 hour', :'acme') AS t_service \gset
BEGIN;
SELECT auth.authenticate_jwt(:'t_service') = :'ann_id' AS service_jwt;
SELECT pg_temp.err(format($$SELECT auth.update_organization(%L, name => 'Evil')$$, :'acme')) AS update_org;
SELECT pg_temp.err(format($$SELECT auth.remove_member(%L, %L)$$, :'acme', :'bob_id')) AS remove_member;
SELECT auth.org_id() = :'acme' AS reads_in_acme;
ROLLBACK;
-- the key survived
SELECT count(*) AS ann_live_keys FROM auth.api_keys WHERE user_id = :'ann_id' AND revoked_at IS NULL;
