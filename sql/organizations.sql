-- Organizations: members, roles and permissions, invitations, teams, the
-- active organization and the RLS helpers.
\i sql/include/setup.psql
SET auth.magic_link_rate_limit = 100;

\i sql/include/as_user.psql

-- Four users with verified emails and a session each.
INSERT INTO auth.users (email, email_verified_at, password_hash)
SELECT e || '@org.example', now(), NULL FROM unnest(ARRAY['olga', 'adam', 'mia', 'otto']) e;
SELECT id AS olga_id FROM auth.users WHERE email = 'olga@org.example' \gset
SELECT id AS adam_id FROM auth.users WHERE email = 'adam@org.example' \gset
SELECT id AS mia_id FROM auth.users WHERE email = 'mia@org.example' \gset
SELECT id AS otto_id FROM auth.users WHERE email = 'otto@org.example' \gset
SELECT token AS olga FROM auth.create_session(:'olga_id') \gset
SELECT token AS adam FROM auth.create_session(:'adam_id') \gset
SELECT token AS mia FROM auth.create_session(:'mia_id') \gset
SELECT token AS otto FROM auth.create_session(:'otto_id') \gset

-- create_organization: the caller becomes owner; the slug is derived from
-- the name when omitted, made unique, or validated when given.
BEGIN;
SELECT auth.authenticate(:'olga') IS NOT NULL AS authenticated;
SELECT auth.create_organization('Acme, Inc.', NULL, '{"plan": "team"}') AS acme \gset
SELECT auth.create_organization('Acme Inc') AS acme2 \gset
COMMIT;
SELECT slug, metadata FROM auth.organizations WHERE id IN (:'acme', :'acme2') ORDER BY slug;
SELECT pg_temp.as_user(:'olga', $$SELECT auth.create_organization('X', 'Bad Slug')$$);
SELECT pg_temp.as_user(:'olga', $$SELECT auth.create_organization('X', 'acme-inc')$$);
SELECT pg_temp.as_user(:'olga', $$SELECT auth.create_organization('')$$);
SELECT pg_temp.err($$SELECT auth.create_organization('Anonymous')$$);
SELECT pg_temp.as_user(:'otto', $$SELECT auth.create_organization('Otto Co', 'otto-co')::text$$) <> '' AS otto_org;
SELECT id AS otto_org FROM auth.organizations WHERE slug = 'otto-co' \gset
SELECT pg_temp.as_user(:'olga', $$SELECT string_agg(slug || ':' || role, ', ' ORDER BY slug) FROM auth.list_my_organizations()$$) AS olga_orgs;

-- add_member needs member:create, a role that exists, and not above one's own.
SELECT pg_temp.as_user(:'olga', format('SELECT auth.add_member(%L, %L, %L)', :'acme', :'adam_id', 'admin'));
SELECT pg_temp.as_user(:'adam', format('SELECT auth.add_member(%L, %L, %L)', :'acme', :'mia_id', 'member'));
SELECT pg_temp.as_user(:'mia', format('SELECT auth.add_member(%L, %L, %L)', :'acme', :'otto_id', 'member'));
SELECT pg_temp.as_user(:'otto', format('SELECT auth.add_member(%L, %L, %L)', :'acme', :'otto_id', 'member'));
SELECT pg_temp.as_user(:'adam', format('SELECT auth.add_member(%L, %L, %L)', :'acme', :'otto_id', 'owner'));
SELECT pg_temp.as_user(:'olga', format('SELECT auth.add_member(%L, %L, %L)', :'acme', :'otto_id', 'wizard'));
SELECT pg_temp.as_user(:'olga', format('SELECT auth.add_member(%L, %L, %L)', :'acme', :'mia_id', 'member'));
SELECT pg_temp.as_user(:'olga', format('SELECT auth.add_member(%L, %L, %L)', :'acme', gen_random_uuid(), 'member'));
SELECT pg_temp.as_user(:'mia', format($$SELECT string_agg(email || ':' || role, ', ') FROM auth.list_members(%L)$$, :'acme'));
SELECT pg_temp.as_user(:'otto', format('SELECT count(*) FROM auth.list_members(%L)', :'acme'));

-- The RLS helpers: rank-aware roles, permissions, and the lists.
SELECT pg_temp.as_user(:'mia', format($$SELECT concat_ws(', ', 'member ' || auth.is_member(%L),
        'elsewhere ' || auth.is_member(%L), 'role member ' || auth.has_role(%L, 'member'),
        'role admin ' || auth.has_role(%L, 'admin'), 'invite ' || auth.has_permission(%L, 'invitation:create'))$$,
        :'acme', :'otto_org', :'acme', :'acme', :'acme')) AS mia;
