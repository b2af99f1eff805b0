-- Administration of users (the admin tier): listing, creating, updating,
-- setting a password, banning and unbanning, deleting, a user's sessions,
-- signing every session out at once; the account's self-service
-- (update_me, delete_account); and the actor in every audit row.
\i sql/include/setup.psql
\i sql/include/as_user.psql
\i sql/include/settled.psql
SET auth.argon2_memory_kib = 1024;
SET auth.argon2_iterations = 1;
SELECT coalesce(max(id), 0) AS audit_start FROM auth.audit_log \gset
CREATE FUNCTION pg_temp.key_state(key text) RETURNS text
LANGUAGE sql AS $$ SELECT coalesce(v.code, 'VALID') FROM auth.verify_api_key(key) v $$;
CREATE FUNCTION pg_temp.live(token text) RETURNS boolean
LANGUAGE sql AS $$ SELECT (auth.verify_session(token)).user_id IS NOT NULL $$;

CREATE ROLE regress_ua_admin;
CREATE ROLE regress_ua_app;
SELECT auth.grant_admin('regress_ua_admin');

-- The admin functions belong to the admin tier: a role without it gets
-- 42501 for each, whatever the arguments.
SET ROLE regress_ua_app;
SELECT pg_temp.err($$SELECT * FROM auth.list_users()$$);
SELECT pg_temp.err($$SELECT auth.create_user('x@ua.example.com')$$);
SELECT pg_temp.err($$SELECT auth.update_user_as_admin(gen_random_uuid(), name => 'x')$$);
SELECT pg_temp.err($$SELECT auth.set_user_password(gen_random_uuid(), 'long enough password')$$);
SELECT pg_temp.err($$SELECT auth.ban_user(gen_random_uuid())$$);
SELECT pg_temp.err($$SELECT auth.unban_user(gen_random_uuid())$$);
SELECT pg_temp.err($$SELECT auth.delete_user(gen_random_uuid())$$);
SELECT pg_temp.err($$SELECT * FROM auth.list_user_sessions(gen_random_uuid())$$);
SELECT pg_temp.err($$SELECT auth.revoke_all_sessions()$$);
-- The self-service functions are PUBLIC's, and act only for auth.uid().
SELECT pg_temp.err($$SELECT auth.update_me('x')$$);
SELECT pg_temp.err($$SELECT auth.delete_account('x')$$);
RESET ROLE;

-- create_user
SET ROLE regress_ua_admin;
SELECT auth.create_user('Ann@UA.example.com', 'ann password', 'Ann') AS ann \gset
SELECT auth.create_user('bob@ua.example.com', NULL, 'Bob', 'admin', true) AS bob \gset
SELECT auth.create_user('cy@ua.example.com', 'cy password') AS cy \gset
RESET ROLE;
SELECT email, name, role, password_hash IS NOT NULL AS has_password,
       email_verified_at IS NOT NULL AS verified
  FROM auth.users WHERE email LIKE '%@ua.example.com' ORDER BY email;
SET ROLE regress_ua_admin;
SELECT pg_temp.err($$SELECT auth.create_user('ann@ua.example.com')$$) AS taken;
SELECT pg_temp.err($$SELECT auth.create_user(NULL)$$) AS null_email;
SELECT pg_temp.err($$SELECT auth.create_user('')$$) AS empty_email;
SELECT pg_temp.err($$SELECT auth.create_user('not an email')$$) AS bad_email;
SELECT pg_temp.err($$SELECT auth.create_user(repeat('a', 250) || '@ua.example.com')$$) AS huge_email;
SELECT pg_temp.err($$SELECT auth.create_user('d@ua.example.com', 'short')$$) AS short_password;
SELECT pg_temp.err($$SELECT auth.create_user('d@ua.example.com', repeat('p', 129))$$) AS huge_password;
SELECT pg_temp.err($$SELECT auth.create_user('d@ua.example.com', name => repeat('n', 257))$$) AS huge_name;
SELECT pg_temp.err($$SELECT auth.create_user('d@ua.example.com', role => 'root')$$) AS unknown_role;
SELECT pg_temp.err($$SELECT auth.create_user('d@ua.example.com', role => NULL)$$) AS null_role;
SELECT pg_temp.err($$SELECT auth.create_user('d@ua.example.com', role => repeat('r', 41))$$) AS huge_role;
SELECT pg_temp.err($$SELECT auth.create_user('d@ua.example.com', email_verified => NULL)$$) AS null_verified;

