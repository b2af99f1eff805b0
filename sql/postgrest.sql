-- auth.postgrest_pre_request(), tested the way PostgREST 12 runs each
-- request: connected as the authenticator, one transaction (READ ONLY for
-- GET and HEAD), the anonymous role and the request.* settings set with
-- set_config(..., true), the pre-request function, then the query.
\i sql/include/setup.psql
\i sql/include/settled.psql

CREATE ROLE regress_pg_anon NOLOGIN;
CREATE ROLE regress_pg_user NOLOGIN;
CREATE ROLE regress_pg_authenticator NOINHERIT;
GRANT regress_pg_anon, regress_pg_user TO regress_pg_authenticator;
CREATE TABLE public.pg_notes (owner_id uuid NOT NULL DEFAULT auth.uid(), body text NOT NULL);
ALTER TABLE public.pg_notes ENABLE ROW LEVEL SECURITY;
CREATE POLICY own ON public.pg_notes USING (owner_id = auth.uid()) WITH CHECK (owner_id = auth.uid());
GRANT SELECT, INSERT ON public.pg_notes TO regress_pg_user;
CREATE TABLE public.pg_status (ok boolean);
INSERT INTO public.pg_status VALUES (true);
GRANT SELECT ON public.pg_status TO regress_pg_anon, regress_pg_user;

-- Pia signs up (and gets her session in the same call), makes an API key
-- and a key limited to one use per hour.
SELECT token AS pia_tok, session_id AS pia_sid, user_id AS pia
  FROM auth.sign_up_and_sign_in('pia@example.com', 'pia password') \gset
BEGIN;
SELECT auth.authenticate(:'pia_tok') IS NOT NULL AS authenticated;
SELECT key AS pia_key FROM auth.create_api_key('pg', scopes => '{notes:read}') \gset
SELECT key AS pia_limited FROM auth.create_api_key('pg-limited', rate_limit_max => 1,
                                                   rate_limit_window => '1 hour') \gset
COMMIT;

-- What PostgREST sets before it calls the pre-request function.
CREATE FUNCTION pg_temp.request(method text, headers jsonb, cookies jsonb DEFAULT '{}')
RETURNS void LANGUAGE sql AS $$
    SELECT set_config('role', 'regress_pg_anon', true),
           set_config('request.method', method, true),
           set_config('request.path', '/pg_notes', true),
           set_config('request.headers', headers::text, true),
           set_config('request.cookies', cookies::text, true)
