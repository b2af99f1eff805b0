-- members: who belongs to an organization, with which role; custom roles;
-- the session's active organization.  Changes to one organization's members
-- are serialised on its row, so it never loses its last owner and never
-- exceeds auth.membership_limit, however many run at once.

-- Refuses granting or touching a role above the caller's own (42501): a
-- built-in role by rank, a custom role by its permissions, every one of
-- which the caller must hold.
CREATE FUNCTION auth._check_rank(org_id uuid, role text) RETURNS void
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF role IN ('owner', 'admin', 'member') THEN
        IF NOT auth.has_role(org_id, 'owner') AND auth._role_rank(role) > 2
           OR NOT auth.has_role(org_id, 'admin') AND auth._role_rank(role) > 1 THEN
            RAISE EXCEPTION USING ERRCODE = '42501',
                MESSAGE = format('cannot grant or change the role "%s", which ranks above your own', role);
        END IF;
        -- an API key also needs, in its scopes, every permission the role holds
        IF auth.api_key_id() IS NOT NULL THEN
            PERFORM auth._check_permissions_held(org_id,
                (SELECT r.permissions FROM auth.roles r WHERE r.org_id IS NULL AND r.name = role),
                format('the role "%s"', role));
        END IF;
    ELSE
        PERFORM auth._check_permissions_held(org_id,
            (SELECT r.permissions FROM auth.roles r WHERE r.org_id = _check_rank.org_id AND r.name = role),
            format('the role "%s"', role));
    END IF;
END
$$;
COMMENT ON FUNCTION auth._check_rank(uuid, text) IS
    'internal: 42501 when the role ranks above the caller''s or grants a permission the caller lacks';
REVOKE ALL ON FUNCTION auth._check_rank(uuid, text) FROM PUBLIC;

-- 42501 unless the caller holds every one of the permissions, so nobody
-- hands out (through a custom role) more than they have.
CREATE FUNCTION auth._check_permissions_held(org_id uuid, permissions text[], what text) RETURNS void
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_missing text;
BEGIN
    SELECT p INTO v_missing FROM unnest(permissions) p
     WHERE NOT auth.has_permission(org_id, p) LIMIT 1;
    IF v_missing IS NOT NULL THEN
        RAISE EXCEPTION USING ERRCODE = '42501',
            MESSAGE = format('cannot grant or change %s, which grants %s, a permission you lack', what, v_missing);
    END IF;
END
$$;
COMMENT ON FUNCTION auth._check_permissions_held(uuid, text[], text) IS
    'internal: 42501 unless the caller holds every permission';
REVOKE ALL ON FUNCTION auth._check_permissions_held(uuid, text[], text) FROM PUBLIC;

-- Adds a member under the organization's lock, within auth.membership_limit.
CREATE FUNCTION auth._insert_member(org_id uuid, user_id uuid, role text) RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    v_limit int := auth._setting_int('auth.membership_limit');
BEGIN
    PERFORM auth._lock_organization(org_id);
    IF (SELECT count(*) FROM auth.members m WHERE m.org_id = org_id) >= v_limit THEN
        RAISE EXCEPTION USING ERRCODE = '54000', MESSAGE = 'the organization has reached its membership limit',
            DETAIL = format('An organization has at most %s members (auth.membership_limit).', v_limit);
    END IF;
    INSERT INTO auth.members (org_id, user_id, role) VALUES (org_id, user_id, role);
EXCEPTION WHEN unique_violation THEN
    RAISE EXCEPTION USING ERRCODE = '23505', MESSAGE = 'already a member of this organization';
END
$$;
COMMENT ON FUNCTION auth._insert_member(uuid, uuid, text) IS
    'internal: adds a member within the membership limit';
REVOKE ALL ON FUNCTION auth._insert_member(uuid, uuid, text) FROM PUBLIC;

-- For a change to an organization's members: checks the permission (so
-- nobody else can take the lock), locks the organization, and checks the
-- permission again, now that no concurrent change can alter roles before
-- this one commits.  Returns the caller's id.
CREATE FUNCTION auth._lock_organization_for(org_id uuid, permission text) RETURNS uuid
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM auth._require_permission(org_id, permission);
    PERFORM auth._lock_organization(org_id);
    RETURN auth._require_permission(org_id, permission);
