-- teams: groups within an organization; every team member is a member of
-- the organization (a foreign key on auth.members).

-- The organization of a team and the caller's id, or 42501.
CREATE FUNCTION auth._team_org(team_id uuid, permission text) RETURNS uuid
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_org uuid := (SELECT t.org_id FROM auth.teams t WHERE t.id = team_id);
BEGIN
    PERFORM auth._require_permission(v_org, permission);
    RETURN v_org;
END
$$;
COMMENT ON FUNCTION auth._team_org(uuid, text) IS
    'internal: a team''s organization, after checking the caller''s permission there';
REVOKE ALL ON FUNCTION auth._team_org(uuid, text) FROM PUBLIC;

CREATE FUNCTION auth._check_team_name(name text) RETURNS void
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF name IS NULL OR btrim(name) = '' OR length(name) > auth._limit('team name') THEN
        RAISE EXCEPTION USING ERRCODE = '22023',
            MESSAGE = format('a team needs a name of 1 to %s characters', auth._limit('team name'));
    END IF;
END
$$;
COMMENT ON FUNCTION auth._check_team_name(text) IS 'internal: 22023 unless a team name is valid';
REVOKE ALL ON FUNCTION auth._check_team_name(text) FROM PUBLIC;

CREATE FUNCTION auth.create_team(org_id uuid, name text) RETURNS uuid
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    v_uid uuid := auth._require_permission(org_id, 'team:create');
    v_id uuid;
BEGIN
    PERFORM auth._check_team_name(name);
    INSERT INTO auth.teams (org_id, name) VALUES (org_id, btrim(name))
    ON CONFLICT DO NOTHING RETURNING id INTO v_id;
    IF v_id IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = '23505', MESSAGE = 'a team of that name exists';
    END IF;
    PERFORM auth._audit('team_created', v_uid, auth.session_id(), NULL,
                        jsonb_build_object('org_id', org_id, 'team_id', v_id));
    RETURN v_id;
END
$$;
COMMENT ON FUNCTION auth.create_team(uuid, text) IS 'creates a team; needs team:create';

CREATE FUNCTION auth.update_team(team_id uuid, name text) RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    v_org uuid := auth._team_org(team_id, 'team:update');
BEGIN
    PERFORM auth._check_team_name(name);
    UPDATE auth.teams t SET name = btrim(name), updated_at = auth.now() WHERE t.id = team_id;
    PERFORM auth._audit('team_updated', auth.uid(), auth.session_id(), NULL,
                        jsonb_build_object('org_id', v_org, 'team_id', team_id, 'name', btrim(name)));
EXCEPTION WHEN unique_violation THEN
    RAISE EXCEPTION USING ERRCODE = '23505', MESSAGE = 'a team of that name exists';
END
$$;
COMMENT ON FUNCTION auth.update_team(uuid, text) IS 'renames a team; needs team:update';

CREATE FUNCTION auth.delete_team(team_id uuid) RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    v_org uuid := auth._team_org(team_id, 'team:delete');
BEGIN
    DELETE FROM auth.teams t WHERE t.id = team_id;
    PERFORM auth._audit('team_deleted', auth.uid(), auth.session_id(), NULL,
                        jsonb_build_object('org_id', v_org, 'team_id', team_id));
END
$$;
COMMENT ON FUNCTION auth.delete_team(uuid) IS 'deletes a team; needs team:delete';

CREATE FUNCTION auth.add_team_member(team_id uuid, user_id uuid) RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    v_org uuid := auth._team_org(team_id, 'team:update');
BEGIN
    INSERT INTO auth.team_members (org_id, team_id, user_id) VALUES (v_org, team_id, user_id)
    ON CONFLICT DO NOTHING;
    IF FOUND THEN
        PERFORM auth._audit('team_member_added', auth.uid(), auth.session_id(), NULL,
                            jsonb_build_object('org_id', v_org, 'team_id', team_id, 'member_id', user_id));
    END IF;
EXCEPTION WHEN foreign_key_violation THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'not a member of this organization',
        HINT = 'Team members must belong to the team''s organization.';
END
$$;
COMMENT ON FUNCTION auth.add_team_member(uuid, uuid) IS
    'adds an organization member to a team; needs team:update';

CREATE FUNCTION auth.remove_team_member(team_id uuid, user_id uuid) RETURNS boolean
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    v_org uuid := auth._team_org(team_id, 'team:update');
BEGIN
    DELETE FROM auth.team_members tm WHERE tm.team_id = team_id AND tm.user_id = user_id;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    PERFORM auth._audit('team_member_removed', auth.uid(), auth.session_id(), NULL,
                        jsonb_build_object('org_id', v_org, 'team_id', team_id, 'member_id', user_id));
    RETURN true;
END
$$;
COMMENT ON FUNCTION auth.remove_team_member(uuid, uuid) IS
    'takes a user out of a team; needs team:update; false when they were not in it';

CREATE FUNCTION auth.list_teams(org_id uuid)
RETURNS TABLE (id uuid, name text, members bigint, created_at timestamptz)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT t.id, t.name, (SELECT count(*) FROM auth.team_members tm WHERE tm.team_id = t.id), t.created_at
      FROM auth.teams t
     WHERE t.org_id = list_teams.org_id AND auth._require_member(list_teams.org_id) IS NOT NULL
     ORDER BY t.name
$$;
COMMENT ON FUNCTION auth.list_teams(uuid) IS 'the teams of an organization the caller belongs to';
