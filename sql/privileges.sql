-- Privileges: an ordinary role reads no auth table, calls no admin or
-- internal function, and reaches the extension through its public functions.
\i sql/include/setup.psql

CREATE ROLE regress_plain;
CREATE ROLE regress_admin;

-- Tables: RLS on, nothing granted to PUBLIC.
SELECT c.relname, c.relrowsecurity AS rls, c.relacl IS NULL AS no_grants
  FROM pg_class c WHERE c.relnamespace = 'auth'::regnamespace AND c.relkind = 'r'
 ORDER BY c.relname;

-- Functions PUBLIC may execute: exactly the documented public tier.
SELECT p.oid::regprocedure AS public_function
  FROM pg_proc p WHERE p.pronamespace = 'auth'::regnamespace
   AND has_function_privilege('regress_plain', p.oid, 'EXECUTE')
 ORDER BY p.oid::regprocedure::text;
-- Every SECURITY DEFINER function, the identity setters included, and
-- every SQL or PL/pgSQL function pins its search_path ...
SELECT p.oid::regprocedure AS without_pinned_search_path, p.prosecdef AS security_definer
  FROM pg_proc p WHERE p.pronamespace = 'auth'::regnamespace
   AND (p.prosecdef OR p.prolang <> (SELECT oid FROM pg_language WHERE lanname = 'c'))
   AND NOT coalesce('search_path=pg_catalog, pg_temp' = ANY (p.proconfig), false)
 ORDER BY p.oid::regprocedure::text;
-- ... and the C helpers policies call per row carry no SET clause (it would
-- cost a settings push and pop per row) and are not SECURITY DEFINER.
SELECT p.oid::regprocedure AS per_row_helper_with_overhead
  FROM pg_proc p WHERE p.pronamespace = 'auth'::regnamespace
   AND p.proname IN ('uid', 'org_id', 'session_id', 'api_key_id', 'is_authenticated',
                     'has_scope', 'scopes', 'is_member', 'has_role', 'has_permission',
                     'org_ids', 'team_ids')
   AND (p.proconfig IS NOT NULL OR p.prosecdef)
 ORDER BY 1;

SET ROLE regress_plain;
SELECT pg_temp.err($$SELECT count(*) FROM auth.users$$);
SELECT pg_temp.err($$SELECT count(*) FROM auth.sessions$$);
SELECT pg_temp.err($$SELECT count(*) FROM auth.audit_log$$);
SELECT pg_temp.err($$SELECT count(*) FROM auth.attempts$$);
SELECT pg_temp.err($$UPDATE auth.users SET role = 'admin'$$);
SELECT pg_temp.err($$INSERT INTO auth.sessions (user_id, token_hash, expires_at) VALUES (gen_random_uuid(), '\x00', now())$$);
SELECT pg_temp.err($$SELECT auth.create_session(gen_random_uuid())$$);
SELECT pg_temp.err($$SELECT auth.revoke_user_sessions(gen_random_uuid())$$);
SELECT pg_temp.err($$SELECT auth.cleanup()$$);
SELECT pg_temp.err($$SELECT auth.check()$$);
SELECT pg_temp.err($$SELECT auth.grant_admin('regress_plain')$$);
SELECT pg_temp.err($$SELECT auth._issue_session(gen_random_uuid(), NULL, NULL, NULL)$$);
SELECT pg_temp.err($$SELECT auth._autonomous('{"op": "audit", "event": "forged"}')$$);
SELECT pg_temp.err($$SELECT auth._audit('forged', NULL, NULL, NULL)$$);
-- (forgetting the identity only narrows: anyone may)
SELECT pg_temp.err($$SELECT auth._clear_identity()$$);
-- Functions that return a secret meant for a mailbox are not PUBLIC's.
SELECT pg_temp.err($$SELECT auth.create_magic_link('pat@example.com')$$);
SELECT pg_temp.err($$SELECT auth.create_email_code('pat@example.com')$$);
SELECT pg_temp.err($$SELECT auth.request_password_reset('pat@example.com')$$);
SELECT pg_temp.err($$SELECT auth.request_email_change('pat@example.com')$$);
SELECT pg_temp.err($$SELECT auth.request_email_verification()$$);
-- The public tier works for it.
SELECT auth.sign_up('pat@example.com', 'pat password') IS NOT NULL AS sign_up;
SELECT user_id IS NOT NULL AS sign_in FROM auth.sign_in('pat@example.com', 'pat password');
RESET ROLE;

-- grant_admin gives a role the admin tier; revoke_admin takes it back.
SELECT auth.grant_admin('regress_admin');
SET ROLE regress_admin;
SELECT user_id IS NOT NULL AS admin_created_session
  FROM auth.create_session((SELECT auth.sign_up('adm@example.com', 'adm password')));
SELECT count(*) > 0 AS admin_check FROM auth.check();
SELECT pg_temp.err($$SELECT count(*) FROM auth.users$$);
RESET ROLE;
SELECT auth.revoke_admin('regress_admin');
SET ROLE regress_admin;
SELECT pg_temp.err($$SELECT auth.create_session(gen_random_uuid())$$);
RESET ROLE;
SELECT pg_temp.err($$SELECT auth.grant_admin('no_such_role')$$);

-- grant_issuer gives the application's server role the issuing functions
-- only; revoke_issuer takes them back.
CREATE ROLE regress_mailer;
SELECT auth.grant_issuer('regress_mailer');
SET ROLE regress_mailer;
SELECT auth.create_magic_link('mailer@example.com') ~ '^mlk_' AS can_issue;
SELECT pg_temp.err($$SELECT auth.create_session(gen_random_uuid())$$);
RESET ROLE;
SELECT auth.revoke_issuer('regress_mailer');
SET ROLE regress_mailer;
SELECT pg_temp.err($$SELECT auth.create_magic_link('mailer@example.com')$$);
RESET ROLE;
DROP ROLE regress_mailer;

DROP ROLE regress_plain;
DROP ROLE regress_admin;