SELECT pg_temp.as_user(:'adam', format($$SELECT concat_ws(', ', 'role admin ' || auth.has_role(%L, 'admin'),
        'role owner ' || auth.has_role(%L, 'owner'), 'member:create ' || auth.has_permission(%L, 'member:create'),
        'organization:delete ' || auth.has_permission(%L, 'organization:delete'))$$,
        :'acme', :'acme', :'acme', :'acme')) AS adam;
SELECT pg_temp.as_user(:'olga', format($$SELECT concat_ws(', ', 'role admin ' || auth.has_role(%L, 'admin'),
        'organization:delete ' || auth.has_permission(%L, 'organization:delete'),
        'anything ' || auth.has_permission(%L, 'project:archive'), 'orgs ' || cardinality(auth.org_ids()))$$,
        :'acme', :'acme', :'acme')) AS olga;
SELECT auth.is_member(:'acme') AS anonymous_member, auth.org_ids() AS anonymous_orgs,
       auth.has_permission(:'acme', 'member:create') AS anonymous_permission;

-- Custom roles: resource:* wildcards; not shadowing built-ins; not deleted
-- while held.
SELECT pg_temp.as_user(:'olga', format('SELECT auth.create_role(%L, %L, %L)::text <> %L', :'acme', 'editor', '{project:*,document:read}', ''));
SELECT pg_temp.as_user(:'mia', format('SELECT auth.create_role(%L, %L, %L)', :'acme', 'hacker', '{*}'));
SELECT pg_temp.as_user(:'olga', format('SELECT auth.create_role(%L, %L, %L)', :'acme', 'admin', '{}'));
SELECT pg_temp.as_user(:'olga', format('SELECT auth.create_role(%L, %L, %L)', :'acme', 'Bad Name', '{}'));
SELECT pg_temp.as_user(:'olga', format('SELECT auth.create_role(%L, %L, %L)', :'acme', 'odd', '{project}'));
SELECT pg_temp.as_user(:'olga', format('SELECT auth.create_role(%L, %L, %L)', :'acme', 'editor', '{}'));
-- Nobody hands out more than they hold: an admin (who lacks project:*)
-- cannot give the editor role, nor make a role granting * or
-- organization:delete; within their own permissions they can.
SELECT pg_temp.as_user(:'adam', format('SELECT auth.update_member_role(%L, %L, %L)', :'acme', :'mia_id', 'editor'));
SELECT pg_temp.as_user(:'adam', format('SELECT auth.create_role(%L, %L, %L)', :'acme', 'boss', '{*}'));
SELECT pg_temp.as_user(:'adam', format('SELECT auth.create_role(%L, %L, %L)', :'acme', 'boss', '{organization:delete}'));
SELECT pg_temp.as_user(:'adam', format('SELECT auth.create_role(%L, %L, %L)::text <> %L', :'acme', 'recruiter', '{invitation:create,invitation:cancel}', ''));
SELECT pg_temp.as_user(:'adam', format('SELECT auth.update_role(%L, %L, %L)', :'acme', 'recruiter', '{invitation:*}'));
SELECT pg_temp.as_user(:'adam', format('SELECT auth.update_role(%L, %L, %L)', :'acme', 'editor', '{project:read}'));
SELECT pg_temp.as_user(:'olga', format('SELECT auth.update_member_role(%L, %L, %L)', :'acme', :'mia_id', 'editor'));
SELECT pg_temp.as_user(:'mia', format($$SELECT concat_ws(', ', 'project:update ' || auth.has_permission(%L, 'project:update'),
        'project:delete ' || auth.has_permission(%L, 'project:delete'),
        'document:read ' || auth.has_permission(%L, 'document:read'),
        'document:write ' || auth.has_permission(%L, 'document:write'),
        'role editor ' || auth.has_role(%L, 'editor'), 'role member ' || auth.has_role(%L, 'member'))$$,
        :'acme', :'acme', :'acme', :'acme', :'acme', :'acme')) AS mia_editor;