-- list_users: search (email and name, any case), banned, sort, paging,
-- and the total that match on every row.
SELECT email, role, total FROM auth.list_users('UA.EXAMPLE', sort => 'email', descending => false);
SELECT email, total FROM auth.list_users('ua.example.com', sort => 'email', "limit" => 2, "offset" => 1);
SELECT email, total FROM auth.list_users('ua.example.com', sort => 'email', "limit" => 2, "offset" => 5);
SELECT email FROM auth.list_users('BOB@ua', sort => 'name');
SELECT count(*) AS banned_now FROM auth.list_users('ua.example.com', banned => true);
SELECT count(*) AS not_banned FROM auth.list_users('ua.example.com', banned => false);
SELECT count(*) > 0 AS empty_search_lists_everyone FROM auth.list_users('');
SELECT pg_temp.err($$SELECT * FROM auth.list_users(sort => 'password_hash')$$) AS bad_sort;
SELECT pg_temp.err($$SELECT * FROM auth.list_users(sort => NULL)$$) AS null_sort;
SELECT pg_temp.err($$SELECT * FROM auth.list_users(descending => NULL)$$) AS null_descending;
SELECT pg_temp.err($$SELECT * FROM auth.list_users("limit" => 0)$$) AS zero_limit;
SELECT pg_temp.err($$SELECT * FROM auth.list_users("limit" => 1001)$$) AS huge_limit;
SELECT pg_temp.err($$SELECT * FROM auth.list_users("limit" => NULL)$$) AS null_limit;
SELECT pg_temp.err($$SELECT * FROM auth.list_users("offset" => -1)$$) AS negative_offset;
SELECT pg_temp.err($$SELECT * FROM auth.list_users(repeat('s', 255))$$) AS huge_search;
-- a search is text, not a pattern
SELECT count(*) AS pattern_is_literal FROM auth.list_users('%');
-- never a password hash
SELECT string_agg(a.name, ', ' ORDER BY a.n) AS columns
  FROM pg_proc p, unnest(p.proargnames, p.proargmodes) WITH ORDINALITY AS a(name, mode, n)
 WHERE p.oid = 'auth.list_users(text, boolean, text, boolean, integer, integer)'::regprocedure
   AND a.mode = 't';

-- update_user_as_admin: NULL keeps a field, '' clears name and image; a
-- new email is unverified unless said otherwise.
SELECT auth.update_user_as_admin(:'bob', name => 'Robert', image => 'https://img.example/b.png',
                                 metadata => '{"plan": "pro"}', role => 'user');
SELECT email, name, image, metadata, role, email_verified_at IS NOT NULL AS verified
  FROM auth.list_users('bob@ua');
SELECT auth.update_user_as_admin(:'bob', email => 'Robert@UA.example.com', image => '');
SELECT email, name, image, email_verified_at IS NOT NULL AS verified FROM auth.list_users('robert@ua');
SELECT auth.update_user_as_admin(:'bob', email_verified => true);
SELECT email_verified_at IS NOT NULL AS verified FROM auth.list_users('robert@ua');
SELECT pg_temp.err(format($$SELECT auth.update_user_as_admin(%L, email => 'ann@ua.example.com')$$, :'bob')) AS taken;
SELECT pg_temp.err($$SELECT auth.update_user_as_admin(gen_random_uuid(), name => 'x')$$) AS unknown_user;
SELECT pg_temp.err($$SELECT auth.update_user_as_admin(NULL, name => 'x')$$) AS null_user;
SELECT pg_temp.err(format($$SELECT auth.update_user_as_admin(%L, email => 'nope')$$, :'bob')) AS bad_email;
SELECT pg_temp.err(format($$SELECT auth.update_user_as_admin(%L, image => repeat('i', 2049))$$, :'bob')) AS huge_image;
SELECT pg_temp.err(format($$SELECT auth.update_user_as_admin(%L, metadata => '[1]')$$, :'bob')) AS bad_metadata;
SELECT pg_temp.err(format($$SELECT auth.update_user_as_admin(%L, role => 'owner')$$, :'bob')) AS unknown_role;
RESET ROLE;