END
$$;
COMMENT ON FUNCTION auth._lock_organization_for(uuid, text) IS
    'internal: checks a permission, locks the organization, checks it again';
REVOKE ALL ON FUNCTION auth._lock_organization_for(uuid, text) FROM PUBLIC;

CREATE FUNCTION auth.add_member(org_id uuid, user_id uuid, role text) RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    v_uid uuid := auth._lock_organization_for(org_id, 'member:create');
BEGIN
    PERFORM auth._check_role(org_id, role);
    PERFORM auth._check_rank(org_id, role);
    IF NOT EXISTS (SELECT FROM auth.users u WHERE u.id = user_id) THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'user does not exist';
    END IF;
    PERFORM auth._insert_member(org_id, user_id, role);
    PERFORM auth._audit('member_added', v_uid, auth.session_id(), NULL,
                        jsonb_build_object('org_id', org_id, 'member_id', user_id, 'role', role));
END
$$;
COMMENT ON FUNCTION auth.add_member(uuid, uuid, text) IS
    'adds a user to an organization; needs member:create and a role not above the caller''s';

CREATE FUNCTION auth.update_member_role(org_id uuid, user_id uuid, role text) RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    v_uid uuid := auth._lock_organization_for(org_id, 'member:update');
    v_old text;
BEGIN
    PERFORM auth._check_role(org_id, role);
    PERFORM auth._check_rank(org_id, role);
    SELECT m.role INTO v_old FROM auth.members m WHERE m.org_id = org_id AND m.user_id = user_id;
    IF v_old IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'not a member of this organization';
    END IF;
    PERFORM auth._check_rank(org_id, v_old);
    UPDATE auth.members m SET role = update_member_role.role
     WHERE m.org_id = org_id AND m.user_id = user_id;
    PERFORM auth._check_owner_left(org_id);
    IF v_old IS DISTINCT FROM role THEN
        PERFORM auth._cancel_invitations_by(org_id, user_id);
    END IF;
    PERFORM auth._audit('member_role_changed', v_uid, auth.session_id(), NULL,
                        jsonb_build_object('org_id', org_id, 'member_id', user_id,
                                           'old_role', v_old, 'role', role));
END
$$;
COMMENT ON FUNCTION auth.update_member_role(uuid, uuid, text) IS
    'changes a member''s role; needs member:update, neither role above the caller''s, and an owner left';

-- Removes a member under the organization's lock, keeping an owner.
CREATE FUNCTION auth._delete_member(org_id uuid, user_id uuid, event text, actor uuid) RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
BEGIN
    PERFORM auth._lock_organization(org_id);
    DELETE FROM auth.members m WHERE m.org_id = org_id AND m.user_id = user_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'not a member of this organization';
    END IF;
    PERFORM auth._check_owner_left(org_id);
    PERFORM auth._cancel_invitations_by(org_id, user_id);
    -- a session whose active organization this was has none any more
    UPDATE auth.sessions s SET active_org_id = NULL
     WHERE s.user_id = user_id AND s.active_org_id = org_id;
    PERFORM auth._audit(event, actor, auth.session_id(), NULL,
                        jsonb_build_object('org_id', org_id, 'member_id', user_id));
END
$$;
COMMENT ON FUNCTION auth._delete_member(uuid, uuid, text, uuid) IS
    'internal: removes a member, keeping an owner';
REVOKE ALL ON FUNCTION auth._delete_member(uuid, uuid, text, uuid) FROM PUBLIC;

CREATE FUNCTION auth.remove_member(org_id uuid, user_id uuid) RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    v_uid uuid := auth._lock_organization_for(org_id, 'member:delete');
    v_role text;
BEGIN
    SELECT m.role INTO v_role FROM auth.members m WHERE m.org_id = org_id AND m.user_id = user_id;
    IF v_role IS NOT NULL THEN
        PERFORM auth._check_rank(org_id, v_role);
    END IF;
    PERFORM auth._delete_member(org_id, user_id, 'member_removed', v_uid);
