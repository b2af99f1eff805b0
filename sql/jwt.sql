-- Signed tokens: signing keys (created, imported, rotated, revoked), issuing
-- from a session or an API key, every verification code, the jwt identity,
-- auth.jwt(), revocation through sid, the examples of RFC 7515 and RFC 8037,
-- external issuers, and row-level security with a JWT identity.
\i sql/include/setup.psql

-- The verdict on a token without the token.
CREATE FUNCTION pg_temp.v(token text, audience text DEFAULT NULL) RETURNS text
LANGUAGE sql AS $$
    SELECT CASE WHEN v.valid THEN 'valid' ELSE v.code END
      FROM auth.verify_jwt(token, audience) v
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
CREATE FUNCTION pg_temp.b64url(data bytea) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT rtrim(translate(replace(encode(data, 'base64'), E'\n', ''), '+/', '-_'), '=')
$$;
CREATE FUNCTION pg_temp.unb64url(s text) RETURNS bytea
LANGUAGE sql IMMUTABLE AS $$
    SELECT decode(rpad(translate(s, '-_', '+/'), (length(s) + 3) / 4 * 4, '='), 'base64')
$$;
-- A token signed in SQL (pgcrypto's hmac) with an HS256 secret.
CREATE FUNCTION pg_temp.hs(header text, payload text, secret bytea) RETURNS text
LANGUAGE sql AS $$
    SELECT s || '.' || pg_temp.b64url(hmac(convert_to(s, 'UTF8'), secret, 'sha256'))
      FROM (SELECT pg_temp.b64url(convert_to(header, 'UTF8')) || '.' ||
                   pg_temp.b64url(convert_to(payload, 'UTF8')) AS s) x
$$;
CREATE FUNCTION pg_temp.epoch(offset_secs int DEFAULT 0) RETURNS bigint
LANGUAGE sql AS $$ SELECT floor(extract(epoch FROM auth.now()))::bigint + offset_secs $$;

INSERT INTO auth.users (email, email_verified_at)
SELECT e || '@jwt.example', now() FROM unnest(ARRAY['jane', 'joel', 'jude']) e;
SELECT id AS jane_id FROM auth.users WHERE email = 'jane@jwt.example' \gset
SELECT id AS joel_id FROM auth.users WHERE email = 'joel@jwt.example' \gset
SELECT id AS jude_id FROM auth.users WHERE email = 'jude@jwt.example' \gset
SELECT token AS jane FROM auth.create_session(:'jane_id') \gset
SELECT token AS joel FROM auth.create_session(:'joel_id') \gset
SELECT token AS jude FROM auth.create_session(:'jude_id') \gset

-- Issuing needs a session or an API key.
SELECT pg_temp.err($$SELECT auth.issue_jwt()$$);
-- The first token ever issued makes the first key: EdDSA, current.
SELECT count(*) AS keys_before FROM auth.signing_keys;
BEGIN;
SELECT auth.authenticate(:'jane') IS NOT NULL AS authenticated;
SELECT auth.issue_jwt() AS t_jane \gset
SELECT auth.issue_jwt(audience => 'api', scopes => '{docs:read}', claims => '{"plan": "pro"}') AS t_aud \gset
SELECT auth.issue_jwt(ttl => '24 hours') AS t_long \gset
-- refusals: wider scopes are not the session's to give? a session holds every scope
SELECT pg_temp.err($$SELECT auth.issue_jwt(ttl => '25 hours')$$);
SELECT pg_temp.err($$SELECT auth.issue_jwt(ttl => '-1 minute')$$);
SELECT pg_temp.err($$SELECT auth.issue_jwt(claims => '{"sub": "someone else"}')$$);
SELECT pg_temp.err($$SELECT auth.issue_jwt(claims => '[1]')$$);
SELECT pg_temp.err($$SELECT auth.issue_jwt(claims => jsonb_build_object('big', repeat('x', 5000)))$$);
SELECT pg_temp.err($$SELECT auth.issue_jwt(scopes => '{"bad scope"}')$$);
COMMIT;
SELECT algorithm, state FROM auth.signing_keys;
SELECT kid AS k1 FROM auth.signing_keys WHERE state = 'current' \gset
-- compact form: three base64url parts, the header naming the key
SELECT :'t_jane' ~ '^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$' AS compact,
       convert_from(pg_temp.unb64url(split_part(:'t_jane', '.', 1)), 'UTF8')::jsonb - 'kid' AS header,
       convert_from(pg_temp.unb64url(split_part(:'t_jane', '.', 1)), 'UTF8')::jsonb ->> 'kid' = :'k1' AS names_key;

-- Verification: the claims of a valid token.
SELECT valid, code, user_id = :'jane_id' AS is_jane, kid = :'k1' AS kid_ok,
       ARRAY(SELECT jsonb_object_keys(claims) ORDER BY 1) AS claim_names,
       claims ->> 'iss' AS iss, claims ->> 'role' AS role, claims -> 'scopes' AS scopes,
       claims ->> 'session_id' = claims ->> 'sid' AS sid_is_session,
       (claims ->> 'exp')::bigint - (claims ->> 'iat')::bigint AS lifetime
  FROM auth.verify_jwt(:'t_jane');
SELECT claims ->> 'aud' AS aud, claims -> 'scopes' AS scopes, claims ->> 'plan' AS plan
  FROM auth.verify_jwt(:'t_aud');
SELECT pg_temp.v(:'t_aud', 'api') AS right_audience, pg_temp.v(:'t_aud', 'web') AS wrong_audience,
       pg_temp.v(:'t_jane', 'api') AS token_without_aud;
-- jwks: the public keys, never a private part
SELECT jsonb_array_length(auth.jwks() -> 'keys') AS published,
       ARRAY(SELECT jsonb_object_keys(auth.jwks() -> 'keys' -> 0) ORDER BY 1) AS members;

-- The jwt identity: auth.uid(), session_id(), scopes() and auth.jwt() work
-- unchanged.
BEGIN;
SELECT auth.authenticate_jwt(:'t_jane') = :'jane_id' AS authenticated;
SELECT auth.uid() = :'jane_id' AS uid, auth.session_id() IS NOT NULL AS session_id,
       auth.api_key_id() IS NULL AS no_key, auth.scopes(), auth.has_scope('anything'),
       auth.identity() ->> 'kind' AS kind;
SELECT auth.jwt() ->> 'role' AS role, auth.jwt() ->> 'sub' = :'jane_id' AS sub,
       auth.jwt() ->> 'aal' AS aal;
-- a JWT identity mints no further JWTs, and manages no account
SELECT pg_temp.err($$SELECT auth.issue_jwt()$$);
SELECT pg_temp.err($$SELECT auth.revoke_other_sessions()$$);
COMMIT;
SELECT auth.uid() IS NULL AS cleared_at_commit, auth.jwt() IS NULL AS no_claims;
BEGIN;
SELECT auth.authenticate_jwt(:'t_aud') IS NOT NULL AS authenticated;
SELECT auth.scopes(), auth.has_scope('docs:read') AS read, auth.has_scope('docs:write') AS write,
       auth.jwt() ->> 'plan' AS plan;
COMMIT;
-- auth.jwt() for the other kinds, in the same shape
BEGIN;
SELECT auth.authenticate(:'jane') IS NOT NULL AS authenticated;
SELECT auth.jwt() - 'sub' - 'session_id' AS session_claims,
       auth.jwt() ->> 'session_id' = auth.session_id()::text AS session_id;
COMMIT;
SELECT pg_temp.err($$SELECT auth.authenticate_jwt(NULL)$$);
SELECT pg_temp.errd($$SELECT auth.authenticate_jwt('x.y.z')$$);
SELECT pg_temp.err($$SELECT auth.authenticate_jwt('x.y.z', NULL)$$);
SELECT valid, code, user_id, claims, kid FROM auth.verify_jwt(NULL);

-- Every malformed variant gets its code.
SELECT split_part(:'t_jane', '.', 1) AS h, split_part(:'t_jane', '.', 2) AS p,
       split_part(:'t_jane', '.', 3) AS s \gset
SELECT pg_temp.v(:'h' || '.' || :'p' || '.' || :'s' || '=') AS padding,
       pg_temp.v(:'t_jane' || '.' || :'s') AS extra_segment,
       pg_temp.v(:'h' || '.' || :'p') AS two_segments,
       pg_temp.v(:'h' || '.' || :'p' || '.') AS empty_signature,
       pg_temp.v(:'h' || '.' || :'p' || '.' || CASE WHEN left(:'s', 1) = 'A' THEN 'B' ELSE 'A' END || substr(:'s', 2)) AS altered_signature,
       pg_temp.v(:'h' || '.' || pg_temp.b64url(convert_to(replace(convert_from(pg_temp.unb64url(:'p'), 'UTF8'), '"aal1"', '"aal2"'), 'UTF8')) || '.' || :'s') AS altered_claims,
       pg_temp.v(repeat('a', 3000) || '.' || repeat('b', 3000) || '.' || repeat('c', 3000)) AS huge,
       pg_temp.v(:'h' || '.' || :'p' || '.' || :'s' || '+') AS not_base64url,
       pg_temp.v('') AS empty;
-- alg none, and the algorithm switched to HS256 with the public key as the
-- secret (the classic confusion): the key decides the algorithm
SELECT pg_temp.b64url(convert_to(format('{"alg":"none","kid":"%s"}', :'k1'), 'UTF8')) AS h_none \gset
SELECT pg_temp.v(:'h_none' || '.' || :'p' || '.') AS alg_none_unsigned,
       pg_temp.v(:'h_none' || '.' || :'p' || '.' || :'s') AS alg_none_signed,
       pg_temp.v(pg_temp.hs(format('{"alg":"HS256","kid":"%s"}', :'k1'),
                            convert_from(pg_temp.unb64url(:'p'), 'UTF8'),
                            pg_temp.unb64url((SELECT k.public_jwk ->> 'x' FROM auth.signing_keys k WHERE k.kid = :'k1')))) AS alg_switched,
       pg_temp.v(pg_temp.b64url(convert_to('{"alg":"EdDSA","kid":"no-such-key"}', 'UTF8')) || '.' || :'p' || '.' || :'s') AS wrong_kid,
       pg_temp.v(pg_temp.b64url(convert_to(format('{"alg":"EdDSA","kid":"%s","crit":["exp"]}', :'k1'), 'UTF8')) || '.' || :'p' || '.' || :'s') AS crit;

-- HS256 keys: a secret of 32 bytes or more, imported; tokens signed here in
-- SQL with pgcrypto's hmac() check the claims one by one.
SELECT pg_temp.errd($$SELECT auth.import_signing_key('{"kty": "oct", "k": "c2hvcnQ"}')$$) AS weak;
SELECT pg_temp.errd($$SELECT auth.import_signing_key('{"kty": "oct"}')$$) AS no_secret;
SELECT pg_temp.errd($$SELECT auth.import_signing_key('{"kty": "OKP", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}')$$) AS public_only;
SELECT pg_temp.errd($$SELECT auth.import_signing_key('{"kty": "EC", "crv": "P-384", "x": "AA", "y": "AA", "d": "AA"}')$$) AS wrong_curve;
SELECT pg_temp.errd($$SELECT auth.import_signing_key('{"kty": "oct", "alg": "HS512", "k": "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJw"}')$$) AS alg_mismatch;
SELECT pg_temp.errd($$SELECT auth.import_signing_key('"text"')$$) AS not_object;
SELECT pg_temp.err($$SELECT auth.create_signing_key('PS256')$$) AS bad_alg;
SELECT pg_temp.err($$SELECT auth.create_signing_key('EdDSA', 'previous')$$) AS bad_state;
SELECT auth.import_signing_key(jsonb_build_object('kty', 'oct', 'kid', 'hs-test',
           'k', pg_temp.b64url(sha256('a test secret') || sha256('more'))), 'standby') AS hs_kid;
SELECT pg_temp.err($$SELECT auth.import_signing_key(jsonb_build_object('kty', 'oct', 'kid', 'hs-test', 'k', pg_temp.b64url(sha256('x'))))$$) AS kid_taken;
SELECT sha256('a test secret') || sha256('more') AS hs_secret \gset
CREATE FUNCTION pg_temp.hs_token(claims jsonb) RETURNS text LANGUAGE sql AS $$
    SELECT pg_temp.hs('{"alg":"HS256","kid":"hs-test","typ":"JWT"}', claims::text,
                      sha256('a test secret') || sha256('more'))
$$;
SELECT format('{"iss": "auth", "sub": "%s", "exp": %s}', :'joel_id', pg_temp.epoch(600)) AS base \gset
SELECT pg_temp.v(pg_temp.hs_token(:'base')) AS hs_valid,
       pg_temp.v(pg_temp.hs('{"alg":"HS256","kid":"hs-test"}', :'base', sha256('wrong'))) AS hs_wrong_secret,
       pg_temp.v(pg_temp.hs('{"alg":"HS256","kid":"hs-test"}',
                 format('{"iss": "auth", "sub": "%s", "sub": "%s", "exp": %s}', :'joel_id', :'jane_id', pg_temp.epoch(600)),
                 :'hs_secret')) AS duplicate_claims,
       pg_temp.v(pg_temp.hs('{"alg":"HS256","alg":"HS256","kid":"hs-test"}', :'base', :'hs_secret')) AS duplicate_header,
       pg_temp.v(pg_temp.hs_token(jsonb_build_object('iss', 'auth', 'sub', :'joel_id', 'exp', pg_temp.epoch(-20)))) AS expired_within_leeway,
       pg_temp.v(pg_temp.hs_token(jsonb_build_object('iss', 'auth', 'sub', :'joel_id', 'exp', pg_temp.epoch(-40)))) AS expired_beyond_leeway,
       pg_temp.v(pg_temp.hs_token(jsonb_build_object('iss', 'auth', 'sub', :'joel_id', 'exp', pg_temp.epoch(600), 'nbf', pg_temp.epoch(20)))) AS nbf_within_leeway,
       pg_temp.v(pg_temp.hs_token(jsonb_build_object('iss', 'auth', 'sub', :'joel_id', 'exp', pg_temp.epoch(600), 'nbf', pg_temp.epoch(120)))) AS nbf_ahead,
       pg_temp.v(pg_temp.hs_token(jsonb_build_object('iss', 'auth', 'sub', :'joel_id'))) AS no_exp,
       pg_temp.v(pg_temp.hs_token(jsonb_build_object('iss', 'auth', 'sub', :'joel_id', 'exp', 'soon'))) AS exp_not_number,
       pg_temp.v(pg_temp.hs('{"alg":"HS256","kid":"hs-test"}', format('{"iss": "auth", "sub": "%s", "exp": 1e400}', :'joel_id'), :'hs_secret')) AS exp_huge,
       pg_temp.v(pg_temp.hs_token(jsonb_build_object('iss', 'elsewhere', 'sub', :'joel_id', 'exp', pg_temp.epoch(600)))) AS wrong_issuer,
       pg_temp.v(pg_temp.hs_token(jsonb_build_object('sub', :'joel_id', 'exp', pg_temp.epoch(600)))) AS no_issuer,
       pg_temp.v(pg_temp.hs_token(jsonb_build_object('iss', 'auth', 'sub', 'joel', 'exp', pg_temp.epoch(600)))) AS sub_not_uuid,
       pg_temp.v(pg_temp.hs_token(jsonb_build_object('iss', 'auth', 'sub', :'joel_id', 'exp', pg_temp.epoch(600), 'sid', :'joel_id'))) AS sid_of_nothing,
       pg_temp.v(pg_temp.hs_token(jsonb_build_object('iss', 'auth', 'sub', :'joel_id', 'exp', pg_temp.epoch(600), 'aud', jsonb_build_array('a', 'api'))), 'api') AS audience_in_array,
       pg_temp.v(pg_temp.hs('{"alg":"HS256","kid":"hs-test"}', '["not", "an", "object"]', :'hs_secret')) AS claims_not_object,
       pg_temp.v(pg_temp.hs('{"alg":"HS256","kid":"hs-test"}', format('{"iss": "auth", "sub": "%s", "exp": %s, "x": %s1%s}', :'joel_id', pg_temp.epoch(600), repeat('[', 63), repeat(']', 63)), :'hs_secret')) AS brackets_64,
       pg_temp.v(pg_temp.hs('{"alg":"HS256","kid":"hs-test"}', format('{"iss": "auth", "sub": "%s", "exp": %s, "x": %s1%s}', :'joel_id', pg_temp.epoch(600), repeat('[', 64), repeat(']', 64)), :'hs_secret')) AS brackets_65;
SET auth.jwt_leeway = '5min';
SHOW auth.jwt_leeway;
SELECT pg_temp.err($$SET auth.jwt_leeway = '6min'$$) AS leeway_bound;
RESET auth.jwt_leeway;
-- the token's own header never picks a key of another algorithm: a token
-- without kid is tried against the keys of its alg only
SELECT pg_temp.v(pg_temp.hs('{"alg":"HS256"}', :'base', :'hs_secret')) AS hs_without_kid;
-- a standby HS key verifies, but no key is checked past its revocation
SELECT auth.revoke_signing_key('hs-test') AS revoked, auth.revoke_signing_key('hs-test') AS again,
       auth.revoke_signing_key('no-such-kid') AS unknown;
SELECT pg_temp.v(pg_temp.hs_token(:'base')) AS hs_revoked;

-- Expiry: 15 minutes by default, with 30 s of leeway.
SET auth.time_offset = 920;
SELECT pg_temp.v(:'t_jane') AS within_leeway;
SET auth.time_offset = 940;
SELECT pg_temp.v(:'t_jane') AS beyond_leeway, pg_temp.v(:'t_long') AS long_lived;
RESET auth.time_offset;
-- Issuer: the setting names it.
SET auth.jwt_issuer = 'https://app.example';
SELECT pg_temp.v(:'t_jane') AS other_issuer_now;
RESET auth.jwt_issuer;

-- Rotation: the previous key verifies for the grace period, then not.
SET auth.jwt_previous_key_grace = '1h';
SELECT auth.rotate_signing_keys() <> :'k1' AS new_current;
SELECT algorithm, state, count(*) FROM auth.signing_keys GROUP BY 1, 2 ORDER BY 1, 2;
SELECT pg_temp.v(:'t_long') AS previous_key_in_grace,
       jsonb_array_length(auth.jwks() -> 'keys') AS published;
BEGIN;
SELECT auth.authenticate(:'jane') IS NOT NULL AS authenticated;
SELECT auth.issue_jwt(ttl => '24 hours') AS t_k2 \gset
COMMIT;
SELECT (SELECT kid FROM auth.verify_jwt(:'t_k2')) <> :'k1' AS signed_by_new_key;
SET auth.time_offset = '30min';
SELECT pg_temp.v(:'t_long') AS after_30min;
SET auth.time_offset = '2h';
SELECT pg_temp.v(:'t_long') AS after_grace, pg_temp.v(:'t_k2') AS new_key_token,
       jsonb_array_length(auth.jwks() -> 'keys') AS published;
RESET auth.time_offset;
RESET auth.jwt_previous_key_grace;
-- Revoking the key refuses its tokens at once.
SELECT auth.revoke_signing_key((SELECT kid FROM auth.verify_jwt(:'t_k2'))) AS revoked;
SELECT pg_temp.v(:'t_k2') AS revoked_key;
BEGIN;
SELECT auth.authenticate(:'jane') IS NOT NULL AS authenticated;
SELECT pg_temp.err($$SELECT auth.issue_jwt()$$) AS no_current_key;
ROLLBACK;
SELECT auth.rotate_signing_keys() IS NOT NULL AS rotated;
SELECT auth.create_signing_key('ES256', 'current') IS NOT NULL AS es256_current;

-- Revocation through sid: signing out, revoking the API key, a ban, a
-- password reset end the tokens at once; with auth.jwt_check_revocation off
-- the sid is not checked.
BEGIN;
SELECT auth.authenticate(:'joel') IS NOT NULL AS authenticated;
SELECT auth.issue_jwt() AS t_joel \gset
SELECT key AS joel_key, key_id AS joel_key_id FROM auth.create_api_key('ci', '{docs:*}') \gset
COMMIT;
BEGIN;
SELECT auth.authenticate_api_key(:'joel_key') IS NOT NULL AS authenticated;
SELECT auth.issue_jwt() AS t_joel_key \gset
SELECT auth.issue_jwt(scopes => '{docs:read}') AS t_joel_key_narrow \gset
SELECT pg_temp.err($$SELECT auth.issue_jwt(scopes => '{admin}')$$) AS wider;
COMMIT;
SELECT claims ->> 'api_key_id' = :'joel_key_id' AS names_key, claims -> 'scopes' AS scopes,
       claims ? 'session_id' AS has_session
  FROM auth.verify_jwt(:'t_joel_key');
BEGIN;
SELECT auth.authenticate_jwt(:'t_joel_key_narrow') IS NOT NULL AS authenticated;
SELECT auth.api_key_id() = :'joel_key_id' AS api_key_id, auth.session_id() IS NULL AS no_session,
       auth.scopes();
COMMIT;
-- a rotated key: its tokens live as long as the key
BEGIN;
SELECT auth.authenticate(:'joel') IS NOT NULL AS authenticated;
SELECT auth.rotate_api_key(:'joel_key_id') IS NOT NULL AS rotated;
COMMIT;
SELECT pg_temp.v(:'t_joel_key') AS after_key_rotation;
BEGIN;
SELECT auth.authenticate(:'joel') IS NOT NULL AS authenticated;
SELECT auth.revoke_api_key(:'joel_key_id') AS revoked;
COMMIT;
SELECT pg_temp.v(:'t_joel_key') AS key_revoked, pg_temp.v(:'t_joel') AS session_token;
BEGIN;
SELECT auth.authenticate(:'joel') IS NOT NULL AS authenticated;
SELECT auth.sign_out() AS signed_out;
COMMIT;
SELECT pg_temp.v(:'t_joel') AS signed_out;
SELECT pg_temp.errd($$SELECT auth.authenticate_jwt('$$ || :'t_joel' || $$')$$) AS refused;
SET auth.jwt_check_revocation = off;
SELECT pg_temp.v(:'t_joel') AS unchecked_session, pg_temp.v(:'t_joel_key') AS unchecked_key;
RESET auth.jwt_check_revocation;
-- a ban
BEGIN;
SELECT auth.authenticate(:'jude') IS NOT NULL AS authenticated;
SELECT auth.issue_jwt() AS t_jude \gset
COMMIT;
SELECT pg_temp.v(:'t_jude') AS before_ban;
UPDATE auth.users SET banned_until = now() + interval '1 day' WHERE id = :'jude_id';
SELECT pg_temp.v(:'t_jude') AS banned;
UPDATE auth.users SET banned_until = NULL WHERE id = :'jude_id';
-- a password reset ends every session, and so their tokens; so does a
-- magic link that claims an account whose email was never verified
SELECT auth.sign_up('jwt-reset@jwt.example', 'reset password one') AS reset_id \gset
SELECT token AS reset_session FROM auth.sign_in('jwt-reset@jwt.example', 'reset password one') \gset
BEGIN;
SELECT auth.authenticate(:'reset_session') IS NOT NULL AS authenticated;
SELECT auth.issue_jwt() AS t_reset \gset
COMMIT;
SELECT pg_temp.v(:'t_reset') AS before_reset;
SELECT auth.reset_password(auth.request_password_reset('jwt-reset@jwt.example'), 'reset password two') = :'reset_id' AS reset;
SELECT pg_temp.v(:'t_reset') AS after_reset;
SELECT auth.sign_up('jwt-claim@jwt.example', 'claim password one') AS claim_id \gset
SELECT token AS claim_session FROM auth.sign_in('jwt-claim@jwt.example', 'claim password one') \gset
BEGIN;
SELECT auth.authenticate(:'claim_session') IS NOT NULL AS authenticated;
SELECT auth.issue_jwt() AS t_claim \gset
COMMIT;
SELECT pg_temp.v(:'t_claim') AS before_claim;
SELECT is_new_user FROM auth.consume_magic_link(auth.create_magic_link('jwt-claim@jwt.example'));
SELECT pg_temp.v(:'t_claim') AS after_claim;
-- a connection-scope JWT identity loses the identity at its next
-- transaction once its session ends
SELECT token AS jude2 FROM auth.create_session(:'jude_id') \gset
BEGIN;
SELECT auth.authenticate(:'jude2') IS NOT NULL AS authenticated;
SELECT auth.issue_jwt() AS t_jude2 \gset
COMMIT;
SELECT auth.authenticate_jwt(:'t_jude2', false) = :'jude_id' AS connection_scope;
SELECT auth.uid() = :'jude_id' AS still_there, auth.jwt() ->> 'sub' = :'jude_id' AS claims;
SELECT auth.revoke_user_sessions(:'jude_id') > 0 AS revoked;
SELECT auth.uid() IS NULL AS gone_next_transaction, auth.jwt() IS NULL AS no_claims;
RESET ALL;

-- Admin: issue_jwt_for, service tokens without sid.
SELECT pg_temp.err(format($$SELECT auth.issue_jwt_for(%L, '{}', '1h')$$, gen_random_uuid())) AS unknown_user;
SELECT pg_temp.err(format($$SELECT auth.issue_jwt_for(%L, '{}', '1h', org_id => %L)$$, :'jane_id', gen_random_uuid())) AS not_member;
SELECT pg_temp.err(format($$SELECT auth.issue_jwt_for(%L, '{}', '48h')$$, :'jane_id')) AS too_long;
BEGIN;
SELECT auth.authenticate(:'jane') IS NOT NULL AS authenticated;
SELECT auth.create_organization('JWT Corp', 'jwt-corp') AS acme \gset
COMMIT;
SELECT auth.issue_jwt_for(:'jane_id', '{crm:read,crm:write}', '5min', :'acme', '{"ext": true}') AS t_service \gset
SELECT valid, claims ->> 'org' = :'acme' AS org, claims -> 'scopes' AS scopes, claims ? 'sid' AS has_sid,
       claims ->> 'ext' AS ext
  FROM auth.verify_jwt(:'t_service');
BEGIN;
SELECT auth.authenticate_jwt(:'t_service') IS NOT NULL AS authenticated;
SELECT auth.org_id() = :'acme' AS org_id, auth.is_member(:'acme') AS member,
       auth.has_scope('crm:read') AS crm_read, auth.has_scope('docs:read') AS docs_read;
COMMIT;

-- The claims hook (superuser-set) adds claims in the issuing transaction,
-- never a registered one.
CREATE FUNCTION public.regress_jwt_hook(claims jsonb) RETURNS jsonb LANGUAGE sql AS
$$ SELECT jsonb_build_object('tenant', 'acme', 'sub', 'forged', 'seen', claims ->> 'plan') $$;
SET auth.jwt_claims_hook = 'public.regress_jwt_hook';
SELECT claims ->> 'tenant' AS tenant, claims ->> 'sub' = :'jane_id' AS sub_kept, claims ->> 'seen' AS seen
  FROM auth.verify_jwt(auth.issue_jwt_for(:'jane_id', '{}', '5min', claims => '{"plan": "pro"}'));
RESET auth.jwt_claims_hook;
DROP FUNCTION public.regress_jwt_hook(jsonb);

-- RFC 7515 Appendix A.1 (HS256), A.2 (RS256), A.3 (ES256) and RFC 8037
-- A.4 (Ed25519): the keys and tokens as printed there.  Their exp is in
-- 2011: EXPIRED proves the signature checked out; moved back to 2011 they
-- are valid.
SET auth.jwt_issuer = 'joe';
SELECT auth.import_signing_key('{"kty":"oct","k":"AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow"}') IS NOT NULL AS a1_key,
       auth.import_signing_key('{"kty":"RSA","n":"ofgWCuLjybRlzo0tZWJjNiuSfb4p4fAkd_wWJcyQoTbji9k0l8W26mPddxHmfHQp-Vaw-4qPCJrcS2mJPMEzP1Pt0Bm4d4QlL-yRT-SFd2lZS-pCgNMsD1W_YpRPEwOWvG6b32690r2jZ47soMZo9wGzjb_7OMg0LOL-bSf63kpaSHSXndS5z5rexMdbBYUsLA9e-KXBdQOS-UTo7WTBEMa2R2CapHg665xsmtdVMTBQY4uDZlxvb3qCo5ZwKh9kG4LT6_I5IhlJH7aGhyxXFvUK-DWNmoudF8NAco9_h9iaGNj8q2ethFkMLs91kzk2PAcDTW9gb54h4FRWyuXpoQ","e":"AQAB","d":"Eq5xpGnNCivDflJsRQBXHx1hdR1k6Ulwe2JZD50LpXyWPEAeP88vLNO97IjlA7_GQ5sLKMgvfTeXZx9SE-7YwVol2NXOoAJe46sui395IW_GO-pWJ1O0BkTGoVEn2bKVRUCgu-GjBVaYLU6f3l9kJfFNS3E0QbVdxzubSu3Mkqzjkn439X0M_V51gfpRLI9JYanrC4D4qAdGcopV_0ZHHzQlBjudU2QvXt4ehNYTCBr6XCLQUShb1juUO1ZdiYoFaFQT5Tw8bGUl_x_jTj3ccPDVZFD9pIuhLhBOneufuBiB4cS98l2SR_RQyGWSeWjnczT0QU91p1DhOVRuOopznQ","p":"4BzEEOtIpmVdVEZNCqS7baC4crd0pqnRH_5IB3jw3bcxGn6QLvnEtfdUdiYrqBdss1l58BQ3KhooKeQTa9AB0Hw_Py5PJdTJNPY8cQn7ouZ2KKDcmnPGBY5t7yLc1QlQ5xHdwW1VhvKn-nXqhJTBgIPgtldC-KDV5z-y2XDwGUc","q":"uQPEfgmVtjL0Uyyx88GZFF1fOunH3-7cepKmtH4pxhtCoHqpWmT8YAmZxaewHgHAjLYsp1ZSe7zFYHj7C6ul7TjeLQeZD_YwD66t62wDmpe_HlB-TnBA-njbglfIsRLtXlnDzQkv5dTltRJ11BKBBypeeF6689rjcJIDEz9RWdc","dp":"BwKfV3Akq5_MFZDFZCnW-wzl-CCo83WoZvnLQwCTeDv8uzluRSnm71I3QCLdhrqE2e9YkxvuxdBfpT_PI7Yz-FOKnu1R6HsJeDCjn12Sk3vmAktV2zb34MCdy7cpdTh_YVr7tss2u6vneTwrA86rZtu5Mbr1C1XsmvkxHQAdYo0","dq":"h_96-mK1R_7glhsum81dZxjTnYynPbZpHziZjeeHcXYsXaaMwkOlODsWa7I9xXDoRwbKgB719rrmI2oKr6N3Do9U0ajaHF-NKJnwgjMd2w9cjz3_-kyNlxAr2v4IKhGNpmM5iIgOS1VZnOZ68m6_pbLBSp3nssTdlqvd0tIiTHU","qi":"IYd7DHOhrWvxkwPQsRM2tOgrjbcrfvtQJipd-DlcxyVuuM9sQLdgjVk2oy26F0EmpScGLq2MowX7fhd_QJQ3ydy5cY7YIBi87w93IKLEdfnbJtoOPLUW0ITrJReOgo1cq9SbsxYawBgfp_gh6A5603k2-ZQwVK0JKSHuLFkuQ3U"}') IS NOT NULL AS a2_key,
       auth.import_signing_key('{"kty":"EC","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0","d":"jpsQnnGQmL-YBIffH1136cspYG6-0iY7X1fCE9-E9LI"}') IS NOT NULL AS a3_key,
       auth.import_signing_key('{"kty":"OKP","crv":"Ed25519","d":"nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}') IS NOT NULL AS a4_key;
SELECT pg_temp.v('eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9.eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ.dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk') AS a1_hs256,
       pg_temp.v('eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ.cC4hiUPoj9Eetdgtv3hF80EGrhuB__dzERat0XF9g2VtQgr9PJbu3XOiZj5RZmh7AAuHIm4Bh-0Qc_lF5YKt_O8W2Fp5jujGbds9uJdbF9CUAr7t1dnZcAcQjbKBYNX4BAynRFdiuB--f_nZLgrnbyTyWzO75vRK5h6xBArLIARNPvkSjtQBMHlb1L07Qe7K0GarZRmB_eSN9383LcOLn6_dO--xi12jzDwusC-eOkHWEsqtFZESc6BfI7noOPqvhJ1phCnvWh6IeYI2w9QOYEUipUTI8np6LbgGY9Fs98rqVt5AXLIhWkWywlVmtVrBp0igcN_IoypGlUPQGe77Rw') AS a2_rs256,
       pg_temp.v('eyJhbGciOiJFUzI1NiJ9.eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ.DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8ISlSApmWQxfKTUJqPP3-Kg6NU1Q') AS a3_es256;
SELECT 1300819300 - floor(extract(epoch FROM now()))::bigint AS back \gset
SET auth.time_offset = :back;
SELECT code, claims FROM auth.verify_jwt('eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9.eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ.dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk');
SELECT pg_temp.v('eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9.eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ.dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk') AS a1_hs256,
       pg_temp.v('eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ.cC4hiUPoj9Eetdgtv3hF80EGrhuB__dzERat0XF9g2VtQgr9PJbu3XOiZj5RZmh7AAuHIm4Bh-0Qc_lF5YKt_O8W2Fp5jujGbds9uJdbF9CUAr7t1dnZcAcQjbKBYNX4BAynRFdiuB--f_nZLgrnbyTyWzO75vRK5h6xBArLIARNPvkSjtQBMHlb1L07Qe7K0GarZRmB_eSN9383LcOLn6_dO--xi12jzDwusC-eOkHWEsqtFZESc6BfI7noOPqvhJ1phCnvWh6IeYI2w9QOYEUipUTI8np6LbgGY9Fs98rqVt5AXLIhWkWywlVmtVrBp0igcN_IoypGlUPQGe77Rw') AS a2_rs256,
       pg_temp.v('eyJhbGciOiJFUzI1NiJ9.eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ.DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8ISlSApmWQxfKTUJqPP3-Kg6NU1Q') AS a3_es256,
       pg_temp.v(replace('eyJhbGciOiJFUzI1NiJ9.eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ.DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8ISlSApmWQxfKTUJqPP3-Kg6NU1Q', 'DtEhU3lj', 'DtEhU3lk')) AS a3_altered,
       pg_temp.v(replace('eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ.cC4hiUPoj9Eetdgtv3hF80EGrhuB__dzERat0XF9g2VtQgr9PJbu3XOiZj5RZmh7AAuHIm4Bh-0Qc_lF5YKt_O8W2Fp5jujGbds9uJdbF9CUAr7t1dnZcAcQjbKBYNX4BAynRFdiuB--f_nZLgrnbyTyWzO75vRK5h6xBArLIARNPvkSjtQBMHlb1L07Qe7K0GarZRmB_eSN9383LcOLn6_dO--xi12jzDwusC-eOkHWEsqtFZESc6BfI7noOPqvhJ1phCnvWh6IeYI2w9QOYEUipUTI8np6LbgGY9Fs98rqVt5AXLIhWkWywlVmtVrBp0igcN_IoypGlUPQGe77Rw', 'cC4hiUPo', 'cC4hiUPp')) AS a2_altered;
RESET auth.time_offset;
-- RFC 8037's payload is the text "Example of Ed25519 signing", not claims:
-- the signature checks out and the payload is then INVALID; altered, it is
-- a BAD_SIGNATURE.
SELECT pg_temp.v('eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc.hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg') AS a4_ed25519,
       pg_temp.v(replace('eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc.hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg', 'hgyY0il_', 'hgyY0il-')) AS a4_altered;
RESET auth.jwt_issuer;

-- External issuers: their public keys pushed in; sub maps to a user.  The
-- test's stand-in for the issuer is the current ES256 key: its public JWK
-- is the issuer's JWKS, and auth._jwt_sign signs the issuer's claims.
SELECT jsonb_build_object('keys', jsonb_build_array(k.public_jwk || jsonb_build_object('kid', k.kid)))
       AS idp_jwks
  FROM auth.signing_keys k WHERE k.state = 'current' \gset
CREATE FUNCTION pg_temp.idp(claims jsonb) RETURNS text LANGUAGE sql AS $$
    SELECT auth._jwt_sign(jsonb_build_object('iss', 'https://idp.example',
                                             'exp', pg_temp.epoch(600)) || claims)
$$;
SELECT pg_temp.err($$SELECT auth.add_issuer('https://idp.example', '{"keys": [{"kty": "oct", "k": "AAAA"}]}')$$) AS secret_key;
SELECT pg_temp.err($$SELECT auth.add_issuer('https://idp.example', '{"keys": [{"kty": "EC", "crv": "P-256", "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU", "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0", "d": "jpsQnnGQmL-YBIffH1136cspYG6-0iY7X1fCE9-E9LI"}]}')$$) AS private_part;
SELECT pg_temp.err($$SELECT auth.add_issuer('https://idp.example', '{"nokeys": []}')$$) AS not_jwks;
SELECT pg_temp.err($$SELECT auth.add_issuer('auth', '{"keys": []}')$$) AS own_issuer;
SELECT pg_temp.err($$SELECT auth.add_issuer('https://idp.example', '{"keys": []}', subject_mapping => 'email')$$) AS bad_mapping;
SELECT pg_temp.v(pg_temp.idp('{"sub": "ext-1"}')) AS before_add;
SELECT auth.add_issuer('https://idp.example', :'idp_jwks', '{my-api}');
SELECT pg_temp.err($$SELECT auth.add_issuer('https://idp.example', '{"keys": []}')$$) AS twice;
SELECT pg_temp.v(pg_temp.idp('{"sub": "ext-1", "aud": "my-api"}')) AS unlinked,
       pg_temp.v(pg_temp.idp('{"sub": "ext-1", "aud": "other-api"}')) AS other_audience,
       pg_temp.v(pg_temp.idp('{"sub": "ext-1"}')) AS no_audience;
SELECT pg_temp.err(format($$SELECT auth.link_identity('https://nowhere.example', 'ext-1', %L)$$, :'jane_id')) AS unknown_issuer;
SELECT auth.link_identity('https://idp.example', 'ext-1', :'jude_id');
SELECT valid, user_id = :'jude_id' AS is_jude FROM auth.verify_jwt(pg_temp.idp('{"sub": "ext-1", "aud": "my-api", "scope": "docs:read docs:list"}'));
BEGIN;
SELECT auth.authenticate_jwt(pg_temp.idp('{"sub": "ext-1", "aud": "my-api", "scope": "docs:read docs:list"}')) = :'jude_id' AS authenticated;
SELECT auth.scopes(), auth.session_id() IS NULL AS no_session, auth.identity() ->> 'kind' AS kind;
COMMIT;
-- new keys pushed: the old ones are refused at once
SELECT auth.set_issuer_jwks('https://idp.example', '{"keys": [{"kty": "OKP", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo", "kid": "rfc8037"}]}');
SELECT pg_temp.v(pg_temp.idp('{"sub": "ext-1", "aud": "my-api"}')) AS old_keys;
SELECT pg_temp.err($$SELECT auth.set_issuer_jwks('https://nowhere.example', '{"keys": []}')$$) AS unknown_issuer;
SELECT auth.set_issuer_jwks('https://idp.example', :'idp_jwks');
SELECT pg_temp.v(pg_temp.idp('{"sub": "ext-1", "aud": "my-api"}')) AS keys_back;
-- subject_mapping 'uuid': sub is the user id
SELECT auth.remove_issuer('https://idp.example') AS removed, auth.remove_issuer('https://idp.example') AS again;
SELECT count(*) AS links_left FROM auth.identities;
SELECT pg_temp.v(pg_temp.idp('{"sub": "ext-1"}')) AS removed_issuer;
SELECT auth.add_issuer('https://idp.example', :'idp_jwks', subject_mapping => 'uuid');
SELECT pg_temp.v(pg_temp.idp(jsonb_build_object('sub', :'joel_id'))) AS uuid_subject,
       pg_temp.v(pg_temp.idp('{"sub": "ext-1"}')) AS not_uuid;
SELECT event, count(*) FROM auth.audit_log
 WHERE event IN ('signing_key_created', 'signing_keys_rotated', 'signing_key_revoked',
                 'issuer_added', 'issuer_keys_set', 'issuer_removed')
 GROUP BY event ORDER BY event;
-- no token, key or secret in any audit row
SELECT count(*) AS leaks FROM auth.audit_log l
 WHERE l.detail::text ~ '"(d|k|p|q|x|y|n)":' OR l.detail::text LIKE '%eyJ%';

-- auth.check(): the rows on keys and issuers.  An HS256 key (RFC 7515's)
-- is about; with another root key file no key opens; a week on, previous
-- keys are past their grace and the issuer's keys stale.
SELECT "check", ok FROM auth.check() WHERE "check" ~ '(signing|issuer)';
SET auth.root_key_file = 'regress_no_such_root.key';
SELECT "check", ok FROM auth.check() WHERE "check" = 'signing keys open';
RESET auth.root_key_file;
SET auth.time_offset = '8d';
SELECT "check", ok FROM auth.check() WHERE "check" ~ '(signing|issuer)';
RESET auth.time_offset;

-- Row-level security with a JWT identity: a policy on auth.uid() and one
-- on auth.jwt() ->> 'org', serial and in parallel workers.
CREATE ROLE regress_jwt_app;
CREATE TABLE jwt_docs (id int, owner_id uuid, org text);
INSERT INTO jwt_docs
SELECT g, CASE WHEN g % 3 = 0 THEN :'jane_id'::uuid ELSE gen_random_uuid() END,
       CASE WHEN g % 5 = 0 THEN :'acme' ELSE 'other' END
  FROM generate_series(1, 20000) g;
ANALYZE jwt_docs;
ALTER TABLE jwt_docs ENABLE ROW LEVEL SECURITY;
CREATE POLICY own ON jwt_docs FOR SELECT USING (owner_id = auth.uid());
CREATE POLICY org ON jwt_docs FOR SELECT USING (org = auth.jwt() ->> 'org');
GRANT SELECT ON jwt_docs TO regress_jwt_app;
SELECT count(*) FILTER (WHERE owner_id = :'jane_id' OR org = :'acme') AS expected FROM jwt_docs;
BEGIN;
SELECT auth.authenticate_jwt(:'t_service') IS NOT NULL AS authenticated;
SET LOCAL ROLE regress_jwt_app;
SET LOCAL max_parallel_workers_per_gather = 0;
SELECT count(*) AS serial_count FROM jwt_docs;
SET LOCAL max_parallel_workers_per_gather = 2;
SET LOCAL parallel_setup_cost = 0;
SET LOCAL parallel_tuple_cost = 0;
SET LOCAL min_parallel_table_scan_size = 0;
SET LOCAL parallel_leader_participation = off;
SELECT count(*) AS parallel_count FROM jwt_docs;
CREATE FUNCTION pg_temp.workers_launched() RETURNS int LANGUAGE plpgsql AS $$
DECLARE plan json;
BEGIN
    EXECUTE 'EXPLAIN (ANALYZE, FORMAT JSON, TIMING OFF) SELECT count(*) FROM jwt_docs' INTO plan;
    RETURN (plan #>> '{0,Plan,Plans,0,Workers Launched}')::int;
END $$;
SELECT pg_temp.workers_launched() > 0 AS ran_in_workers;
COMMIT;
DROP TABLE jwt_docs;

-- One round trip (auth.with_identity) takes a JWT as well: three parts
-- joined by dots go to authenticate_jwt.
INSERT INTO auth.users (email, email_verified_at) VALUES ('wi@jwt.example', now())
RETURNING id AS wi_id \gset
SELECT token AS wi_ses FROM auth.create_session(:'wi_id') \gset
BEGIN;
SELECT auth.authenticate(:'wi_ses') IS NOT NULL AS authenticated;
SELECT auth.issue_jwt() AS wi_jwt \gset
COMMIT;
SELECT r->>'uid' = :'wi_id' AS jwt_identity, (r->>'has_session')::boolean AS sid_as_session
  FROM auth.with_identity(:'wi_jwt', 'SELECT auth.uid() AS uid, auth.session_id() IS NOT NULL AS has_session') r;
SELECT pg_temp.err(format('SELECT * FROM auth.with_identity(%L, %L)',
                          :'wi_jwt' || 'x', 'SELECT 1')) AS tampered_jwt;
DROP OWNED BY regress_jwt_app;
DROP ROLE regress_jwt_app;