-- set_user_password: the new password works, the old does not; every
-- session ends, and every API key with the keys they made unless kept.
SELECT token AS ann_s1 FROM auth.sign_in('ann@ua.example.com', 'ann password') \gset
SELECT pg_temp.as_user(:'ann_s1', $$SELECT (auth.create_api_key('ann key')).key$$) AS ann_key \gset
SELECT pg_temp.as_key(:'ann_key', $$SELECT (auth.create_api_key('ann child')).key$$) AS ann_child \gset
SET ROLE regress_ua_admin;
SELECT auth.set_user_password(:'ann', 'ann new password', keep_api_keys => true);
RESET ROLE;
SELECT pg_temp.live(:'ann_s1') AS session_live, pg_temp.key_state(:'ann_key') AS kept_key,
       pg_temp.key_state(:'ann_child') AS kept_child;
SELECT pg_temp.err($$SELECT auth.sign_in('ann@ua.example.com', 'ann password')$$) AS old_password;
SELECT token AS ann_s2 FROM auth.sign_in('ann@ua.example.com', 'ann new password') \gset
SET ROLE regress_ua_admin;
SELECT auth.set_user_password(:'ann', 'ann third password');
RESET ROLE;
SELECT pg_temp.live(:'ann_s2') AS session_live, pg_temp.key_state(:'ann_key') AS key,
       pg_temp.key_state(:'ann_child') AS child;
SET ROLE regress_ua_admin;
SELECT pg_temp.err(format($$SELECT auth.set_user_password(%L, 'short')$$, :'ann')) AS short_password;
SELECT pg_temp.err(format($$SELECT auth.set_user_password(%L, NULL)$$, :'ann')) AS null_password;
SELECT pg_temp.err(format($$SELECT auth.set_user_password(%L, repeat('p', 129))$$, :'ann')) AS huge_password;
SELECT pg_temp.err(format($$SELECT auth.set_user_password(%L, 'long enough password', NULL)$$, :'ann')) AS null_keep;
SELECT pg_temp.err($$SELECT auth.set_user_password(gen_random_uuid(), 'long enough password')$$) AS unknown_user;
SELECT pg_temp.err($$SELECT auth.set_user_password(NULL, 'long enough password')$$) AS null_user;
RESET ROLE;

-- ban_user ends every credential at once: sessions, API keys and the keys
-- they made; the user cannot sign in or be given a session; lifting the
-- ban brings none of them back.
SELECT token AS cy_s1 FROM auth.sign_in('cy@ua.example.com', 'cy password') \gset
SELECT token AS cy_s2 FROM auth.sign_in('cy@ua.example.com', 'cy password') \gset
SELECT pg_temp.as_user(:'cy_s1', $$SELECT (auth.create_api_key('cy key')).key$$) AS cy_key \gset
SELECT pg_temp.as_key(:'cy_key', $$SELECT (auth.create_api_key('cy child')).key$$) AS cy_child \gset
SELECT key AS cy_admin_key FROM auth.create_api_key_for(:'cy', 'cy admin key') \gset
SET ROLE regress_ua_admin;
SELECT id IS NOT NULL AS listed FROM auth.list_user_sessions(:'cy');
SELECT * FROM auth.ban_user(:'cy', reason => 'spam');
SELECT count(*) AS sessions_listed FROM auth.list_user_sessions(:'cy');
SELECT email, banned_until, ban_reason FROM auth.list_users('ua.example.com', banned => true);
RESET ROLE;
SELECT pg_temp.live(:'cy_s1') AS s1, pg_temp.live(:'cy_s2') AS s2,
       pg_temp.key_state(:'cy_key') AS key, pg_temp.key_state(:'cy_child') AS child,
       pg_temp.key_state(:'cy_admin_key') AS admin_key;
