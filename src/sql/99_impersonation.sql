-- impersonation: an administrator acts as a user for a limited time, through
-- a session of that user's that records who impersonates and why
-- (auth.sessions.impersonator_id; auth.impersonator_id() in
-- 10_identity.sql reads it, src/account.c); every audit row written
-- meanwhile names both (auth.audit_log.impersonator_id, from
-- auth._audit_actor()).

-- What an impersonation session may not do: anything that changes how the
-- account is reached or outlives the session (password, email, API keys,
-- signing out everywhere, another impersonation).
CREATE FUNCTION auth._refuse_impersonation(action text) RETURNS void
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF auth.impersonator_id() IS NOT NULL THEN
        RAISE EXCEPTION USING ERRCODE = '42501',
            MESSAGE = format('an impersonation session cannot %s', action),
            HINT = 'Only the user, signed in themselves, may do this.';
    END IF;
END
$$;
COMMENT ON FUNCTION auth._refuse_impersonation(text) IS
    'internal: 42501 under an impersonation session';
REVOKE ALL ON FUNCTION auth._refuse_impersonation(text) FROM PUBLIC;

-- The one gate of everything that changes how the account is reached or
-- ends its credentials (password, email, username, deletion, signing out
-- elsewhere, second factors): the signed-in user themselves (42501 for an
-- API key or an impersonation session) and, once they have a verified
-- second factor, at aal2 (42501 MFA_REQUIRED): an aal1 session (older
-- than the factor, made by an admin) must not move the account away.
CREATE FUNCTION auth._require_account_owner(action text) RETURNS uuid
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_uid uuid := auth._require_account_uid();
BEGIN
    PERFORM auth._refuse_impersonation(action);
    IF auth.aal() IS DISTINCT FROM 'aal2' AND auth._has_mfa(v_uid) THEN
        RAISE EXCEPTION USING ERRCODE = '42501', MESSAGE = 'a second factor is required',
            DETAIL = 'MFA_REQUIRED',
            HINT = format('Verify a second factor with auth.step_up_mfa() to %s.', action);
    END IF;
    RETURN v_uid;
END
$$;
COMMENT ON FUNCTION auth._require_account_owner(text) IS
    'internal: the signed-in user for a change of how the account is reached or an end of its credentials; 42501 for an API key or impersonation, MFA_REQUIRED below aal2 once the user has a factor';
REVOKE ALL ON FUNCTION auth._require_account_owner(text) FROM PUBLIC;

CREATE FUNCTION auth.impersonate(user_id uuid, reason text, ttl interval DEFAULT NULL)
RETURNS auth.session_grant
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    v_admin uuid := auth._require_account_uid();
    v_reason text := btrim(reason);
    v_ttl interval;
    v_role text;
    v_grant auth.session_grant;
BEGIN
    PERFORM auth._refuse_impersonation('impersonate');
    IF NOT auth.has_global_permission('users:impersonate') THEN
        RAISE EXCEPTION USING ERRCODE = '42501', MESSAGE = 'permission denied: users:impersonate',
            DETAIL = 'Your global role does not grant it.';
    END IF;
    IF user_id IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'user_id is required';
    END IF;
    IF v_reason IS NULL OR v_reason = '' THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'a reason is required',
            HINT = 'Say why: it is kept with the session and in the audit log.';
    END IF;
    PERFORM auth._check_length(v_reason, 'impersonation reason');
    IF ttl <= interval '0' THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'ttl must be positive';
    END IF;
    v_ttl := auth._capped_ttl(ttl, 'auth.impersonation_ttl');
    IF user_id = v_admin THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'cannot impersonate yourself';
    END IF;
    -- FOR SHARE: a role change or ban of the target waits, or is waited for
    SELECT u.role INTO v_role FROM auth.users u WHERE u.id = user_id FOR SHARE;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'user does not exist';
    END IF;
    -- an administrator is whoever may impersonate users themselves
    IF NOT auth._setting_bool('auth.allow_impersonating_admins')
       AND EXISTS (SELECT FROM auth.global_roles r
                    WHERE r.name = v_role AND auth._scopes_cover(r.permissions, 'users:impersonate')) THEN
        RAISE EXCEPTION USING ERRCODE = '42501', MESSAGE = 'cannot impersonate an administrator',
            DETAIL = 'The user''s global role may impersonate users; auth.allow_impersonating_admins is off.';
    END IF;
    -- nor anyone whose global role grants what the impersonator's does not:
    -- impersonation must not raise a support user's own permissions
    IF NOT auth._setting_bool('auth.allow_impersonating_admins')
       AND NOT auth._scopes_subset(
               coalesce((SELECT r.permissions FROM auth.global_roles r WHERE r.name = v_role), '{}'),
               coalesce((SELECT r.permissions FROM auth.global_roles r JOIN auth.users u ON u.role = r.name
                          WHERE u.id = v_admin), '{}')) THEN
        RAISE EXCEPTION USING ERRCODE = '42501',
            MESSAGE = 'cannot impersonate a user with permissions you do not have',
            DETAIL = format('The user''s global role "%s" grants permissions yours does not; auth.allow_impersonating_admins is off.', v_role);
    END IF;
    v_grant := auth._issue_session(user_id, v_ttl, NULL, NULL);
    UPDATE auth.sessions s SET impersonator_id = v_admin, impersonation_reason = v_reason
     WHERE s.id = v_grant.session_id;
    PERFORM auth._audit('impersonation_started', user_id, v_grant.session_id, NULL,
                        jsonb_build_object('reason', v_reason, 'expires_at', v_grant.expires_at));
    RETURN v_grant;
END
$$;
COMMENT ON FUNCTION auth.impersonate(uuid, text, interval) IS
    'admin: a session of the user for the signed-in administrator (global permission users:impersonate) to act as them, for ttl (default and at most auth.impersonation_ttl), never extended; 42501 for an administrator, or a user whose global role grants a permission the impersonator''s does not, unless auth.allow_impersonating_admins';
REVOKE ALL ON FUNCTION auth.impersonate(uuid, text, interval) FROM PUBLIC;

CREATE FUNCTION auth.stop_impersonating() RETURNS boolean
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_session uuid := auth.session_id();
BEGIN
    IF auth.impersonator_id() IS NULL THEN
        RETURN false;
    END IF;
    UPDATE auth.sessions s SET revoked_at = auth.now(), revoked_reason = 'impersonation_stopped'
     WHERE s.id = v_session AND s.revoked_at IS NULL;
    PERFORM auth._audit('impersonation_stopped', auth.uid(), v_session, NULL, '{}');
    -- the session is gone: so is the identity (the SET clause restores
    -- search_path only)
    PERFORM auth._clear_identity();
    RETURN true;
END
$$;
COMMENT ON FUNCTION auth.stop_impersonating() IS
    'ends the current impersonation session and clears the identity; false when the identity is not one';