SELECT pg_temp.as_user(:'olga', format('SELECT auth.delete_role(%L, %L)', :'acme', 'editor'));
SELECT pg_temp.as_user(:'olga', format('SELECT auth.update_role(%L, %L, %L)', :'acme', 'editor', '{project:read}'));
SELECT pg_temp.as_user(:'mia', format($$SELECT auth.has_permission(%L, 'project:update')::text$$, :'acme')) AS after_update;
SELECT pg_temp.as_user(:'olga', format('SELECT auth.update_role(%L, %L, %L)', :'acme', 'ghost', '{}'));

-- Roles cannot be raised or touched above one's own; the last owner stays.
SELECT pg_temp.as_user(:'adam', format('SELECT auth.update_member_role(%L, %L, %L)', :'acme', :'olga_id', 'member'));
SELECT pg_temp.as_user(:'adam', format('SELECT auth.update_member_role(%L, %L, %L)', :'acme', :'adam_id', 'owner'));
SELECT pg_temp.as_user(:'adam', format('SELECT auth.remove_member(%L, %L)', :'acme', :'olga_id'));
SELECT pg_temp.as_user(:'olga', format('SELECT auth.update_member_role(%L, %L, %L)', :'acme', :'olga_id', 'admin'));
SELECT pg_temp.as_user(:'olga', format('SELECT auth.leave_organization(%L)', :'acme'));
SELECT pg_temp.as_user(:'olga', format('SELECT auth.update_member_role(%L, %L, %L)', :'acme', :'adam_id', 'owner'));
SELECT pg_temp.as_user(:'olga', format('SELECT auth.update_member_role(%L, %L, %L)', :'acme', :'olga_id', 'admin'));
SELECT pg_temp.as_user(:'adam', format('SELECT auth.update_member_role(%L, %L, %L)', :'acme', :'olga_id', 'owner'));
SELECT pg_temp.as_user(:'olga', format('SELECT auth.update_member_role(%L, %L, %L)', :'acme', :'adam_id', 'admin'));

-- Helpers see a change made earlier in the same transaction.
BEGIN;
SELECT auth.authenticate(:'otto') IS NOT NULL AS authenticated;
SELECT auth.is_member(:'acme') AS before;
SET LOCAL ROLE NONE;
INSERT INTO auth.members (org_id, user_id, role) VALUES (:'acme', :'otto_id', 'member');
SELECT auth.is_member(:'acme') AS after_insert;
ROLLBACK;
SELECT pg_temp.as_user(:'otto', format('SELECT auth.is_member(%L)::text', :'acme')) AS after_rollback;

-- remove_member and leave_organization.
SELECT pg_temp.as_user(:'olga', format('SELECT auth.add_member(%L, %L, %L)', :'acme', :'otto_id', 'member'));
SELECT pg_temp.as_user(:'mia', format('SELECT auth.remove_member(%L, %L)', :'acme', :'otto_id'));
SELECT pg_temp.as_user(:'adam', format('SELECT auth.remove_member(%L, %L)', :'acme', :'otto_id'));
SELECT pg_temp.as_user(:'adam', format('SELECT auth.remove_member(%L, %L)', :'acme', :'otto_id'));
SELECT pg_temp.as_user(:'olga', format('SELECT auth.add_member(%L, %L, %L)', :'acme', :'otto_id', 'member'));
SELECT pg_temp.as_user(:'otto', format('SELECT auth.leave_organization(%L)', :'acme'));
SELECT pg_temp.as_user(:'otto', format('SELECT auth.leave_organization(%L)', :'acme'));

-- The membership limit.
SET auth.membership_limit = 3;
SELECT pg_temp.as_user(:'olga', format('SELECT auth.add_member(%L, %L, %L)', :'acme', :'otto_id', 'member'));
RESET auth.membership_limit;