$$;
-- The status, headers and body code of the response PostgREST would send
-- for an error the pre-request function raised (SQLSTATE PGRST).
CREATE FUNCTION pg_temp.pgrst(statement text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    m text;
    d text;
BEGIN
    EXECUTE statement;
    RETURN 'no error';
EXCEPTION WHEN SQLSTATE 'PGRST' THEN
    GET STACKED DIAGNOSTICS m = MESSAGE_TEXT, d = PG_EXCEPTION_DETAIL;
    RETURN format('%s %s code=%s message=%s', d::jsonb->'status', d::jsonb->'headers',
                  m::jsonb->>'code', m::jsonb->>'message');
END
$$;

SET auth.authenticated_role = 'regress_pg_user';
SET auth.anonymous_role = 'regress_pg_anon';
SET SESSION AUTHORIZATION regress_pg_authenticator;

-- GET without a credential: the anonymous role, nobody authenticated; the
-- table granted to the authenticated role refuses.
BEGIN ISOLATION LEVEL READ COMMITTED READ ONLY;
SELECT pg_temp.request('GET', '{"accept": "*/*"}');
SELECT auth.postgrest_pre_request();
SELECT current_user, auth.uid() IS NULL AS anonymous, (SELECT ok FROM public.pg_status);
SELECT pg_temp.err('SELECT count(*) FROM public.pg_notes') AS notes;
COMMIT;

-- POST with the session token in the cookie (auth.cookie_name).
BEGIN ISOLATION LEVEL READ COMMITTED;
SELECT pg_temp.request('POST', '{}', json_build_object('auth_session', :'pia_tok')::jsonb);
SELECT auth.postgrest_pre_request();
SELECT current_user, auth.uid() = :'pia' AS pia;
INSERT INTO public.pg_notes (body) VALUES ('from PostgREST');
COMMIT;

-- GET with the token in the header (auth.token_header), READ ONLY.
BEGIN ISOLATION LEVEL READ COMMITTED READ ONLY;
SELECT pg_temp.request('GET', json_build_object('x-auth-token', :'pia_tok')::jsonb);
SELECT auth.postgrest_pre_request();
SELECT current_user, body FROM public.pg_notes;
SELECT email, kind, scopes, aal FROM auth.me();
COMMIT;

-- Authorization: Bearer (what a client sends when PostgREST has no JWT
-- secret, or for a JWT) is read too.
BEGIN ISOLATION LEVEL READ COMMITTED READ ONLY;
SELECT pg_temp.request('GET', json_build_object('authorization', 'Bearer ' || :'pia_tok')::jsonb);
SELECT auth.postgrest_pre_request();
SELECT current_user, auth.uid() = :'pia' AS pia;
COMMIT;

-- An API key: the api_key identity, with its scopes.
BEGIN ISOLATION LEVEL READ COMMITTED READ ONLY;
SELECT pg_temp.request('GET', json_build_object('x-auth-token', :'pia_key')::jsonb);
SELECT auth.postgrest_pre_request();
SELECT current_user, kind, scopes FROM auth.me();
COMMIT;

-- Refused credentials answer 401 with WWW-Authenticate, not PostgREST's
-- 403 for 28000: a dead session, a bad API key, a token of another kind.
BEGIN READ ONLY;
SELECT pg_temp.request('GET', '{"x-auth-token": "ses_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}');
SELECT pg_temp.pgrst('SELECT auth.postgrest_pre_request()') AS dead_session;
SELECT current_user AS still_anonymous;
ROLLBACK;
BEGIN READ ONLY;
SELECT pg_temp.request('GET', '{}', '{"auth_session": "ak_nonsense"}');
SELECT pg_temp.pgrst('SELECT auth.postgrest_pre_request()') AS bad_key;
ROLLBACK;
BEGIN READ ONLY;
SELECT pg_temp.request('GET', '{"x-auth-token": "mlk_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}');
SELECT pg_temp.pgrst('SELECT auth.postgrest_pre_request()') AS link_token;
ROLLBACK;

-- A rate limit answers 429 with Retry-After in seconds.
BEGIN ISOLATION LEVEL READ COMMITTED READ ONLY;
SELECT pg_temp.request('GET', json_build_object('x-auth-token', :'pia_limited')::jsonb);
SELECT auth.postgrest_pre_request();
COMMIT;
BEGIN ISOLATION LEVEL READ COMMITTED READ ONLY;
SELECT pg_temp.request('GET', json_build_object('x-auth-token', :'pia_limited')::jsonb);
SELECT regexp_replace(pg_temp.pgrst('SELECT auth.postgrest_pre_request()'),
                      '"Retry-After": "[0-9]+"', '"Retry-After": "<seconds>"') AS limited;
ROLLBACK;

-- A compact JWS (three base64url segments) goes to auth.authenticate_jwt()
-- when that function exists; without it, 401.
RESET SESSION AUTHORIZATION;
BEGIN;
DO $$ BEGIN
    IF to_regprocedure('auth.authenticate_jwt(text, boolean)') IS NOT NULL THEN
        ALTER FUNCTION auth.authenticate_jwt(text, boolean) RENAME TO authenticate_jwt_hidden;
    END IF;
END $$;
SET LOCAL SESSION AUTHORIZATION regress_pg_authenticator;
SELECT pg_temp.request('GET', '{"x-auth-token": "eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJ4In0.c2ln"}');
SELECT pg_temp.pgrst('SELECT auth.postgrest_pre_request()') AS jwt_without_jwts;
ROLLBACK;
BEGIN;
DO $$ BEGIN
    IF to_regprocedure('auth.authenticate_jwt(text, boolean)') IS NOT NULL THEN
        ALTER FUNCTION auth.authenticate_jwt(text, boolean) RENAME TO authenticate_jwt_hidden;
    END IF;
END $$;
-- a stand-in that refuses with its own words, to show it is called
CREATE FUNCTION auth.authenticate_jwt(token text, is_local boolean DEFAULT true) RETURNS uuid
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION USING ERRCODE = '28000', MESSAGE = 'stand-in: ' || length(token) || ' characters';
END
$$;
SET LOCAL SESSION AUTHORIZATION regress_pg_authenticator;
SELECT pg_temp.request('GET', '{"x-auth-token": "eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJ4In0.c2ln"}');
SELECT pg_temp.pgrst('SELECT auth.postgrest_pre_request()') AS jwt_dispatched;
ROLLBACK;

-- Sessions slide on GET: a READ ONLY request hands the refresh to the
-- extension's worker.  Pia's session, 6.5 days old, expires in 12 hours.
SELECT expires_at AS pia_expiry FROM auth.sessions WHERE id = :'pia_sid' \gset
SET auth.time_offset = '156h';
SET SESSION AUTHORIZATION regress_pg_authenticator;
BEGIN ISOLATION LEVEL READ COMMITTED READ ONLY;
SELECT pg_temp.request('GET', json_build_object('x-auth-token', :'pia_tok')::jsonb);
SELECT auth.postgrest_pre_request();
SELECT current_user, count(*) AS notes FROM public.pg_notes;
COMMIT;
RESET SESSION AUTHORIZATION;
SELECT pg_temp.settled(format('SELECT expires_at > %L::timestamptz + interval %L FROM auth.sessions WHERE id = %L',
                              :'pia_expiry', '6 days', :'pia_sid')) AS refreshed_by_get;
-- still live a week later, where the old expiry had passed
SET auth.time_offset = '13d';
SELECT user_id = :'pia' AS live_after_a_week FROM auth.verify_session(:'pia_tok');
RESET auth.time_offset;

-- Other names for the header and the cookie; empty turns one off.
SET auth.token_header = 'X-Session';
SET auth.cookie_name = '';
SET SESSION AUTHORIZATION regress_pg_authenticator;
BEGIN READ ONLY;
SELECT pg_temp.request('GET', json_build_object('x-session', :'pia_tok')::jsonb,
                       '{"auth_session": "ses_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}');
SELECT auth.postgrest_pre_request();
SELECT auth.uid() = :'pia' AS from_x_session;
ROLLBACK;
BEGIN READ ONLY;
SELECT pg_temp.request('GET', '{}', json_build_object('auth_session', :'pia_tok')::jsonb);
SELECT auth.postgrest_pre_request();
SELECT auth.uid() IS NULL AS cookie_ignored, current_user;
ROLLBACK;
-- Without request.* settings at all (not PostgREST): nobody.
BEGIN;
SELECT auth.postgrest_pre_request();
SELECT auth.uid() IS NULL AS nobody, current_user;
ROLLBACK;
RESET SESSION AUTHORIZATION;
RESET auth.token_header;
RESET auth.cookie_name;
RESET auth.authenticated_role;
RESET auth.anonymous_role;

DROP TABLE public.pg_notes, public.pg_status;
DELETE FROM auth.users WHERE email = 'pia@example.com';
DROP ROLE regress_pg_authenticator, regress_pg_anon, regress_pg_user;

-- Each request starts with nobody: a connection-scope identity an earlier
-- request left on the pooled connection serves no request without a
-- credential.
SELECT token AS pia_tok2 FROM auth.sign_up_and_sign_in('pre-request@example.com', 'pre-request password') \gset
SELECT auth.authenticate(:'pia_tok2', false) IS NOT NULL AS connection_scope;
BEGIN;
SELECT set_config('request.headers', '{}', true) IS NOT NULL AS no_credential;
SELECT auth.postgrest_pre_request();
SELECT auth.uid() IS NULL AS nobody;
COMMIT;
SELECT auth.uid() IS NULL AS nobody_after;