SELECT pg_temp.err($$SELECT auth.sign_in('cy@ua.example.com', 'cy password')$$) AS sign_in;
SELECT pg_temp.err(format($$SELECT auth.create_session(%L)$$, :'cy')) AS create_session;
SELECT pg_temp.err(format($$SELECT auth.create_api_key_for(%L, 'k')$$, :'cy')) AS create_key;
SET ROLE regress_ua_admin;
SELECT auth.unban_user(:'cy') AS unbanned, auth.unban_user(:'cy') AS again;
RESET ROLE;
SELECT pg_temp.live(:'cy_s1') AS s1_after_unban, pg_temp.key_state(:'cy_key') AS key_after_unban;
SELECT user_id = :'cy' AS signs_in_again FROM auth.sign_in('cy@ua.example.com', 'cy password');
-- A ban with an end lifts itself when it passes.
SET ROLE regress_ua_admin;
SELECT sessions_revoked FROM auth.ban_user(:'cy', auth.now() + interval '1 hour', 'cool down');
RESET ROLE;
SELECT pg_temp.err($$SELECT auth.sign_in('cy@ua.example.com', 'cy password')$$) AS during_ban;
SET auth.time_offset = '2h';
SELECT user_id = :'cy' AS after_ban FROM auth.sign_in('cy@ua.example.com', 'cy password');
RESET auth.time_offset;
SET ROLE regress_ua_admin;
SELECT auth.unban_user(:'cy') AS unban_early;
SELECT pg_temp.err(format($$SELECT auth.ban_user(%L, NULL)$$, :'cy')) AS null_until;
SELECT pg_temp.err(format($$SELECT auth.ban_user(%L, auth.now() - interval '1 second')$$, :'cy')) AS past_until;
SELECT pg_temp.err(format($$SELECT auth.ban_user(%L, reason => repeat('r', 1001))$$, :'cy')) AS huge_reason;
SELECT pg_temp.err($$SELECT auth.ban_user(gen_random_uuid())$$) AS unknown_user;
SELECT pg_temp.err($$SELECT auth.ban_user(NULL)$$) AS null_user;
SELECT pg_temp.err($$SELECT auth.unban_user(gen_random_uuid())$$) AS unban_unknown;
SELECT pg_temp.err($$SELECT * FROM auth.list_user_sessions(gen_random_uuid())$$) AS sessions_unknown;
SELECT pg_temp.err($$SELECT * FROM auth.list_user_sessions(NULL)$$) AS sessions_null;
RESET ROLE;

-- delete_user never leaves an organization without an owner: 2BP01,
-- unless transfer_to takes ownership.
SELECT auth.create_user('dee@ua.example.com', 'dee password', email_verified => true) AS dee \gset
SELECT auth.create_user('eve@ua.example.com', 'eve password', email_verified => true) AS eve \gset
SELECT token AS dee_s FROM auth.sign_in('dee@ua.example.com', 'dee password') \gset
SELECT token AS eve_s FROM auth.sign_in('eve@ua.example.com', 'eve password') \gset
SELECT pg_temp.as_user(:'dee_s', $$SELECT auth.create_organization('Dee Co', 'ua-dee-co')$$) AS dee_org \gset
SELECT pg_temp.as_user(:'dee_s', $$SELECT auth.create_organization('Shared Co', 'ua-shared-co')$$) AS shared_org \gset
SELECT pg_temp.as_user(:'dee_s', format($$SELECT auth.add_member(%L, %L, 'owner')$$, :'shared_org', :'eve')) AS co_owner;
SELECT pg_temp.as_user(:'dee_s', format($$SELECT auth.add_member(%L, %L, 'member')$$, :'dee_org', :'bob')) AS bob_member;
SELECT pg_temp.as_user(:'dee_s', format($$SELECT auth.invite_member(%L, 'guest@ua.example.com', 'member') IS NOT NULL$$, :'dee_org')) AS invited;
SET ROLE regress_ua_admin;
SELECT pg_temp.err(format($$SELECT auth.delete_user(%L)$$, :'dee')) AS last_owner;
SELECT pg_temp.err(format($$SELECT auth.delete_user(%L, %L)$$, :'dee', :'dee')) AS to_self;
SELECT pg_temp.err(format($$SELECT auth.delete_user(%L, gen_random_uuid())$$, :'dee')) AS to_unknown;
SELECT pg_temp.err($$SELECT auth.delete_user(gen_random_uuid())$$) AS unknown_user;
SELECT pg_temp.err($$SELECT auth.delete_user(NULL)$$) AS null_user;
SELECT auth.delete_user(:'dee', transfer_to => :'bob');
RESET ROLE;
SELECT count(*) AS dee_rows FROM auth.users WHERE id = :'dee';
SELECT pg_temp.live(:'dee_s') AS dee_session;
SELECT o.slug, m.role, m.user_id = :'bob' AS is_bob, m.user_id = :'eve' AS is_eve
  FROM auth.members m JOIN auth.organizations o ON o.id = m.org_id
 WHERE o.slug LIKE 'ua-%' ORDER BY o.slug, m.role, is_bob;
