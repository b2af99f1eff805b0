-- organizations: tenants, their members and roles, and the RLS helpers
-- (src/organization.c).  Every function acts as auth.uid() and checks its
-- permission itself: 42501 names the permission that is missing.

CREATE TABLE auth.organizations (
    id         uuid PRIMARY KEY DEFAULT pg_catalog.gen_random_uuid(),
    name       text NOT NULL,
    slug       text NOT NULL,
    logo       text,
    metadata   jsonb NOT NULL DEFAULT '{}',
    created_at timestamptz NOT NULL DEFAULT auth.now(),
    updated_at timestamptz NOT NULL DEFAULT auth.now(),
    CONSTRAINT organizations_slug_key UNIQUE (slug)
);
ALTER TABLE auth.organizations ENABLE ROW LEVEL SECURITY;
SELECT pg_catalog.pg_extension_config_dump('auth.organizations', '');
COMMENT ON TABLE auth.organizations IS 'tenants';

-- Built-in roles have org_id NULL; custom roles belong to one organization.
CREATE TABLE auth.roles (
    id          uuid PRIMARY KEY DEFAULT pg_catalog.gen_random_uuid(),
    org_id      uuid REFERENCES auth.organizations (id) ON DELETE CASCADE,
    name        text NOT NULL,
    permissions text[] NOT NULL DEFAULT '{}',
    created_at  timestamptz NOT NULL DEFAULT auth.now(),
    updated_at  timestamptz NOT NULL DEFAULT auth.now()
);
CREATE UNIQUE INDEX roles_org_name_key
    ON auth.roles (COALESCE(org_id, '00000000-0000-0000-0000-000000000000'::pg_catalog.uuid), name);
ALTER TABLE auth.roles ENABLE ROW LEVEL SECURITY;
-- only custom roles are the database's own data; built-ins come with the extension
SELECT pg_catalog.pg_extension_config_dump('auth.roles', 'WHERE org_id IS NOT NULL');
COMMENT ON TABLE auth.roles IS 'built-in roles (owner, admin, member) and each organization''s custom roles with their permissions';
-- better-auth's default statements; the owner holds every permission.
INSERT INTO auth.roles (org_id, name, permissions) VALUES
    (NULL, 'owner', '{*}'),
    (NULL, 'admin', '{organization:update,member:create,member:update,member:delete,invitation:create,invitation:cancel,team:create,team:update,team:delete,apikey:create}'),
    (NULL, 'member', '{}');

CREATE TABLE auth.members (
    org_id     uuid NOT NULL REFERENCES auth.organizations (id) ON DELETE CASCADE,
    user_id    uuid NOT NULL REFERENCES auth.users (id) ON DELETE CASCADE,
    role       text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT auth.now(),
    PRIMARY KEY (org_id, user_id)
);
CREATE INDEX members_user_id_idx ON auth.members (user_id);
ALTER TABLE auth.members ENABLE ROW LEVEL SECURITY;
SELECT pg_catalog.pg_extension_config_dump('auth.members', '');
COMMENT ON TABLE auth.members IS 'who belongs to which organization, with which role';

CREATE TABLE auth.teams (
    id         uuid PRIMARY KEY DEFAULT pg_catalog.gen_random_uuid(),
    org_id     uuid NOT NULL REFERENCES auth.organizations (id) ON DELETE CASCADE,
    name       text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT auth.now(),
    updated_at timestamptz NOT NULL DEFAULT auth.now(),
    CONSTRAINT teams_org_name_key UNIQUE (org_id, name),
    CONSTRAINT teams_org_id_id_key UNIQUE (org_id, id)
);
ALTER TABLE auth.teams ENABLE ROW LEVEL SECURITY;
SELECT pg_catalog.pg_extension_config_dump('auth.teams', '');
COMMENT ON TABLE auth.teams IS 'teams within an organization';

-- A team member is a member of the team's organization: leaving the
-- organization leaves its teams.
CREATE TABLE auth.team_members (
    org_id     uuid NOT NULL,
    team_id    uuid NOT NULL,
    user_id    uuid NOT NULL,
    created_at timestamptz NOT NULL DEFAULT auth.now(),
    PRIMARY KEY (team_id, user_id),
    FOREIGN KEY (org_id, team_id) REFERENCES auth.teams (org_id, id) ON DELETE CASCADE,
    FOREIGN KEY (org_id, user_id) REFERENCES auth.members (org_id, user_id) ON DELETE CASCADE
);
CREATE INDEX team_members_user_id_idx ON auth.team_members (user_id);
ALTER TABLE auth.team_members ENABLE ROW LEVEL SECURITY;
SELECT pg_catalog.pg_extension_config_dump('auth.team_members', '');
COMMENT ON TABLE auth.team_members IS 'team membership; always within the organization';