END
$$;
COMMENT ON FUNCTION auth.remove_member(uuid, uuid) IS
    'removes a member; needs member:delete and a role not above the caller''s; never the last owner';

CREATE FUNCTION auth.leave_organization(org_id uuid) RETURNS void
LANGUAGE sql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$ SELECT auth._delete_member(org_id, auth._require_member(org_id), 'member_left', auth._require_account_uid()) $$;
COMMENT ON FUNCTION auth.leave_organization(uuid) IS
    'the authenticated user leaves an organization; the last owner cannot';

CREATE FUNCTION auth.list_members(org_id uuid)
RETURNS TABLE (user_id uuid, email text, name text, role text, created_at timestamptz)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT m.user_id, u.email, u.name, m.role, m.created_at
      FROM auth.members m JOIN auth.users u ON u.id = m.user_id
     WHERE m.org_id = list_members.org_id AND auth._require_member(list_members.org_id) IS NOT NULL
     ORDER BY auth._role_rank(m.role) DESC, u.email
$$;
COMMENT ON FUNCTION auth.list_members(uuid) IS
    'the members of an organization the caller belongs to';

-- The permissions of a role (of an organization, or global): at most 64
-- resource:action strings (resource:* and * allowed).
CREATE FUNCTION auth._check_permission_list(permissions text[]) RETURNS void
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF cardinality(permissions) > auth._limit('permissions') THEN
        RAISE EXCEPTION USING ERRCODE = '22023',
            MESSAGE = format('a role holds at most %s permissions', auth._limit('permissions'));
    END IF;
    IF permissions IS NULL OR EXISTS (SELECT FROM unnest(permissions) p
                                       WHERE p IS NULL OR length(p) > auth._limit('permission')
                                          OR p !~ '^([a-z][a-z0-9_-]*:([a-z][a-z0-9_-]*|\*)|\*)$') THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'invalid permission',
            HINT = format('A permission is resource:action, resource:* or *, of at most %s characters.',
                          auth._limit('permission'));
    END IF;
END
$$;
COMMENT ON FUNCTION auth._check_permission_list(text[]) IS
    'internal: 22023 unless a role''s permissions are valid resource:action strings within their bounds';
REVOKE ALL ON FUNCTION auth._check_permission_list(text[]) FROM PUBLIC;

-- Custom roles: names must not shadow the built-ins; permissions are
-- resource:action strings (resource:* and * allowed).
CREATE FUNCTION auth._check_role_definition(name text, permissions text[]) RETURNS void
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_max int := auth._limit('role');
BEGIN
    IF name IS NULL OR length(name) > v_max OR name !~ '^[a-z][a-z0-9_-]*$'
       OR name IN ('owner', 'admin', 'member') THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'invalid role name',
            HINT = format('A custom role is 1 to %s lowercase letters, digits, - and _, and not owner, admin or member.', v_max);
    END IF;
    PERFORM auth._check_permission_list(permissions);
END
$$;
COMMENT ON FUNCTION auth._check_role_definition(text, text[]) IS
    'internal: 22023 unless a custom role''s name and permissions are valid';
REVOKE ALL ON FUNCTION auth._check_role_definition(text, text[]) FROM PUBLIC;

CREATE FUNCTION auth.create_role(org_id uuid, name text, permissions text[]) RETURNS uuid
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    v_uid uuid := auth._require_permission(org_id, 'organization:update');
    v_id uuid;
BEGIN
    PERFORM auth._check_role_definition(name, permissions);
    PERFORM auth._check_permissions_held(org_id, permissions, format('the role "%s"', name));
    INSERT INTO auth.roles (org_id, name, permissions) VALUES (org_id, name, permissions)
    ON CONFLICT DO NOTHING RETURNING id INTO v_id;
    IF v_id IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = '23505', MESSAGE = format('role "%s" already exists', name);
    END IF;
    PERFORM auth._audit('role_created', v_uid, auth.session_id(), NULL,
                        jsonb_build_object('org_id', org_id, 'role', name, 'permissions', permissions));
    RETURN v_id;
