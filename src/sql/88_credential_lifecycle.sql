-- credential_lifecycle: the one place that ends a user's credentials for a
-- reason (DESIGN "Credential lifecycle"): signing out everywhere, a
-- password change or reset, a confirmed email change, and a passwordless
-- sign-in (or a reset) that claims an account whose address was never
-- verified.  A key made by a key, or one made while its maker was ending,
-- is left to verification, which checks every key above it (src/apikey.c).

-- Whether, as the latest snapshot sees it, the user still has a live
-- session other than except_session, or (api_keys) a live API key: what
-- auth._end_credentials should have ended but a REPEATABLE READ snapshot
-- could not see (src/lifecycle.c).
CREATE FUNCTION auth._credentials_missed(user_id uuid, except_session uuid,
                                         api_keys boolean, at timestamptz)
RETURNS boolean
    AS 'MODULE_PATHNAME', 'auth_credentials_missed'
    LANGUAGE C VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION auth._credentials_missed(uuid, uuid, boolean, timestamptz) IS
    'internal: whether a credential auth._end_credentials should have ended is live in the latest snapshot';
REVOKE ALL ON FUNCTION auth._credentials_missed(uuid, uuid, boolean, timestamptz) FROM PUBLIC;

-- Ends what a user holds, for a reason (revoke_all, password_changed,
-- password_reset, email_changed, unverified_account_claimed, and an
-- admin's banned and password_set), and returns what it ended:
--   every reason     the live sessions (but except_session);
--   end_api_keys     every live API key of the user, with the keys they
--                    made (same owner);
--   email_changed    the unused one-time secrets bound to the user (sent
--                    to the old address);
--   unverified_account_claimed (whoever proved the mailbox of an account
--                    never verified before; end_api_keys is then implied):
--                    also the password, the unused secrets bound to the
--                    user or sent to the address,
--                    the invitations the account sent, its memberships,
--                    and the organizations it was the last owner of
--                    (deleted: no member the unproven account chose may
--                    inherit them, and none may be left without an owner);
--                    the address counts as verified from now on.
-- The user's credentials lock is taken first and the epoch bumped: a
-- session or key being created for the user re-checks both just before
-- its creator commits (src/lifecycle.c), so this either sees the new
-- credential or the creation fails; it never waits for a creator.
-- Each kind ended is audited, and credentials_ended sums up.
CREATE FUNCTION auth._end_credentials(user_id uuid, reason text,
                                      except_session uuid DEFAULT NULL,
                                      end_api_keys boolean DEFAULT true)
RETURNS jsonb
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    v_now timestamptz := auth.now();
    v_claim boolean := reason = 'unverified_account_claimed';
    v_email text;
    v_sessions int;
    v_keys int := 0;
    v_secrets int;
    v_invitations int := 0;
    v_memberships int := 0;
    v_orgs uuid[] := '{}';
    v_org uuid;
    v_role text;
    v_detail jsonb;
BEGIN
    IF reason IS NULL OR reason NOT IN ('unverified_account_claimed', 'password_reset',
                                         'password_changed', 'email_changed', 'revoke_all',
                                         'banned', 'password_set') THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'unknown reason to end credentials';
    END IF;
    PERFORM auth._lock_user_credentials(user_id, true);
    UPDATE auth.users u
       SET updated_at = v_now,
           credentials_epoch = u.credentials_epoch + 1,
           password_hash = CASE WHEN v_claim THEN NULL ELSE u.password_hash END,
           -- a claim keeps nothing the unproven account set on the profile
           name = CASE WHEN v_claim THEN NULL ELSE u.name END,
           image = CASE WHEN v_claim THEN NULL ELSE u.image END,
           metadata = CASE WHEN v_claim THEN '{}' ELSE u.metadata END,
           email_verified_at = CASE WHEN v_claim THEN coalesce(u.email_verified_at, v_now)
                                    ELSE u.email_verified_at END
     WHERE u.id = user_id
    RETURNING auth._email_key(u.email) INTO v_email;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'user does not exist';
    END IF;
    v_sessions := auth._revoke_sessions(user_id, except_session, reason);
    -- and the sign-ins waiting for a second factor (a ban, a reset, a claim)
    UPDATE auth.mfa_challenges c SET consumed_at = v_now
     WHERE c.user_id = user_id AND c.consumed_at IS NULL;
    IF end_api_keys OR v_claim THEN
        UPDATE auth.api_keys k SET revoked_at = v_now, updated_at = v_now
         WHERE k.user_id = user_id AND k.revoked_at IS NULL;
        GET DIAGNOSTICS v_keys = ROW_COUNT;
        IF v_keys > 0 THEN
            PERFORM auth._audit('api_keys_revoked', user_id, auth.session_id(), NULL,
                                jsonb_build_object('reason', reason, 'count', v_keys));
        END IF;
    END IF;
    -- A session or key committed while this transaction waited for the
    -- user's row is seen above under READ COMMITTED, but not by an older
    -- REPEATABLE READ snapshot: then refuse rather than miss it.
    IF auth._credentials_missed(user_id, except_session, end_api_keys OR v_claim, v_now) THEN
        RAISE EXCEPTION USING ERRCODE = '40001',
            MESSAGE = 'could not end the credentials: one was created concurrently',
            HINT = 'Retry the transaction.';
    END IF;
    -- Pending secrets go when the address they were sent to is no longer
    -- trusted (a claim: those sent to it too) or no longer the account's;
    -- otherwise they wait in the mailbox, and an email change asked for
    -- with a session that is now revoked needs a session to be confirmed.
    UPDATE auth.one_time_secrets s SET invalidated_at = v_now
     WHERE (v_claim OR reason = 'email_changed')
       AND (s.user_id = user_id OR (v_claim AND s.email = v_email))
       AND s.consumed_at IS NULL AND s.invalidated_at IS NULL;
    GET DIAGNOSTICS v_secrets = ROW_COUNT;
    IF v_secrets > 0 THEN
        PERFORM auth._audit('secrets_invalidated', user_id, auth.session_id(), NULL,
                            jsonb_build_object('reason', reason, 'count', v_secrets));
    END IF;
    IF v_claim THEN
        -- second factors whoever signed the address up enrolled
        DELETE FROM auth.mfa_factors f WHERE f.user_id = user_id;
        PERFORM auth._mfa_factors_gone(user_id);
        UPDATE auth.invitations i SET status = 'canceled'
         WHERE i.inviter_id = user_id AND i.status = 'pending';
        GET DIAGNOSTICS v_invitations = ROW_COUNT;
        IF v_invitations > 0 THEN
            PERFORM auth._audit('invitations_canceled', user_id, NULL, NULL,
                                jsonb_build_object('reason', reason, 'count', v_invitations));
        END IF;
        FOR v_org IN SELECT m.org_id FROM auth.members m WHERE m.user_id = user_id
                      ORDER BY m.org_id LOOP
            -- under the organization's lock (auth._lock_organization), so
            -- that no owner leaves or arrives meanwhile
            UPDATE auth.organizations o SET updated_at = o.updated_at WHERE o.id = v_org;
            SELECT m.role INTO v_role FROM auth.members m
             WHERE m.org_id = v_org AND m.user_id = user_id;
            CONTINUE WHEN v_role IS NULL;
            IF v_role = 'owner' AND NOT EXISTS (
                   SELECT FROM auth.members m
                    WHERE m.org_id = v_org AND m.role = 'owner' AND m.user_id <> user_id) THEN
                DELETE FROM auth.organizations o WHERE o.id = v_org;
                v_orgs := v_orgs || v_org;
                PERFORM auth._audit('organization_deleted', user_id, NULL, NULL,
                                    jsonb_build_object('org_id', v_org, 'reason', reason));
            ELSE
                PERFORM auth._delete_member(v_org, user_id, 'member_removed', user_id);
                v_memberships := v_memberships + 1;
            END IF;
        END LOOP;
    END IF;
    v_detail := jsonb_build_object('reason', reason, 'sessions_revoked', v_sessions,
                                   'api_keys_revoked', v_keys, 'secrets_invalidated', v_secrets,
                                   'invitations_canceled', v_invitations,
                                   'memberships_ended', v_memberships,
                                   'organizations_deleted', to_jsonb(v_orgs));
    PERFORM auth._audit('credentials_ended', user_id, auth.session_id(), NULL, v_detail);
    RETURN v_detail;
END
$$;
COMMENT ON FUNCTION auth._end_credentials(uuid, text, uuid, boolean) IS
    'internal: ends a user''s sessions (but one), open MFA challenges and, unless told otherwise, API keys for a reason; an email change also its pending secrets; a claim of a never-verified account everything: password, keys, pending secrets, invitations, memberships and the organizations it alone owned';
REVOKE ALL ON FUNCTION auth._end_credentials(uuid, text, uuid, boolean) FROM PUBLIC;

CREATE FUNCTION auth.revoke_all_credentials(OUT sessions_revoked integer,
                                            OUT api_keys_revoked integer)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_ended jsonb;
BEGIN
    v_ended := auth._end_credentials(auth._require_account_owner('sign out everywhere'),
                                     'revoke_all');
    sessions_revoked := (v_ended->>'sessions_revoked')::int;
    api_keys_revoked := (v_ended->>'api_keys_revoked')::int;
    -- the current session is gone: so is the identity (the SET clause
    -- restores search_path only)
    PERFORM auth._clear_identity();
END
$$;
COMMENT ON FUNCTION auth.revoke_all_credentials() IS
    'signs the authenticated user out everywhere: revokes every session (the current one too, and clears the identity), every API key and the keys they made; returns how many sessions and keys; 42501 with an API key';