-- Teams: members of the organization only; team_ids(); leaving the
-- organization leaves its teams.
SELECT pg_temp.as_user(:'adam', format('SELECT auth.create_team(%L, %L)::text <> %L', :'acme', 'Platform', ''));
SELECT id AS platform FROM auth.teams WHERE name = 'Platform' \gset
SELECT pg_temp.as_user(:'mia', format('SELECT auth.create_team(%L, %L)', :'acme', 'Rogue'));
SELECT pg_temp.as_user(:'adam', format('SELECT auth.create_team(%L, %L)', :'acme', 'Platform'));
SELECT pg_temp.as_user(:'adam', format('SELECT auth.create_team(%L, %L)', :'acme', ' '));
SELECT pg_temp.as_user(:'adam', format('SELECT auth.add_team_member(%L, %L)', :'platform', :'mia_id'));
SELECT pg_temp.as_user(:'adam', format('SELECT auth.add_team_member(%L, %L)', :'platform', :'otto_id'));
SELECT pg_temp.as_user(:'mia', format('SELECT auth.add_team_member(%L, %L)', :'platform', :'adam_id'));
SELECT pg_temp.as_user(:'mia', $$SELECT cardinality(auth.team_ids())::text$$) AS mia_teams;
SELECT pg_temp.as_user(:'otto', format('SELECT count(*)::text FROM auth.list_teams(%L)', :'acme'));
SELECT pg_temp.as_user(:'mia', format($$SELECT string_agg(name || ':' || members, ', ') FROM auth.list_teams(%L)$$, :'acme'));
SELECT pg_temp.as_user(:'adam', format('SELECT auth.update_team(%L, %L)', :'platform', 'Platform Team'));
SELECT pg_temp.as_user(:'adam', format('SELECT auth.remove_team_member(%L, %L)::text', :'platform', :'mia_id'));
SELECT pg_temp.as_user(:'adam', format('SELECT auth.add_team_member(%L, %L)', :'platform', :'mia_id'));
-- (an admin may not remove a member whose custom role grants what the admin lacks)
SELECT pg_temp.as_user(:'adam', format('SELECT auth.remove_member(%L, %L)', :'acme', :'mia_id'));
SELECT pg_temp.as_user(:'olga', format('SELECT auth.remove_member(%L, %L)', :'acme', :'mia_id'));
SELECT count(*) AS mia_team_rows FROM auth.team_members WHERE user_id = :'mia_id';
SELECT pg_temp.as_user(:'olga', format('SELECT auth.add_member(%L, %L, %L)', :'acme', :'mia_id', 'editor'));

-- Invitations: the invitee's verified email must match; once only.
SELECT pg_temp.as_user(:'adam', format('SELECT auth.invite_member(%L, %L, %L) IS NOT NULL', :'acme', 'ivy@org.example', 'owner'));
SELECT pg_temp.as_user(:'mia', format('SELECT auth.invite_member(%L, %L, %L) IS NOT NULL', :'acme', 'ivy@org.example', 'member'));
SELECT pg_temp.as_user(:'adam', format('SELECT auth.invite_member(%L, %L, %L) IS NOT NULL', :'acme', 'mia@org.example', 'member'));
SELECT pg_temp.as_user(:'adam', format('SELECT auth.invite_member(%L, %L, %L, %L) IS NOT NULL', :'acme', 'ivy@org.example', 'member', :'otto_org'));
BEGIN;
SELECT auth.authenticate(:'adam') IS NOT NULL AS authenticated;
SELECT auth.invite_member(:'acme', 'Ivy@Org.example', 'member', :'platform') AS inv \gset
COMMIT;
SELECT :'inv' ~ '^inv_[A-Za-z0-9_-]{43}$' AS token_shape;
SELECT token_hash = sha256(convert_to(:'inv', 'UTF8')) AS hash_at_rest, email, role, status
  FROM auth.invitations WHERE org_id = :'acme';