SELECT status FROM auth.invitations WHERE email = 'guest@ua.example.com';

-- revoke_all_sessions: every session of every user ends at once, with no
-- row written; sessions made after it live.  A connection-scope identity
-- loses it at its next transaction.
SELECT token AS eve_s2 FROM auth.sign_in('eve@ua.example.com', 'eve password') \gset
SELECT auth.authenticate(:'eve_s2', false) = :'eve' AS connection_scope;
SELECT count(*) AS revoked_rows_before FROM auth.sessions WHERE revoked_at IS NOT NULL \gset
SET ROLE regress_ua_admin;
SELECT auth.revoke_all_sessions() IS NOT NULL AS cutoff;
RESET ROLE;
SELECT auth.uid() IS NULL AS identity_gone;
SELECT pg_temp.live(:'eve_s') AS eve_s, pg_temp.live(:'eve_s2') AS eve_s2,
       pg_temp.live(:'ann_s2') AS ann_s2;
SELECT count(*) = :revoked_rows_before AS no_row_written FROM auth.sessions WHERE revoked_at IS NOT NULL;
SELECT pg_temp.err(format($$SELECT auth.authenticate(%L)$$, :'eve_s')) AS authenticate;
SELECT token AS eve_s3 FROM auth.sign_in('eve@ua.example.com', 'eve password') \gset
SELECT pg_temp.live(:'eve_s3') AS new_session_live;
SELECT pg_temp.as_user(:'eve_s3', $$SELECT count(*) FROM auth.list_sessions()$$) AS listed;
SET ROLE regress_ua_admin;
SELECT count(*) AS admin_listed FROM auth.list_user_sessions(:'eve');
RESET ROLE;
-- cleanup removes them once the grace has passed
SET auth.cleanup_grace = 0;
SELECT sessions_deleted > 0 AS cleaned FROM auth.cleanup();
RESET auth.cleanup_grace;
SELECT count(*) AS eve_sessions_kept FROM auth.sessions WHERE user_id = :'eve';

-- update_me: the user's own name, image and metadata.
SELECT pg_temp.as_user(:'eve_s3', $$SELECT auth.update_me('Eve', 'https://img.example/e.png', '{"theme": "dark"}')$$) AS update_me;
SELECT name, image, metadata FROM auth.users WHERE id = :'eve';
SELECT pg_temp.as_user(:'eve_s3', $$SELECT auth.update_me(image => '')$$) AS clear_image;
SELECT name, image FROM auth.users WHERE id = :'eve';
SELECT pg_temp.as_user(:'eve_s3', $$SELECT auth.update_me(repeat('n', 257))$$) AS huge_name;
SELECT pg_temp.as_user(:'eve_s3', $$SELECT auth.update_me(image => repeat('i', 2049))$$) AS huge_image;
SELECT pg_temp.as_user(:'eve_s3', $$SELECT auth.update_me(metadata => '"x"')$$) AS bad_metadata;
SELECT pg_temp.err($$SELECT auth.update_me('x')$$) AS not_authenticated;
SELECT pg_temp.as_user(:'eve_s3', $$SELECT (auth.create_api_key('eve key')).key$$) AS eve_key \gset
SELECT pg_temp.as_key(:'eve_key', $$SELECT auth.update_me('x')$$) AS with_api_key;

