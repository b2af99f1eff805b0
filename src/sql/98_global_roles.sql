-- global roles: what a user may do across the whole application, whatever
-- the organization: auth.users.role names one, and each grants
-- resource:action permissions that policies read through
-- auth.has_global_permission() (src/account.c).  "user" (nothing) and
-- "admin" (everything) are built in; the application adds its own.

CREATE TABLE auth.global_roles (
    name        text PRIMARY KEY,
    permissions text[] NOT NULL DEFAULT '{}',
    created_at  timestamptz NOT NULL DEFAULT auth.now()
);
ALTER TABLE auth.global_roles ENABLE ROW LEVEL SECURITY;
-- only custom roles are the database's own data; built-ins come with the extension
SELECT pg_catalog.pg_extension_config_dump('auth.global_roles', 'WHERE name NOT IN (''user'', ''admin'')');
COMMENT ON TABLE auth.global_roles IS
    'global roles (built in: user, admin) and the resource:action permissions each grants across the application';
INSERT INTO auth.global_roles (name, permissions) VALUES
    ('user', '{}'),
    ('admin', '{*}');

CREATE FUNCTION auth.has_global_permission(permission text) RETURNS boolean
    AS 'MODULE_PATHNAME', 'auth_has_global_permission'
    LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION auth.has_global_permission(text) IS
    'whether the authenticated user''s global role grants the permission (resource:action; resource:* and * grant more), and an API key''s scopes cover it; false for nobody';

CREATE FUNCTION auth.create_global_role(name text, permissions text[]) RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    v_max int := auth._limit('role');
    v_created boolean;
    v_permissions text[];
BEGIN
    IF name IS NULL OR length(name) > v_max OR name !~ '^[a-z][a-z0-9_-]*$' THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'invalid role name',
            HINT = format('A global role is 1 to %s lowercase letters, digits, - and _, starting with a letter.', v_max);
    END IF;
    PERFORM auth._check_permission_list(permissions);
    v_permissions := ARRAY(SELECT DISTINCT p FROM unnest(permissions) p ORDER BY p);
    INSERT INTO auth.global_roles AS r (name, permissions)
    VALUES (name, v_permissions)
    ON CONFLICT DO NOTHING
    RETURNING true INTO v_created;
    IF v_created IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = '23505', MESSAGE = format('global role "%s" already exists', name);
    END IF;
    PERFORM auth._audit('global_role_created', auth.uid(), auth.session_id(), NULL,
                        jsonb_build_object('role', name, 'permissions', v_permissions));
END
$$;
COMMENT ON FUNCTION auth.create_global_role(text, text[]) IS
    'admin: creates a global role granting resource:action permissions; 22023 for a bad name or permission, 23505 when it exists';
REVOKE ALL ON FUNCTION auth.create_global_role(text, text[]) FROM PUBLIC;

CREATE FUNCTION auth.set_user_role(user_id uuid, role text) RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    v_old text;
BEGIN
    IF user_id IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'user_id is required';
    END IF;
    PERFORM auth._check_user_role(role);
    SELECT u.role INTO v_old FROM auth.users u WHERE u.id = user_id FOR NO KEY UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'user does not exist';
    END IF;
    UPDATE auth.users u SET role = set_user_role.role, updated_at = auth.now() WHERE u.id = user_id;
    PERFORM auth._audit('global_role_set', user_id, auth.session_id(), NULL,
                        jsonb_build_object('role', role, 'previous_role', v_old));
END
$$;
COMMENT ON FUNCTION auth.set_user_role(uuid, text) IS
    'admin: gives a user a global role; 22023 for an unknown user or role';
REVOKE ALL ON FUNCTION auth.set_user_role(uuid, text) FROM PUBLIC;