-- The session's active organization (auth.org_id()).
ALTER TABLE auth.sessions
    ADD COLUMN active_org_id uuid REFERENCES auth.organizations (id) ON DELETE SET NULL;

-- RLS helpers, in C; not SECURITY DEFINER, so a policy pays no user switch per row.
CREATE FUNCTION auth.org_id() RETURNS uuid
    AS 'MODULE_PATHNAME', 'auth_org_id'
    LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION auth.org_id() IS
    'the active organization of the current session, NULL when none';

CREATE FUNCTION auth.is_member(org_id uuid) RETURNS boolean
    AS 'MODULE_PATHNAME', 'auth_is_member'
    LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION auth.is_member(uuid) IS
    'whether the authenticated user belongs to the organization';

CREATE FUNCTION auth.has_role(org_id uuid, role text) RETURNS boolean
    AS 'MODULE_PATHNAME', 'auth_has_role'
    LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION auth.has_role(uuid, text) IS
    'whether the authenticated user holds the role in the organization; rank-aware for owner > admin > member';

CREATE FUNCTION auth.has_permission(org_id uuid, permission text) RETURNS boolean
    AS 'MODULE_PATHNAME', 'auth_has_permission'
    LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION auth.has_permission(uuid, text) IS
    'whether the authenticated user''s role in the organization grants the permission (resource:action; resource:* and * grant more)';

CREATE FUNCTION auth.org_ids() RETURNS uuid[]
    AS 'MODULE_PATHNAME', 'auth_org_ids'
    LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION auth.org_ids() IS
    'the organizations the authenticated user belongs to';

CREATE FUNCTION auth.team_ids() RETURNS uuid[]
    AS 'MODULE_PATHNAME', 'auth_team_ids'
    LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION auth.team_ids() IS
    'the teams the authenticated user belongs to';

CREATE FUNCTION auth._role_rank(role text) RETURNS integer
    AS 'MODULE_PATHNAME', 'auth_role_rank_sql'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION auth._role_rank(text) IS
    'internal: rank of a role: owner 3, admin 2, any other 1';
REVOKE ALL ON FUNCTION auth._role_rank(text) FROM PUBLIC;

-- 42501 unless the authenticated user holds the permission in the
-- organization; under a JWT identity, only from a token issued from a
-- session (its scopes apply), never one from an API key or a service token.
CREATE FUNCTION auth._require_permission(org_id uuid, permission text) RETURNS uuid
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_uid uuid := auth.require_uid();
BEGIN
    IF auth.identity() OPERATOR(pg_catalog.->>) 'kind' OPERATOR(pg_catalog.=) 'jwt'
       AND auth.session_id() IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = '42501',
            MESSAGE = 'a JWT identity not issued from a session cannot change an organization',
            HINT = 'Authenticate with a session.';
    END IF;
    IF org_id IS NOT NULL AND auth._mfa_blocks(org_id) THEN
        RAISE EXCEPTION USING ERRCODE = '42501', MESSAGE = 'this organization requires a second factor',
            DETAIL = 'MFA_REQUIRED', HINT = 'Verify a second factor with auth.step_up_mfa().';
    END IF;
    IF org_id IS NULL OR NOT auth.has_permission(org_id, permission) THEN
        RAISE EXCEPTION USING ERRCODE = '42501',
            MESSAGE = format('permission denied: %s', permission),
            DETAIL = 'The organization does not exist, or your role in it does not grant this permission.';
    END IF;
    RETURN v_uid;
END
$$;
COMMENT ON FUNCTION auth._require_permission(uuid, text) IS
    'internal: the caller''s id, or 42501 naming the missing permission';
REVOKE ALL ON FUNCTION auth._require_permission(uuid, text) FROM PUBLIC;

-- 42501 unless the authenticated user is a member.
CREATE FUNCTION auth._require_member(org_id uuid) RETURNS uuid
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_uid uuid := auth.require_uid();
BEGIN
    IF org_id IS NOT NULL AND auth._mfa_blocks(org_id) THEN
        RAISE EXCEPTION USING ERRCODE = '42501', MESSAGE = 'this organization requires a second factor',
            DETAIL = 'MFA_REQUIRED', HINT = 'Verify a second factor with auth.step_up_mfa().';
    END IF;
    IF org_id IS NULL OR NOT auth.is_member(org_id) THEN
        RAISE EXCEPTION USING ERRCODE = '42501', MESSAGE = 'not a member of this organization';
    END IF;
    RETURN v_uid;