-- delete_account: a session authenticated within auth.fresh_age (1 day),
-- counted from the sign-in, not moved by the sliding refresh; otherwise
-- the password.
SET auth.time_offset = '2d';
SELECT pg_temp.live(:'eve_s3') AS still_live_and_refreshed;
SELECT pg_temp.as_user(:'eve_s3', $$SELECT auth.delete_account()$$) AS stale_session;
SELECT pg_temp.as_user(:'eve_s3', $$SELECT auth.delete_account('wrong password')$$) AS wrong_password;
SELECT pg_temp.as_user(:'eve_s3', $$SELECT auth.delete_account(repeat('p', 5000))$$) AS huge_password;
SELECT pg_temp.as_key(:'eve_key', $$SELECT auth.delete_account('eve password')$$) AS with_api_key;
SELECT pg_temp.err($$SELECT auth.delete_account()$$) AS not_authenticated;
SELECT pg_temp.settled(format(
    'SELECT bool_and(refreshed_at > created_at AND authenticated_at = created_at) FROM auth.sessions WHERE user_id = %L',
    :'eve')) AS refreshed_not_authenticated;
-- the last owner of an organization cannot leave it ownerless
SELECT pg_temp.as_user(:'eve_s3', $$SELECT auth.delete_account('eve password')$$) AS last_owner;
SELECT pg_temp.as_user(:'eve_s3', format($$SELECT auth.add_member(%L, %L, 'owner')$$, :'shared_org', :'bob')) AS bob_owner;
SELECT pg_temp.as_user(:'eve_s3', $$SELECT auth.delete_account('eve password')$$) AS with_password;
SELECT count(*) AS eve_rows FROM auth.users WHERE id = :'eve';
RESET auth.time_offset;
-- a fresh sign-in needs no password
SELECT token AS ann_s3 FROM auth.sign_in('ann@ua.example.com', 'ann third password') \gset
SET auth.time_offset = '23h';
SELECT pg_temp.as_user(:'ann_s3', $$SELECT auth.delete_account()$$) AS fresh_session;
RESET auth.time_offset;
SELECT pg_temp.err($$SELECT auth.sign_in('ann@ua.example.com', 'ann third password')$$) AS ann_gone;

-- The audit log names the actor: the database role for the admin tier,
-- the signed-in user for self-service, and every admin action is there.
SELECT event, user_id IS NOT NULL AS has_user, actor_role,
       actor_id IS NOT DISTINCT FROM user_id AS actor_is_user
  FROM auth.audit_log
 WHERE id > :audit_start
   AND event IN ('user_created', 'user_updated', 'password_set', 'user_banned', 'user_unbanned',
                 'user_deleted', 'organization_transferred', 'all_sessions_revoked',
                 'account_deleted')
 ORDER BY id;
SELECT detail->'fields' AS fields, detail->>'old_role' AS old_role, detail->>'role' AS role
  FROM auth.audit_log WHERE id > :audit_start AND event = 'user_updated' AND actor_role = 'regress_ua_admin'
 ORDER BY id;
SELECT detail->>'reason' AS reason, detail->>'sessions_revoked' AS sessions, detail->>'api_keys_revoked' AS keys
  FROM auth.audit_log WHERE id > :audit_start AND event = 'credentials_ended' ORDER BY id;
-- organizations, members and teams name the member who acted
SELECT auth.set_user_password(:'bob', 'bob password');
SELECT token AS bob_s FROM auth.sign_in('robert@ua.example.com', 'bob password') \gset
SELECT pg_temp.as_user(:'bob_s', format($$SELECT auth.create_team(%L, 'Ops')$$, :'dee_org')) AS team \gset
SELECT pg_temp.as_user(:'bob_s', format($$SELECT auth.update_team(%L, 'Operations')$$, :'team')) AS renamed;
SELECT pg_temp.as_user(:'bob_s', format($$SELECT auth.add_team_member(%L, %L)$$, :'team', :'bob')) AS added;
SELECT pg_temp.as_user(:'bob_s', format($$SELECT auth.remove_team_member(%L, %L)$$, :'team', :'bob')) AS removed;
SELECT pg_temp.as_user(:'bob_s', format($$SELECT auth.remove_team_member(%L, %L)$$, :'team', :'bob')) AS removed_again;
SELECT event, actor_id = :'bob' AS actor_is_bob, detail->>'member_id' = :'bob' AS about_bob
  FROM auth.audit_log
 WHERE id > :audit_start AND event LIKE 'team%' ORDER BY id;

DROP OWNED BY regress_ua_admin;
DROP ROLE regress_ua_admin;
DROP ROLE regress_ua_app;