END
$$;
COMMENT ON FUNCTION auth.create_role(uuid, text, text[]) IS
    'creates a custom role with its permissions; needs organization:update';

CREATE FUNCTION auth.update_role(org_id uuid, name text, permissions text[]) RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    v_uid uuid := auth._require_permission(org_id, 'organization:update');
BEGIN
    PERFORM auth._check_role_definition(name, permissions);
    -- both what the role grants now and what it will grant
    PERFORM auth._check_rank(org_id, name);
    PERFORM auth._check_permissions_held(org_id, permissions, format('the role "%s"', name));
    UPDATE auth.roles r SET permissions = update_role.permissions, updated_at = auth.now()
     WHERE r.org_id = org_id AND r.name = name;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = format('role "%s" does not exist', name);
    END IF;
    PERFORM auth._audit('role_updated', v_uid, auth.session_id(), NULL,
                        jsonb_build_object('org_id', org_id, 'role', name, 'permissions', permissions));
END
$$;
COMMENT ON FUNCTION auth.update_role(uuid, text, text[]) IS
    'replaces a custom role''s permissions; needs organization:update';

CREATE FUNCTION auth.delete_role(org_id uuid, name text) RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    v_uid uuid := auth._require_permission(org_id, 'organization:update');
BEGIN
    PERFORM auth._check_length(name, 'role');
    PERFORM auth._lock_organization(org_id);
    IF EXISTS (SELECT FROM auth.members m WHERE m.org_id = org_id AND m.role = name) THEN
        RAISE EXCEPTION USING ERRCODE = '2BP01', MESSAGE = format('role "%s" is held by members', name),
            HINT = 'Give those members another role first.';
    END IF;
    DELETE FROM auth.roles r WHERE r.org_id = org_id AND r.name = name;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = format('role "%s" does not exist', name);
    END IF;
    -- pending invitations to it die with it
    UPDATE auth.invitations i SET status = 'canceled'
     WHERE i.org_id = org_id AND i.role = name AND i.status = 'pending';
    PERFORM auth._audit('role_deleted', v_uid, auth.session_id(), NULL,
                        jsonb_build_object('org_id', org_id, 'role', name));
END
$$;
COMMENT ON FUNCTION auth.delete_role(uuid, text) IS
    'deletes a custom role no member holds (2BP01 otherwise); needs organization:update';

-- No SET clause: the identity it updates must outlast the call; only
-- schema-qualified calls inside.
CREATE FUNCTION auth.set_active_organization(org_id uuid) RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM auth._store_active_organization(org_id);
    PERFORM auth._set_identity_org(org_id);
END
$$;
COMMENT ON FUNCTION auth.set_active_organization(uuid) IS
    'makes an organization the current session''s active one (auth.org_id()); the caller must be a member; NULL clears';

CREATE FUNCTION auth._store_active_organization(org_id uuid) RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_sid uuid := auth.session_id();
BEGIN
    -- a JWT's organization is fixed in the token
    PERFORM auth._require_not_jwt('change the active organization');
    IF v_sid IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = '28000', MESSAGE = 'an active organization needs a session',
            HINT = 'Authenticate with a session token.';
    END IF;
    IF org_id IS NOT NULL THEN
        PERFORM auth._require_member(org_id);
    END IF;
    -- the credentials lock first, then the row (the order every end keeps)
    PERFORM auth._share_user_credentials(auth.uid());
    UPDATE auth.sessions s SET active_org_id = org_id WHERE s.id = v_sid;
END
$$;
COMMENT ON FUNCTION auth._store_active_organization(uuid) IS
    'internal: stores the active organization on the current session';
REVOKE ALL ON FUNCTION auth._store_active_organization(uuid) FROM PUBLIC;

CREATE FUNCTION auth._set_identity_org(org_id uuid) RETURNS void
    AS 'MODULE_PATHNAME', 'auth_set_identity_org'
    LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION auth._set_identity_org(uuid) IS
    'internal: puts the active organization into the current identity';
REVOKE ALL ON FUNCTION auth._set_identity_org(uuid) FROM PUBLIC;
