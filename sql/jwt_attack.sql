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
-- SQLSTATE, message and detail of a refusal.
CREATE FUNCTION pg_temp.errd(statement text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE d text;
BEGIN
    EXECUTE statement;
    RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS d = PG_EXCEPTION_DETAIL;
    RETURN SQLSTATE || ': ' || SQLERRM || coalesce(' / ' || nullif(d, ''), '');
END
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
-- a transaction sending more invalidations than the shared queue holds
-- resets every cache of the backend (its own included)
CREATE TABLE jwt_attack_flood (a int);
DO $$ BEGIN FOR i IN 1..3000 LOOP EXECUTE format('ALTER TABLE jwt_attack_flood ALTER COLUMN a SET STATISTICS %s', i % 100); END LOOP; END $$;
SELECT auth.uid() = :'ann_id' AS still_ann_after_flood;
DROP TABLE jwt_attack_flood;
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

-- 3. Keys OpenSSL would take but that sign nothing safely: an RSA exponent
-- of 1 (the signature is the padded hash: anyone forges it) or 3, and an
-- EC private key whose d is not the private key of its x, y.
\set rfc_n 'ofgWCuLjybRlzo0tZWJjNiuSfb4p4fAkd_wWJcyQoTbji9k0l8W26mPddxHmfHQp-Vaw-4qPCJrcS2mJPMEzP1Pt0Bm4d4QlL-yRT-SFd2lZS-pCgNMsD1W_YpRPEwOWvG6b32690r2jZ47soMZo9wGzjb_7OMg0LOL-bSf63kpaSHSXndS5z5rexMdbBYUsLA9e-KXBdQOS-UTo7WTBEMa2R2CapHg665xsmtdVMTBQY4uDZlxvb3qCo5ZwKh9kG4LT6_I5IhlJH7aGhyxXFvUK-DWNmoudF8NAco9_h9iaGNj8q2ethFkMLs91kzk2PAcDTW9gb54h4FRWyuXpoQ'
SELECT pg_temp.errd(format($$SELECT auth.add_issuer('https://weak.example', %L)$$,
       jsonb_build_object('keys', jsonb_build_array(jsonb_build_object('kty', 'RSA', 'n', :'rfc_n', 'e', 'AQ')))))
       AS rsa_e1_issuer;
SELECT pg_temp.errd(format($$SELECT auth.add_issuer('https://weak.example', %L)$$,
       jsonb_build_object('keys', jsonb_build_array(jsonb_build_object('kty', 'RSA', 'n', :'rfc_n', 'e', 'Aw')))))
       AS rsa_e3_issuer;
SELECT pg_temp.errd(format($$SELECT auth.add_issuer('https://weak.example', %L)$$,
       jsonb_build_object('keys', jsonb_build_array(jsonb_build_object('kty', 'RSA', 'n', :'rfc_n', 'e', 'AQAA')))))
       AS rsa_even_issuer;
SELECT pg_temp.errd(format($$SELECT auth.import_signing_key(%L)$$,
       jsonb_build_object('kty', 'RSA', 'n', :'rfc_n', 'e', 'AQ', 'd', 'AQ', 'p', 'AQ', 'q', 'AQ',
                          'dp', 'AQ', 'dq', 'AQ', 'qi', 'AQ'))) AS rsa_e1_import;
-- the RFC 7515 A.3 public key with another d
SELECT pg_temp.errd($$SELECT auth.import_signing_key('{"kty":"EC","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0","d":"AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE"}')$$) AS ec_wrong_d;
-- its own d still imports
SELECT auth.import_signing_key('{"kty":"EC","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0","d":"jpsQnnGQmL-YBIffH1136cspYG6-0iY7X1fCE9-E9LI"}') IS NOT NULL AS ec_right_d;
-- an EC point off the curve
SELECT pg_temp.errd($$SELECT auth.add_issuer('https://weak.example', '{"keys": [{"kty":"EC","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE"}]}')$$) AS ec_off_curve;
SELECT count(*) AS weak_issuers FROM auth.issuers WHERE issuer = 'https://weak.example';

-- 4. Claims policies read as facts about the identity are not the caller's.
BEGIN;
SELECT auth.authenticate(:'ann') IS NOT NULL AS ok;
SELECT pg_temp.errd($$SELECT auth.issue_jwt(claims => '{"email": "bob@x", "app_metadata": {"role": "admin"}, "user_role": "admin", "is_anonymous": true}')$$) AS facts;
SELECT pg_temp.err(format($$SELECT auth.issue_jwt(claims => %L)$$, jsonb_build_object(c, 'x'))) AS refused, c
  FROM unnest(ARRAY['email', 'phone', 'app_metadata', 'user_metadata', 'user_role', 'is_anonymous',
                    'session_id', 'aal', 'amr', 'role']) c;
SELECT auth.issue_jwt(claims => '{"plan": "pro"}') IS NOT NULL AS own_claims_ok;
COMMIT;
-- An external issuer's token: role, aal, org, session_id and sub are the
-- identity's, not the issuer's.  The issuer's key is RFC 7515 A.3's, made
-- this database's current key only to sign its tokens here.
SELECT auth.import_signing_key('{"kty":"EC","crv":"P-256","kid":"ext-1","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0","d":"jpsQnnGQmL-YBIffH1136cspYG6-0iY7X1fCE9-E9LI"}', 'current') AS ext_kid;
SELECT auth.add_issuer('https://ext.example', '{"keys": [{"kty":"EC","crv":"P-256","kid":"ext-1","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}]}',
                       subject_mapping => 'uuid');
SELECT auth._jwt_sign(jsonb_build_object('iss', 'https://ext.example', 'sub', :'bob_id',
           'exp', floor(extract(epoch FROM auth.now()))::bigint + 600,
           'role', 'service_role', 'aal', 'aal2', 'org', gen_random_uuid(),
           'session_id', gen_random_uuid(), 'sid', gen_random_uuid(), 'email', 'bob@ext.example')) AS t_ext \gset
SELECT auth.create_signing_key('EdDSA', 'current') IS NOT NULL AS own_key_current;
BEGIN;
SELECT auth.authenticate_jwt(:'t_ext') = :'bob_id' AS external_bob;
SELECT auth.jwt() ->> 'role' AS role, auth.jwt() ->> 'aal' AS aal, auth.jwt() ? 'org' AS has_org,
       auth.jwt() ? 'session_id' AS has_session_id, auth.jwt() ? 'sid' AS has_sid,
       auth.jwt() ->> 'sub' = :'bob_id' AS sub_is_bob, auth.jwt() ->> 'email' AS issuer_email,
       auth.jwt() ->> 'iss' AS iss;
COMMIT;

-- 5. A removed member's JWT no longer acts in the organization: the
-- identity keeps its user, without the org (one probe of auth.members).
SELECT token AS bob FROM auth.create_session(:'bob_id') \gset
BEGIN;
SELECT auth.authenticate(:'bob') IS NOT NULL AS ok;
SELECT auth.set_active_organization(:'acme');
SELECT auth.issue_jwt() AS t_bob_org \gset
COMMIT;
SELECT auth.issue_jwt_for(:'bob_id', '{*}', '1 hour', :'acme') AS t_bob_service \gset
SELECT auth.authenticate_jwt(:'t_bob_org', false) = :'bob_id' AS bob_connection;
SELECT auth.org_id() = :'acme' AS in_acme, auth.jwt() ->> 'org' = :'acme' AS claims_acme;
BEGIN;
SELECT auth.authenticate(:'ann') IS NOT NULL AS ok;
SELECT auth.remove_member(:'acme', :'bob_id');
COMMIT;
-- the connection-scope identity, at its next transaction
SELECT auth.uid() = :'bob_id' AS still_bob, auth.org_id() IS NULL AS no_org,
       auth.jwt() ? 'org' AS claims_org, auth.is_member(:'acme') AS member;
RESET ALL;
BEGIN;
SELECT auth.authenticate_jwt(:'t_bob_org') = :'bob_id' AS bob_session_jwt;
SELECT auth.org_id() IS NULL AS no_org, auth.jwt() ? 'org' AS claims_org;
ROLLBACK;
BEGIN;
SELECT auth.authenticate_jwt(:'t_bob_service') = :'bob_id' AS bob_service_jwt;
SELECT auth.org_id() IS NULL AS no_org;
ROLLBACK;
-- not checked with auth.jwt_check_revocation off (documented)
BEGIN;
SET LOCAL auth.jwt_check_revocation = off;
SELECT auth.authenticate_jwt(:'t_bob_org') = :'bob_id' AS unchecked;
SELECT auth.org_id() = :'acme' AS org_kept;
ROLLBACK;

-- 6. Tokens without a session or key behind them (service tokens, an
-- external issuer's) check their user: banned is REVOKED, deleted (or
-- never there) UNKNOWN_SUBJECT, unless auth.jwt_check_revocation is off.
INSERT INTO auth.users (email, email_verified_at) VALUES ('cid@jwtattack.example', now());
SELECT id AS cid_id FROM auth.users WHERE email = 'cid@jwtattack.example' \gset
SELECT auth.issue_jwt_for(:'bob_id', '{}', '1 hour') AS t_bob_svc \gset
SELECT auth.issue_jwt_for(:'cid_id', '{}', '1 hour') AS t_cid_svc \gset
SELECT auth.import_signing_key('{"kty":"EC","crv":"P-256","kid":"ext-2","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0","d":"jpsQnnGQmL-YBIffH1136cspYG6-0iY7X1fCE9-E9LI"}', 'current') AS ext_kid;
SELECT auth.set_issuer_jwks('https://ext.example', '{"keys": [{"kty":"EC","crv":"P-256","kid":"ext-2","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}]}');
SELECT auth._jwt_sign(jsonb_build_object('iss', 'https://ext.example', 'sub', :'bob_id',
           'exp', floor(extract(epoch FROM auth.now()))::bigint + 600)) AS t_ext_bob \gset
SELECT auth._jwt_sign(jsonb_build_object('iss', 'https://ext.example', 'sub', :'cid_id',
           'exp', floor(extract(epoch FROM auth.now()))::bigint + 600)) AS t_ext_cid \gset
SELECT auth._jwt_sign(jsonb_build_object('iss', 'https://ext.example', 'sub', gen_random_uuid(),
           'exp', floor(extract(epoch FROM auth.now()))::bigint + 600)) AS t_ext_nobody \gset
SELECT auth.create_signing_key('EdDSA', 'current') IS NOT NULL AS own_key_current;
SELECT pg_temp.v(:'t_bob_svc') AS bob_svc, pg_temp.v(:'t_ext_bob') AS bob_ext,
       pg_temp.v(:'t_cid_svc') AS cid_svc, pg_temp.v(:'t_ext_cid') AS cid_ext,
       pg_temp.v(:'t_ext_nobody') AS nobody_ext;
-- a connection-scope identity of a service token, then the ban
SELECT auth.authenticate_jwt(:'t_bob_svc', false) = :'bob_id' AS bob_connection;
SELECT (auth.ban_user(:'bob_id')).sessions_revoked >= 0 AS banned;
SELECT auth.delete_user(:'cid_id');
SELECT auth.uid() IS NULL AS bob_gone;
RESET ALL;
SELECT pg_temp.v(:'t_bob_svc') AS bob_svc, pg_temp.v(:'t_ext_bob') AS bob_ext,
       pg_temp.v(:'t_cid_svc') AS cid_svc, pg_temp.v(:'t_ext_cid') AS cid_ext,
       pg_temp.v(:'t_ext_nobody') AS nobody_ext;
SELECT pg_temp.errd(format($$SELECT auth.authenticate_jwt(%L)$$, :'t_bob_svc')) ~ 'REVOKED' AS refused_banned,
       pg_temp.errd(format($$SELECT auth.authenticate_jwt(%L)$$, :'t_cid_svc')) ~ 'UNKNOWN_SUBJECT' AS refused_deleted;
BEGIN;
SET LOCAL auth.jwt_check_revocation = off;
SELECT pg_temp.v(:'t_bob_svc') AS bob_svc, pg_temp.v(:'t_ext_bob') AS bob_ext,
       pg_temp.v(:'t_ext_nobody') AS nobody_ext;
ROLLBACK;
SELECT auth.unban_user(:'bob_id');
SELECT pg_temp.v(:'t_bob_svc') AS bob_svc, pg_temp.v(:'t_ext_bob') AS bob_ext;

-- 7. With sealed keys about, a missing root key file is not replaced by a
-- new one (that would orphan every sealed key): 55000, and no file made.
SET auth.root_key_file = 'jwt_attack_absent.key';
SELECT regexp_replace(pg_temp.errd($$SELECT auth.create_signing_key('HS256')$$), '"[^"]*"', '"<path>"') AS missing_file;
SELECT pg_stat_file('jwt_attack_absent.key', true) IS NULL AS no_file_made;
RESET auth.root_key_file;
SELECT auth.create_signing_key('HS256') IS NOT NULL AS with_the_file;

-- 8. The key cache holds at most 256 keys: revoked ones never crowd out
-- the current key.  And auth.check() names an issuer without audiences.
SELECT count(auth.create_signing_key()) AS standby_keys FROM generate_series(1, 300);
SELECT count(*) FILTER (WHERE auth.revoke_signing_key(k.kid)) >= 300 AS revoked
  FROM auth.signing_keys k WHERE k.state = 'standby';
SELECT auth.create_signing_key('EdDSA', 'current') IS NOT NULL AS fresh_current;
BEGIN;
SELECT auth.authenticate(:'ann') IS NOT NULL AS ok;
SELECT auth.issue_jwt() AS t_after_many \gset
COMMIT;
SELECT pg_temp.v(:'t_after_many') AS after_many_revoked;
SELECT "check", ok FROM auth.check() WHERE "check" = 'issuer audiences';
SELECT auth.remove_issuer('https://ext.example');
