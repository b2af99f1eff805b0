-- user_admin: the admin tier's users (list, create, update, set a password,
-- ban and unban, delete, their sessions), signing every session out at
-- once, and the account's self-service (update_me, delete_account).
-- Ending credentials goes through auth._end_credentials
-- (88_credential_lifecycle.sql); every change is audited with its actor.

-- 22023 unless the user exists; locks its row (FOR NO KEY UPDATE, as the
-- UPDATE that follows takes it: a session or key being created holds FOR
-- SHARE on the row, so this waits for it, and sees it).
CREATE FUNCTION auth._lock_user(user_id uuid) RETURNS auth.users
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v auth.users;
BEGIN
    SELECT * INTO v FROM auth.users u WHERE u.id = _lock_user.user_id FOR NO KEY UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'user does not exist';
    END IF;
    RETURN v;
END
$$;
COMMENT ON FUNCTION auth._lock_user(uuid) IS
    'internal: the user''s row, locked for an update; 22023 when there is none';
REVOKE ALL ON FUNCTION auth._lock_user(uuid) FROM PUBLIC;

-- The global roles a user may hold: the built-in user and admin, and those
-- auth.create_global_role() made (98_global_roles.sql).
CREATE FUNCTION auth._check_user_role(role text) RETURNS void
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF role IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'role must not be null';
    END IF;
    PERFORM auth._check_length(role, 'role');
    IF NOT EXISTS (SELECT FROM auth.global_roles r WHERE r.name = role) THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = format('role "%s" does not exist', role),
            HINT = 'A user''s role is user, admin, or one made by auth.create_global_role().';
    END IF;
END
$$;
COMMENT ON FUNCTION auth._check_user_role(text) IS
    'internal: 22023 unless the role is a global role a user may hold';
REVOKE ALL ON FUNCTION auth._check_user_role(text) FROM PUBLIC;

CREATE FUNCTION auth.list_users(search text DEFAULT NULL, banned boolean DEFAULT NULL,
                                sort text DEFAULT 'created_at', descending boolean DEFAULT true,
                                "limit" integer DEFAULT 50, "offset" integer DEFAULT 0)