-- Ivy signs up; unverified, she cannot accept; someone else cannot either.
SELECT auth.sign_up('ivy@org.example', 'ivy password') AS ivy_id \gset
SELECT token AS ivy FROM auth.sign_in('ivy@org.example', 'ivy password') \gset
SELECT pg_temp.as_user(:'ivy', format('SELECT auth.accept_invitation(%L)', :'inv'));
SELECT pg_temp.as_user(:'otto', format('SELECT auth.accept_invitation(%L)', :'inv'));
SELECT pg_temp.err(format('SELECT auth.accept_invitation(%L)', :'inv'));
SELECT pg_temp.as_user(:'ivy', $$SELECT count(*)::text FROM auth.list_my_invitations()$$) AS unverified_sees;
UPDATE auth.users SET email_verified_at = now() WHERE id = :'ivy_id';
SELECT pg_temp.as_user(:'ivy', $$SELECT string_agg(org_name || ':' || role, ', ') FROM auth.list_my_invitations()$$) AS ivy_sees;
SELECT pg_temp.as_user(:'ivy', format('SELECT auth.accept_invitation(%L) = %L', :'inv', :'acme'));
SELECT pg_temp.as_user(:'ivy', format('SELECT auth.accept_invitation(%L)', :'inv'));
SELECT pg_temp.as_user(:'ivy', format($$SELECT concat_ws(', ', 'member ' || auth.is_member(%L), 'teams ' || cardinality(auth.team_ids()))$$, :'acme'));
SELECT pg_temp.as_user(:'ivy', $$SELECT auth.accept_invitation('inv_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA')$$);
SELECT pg_temp.as_user(:'ivy', $$SELECT auth.accept_invitation('nonsense')$$);
-- Rejecting, canceling, expiring.
BEGIN;
SELECT auth.authenticate(:'adam') IS NOT NULL AS authenticated;
SELECT auth.invite_member(:'acme', 'otto@org.example', 'member') AS inv_otto \gset
SELECT auth.invite_member(:'acme', 'zed@org.example', 'member') AS inv_zed \gset
SELECT auth.invite_member(:'acme', 'yan@org.example', 'member', NULL, '1 hour') AS inv_yan \gset
COMMIT;
SELECT pg_temp.as_user(:'olga', format('SELECT auth.invite_member(%L, %L, %L, NULL, %L) IS NOT NULL', :'acme', 'x@org.example', 'member', '49 hours'));
SELECT pg_temp.as_user(:'otto', format('SELECT auth.reject_invitation(%L)', :'inv_otto'));
SELECT pg_temp.as_user(:'otto', format('SELECT auth.accept_invitation(%L)', :'inv_otto'));
SELECT id AS zed_inv FROM auth.invitations WHERE email = 'zed@org.example' \gset
SELECT pg_temp.as_user(:'mia', format('SELECT auth.cancel_invitation(%L)', :'zed_inv'));
SELECT pg_temp.as_user(:'adam', format('SELECT auth.cancel_invitation(%L)', :'zed_inv'));
SELECT pg_temp.as_user(:'adam', format('SELECT auth.cancel_invitation(%L)', :'zed_inv'));
SET auth.time_offset = '2h';
SELECT pg_temp.as_user(:'mia', format($$SELECT string_agg(email || ':' || status, ', ' ORDER BY email) FROM auth.list_invitations(%L)$$, :'acme'));
RESET auth.time_offset;
SELECT pg_temp.as_user(:'otto', format('SELECT count(*) FROM auth.list_invitations(%L)', :'acme'));
-- Invitations die with their inviter's role, and with the role they offer.
SELECT pg_temp.as_user(:'adam', format('SELECT auth.invite_member(%L, %L, %L) IS NOT NULL', :'acme', 'pat@org.example', 'member'));
SELECT pg_temp.as_user(:'olga', format('SELECT auth.invite_member(%L, %L, %L) IS NOT NULL', :'acme', 'quin@org.example', 'recruiter'));
SELECT pg_temp.as_user(:'olga', format('SELECT auth.update_member_role(%L, %L, %L)', :'acme', :'adam_id', 'member'));
SELECT pg_temp.as_user(:'olga', format('SELECT auth.delete_role(%L, %L)', :'acme', 'recruiter'));
SELECT email, status FROM auth.invitations WHERE email IN ('pat@org.example', 'quin@org.example') ORDER BY email;
SELECT pg_temp.as_user(:'olga', format('SELECT auth.update_member_role(%L, %L, %L)', :'acme', :'adam_id', 'admin'));
SELECT count(*) AS invitation_tokens_at_rest FROM auth.invitations i WHERE strpos(i::text, 'inv_') > 0;

-- The active organization: stored on the session, reflected in org_id(),
-- also after the next authenticate; members only; NULL clears.
SELECT pg_temp.as_user(:'mia', format('SELECT auth.set_active_organization(%L)', :'otto_org'));
BEGIN;
SELECT auth.authenticate(:'mia') IS NOT NULL AS authenticated;
SELECT auth.org_id() IS NULL AS none_yet;
SELECT auth.set_active_organization(:'acme');
SELECT auth.org_id() = :'acme' AS active_now, auth.identity()->>'org_id' = :'acme' AS in_identity;
COMMIT;
SELECT pg_temp.as_user(:'mia', format('SELECT (auth.org_id() = %L)::text', :'acme')) AS after_authenticate;
SELECT pg_temp.as_user(:'mia', $$SELECT auth.set_active_organization(NULL)$$);
SELECT pg_temp.as_user(:'mia', $$SELECT coalesce(auth.org_id()::text, 'none')$$) AS cleared;
SELECT pg_temp.err($$SELECT auth.set_active_organization(NULL)$$);
-- Removed from the organization, the session loses it as active.
SELECT pg_temp.as_user(:'ivy', format('SELECT auth.set_active_organization(%L)', :'acme'));
SELECT pg_temp.as_user(:'adam', format('SELECT auth.remove_member(%L, %L)', :'acme', :'ivy_id'));
SELECT pg_temp.as_user(:'ivy', $$SELECT coalesce(auth.org_id()::text, 'none')$$) AS after_removal;
SELECT pg_temp.as_user(:'adam', format('SELECT auth.add_member(%L, %L, %L)', :'acme', :'ivy_id', 'member'));