END
$$;
COMMENT ON FUNCTION auth._require_member(uuid) IS
    'internal: the caller''s id, or 42501 when not a member';
REVOKE ALL ON FUNCTION auth._require_member(uuid) FROM PUBLIC;

-- A role that exists for the organization (built-in or its own), or 22023.
CREATE FUNCTION auth._check_role(org_id uuid, role text) RETURNS void
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM auth._check_length(role, 'role');
    IF NOT EXISTS (SELECT FROM auth.roles r
                    WHERE r.name = role AND (r.org_id IS NULL OR r.org_id = _check_role.org_id)) THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = format('role "%s" does not exist', role);
    END IF;
END
$$;
COMMENT ON FUNCTION auth._check_role(uuid, text) IS
    'internal: 22023 unless the role exists for the organization';
REVOKE ALL ON FUNCTION auth._check_role(uuid, text) FROM PUBLIC;

-- Locks the organization row, so that changes to its members (and the
-- last-owner and limit checks) are serialised; 42501 when it does not exist.
CREATE FUNCTION auth._lock_organization(org_id uuid) RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    -- an update rather than a row lock: under REPEATABLE READ a concurrent
    -- change to the members then fails with 40001 instead of going unseen
    UPDATE auth.organizations o SET updated_at = o.updated_at WHERE o.id = org_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = '42501', MESSAGE = 'not a member of this organization';
    END IF;
END
$$;
COMMENT ON FUNCTION auth._lock_organization(uuid) IS
    'internal: serialises membership changes of one organization';
REVOKE ALL ON FUNCTION auth._lock_organization(uuid) FROM PUBLIC;

-- Refuses a membership change that would leave the organization without
-- an owner (run under auth._lock_organization).
CREATE FUNCTION auth._check_owner_left(org_id uuid) RETURNS void
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF NOT EXISTS (SELECT FROM auth.members m WHERE m.org_id = _check_owner_left.org_id AND m.role = 'owner') THEN
        RAISE EXCEPTION USING ERRCODE = '42501', MESSAGE = 'an organization must keep an owner',
            HINT = 'Make another member owner first, or delete the organization.';
    END IF;
END
$$;
COMMENT ON FUNCTION auth._check_owner_left(uuid) IS
    'internal: 42501 when the organization has no owner left';
REVOKE ALL ON FUNCTION auth._check_owner_left(uuid) FROM PUBLIC;

