-- Role switching: with auth.authenticated_role set, authenticate*() also
-- switch the transaction to that role, so a table granted only to it
-- refuses (42501) a request that forgot to authenticate.
\i sql/include/setup.psql

CREATE ROLE regress_rs_authenticated NOLOGIN;
CREATE ROLE regress_rs_app NOINHERIT;           -- the role the application logs in as
CREATE ROLE regress_rs_outsider NOINHERIT;      -- one that is not a member
GRANT regress_rs_authenticated TO regress_rs_app;
CREATE TABLE public.rs_notes (owner_id uuid NOT NULL DEFAULT auth.uid(), body text);
ALTER TABLE public.rs_notes ENABLE ROW LEVEL SECURITY;
CREATE POLICY own ON public.rs_notes USING (owner_id = auth.uid()) WITH CHECK (owner_id = auth.uid());
GRANT SELECT, INSERT ON public.rs_notes TO regress_rs_authenticated;  -- not to the app's role

SELECT auth.sign_up('rosa@example.com', 'rosa password') AS rosa \gset
SELECT token AS rosa_tok FROM auth.sign_in('rosa@example.com', 'rosa password') \gset
BEGIN;
SELECT auth.authenticate(:'rosa_tok') IS NOT NULL AS authenticated;
SELECT key AS rosa_key FROM auth.create_api_key('rs', scopes => '{notes:read}') \gset
COMMIT;

-- (a superuser sets it, as ALTER DATABASE ... SET would)
SET auth.authenticated_role = 'regress_rs_authenticated';
SET SESSION AUTHORIZATION regress_rs_app;

-- Without a credential the request runs as the application's role: the
-- table refuses it instead of answering no rows.
BEGIN;
SELECT current_user;
SELECT pg_temp.err('SELECT count(*) FROM public.rs_notes') AS forgot_to_authenticate;
ROLLBACK;

-- authenticate() switches for the transaction ...
BEGIN;
SELECT auth.authenticate(:'rosa_tok') = :'rosa' AS authenticated;
SELECT current_user, session_user;
INSERT INTO public.rs_notes (body) VALUES ('rosa''s note');
SELECT body FROM public.rs_notes;
COMMIT;
-- ... and COMMIT ends it, with the identity.
SELECT current_user AS after_commit, auth.uid() IS NULL AS no_identity;

-- authenticate_api_key() too.
BEGIN;
SELECT auth.authenticate_api_key(:'rosa_key') = :'rosa' AS authenticated;
SELECT current_user, count(*) AS notes FROM public.rs_notes;
ROLLBACK;
SELECT current_user AS after_rollback;

-- A savepoint rolled back takes the role back with the identity.
BEGIN;
SAVEPOINT s;
SELECT auth.authenticate(:'rosa_tok') IS NOT NULL AS authenticated;
ROLLBACK TO SAVEPOINT s;
SELECT current_user AS after_savepoint, auth.uid() IS NULL AS no_identity;
ROLLBACK;

-- A connection-scope identity keeps the role for its transaction only: a
-- role kept for the connection would outlive an identity that dies.
SELECT auth.authenticate(:'rosa_tok', false) IS NOT NULL AS connection_scope;
SELECT current_user AS next_statement, auth.uid() = :'rosa' AS identity_kept;
SELECT auth.sign_out();
-- (the sign-out revoked the session: sign in again for the rest)
RESET SESSION AUTHORIZATION;
SELECT token AS rosa_tok FROM auth.sign_in('rosa@example.com', 'rosa password') \gset
SET SESSION AUTHORIZATION regress_rs_app;

-- A bad token switches nothing.
BEGIN;
SELECT pg_temp.err($$SELECT auth.authenticate('ses_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA')$$);
SELECT current_user AS after_refusal;
ROLLBACK;

-- set_active_organization (SECURITY DEFINER) keeps working under the role.
BEGIN;
SELECT auth.authenticate(:'rosa_tok') IS NOT NULL AS authenticated;
SELECT auth.create_organization('Rosa Co', 'rosa-co') AS rosa_org \gset
SELECT auth.set_active_organization(:'rosa_org');
SELECT current_user, auth.org_id() = :'rosa_org' AS active_org;
ROLLBACK;

-- Refusals: from inside a SECURITY DEFINER function, PostgreSQL refuses
-- SET ROLE, and so does authenticate(), saying why.
RESET SESSION AUTHORIZATION;
CREATE FUNCTION public.rs_definer(token text) RETURNS uuid
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$ SELECT auth.authenticate(token) $$;
GRANT EXECUTE ON FUNCTION public.rs_definer(text) TO PUBLIC;
SET SESSION AUTHORIZATION regress_rs_app;
BEGIN;
SELECT pg_temp.err(format('SELECT public.rs_definer(%L)', :'rosa_tok')) AS in_security_definer;
ROLLBACK;
-- A login role that is not a member of the role gets 42501.
RESET SESSION AUTHORIZATION;
SET SESSION AUTHORIZATION regress_rs_outsider;
BEGIN;
SELECT pg_temp.err(format('SELECT auth.authenticate(%L)', :'rosa_tok')) AS not_a_member;
ROLLBACK;
RESET SESSION AUTHORIZATION;
-- A role that does not exist: 42704.
BEGIN;
SET LOCAL auth.authenticated_role = 'regress_rs_missing';
SELECT pg_temp.err(format('SELECT auth.authenticate(%L)', :'rosa_tok')) AS missing_role;
ROLLBACK;
-- Unset, authenticate() switches nothing (the default).
BEGIN;
SET LOCAL auth.authenticated_role = '';
SELECT auth.authenticate(:'rosa_tok') IS NOT NULL AS authenticated;
SELECT current_user AS unchanged;
ROLLBACK;
-- Ordinary roles cannot change the setting.
SET SESSION AUTHORIZATION regress_rs_app;
SELECT pg_temp.err($$SET auth.authenticated_role = 'regress_rs_app'$$) AS set_by_app;
RESET SESSION AUTHORIZATION;

RESET auth.authenticated_role;
DROP FUNCTION public.rs_definer(text);
DROP TABLE public.rs_notes;
DELETE FROM auth.organizations WHERE slug = 'rosa-co';
DELETE FROM auth.users WHERE email = 'rosa@example.com';
DROP ROLE regress_rs_app, regress_rs_outsider, regress_rs_authenticated;