RETURNS TABLE (id uuid, email text, name text, image text, role text,
               email_verified_at timestamptz, banned_until timestamptz, ban_reason text,
               metadata jsonb, created_at timestamptz, updated_at timestamptz,
               total bigint)
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_search text := lower(nullif(btrim(search), ''));
BEGIN
    PERFORM auth._check_length(search, 'search');
    IF sort IS NULL OR sort NOT IN ('created_at', 'updated_at', 'email', 'name') THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'invalid sort',
            HINT = 'Sort by created_at, updated_at, email or name.';
    END IF;
    IF descending IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'descending must not be null';
    END IF;
    IF "limit" IS NULL OR "limit" NOT BETWEEN 1 AND 1000 THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'limit must be between 1 and 1000';
    END IF;
    IF "offset" IS NULL OR "offset" < 0 THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'offset must not be negative';
    END IF;
    -- the sort column comes from the list above, never from the caller
    RETURN QUERY EXECUTE format(
        'SELECT u.id, u.email, u.name, u.image, u.role, u.email_verified_at,
                u.banned_until, u.ban_reason, u.metadata, u.created_at, u.updated_at,
                pg_catalog.count(*) OVER ()
           FROM auth.users u
          WHERE ($1 IS NULL OR pg_catalog.strpos(pg_catalog.lower(u.email), $1) > 0
                 OR pg_catalog.strpos(pg_catalog.lower(coalesce(u.name, '''')), $1) > 0)
            AND ($2 IS NULL OR (coalesce(u.banned_until > auth.now(), false) = $2))
          ORDER BY u.%I %s NULLS LAST, u.id %s
          LIMIT $3 OFFSET $4',
        sort, CASE WHEN descending THEN 'DESC' ELSE 'ASC' END,
        CASE WHEN descending THEN 'DESC' ELSE 'ASC' END)
    USING v_search, banned, "limit", "offset";
END
$$;
COMMENT ON FUNCTION auth.list_users(text, boolean, text, boolean, integer, integer) IS
    'admin: a page of users (search in email and name, banned or not, sorted), each row with the total that match; never a password hash';
REVOKE ALL ON FUNCTION auth.list_users(text, boolean, text, boolean, integer, integer) FROM PUBLIC;

CREATE FUNCTION auth.create_user(email text, password text DEFAULT NULL, name text DEFAULT NULL,
                                 role text DEFAULT 'user', email_verified boolean DEFAULT false)
RETURNS uuid
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_email text := auth._normalize_email(email);
    v_id uuid;
BEGIN
    PERFORM auth._check_profile(create_user.name, NULL);
    PERFORM auth._check_user_role(create_user.role);
    IF email_verified IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'email_verified must not be null';
    END IF;
    IF password IS NOT NULL THEN
        PERFORM auth._check_password_policy(password);
    END IF;
    INSERT INTO auth.users AS u (email, name, role, password_hash, email_verified_at)
    VALUES (v_email, create_user.name, create_user.role,
            CASE WHEN password IS NOT NULL THEN auth.hash_password(password) END,
            CASE WHEN email_verified THEN auth.now() END)
    ON CONFLICT DO NOTHING
    RETURNING u.id INTO v_id;
    IF v_id IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = '23505', MESSAGE = 'email is already registered';
    END IF;
    PERFORM auth._audit('user_created', v_id, auth.session_id(), NULL,
                        jsonb_build_object('role', create_user.role,
                                           'email_verified', email_verified,
                                           'password', password IS NOT NULL));
    RETURN v_id;
END
$$;
COMMENT ON FUNCTION auth.create_user(text, text, text, text, boolean) IS
    'admin: creates a user (with a password or none, a role, the email verified or not) and returns its id; 22023 for bad input, 23505 when the email is taken';
REVOKE ALL ON FUNCTION auth.create_user(text, text, text, text, boolean) FROM PUBLIC;

CREATE FUNCTION auth.update_user_as_admin(user_id uuid, email text DEFAULT NULL,
                                          name text DEFAULT NULL, image text DEFAULT NULL,
                                          email_verified boolean DEFAULT NULL,
                                          metadata jsonb DEFAULT NULL, role text DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    v_old auth.users;
    v_email text;
    v_moved boolean;
    v_fields text[] := '{}';
BEGIN
    IF email IS NOT NULL THEN
        v_email := auth._normalize_email(email);
    END IF;
    PERFORM auth._check_profile(name, image);
    PERFORM auth._check_metadata(metadata);
    IF role IS NOT NULL THEN
        PERFORM auth._check_user_role(role);
    END IF;
    v_old := auth._lock_user(user_id);
    v_moved := v_email IS NOT NULL AND auth._email_key(v_email) <> auth._email_key(v_old.email);
    IF v_moved AND EXISTS (SELECT FROM auth.users u
                            WHERE auth._email_key(u.email) = auth._email_key(v_email)) THEN
        RAISE EXCEPTION USING ERRCODE = '23505', MESSAGE = 'email is already registered';
    END IF;
    -- A new address is not verified unless the admin says so: whoever
    -- proves that mailbox later claims the account (README "Credential
    -- lifecycle"); secrets mailed to the old one die.
    UPDATE auth.users u
       SET email = CASE WHEN v_moved THEN v_email ELSE u.email END,
           name = CASE WHEN name IS NULL THEN u.name ELSE nullif(name, '') END,
           image = CASE WHEN image IS NULL THEN u.image ELSE nullif(image, '') END,
           metadata = coalesce(metadata, u.metadata),
           role = coalesce(role, u.role),
           email_verified_at = CASE WHEN email_verified THEN coalesce(CASE WHEN NOT v_moved THEN u.email_verified_at END, auth.now())
                                    WHEN NOT email_verified OR v_moved THEN NULL
                                    ELSE u.email_verified_at END,
           updated_at = auth.now()
     WHERE u.id = user_id;
    IF v_moved THEN
        UPDATE auth.one_time_secrets s SET invalidated_at = auth.now()
         WHERE s.user_id = user_id AND s.consumed_at IS NULL AND s.invalidated_at IS NULL;
        v_fields := v_fields || 'email'::text;
    END IF;
    IF name IS NOT NULL THEN v_fields := v_fields || 'name'::text; END IF;
    IF image IS NOT NULL THEN v_fields := v_fields || 'image'::text; END IF;
    IF email_verified IS NOT NULL THEN v_fields := v_fields || 'email_verified'::text; END IF;
    IF metadata IS NOT NULL THEN v_fields := v_fields || 'metadata'::text; END IF;
    IF role IS NOT NULL THEN v_fields := v_fields || 'role'::text; END IF;
    PERFORM auth._audit('user_updated', user_id, auth.session_id(), NULL,
                        jsonb_build_object('fields', to_jsonb(v_fields))
                        || CASE WHEN v_moved THEN jsonb_build_object('old_email', v_old.email, 'email', v_email)
                                ELSE '{}' END
                        || CASE WHEN role IS NOT NULL THEN jsonb_build_object('old_role', v_old.role, 'role', role)
                                ELSE '{}' END);
-- the address was taken after the check above, before the update
EXCEPTION WHEN unique_violation THEN
    RAISE EXCEPTION USING ERRCODE = '23505', MESSAGE = 'email is already registered';
END
$$;
COMMENT ON FUNCTION auth.update_user_as_admin(uuid, text, text, text, boolean, jsonb, text) IS
    'admin: changes a user''s email, name, image, verified flag, metadata or role; NULL keeps a field, an empty name or image clears it; a new email is unverified unless email_verified';
REVOKE ALL ON FUNCTION auth.update_user_as_admin(uuid, text, text, text, boolean, jsonb, text) FROM PUBLIC;

CREATE FUNCTION auth.set_user_password(user_id uuid, password text,
                                       keep_api_keys boolean DEFAULT false)
RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    v_user auth.users;
    v_ended jsonb;
BEGIN
    IF keep_api_keys IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'keep_api_keys must not be null';
    END IF;
    PERFORM auth._check_password_policy(password);
    v_user := auth._lock_user(user_id);
    UPDATE auth.users u SET password_hash = auth.hash_password(password), updated_at = auth.now()
     WHERE u.id = user_id;
    -- as a reset does: the email's failed sign-ins go, and so does every
    -- session, and every API key unless kept (the admin sets a password for
    -- someone locked out, or after a compromise)
    DELETE FROM auth.attempts a
     WHERE a.scope = 'sign_in'
       AND a.key = sha256(convert_to(auth._email_key(v_user.email), 'UTF8'));
    v_ended := auth._end_credentials(user_id, 'password_set', NULL, NOT keep_api_keys);
    PERFORM auth._audit('password_set', user_id, auth.session_id(), NULL,
                        jsonb_build_object('sessions_revoked', v_ended->'sessions_revoked',
                                           'api_keys_revoked', v_ended->'api_keys_revoked'));
END
$$;
COMMENT ON FUNCTION auth.set_user_password(uuid, text, boolean) IS
    'admin: sets a user''s password, ends every session and (unless keep_api_keys) every API key with the keys they made';
REVOKE ALL ON FUNCTION auth.set_user_password(uuid, text, boolean) FROM PUBLIC;

CREATE FUNCTION auth.ban_user(user_id uuid, until timestamptz DEFAULT 'infinity',
                              reason text DEFAULT NULL,
                              OUT sessions_revoked integer, OUT api_keys_revoked integer)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    v_ended jsonb;
BEGIN
    IF until IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'until must not be null',
            HINT = 'Pass ''infinity'' for a ban without end.';
    END IF;
    IF until <= auth.now() THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'until must be in the future';
    END IF;
    PERFORM auth._check_length(reason, 'ban reason');
    PERFORM auth._lock_user(user_id);
    -- The ban first (the triggers copy it onto the sessions and keys), then
    -- every credential ends for good: lifting the ban brings none back.
    UPDATE auth.users u
       SET banned_until = until, ban_reason = nullif(reason, ''), updated_at = auth.now()
     WHERE u.id = user_id;
    v_ended := auth._end_credentials(user_id, 'banned');
    sessions_revoked := (v_ended->>'sessions_revoked')::int;
    api_keys_revoked := (v_ended->>'api_keys_revoked')::int;
    PERFORM auth._audit('user_banned', user_id, auth.session_id(), NULL,
                        jsonb_build_object('until', until, 'reason', nullif(reason, ''),
                                           'sessions_revoked', sessions_revoked,
                                           'api_keys_revoked', api_keys_revoked));
END
$$;
COMMENT ON FUNCTION auth.ban_user(uuid, timestamptz, text) IS
    'admin: suspends a user until a time (infinity by default) and ends every session and API key, with the keys they made; the ban lifts itself when until passes';
REVOKE ALL ON FUNCTION auth.ban_user(uuid, timestamptz, text) FROM PUBLIC;

CREATE FUNCTION auth.unban_user(user_id uuid) RETURNS boolean
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    v_user auth.users := auth._lock_user(user_id);
BEGIN
    IF v_user.banned_until IS NULL OR v_user.banned_until <= auth.now() THEN
        RETURN false;
    END IF;
    UPDATE auth.users u SET banned_until = NULL, ban_reason = NULL, updated_at = auth.now()
     WHERE u.id = user_id;
    PERFORM auth._audit('user_unbanned', user_id, auth.session_id(), NULL, '{}');
    RETURN true;
END
$$;
COMMENT ON FUNCTION auth.unban_user(uuid) IS
    'admin: lifts a user''s ban (the credentials it ended stay ended); false when the user was not banned';
REVOKE ALL ON FUNCTION auth.unban_user(uuid) FROM PUBLIC;

-- Deletes a user.  Each organization it is the last owner of passes to
-- transfer_to (made owner, added when not a member), or the deletion is
-- refused (2BP01): an organization never loses its last owner.  Runs
-- under each such organization's lock, in a fixed order.  The invitations
-- the user sent are canceled; sessions, keys, memberships and secrets go
-- with the row.
CREATE FUNCTION auth._delete_user(user_id uuid, transfer_to uuid, event text) RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    v_user auth.users;
    v_org uuid;
    v_transferred uuid[] := '{}';
BEGIN
    IF transfer_to IS NOT NULL THEN
        IF transfer_to = user_id THEN
            RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'cannot transfer to the user being deleted';
        END IF;
        IF NOT EXISTS (SELECT FROM auth.users u WHERE u.id = transfer_to) THEN
            RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'user does not exist',
                DETAIL = 'transfer_to names no user.';
        END IF;
    END IF;
    v_user := auth._lock_user(user_id);
    FOR v_org IN SELECT m.org_id FROM auth.members m
                  WHERE m.user_id = user_id AND m.role = 'owner' ORDER BY m.org_id LOOP
        PERFORM auth._lock_organization(v_org);
        CONTINUE WHEN EXISTS (SELECT FROM auth.members m
                               WHERE m.org_id = v_org AND m.role = 'owner' AND m.user_id <> user_id);
        IF transfer_to IS NULL THEN
            RAISE EXCEPTION USING ERRCODE = '2BP01',
                MESSAGE = 'the user is the last owner of an organization',
                DETAIL = format('Organization %s would have no owner.', v_org),
                HINT = 'Pass transfer_to, make another member owner, or delete the organization.';
        END IF;
        IF EXISTS (SELECT FROM auth.members m WHERE m.org_id = v_org AND m.user_id = transfer_to) THEN
            UPDATE auth.members m SET role = 'owner' WHERE m.org_id = v_org AND m.user_id = transfer_to;
        ELSE
            PERFORM auth._insert_member(v_org, transfer_to, 'owner');
        END IF;
        v_transferred := v_transferred || v_org;
        PERFORM auth._audit('organization_transferred', transfer_to, auth.session_id(), NULL,
                            jsonb_build_object('org_id', v_org, 'from', user_id, 'to', transfer_to));
    END LOOP;
    UPDATE auth.invitations i SET status = 'canceled'
     WHERE i.inviter_id = user_id AND i.status = 'pending';
    DELETE FROM auth.users u WHERE u.id = user_id;
    PERFORM auth._audit(event, user_id, NULL, NULL,
                        jsonb_build_object('email', v_user.email,
                                           'organizations_transferred', to_jsonb(v_transferred)));
END
$$;
COMMENT ON FUNCTION auth._delete_user(uuid, uuid, text) IS
    'internal: deletes a user, passing the organizations it alone owns to transfer_to (2BP01 without one)';
REVOKE ALL ON FUNCTION auth._delete_user(uuid, uuid, text) FROM PUBLIC;

CREATE FUNCTION auth.delete_user(user_id uuid, transfer_to uuid DEFAULT NULL) RETURNS void
LANGUAGE sql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$ SELECT auth._delete_user(user_id, transfer_to, 'user_deleted') $$;
COMMENT ON FUNCTION auth.delete_user(uuid, uuid) IS
    'admin: deletes a user with everything it holds; 2BP01 when it is the last owner of an organization, unless transfer_to takes ownership';
REVOKE ALL ON FUNCTION auth.delete_user(uuid, uuid) FROM PUBLIC;

CREATE FUNCTION auth.list_user_sessions(user_id uuid)
RETURNS TABLE (id uuid, created_at timestamptz, refreshed_at timestamptz,
               authenticated_at timestamptz, expires_at timestamptz, ip inet,
               user_agent text)
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
BEGIN
    IF NOT EXISTS (SELECT FROM auth.users u WHERE u.id = user_id) THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'user does not exist';
    END IF;
    RETURN QUERY
    SELECT s.id, s.created_at, s.refreshed_at, s.authenticated_at, s.expires_at, s.ip, s.user_agent
      FROM auth.sessions s
     WHERE s.user_id = user_id AND s.revoked_at IS NULL AND s.expires_at > auth.now()
       AND coalesce(s.user_banned_until <= auth.now(), true)
       AND s.created_at > auth._sessions_not_before()
     ORDER BY s.created_at DESC;
END
$$;
COMMENT ON FUNCTION auth.list_user_sessions(uuid) IS
    'admin: a user''s live sessions, never their tokens; 22023 for an unknown user';
REVOKE ALL ON FUNCTION auth.list_user_sessions(uuid) FROM PUBLIC;

-- Signs everyone out: every session created until now is dead (the read
-- path compares created_at with this cutoff), and no row is rewritten.
-- The wall clock, not the transaction's start, so that a sign-in that
-- began before this statement ends too.
CREATE FUNCTION auth.revoke_all_sessions() RETURNS timestamptz
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_at timestamptz := auth._clock();
BEGIN
    INSERT INTO auth.session_epoch AS e (id, not_before) VALUES (true, v_at)
    ON CONFLICT (id) DO UPDATE SET not_before = greatest(e.not_before, excluded.not_before)
    RETURNING e.not_before INTO v_at;
    PERFORM auth._audit('all_sessions_revoked', NULL, auth.session_id(), NULL,
                        jsonb_build_object('not_before', v_at));
    RETURN v_at;
END
$$;
COMMENT ON FUNCTION auth.revoke_all_sessions() IS
    'admin: ends every session of every user at once (sessions created until now); returns the cutoff';
REVOKE ALL ON FUNCTION auth.revoke_all_sessions() FROM PUBLIC;

-- Self-service.

CREATE FUNCTION auth.update_me(name text DEFAULT NULL, image text DEFAULT NULL,
                               metadata jsonb DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    v_uid uuid := auth._require_account_uid();
    v_fields text[] := '{}';
BEGIN
    PERFORM auth._check_profile(name, image);
    PERFORM auth._check_metadata(metadata);
    UPDATE auth.users u
       SET name = CASE WHEN name IS NULL THEN u.name ELSE nullif(name, '') END,
           image = CASE WHEN image IS NULL THEN u.image ELSE nullif(image, '') END,
           metadata = coalesce(metadata, u.metadata),
           updated_at = auth.now()
     WHERE u.id = v_uid;
    IF name IS NOT NULL THEN v_fields := v_fields || 'name'::text; END IF;
    IF image IS NOT NULL THEN v_fields := v_fields || 'image'::text; END IF;
    IF metadata IS NOT NULL THEN v_fields := v_fields || 'metadata'::text; END IF;
    PERFORM auth._audit('user_updated', v_uid, auth.session_id(), NULL,
                        jsonb_build_object('fields', to_jsonb(v_fields)));
END
$$;
COMMENT ON FUNCTION auth.update_me(text, text, jsonb) IS
    'changes the authenticated user''s name, image or metadata; NULL keeps a field, an empty name or image clears it; 42501 with an API key';

CREATE FUNCTION auth.delete_account(password text DEFAULT NULL) RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_uid uuid := auth._require_account_owner('delete the account');
    v_hash text;
    v_authenticated timestamptz;
    v_key bytea := sha256(convert_to(v_uid::text, 'UTF8'));
    v_try jsonb;
BEGIN
    IF password IS NULL THEN
        -- fresh: the session's user proved who they are (sign-in, link,
        -- code) within auth.fresh_age; a sliding refresh does not count
        SELECT s.authenticated_at INTO v_authenticated FROM auth.sessions s
         WHERE s.id = auth.session_id();
        IF v_authenticated IS NULL
           OR v_authenticated <= auth.now() - auth._setting_interval('auth.fresh_age') THEN
            RAISE EXCEPTION USING ERRCODE = '28000', MESSAGE = 'the session is not fresh enough',
                DETAIL = 'Deleting the account needs the password, or a sign-in within auth.fresh_age.',
                HINT = 'Sign in again, or give the password.';
        END IF;
    ELSE
        -- counted like change_password's tries, so a stolen session cannot
        -- guess the password here either
        v_try := auth._count_attempt('change_password', v_key);
        IF (v_try->>'allowed')::boolean IS NOT TRUE THEN
            RAISE EXCEPTION USING ERRCODE = 'PT429',
                MESSAGE = 'too many wrong current passwords',
                DETAIL = format('Password changes are locked until %s.', v_try->>'retry_at'),
                HINT = auth._retry_hint((v_try->>'retry_at')::timestamptz, auth._clock());
        END IF;
        SELECT u.password_hash INTO v_hash FROM auth.users u WHERE u.id = v_uid;
        IF length(password) > auth._limit('password') OR
           NOT auth.verify_password(password, coalesce(v_hash, auth._dummy_password_hash()))
           OR v_hash IS NULL THEN
            RAISE EXCEPTION USING ERRCODE = '28P01', MESSAGE = 'current password is incorrect';
        END IF;
        DELETE FROM auth.attempts a WHERE a.scope = 'change_password' AND a.key = v_key;
    END IF;
    PERFORM auth._delete_user(v_uid, NULL, 'account_deleted');
    PERFORM auth._clear_identity();
END
$$;
COMMENT ON FUNCTION auth.delete_account(text) IS
    'deletes the authenticated user''s account: needs the password, or a session authenticated within auth.fresh_age; 2BP01 when the user is the last owner of an organization; 42501 with an API key';