-- The slug of a name: lower-case letters, digits and single dashes (48
-- characters, so that "-2", "-3", ... still fit the slug's bound).
CREATE FUNCTION auth._slugify(name text) RETURNS text
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT left(btrim(regexp_replace(lower(name), '[^a-z0-9]+', '-', 'g'), '-'), 48) $$;
COMMENT ON FUNCTION auth._slugify(text) IS 'internal: a slug derived from a name';
REVOKE ALL ON FUNCTION auth._slugify(text) FROM PUBLIC;

CREATE FUNCTION auth._check_slug(slug text) RETURNS void
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_max int := auth._limit('slug');
BEGIN
    IF slug IS NULL OR length(slug) > v_max OR slug !~ '^[a-z0-9]([a-z0-9-]*[a-z0-9])?$' OR slug ~ '--' THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'invalid slug',
            HINT = format('A slug is 1 to %s lowercase letters, digits and single dashes, starting and ending with a letter or digit.', v_max);
    END IF;
END
$$;
COMMENT ON FUNCTION auth._check_slug(text) IS 'internal: 22023 unless the slug is valid';
REVOKE ALL ON FUNCTION auth._check_slug(text) FROM PUBLIC;

-- An organization's name (not only spaces), logo and metadata, within
-- their bounds; NULL passes (the callers say whether a field is required).
CREATE FUNCTION auth._check_organization_fields(name text, logo text, metadata jsonb) RETURNS void
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF btrim(name) = '' OR length(name) > auth._limit('organization name') THEN
        RAISE EXCEPTION USING ERRCODE = '22023',
            MESSAGE = format('an organization needs a name of 1 to %s characters', auth._limit('organization name'));
    END IF;
    PERFORM auth._check_length(logo, 'logo');
    PERFORM auth._check_metadata(metadata);
END
$$;
COMMENT ON FUNCTION auth._check_organization_fields(text, text, jsonb) IS
    'internal: 22023 unless an organization''s name, logo and metadata are within their bounds';
REVOKE ALL ON FUNCTION auth._check_organization_fields(text, text, jsonb) FROM PUBLIC;

CREATE FUNCTION auth.create_organization(name text, slug text DEFAULT NULL,
                                         metadata jsonb DEFAULT '{}')
RETURNS uuid
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    v_uid uuid := auth._require_account_uid();
    v_slug text := slug;
    v_id uuid;
    v_n int := 1;
BEGIN
    PERFORM auth._check_organization_fields(coalesce(name, ''), NULL, metadata);
    IF v_slug IS NOT NULL THEN
        PERFORM auth._check_slug(v_slug);
        INSERT INTO auth.organizations (name, slug, metadata)
        VALUES (btrim(name), v_slug, coalesce(metadata, '{}'))
        ON CONFLICT DO NOTHING RETURNING id INTO v_id;
        IF v_id IS NULL THEN
            RAISE EXCEPTION USING ERRCODE = '23505', MESSAGE = 'slug is already taken';
        END IF;
    ELSE
        -- derived from the name; "-2", "-3", ... when taken
        v_slug := coalesce(nullif(auth._slugify(name), ''), 'org');
        LOOP
            INSERT INTO auth.organizations (name, slug, metadata)
            VALUES (btrim(name), CASE WHEN v_n = 1 THEN v_slug ELSE v_slug || '-' || v_n END,
                    coalesce(metadata, '{}'))
            ON CONFLICT DO NOTHING RETURNING id INTO v_id;
            EXIT WHEN v_id IS NOT NULL;
            v_n := v_n + 1;
        END LOOP;
    END IF;
    INSERT INTO auth.members (org_id, user_id, role) VALUES (v_id, v_uid, 'owner');
    PERFORM auth._audit('organization_created', v_uid, auth.session_id(), NULL,
                        jsonb_build_object('org_id', v_id));
    RETURN v_id;
END
$$;
COMMENT ON FUNCTION auth.create_organization(text, text, jsonb) IS
    'creates an organization with the caller as owner; the slug is validated (22023) and unique (23505), or derived from the name; 22023 for a name or metadata past its bound';

CREATE FUNCTION auth.update_organization(org_id uuid, name text DEFAULT NULL, slug text DEFAULT NULL,
                                         logo text DEFAULT NULL, metadata jsonb DEFAULT NULL,
                                         require_mfa boolean DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    v_uid uuid := auth._require_permission(org_id, 'organization:update');
BEGIN
    IF slug IS NOT NULL THEN
        PERFORM auth._check_slug(slug);
    END IF;
    PERFORM auth._check_organization_fields(name, logo, metadata);
    BEGIN
        UPDATE auth.organizations o
           SET name = coalesce(btrim(name), o.name), slug = coalesce(slug, o.slug),
               logo = coalesce(logo, o.logo), metadata = coalesce(metadata, o.metadata),
               require_mfa = coalesce(require_mfa, o.require_mfa), updated_at = auth.now()
         WHERE o.id = org_id;
    EXCEPTION WHEN unique_violation THEN
        RAISE EXCEPTION USING ERRCODE = '23505', MESSAGE = 'slug is already taken';
    END;
    PERFORM auth._audit('organization_updated', v_uid, auth.session_id(), NULL,
                        CASE WHEN require_mfa IS NULL THEN jsonb_build_object('org_id', org_id)
                             ELSE jsonb_build_object('org_id', org_id, 'require_mfa', require_mfa) END);
END
$$;
COMMENT ON FUNCTION auth.update_organization(uuid, text, text, text, jsonb, boolean) IS
    'changes an organization''s name, slug, logo, metadata or require_mfa (NULL keeps it; 22023 past a bound); needs organization:update; with require_mfa, an aal1 identity is no member of it';

CREATE FUNCTION auth.delete_organization(org_id uuid) RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_uid uuid := auth._require_permission(org_id, 'organization:delete');
BEGIN
    DELETE FROM auth.organizations o WHERE o.id = delete_organization.org_id;
    PERFORM auth._audit('organization_deleted', v_uid, auth.session_id(), NULL,
                        jsonb_build_object('org_id', delete_organization.org_id));
END
$$;
COMMENT ON FUNCTION auth.delete_organization(uuid) IS
    'deletes an organization with its members, roles, teams and invitations; needs organization:delete (owners)';

CREATE FUNCTION auth.list_my_organizations()
RETURNS TABLE (id uuid, name text, slug text, logo text, role text, created_at timestamptz)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT o.id, o.name, o.slug, o.logo, m.role, o.created_at
      FROM auth.members m JOIN auth.organizations o ON o.id = m.org_id
     WHERE m.user_id = auth.require_uid() AND auth.is_member(m.org_id)  -- an org-bound key: its own
     ORDER BY o.name, o.id
$$;
COMMENT ON FUNCTION auth.list_my_organizations() IS
    'the organizations of the authenticated user, with their role';
