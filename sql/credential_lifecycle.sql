-- Credential lifecycle: what ends each credential (DESIGN "Credential
-- lifecycle"), through the one mechanism auth._end_credentials.
\i sql/include/setup.psql
\i sql/include/as_user.psql
SELECT coalesce(max(id), 0) AS audit_start FROM auth.audit_log \gset
-- A key's state as the application sees it, and whether it authenticates.
CREATE FUNCTION pg_temp.key_state(key text) RETURNS text
LANGUAGE sql AS $$
    SELECT coalesce(v.code, 'VALID') || ' / ' || pg_temp.as_key(key, 'SELECT ''authenticates''')
      FROM auth.verify_api_key(key) v
$$;

-- 1. Account pre-hijacking, claimed by a magic link.  A squatter signs up
-- with the victim's address (never verified), signs in, makes a key and,
-- with it, another key; creates an organization, invites someone to it,
-- adds an accomplice; joins the accomplice's organization; asks to move
-- the account to an address of their own.
SELECT auth.sign_up('victim@example.com', 'squatter password') AS victim \gset
SELECT auth.sign_up('mallory@example.com', 'mallory password') AS mallory \gset
SELECT token AS squat FROM auth.sign_in('victim@example.com', 'squatter password') \gset
SELECT token AS mal FROM auth.sign_in('mallory@example.com', 'mallory password') \gset
SELECT pg_temp.as_user(:'squat', $$SELECT (auth.create_api_key('squat')).key$$) AS squat_key \gset
SELECT pg_temp.as_key(:'squat_key', $$SELECT (auth.create_api_key('squat child')).key$$) AS squat_child \gset
SELECT pg_temp.as_user(:'squat', $$SELECT auth.create_organization('Victim Inc', 'victim-inc')$$) AS squat_org \gset
SELECT pg_temp.as_user(:'squat', format($$SELECT auth.add_member(%L, %L, 'admin')$$, :'squat_org', :'mallory')) AS accomplice_added;
SELECT pg_temp.as_user(:'squat', format($$SELECT auth.invite_member(%L, 'colleague@example.com', 'member') IS NOT NULL$$, :'squat_org')) AS invited;
SELECT pg_temp.as_user(:'mal', $$SELECT auth.create_organization('Mallory Ltd', 'mallory-ltd')$$) AS mal_org \gset
SELECT pg_temp.as_user(:'mal', format($$SELECT auth.add_member(%L, %L, 'admin')$$, :'mal_org', :'victim')) AS victim_joined;
SELECT pg_temp.as_user(:'squat', format($$SELECT auth.invite_member(%L, 'friend@example.com', 'member') IS NOT NULL$$, :'mal_org')) AS invited_to_accomplice_org;
SELECT pg_temp.as_user(:'squat', $$SELECT auth.request_email_change('squatter@evil.example')$$) AS squat_change \gset
SELECT pg_temp.key_state(:'squat_key') AS key_before, pg_temp.key_state(:'squat_child') AS child_before;

-- The owner of the mailbox signs in by link: everything the squatter set
-- up is gone.
SELECT user_id = :'victim' AS same_account, is_new_user
  FROM auth.consume_magic_link(auth.create_magic_link('victim@example.com')) \gset owner_
SELECT :'owner_same_account' AS same_account, :'owner_is_new_user' AS is_new_user;
SELECT pg_temp.key_state(:'squat_key') AS squat_key, pg_temp.key_state(:'squat_child') AS squat_child;
SELECT (auth.verify_session(:'squat')).user_id IS NULL AS squat_session_dead;
SELECT password_hash IS NULL AS no_password, email_verified_at IS NOT NULL AS verified
  FROM auth.users WHERE id = :'victim';
SELECT count(*) AS pending_secrets FROM auth.one_time_secrets
 WHERE (user_id = :'victim' OR email = 'victim@example.com')
   AND consumed_at IS NULL AND invalidated_at IS NULL;
SELECT pg_temp.as_user(:'squat', format('SELECT auth.confirm_email_change(%L)', :'squat_change')) AS squat_confirms;
SELECT email, status FROM auth.invitations WHERE inviter_id = :'victim' ORDER BY email;
SELECT count(*) AS victim_memberships FROM auth.members WHERE user_id = :'victim';
-- the organization the squatter founded is gone with the accomplice's
-- place in it; the accomplice's own organization remains, without the victim
SELECT EXISTS (SELECT FROM auth.organizations WHERE id = :'squat_org') AS squat_org_exists,
       EXISTS (SELECT FROM auth.organizations WHERE id = :'mal_org') AS mal_org_exists,
       (SELECT count(*) FROM auth.members WHERE user_id = :'mallory') AS mallory_memberships;
SELECT event, detail - 'org_id' - 'member_id' - 'organizations_deleted' AS detail,
       jsonb_array_length(detail->'organizations_deleted') AS organizations_deleted
  FROM auth.audit_log
 WHERE id > :audit_start AND user_id = :'victim'
   AND event IN ('api_keys_revoked', 'secrets_invalidated', 'invitations_canceled',
                 'organization_deleted', 'member_removed', 'credentials_ended', 'session_revoked')
 ORDER BY event;

-- 2. The same claimed by an email code.
SELECT auth.sign_up('coded@example.com', 'squatter password') AS coded \gset
SELECT token AS squat2 FROM auth.sign_in('coded@example.com', 'squatter password') \gset
SELECT pg_temp.as_user(:'squat2', $$SELECT (auth.create_api_key('squat')).key$$) AS code_key \gset
SELECT pg_temp.as_key(:'code_key', $$SELECT (auth.create_api_key('squat child')).key$$) AS code_child \gset
SELECT pg_temp.key_state(:'code_key') AS key_before, pg_temp.key_state(:'code_child') AS child_before;
SELECT user_id = :'coded' AS same_account
  FROM auth.sign_in_with_code('coded@example.com', auth.create_email_code('coded@example.com'));
SELECT pg_temp.key_state(:'code_key') AS code_key, pg_temp.key_state(:'code_child') AS code_child;
SELECT (auth.verify_session(:'squat2')).user_id IS NULL AS squat_session_dead;
-- an account verified before is not claimed again: its keys stay
SELECT token AS coded_ses FROM auth.sign_in_with_code('coded@example.com', auth.create_email_code('coded@example.com')) \gset
SELECT pg_temp.as_user(:'coded_ses', $$SELECT (auth.create_api_key('owner key')).key$$) AS owner_key \gset
SELECT count(*) AS signed_in FROM auth.consume_magic_link(auth.create_magic_link('coded@example.com'));
SELECT pg_temp.key_state(:'owner_key') AS owner_key_after_second_sign_in;

-- 3. A reset of a never-verified account claims it too: keep_api_keys
-- does not keep the squatter's keys, and the address is now verified.
SELECT auth.sign_up('reset-claim@example.com', 'squatter password') AS rclaim \gset
SELECT token AS squat3 FROM auth.sign_in('reset-claim@example.com', 'squatter password') \gset
SELECT pg_temp.as_user(:'squat3', $$SELECT (auth.create_api_key('squat')).key$$) AS rc_key \gset
SELECT pg_temp.as_key(:'rc_key', $$SELECT (auth.create_api_key('squat child')).key$$) AS rc_child \gset
SELECT auth.reset_password(auth.request_password_reset('reset-claim@example.com'),
                           'owner new password', keep_api_keys => true) = :'rclaim' AS reset;
SELECT pg_temp.key_state(:'rc_key') AS rc_key, pg_temp.key_state(:'rc_child') AS rc_child;
SELECT email_verified_at IS NOT NULL AS verified, password_hash IS NOT NULL AS has_password
  FROM auth.users WHERE id = :'rclaim';
SELECT detail->>'account_claimed' AS claimed FROM auth.audit_log
 WHERE event = 'password_reset' AND user_id = :'rclaim';

-- 4. Reset of a verified account: recovery after a possible compromise
-- ends every key (and the keys they made) unless the caller keeps them.
SELECT token AS rita_ses FROM auth.consume_magic_link(auth.create_magic_link('rita@example.com')) \gset
SELECT id AS rita FROM auth.users WHERE email = 'rita@example.com' \gset
SELECT pg_temp.as_user(:'rita_ses', $$SELECT (auth.create_api_key('rita')).key$$) AS rita_key \gset
SELECT pg_temp.as_key(:'rita_key', $$SELECT (auth.create_api_key('rita child')).key$$) AS rita_child \gset
SELECT pg_temp.as_user(:'rita_ses', $$SELECT auth.request_email_change('rita@elsewhere.example') IS NOT NULL$$) AS change_pending;
SELECT pg_temp.err(format('SELECT auth.reset_password(%L, %L, NULL)',
                          auth.request_password_reset('rita@example.com'), 'rita new password'));
SELECT auth.reset_password(auth.request_password_reset('rita@example.com'), 'rita new password') = :'rita' AS reset;
SELECT pg_temp.key_state(:'rita_key') AS rita_key, pg_temp.key_state(:'rita_child') AS rita_child;
-- (an email change asked for with a stolen session stays pending, but
-- confirming it needs a session of the account, and every one is gone)
SELECT (auth.verify_session(:'rita_ses')).user_id IS NULL AS session_dead,
       (SELECT count(*) FROM auth.one_time_secrets WHERE user_id = :'rita' AND purpose = 'email_change'
          AND consumed_at IS NULL AND invalidated_at IS NULL) AS pending_email_changes;
-- keep_api_keys => true: sessions go, keys stay
SELECT token AS rita_ses FROM auth.sign_in('rita@example.com', 'rita new password') \gset
SELECT pg_temp.as_user(:'rita_ses', $$SELECT (auth.create_api_key('rita 2')).key$$) AS rita_key \gset
SELECT pg_temp.as_key(:'rita_key', $$SELECT (auth.create_api_key('rita 2 child')).key$$) AS rita_child \gset
SELECT auth.reset_password(auth.request_password_reset('rita@example.com'), 'rita newer password',
                           keep_api_keys => true) = :'rita' AS reset_keeping_keys;
SELECT pg_temp.key_state(:'rita_key') AS rita_key, pg_temp.key_state(:'rita_child') AS rita_child,
       (auth.verify_session(:'rita_ses')).user_id IS NULL AS session_dead;

-- 5. change_password: the other sessions go, and the keys too unless kept;
-- the session that changed it stays.
SELECT auth.sign_up('carl@example.com', 'carl password') AS carl \gset
SELECT token AS carl_a FROM auth.sign_in('carl@example.com', 'carl password') \gset
SELECT token AS carl_b FROM auth.sign_in('carl@example.com', 'carl password') \gset
SELECT pg_temp.as_user(:'carl_b', $$SELECT (auth.create_api_key('stolen')).key$$) AS carl_key \gset
SELECT pg_temp.as_key(:'carl_key', $$SELECT (auth.create_api_key('stolen child')).key$$) AS carl_child \gset
SELECT pg_temp.as_user(:'carl_a', $$SELECT auth.change_password('carl password', 'carl new password', NULL)$$) AS null_keep;
SELECT pg_temp.as_user(:'carl_a', $$SELECT auth.change_password('carl password', 'carl new password')$$) AS changed;
SELECT pg_temp.key_state(:'carl_key') AS carl_key, pg_temp.key_state(:'carl_child') AS carl_child;
SELECT (auth.verify_session(:'carl_a')).user_id = :'carl' AS changer_kept,
       (auth.verify_session(:'carl_b')).user_id IS NULL AS other_dead;
SELECT pg_temp.as_user(:'carl_a', $$SELECT (auth.create_api_key('ci')).key$$) AS carl_key \gset
SELECT pg_temp.as_user(:'carl_a', $$SELECT auth.change_password('carl new password', 'carl third password', keep_api_keys => true)$$) AS changed_keeping_keys;
SELECT pg_temp.key_state(:'carl_key') AS carl_key;
SELECT pg_temp.as_key(:'carl_key', $$SELECT auth.change_password('carl third password', 'carl fourth password')$$) AS with_key;

-- 6. revoke_all_credentials: sign out everywhere, this session included,
-- and every key; the identity is gone at once.
SELECT auth.sign_up('dora@example.com', 'dora password') AS dora \gset
SELECT token AS dora_a FROM auth.sign_in('dora@example.com', 'dora password') \gset
SELECT token AS dora_b FROM auth.sign_in('dora@example.com', 'dora password') \gset
SELECT pg_temp.as_user(:'dora_a', $$SELECT (auth.create_api_key('dora')).key$$) AS dora_key \gset
SELECT pg_temp.as_key(:'dora_key', $$SELECT (auth.create_api_key('dora child')).key$$) AS dora_child \gset
SELECT pg_temp.as_key(:'dora_key', $$SELECT auth.revoke_all_credentials()::text$$) AS with_key;
SELECT pg_temp.err($$SELECT auth.revoke_all_credentials()$$) AS nobody;
SELECT pg_temp.as_user(:'dora_a', $$SELECT auth.revoke_all_credentials()::text || ' uid ' || coalesce(auth.uid()::text, 'none')$$) AS revoked;
SELECT (auth.verify_session(:'dora_a')).user_id IS NULL AS a_dead,
       (auth.verify_session(:'dora_b')).user_id IS NULL AS b_dead,
       pg_temp.key_state(:'dora_key') AS dora_key, pg_temp.key_state(:'dora_child') AS dora_child;
SELECT revoked_reason, count(*) FROM auth.sessions WHERE user_id = :'dora' GROUP BY 1;
SELECT detail FROM auth.audit_log WHERE event = 'credentials_ended' AND user_id = :'dora';

-- 7. A key made by a key lives only while every key above it does, also
-- when the end of a parent did not reach it (a child made by a
-- transaction that authenticated with the parent before its revocation
-- committed: test/specs/api_key_parent_end.spec).  Here the parent alone
-- is ended by hand.
SELECT auth.sign_up('erin@example.com', 'erin password') AS erin \gset
SELECT token AS erin_ses FROM auth.sign_in('erin@example.com', 'erin password') \gset
SELECT g.key AS e1, g.key_id AS e1_id FROM auth.create_api_key_for(:'erin', 'e1') g \gset
SELECT pg_temp.as_key(:'e1', $$SELECT (auth.create_api_key('e2')).key$$) AS e2 \gset
SELECT pg_temp.as_key(:'e2', $$SELECT (auth.create_api_key('e3')).key$$) AS e3 \gset
SELECT pg_temp.key_state(:'e2') AS e2, pg_temp.key_state(:'e3') AS e3;
-- a connection-scope identity of the grandchild is rechecked per transaction
SELECT auth.authenticate_api_key(:'e3', false) = :'erin' AS e3_connection;
UPDATE auth.api_keys SET enabled = false WHERE id = :'e1_id';
SELECT auth.uid() IS NULL AS connection_identity_gone;
SELECT pg_temp.key_state(:'e2') AS e2, pg_temp.key_state(:'e3') AS e3;
UPDATE auth.api_keys SET enabled = true WHERE id = :'e1_id';
SELECT auth.uid() = :'erin' AS connection_identity_back;
UPDATE auth.api_keys SET expires_at = now() - interval '1 second' WHERE id = :'e1_id';
SELECT auth.uid() IS NULL AS connection_identity_gone;
SELECT pg_temp.key_state(:'e3') AS e3;
UPDATE auth.api_keys SET expires_at = NULL, revoked_at = now() WHERE id = :'e1_id';
SELECT auth.uid() IS NULL AS connection_identity_gone;
SELECT pg_temp.key_state(:'e2') AS e2, pg_temp.key_state(:'e3') AS e3;
RESET auth.identity;
-- A chain is at most 8 keys deep (the walk's bound); a deeper one, which
-- only a database from 0.1.0 can hold, is INVALID.
SELECT g.key AS d, g.key_id AS d_id FROM auth.create_api_key_for(:'erin', 'depth 1') g \gset
SELECT pg_temp.as_key(:'d', $$SELECT (auth.create_api_key('depth 2')).key$$) AS d \gset
SELECT pg_temp.as_key(:'d', $$SELECT (auth.create_api_key('depth 3')).key$$) AS d \gset
SELECT pg_temp.as_key(:'d', $$SELECT (auth.create_api_key('depth 4')).key$$) AS d \gset
SELECT pg_temp.as_key(:'d', $$SELECT (auth.create_api_key('depth 5')).key$$) AS d \gset
SELECT pg_temp.as_key(:'d', $$SELECT (auth.create_api_key('depth 6')).key$$) AS d \gset
SELECT pg_temp.as_key(:'d', $$SELECT (auth.create_api_key('depth 7')).key$$) AS d \gset
SELECT pg_temp.as_key(:'d', $$SELECT (auth.create_api_key('depth 8')).key$$) AS d \gset
SELECT pg_temp.key_state(:'d') AS depth_8;
SELECT pg_temp.as_key(:'d', $$SELECT (auth.create_api_key('depth 9')).key$$) AS depth_9;
SELECT g.key AS top FROM auth.create_api_key_for(:'erin', 'above') g \gset
UPDATE auth.api_keys SET parent_key_id = (SELECT id FROM auth.api_keys WHERE name = 'above')
 WHERE id = :'d_id';
SELECT pg_temp.key_state(:'d') AS depth_9_from_old_release;

-- No secret in the audit log.
SELECT count(*) AS secrets_in_audit FROM auth.audit_log l
 WHERE l.id > :audit_start
   AND (strpos(l.detail::text, :'squat_key') > 0 OR strpos(l.detail::text, :'squat') > 0
        OR strpos(l.detail::text, :'rita_key') > 0 OR strpos(l.detail::text, :'dora_key') > 0);

-- Opening sessions for many users in one transaction (an admin's bulk
-- import) re-checks them at commit under one lock on every user's
-- credentials, not one lock per user, which would fill the lock table.
CREATE TEMP TABLE bulk_users AS
SELECT auth.create_user(format('bulk%s@lifecycle.example', g)) AS id
  FROM generate_series(1, 10000) g;
SELECT count(*) AS bulk_sessions
  FROM bulk_users b, LATERAL auth.create_session(b.id) s;
SELECT count(*) AS live FROM auth.sessions s JOIN bulk_users b ON b.id = s.user_id
 WHERE s.revoked_at IS NULL;