-- A multi-tenant table: members read their organizations' rows, and write
-- only with project:update.
CREATE ROLE regress_tenant_app;
CREATE TABLE projects (id serial PRIMARY KEY, org_id uuid NOT NULL, name text NOT NULL);
GRANT SELECT, INSERT, UPDATE ON projects TO regress_tenant_app;
GRANT USAGE ON SEQUENCE projects_id_seq TO regress_tenant_app;
ALTER TABLE projects ENABLE ROW LEVEL SECURITY;
CREATE POLICY projects_read ON projects FOR SELECT USING (auth.is_member(org_id));
CREATE POLICY projects_insert ON projects FOR INSERT WITH CHECK (auth.has_permission(org_id, 'project:update'));
CREATE POLICY projects_update ON projects FOR UPDATE USING (auth.has_permission(org_id, 'project:update'));
INSERT INTO projects (org_id, name) VALUES (:'acme', 'rocket'), (:'acme', 'anvil'), (:'otto_org', 'secret plan');
CREATE FUNCTION pg_temp.tenant(token text, statement text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE r text;
BEGIN
    PERFORM auth.authenticate(token);
    SET LOCAL ROLE regress_tenant_app;
    EXECUTE statement INTO r;
    RESET ROLE;
    RETURN coalesce(nullif(r, ''), 'ok');
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE || ': ' || SQLERRM;
END $$;
SELECT pg_temp.tenant(:'ivy', $$SELECT string_agg(name, ', ' ORDER BY name) FROM projects$$) AS ivy_reads;
SELECT pg_temp.tenant(:'otto', $$SELECT string_agg(name, ', ' ORDER BY name) FROM projects$$) AS otto_reads;
SELECT pg_temp.tenant(:'ivy', format('INSERT INTO projects (org_id, name) VALUES (%L, %L)', :'acme', 'ivy''s'));
SELECT pg_temp.tenant(:'mia', format('INSERT INTO projects (org_id, name) VALUES (%L, %L)', :'acme', 'mia''s'));
SELECT pg_temp.tenant(:'olga', format('INSERT INTO projects (org_id, name) VALUES (%L, %L) RETURNING name', :'acme', 'olga''s'));
SELECT pg_temp.tenant(:'olga', format('INSERT INTO projects (org_id, name) VALUES (%L, %L)', :'otto_org', 'planted'));
SELECT pg_temp.tenant(:'ivy', $$UPDATE projects SET name = 'hijacked' WHERE name = 'rocket' RETURNING name$$);
SELECT pg_temp.tenant(:'olga', $$UPDATE projects SET name = 'rocket 2' WHERE name = 'rocket' RETURNING name$$);
SELECT pg_temp.tenant(:'otto', $$UPDATE projects SET name = 'x' WHERE name = 'anvil' RETURNING name$$);
SELECT name FROM projects ORDER BY id;
DROP TABLE projects;
DROP ROLE regress_tenant_app;

-- Deleting an organization (owners only) leaves nothing behind.
SELECT pg_temp.as_user(:'adam', format('SELECT auth.delete_organization(%L)', :'acme'));
SELECT pg_temp.as_user(:'olga', format('SELECT auth.delete_organization(%L)', :'acme'));
SELECT (SELECT count(*) FROM auth.members WHERE org_id = :'acme') AS members,
       (SELECT count(*) FROM auth.teams WHERE org_id = :'acme') AS teams,
       (SELECT count(*) FROM auth.invitations WHERE org_id = :'acme') AS invitations,
       (SELECT count(*) FROM auth.roles WHERE org_id = :'acme') AS roles,
       (SELECT count(*) FROM auth.sessions WHERE active_org_id = :'acme') AS active_sessions;
-- Deleting a user leaves no membership.
DELETE FROM auth.users WHERE id = :'otto_id';
SELECT count(*) AS otto_memberships FROM auth.members WHERE user_id = :'otto_id';
SELECT count(*) AS otto_org_members FROM auth.members WHERE org_id = :'otto_org';
