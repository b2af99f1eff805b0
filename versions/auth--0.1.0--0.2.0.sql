-- auth 0.1.0 -> 0.2.0: ALTER EXTENSION auth UPDATE TO '0.2.0'.
--
-- Every change of schema or function made since 0.1.0 is here, in the same
-- commit as the change in src/sql/, so that an upgraded database equals a
-- fresh install of 0.2.0 (test/t/005_upgrade.pl compares the two).
\echo Use "ALTER EXTENSION auth UPDATE TO '0.2.0'" to load this file. \quit

-- issue 10: NOTIFY announces no account.  The payload of auth_events is the
-- audit row's id and the event; auth.notify_events is now off by default
-- (a setting in the shared library, nothing to change here).
-- Records an event and announces it on the channel auth_events.
DROP FUNCTION auth._audit(text, uuid, uuid, inet, jsonb, timestamptz);
CREATE FUNCTION auth._audit(event text, user_id uuid, session_id uuid,
                            ip inet, detail jsonb DEFAULT '{}',
                            occurred_at timestamptz DEFAULT NULL,
                            actor jsonb DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_id bigint;
    v_at timestamptz := coalesce(occurred_at, auth.now());
    -- (a row the autonomous worker writes carries its caller's actor)
    v_actor jsonb := coalesce(actor, auth._audit_actor());
BEGIN
    INSERT INTO auth.audit_log (occurred_at, event, user_id, session_id, ip, detail,
                                actor_id, actor_role, impersonator_id)
    VALUES (v_at, event, user_id, session_id, ip, coalesce(detail, '{}'),
            (v_actor->>'actor_id')::uuid, v_actor->>'actor_role',
            -- or the impersonator of the session the event names (its start)
            coalesce((v_actor->>'impersonator_id')::uuid,
                     (SELECT s.impersonator_id FROM auth.sessions s
                       WHERE s.id OPERATOR(pg_catalog.=) _audit.session_id)))
    RETURNING id INTO v_id;
    -- Any role may LISTEN: the payload names the audit row and the event,
    -- no account (a listener with access to auth.audit_log reads the rest),
    -- so a failed sign-in for a registered email and for an unknown one
    -- announce the same; requests for links and codes (which anyone may
    -- make about any address) are not announced at all.
    IF auth._setting_bool('auth.notify_events') AND event NOT LIKE '%\_requested' THEN
        PERFORM pg_notify('auth_events', json_build_object(
            'id', v_id, 'event', event)::text);
    END IF;
END
$$;
COMMENT ON FUNCTION auth._audit(text, uuid, uuid, inet, jsonb, timestamptz, jsonb) IS
    'internal: appends to auth.audit_log and notifies auth_events; actor (from auth._audit_actor()) when written on a caller''s behalf';
REVOKE ALL ON FUNCTION auth._audit(text, uuid, uuid, inet, jsonb, timestamptz, jsonb) FROM PUBLIC;

-- issue 10: every SECURITY DEFINER function pins its search_path, the
-- identity setters too (a SET clause restores only the settings it names,
-- so the identity they set survives the call); the C read path is no
-- longer SECURITY DEFINER at all (no SQL, or SQL run as the owner from C),
-- so a verification pays no settings push and pop.
ALTER FUNCTION auth.verify_session(text) SECURITY INVOKER;
ALTER FUNCTION auth.authenticate(text, boolean) SECURITY INVOKER;
ALTER FUNCTION auth.sign_out() SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION auth.set_active_organization(uuid) SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION auth.verify_api_key(text, text[]) SECURITY INVOKER;
ALTER FUNCTION auth.authenticate_api_key(text, boolean) SECURITY INVOKER;

-- issue 10: credential lifecycle (items 1 and 4)
-- One function ends a user's credentials for a reason
-- (auth._end_credentials): a claim of a never-verified account by a
-- passwordless sign-in or a reset ends everything set up on it; reset and
-- change end the API keys unless keep_api_keys (a new parameter: the old
-- signatures are dropped); auth.revoke_all_credentials() signs out
-- everywhere.  Keys made by keys nest at most 8 deep (verification walks
-- the chain, src/apikey.c); ending or changing a key no longer waits for a
-- key being made by it.

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

DROP FUNCTION auth.change_password(text, text);

CREATE FUNCTION auth.change_password(current_password text, new_password text,
                                     keep_api_keys boolean DEFAULT false)
RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_uid uuid := auth._require_account_owner('change the password');
    v_hash text;
    v_ended jsonb;
    -- A stolen session must not be a way to guess the password: attempts
    -- count against the same limit as sign-ins, durably.
    v_key bytea := sha256(convert_to(v_uid::text, 'UTF8'));
    v_try jsonb;
BEGIN
    IF keep_api_keys IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'keep_api_keys must not be null';
    END IF;
    PERFORM auth._check_password_policy(new_password);
    v_try := auth._count_attempt('change_password', v_key);
    IF (v_try->>'allowed')::boolean IS NOT TRUE THEN
        RAISE EXCEPTION USING ERRCODE = 'PT429',
            MESSAGE = 'too many wrong current passwords',
            DETAIL = format('Password changes are locked until %s.', v_try->>'retry_at'),
            HINT = auth._retry_hint((v_try->>'retry_at')::timestamptz, auth._clock());
    END IF;
    -- the credentials lock before the row (the order every end keeps);
    -- FOR NO KEY UPDATE (what the UPDATE below takes): a session or key
    -- being created holds FOR KEY SHARE on the row and must not hold this off
    PERFORM auth._lock_user_credentials(v_uid, false);
    SELECT u.password_hash INTO v_hash FROM auth.users u WHERE u.id = v_uid FOR NO KEY UPDATE;
    IF current_password IS NULL OR length(current_password) > auth._limit('password') OR
       NOT auth.verify_password(current_password,
                                coalesce(v_hash, auth._dummy_password_hash()))
       OR v_hash IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = '28P01', MESSAGE = 'current password is incorrect';
    END IF;
    DELETE FROM auth.attempts a WHERE a.scope = 'change_password' AND a.key = v_key;
    UPDATE auth.users
       SET password_hash = auth.hash_password(new_password), updated_at = auth.now()
     WHERE id = v_uid;
    -- A change is what a user does who fears someone else used the
    -- account: the other sessions go, and so do the API keys (which a
    -- stolen session could have made to outlive it) unless the caller
    -- keeps them, as for a routine change.
    v_ended := auth._end_credentials(v_uid, 'password_changed', auth.session_id(),
                                     NOT keep_api_keys);
    PERFORM auth._audit('password_changed', v_uid, auth.session_id(), NULL,
                        jsonb_build_object('sessions_revoked', v_ended->'sessions_revoked',
                                           'api_keys_revoked', v_ended->'api_keys_revoked'));
END
$$;
COMMENT ON FUNCTION auth.change_password(text, text, boolean) IS
    'changes the authenticated user''s password and revokes their other sessions and (unless keep_api_keys) their API keys; 28P01 when the current password is wrong';

DROP FUNCTION auth.reset_password(text, text);

CREATE FUNCTION auth.reset_password(token text, new_password text,
                                    keep_api_keys boolean DEFAULT false)
RETURNS uuid
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_secret auth.one_time_secrets;
    v_claim boolean;
    v_ended jsonb;
BEGIN
    IF keep_api_keys IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'keep_api_keys must not be null';
    END IF;
    -- the policy first, so a rejected password does not use up the token
    PERFORM auth._check_password_policy(new_password);
    v_secret := auth._consume_token(token, 'pwr', 'password_reset');
    -- and only while the account still has the address the link went to
    -- (locked, and re-checked on the latest version of the row; the
    -- credentials lock first, as every end)
    PERFORM auth._lock_user_credentials(v_secret.user_id, false);
    SELECT u.email_verified_at IS NULL INTO v_claim FROM auth.users u
     WHERE u.id = v_secret.user_id AND auth._email_key(u.email) = v_secret.email
       FOR NO KEY UPDATE;
    IF v_secret.user_id IS NULL OR v_claim IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = '28000', MESSAGE = 'invalid or expired password reset link',
            HINT = 'Request a new link.';
    END IF;
    -- A reset is recovery after a possible compromise: every session goes,
    -- and every API key unless the caller keeps them.  It proves the
    -- mailbox: on an account never verified, whoever signed the address up
    -- may not have been its owner, so it ends everything, as a
    -- passwordless sign-in does, and the address is verified.
    v_ended := auth._end_credentials(v_secret.user_id,
                                     CASE WHEN v_claim THEN 'unverified_account_claimed'
                                          ELSE 'password_reset' END,
                                     NULL, NOT keep_api_keys);
    UPDATE auth.users u SET password_hash = auth.hash_password(new_password),
                            updated_at = auth.now()
     WHERE u.id = v_secret.user_id;
    -- the reset proves the mailbox: failed sign-ins for it no longer count
    DELETE FROM auth.attempts a
     WHERE a.scope = 'sign_in' AND a.key = sha256(convert_to(v_secret.email, 'UTF8'));
    PERFORM auth._audit('password_reset', v_secret.user_id, NULL, NULL,
                        jsonb_build_object('sessions_revoked', v_ended->'sessions_revoked',
                                           'api_keys_revoked', v_ended->'api_keys_revoked',
                                           'account_claimed', v_claim));
    RETURN v_secret.user_id;
END
$$;
COMMENT ON FUNCTION auth.reset_password(text, text, boolean) IS
    'redeems a reset token once, sets the new password (policy applies, 22023) and revokes every session and (unless keep_api_keys) API key of the user; on an account never verified it ends everything set up on it and verifies the address; 28000 when invalid';

CREATE OR REPLACE FUNCTION auth._passwordless_sign_in(secret auth.one_time_secrets, method text,
                                           ip inet, user_agent text)
RETURNS auth.passwordless_grant
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_now timestamptz := auth.now();
    v_user auth.users;
    v_session auth.session_grant;
    v_result auth.passwordless_grant;
BEGIN
    IF secret.id IS NULL THEN   -- nothing was redeemed
        RAISE EXCEPTION USING ERRCODE = '28000', MESSAGE = 'invalid or expired sign-in link or code',
            HINT = 'Request a new link or code.';
    END IF;
    v_result.is_new_user := false;
    v_result.password_removed := false;
    -- Locked, and re-checked on the latest version: an account moving away
    -- from this address meanwhile is not the one the link proves.  (The
    -- credentials lock first, as every end.)
    PERFORM auth._lock_user_credentials(u.id, false)
       FROM auth.users u WHERE auth._email_key(u.email) = secret.email;
    SELECT * INTO v_user FROM auth.users u WHERE auth._email_key(u.email) = secret.email
       FOR NO KEY UPDATE;
    -- An anonymous user redeeming it for an address nobody has keeps their
    -- id (and so their rows): the address becomes theirs, verified.
    IF v_user.id IS NULL AND auth._anonymous_caller() IS NOT NULL THEN
        BEGIN
            UPDATE auth.users u
               SET email = secret.email, email_verified_at = v_now, is_anonymous = false,
                   updated_at = v_now
             WHERE u.id = auth.uid()
            RETURNING * INTO v_user;
            PERFORM auth._audit('anonymous_linked', v_user.id, auth.session_id(), ip,
                                jsonb_build_object('method', method, 'email', secret.email));
        EXCEPTION WHEN unique_violation THEN   -- taken meanwhile: sign in to it
            SELECT * INTO v_user FROM auth.users u WHERE auth._email_key(u.email) = secret.email;
        END;
    END IF;
    IF v_user.id IS NULL THEN
        IF NOT auth._setting_bool('auth.magic_link_sign_up') THEN
            RAISE EXCEPTION USING ERRCODE = '28000', MESSAGE = 'invalid or expired sign-in link or code';
        END IF;
        INSERT INTO auth.users (email, email_verified_at) VALUES (secret.email, v_now)
        ON CONFLICT ((auth._email_key(email))) DO NOTHING
        RETURNING * INTO v_user;
        IF v_user.id IS NULL THEN   -- created meanwhile by someone else
            SELECT * INTO v_user FROM auth.users u WHERE auth._email_key(u.email) = secret.email
               FOR NO KEY UPDATE;
        ELSE
            v_result.is_new_user := true;
            PERFORM auth._audit('sign_up', v_user.id, NULL, ip, jsonb_build_object('method', method));
        END IF;
    END IF;
    IF v_user.email_verified_at IS NULL AND NOT v_result.is_new_user THEN
        -- The mailbox is proven only now: whoever signed this address up
        -- before may not have been its owner, so everything set up on the
        -- account goes (password, sessions, API keys, pending secrets,
        -- invitations, memberships; the owner can set a password again).
        -- The grant says when a password went, so the application can tell
        -- the user it no longer works.
        PERFORM auth._end_credentials(v_user.id, 'unverified_account_claimed');
        v_result.password_removed := v_user.password_hash IS NOT NULL;
    END IF;
    v_session := auth._open_first_factor_session(v_user.id, method, ip, user_agent);
    PERFORM auth._audit('sign_in', v_user.id, v_session.session_id, ip,
                        jsonb_build_object('method', method, 'secret_id', secret.id));
    v_result.token := v_session.token;
    v_result.mfa_challenge := v_session.mfa_challenge;
    v_result.session_id := v_session.session_id;
    v_result.user_id := v_user.id;
    v_result.expires_at := v_session.expires_at;
    v_result.redirect_to := secret.redirect_to;
    RETURN v_result;
END
$$;
COMMENT ON FUNCTION auth._passwordless_sign_in(auth.one_time_secrets, text, inet, text) IS
    'internal: the session a redeemed magic link or code opens';
REVOKE ALL ON FUNCTION auth._passwordless_sign_in(auth.one_time_secrets, text, inet, text) FROM PUBLIC;

COMMENT ON FUNCTION auth.consume_magic_link(text, inet, text) IS
    'redeems a magic link once: opens a session (creating the user when allowed) and marks the email verified, ending everything set up on an account never verified before; 28000 when unknown, expired or used';

COMMENT ON FUNCTION auth.sign_in_with_code(text, text, inet, text) IS
    'signs in with a 6-digit code sent to the email, ending everything set up on an account never verified before; 28000 when wrong, expired or used, PT429 after auth.code_max_attempts wrong tries';

CREATE OR REPLACE FUNCTION auth.confirm_email_change(token text) RETURNS uuid
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_secret auth.one_time_secrets := auth._consume_token(token, 'ect', 'email_change');
    v_old text;
BEGIN
    -- only the account that asked, signed in: a link mailed to someone
    -- else's address must not move their address into this account
    IF v_secret.id IS NULL OR v_secret.user_id IS DISTINCT FROM auth.uid() THEN
        RAISE EXCEPTION USING ERRCODE = '28000', MESSAGE = 'invalid or expired email change link',
            HINT = 'Request the change again.';
    END IF;
    -- not with an API key, nor impersonating, nor below aal2 with a factor
    PERFORM auth._require_account_owner('change the email');
    -- the credentials lock, then the row (the order every end keeps); FOR
    -- NO KEY UPDATE never waits for a session or key being created
    PERFORM auth._lock_user_credentials(v_secret.user_id, false);
    SELECT u.email INTO v_old FROM auth.users u WHERE u.id = v_secret.user_id FOR NO KEY UPDATE;
    BEGIN
        UPDATE auth.users u SET email = v_secret.new_email, email_verified_at = auth.now(),
                                updated_at = auth.now()
         WHERE u.id = v_secret.user_id;
    EXCEPTION WHEN unique_violation THEN
        RAISE EXCEPTION USING ERRCODE = '23505', MESSAGE = 'email is already registered';
    END;
    -- secrets sent to the old address die with it, and so do other
    -- sessions; API keys stay
    PERFORM auth._end_credentials(v_secret.user_id, 'email_changed', auth.session_id(), false);
    PERFORM auth._audit('email_changed', v_secret.user_id, auth.session_id(), NULL,
                        jsonb_build_object('old_email', v_old, 'new_email', v_secret.new_email));
    RETURN v_secret.user_id;
END
$$;
COMMENT ON FUNCTION auth.confirm_email_change(text) IS
    'redeems an email change token once, signed in as the user who asked: switches the email to the new, now verified, address, voids secrets sent to the old one and revokes the other sessions; 28000 when invalid, 23505 when taken meanwhile';

CREATE OR REPLACE FUNCTION auth._create_api_key(user_id uuid, parent_key_id uuid, managed boolean,
                                     name text, scopes text[], expires_in interval, org_id uuid,
                                     prefix text, rate_limit_max integer, rate_limit_window interval,
                                     remaining integer, refill_amount integer,
                                     refill_interval interval, metadata jsonb)
RETURNS auth.api_key_grant
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    v_now timestamptz := auth.now();
    v_prefix text := coalesce(prefix, current_setting('auth.api_key_prefix'));
    v_scopes text[] := auth._check_scopes(scopes);
    v_expires timestamptz;
    v_banned timestamptz;
    v_epoch bigint;
    v_anonymous boolean;
    v_key record;
    v_grant auth.api_key_grant;
BEGIN
    PERFORM auth._refuse_impersonation('create API keys');
    PERFORM auth._check_api_key_fields(coalesce(name, ''), metadata);
    IF NOT auth._api_key_prefix_is_valid(v_prefix) THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'invalid API key prefix',
            DETAIL = 'A prefix is 1 to 16 lowercase letters or digits, and not one of the extension''s own token kinds.';
    END IF;
    IF expires_in <= interval '0' THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'expires_in must be positive';
    END IF;
    PERFORM auth._check_api_key_limits(rate_limit_max, rate_limit_window, remaining,
                                       refill_amount, refill_interval);
    -- No lock: a ban or an end of the user's credentials committed before
    -- this transaction commits fails it (src/lifecycle.c), and none waits
    -- for this transaction.
    SELECT u.banned_until, u.credentials_epoch, u.is_anonymous INTO v_banned, v_epoch, v_anonymous
      FROM auth.users u WHERE u.id = user_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'user does not exist';
    END IF;
    -- cleanup() removes an anonymous user idle by their sessions, and a
    -- key would go with them while in use
    IF v_anonymous THEN
        RAISE EXCEPTION USING ERRCODE = '42501', MESSAGE = 'an anonymous user cannot have API keys',
            HINT = 'Link an email first (auth.link_email_password() or a magic link).';
    END IF;
    PERFORM auth._creating_credential(user_id, v_epoch, auth.session_id());
    IF v_banned > v_now THEN
        RAISE EXCEPTION USING ERRCODE = '28000', MESSAGE = 'account is suspended';
    END IF;
    -- The session the key is made under must be live now, not only when
    -- the transaction first checked it: a reset, a claim or a sign-out
    -- committed since (one still in progress fails this transaction at
    -- commit, src/lifecycle.c) ended it, and a key made after that would outlive it.  (A key made by
    -- a key: verification walks the chain.)
    IF auth.session_id() IS NOT NULL AND NOT EXISTS (
            SELECT FROM auth.sessions s
             WHERE s.id = auth.session_id() AND s.revoked_at IS NULL
               AND s.expires_at > v_now) THEN
        RAISE EXCEPTION USING ERRCODE = '28000', MESSAGE = 'invalid session token',
            DETAIL = 'The session ended while this transaction was open.',
            HINT = 'Sign in again to get a new session token.';
    END IF;
    IF org_id IS NOT NULL AND NOT EXISTS (
            SELECT FROM auth.members m WHERE m.org_id = org_id AND m.user_id = user_id FOR SHARE) THEN
        RAISE EXCEPTION USING ERRCODE = '42501', MESSAGE = 'not a member of this organization';
    END IF;
    v_expires := v_now + expires_in;
    IF parent_key_id IS NOT NULL THEN
        -- a key made by a key dies no later than its maker
        SELECT least(v_expires, k.expires_at) INTO v_expires  -- least() skips NULLs
          FROM auth.api_keys k WHERE k.id = parent_key_id;
        -- and lives only while every key above it does: verification walks
        -- up at most 7 keys (AUTH_API_KEY_MAX_ANCESTORS in src/apikey.h)
        IF (WITH RECURSIVE up (id, parent, n) AS (
                SELECT k.id, k.parent_key_id, 1 FROM auth.api_keys k WHERE k.id = parent_key_id
                UNION ALL
                SELECT k.id, k.parent_key_id, up.n + 1
                  FROM auth.api_keys k JOIN up ON k.id = up.parent WHERE up.n < 8)
            SELECT max(up.n) FROM up) >= 8 THEN
            RAISE EXCEPTION USING ERRCODE = '54000',
                MESSAGE = 'API keys made by keys nest at most 8 deep',
                DETAIL = 'A key made by a key can have at most 7 keys above it.';
        END IF;
    END IF;
    v_key := auth._generate_api_key(v_prefix);
    INSERT INTO auth.api_keys (user_id, org_id, parent_key_id, name, prefix, start, key_hash,
                               scopes, metadata, expires_at, rate_limit_max, rate_limit_window,
                               remaining, refill_amount, refill_interval, last_refill_at,
                               managed, user_banned_until, created_at, updated_at)
    VALUES (user_id, org_id, parent_key_id, btrim(name), v_prefix,
            left(v_key.key, length(v_prefix) + 5), v_key.key_hash, v_scopes,
            coalesce(metadata, '{}'), v_expires, rate_limit_max, rate_limit_window,
            remaining, refill_amount, refill_interval, v_now, managed, v_banned, v_now, v_now)
    RETURNING id INTO v_grant.key_id;
    v_grant.key := v_key.key;
    PERFORM auth._audit('api_key_created', user_id, auth.session_id(), NULL,
                        jsonb_strip_nulls(jsonb_build_object(
                            'key_id', v_grant.key_id, 'org_id', org_id,
                            'by_key_id', parent_key_id, 'managed', managed)));
    RETURN v_grant;
END
$$;
COMMENT ON FUNCTION auth._create_api_key(uuid, uuid, boolean, text, text[], interval, uuid, text,
                                         integer, interval, integer, integer, interval, jsonb) IS
    'internal: creates an API key and returns it, the only copy';
REVOKE ALL ON FUNCTION auth._create_api_key(uuid, uuid, boolean, text, text[], interval, uuid, text,
                                            integer, interval, integer, integer, interval, jsonb) FROM PUBLIC;

CREATE OR REPLACE FUNCTION auth._lock_manageable_api_key(key_id uuid) RETURNS auth.api_keys
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_key auth.api_keys;
BEGIN
    PERFORM auth._require_not_jwt('manage API keys');
    -- the credentials lock first, then the row (the order every end keeps)
    PERFORM auth._share_user_credentials(k.user_id) FROM auth.api_keys k WHERE k.id = key_id;
    -- FOR NO KEY UPDATE, as the UPDATE that follows takes: a key being
    -- made by this one holds FOR KEY SHARE on it (its foreign key) until
    -- its creator commits, and must not hold off this change
    SELECT * INTO v_key FROM auth.api_keys k
     WHERE k.id = key_id AND k.id IN (SELECT auth._manageable_api_keys())
       FOR NO KEY UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'API key not found';
    END IF;
    IF v_key.revoked_at IS NOT NULL THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'API key is revoked';
    END IF;
    RETURN v_key;
END
$$;
COMMENT ON FUNCTION auth._lock_manageable_api_key(uuid) IS
    'internal: locks a live API key the caller may manage; 22023 otherwise';
REVOKE ALL ON FUNCTION auth._lock_manageable_api_key(uuid) FROM PUBLIC;

CREATE OR REPLACE FUNCTION auth.revoke_api_key(key_id uuid) RETURNS boolean
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    v_user uuid;
    v_now timestamptz := auth.now();
BEGIN
    PERFORM auth._require_not_jwt('manage API keys');
    SELECT k.user_id INTO v_user FROM auth.api_keys k
     WHERE k.id = key_id AND k.revoked_at IS NULL
       AND (k.id IN (SELECT auth._manageable_api_keys()) OR k.id = auth.api_key_id())
       FOR NO KEY UPDATE;   -- never waits for a key being made by this one
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    -- with every key it created, down the line (a key being made by one
    -- of them meanwhile is dead too: verification checks every key above)
    UPDATE auth.api_keys k SET revoked_at = v_now, updated_at = v_now
     WHERE (k.id = key_id OR k.id IN (SELECT auth._api_key_descendants(key_id)))
       AND k.revoked_at IS NULL;
    PERFORM auth._audit('api_key_revoked', v_user, auth.session_id(), NULL,
                        jsonb_build_object('key_id', key_id));
    RETURN true;
END
$$;
COMMENT ON FUNCTION auth.revoke_api_key(uuid) IS
    'revokes one of the caller''s keys and the keys it created, at once; false when it is not theirs or already revoked';

-- issue 10: Unicode emails and bounded input
-- Emails are compared after NFC and ASCII-only case folding, whatever the
-- database's collation (auth._email_key(), the key of the unique index),
-- and an address whose characters outside ASCII could fold into another is
-- refused; every field a caller supplies has a bound in auth._limits().
-- Rows written by 0.1.0 stay as they are: emails lower()-cased then are
-- their own key unless two accounts differ only in Unicode normalisation,
-- which the unique index cannot take; that is checked first.
CREATE FUNCTION auth._limits() RETURNS TABLE (field text, max integer, unit text)
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    VALUES ('email', 254, 'bytes'),              -- RFC 5321's longest path
           ('password', 128, 'characters'),      -- the policy; C refuses 4096 bytes
           ('name', 256, 'characters'),          -- a user's name
           ('image', 2048, 'characters'),        -- a user's image URL
           ('ban reason', 1000, 'characters'),
           ('search', 254, 'characters'),        -- auth.list_users()
           ('metadata', 16384, 'bytes'),         -- users, organizations, API keys
           ('metadata depth', 32, 'levels'),
           ('redirect_to', 2048, 'characters'),
           ('logo', 2048, 'characters'),
           ('code purpose', 40, 'characters'),
           ('organization name', 200, 'characters'),
           ('slug', 64, 'characters'),
           ('role', 40, 'characters'),
           ('permission', 128, 'characters'),
           ('permissions', 64, 'items'),         -- per role
           ('team name', 200, 'characters'),
           ('API key name', 200, 'characters'),
           ('scope', 64, 'characters'),
           ('scopes', 32, 'items'),              -- per API key
           ('factor label', 64, 'characters'),
           ('second-factor code', 64, 'characters'), -- a recovery code spaced out
           ('factors', 10, 'items'),             -- second factors per user
           ('user agent', 512, 'characters'),    -- kept; the rest is cut
           ('impersonation reason', 1000, 'characters'),
           ('username', 32, 'characters')
$$;
COMMENT ON FUNCTION auth._limits() IS
    'internal: the bound on every field a caller supplies (README "Limits")';
REVOKE ALL ON FUNCTION auth._limits() FROM PUBLIC;

CREATE FUNCTION auth._limit(field text) RETURNS integer
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v integer;
BEGIN
    SELECT l.max INTO v FROM auth._limits() l WHERE l.field = _limit.field;
    IF v IS NULL THEN   -- a bug, never a caller's fault: no check may pass silently
        RAISE EXCEPTION USING ERRCODE = 'XX000', MESSAGE = format('no limit named "%s"', field);
    END IF;
    RETURN v;
END
$$;
COMMENT ON FUNCTION auth._limit(text) IS
    'internal: the bound of a field in auth._limits()';
REVOKE ALL ON FUNCTION auth._limit(text) FROM PUBLIC;

CREATE FUNCTION auth._check_length(value text, field text) RETURNS void
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_max integer;
    v_unit text;
BEGIN
    SELECT l.max, l.unit INTO v_max, v_unit FROM auth._limits() l WHERE l.field = _check_length.field;
    IF v_max IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'XX000', MESSAGE = format('no limit named "%s"', field);
    END IF;
    IF (CASE v_unit WHEN 'bytes' THEN octet_length(value) ELSE length(value) END) > v_max THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = format('%s is too long', field),
            DETAIL = format('The longest accepted is %s %s.', v_max, v_unit);
    END IF;
END
$$;
COMMENT ON FUNCTION auth._check_length(text, text) IS
    'internal: 22023 when a text is longer than the bound auth._limits() gives its field';
REVOKE ALL ON FUNCTION auth._check_length(text, text) FROM PUBLIC;

CREATE FUNCTION auth._check_metadata(metadata jsonb) RETURNS void
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_max integer := auth._limit('metadata');
    v_depth integer := auth._limit('metadata depth');
BEGIN
    IF jsonb_typeof(metadata) <> 'object' OR octet_length(metadata::text) > v_max THEN
        RAISE EXCEPTION USING ERRCODE = '22023',
            MESSAGE = format('metadata must be a JSON object of at most %s kB', v_max / 1024);
    END IF;
    -- .**{n} stops descending at level n, so this costs no more than the
    -- levels it looks at
    IF jsonb_path_exists(metadata, format('strict $.**{%s}', v_depth + 1)::jsonpath) THEN
        RAISE EXCEPTION USING ERRCODE = '22023',
            MESSAGE = format('metadata must be a JSON object nested at most %s levels deep', v_depth);
    END IF;
END
$$;
COMMENT ON FUNCTION auth._check_metadata(jsonb) IS
    'internal: 22023 unless metadata is a JSON object within its size and depth bounds';
REVOKE ALL ON FUNCTION auth._check_metadata(jsonb) FROM PUBLIC;

CREATE FUNCTION auth._email_key(email text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT pg_catalog.translate(
        CASE WHEN pg_catalog.octet_length(email) OPERATOR(pg_catalog.=) pg_catalog.length(email)
                  OR pg_catalog.getdatabaseencoding() OPERATOR(pg_catalog.<>) 'UTF8'
             THEN email ELSE pg_catalog.normalize(email, 'NFC') END,
        'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz')
$$;
COMMENT ON FUNCTION auth._email_key(text) IS
    'internal: the comparison key of an email: NFC, then ASCII letters lower-cased';
REVOKE ALL ON FUNCTION auth._email_key(text) FROM PUBLIC;

DO $$
BEGIN
    IF EXISTS (SELECT FROM auth.users u GROUP BY auth._email_key(u.email)
                HAVING pg_catalog.count(*) OPERATOR(pg_catalog.>) 1) THEN
        RAISE EXCEPTION USING ERRCODE = '23505',
            MESSAGE = 'two accounts have emails that differ only in Unicode normalisation',
            HINT = 'List them with SELECT auth._email_key(email), array_agg(id) FROM auth.users GROUP BY 1 HAVING count(*) > 1; change or merge one, then update again.';
    END IF;
END
$$;
DROP INDEX auth.users_email_key;
CREATE UNIQUE INDEX users_email_key ON auth.users (auth._email_key(email));

-- issue 10: invisible, format, unassigned and private-use characters in emails
-- (auth._email_refused_char(), generated from Unicode data by
-- scripts/gen_unicode_ranges.py, and the check of auth._unicode_email())
-- Whether an email holds a character no address should have, and which
-- kind: NULL when none.  Generated by scripts/gen_unicode_ranges.py (do not
-- edit by hand) from Unicode 14.0.0 (Python's unicodedata: general
-- categories, the version of PostgreSQL 15's normalize()) and 15.0.0 (ICU:
-- Default_Ignorable_Code_Point, general categories); a code point is
-- refused when either says so.  Kinds: 'unassigned' (Cn, noncharacters
-- included), 'private' (Co; Cs cannot be in UTF8 text), 'invisible' (Cf,
-- Zs, Zl, Zp, Default_Ignorable_Code_Point, and U+1806 Mongolian todo soft
-- hyphen).  One bracket expression answers for an address that has none
-- (the usual case); the kind is looked for only then.
CREATE FUNCTION auth._email_refused_char(email text) RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT CASE
        WHEN email OPERATOR(pg_catalog.!~) '[\u00a0\u00ad\u034f\u0378-\u0379\u0380-\u0383\u038b\u038d\u03a2\u0530\u0557-\u0558\u058b-\u058c\u0590\u05c8-\u05cf\u05eb-\u05ee\u05f5-\u0605\u061c\u06dd\u070e-\u070f\u074b-\u074c\u07b2-\u07bf\u07fb-\u07fc\u082e-\u082f\u083f\u085c-\u085d\u085f\u086b-\u086f\u088f-\u0897\u08e2\u0984\u098d-\u098e\u0991-\u0992\u09a9\u09b1\u09b3-\u09b5\u09ba-\u09bb\u09c5-\u09c6\u09c9-\u09ca\u09cf-\u09d6\u09d8-\u09db\u09de\u09e4-\u09e5\u09ff-\u0a00\u0a04\u0a0b-\u0a0e\u0a11-\u0a12\u0a29\u0a31\u0a34\u0a37\u0a3a-\u0a3b\u0a3d\u0a43-\u0a46\u0a49-\u0a4a\u0a4e-\u0a50\u0a52-\u0a58\u0a5d\u0a5f-\u0a65\u0a77-\u0a80\u0a84\u0a8e\u0a92\u0aa9\u0ab1\u0ab4\u0aba-\u0abb\u0ac6\u0aca\u0ace-\u0acf\u0ad1-\u0adf\u0ae4-\u0ae5\u0af2-\u0af8\u0b00\u0b04\u0b0d-\u0b0e\u0b11-\u0b12\u0b29\u0b31\u0b34\u0b3a-\u0b3b\u0b45-\u0b46\u0b49-\u0b4a\u0b4e-\u0b54\u0b58-\u0b5b\u0b5e\u0b64-\u0b65\u0b78-\u0b81\u0b84\u0b8b-\u0b8d\u0b91\u0b96-\u0b98\u0b9b\u0b9d\u0ba0-\u0ba2\u0ba5-\u0ba7\u0bab-\u0bad\u0bba-\u0bbd\u0bc3-\u0bc5\u0bc9\u0bce-\u0bcf\u0bd1-\u0bd6\u0bd8-\u0be5\u0bfb-\u0bff\u0c0d\u0c11\u0c29\u0c3a-\u0c3b\u0c45\u0c49\u0c4e-\u0c54\u0c57\u0c5b-\u0c5c\u0c5e-\u0c5f\u0c64-\u0c65\u0c70-\u0c76\u0c8d\u0c91\u0ca9\u0cb4\u0cba-\u0cbb\u0cc5\u0cc9\u0cce-\u0cd4\u0cd7-\u0cdc\u0cdf\u0ce4-\u0ce5\u0cf0\u0cf3-\u0cff\u0d0d\u0d11\u0d45\u0d49\u0d50-\u0d53\u0d64-\u0d65\u0d80\u0d84\u0d97-\u0d99\u0db2\u0dbc\u0dbe-\u0dbf\u0dc7-\u0dc9\u0dcb-\u0dce\u0dd5\u0dd7\u0de0-\u0de5\u0df0-\u0df1\u0df5-\u0e00\u0e3b-\u0e3e\u0e5c-\u0e80\u0e83\u0e85\u0e8b\u0ea4\u0ea6\u0ebe-\u0ebf\u0ec5\u0ec7\u0ece-\u0ecf\u0eda-\u0edb\u0ee0-\u0eff\u0f48\u0f6d-\u0f70\u0f98\u0fbd\u0fcd\u0fdb-\u0fff\u10c6\u10c8-\u10cc\u10ce-\u10cf\u115f-\u1160\u1249\u124e-\u124f\u1257\u1259\u125e-\u125f\u1289\u128e-\u128f\u12b1\u12b6-\u12b7\u12bf\u12c1\u12c6-\u12c7\u12d7\u1311\u1316-\u1317\u135b-\u135c\u137d-\u137f\u139a-\u139f\u13f6-\u13f7\u13fe-\u13ff\u1680\u169d-\u169f\u16f9-\u16ff\u1716-\u171e\u1737-\u173f\u1754-\u175f\u176d\u1771\u1774-\u177f\u17b4-\u17b5\u17de-\u17df\u17ea-\u17ef\u17fa-\u17ff\u1806\u180b-\u180f\u181a-\u181f\u1879-\u187f\u18ab-\u18af\u18f6-\u18ff\u191f\u192c-\u192f\u193c-\u193f\u1941-\u1943\u196e-\u196f\u1975-\u197f\u19ac-\u19af\u19ca-\u19cf\u19db-\u19dd\u1a1c-\u1a1d\u1a5f\u1a7d-\u1a7e\u1a8a-\u1a8f\u1a9a-\u1a9f\u1aae-\u1aaf\u1acf-\u1aff\u1b4d-\u1b4f\u1b7f\u1bf4-\u1bfb\u1c38-\u1c3a\u1c4a-\u1c4c\u1c89-\u1c8f\u1cbb-\u1cbc\u1cc8-\u1ccf\u1cfb-\u1cff\u1f16-\u1f17\u1f1e-\u1f1f\u1f46-\u1f47\u1f4e-\u1f4f\u1f58\u1f5a\u1f5c\u1f5e\u1f7e-\u1f7f\u1fb5\u1fc5\u1fd4-\u1fd5\u1fdc\u1ff0-\u1ff1\u1ff5\u1fff-\u200f\u2028-\u202f\u205f-\u206f\u2072-\u2073\u208f\u209d-\u209f\u20c1-\u20cf\u20f1-\u20ff\u218c-\u218f\u2427-\u243f\u244b-\u245f\u2b74-\u2b75\u2b96\u2cf4-\u2cf8\u2d26\u2d28-\u2d2c\u2d2e-\u2d2f\u2d68-\u2d6e\u2d71-\u2d7e\u2d97-\u2d9f\u2da7\u2daf\u2db7\u2dbf\u2dc7\u2dcf\u2dd7\u2ddf\u2e5e-\u2e7f\u2e9a\u2ef4-\u2eff\u2fd6-\u2fef\u2ffc-\u3000\u3040\u3097-\u3098\u3100-\u3104\u3130\u3164\u318f\u31e4-\u31ef\u321f\ua48d-\ua48f\ua4c7-\ua4cf\ua62c-\ua63f\ua6f8-\ua6ff\ua7cb-\ua7cf\ua7d2\ua7d4\ua7da-\ua7f1\ua82d-\ua82f\ua83a-\ua83f\ua878-\ua87f\ua8c6-\ua8cd\ua8da-\ua8df\ua954-\ua95e\ua97d-\ua97f\ua9ce\ua9da-\ua9dd\ua9ff\uaa37-\uaa3f\uaa4e-\uaa4f\uaa5a-\uaa5b\uaac3-\uaada\uaaf7-\uab00\uab07-\uab08\uab0f-\uab10\uab17-\uab1f\uab27\uab2f\uab6c-\uab6f\uabee-\uabef\uabfa-\uabff\ud7a4-\ud7af\ud7c7-\ud7ca\ud7fc-\ud7ff\ue000-\uf8ff\ufa6e-\ufa6f\ufada-\ufaff\ufb07-\ufb12\ufb18-\ufb1c\ufb37\ufb3d\ufb3f\ufb42\ufb45\ufbc3-\ufbd2\ufd90-\ufd91\ufdc8-\ufdce\ufdd0-\ufdef\ufe00-\ufe0f\ufe1a-\ufe1f\ufe53\ufe67\ufe6c-\ufe6f\ufe75\ufefd-\uff00\uffa0\uffbf-\uffc1\uffc8-\uffc9\uffd0-\uffd1\uffd8-\uffd9\uffdd-\uffdf\uffe7\uffef-\ufffb\ufffe-\uffff\U0001000c\U00010027\U0001003b\U0001003e\U0001004e-\U0001004f\U0001005e-\U0001007f\U000100fb-\U000100ff\U00010103-\U00010106\U00010134-\U00010136\U0001018f\U0001019d-\U0001019f\U000101a1-\U000101cf\U000101fe-\U0001027f\U0001029d-\U0001029f\U000102d1-\U000102df\U000102fc-\U000102ff\U00010324-\U0001032c\U0001034b-\U0001034f\U0001037b-\U0001037f\U0001039e\U000103c4-\U000103c7\U000103d6-\U000103ff\U0001049e-\U0001049f\U000104aa-\U000104af\U000104d4-\U000104d7\U000104fc-\U000104ff\U00010528-\U0001052f\U00010564-\U0001056e\U0001057b\U0001058b\U00010593\U00010596\U000105a2\U000105b2\U000105ba\U000105bd-\U000105ff\U00010737-\U0001073f\U00010756-\U0001075f\U00010768-\U0001077f\U00010786\U000107b1\U000107bb-\U000107ff\U00010806-\U00010807\U00010809\U00010836\U00010839-\U0001083b\U0001083d-\U0001083e\U00010856\U0001089f-\U000108a6\U000108b0-\U000108df\U000108f3\U000108f6-\U000108fa\U0001091c-\U0001091e\U0001093a-\U0001093e\U00010940-\U0001097f\U000109b8-\U000109bb\U000109d0-\U000109d1\U00010a04\U00010a07-\U00010a0b\U00010a14\U00010a18\U00010a36-\U00010a37\U00010a3b-\U00010a3e\U00010a49-\U00010a4f\U00010a59-\U00010a5f\U00010aa0-\U00010abf\U00010ae7-\U00010aea\U00010af7-\U00010aff\U00010b36-\U00010b38\U00010b56-\U00010b57\U00010b73-\U00010b77\U00010b92-\U00010b98\U00010b9d-\U00010ba8\U00010bb0-\U00010bff\U00010c49-\U00010c7f\U00010cb3-\U00010cbf\U00010cf3-\U00010cf9\U00010d28-\U00010d2f\U00010d3a-\U00010e5f\U00010e7f\U00010eaa\U00010eae-\U00010eaf\U00010eb2-\U00010eff\U00010f28-\U00010f2f\U00010f5a-\U00010f6f\U00010f8a-\U00010faf\U00010fcc-\U00010fdf\U00010ff7-\U00010fff\U0001104e-\U00011051\U00011076-\U0001107e\U000110bd\U000110c3-\U000110cf\U000110e9-\U000110ef\U000110fa-\U000110ff\U00011135\U00011148-\U0001114f\U00011177-\U0001117f\U000111e0\U000111f5-\U000111ff\U00011212\U0001123f-\U0001127f\U00011287\U00011289\U0001128e\U0001129e\U000112aa-\U000112af\U000112eb-\U000112ef\U000112fa-\U000112ff\U00011304\U0001130d-\U0001130e\U00011311-\U00011312\U00011329\U00011331\U00011334\U0001133a\U00011345-\U00011346\U00011349-\U0001134a\U0001134e-\U0001134f\U00011351-\U00011356\U00011358-\U0001135c\U00011364-\U00011365\U0001136d-\U0001136f\U00011375-\U000113ff\U0001145c\U00011462-\U0001147f\U000114c8-\U000114cf\U000114da-\U0001157f\U000115b6-\U000115b7\U000115de-\U000115ff\U00011645-\U0001164f\U0001165a-\U0001165f\U0001166d-\U0001167f\U000116ba-\U000116bf\U000116ca-\U000116ff\U0001171b-\U0001171c\U0001172c-\U0001172f\U00011747-\U000117ff\U0001183c-\U0001189f\U000118f3-\U000118fe\U00011907-\U00011908\U0001190a-\U0001190b\U00011914\U00011917\U00011936\U00011939-\U0001193a\U00011947-\U0001194f\U0001195a-\U0001199f\U000119a8-\U000119a9\U000119d8-\U000119d9\U000119e5-\U000119ff\U00011a48-\U00011a4f\U00011aa3-\U00011aaf\U00011af9-\U00011bff\U00011c09\U00011c37\U00011c46-\U00011c4f\U00011c6d-\U00011c6f\U00011c90-\U00011c91\U00011ca8\U00011cb7-\U00011cff\U00011d07\U00011d0a\U00011d37-\U00011d39\U00011d3b\U00011d3e\U00011d48-\U00011d4f\U00011d5a-\U00011d5f\U00011d66\U00011d69\U00011d8f\U00011d92\U00011d99-\U00011d9f\U00011daa-\U00011edf\U00011ef9-\U00011faf\U00011fb1-\U00011fbf\U00011ff2-\U00011ffe\U0001239a-\U000123ff\U0001246f\U00012475-\U0001247f\U00012544-\U00012f8f\U00012ff3-\U00012fff\U0001342f-\U000143ff\U00014647-\U000167ff\U00016a39-\U00016a3f\U00016a5f\U00016a6a-\U00016a6d\U00016abf\U00016aca-\U00016acf\U00016aee-\U00016aef\U00016af6-\U00016aff\U00016b46-\U00016b4f\U00016b5a\U00016b62\U00016b78-\U00016b7c\U00016b90-\U00016e3f\U00016e9b-\U00016eff\U00016f4b-\U00016f4e\U00016f88-\U00016f8e\U00016fa0-\U00016fdf\U00016fe5-\U00016fef\U00016ff2-\U00016fff\U000187f8-\U000187ff\U00018cd6-\U00018cff\U00018d09-\U0001afef\U0001aff4\U0001affc\U0001afff\U0001b123-\U0001b14f\U0001b153-\U0001b163\U0001b168-\U0001b16f\U0001b2fc-\U0001bbff\U0001bc6b-\U0001bc6f\U0001bc7d-\U0001bc7f\U0001bc89-\U0001bc8f\U0001bc9a-\U0001bc9b\U0001bca0-\U0001ceff\U0001cf2e-\U0001cf2f\U0001cf47-\U0001cf4f\U0001cfc4-\U0001cfff\U0001d0f6-\U0001d0ff\U0001d127-\U0001d128\U0001d173-\U0001d17a\U0001d1eb-\U0001d1ff\U0001d246-\U0001d2df\U0001d2f4-\U0001d2ff\U0001d357-\U0001d35f\U0001d379-\U0001d3ff\U0001d455\U0001d49d\U0001d4a0-\U0001d4a1\U0001d4a3-\U0001d4a4\U0001d4a7-\U0001d4a8\U0001d4ad\U0001d4ba\U0001d4bc\U0001d4c4\U0001d506\U0001d50b-\U0001d50c\U0001d515\U0001d51d\U0001d53a\U0001d53f\U0001d545\U0001d547-\U0001d549\U0001d551\U0001d6a6-\U0001d6a7\U0001d7cc-\U0001d7cd\U0001da8c-\U0001da9a\U0001daa0\U0001dab0-\U0001deff\U0001df1f-\U0001dfff\U0001e007\U0001e019-\U0001e01a\U0001e022\U0001e025\U0001e02b-\U0001e0ff\U0001e12d-\U0001e12f\U0001e13e-\U0001e13f\U0001e14a-\U0001e14d\U0001e150-\U0001e28f\U0001e2af-\U0001e2bf\U0001e2fa-\U0001e2fe\U0001e300-\U0001e7df\U0001e7e7\U0001e7ec\U0001e7ef\U0001e7ff\U0001e8c5-\U0001e8c6\U0001e8d7-\U0001e8ff\U0001e94c-\U0001e94f\U0001e95a-\U0001e95d\U0001e960-\U0001ec70\U0001ecb5-\U0001ed00\U0001ed3e-\U0001edff\U0001ee04\U0001ee20\U0001ee23\U0001ee25-\U0001ee26\U0001ee28\U0001ee33\U0001ee38\U0001ee3a\U0001ee3c-\U0001ee41\U0001ee43-\U0001ee46\U0001ee48\U0001ee4a\U0001ee4c\U0001ee50\U0001ee53\U0001ee55-\U0001ee56\U0001ee58\U0001ee5a\U0001ee5c\U0001ee5e\U0001ee60\U0001ee63\U0001ee65-\U0001ee66\U0001ee6b\U0001ee73\U0001ee78\U0001ee7d\U0001ee7f\U0001ee8a\U0001ee9c-\U0001eea0\U0001eea4\U0001eeaa\U0001eebc-\U0001eeef\U0001eef2-\U0001efff\U0001f02c-\U0001f02f\U0001f094-\U0001f09f\U0001f0af-\U0001f0b0\U0001f0c0\U0001f0d0\U0001f0f6-\U0001f0ff\U0001f1ae-\U0001f1e5\U0001f203-\U0001f20f\U0001f23c-\U0001f23f\U0001f249-\U0001f24f\U0001f252-\U0001f25f\U0001f266-\U0001f2ff\U0001f6d8-\U0001f6dc\U0001f6ed-\U0001f6ef\U0001f6fd-\U0001f6ff\U0001f774-\U0001f77f\U0001f7d9-\U0001f7df\U0001f7ec-\U0001f7ef\U0001f7f1-\U0001f7ff\U0001f80c-\U0001f80f\U0001f848-\U0001f84f\U0001f85a-\U0001f85f\U0001f888-\U0001f88f\U0001f8ae-\U0001f8af\U0001f8b2-\U0001f8ff\U0001fa54-\U0001fa5f\U0001fa6e-\U0001fa6f\U0001fa75-\U0001fa77\U0001fa7d-\U0001fa7f\U0001fa87-\U0001fa8f\U0001faad-\U0001faaf\U0001fabb-\U0001fabf\U0001fac6-\U0001facf\U0001fada-\U0001fadf\U0001fae8-\U0001faef\U0001faf7-\U0001faff\U0001fb93\U0001fbcb-\U0001fbef\U0001fbfa-\U0001ffff\U0002a6e0-\U0002a6ff\U0002b739-\U0002b73f\U0002b81e-\U0002b81f\U0002cea2-\U0002ceaf\U0002ebe1-\U0002f7ff\U0002fa1e-\U0002ffff\U0003134b-\U0010ffff]' THEN NULL
        WHEN email OPERATOR(pg_catalog.~) '[\u0378-\u0379\u0380-\u0383\u038b\u038d\u03a2\u0530\u0557-\u0558\u058b-\u058c\u0590\u05c8-\u05cf\u05eb-\u05ee\u05f5-\u05ff\u070e\u074b-\u074c\u07b2-\u07bf\u07fb-\u07fc\u082e-\u082f\u083f\u085c-\u085d\u085f\u086b-\u086f\u088f\u0892-\u0897\u0984\u098d-\u098e\u0991-\u0992\u09a9\u09b1\u09b3-\u09b5\u09ba-\u09bb\u09c5-\u09c6\u09c9-\u09ca\u09cf-\u09d6\u09d8-\u09db\u09de\u09e4-\u09e5\u09ff-\u0a00\u0a04\u0a0b-\u0a0e\u0a11-\u0a12\u0a29\u0a31\u0a34\u0a37\u0a3a-\u0a3b\u0a3d\u0a43-\u0a46\u0a49-\u0a4a\u0a4e-\u0a50\u0a52-\u0a58\u0a5d\u0a5f-\u0a65\u0a77-\u0a80\u0a84\u0a8e\u0a92\u0aa9\u0ab1\u0ab4\u0aba-\u0abb\u0ac6\u0aca\u0ace-\u0acf\u0ad1-\u0adf\u0ae4-\u0ae5\u0af2-\u0af8\u0b00\u0b04\u0b0d-\u0b0e\u0b11-\u0b12\u0b29\u0b31\u0b34\u0b3a-\u0b3b\u0b45-\u0b46\u0b49-\u0b4a\u0b4e-\u0b54\u0b58-\u0b5b\u0b5e\u0b64-\u0b65\u0b78-\u0b81\u0b84\u0b8b-\u0b8d\u0b91\u0b96-\u0b98\u0b9b\u0b9d\u0ba0-\u0ba2\u0ba5-\u0ba7\u0bab-\u0bad\u0bba-\u0bbd\u0bc3-\u0bc5\u0bc9\u0bce-\u0bcf\u0bd1-\u0bd6\u0bd8-\u0be5\u0bfb-\u0bff\u0c0d\u0c11\u0c29\u0c3a-\u0c3b\u0c45\u0c49\u0c4e-\u0c54\u0c57\u0c5b-\u0c5c\u0c5e-\u0c5f\u0c64-\u0c65\u0c70-\u0c76\u0c8d\u0c91\u0ca9\u0cb4\u0cba-\u0cbb\u0cc5\u0cc9\u0cce-\u0cd4\u0cd7-\u0cdc\u0cdf\u0ce4-\u0ce5\u0cf0\u0cf3-\u0cff\u0d0d\u0d11\u0d45\u0d49\u0d50-\u0d53\u0d64-\u0d65\u0d80\u0d84\u0d97-\u0d99\u0db2\u0dbc\u0dbe-\u0dbf\u0dc7-\u0dc9\u0dcb-\u0dce\u0dd5\u0dd7\u0de0-\u0de5\u0df0-\u0df1\u0df5-\u0e00\u0e3b-\u0e3e\u0e5c-\u0e80\u0e83\u0e85\u0e8b\u0ea4\u0ea6\u0ebe-\u0ebf\u0ec5\u0ec7\u0ece-\u0ecf\u0eda-\u0edb\u0ee0-\u0eff\u0f48\u0f6d-\u0f70\u0f98\u0fbd\u0fcd\u0fdb-\u0fff\u10c6\u10c8-\u10cc\u10ce-\u10cf\u1249\u124e-\u124f\u1257\u1259\u125e-\u125f\u1289\u128e-\u128f\u12b1\u12b6-\u12b7\u12bf\u12c1\u12c6-\u12c7\u12d7\u1311\u1316-\u1317\u135b-\u135c\u137d-\u137f\u139a-\u139f\u13f6-\u13f7\u13fe-\u13ff\u169d-\u169f\u16f9-\u16ff\u1716-\u171e\u1737-\u173f\u1754-\u175f\u176d\u1771\u1774-\u177f\u17de-\u17df\u17ea-\u17ef\u17fa-\u17ff\u181a-\u181f\u1879-\u187f\u18ab-\u18af\u18f6-\u18ff\u191f\u192c-\u192f\u193c-\u193f\u1941-\u1943\u196e-\u196f\u1975-\u197f\u19ac-\u19af\u19ca-\u19cf\u19db-\u19dd\u1a1c-\u1a1d\u1a5f\u1a7d-\u1a7e\u1a8a-\u1a8f\u1a9a-\u1a9f\u1aae-\u1aaf\u1acf-\u1aff\u1b4d-\u1b4f\u1b7f\u1bf4-\u1bfb\u1c38-\u1c3a\u1c4a-\u1c4c\u1c89-\u1c8f\u1cbb-\u1cbc\u1cc8-\u1ccf\u1cfb-\u1cff\u1f16-\u1f17\u1f1e-\u1f1f\u1f46-\u1f47\u1f4e-\u1f4f\u1f58\u1f5a\u1f5c\u1f5e\u1f7e-\u1f7f\u1fb5\u1fc5\u1fd4-\u1fd5\u1fdc\u1ff0-\u1ff1\u1ff5\u1fff\u2065\u2072-\u2073\u208f\u209d-\u209f\u20c1-\u20cf\u20f1-\u20ff\u218c-\u218f\u2427-\u243f\u244b-\u245f\u2b74-\u2b75\u2b96\u2cf4-\u2cf8\u2d26\u2d28-\u2d2c\u2d2e-\u2d2f\u2d68-\u2d6e\u2d71-\u2d7e\u2d97-\u2d9f\u2da7\u2daf\u2db7\u2dbf\u2dc7\u2dcf\u2dd7\u2ddf\u2e5e-\u2e7f\u2e9a\u2ef4-\u2eff\u2fd6-\u2fef\u2ffc-\u2fff\u3040\u3097-\u3098\u3100-\u3104\u3130\u318f\u31e4-\u31ef\u321f\ua48d-\ua48f\ua4c7-\ua4cf\ua62c-\ua63f\ua6f8-\ua6ff\ua7cb-\ua7cf\ua7d2\ua7d4\ua7da-\ua7f1\ua82d-\ua82f\ua83a-\ua83f\ua878-\ua87f\ua8c6-\ua8cd\ua8da-\ua8df\ua954-\ua95e\ua97d-\ua97f\ua9ce\ua9da-\ua9dd\ua9ff\uaa37-\uaa3f\uaa4e-\uaa4f\uaa5a-\uaa5b\uaac3-\uaada\uaaf7-\uab00\uab07-\uab08\uab0f-\uab10\uab17-\uab1f\uab27\uab2f\uab6c-\uab6f\uabee-\uabef\uabfa-\uabff\ud7a4-\ud7af\ud7c7-\ud7ca\ud7fc-\ud7ff\ufa6e-\ufa6f\ufada-\ufaff\ufb07-\ufb12\ufb18-\ufb1c\ufb37\ufb3d\ufb3f\ufb42\ufb45\ufbc3-\ufbd2\ufd90-\ufd91\ufdc8-\ufdce\ufdd0-\ufdef\ufe1a-\ufe1f\ufe53\ufe67\ufe6c-\ufe6f\ufe75\ufefd-\ufefe\uff00\uffbf-\uffc1\uffc8-\uffc9\uffd0-\uffd1\uffd8-\uffd9\uffdd-\uffdf\uffe7\uffef-\ufff8\ufffe-\uffff\U0001000c\U00010027\U0001003b\U0001003e\U0001004e-\U0001004f\U0001005e-\U0001007f\U000100fb-\U000100ff\U00010103-\U00010106\U00010134-\U00010136\U0001018f\U0001019d-\U0001019f\U000101a1-\U000101cf\U000101fe-\U0001027f\U0001029d-\U0001029f\U000102d1-\U000102df\U000102fc-\U000102ff\U00010324-\U0001032c\U0001034b-\U0001034f\U0001037b-\U0001037f\U0001039e\U000103c4-\U000103c7\U000103d6-\U000103ff\U0001049e-\U0001049f\U000104aa-\U000104af\U000104d4-\U000104d7\U000104fc-\U000104ff\U00010528-\U0001052f\U00010564-\U0001056e\U0001057b\U0001058b\U00010593\U00010596\U000105a2\U000105b2\U000105ba\U000105bd-\U000105ff\U00010737-\U0001073f\U00010756-\U0001075f\U00010768-\U0001077f\U00010786\U000107b1\U000107bb-\U000107ff\U00010806-\U00010807\U00010809\U00010836\U00010839-\U0001083b\U0001083d-\U0001083e\U00010856\U0001089f-\U000108a6\U000108b0-\U000108df\U000108f3\U000108f6-\U000108fa\U0001091c-\U0001091e\U0001093a-\U0001093e\U00010940-\U0001097f\U000109b8-\U000109bb\U000109d0-\U000109d1\U00010a04\U00010a07-\U00010a0b\U00010a14\U00010a18\U00010a36-\U00010a37\U00010a3b-\U00010a3e\U00010a49-\U00010a4f\U00010a59-\U00010a5f\U00010aa0-\U00010abf\U00010ae7-\U00010aea\U00010af7-\U00010aff\U00010b36-\U00010b38\U00010b56-\U00010b57\U00010b73-\U00010b77\U00010b92-\U00010b98\U00010b9d-\U00010ba8\U00010bb0-\U00010bff\U00010c49-\U00010c7f\U00010cb3-\U00010cbf\U00010cf3-\U00010cf9\U00010d28-\U00010d2f\U00010d3a-\U00010e5f\U00010e7f\U00010eaa\U00010eae-\U00010eaf\U00010eb2-\U00010eff\U00010f28-\U00010f2f\U00010f5a-\U00010f6f\U00010f8a-\U00010faf\U00010fcc-\U00010fdf\U00010ff7-\U00010fff\U0001104e-\U00011051\U00011076-\U0001107e\U000110c3-\U000110cc\U000110ce-\U000110cf\U000110e9-\U000110ef\U000110fa-\U000110ff\U00011135\U00011148-\U0001114f\U00011177-\U0001117f\U000111e0\U000111f5-\U000111ff\U00011212\U0001123f-\U0001127f\U00011287\U00011289\U0001128e\U0001129e\U000112aa-\U000112af\U000112eb-\U000112ef\U000112fa-\U000112ff\U00011304\U0001130d-\U0001130e\U00011311-\U00011312\U00011329\U00011331\U00011334\U0001133a\U00011345-\U00011346\U00011349-\U0001134a\U0001134e-\U0001134f\U00011351-\U00011356\U00011358-\U0001135c\U00011364-\U00011365\U0001136d-\U0001136f\U00011375-\U000113ff\U0001145c\U00011462-\U0001147f\U000114c8-\U000114cf\U000114da-\U0001157f\U000115b6-\U000115b7\U000115de-\U000115ff\U00011645-\U0001164f\U0001165a-\U0001165f\U0001166d-\U0001167f\U000116ba-\U000116bf\U000116ca-\U000116ff\U0001171b-\U0001171c\U0001172c-\U0001172f\U00011747-\U000117ff\U0001183c-\U0001189f\U000118f3-\U000118fe\U00011907-\U00011908\U0001190a-\U0001190b\U00011914\U00011917\U00011936\U00011939-\U0001193a\U00011947-\U0001194f\U0001195a-\U0001199f\U000119a8-\U000119a9\U000119d8-\U000119d9\U000119e5-\U000119ff\U00011a48-\U00011a4f\U00011aa3-\U00011aaf\U00011af9-\U00011bff\U00011c09\U00011c37\U00011c46-\U00011c4f\U00011c6d-\U00011c6f\U00011c90-\U00011c91\U00011ca8\U00011cb7-\U00011cff\U00011d07\U00011d0a\U00011d37-\U00011d39\U00011d3b\U00011d3e\U00011d48-\U00011d4f\U00011d5a-\U00011d5f\U00011d66\U00011d69\U00011d8f\U00011d92\U00011d99-\U00011d9f\U00011daa-\U00011edf\U00011ef9-\U00011faf\U00011fb1-\U00011fbf\U00011ff2-\U00011ffe\U0001239a-\U000123ff\U0001246f\U00012475-\U0001247f\U00012544-\U00012f8f\U00012ff3-\U00012fff\U0001342f\U00013439-\U000143ff\U00014647-\U000167ff\U00016a39-\U00016a3f\U00016a5f\U00016a6a-\U00016a6d\U00016abf\U00016aca-\U00016acf\U00016aee-\U00016aef\U00016af6-\U00016aff\U00016b46-\U00016b4f\U00016b5a\U00016b62\U00016b78-\U00016b7c\U00016b90-\U00016e3f\U00016e9b-\U00016eff\U00016f4b-\U00016f4e\U00016f88-\U00016f8e\U00016fa0-\U00016fdf\U00016fe5-\U00016fef\U00016ff2-\U00016fff\U000187f8-\U000187ff\U00018cd6-\U00018cff\U00018d09-\U0001afef\U0001aff4\U0001affc\U0001afff\U0001b123-\U0001b14f\U0001b153-\U0001b163\U0001b168-\U0001b16f\U0001b2fc-\U0001bbff\U0001bc6b-\U0001bc6f\U0001bc7d-\U0001bc7f\U0001bc89-\U0001bc8f\U0001bc9a-\U0001bc9b\U0001bca4-\U0001ceff\U0001cf2e-\U0001cf2f\U0001cf47-\U0001cf4f\U0001cfc4-\U0001cfff\U0001d0f6-\U0001d0ff\U0001d127-\U0001d128\U0001d1eb-\U0001d1ff\U0001d246-\U0001d2df\U0001d2f4-\U0001d2ff\U0001d357-\U0001d35f\U0001d379-\U0001d3ff\U0001d455\U0001d49d\U0001d4a0-\U0001d4a1\U0001d4a3-\U0001d4a4\U0001d4a7-\U0001d4a8\U0001d4ad\U0001d4ba\U0001d4bc\U0001d4c4\U0001d506\U0001d50b-\U0001d50c\U0001d515\U0001d51d\U0001d53a\U0001d53f\U0001d545\U0001d547-\U0001d549\U0001d551\U0001d6a6-\U0001d6a7\U0001d7cc-\U0001d7cd\U0001da8c-\U0001da9a\U0001daa0\U0001dab0-\U0001deff\U0001df1f-\U0001dfff\U0001e007\U0001e019-\U0001e01a\U0001e022\U0001e025\U0001e02b-\U0001e0ff\U0001e12d-\U0001e12f\U0001e13e-\U0001e13f\U0001e14a-\U0001e14d\U0001e150-\U0001e28f\U0001e2af-\U0001e2bf\U0001e2fa-\U0001e2fe\U0001e300-\U0001e7df\U0001e7e7\U0001e7ec\U0001e7ef\U0001e7ff\U0001e8c5-\U0001e8c6\U0001e8d7-\U0001e8ff\U0001e94c-\U0001e94f\U0001e95a-\U0001e95d\U0001e960-\U0001ec70\U0001ecb5-\U0001ed00\U0001ed3e-\U0001edff\U0001ee04\U0001ee20\U0001ee23\U0001ee25-\U0001ee26\U0001ee28\U0001ee33\U0001ee38\U0001ee3a\U0001ee3c-\U0001ee41\U0001ee43-\U0001ee46\U0001ee48\U0001ee4a\U0001ee4c\U0001ee50\U0001ee53\U0001ee55-\U0001ee56\U0001ee58\U0001ee5a\U0001ee5c\U0001ee5e\U0001ee60\U0001ee63\U0001ee65-\U0001ee66\U0001ee6b\U0001ee73\U0001ee78\U0001ee7d\U0001ee7f\U0001ee8a\U0001ee9c-\U0001eea0\U0001eea4\U0001eeaa\U0001eebc-\U0001eeef\U0001eef2-\U0001efff\U0001f02c-\U0001f02f\U0001f094-\U0001f09f\U0001f0af-\U0001f0b0\U0001f0c0\U0001f0d0\U0001f0f6-\U0001f0ff\U0001f1ae-\U0001f1e5\U0001f203-\U0001f20f\U0001f23c-\U0001f23f\U0001f249-\U0001f24f\U0001f252-\U0001f25f\U0001f266-\U0001f2ff\U0001f6d8-\U0001f6dc\U0001f6ed-\U0001f6ef\U0001f6fd-\U0001f6ff\U0001f774-\U0001f77f\U0001f7d9-\U0001f7df\U0001f7ec-\U0001f7ef\U0001f7f1-\U0001f7ff\U0001f80c-\U0001f80f\U0001f848-\U0001f84f\U0001f85a-\U0001f85f\U0001f888-\U0001f88f\U0001f8ae-\U0001f8af\U0001f8b2-\U0001f8ff\U0001fa54-\U0001fa5f\U0001fa6e-\U0001fa6f\U0001fa75-\U0001fa77\U0001fa7d-\U0001fa7f\U0001fa87-\U0001fa8f\U0001faad-\U0001faaf\U0001fabb-\U0001fabf\U0001fac6-\U0001facf\U0001fada-\U0001fadf\U0001fae8-\U0001faef\U0001faf7-\U0001faff\U0001fb93\U0001fbcb-\U0001fbef\U0001fbfa-\U0001ffff\U0002a6e0-\U0002a6ff\U0002b739-\U0002b73f\U0002b81e-\U0002b81f\U0002cea2-\U0002ceaf\U0002ebe1-\U0002f7ff\U0002fa1e-\U0002ffff\U0003134b-\U000e0000\U000e0002-\U000e001f\U000e0080-\U000e00ff\U000e01f0-\U000effff\U000ffffe-\U000fffff\U0010fffe-\U0010ffff]' THEN 'unassigned'
        WHEN email OPERATOR(pg_catalog.~) '[\ue000-\uf8ff\U000f0000-\U000ffffd\U00100000-\U0010fffd]' THEN 'private'
        WHEN email OPERATOR(pg_catalog.~) '[\u00a0\u00ad\u034f\u0600-\u0605\u061c\u06dd\u070f\u0890-\u0891\u08e2\u115f-\u1160\u1680\u17b4-\u17b5\u1806\u180b-\u180f\u2000-\u200f\u2028-\u202f\u205f-\u2064\u2066-\u206f\u3000\u3164\ufe00-\ufe0f\ufeff\uffa0\ufff9-\ufffb\U000110bd\U000110cd\U00013430-\U00013438\U0001bca0-\U0001bca3\U0001d173-\U0001d17a\U000e0001\U000e0020-\U000e007f\U000e0100-\U000e01ef]' THEN 'invisible'
    END
$$;
COMMENT ON FUNCTION auth._email_refused_char(text) IS
    'internal: the kind (unassigned, private, invisible) of a character no email should have, or NULL; generated from Unicode data by scripts/gen_unicode_ranges.py';
REVOKE ALL ON FUNCTION auth._email_refused_char(text) FROM PUBLIC;

CREATE FUNCTION auth._unicode_email(email text) RETURNS text
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v text;
    v_kind text;
    v_stable boolean;
BEGIN
    IF getdatabaseencoding() <> 'UTF8' THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'unsupported character in email address',
            DETAIL = 'Addresses with characters outside ASCII need a UTF8 database.';
    END IF;
    v := normalize(email, NFC);
    v_kind := auth._email_refused_char(v);
    IF v_kind = 'unassigned' THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'unsupported character in email address',
            DETAIL = 'The address has a code point that is unassigned in Unicode, or a noncharacter.';
    ELSIF v_kind = 'private' THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'unsupported character in email address',
            DETAIL = 'The address has a private-use character.';
    ELSIF v_kind IS NOT NULL THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'unsupported character in email address',
            DETAIL = 'The address has an invisible or format character (default-ignorable, or Unicode category Cf).';
    END IF;
    IF normalize(v, NFKC) <> v OR v ~ '[\u0080-\u009f]' THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'unsupported character in email address',
            DETAIL = 'The address has a character that is invisible, or that compatibility normalisation (NFKC) turns into another.';
    END IF;
    IF NOT EXISTS (SELECT FROM pg_collation c
                    WHERE c.collname = 'und-x-icu' AND c.collprovider = 'i'
                      AND c.collnamespace = 'pg_catalog'::regnamespace) THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'unsupported character in email address',
            DETAIL = 'Addresses with characters outside ASCII need PostgreSQL with ICU, to tell which characters change case.';
    END IF;
    -- dynamic, so that a server without the collation can still plan this
    -- function (and take ASCII addresses)
    EXECUTE $q$
        SELECT pg_catalog.bool_and(
                   pg_catalog.lower(c COLLATE pg_catalog."und-x-icu") COLLATE pg_catalog."C"
                       OPERATOR(pg_catalog.=) c COLLATE pg_catalog."C"
               AND pg_catalog.lower(pg_catalog.upper(c COLLATE pg_catalog."und-x-icu")) COLLATE pg_catalog."C"
                       OPERATOR(pg_catalog.=) c COLLATE pg_catalog."C")
          FROM pg_catalog.regexp_split_to_table($1, '') c
         WHERE pg_catalog.octet_length(c) OPERATOR(pg_catalog.>) 1
    $q$ INTO v_stable USING v;
    IF v_stable IS NOT TRUE THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'unsupported character in email address',
            DETAIL = 'The address has a character outside ASCII that changes under case mapping, so it could stand for another address.';
    END IF;
    RETURN v;
END
$$;
COMMENT ON FUNCTION auth._unicode_email(text) IS
    'internal: the NFC form of an email with characters outside ASCII; 22023 when one could fold into another address';
REVOKE ALL ON FUNCTION auth._unicode_email(text) FROM PUBLIC;

CREATE OR REPLACE FUNCTION auth._normalize_email(email text) RETURNS text
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v text := btrim(email);
    v_max int := auth._limit('email');
BEGIN
    IF v IS NULL OR v = '' THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'email is required';
    END IF;
    -- the length first, before any work on a huge input
    IF octet_length(v) <= v_max AND v ~ '[^\x01-\x7f]' THEN
        v := auth._unicode_email(v);
    END IF;
    v := translate(v, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz');
    IF octet_length(v) > v_max OR v ~ '[\x01-\x1f\x7f]'
       OR v !~ '^[^[:space:]@]+@[^[:space:]@]+\.[^[:space:]@.]+$' THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'invalid email address',
            HINT = format('An email looks like name@example.com and has at most %s bytes.', v_max);
    END IF;
    -- lower-casing an ASCII letter can make it compose with the mark after
    -- it (J and U+030C stay apart, j and U+030C make U+01F0)
    IF v ~ '[^\x01-\x7f]' AND normalize(v, NFC) <> v THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'unsupported character in email address',
            DETAIL = 'Lower-casing the address turns part of it into another character.';
    END IF;
    RETURN v;
END
$$;
COMMENT ON FUNCTION auth._normalize_email(text) IS
    'internal: a trimmed email in the form auth._email_key() compares (NFC, ASCII lower case); 22023 when it is not an email or could stand for another';

CREATE OR REPLACE FUNCTION auth._check_password_policy(password text) RETURNS void
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_min int := auth._setting_int('auth.password_min_length');
    v_max int := auth._limit('password');
BEGIN
    IF password IS NULL OR length(password) < v_min THEN
        RAISE EXCEPTION USING ERRCODE = '22023',
            MESSAGE = format('password must be at least %s characters long', v_min);
    END IF;
    IF length(password) > v_max THEN
        RAISE EXCEPTION USING ERRCODE = '22023',
            MESSAGE = format('password must be at most %s characters long', v_max);
    END IF;
END
$$;
COMMENT ON FUNCTION auth._check_password_policy(text) IS
    'internal: raises 22023 unless the password''s length is within the policy';

CREATE OR REPLACE FUNCTION auth.sign_up(email text, password text, name text DEFAULT NULL,
                             metadata jsonb DEFAULT '{}')
RETURNS uuid
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_email text := auth._normalize_email(email);
    v_id uuid;
BEGIN
    PERFORM auth._check_profile(sign_up.name, NULL);
    PERFORM auth._check_metadata(sign_up.metadata);
    PERFORM auth._check_password_policy(password);
    INSERT INTO auth.users (email, name, password_hash, metadata)
    VALUES (v_email, sign_up.name, auth.hash_password(password),
            coalesce(sign_up.metadata, '{}'))
    ON CONFLICT DO NOTHING
    RETURNING id INTO v_id;
    IF v_id IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = '23505',
            MESSAGE = 'email is already registered',
            HINT = 'Sign in instead, or reset the password.';
    END IF;
    PERFORM auth._audit('sign_up', v_id, NULL, NULL, '{}');
    RETURN v_id;
END
$$;
COMMENT ON FUNCTION auth.sign_up(text, text, text, jsonb) IS
    'creates a user with a password and returns its id; 22023 for a bad email or password, a name or metadata past its bound, 23505 when the email is taken';


CREATE OR REPLACE FUNCTION auth._issue_session(user_id uuid, ttl interval, ip inet, user_agent text)
RETURNS auth.session_grant
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    RETURN auth._issue_session_with(user_id, ttl, ip, user_agent, 1::smallint, '[]'::jsonb,
                                    NULL::timestamptz);
END
$$;
COMMENT ON FUNCTION auth._issue_session(uuid, interval, inet, text) IS
    'internal: inserts a session and returns its token';

CREATE OR REPLACE FUNCTION auth.sign_in(email text, password text, ip inet DEFAULT NULL,
                             user_agent text DEFAULT NULL)
RETURNS auth.session_grant
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    RETURN auth._open_password_session(
        auth._check_sign_in_password(auth._normalize_email(email), password, ip),
        password, ip, user_agent, '{}');
END
$$;
COMMENT ON FUNCTION auth.sign_in(text, text, inet, text) IS
    'checks an email and password and opens a session (only an MFA challenge when the user has a second factor); 28P01 when wrong, 28000 when suspended, PT429 after too many failures';

CREATE FUNCTION auth._normalize_email_pattern(pattern text) RETURNS text
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v text := btrim(pattern);
BEGIN
    IF v !~ '^([^[:space:]@]+)?@[^[:space:]@]+\.[^[:space:]@.]+$' THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'invalid allow-list pattern',
            HINT = 'Give an address (ada@example.com) or a domain (@example.com).';
    END IF;
    IF left(v, 1) = '@' THEN   -- a domain: normalised as the domain of an address
        RETURN substr(auth._normalize_email('x' || v), 2);
    END IF;
    RETURN auth._normalize_email(v);
END
$$;
COMMENT ON FUNCTION auth._normalize_email_pattern(text) IS
    'internal: an allow-list pattern (address or @domain) normalised as emails are; 22023 otherwise';
REVOKE ALL ON FUNCTION auth._normalize_email_pattern(text) FROM PUBLIC;

CREATE OR REPLACE FUNCTION auth.allow_email(pattern text) RETURNS void
LANGUAGE plpgsql VOLATILE STRICT SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    INSERT INTO auth.allowed_emails (pattern) VALUES (auth._normalize_email_pattern(pattern))
    ON CONFLICT DO NOTHING;
END
$$;
COMMENT ON FUNCTION auth.allow_email(text) IS
    'admin: adds an address or a domain (@example.com) to the allow-list for magic links and codes';

CREATE OR REPLACE FUNCTION auth.disallow_email(pattern text) RETURNS boolean
LANGUAGE plpgsql VOLATILE STRICT SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    DELETE FROM auth.allowed_emails a
     WHERE a.pattern = auth._normalize_email_pattern(disallow_email.pattern);
    RETURN FOUND;
END
$$;
COMMENT ON FUNCTION auth.disallow_email(text) IS
    'admin: removes a pattern from the allow-list; false when it was not there';

CREATE OR REPLACE FUNCTION auth._issue_secret(purpose text, email text, user_id uuid, ttl interval,
                                   prefix text, redirect_to text DEFAULT NULL,
                                   new_email text DEFAULT NULL, ip inet DEFAULT NULL)
RETURNS text
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    v_now timestamptz := auth.now();
    v_window interval := auth._setting_interval('auth.magic_link_rate_window');
    v_limit int := auth._setting_int('auth.magic_link_rate_limit');
    v_id uuid := gen_random_uuid();
    v_secret text;
    v_retry timestamptz;
BEGIN
    IF ttl IS NULL OR ttl <= interval '0' THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'ttl must be positive';
    END IF;
    -- a path of the application, or an absolute http(s) URL whose origin the
    -- application still checks before redirecting
    IF length(redirect_to) > auth._limit('redirect_to') OR redirect_to !~ '^(/($|[^/\\])|https?://)' THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'invalid redirect_to',
            DETAIL = format('A path starting with one /, or an http(s) URL, of at most %s characters.',
                            auth._limit('redirect_to'));
    END IF;
    -- a lock of the extension's own: no role can hold it with SQL
    PERFORM auth._lock_keyed('auth.request:' || email, true);
    IF auth._recent_requests(email, v_now - v_window) >= v_limit THEN
        SELECT s.created_at + v_window INTO v_retry FROM auth.one_time_secrets s
         WHERE s.email = email AND s.created_at > v_now - v_window
         ORDER BY s.created_at DESC OFFSET v_limit - 1 LIMIT 1;
        RAISE EXCEPTION USING ERRCODE = 'PT429',
            MESSAGE = 'too many requests for this email',
            DETAIL = format('At most %s per %s; try again after %s.', v_limit, v_window,
                            coalesce(v_retry, v_now + v_window)),
            HINT = auth._retry_hint(coalesce(v_retry, v_now + v_window), v_now);
    END IF;
    PERFORM auth._supersede_secrets(email, purpose, v_now);
    IF prefix IS NULL THEN
        v_secret := auth._generate_code();
    ELSE
        v_secret := auth._generate_token(prefix);
    END IF;
    INSERT INTO auth.one_time_secrets (id, purpose, secret_hash, email, user_id, redirect_to,
                                       new_email, ip, created_at, expires_at)
    VALUES (v_id, purpose,
            CASE WHEN prefix IS NULL THEN sha256(convert_to(v_id::text || ':' || v_secret, 'UTF8'))
                 ELSE auth._token_hash(v_secret, prefix) END,
            email, user_id, redirect_to, new_email, ip, v_now, v_now + ttl);
    PERFORM auth._audit(CASE WHEN prefix IS NULL THEN 'email_code_requested'
                             ELSE purpose || '_requested' END,
                        user_id, NULL, ip,
                        jsonb_build_object('email', email, 'purpose', purpose, 'secret_id', v_id));
    RETURN v_secret;
END
$$;
COMMENT ON FUNCTION auth._issue_secret(text, text, uuid, interval, text, text, text, inet) IS
    'internal: rate-limits, supersedes and issues a one-time token or code';

CREATE FUNCTION auth._check_code_purpose(purpose text) RETURNS void
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_max int := auth._limit('code purpose');
BEGIN
    IF purpose IS NULL OR length(purpose) > v_max OR purpose !~ '^[a-z][a-z0-9_]*$' THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'invalid code purpose',
            HINT = format('A purpose is 1 to %s lowercase letters, digits and underscores.', v_max);
    END IF;
END
$$;
COMMENT ON FUNCTION auth._check_code_purpose(text) IS
    'internal: 22023 unless an email code''s purpose is valid';
REVOKE ALL ON FUNCTION auth._check_code_purpose(text) FROM PUBLIC;

CREATE OR REPLACE FUNCTION auth._consume_code(email text, code text, purpose text)
RETURNS auth.one_time_secrets
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    v_email text := auth._normalize_email(email);
    v_row auth.one_time_secrets;
    v_try jsonb;
BEGIN
    IF code IS NULL OR purpose IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'code and purpose are required';
    END IF;
    PERFORM auth._check_code_purpose(purpose);
    SELECT * INTO v_row FROM auth.one_time_secrets s
     WHERE s.email = v_email AND s.purpose = 'code:' || purpose
       AND s.consumed_at IS NULL AND s.invalidated_at IS NULL AND s.expires_at > auth.now()
     ORDER BY s.created_at DESC LIMIT 1;
    IF v_row.id IS NULL THEN
        RETURN NULL;
    END IF;
    v_try := auth._count_attempt('code', uuid_send(v_row.id),
                                 auth._setting_interval('auth.email_code_ttl') + interval '1 day',
                                 auth._setting_int('auth.code_max_attempts'));
    IF (v_try->>'allowed')::boolean IS NOT TRUE THEN
        RAISE EXCEPTION USING ERRCODE = 'PT429', MESSAGE = 'too many wrong codes',
            HINT = 'Request a new code.';
    END IF;
    IF code !~ '^[0-9]{6}$' OR NOT auth._secret_equal(
           v_row.secret_hash, sha256(convert_to(v_row.id::text || ':' || code, 'UTF8'))) THEN
        RETURN NULL;
    END IF;
    UPDATE auth.one_time_secrets s SET consumed_at = auth.now()
     WHERE s.id = v_row.id AND s.consumed_at IS NULL AND s.invalidated_at IS NULL
    RETURNING * INTO v_row;
    RETURN v_row;
END
$$;
COMMENT ON FUNCTION auth._consume_code(text, text, text) IS
    'internal: checks and redeems a 6-digit code, counting every try durably';


CREATE OR REPLACE FUNCTION auth._request_passwordless(purpose text, email text, ttl interval,
                                           prefix text, redirect_to text, ip inet)
RETURNS text
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    v_email text := auth._normalize_email(email);
BEGIN
    PERFORM auth._check_allowed_email(v_email);
    RETURN auth._issue_secret(purpose, v_email,
                              (SELECT u.id FROM auth.users u WHERE auth._email_key(u.email) = v_email),
                              ttl, prefix, redirect_to, NULL, ip);
END
$$;
COMMENT ON FUNCTION auth._request_passwordless(text, text, interval, text, text, inet) IS
    'internal: a magic link or code for an allowed email';

CREATE OR REPLACE FUNCTION auth.create_email_code(email text, purpose text DEFAULT 'sign_in')
RETURNS text
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM auth._check_code_purpose(purpose);
    RETURN auth._request_passwordless('code:' || purpose, email,
                                      auth._setting_interval('auth.email_code_ttl'), NULL, NULL, NULL);
END
$$;
COMMENT ON FUNCTION auth.create_email_code(text, text) IS
    'a 6-digit code for an email and purpose, to be sent by the application; same allow-list and rate limit as magic links';

CREATE OR REPLACE FUNCTION auth._email_verification_for(user_id uuid) RETURNS text
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_email text;
BEGIN
    SELECT u.email INTO v_email FROM auth.users u WHERE u.id = _email_verification_for.user_id;
    IF v_email IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'user does not exist';
    END IF;
    RETURN auth._issue_secret('email_verification', auth._email_key(v_email), _email_verification_for.user_id,
                              auth._setting_interval('auth.email_verification_ttl'), 'evt');
END
$$;
COMMENT ON FUNCTION auth._email_verification_for(uuid) IS
    'internal: issues an email verification token for a user';

CREATE OR REPLACE FUNCTION auth.verify_email(token text) RETURNS uuid
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_secret auth.one_time_secrets := auth._consume_token(token, 'evt', 'email_verification');
BEGIN
    -- bound when opened from a session of the account itself
    RETURN auth._redeem_email_verification(
        v_secret, v_secret.user_id IS NOT DISTINCT FROM auth.uid() AND auth.session_id() IS NOT NULL);
END
$$;
COMMENT ON FUNCTION auth.verify_email(text) IS
    'redeems a verification token once and marks the email verified; returns the user; on an account never verified, without a session of that account it is a claim that ends everything set up on the account (password, sessions, API keys); 28000 when unknown, expired or used';

CREATE OR REPLACE FUNCTION auth.request_email_change(new_email text) RETURNS text
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_uid uuid := auth._require_account_owner('change the email');
    v_new text := auth._normalize_email(new_email);
BEGIN
    IF EXISTS (SELECT FROM auth.users u WHERE u.id = v_uid AND u.is_anonymous) THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'an anonymous user has no email to change',
            HINT = 'Link an email with auth.link_email_password() or a magic link.';
    END IF;
    IF EXISTS (SELECT FROM auth.users u WHERE auth._email_key(u.email) = v_new) THEN
        RAISE EXCEPTION USING ERRCODE = '23505', MESSAGE = 'email is already registered';
    END IF;
    -- sent to the new address, which the token then proves
    RETURN auth._issue_secret('email_change', v_new, v_uid,
                              auth._setting_interval('auth.email_verification_ttl'),
                              'ect', NULL, v_new);
END
$$;
COMMENT ON FUNCTION auth.request_email_change(text) IS
    'a token (ect_...) to send to the new address; confirming it moves the authenticated user there; 23505 when taken';

CREATE OR REPLACE FUNCTION auth.request_password_reset(email text) RETURNS text
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_email text := auth._normalize_email(email);
    v_uid uuid;
    v_token text;
BEGIN
    SELECT u.id INTO v_uid FROM auth.users u WHERE auth._email_key(u.email) = v_email;
    -- The same work either way (rate limit, token, row); an unknown email's
    -- token is stored unbound to any user and never returned.
    v_token := auth._issue_secret('password_reset', v_email, v_uid,
                                  auth._setting_interval('auth.password_reset_ttl'), 'pwr');
    RETURN CASE WHEN v_uid IS NOT NULL THEN v_token END;
END
$$;
COMMENT ON FUNCTION auth.request_password_reset(text) IS
    'a reset token (pwr_...) to send to the email, or NULL for an unknown email at the same cost; PT429 past the rate limit';


CREATE OR REPLACE FUNCTION auth._check_role(org_id uuid, role text) RETURNS void
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

CREATE OR REPLACE FUNCTION auth._check_slug(slug text) RETURNS void
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

CREATE OR REPLACE FUNCTION auth.create_organization(name text, slug text DEFAULT NULL,
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

DROP FUNCTION auth.update_organization(uuid, text, text, text, jsonb);
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

CREATE OR REPLACE FUNCTION auth._check_role_definition(name text, permissions text[]) RETURNS void
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

CREATE OR REPLACE FUNCTION auth.delete_role(org_id uuid, name text) RETURNS void
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

CREATE OR REPLACE FUNCTION auth.invite_member(org_id uuid, email text, role text, team_id uuid DEFAULT NULL,
                                   ttl interval DEFAULT NULL)
RETURNS text
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    v_uid uuid := auth._require_permission(org_id, 'invitation:create');
    v_email text := auth._normalize_email(email);
    v_token text := auth._generate_token('inv');
    v_ttl interval := auth._capped_ttl(ttl, 'auth.invitation_ttl');
    v_id uuid;
BEGIN
    IF v_ttl <= interval '0' THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'ttl must be positive';
    END IF;
    PERFORM auth._check_role(org_id, role);
    PERFORM auth._check_rank(org_id, role);
    IF team_id IS NOT NULL AND NOT EXISTS (SELECT FROM auth.teams t WHERE t.id = team_id AND t.org_id = org_id) THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'the team is not in this organization';
    END IF;
    IF EXISTS (SELECT FROM auth.members m JOIN auth.users u ON u.id = m.user_id
                WHERE m.org_id = org_id AND auth._email_key(u.email) = v_email) THEN
        RAISE EXCEPTION USING ERRCODE = '23505', MESSAGE = 'already a member of this organization';
    END IF;
    -- a new invitation replaces a pending one for the same address
    UPDATE auth.invitations i SET status = 'canceled'
     WHERE i.org_id = org_id AND i.email = v_email AND i.status = 'pending';
    INSERT INTO auth.invitations (org_id, email, role, team_id, token_hash, inviter_id, expires_at)
    VALUES (org_id, v_email, role, team_id, auth._token_hash(v_token, 'inv'), v_uid, auth.now() + v_ttl)
    RETURNING id INTO v_id;
    PERFORM auth._audit('invitation_created', v_uid, auth.session_id(), NULL,
                        jsonb_build_object('org_id', org_id, 'invitation_id', v_id,
                                           'email', v_email, 'role', role));
    RETURN v_token;
END
$$;
COMMENT ON FUNCTION auth.invite_member(uuid, text, text, uuid, interval) IS
    'an invitation token (inv_...) to mail; needs invitation:create and a role not above the inviter''s; default lifetime auth.invitation_ttl';

CREATE OR REPLACE FUNCTION auth._my_invitation(token text) RETURNS auth.invitations
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_uid uuid := auth._require_account_uid();
    v_hash bytea := auth._token_hash(token, 'inv');
    v_inv auth.invitations;
BEGIN
    SELECT * INTO v_inv FROM auth.invitations i
     WHERE i.token_hash = v_hash AND i.status = 'pending' AND i.expires_at > auth.now();
    IF v_inv.id IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = '28000', MESSAGE = 'invalid or expired invitation';
    END IF;
    IF NOT EXISTS (SELECT FROM auth.users u
                    WHERE u.id = v_uid AND auth._email_key(u.email) = v_inv.email
                      AND u.email_verified_at IS NOT NULL) THEN
        RAISE EXCEPTION USING ERRCODE = '42501', MESSAGE = 'this invitation is for another email',
            HINT = 'Sign in with the invited address, verified.';
    END IF;
    RETURN v_inv;
END
$$;
COMMENT ON FUNCTION auth._my_invitation(text) IS
    'internal: the caller''s pending invitation named by a token';

CREATE OR REPLACE FUNCTION auth.list_my_invitations()
RETURNS TABLE (id uuid, org_id uuid, org_name text, role text, inviter_id uuid, expires_at timestamptz)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT i.id, i.org_id, o.name, i.role, i.inviter_id, i.expires_at
      FROM auth.invitations i
      JOIN auth.organizations o ON o.id = i.org_id
      JOIN auth.users u ON auth._email_key(u.email) = i.email AND u.email_verified_at IS NOT NULL
     WHERE u.id = auth._require_account_uid() AND i.status = 'pending' AND i.expires_at > auth.now()
     ORDER BY i.created_at DESC
$$;
COMMENT ON FUNCTION auth.list_my_invitations() IS
    'pending invitations addressed to the signed-in user''s verified email';

CREATE OR REPLACE FUNCTION auth._check_team_name(name text) RETURNS void
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

CREATE OR REPLACE FUNCTION auth._check_scopes(scopes text[]) RETURNS text[]
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF scopes IS NULL THEN
        RETURN '{}';
    END IF;
    IF array_position(scopes, NULL) IS NOT NULL THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'scopes must not contain null';
    END IF;
    IF cardinality(scopes) > auth._limit('scopes') THEN
        RAISE EXCEPTION USING ERRCODE = '22023',
            MESSAGE = format('an API key holds at most %s scopes', auth._limit('scopes'));
    END IF;
    IF EXISTS (SELECT FROM unnest(scopes) s
                WHERE length(s) > auth._limit('scope')
                   OR NOT (s ~ '^[A-Za-z0-9_./:-]+$' OR s = '*' OR s ~ '^[A-Za-z0-9_./:-]+:\*$')) THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'invalid scope',
            DETAIL = format('A scope is 1 to %s letters, digits or _ . / : -, or "*", or ends in ":*".',
                            auth._limit('scope'));
    END IF;
    RETURN ARRAY(SELECT DISTINCT s FROM unnest(scopes) s ORDER BY s);
END
$$;
COMMENT ON FUNCTION auth._check_scopes(text[]) IS
    'internal: validates scopes (22023) and returns them sorted and distinct';

CREATE OR REPLACE FUNCTION auth._check_api_key_fields(name text, metadata jsonb) RETURNS void
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF btrim(name) = '' OR length(name) > auth._limit('API key name') THEN
        RAISE EXCEPTION USING ERRCODE = '22023',
            MESSAGE = format('an API key needs a name of 1 to %s characters', auth._limit('API key name'));
    END IF;
    PERFORM auth._check_metadata(metadata);
END
$$;
COMMENT ON FUNCTION auth._check_api_key_fields(text, jsonb) IS
    'internal: 22023 unless a key''s name and metadata are valid';


-- issue 10: the extension's own workers (attempts and the read path's writes)
-- Who does the autonomous writes: 'workers' (the extension's own, when it
-- is preloaded) or 'dynamic' (a short-lived dynamic worker per call).
CREATE FUNCTION auth._autonomous_path() RETURNS text
    AS 'MODULE_PATHNAME', 'auth_autonomous_path'
    LANGUAGE C VOLATILE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION auth._autonomous_path() IS
    'internal: workers when the extension''s own background workers do the autonomous writes, dynamic when each starts a dynamic worker';
REVOKE ALL ON FUNCTION auth._autonomous_path() FROM PUBLIC;

COMMENT ON FUNCTION auth._autonomous(jsonb) IS
    'internal: runs request in a background worker''s own, committed transaction: attempt counts in C, anything else by auth._autonomous_dispatch';

CREATE OR REPLACE FUNCTION auth._autonomous_dispatch(request jsonb) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    CASE request->>'op'
    WHEN 'audit' THEN
        -- announced as the caller's settings say, not the worker's
        PERFORM pg_catalog.set_config('auth.notify_events',
                CASE WHEN (request->>'notify')::boolean THEN 'on' ELSE 'off' END, true);
        -- with the caller's session and actor (user, role, impersonator)
        PERFORM auth._audit(request->>'event', (request->>'user_id')::uuid,
                            (request->>'session_id')::uuid,
                            (request->>'ip')::inet, coalesce(request->'detail', '{}'),
                            (request->>'at')::timestamptz, request->'actor');
        RETURN '{}';
    ELSE
        RAISE EXCEPTION 'unknown autonomous operation %', request->>'op';
    END CASE;
END
$$;
COMMENT ON FUNCTION auth._autonomous_dispatch(jsonb) IS
    'internal: the writes auth._autonomous makes in a transaction of their own';

CREATE OR REPLACE FUNCTION auth.check()
RETURNS TABLE ("check" text, ok boolean, detail text)
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_mem int := auth._setting_int('auth.argon2_memory_kib');
    v_iter int := auth._setting_int('auth.argon2_iterations');
    v_ttl interval := auth._setting_interval('auth.session_ttl');
    v_max interval := auth._setting_interval('auth.session_max_lifetime');
    v_refresh interval := auth._setting_interval('auth.session_refresh_age');
    v_min int := auth._setting_int('auth.password_min_length');
    v_workers int := current_setting('max_worker_processes')::int;
    v_version text;
BEGIN
    SELECT e.extversion INTO v_version FROM pg_extension e WHERE e.extname = 'auth';
    RETURN QUERY SELECT 'extension installed', v_version IS NOT NULL,
        format('auth %s', coalesce(v_version, 'missing'));
    RETURN QUERY SELECT 'pgcrypto installed',
        EXISTS (SELECT FROM pg_extension e WHERE e.extname = 'pgcrypto'),
        'needed to verify imported bcrypt hashes';
    RETURN QUERY SELECT 'argon2 memory', v_mem >= 19456,
        format('auth.argon2_memory_kib = %s (OWASP minimum 19456)', v_mem);
    RETURN QUERY SELECT 'argon2 iterations', v_iter >= 2 OR v_mem >= 47104,
        format('auth.argon2_iterations = %s (OWASP: 2 at 19 MiB, 1 at 46 MiB)', v_iter);
    RETURN QUERY SELECT 'password length', v_min >= 8,
        format('auth.password_min_length = %s (at least 8)', v_min);
    RETURN QUERY SELECT 'session lifetime', v_ttl <= v_max,
        format('auth.session_ttl = %s within auth.session_max_lifetime = %s', v_ttl, v_max);
    RETURN QUERY SELECT 'session refresh', v_refresh < v_ttl,
        format('auth.session_refresh_age = %s below auth.session_ttl = %s', v_refresh, v_ttl);
    RETURN QUERY SELECT 'clock', auth._setting_interval('auth.time_offset') = interval '0',
        format('auth.time_offset = %s (tests only)', current_setting('auth.time_offset'));
    RETURN QUERY SELECT 'background workers',
        auth._autonomous_path() = 'workers' OR v_workers > current_setting('max_parallel_workers')::int,
        CASE WHEN auth._autonomous_path() = 'workers'
             THEN format('attempts are counted by %s workers of the extension''s own (auth.autonomous_workers), which parallel query cannot crowd out',
                         current_setting('auth.autonomous_workers'))
             ELSE format('auth is not in shared_preload_libraries: each counted attempt starts a dynamic background worker; max_worker_processes = %s, max_parallel_workers = %s; sign-ins need worker slots parallel query leaves free',
                         v_workers, current_setting('max_parallel_workers')) END;
    RETURN QUERY SELECT 'API-key rate limits', auth._api_key_rate_limit_store() = 'memory',
        CASE WHEN auth._api_key_rate_limit_store() = 'memory'
             THEN format('counted in shared memory (auth.api_key_rate_limit_slots = %s)',
                         current_setting('auth.api_key_rate_limit_slots'))
             ELSE 'auth is not in shared_preload_libraries: a rate-limited key''s uses are counted by a row update, exact but serializing that key''s requests until each transaction ends' END;
    RETURN QUERY SELECT 'signing keys open',
        NOT EXISTS (SELECT FROM auth.signing_keys k
                     WHERE k.state <> 'revoked'
                       AND NOT auth._sealed_opens('signing-key', k.id, k.private_key)),
        'every signing key opens with the root key file (auth.root_key_file); restore the file they were sealed with, or revoke them';
    RETURN QUERY SELECT 'current signing key',
        EXISTS (SELECT FROM auth.signing_keys k WHERE k.state = 'current')
        OR NOT EXISTS (SELECT FROM auth.signing_keys k),
        'a current key signs issued JWTs (none at all: the first auth.issue_jwt() makes one); else auth.rotate_signing_keys()';
    RETURN QUERY SELECT 'no HS256 signing keys',
        NOT EXISTS (SELECT FROM auth.signing_keys k WHERE k.algorithm = 'HS256' AND k.state <> 'revoked'),
        'an HS256 secret must be shared with every verifier, who can then sign too; prefer EdDSA, ES256 or RS256';
    RETURN QUERY SELECT 'previous signing keys within grace',
        NOT EXISTS (SELECT FROM auth.signing_keys k
                     WHERE k.state = 'previous'
                       AND k.retired_at + auth._setting_interval('auth.jwt_previous_key_grace') <= auth.now()),
        'previous keys past auth.jwt_previous_key_grace verify nothing: revoke them (auth.revoke_signing_key)';
    RETURN QUERY SELECT 'issuer keys refreshed',
        NOT EXISTS (SELECT FROM auth.issuers i WHERE i.keys_set_at < auth.now() - interval '7 days'),
        'every trusted issuer''s JWKS was pushed within a week (auth.set_issuer_jwks)';
    RETURN QUERY SELECT 'issuer audiences',
        NOT EXISTS (SELECT FROM auth.issuers i WHERE i.audiences IS NULL OR cardinality(i.audiences) = 0),
        'every trusted issuer lists the audiences its tokens must name (auth.add_issuer(..., audiences)): without, a token the issuer made for any other service is accepted here';
    RETURN QUERY SELECT 'tables closed to PUBLIC',
        NOT EXISTS (SELECT FROM pg_class c
                     WHERE c.relnamespace = 'auth'::regnamespace AND c.relkind = 'r'
                       AND (NOT c.relrowsecurity
                            OR has_table_privilege('public', c.oid, 'SELECT,INSERT,UPDATE,DELETE'))),
        'every table in schema auth has RLS enabled and grants nothing to PUBLIC';
END
$$;
COMMENT ON FUNCTION auth.check() IS
    'admin: rows (check, ok, detail) to run after install or upgrade';

-- issue 10: ending credentials refuses (40001) rather than miss one its snapshot cannot see
CREATE FUNCTION auth._credentials_missed(user_id uuid, except_session uuid,
                                         api_keys boolean, at timestamptz)
RETURNS boolean
    AS 'MODULE_PATHNAME', 'auth_credentials_missed'
    LANGUAGE C VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION auth._credentials_missed(uuid, uuid, boolean, timestamptz) IS
    'internal: whether a credential auth._end_credentials should have ended is live in the latest snapshot';
REVOKE ALL ON FUNCTION auth._credentials_missed(uuid, uuid, boolean, timestamptz) FROM PUBLIC;

-- issue 10: a verification link not opened by the account's holder claims a never-verified account
-- Checks an account's password as sign-in does: the attempt is counted
-- durably first, so that concurrent guesses are limited exactly; unknown
-- emails and users without a password cost the same argon2 work; a
-- failure is audited and raises 28P01, a lockout PT429.  On success the
-- count is cleared and the user is returned.  (No lock: the session it
-- leads to is re-checked against a password change or ban before commit,
-- src/lifecycle.c.)
CREATE FUNCTION auth._check_sign_in_password(email text, password text, ip inet)
RETURNS auth.users
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    RETURN auth._check_password_login('email', email, sha256(convert_to(email, 'UTF8')), password, ip);
END
$$;
COMMENT ON FUNCTION auth._check_sign_in_password(text, text, inet) IS
    'internal: checks a normalized email''s password with the sign-in limits and returns the user; 28P01 when wrong, PT429 when locked';
REVOKE ALL ON FUNCTION auth._check_sign_in_password(text, text, inet) FROM PUBLIC;

-- A redeemed verification token proves the mailbox.  On an account never
-- verified before, whoever signed the address up may not have been its
-- owner (a squatter can have the link mailed to the owner, who clicks it):
-- unless the proof is bound to the account's holder (the caller holds a
-- session of the account, or gave its password), it is a claim and ends
-- everything set up on the account, as a passwordless sign-in does.
CREATE FUNCTION auth._redeem_email_verification(secret auth.one_time_secrets, bound boolean)
RETURNS uuid
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_never boolean;
BEGIN
    -- the token proves the address it was sent to, and only while it is the
    -- user's (the credentials lock, then the row, as every end)
    PERFORM auth._lock_user_credentials(secret.user_id, false);
    SELECT u.email_verified_at IS NULL INTO v_never FROM auth.users u
     WHERE u.id = secret.user_id AND auth._email_key(u.email) = secret.email
       FOR NO KEY UPDATE;   -- never waits for a session or key being created
    IF secret.id IS NULL OR v_never IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = '28000', MESSAGE = 'invalid or expired verification link',
            HINT = 'Request a new link.';
    END IF;
    IF v_never AND NOT bound THEN
        PERFORM auth._end_credentials(secret.user_id, 'unverified_account_claimed');
    ELSE
        UPDATE auth.users u SET email_verified_at = coalesce(u.email_verified_at, auth.now()),
                                updated_at = auth.now()
         WHERE u.id = secret.user_id;
    END IF;
    PERFORM auth._audit('email_verified', secret.user_id, auth.session_id(), NULL,
                        jsonb_build_object('email', secret.email,
                                           'account_claimed', v_never AND NOT bound));
    RETURN secret.user_id;
END
$$;
COMMENT ON FUNCTION auth._redeem_email_verification(auth.one_time_secrets, boolean) IS
    'internal: marks a redeemed verification token''s address verified; on an account never verified, a proof not bound to its holder claims it';
REVOKE ALL ON FUNCTION auth._redeem_email_verification(auth.one_time_secrets, boolean) FROM PUBLIC;

CREATE FUNCTION auth.verify_email(token text, password text) RETURNS uuid
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    v_secret auth.one_time_secrets := auth._consume_token(token, 'evt', 'email_verification');
    v_user auth.users;
BEGIN
    IF v_secret.id IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = '28000', MESSAGE = 'invalid or expired verification link',
            HINT = 'Request a new link.';
    END IF;
    -- with the sign-in limits; a wrong password rolls the redemption back
    v_user := auth._check_sign_in_password(v_secret.email, password, NULL);
    RETURN auth._redeem_email_verification(v_secret, v_user.id IS NOT DISTINCT FROM v_secret.user_id);
END
$$;
COMMENT ON FUNCTION auth.verify_email(text, text) IS
    'redeems a verification token once with the account''s password (sign-in limits apply) and marks the email verified, keeping the password, sessions and API keys; 28P01 when the password is wrong (the token stays usable), 28000 when the token is unknown, expired or used';

-- issue 10: a session or key being created re-checks its user before commit; no creator holds an end off
ALTER TABLE auth.users ADD COLUMN credentials_epoch bigint NOT NULL DEFAULT 0;

-- A session or key being created and the end of its user's credentials
-- (src/lifecycle.c): the creator notes the user's credentials epoch as the
-- proof that allows it was checked against (the password's row, the
-- user's row), without a lock, and re-reads it just before it commits,
-- under a lock that every end (and a ban, which bumps the epoch too) holds
-- until it commits; if it changed, or the session the key is made under
-- ended, the creation fails with 40001.  So neither misses the other, and
-- no creator can hold an end off.  Lock order, everywhere: this lock, then
-- rows.
CREATE FUNCTION auth._creating_credential(user_id uuid, epoch bigint, under_session uuid)
RETURNS void
    AS 'MODULE_PATHNAME', 'auth_creating_credential'
    LANGUAGE C VOLATILE;
COMMENT ON FUNCTION auth._creating_credential(uuid, bigint, uuid) IS
    'internal: notes a session or key being created for the user (and the session it is made under), re-checked against the user''s credentials epoch before commit';
REVOKE ALL ON FUNCTION auth._creating_credential(uuid, bigint, uuid) FROM PUBLIC;

CREATE FUNCTION auth._lock_user_credentials(user_id uuid, bumps_epoch boolean) RETURNS void
    AS 'MODULE_PATHNAME', 'auth_lock_user_credentials'
    LANGUAGE C VOLATILE;
COMMENT ON FUNCTION auth._lock_user_credentials(uuid, boolean) IS
    'internal: held until commit by a transaction that ends the user''s credentials (bumps_epoch) or revokes a session; a creation re-checks under it';
REVOKE ALL ON FUNCTION auth._lock_user_credentials(uuid, boolean) FROM PUBLIC;

CREATE FUNCTION auth._share_user_credentials(user_id uuid) RETURNS void
    AS 'MODULE_PATHNAME', 'auth_share_user_credentials'
    LANGUAGE C VOLATILE;
COMMENT ON FUNCTION auth._share_user_credentials(uuid) IS
    'internal: taken before a self-service write to a session or key row, so an end waits for it rather than deadlock with it';
REVOKE ALL ON FUNCTION auth._share_user_credentials(uuid) FROM PUBLIC;

CREATE FUNCTION auth._ban_missed(user_id uuid, banned_until timestamptz) RETURNS boolean
    AS 'MODULE_PATHNAME', 'auth_ban_missed'
    LANGUAGE C VOLATILE;
COMMENT ON FUNCTION auth._ban_missed(uuid, timestamptz) IS
    'internal: whether a live session or key of the user, as the latest snapshot sees it, does not carry its ban';
REVOKE ALL ON FUNCTION auth._ban_missed(uuid, timestamptz) FROM PUBLIC;

-- Banning or unbanning (UPDATE auth.users SET banned_until ...) ends the
-- user's credentials as the other ends do: under the credentials lock,
-- bumping the epoch, so a session or key being created fails at commit.
CREATE FUNCTION auth._ban_changes_credentials() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM auth._lock_user_credentials(NEW.id, true);
    NEW.credentials_epoch := OLD.credentials_epoch + 1;
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION auth._ban_changes_credentials() IS
    'internal: a ban or unban takes the credentials lock and bumps the user''s credentials epoch';
REVOKE ALL ON FUNCTION auth._ban_changes_credentials() FROM PUBLIC;
CREATE TRIGGER users_ban_changes_credentials
    BEFORE UPDATE OF banned_until ON auth.users
    FOR EACH ROW WHEN (OLD.banned_until IS DISTINCT FROM NEW.banned_until)
    EXECUTE FUNCTION auth._ban_changes_credentials();

CREATE OR REPLACE FUNCTION auth._sync_session_ban() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    UPDATE auth.sessions s SET user_banned_until = NEW.banned_until
     WHERE s.user_id = NEW.id;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION auth._sync_session_ban() IS
    'internal: copies a user''s ban onto their sessions';

-- issue 13: role switching (auth.authenticated_role, auth.anonymous_role),
-- the PostgREST pre-request hook, auth.me(), sign-up that opens the
-- session, the retry time of refusals (auth.retry_after; the hints of
-- _check_sign_in_password, change_password and _issue_secret above carry
-- it), the grant of a passwordless sign-in saying it removed a password
-- (_passwordless_sign_in above), and the maintenance tier for pg_cron;
-- cleanup() logs its counts.
ALTER TYPE auth.passwordless_grant ADD ATTRIBUTE password_removed boolean;
COMMENT ON TYPE auth.passwordless_grant IS
    'a session opened by a magic link or code: the session token (shown once), the session, where to go, whether the user was just created, and whether the password of an account never verified was removed';

-- Sign-up that opens the session in the same call: one argon2 hash (the
-- new password's) instead of sign_up's and then sign_in's verification of
-- what was just hashed.
CREATE FUNCTION auth.sign_up_and_sign_in(email text, password text, name text DEFAULT NULL,
                                         metadata jsonb DEFAULT '{}', ip inet DEFAULT NULL,
                                         user_agent text DEFAULT NULL)
RETURNS auth.session_grant
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_grant auth.session_grant;
BEGIN
    -- sign_in would refuse the new, unverified account: refuse before
    -- creating it
    IF auth._setting_bool('auth.require_verified_email') THEN
        RAISE EXCEPTION USING ERRCODE = '28000', MESSAGE = 'email is not verified',
            HINT = 'auth.require_verified_email is on: sign up with auth.sign_up(), then verify the email.';
    END IF;
    v_grant := auth._issue_session(auth.sign_up(email, password, sign_up_and_sign_in.name,
                                                sign_up_and_sign_in.metadata),
                                   NULL, ip, user_agent);
    PERFORM auth._audit('sign_in', v_grant.user_id, v_grant.session_id, ip,
                        jsonb_build_object('method', 'sign_up'));
    RETURN v_grant;
END
$$;
COMMENT ON FUNCTION auth.sign_up_and_sign_in(text, text, text, jsonb, inet, text) IS
    'creates a user with a password and opens a session (one argon2 hash); sign_up''s refusals, and 28000 under auth.require_verified_email';


-- requests: what an application's requests need beside authenticate():
-- the signed-in user's own profile, the retry time of a refusal in a form
-- a program reads, and PostgREST's pre-request hook.

-- The hint of every retryable PT429: {"retry_after": <seconds>}, whole
-- seconds rounded up, at least 1, so a program sets Retry-After from it
-- without parsing prose (README "Errors").
CREATE FUNCTION auth._retry_hint(retry_at timestamptz, now timestamptz) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT pg_catalog.jsonb_build_object('retry_after',
        GREATEST(1, pg_catalog.ceil(pg_catalog.date_part('epoch',
            retry_at OPERATOR(pg_catalog.-) now))::bigint))::text
$$;
COMMENT ON FUNCTION auth._retry_hint(timestamptz, timestamptz) IS
    'internal: the hint of a retryable PT429, {"retry_after": <seconds>}';
REVOKE ALL ON FUNCTION auth._retry_hint(timestamptz, timestamptz) FROM PUBLIC;

-- The seconds of such a hint, NULL for any other hint (or none): for SQL
-- and PL/pgSQL callers (GET STACKED DIAGNOSTICS h = PG_EXCEPTION_HINT).
CREATE FUNCTION auth.retry_after(hint text) RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT CASE WHEN hint OPERATOR(pg_catalog.~) '^\{"retry_after": [0-9]{1,9}\}$'
                THEN (hint::pg_catalog.jsonb OPERATOR(pg_catalog.->>) 'retry_after')::integer END
$$;
COMMENT ON FUNCTION auth.retry_after(text) IS
    'the seconds to wait that the hint of a retryable PT429 carries, NULL for any other hint';

-- The signed-in user's own profile and identity (auth.users is closed to
-- applications); 28000 when nobody is authenticated.
CREATE FUNCTION auth.me(OUT id uuid, OUT email text, OUT name text, OUT image text,
                        OUT email_verified boolean, OUT role text, OUT created_at timestamptz,
                        OUT kind text, OUT org_id uuid, OUT scopes text[], OUT aal text)
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    v_uid uuid := auth.require_uid();
BEGIN
    SELECT u.id, u.email, u.name, u.image, u.email_verified_at IS NOT NULL, u.role, u.created_at
      INTO me.id, me.email, me.name, me.image, me.email_verified, me.role, me.created_at
      FROM auth.users u WHERE u.id = v_uid;
    IF NOT FOUND THEN   -- an identity a superuser set for no user
        RAISE EXCEPTION USING ERRCODE = '28000', MESSAGE = 'not authenticated',
            DETAIL = 'The identity names no user.';
    END IF;
    me.kind := auth.identity()->>'kind';
    me.org_id := auth.org_id();
    me.scopes := auth.scopes();
    me.aal := auth.aal();
END
$$;
COMMENT ON FUNCTION auth.me() IS
    'the authenticated user''s id, email, name, image, email_verified, role, created_at, and the identity''s kind, org_id, scopes and aal (auth.aal()); 28000 when nobody is authenticated';

-- PostgREST's db-pre-request: authenticates the request's credential (a
-- header named by auth.token_header, an Authorization: Bearer value, or a
-- cookie named by auth.cookie_name, in that order), dispatching on its
-- shape: a session token (ses_...), a compact JWS (three base64url
-- segments) to auth.authenticate_jwt() when that function exists, and
-- anything else to auth.authenticate_api_key().  authenticate*() switch to
-- auth.authenticated_role; with no credential the request runs as
-- auth.anonymous_role.  A refused credential answers 401 with
-- WWW-Authenticate, a limit 429 with Retry-After, through PostgREST's
-- SQLSTATE PGRST.  Not SECURITY DEFINER: PostgreSQL refuses SET ROLE
-- there.
CREATE FUNCTION auth.postgrest_pre_request() RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_header text := lower(current_setting('auth.token_header'));
    v_cookie text := current_setting('auth.cookie_name');
    v_anonymous text := current_setting('auth.anonymous_role');
    v_headers jsonb := coalesce(nullif(current_setting('request.headers', true), '')::jsonb, '{}');
    v_cookies jsonb := coalesce(nullif(current_setting('request.cookies', true), '')::jsonb, '{}');
    v_token text;
    v_state text;
    v_message text;
    v_detail text;
    v_hint text;
    v_headers_out jsonb;
BEGIN
    -- Each request starts with nobody: an identity the pooled connection
    -- kept (a connection-scope one an earlier request set) must not serve
    -- a request that brings no credential, or one whose credential fails.
    PERFORM auth._clear_identity();
    IF v_header <> '' THEN
        v_token := nullif(v_headers->>v_header, '');
    END IF;
    IF v_token IS NULL AND v_headers->>'authorization' ~* '^bearer +[^ ]' THEN
        v_token := regexp_replace(v_headers->>'authorization', '^[Bb][Ee][Aa][Rr][Ee][Rr] +', '');
    END IF;
    IF v_token IS NULL AND v_cookie <> '' THEN
        v_token := nullif(v_cookies->>v_cookie, '');
    END IF;
    IF v_token IS NULL THEN
        IF v_anonymous <> '' THEN
            PERFORM set_config('role', v_anonymous, true);
        END IF;
        RETURN;
    END IF;
    BEGIN
        IF starts_with(v_token, 'ses_') THEN
            PERFORM auth.authenticate(v_token);
        ELSIF v_token ~ '^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$' THEN
            -- JWTs are verified by auth.authenticate_jwt() where it exists
            IF to_regprocedure('auth.authenticate_jwt(text, boolean)') IS NULL THEN
                RAISE EXCEPTION USING ERRCODE = '28000', MESSAGE = 'invalid token',
                    DETAIL = 'This version of auth does not verify JWTs.';
            END IF;
            EXECUTE 'SELECT auth.authenticate_jwt($1, true)' USING v_token;
        ELSE
            PERFORM auth.authenticate_api_key(v_token);
        END IF;
    EXCEPTION WHEN invalid_authorization_specification OR SQLSTATE 'PT429' THEN
        GET STACKED DIAGNOSTICS v_state = RETURNED_SQLSTATE, v_message = MESSAGE_TEXT,
                                v_detail = PG_EXCEPTION_DETAIL, v_hint = PG_EXCEPTION_HINT;
        v_headers_out := CASE WHEN v_state = '28000'
                              THEN jsonb_build_object('WWW-Authenticate', 'Bearer error="invalid_token"')
                              WHEN auth.retry_after(v_hint) IS NOT NULL
                              THEN jsonb_build_object('Retry-After', auth.retry_after(v_hint)::text)
                              ELSE '{}' END;
        RAISE SQLSTATE 'PGRST' USING
            MESSAGE = jsonb_build_object('code', v_state, 'message', v_message,
                                         'details', nullif(v_detail, ''),
                                         'hint', nullif(v_hint, ''))::text,
            DETAIL = jsonb_build_object('status', CASE WHEN v_state = '28000' THEN 401 ELSE 429 END,
                                        'headers', v_headers_out)::text;
    END;
END
$$;
COMMENT ON FUNCTION auth.postgrest_pre_request() IS
    'PostgREST db-pre-request: authenticates the request''s session token, API key or JWT from auth.token_header, Authorization or the auth.cookie_name cookie; 401 with WWW-Authenticate or 429 with Retry-After through SQLSTATE PGRST';

-- maintenance: the tier a scheduled job needs (pg_cron), and no more.

-- auth.cleanup() and auth.check(): what a job that keeps the tables small
-- and watches the configuration runs; none of them acts for a user or
-- returns a secret.  auth.grant_maintenance() grants them.
CREATE FUNCTION auth._maintenance_functions() RETURNS regprocedure[]
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT ARRAY[
        'auth.cleanup()',
        'auth.check()'
    ]::regprocedure[]
$$;
COMMENT ON FUNCTION auth._maintenance_functions() IS
    'internal: the maintenance tier, granted by auth.grant_maintenance()';
REVOKE ALL ON FUNCTION auth._maintenance_functions() FROM PUBLIC;

CREATE FUNCTION auth.grant_maintenance(role regrole) RETURNS void
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT auth._set_tier(role, auth._maintenance_functions(), true) $$;
COMMENT ON FUNCTION auth.grant_maintenance(regrole) IS
    'grants a role auth.cleanup() and auth.check() only, for a scheduled job (pg_cron); for the superuser who installed the extension';
REVOKE ALL ON FUNCTION auth.grant_maintenance(regrole) FROM PUBLIC;

CREATE FUNCTION auth.revoke_maintenance(role regrole) RETURNS void
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT auth._set_tier(role, auth._maintenance_functions(), false) $$;
COMMENT ON FUNCTION auth.revoke_maintenance(regrole) IS
    'takes auth.cleanup() and auth.check() back from a role';
REVOKE ALL ON FUNCTION auth.revoke_maintenance(regrole) FROM PUBLIC;

-- issue 13: one round trip per request (auth.with_identity)
CREATE FUNCTION auth.with_identity(token text, query text, args jsonb DEFAULT NULL)
RETURNS SETOF jsonb
    AS 'MODULE_PATHNAME', 'auth_with_identity'
    LANGUAGE C VOLATILE;
COMMENT ON FUNCTION auth.with_identity(text, text, jsonb) IS
    'authenticates a session token or API key for the transaction, then runs query (args as $1) and returns its rows as jsonb; 28000 when the credential is invalid';

-- issue 10: a ban bumps the credentials epoch, and a REPEATABLE READ ban misses nothing
-- After both copies (triggers fire in name order): a REPEATABLE READ ban
-- whose snapshot missed a session or key created meanwhile refuses (40001)
-- rather than leave it unbanned.
CREATE FUNCTION auth._ban_missed_nothing() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF auth._ban_missed(NEW.id, NEW.banned_until) THEN
        RAISE EXCEPTION USING ERRCODE = '40001',
            MESSAGE = 'could not end the credentials: one was created concurrently',
            HINT = 'Retry the transaction.';
    END IF;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION auth._ban_missed_nothing() IS
    'internal: refuses a ban whose snapshot missed a session or key created meanwhile';
REVOKE ALL ON FUNCTION auth._ban_missed_nothing() FROM PUBLIC;
CREATE TRIGGER users_ban_then_nothing_missed
    AFTER UPDATE OF banned_until ON auth.users
    FOR EACH ROW WHEN (OLD.banned_until IS DISTINCT FROM NEW.banned_until)
    EXECUTE FUNCTION auth._ban_missed_nothing();

-- issue 10: every end takes the credentials lock before rows; a creation records the epoch its proof was checked against
CREATE OR REPLACE FUNCTION auth._revoke_sessions(user_id uuid, except_session uuid, reason text)
RETURNS integer
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_count int;
BEGIN
    -- a key being made under one of these sessions re-checks it at commit
    PERFORM auth._lock_user_credentials(_revoke_sessions.user_id, false);
    UPDATE auth.sessions s
       SET revoked_at = auth.now(), revoked_reason = reason
     WHERE s.user_id = _revoke_sessions.user_id AND s.revoked_at IS NULL
       AND s.id IS DISTINCT FROM except_session;
    GET DIAGNOSTICS v_count = ROW_COUNT;
    IF v_count > 0 THEN
        PERFORM auth._audit('session_revoked', _revoke_sessions.user_id, NULL, NULL,
                            jsonb_build_object('reason', reason, 'count', v_count));
    END IF;
    RETURN v_count;
END
$$;
COMMENT ON FUNCTION auth._revoke_sessions(uuid, uuid, text) IS
    'internal: revokes every live session of a user except one';

CREATE OR REPLACE FUNCTION auth.revoke_session(session_id uuid) RETURNS boolean
LANGUAGE plpgsql VOLATILE STRICT SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_uid uuid := auth._require_account_uid();
    v_reason text := CASE WHEN session_id = auth.session_id() THEN 'sign_out' ELSE 'revoked' END;
BEGIN
    -- a key being made under this session re-checks it at commit
    PERFORM auth._lock_user_credentials(v_uid, false);
    UPDATE auth.sessions s SET revoked_at = auth.now(), revoked_reason = v_reason
     WHERE s.id = revoke_session.session_id AND s.user_id = v_uid AND s.revoked_at IS NULL;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    PERFORM auth._audit(CASE v_reason WHEN 'sign_out' THEN 'sign_out' ELSE 'session_revoked' END,
                        v_uid, revoke_session.session_id, NULL, '{}');
    RETURN true;
END
$$;
COMMENT ON FUNCTION auth.revoke_session(uuid) IS
    'revokes one of the authenticated user''s sessions; false when it is not theirs or not live';

CREATE OR REPLACE FUNCTION auth._store_active_organization(org_id uuid) RETURNS void
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

-- issue 10: per-email locks of the extension's own, which no role can hold with pg_advisory_lock
-- A transaction lock on a text key that no role can take with SQL
-- (pg_advisory_lock): per-email request limits and attempt counters.
CREATE FUNCTION auth._lock_keyed(key text, wait boolean) RETURNS boolean
    AS 'MODULE_PATHNAME', 'auth_lock_keyed'
    LANGUAGE C VOLATILE;
COMMENT ON FUNCTION auth._lock_keyed(text, boolean) IS
    'internal: takes a transaction lock of the extension''s own on a key; false when not wait and it is held';
REVOKE ALL ON FUNCTION auth._lock_keyed(text, boolean) FROM PUBLIC;

-- issue 14: impersonation, its accessor first: the audit actor below names
-- the impersonator (the sessions' column comes with the impersonation
-- section further down, and nothing reads it before)
CREATE FUNCTION auth.impersonator_id() RETURNS uuid
    AS 'MODULE_PATHNAME', 'auth_impersonator_id'
    LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION auth.impersonator_id() IS
    'who impersonates the authenticated user (the identity is an impersonation session), NULL otherwise';

-- issue 14: administration and the account lifecycle (admin functions, self-service, audit with
-- the actor, and revoke_all_sessions).
-- The audit log names who acted.
ALTER TABLE auth.audit_log ADD COLUMN actor_id uuid, ADD COLUMN actor_role text;
COMMENT ON TABLE auth.audit_log IS
    'security events (sign_up, sign_in, sign_in_failed, sign_out, session_revoked, password_changed, ...) with their actor; also sent as NOTIFY auth_events';
-- Who acted, for every audit row: the authenticated user (auth.uid(), NULL
-- when nobody is) and the database role that called (SET ROLE's, else the
-- session's; an admin tier's back office acts as a role, not a user).  The
-- one place the actor is computed: what an audit row names besides comes
-- here too.
CREATE FUNCTION auth._audit_actor() RETURNS jsonb
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT jsonb_build_object(
        'actor_id', auth.uid(),
        'actor_role', CASE WHEN current_setting('role') = 'none' THEN session_user::text
                           ELSE current_setting('role') END,
        'impersonator_id', auth.impersonator_id())
$$;
COMMENT ON FUNCTION auth._audit_actor() IS
    'internal: the actor of an audit row: the authenticated user, the calling database role and the impersonator';
REVOKE ALL ON FUNCTION auth._audit_actor() FROM PUBLIC;

-- Sessions record their last authentication (for delete_account);
-- sessions made before have authenticated when they were created.
ALTER TABLE auth.sessions ADD COLUMN authenticated_at timestamptz;
UPDATE auth.sessions SET authenticated_at = created_at;
ALTER TABLE auth.sessions ALTER COLUMN authenticated_at SET DEFAULT auth.now(),
    ALTER COLUMN authenticated_at SET NOT NULL;

-- auth.revoke_all_sessions() ends every session at once without writing
-- any: a session created at or before not_before is dead.  One row at
-- most; none means no cutoff.  The read path (src/session.c) compares it
-- with the session's created_at, reading it at most once per snapshot.
CREATE TABLE auth.session_epoch (
    id         boolean PRIMARY KEY DEFAULT true CHECK (id),
    not_before timestamptz NOT NULL
);
ALTER TABLE auth.session_epoch ENABLE ROW LEVEL SECURITY;
SELECT pg_catalog.pg_extension_config_dump('auth.session_epoch', '');
COMMENT ON TABLE auth.session_epoch IS
    'the cutoff of auth.revoke_all_sessions(): sessions created at or before it are dead';

-- The cutoff as SQL reads it: -infinity when there is none.
CREATE FUNCTION auth._sessions_not_before() RETURNS timestamptz
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT coalesce((SELECT e.not_before FROM auth.session_epoch e), '-infinity')
$$;
COMMENT ON FUNCTION auth._sessions_not_before() IS
    'internal: the cutoff of auth.revoke_all_sessions(), -infinity when none';
REVOKE ALL ON FUNCTION auth._sessions_not_before() FROM PUBLIC;


CREATE OR REPLACE FUNCTION auth.update_team(team_id uuid, name text) RETURNS void
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

CREATE OR REPLACE FUNCTION auth.add_team_member(team_id uuid, user_id uuid) RETURNS void
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

CREATE OR REPLACE FUNCTION auth.remove_team_member(team_id uuid, user_id uuid) RETURNS boolean
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

-- The global roles a user may hold: the built-in user and admin.
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


CREATE OR REPLACE FUNCTION auth.cleanup()
RETURNS TABLE (sessions_deleted bigint, attempts_deleted bigint, audit_deleted bigint,
               secrets_deleted bigint, api_keys_deleted bigint)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_now timestamptz := auth.now();
    v_grace interval := auth._setting_interval('auth.cleanup_grace');
    v_idle timestamptz := auth.now() - auth._setting_interval('auth.anonymous_ttl');
    v_anonymous bigint;
BEGIN
    -- anonymous users with no session created or refreshed for
    -- auth.anonymous_ttl (but the owners of an organization); the
    -- application's rows go as its foreign keys say.  Counted in the audit
    -- log: the result keeps the columns of 0.1.0.
    DELETE FROM auth.users u
     WHERE u.is_anonymous AND u.created_at < v_idle
       AND NOT EXISTS (SELECT FROM auth.sessions s
                        WHERE s.user_id = u.id AND greatest(s.created_at, s.refreshed_at) >= v_idle)
       AND NOT EXISTS (SELECT FROM auth.members m WHERE m.user_id = u.id AND m.role = 'owner');
    GET DIAGNOSTICS v_anonymous = ROW_COUNT;
    IF v_anonymous > 0 THEN
        PERFORM auth._audit('anonymous_users_deleted', NULL, NULL, NULL,
                            jsonb_build_object('count', v_anonymous));
    END IF;
    DELETE FROM auth.sessions s
     WHERE s.expires_at < v_now - v_grace OR s.revoked_at < v_now - v_grace
        -- ended by auth.revoke_all_sessions() longer than the grace ago
        OR (s.created_at <= auth._sessions_not_before()
            AND auth._sessions_not_before() < v_now - v_grace);
    GET DIAGNOSTICS sessions_deleted = ROW_COUNT;
    -- attempts no limit counts any more (codes count theirs for their lifetime)
    DELETE FROM auth.attempts a
     WHERE a.attempted_at < v_now - greatest(auth._setting_interval('auth.failed_sign_in_window'),
                                             auth._setting_interval('auth.email_code_ttl') + interval '1 day',
                                             auth._setting_interval('auth.anonymous_sign_in_window'));
    GET DIAGNOSTICS attempts_deleted = ROW_COUNT;
    DELETE FROM auth.audit_log l
     WHERE l.occurred_at < v_now - auth._setting_interval('auth.audit_retention');
    GET DIAGNOSTICS audit_deleted = ROW_COUNT;
    -- used, superseded or expired secrets, once no rate-limit window reads them
    DELETE FROM auth.one_time_secrets o
     WHERE greatest(o.expires_at, o.created_at + auth._setting_interval('auth.magic_link_rate_window'))
           < v_now - v_grace;
    GET DIAGNOSTICS secrets_deleted = ROW_COUNT;
    DELETE FROM auth.api_keys k
     WHERE k.expires_at < v_now - v_grace OR k.revoked_at < v_now - v_grace;
    GET DIAGNOSTICS api_keys_deleted = ROW_COUNT;
    -- hashes a rotation kept, once their grace period is over
    UPDATE auth.api_keys k SET previous_key_hash = NULL, previous_key_expires_at = NULL
     WHERE k.previous_key_expires_at <= v_now;
    -- to the server log too: a scheduled job (pg_cron) keeps no result
    RAISE LOG 'auth.cleanup() deleted % sessions, % attempts, % audit rows, % one-time secrets, % API keys',
        sessions_deleted, attempts_deleted, audit_deleted, secrets_deleted, api_keys_deleted;
    RETURN NEXT;
END
$$;
COMMENT ON FUNCTION auth.cleanup() IS
    'admin and maintenance: deletes sessions and API keys expired or revoked (or ended by revoke_all_sessions) longer than auth.cleanup_grace ago, stale attempts, audit rows older than auth.audit_retention, dead one-time secrets, and anonymous users idle past auth.anonymous_ttl (audited with their count); returns the counts and logs them';

-- issue 11: signed tokens (JWTs issued and verified in C), signing keys
-- sealed under the root key file, trusted external issuers; the admin
-- tier gains their admin functions.

-- signing keys: the keys this database signs its JWTs with (src/jwt.c,
-- src/jwt_keys.c, src/jwt_cache.c).  Private parts and HS256 secrets are
-- sealed with a key derived from the root key file (src/keys_at_rest.c),
-- never stored in clear; public keys are served by auth.jwks().

CREATE TABLE auth.signing_keys (
    id           uuid PRIMARY KEY DEFAULT pg_catalog.gen_random_uuid(),
    kid          text NOT NULL,
    algorithm    text NOT NULL,
    -- standby (published, not yet signing), current (signs), previous
    -- (verifies for auth.jwt_previous_key_grace after retired_at), revoked
    state        text NOT NULL DEFAULT 'standby',
    public_jwk   jsonb,               -- NULL for HS256: a secret is never public
    private_key  bytea NOT NULL,      -- sealed: AES-256-GCM under the root key
    created_at   timestamptz NOT NULL DEFAULT auth.now(),
    activated_at timestamptz,
    retired_at   timestamptz,
    revoked_at   timestamptz,
    CONSTRAINT signing_keys_kid_key UNIQUE (kid),
    CONSTRAINT signing_keys_kid_check CHECK (length(kid) BETWEEN 1 AND 128),
    CONSTRAINT signing_keys_algorithm_check
        CHECK (algorithm IN ('EdDSA', 'ES256', 'RS256', 'HS256')),
    CONSTRAINT signing_keys_state_check
        CHECK (state IN ('standby', 'current', 'previous', 'revoked')),
    CONSTRAINT signing_keys_public_check
        CHECK ((algorithm = 'HS256') = (public_jwk IS NULL))
);
-- at most one key signs
CREATE UNIQUE INDEX signing_keys_current_key ON auth.signing_keys ((true))
    WHERE state = 'current';
ALTER TABLE auth.signing_keys ENABLE ROW LEVEL SECURITY;
SELECT pg_catalog.pg_extension_config_dump('auth.signing_keys', '');
COMMENT ON TABLE auth.signing_keys IS
    'JWT signing keys; private parts and secrets sealed under the root key file';

CREATE FUNCTION auth._jwt_keys_changed() RETURNS trigger
    AS 'MODULE_PATHNAME', 'auth_jwt_keys_changed'
    LANGUAGE C;
COMMENT ON FUNCTION auth._jwt_keys_changed() IS
    'internal: invalidates every backend''s cache of signing keys and issuers when the change commits';
REVOKE ALL ON FUNCTION auth._jwt_keys_changed() FROM PUBLIC;

CREATE TRIGGER signing_keys_changed
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON auth.signing_keys
    FOR EACH STATEMENT EXECUTE FUNCTION auth._jwt_keys_changed();

CREATE FUNCTION auth._sealed_opens(purpose text, id uuid, sealed bytea) RETURNS boolean
    AS 'MODULE_PATHNAME', 'auth_sealed_opens'
    LANGUAGE C VOLATILE STRICT;
COMMENT ON FUNCTION auth._sealed_opens(text, uuid, bytea) IS
    'internal: whether a sealed secret opens with the root key (auth.check())';
REVOKE ALL ON FUNCTION auth._sealed_opens(text, uuid, bytea) FROM PUBLIC;

CREATE FUNCTION auth._signing_key_generate(alg text, id uuid,
                                           OUT public_jwk jsonb, OUT private_key bytea)
    AS 'MODULE_PATHNAME', 'auth_signing_key_generate'
    LANGUAGE C VOLATILE STRICT;
COMMENT ON FUNCTION auth._signing_key_generate(text, uuid) IS
    'internal: a fresh key for the row id, its private part sealed';
REVOKE ALL ON FUNCTION auth._signing_key_generate(text, uuid) FROM PUBLIC;

CREATE FUNCTION auth._signing_key_import(jwk jsonb, id uuid, OUT algorithm text,
                                         OUT public_jwk jsonb, OUT private_key bytea)
    AS 'MODULE_PATHNAME', 'auth_signing_key_import'
    LANGUAGE C VOLATILE STRICT;
COMMENT ON FUNCTION auth._signing_key_import(jsonb, uuid) IS
    'internal: an existing key or secret (a JWK with its private part) for the row id, sealed';
REVOKE ALL ON FUNCTION auth._signing_key_import(jsonb, uuid) FROM PUBLIC;

-- Stores a key in the state asked for; a new current key retires the one
-- before it to previous.  Key changes are serialised by the table lock.
CREATE FUNCTION auth._add_signing_key(id uuid, kid text, algorithm text, state text,
                                      public_jwk jsonb, private_key bytea)
RETURNS text
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_now timestamptz := auth.now();
BEGIN
    IF state IS NULL OR state NOT IN ('standby', 'current') THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'invalid signing key state',
            HINT = 'A new key is standby or current.';
    END IF;
    IF kid IS NULL OR length(kid) NOT BETWEEN 1 AND 128 OR kid !~ '^[\x21-\x7e]+$' THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'invalid kid',
            DETAIL = 'A kid is 1 to 128 printable ASCII characters.';
    END IF;
    IF EXISTS (SELECT FROM auth.signing_keys k WHERE k.kid = _add_signing_key.kid) THEN
        RAISE EXCEPTION USING ERRCODE = '23505', MESSAGE = 'kid is already taken';
    END IF;
    IF state = 'current' THEN
        UPDATE auth.signing_keys k SET state = 'previous', retired_at = v_now
         WHERE k.state = 'current';
    END IF;
    INSERT INTO auth.signing_keys (id, kid, algorithm, state, public_jwk, private_key,
                                   created_at, activated_at)
    VALUES (id, kid, algorithm, state, public_jwk, private_key, v_now,
            CASE WHEN state = 'current' THEN v_now END);
    PERFORM auth._audit('signing_key_created', NULL, NULL, NULL,
                        jsonb_build_object('kid', kid, 'algorithm', algorithm, 'state', state));
    RETURN kid;
END
$$;
COMMENT ON FUNCTION auth._add_signing_key(uuid, text, text, text, jsonb, bytea) IS
    'internal: stores a new signing key (a new current key retires the current one)';
REVOKE ALL ON FUNCTION auth._add_signing_key(uuid, text, text, text, jsonb, bytea) FROM PUBLIC;

CREATE FUNCTION auth.create_signing_key(alg text DEFAULT 'EdDSA', state text DEFAULT 'standby')
RETURNS text
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_id uuid := gen_random_uuid();
    v_key record;
BEGIN
    IF alg IS NULL OR alg NOT IN ('EdDSA', 'ES256', 'RS256', 'HS256') THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'unsupported signing algorithm',
            HINT = 'Use EdDSA, ES256, RS256 or HS256.';
    END IF;
    LOCK TABLE auth.signing_keys IN SHARE ROW EXCLUSIVE MODE;
    SELECT * INTO v_key FROM auth._signing_key_generate(alg, v_id);
    RETURN auth._add_signing_key(v_id, v_id::text, alg, state, v_key.public_jwk, v_key.private_key);
END
$$;
COMMENT ON FUNCTION auth.create_signing_key(text, text) IS
    'admin: makes a signing key (EdDSA, ES256, RS256 of 2048 bits, HS256 of 256 random bits), standby or current; returns its kid';
REVOKE ALL ON FUNCTION auth.create_signing_key(text, text) FROM PUBLIC;

CREATE FUNCTION auth.import_signing_key(jwk jsonb, state text DEFAULT 'standby')
RETURNS text
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_id uuid := gen_random_uuid();
    v_key record;
BEGIN
    IF jwk IS NULL OR pg_column_size(jwk) > 16384 THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'invalid signing key',
            DETAIL = 'A JWK of at most 16 kB.';
    END IF;
    LOCK TABLE auth.signing_keys IN SHARE ROW EXCLUSIVE MODE;
    SELECT * INTO v_key FROM auth._signing_key_import(jwk, v_id);
    RETURN auth._add_signing_key(v_id, coalesce(jwk->>'kid', v_id::text), v_key.algorithm,
                                 state, v_key.public_jwk, v_key.private_key);
END
$$;
COMMENT ON FUNCTION auth.import_signing_key(jsonb, text) IS
    'admin: brings an existing key or secret (a JWK with its private part; an HS256 secret of at least 32 bytes); returns its kid';
REVOKE ALL ON FUNCTION auth.import_signing_key(jsonb, text) FROM PUBLIC;

CREATE FUNCTION auth.rotate_signing_keys() RETURNS text
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_now timestamptz := auth.now();
    v_current auth.signing_keys;
    v_standby auth.signing_keys;
    v_id uuid := gen_random_uuid();
    v_key record;
BEGIN
    LOCK TABLE auth.signing_keys IN SHARE ROW EXCLUSIVE MODE;
    SELECT * INTO v_current FROM auth.signing_keys k WHERE k.state = 'current';
    SELECT * INTO v_standby FROM auth.signing_keys k WHERE k.state = 'standby'
     ORDER BY k.created_at LIMIT 1;
    IF v_standby.id IS NULL THEN
        -- nothing waits: a fresh key of the current one's algorithm signs
        SELECT * INTO v_key FROM auth._signing_key_generate(coalesce(v_current.algorithm, 'EdDSA'), v_id);
        INSERT INTO auth.signing_keys (id, kid, algorithm, state, public_jwk, private_key, created_at)
        VALUES (v_id, v_id::text, coalesce(v_current.algorithm, 'EdDSA'), 'standby',
                v_key.public_jwk, v_key.private_key, v_now)
        RETURNING * INTO v_standby;
        v_id := gen_random_uuid();
    END IF;
    UPDATE auth.signing_keys k SET state = 'previous', retired_at = v_now
     WHERE k.state = 'current';
    UPDATE auth.signing_keys k SET state = 'current', activated_at = v_now
     WHERE k.id = v_standby.id;
    -- a fresh standby of the same algorithm, published before it signs
    SELECT * INTO v_key FROM auth._signing_key_generate(v_standby.algorithm, v_id);
    INSERT INTO auth.signing_keys (id, kid, algorithm, state, public_jwk, private_key, created_at)
    VALUES (v_id, v_id::text, v_standby.algorithm, 'standby', v_key.public_jwk, v_key.private_key, v_now);
    PERFORM auth._audit('signing_keys_rotated', NULL, NULL, NULL,
                        jsonb_build_object('current', v_standby.kid, 'previous', v_current.kid,
                                           'standby', v_id::text));
    RETURN v_standby.kid;
END
$$;
COMMENT ON FUNCTION auth.rotate_signing_keys() IS
    'admin: standby becomes current, current becomes previous (verifying for auth.jwt_previous_key_grace), a fresh standby is made; returns the new current kid';
REVOKE ALL ON FUNCTION auth.rotate_signing_keys() FROM PUBLIC;

CREATE FUNCTION auth.revoke_signing_key(kid text) RETURNS boolean
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_id uuid;
BEGIN
    LOCK TABLE auth.signing_keys IN SHARE ROW EXCLUSIVE MODE;
    UPDATE auth.signing_keys k SET state = 'revoked', revoked_at = auth.now()
     WHERE k.kid = revoke_signing_key.kid AND k.state <> 'revoked'
    RETURNING k.id INTO v_id;
    IF v_id IS NULL THEN
        RETURN false;
    END IF;
    PERFORM auth._audit('signing_key_revoked', NULL, NULL, NULL,
                        jsonb_build_object('kid', kid));
    RETURN true;
END
$$;
COMMENT ON FUNCTION auth.revoke_signing_key(text) IS
    'admin: revokes a signing key: every token it signed is refused at once; false when unknown or already revoked';
REVOKE ALL ON FUNCTION auth.revoke_signing_key(text) FROM PUBLIC;

CREATE FUNCTION auth.jwks() RETURNS jsonb
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT jsonb_build_object('keys', coalesce(jsonb_agg(
               k.public_jwk || jsonb_build_object('kid', k.kid, 'alg', k.algorithm, 'use', 'sig')
               ORDER BY k.created_at, k.kid), '[]'))
      FROM auth.signing_keys k
     WHERE k.public_jwk IS NOT NULL
       AND (k.state IN ('current', 'standby')
            OR (k.state = 'previous'
                AND k.retired_at + auth._setting_interval('auth.jwt_previous_key_grace') > auth.now()))
$$;
COMMENT ON FUNCTION auth.jwks() IS
    'the public signing keys (current, standby, previous within its grace) as an RFC 7517 JWK set, for /.well-known/jwks.json; never a private part or an HS256 secret';

-- jwt: signed tokens issued and verified in C (src/jwt.c).  A token this
-- database issues from a session or an API key names it in sid, and is
-- refused as soon as that credential ends.

CREATE FUNCTION auth.verify_jwt(token text, audience text DEFAULT NULL,
                                OUT valid boolean, OUT code text, OUT user_id uuid,
                                OUT claims jsonb, OUT kid text)
    AS 'MODULE_PATHNAME', 'auth_verify_jwt'
    LANGUAGE C STABLE PARALLEL RESTRICTED;
COMMENT ON FUNCTION auth.verify_jwt(text, text) IS
    'checks a JWT; code NULL when valid, else INVALID, BAD_SIGNATURE, UNKNOWN_KEY, EXPIRED, NOT_YET_VALID, WRONG_AUDIENCE, WRONG_ISSUER, REVOKED or UNKNOWN_SUBJECT; never raises for a bad token';

CREATE FUNCTION auth.authenticate_jwt(token text, is_local boolean DEFAULT true)
RETURNS uuid
    AS 'MODULE_PATHNAME', 'auth_authenticate_jwt'
    LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION auth.authenticate_jwt(text, boolean) IS
    'verifies a JWT and sets an identity of kind jwt for the transaction (or, is_local false, the connection); returns the user; 28000 with the reason in the detail';

CREATE FUNCTION auth.jwt() RETURNS jsonb
    AS 'MODULE_PATHNAME', 'auth_jwt_claims_sql'
    LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION auth.jwt() IS
    'the claims of the current identity in Supabase''s shape (a JWT identity''s own claims; sub, role, aal, session_id or api_key_id, org, scopes for the others); NULL when nobody is authenticated';

CREATE FUNCTION auth._jwt_issuer() RETURNS text
    AS 'MODULE_PATHNAME', 'auth_jwt_issuer_sql'
    LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION auth._jwt_issuer() IS
    'internal: auth.jwt_issuer, the iss of this database''s own tokens';
REVOKE ALL ON FUNCTION auth._jwt_issuer() FROM PUBLIC;

CREATE FUNCTION auth._jwt_sign(claims jsonb) RETURNS text
    AS 'MODULE_PATHNAME', 'auth_jwt_sign'
    LANGUAGE C VOLATILE STRICT;
COMMENT ON FUNCTION auth._jwt_sign(jsonb) IS
    'internal: the claims signed with the current key, as a compact JWS';
REVOKE ALL ON FUNCTION auth._jwt_sign(jsonb) FROM PUBLIC;

-- Builds the claims and signs them: the registered claims are the
-- extension's, the caller's own may not replace them (22023), and the hook
-- named by auth.jwt_claims_hook (superuser-set) adds its own.  aal and amr
-- are the issuing session's or key's (aal 1 and no amr without one).  The
-- first token ever issued makes the first key (EdDSA, current).
CREATE FUNCTION auth._issue_jwt(user_id uuid, sid_field text, sid uuid, org_id uuid,
                                scopes text[], ttl interval, audience text, claims jsonb,
                                aal integer, amr jsonb)
RETURNS text
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_now timestamptz := auth.now();
    v_ttl interval := coalesce(ttl, auth._setting_interval('auth.jwt_ttl'));
    v_max interval := auth._setting_interval('auth.jwt_max_ttl');
    v_hook text := current_setting('auth.jwt_claims_hook');
    v_iat bigint := floor(extract(epoch FROM v_now))::bigint;
    v_claims jsonb := coalesce(claims, '{}');
    v_registered text[] := '{iss,sub,aud,exp,nbf,iat,jti,sid,session_id,api_key_id,org,scopes,scope,role,aal,amr}';
    -- what Supabase-style policies read as facts about the identity: only
    -- this database (or the superuser's hook) says them
    v_identity text[] := '{email,phone,app_metadata,user_metadata,user_role,is_anonymous}';
    v_extra jsonb;
BEGIN
    IF v_ttl <= interval '0' THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'ttl must be positive';
    END IF;
    IF v_ttl > v_max THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'ttl exceeds auth.jwt_max_ttl',
            DETAIL = format('The longest lifetime is %s.', v_max);
    END IF;
    IF jsonb_typeof(v_claims) <> 'object' OR octet_length(v_claims::text) > 4096 THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'claims must be a JSON object of at most 4 kB';
    END IF;
    IF audience IS NOT NULL AND length(audience) NOT BETWEEN 1 AND 512 THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'an audience is 1 to 512 characters';
    END IF;
    IF v_claims ?| v_registered THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'registered claims cannot be set',
            DETAIL = format('These claims are the extension''s: %s.', array_to_string(v_registered, ', '));
    END IF;
    IF v_claims ?| v_identity THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'claims about the identity cannot be set',
            DETAIL = format('Policies read these as facts about the identity: %s.', array_to_string(v_identity, ', ')),
            HINT = 'Add them with auth.jwt_claims_hook, or name your own claims otherwise.';
    END IF;
    IF v_hook <> '' THEN
        EXECUTE format('SELECT %s($1)', v_hook::regproc) INTO v_extra USING v_claims;
        IF v_extra IS NOT NULL AND jsonb_typeof(v_extra) = 'object' THEN
            v_claims := v_claims || (v_extra - v_registered);
        END IF;
    END IF;
    v_claims := v_claims || jsonb_strip_nulls(jsonb_build_object(
        'iss', auth._jwt_issuer(),
        'sub', user_id,
        'aud', audience,
        'iat', v_iat,
        'nbf', v_iat,
        'exp', v_iat + floor(extract(epoch FROM v_ttl))::bigint,
        'jti', gen_random_uuid(),
        'sid', sid,
        sid_field, sid,
        'org', org_id,
        'scopes', to_jsonb(scopes),
        'role', 'authenticated',
        'aal', CASE WHEN aal >= 2 AND sid IS NOT NULL THEN 'aal2' ELSE 'aal1' END,
        'amr', CASE WHEN sid IS NOT NULL THEN amr END));
    -- only the very first token locks (to make the first key once): with
    -- keys but none current, signing fails (55000) without waiting
    IF NOT EXISTS (SELECT FROM auth.signing_keys k WHERE k.state = 'current')
       AND NOT EXISTS (SELECT FROM auth.signing_keys k) THEN
        LOCK TABLE auth.signing_keys IN SHARE ROW EXCLUSIVE MODE;
        IF NOT EXISTS (SELECT FROM auth.signing_keys k) THEN
            PERFORM auth.create_signing_key('EdDSA', 'current');
        END IF;
    END IF;
    RETURN auth._jwt_sign(v_claims);
END
$$;
COMMENT ON FUNCTION auth._issue_jwt(uuid, text, uuid, uuid, text[], interval, text, jsonb, integer, jsonb) IS
    'internal: builds the claims of a JWT (aal and amr those of the issuing session or key) and signs them';
REVOKE ALL ON FUNCTION auth._issue_jwt(uuid, text, uuid, uuid, text[], interval, text, jsonb, integer, jsonb) FROM PUBLIC;

CREATE FUNCTION auth.issue_jwt(ttl interval DEFAULT NULL, audience text DEFAULT NULL,
                               scopes text[] DEFAULT NULL, claims jsonb DEFAULT '{}')
RETURNS text
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_ident jsonb := auth.identity();
    v_kind text := v_ident->>'kind';
    v_held text[] := auth.scopes();
    v_scopes text[];
BEGIN
    IF v_ident IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = '28000', MESSAGE = 'not authenticated',
            HINT = 'Call auth.authenticate() with the session token first.';
    END IF;
    -- a token would carry the user's identity past the impersonation
    PERFORM auth._refuse_impersonation('issue JWTs');
    IF v_kind NOT IN ('session', 'api_key') THEN
        RAISE EXCEPTION USING ERRCODE = '42501',
            MESSAGE = 'only a session or an API key can issue a JWT',
            HINT = 'A JWT cannot mint further JWTs: authenticate with the session or key it came from.';
    END IF;
    IF scopes IS NULL THEN
        v_scopes := v_held;
    ELSE
        v_scopes := auth._check_scopes(scopes);
        IF NOT auth._scopes_subset(v_scopes, v_held) THEN
            RAISE EXCEPTION USING ERRCODE = '42501',
                MESSAGE = 'a JWT can only carry a subset of the caller''s scopes';
        END IF;
    END IF;
    RETURN auth._issue_jwt(auth.uid(),
                           CASE v_kind WHEN 'session' THEN 'session_id' ELSE 'api_key_id' END,
                           coalesce(auth.session_id(), auth.api_key_id()),
                           auth.org_id(), v_scopes, ttl, audience, claims,
                           CASE auth.aal() WHEN 'aal2' THEN 2 ELSE 1 END, auth.amr());
END
$$;
COMMENT ON FUNCTION auth.issue_jwt(interval, text, text[], jsonb) IS
    'a signed JWT for the current session or API key (sid names it, so ending it ends the token); scopes a subset of the caller''s; aal and amr the caller''s';

CREATE FUNCTION auth.issue_jwt_for(user_id uuid, scopes text[], ttl interval,
                                   org_id uuid DEFAULT NULL, claims jsonb DEFAULT '{}')
RETURNS text
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_user auth.users;
BEGIN
    SELECT * INTO v_user FROM auth.users u WHERE u.id = issue_jwt_for.user_id;
    IF v_user.id IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'user does not exist';
    END IF;
    IF v_user.banned_until > auth.now() THEN
        RAISE EXCEPTION USING ERRCODE = '28000', MESSAGE = 'account is suspended';
    END IF;
    IF org_id IS NOT NULL AND NOT EXISTS (
            SELECT FROM auth.members m
             WHERE m.org_id = issue_jwt_for.org_id AND m.user_id = issue_jwt_for.user_id) THEN
        RAISE EXCEPTION USING ERRCODE = '42501', MESSAGE = 'not a member of this organization';
    END IF;
    RETURN auth._issue_jwt(user_id, 'session_id', NULL, org_id, auth._check_scopes(scopes),
                           ttl, NULL, claims, 1, NULL);
END
$$;
COMMENT ON FUNCTION auth.issue_jwt_for(uuid, text[], interval, uuid, jsonb) IS
    'admin: a signed service JWT for any user (a member of org_id when given), with the scopes given; no sid: it ends with its expiry or its key';
REVOKE ALL ON FUNCTION auth.issue_jwt_for(uuid, text[], interval, uuid, jsonb) FROM PUBLIC;

-- issuers: trusted external issuers of JWTs (an OIDC provider, another
-- service).  The application pushes their JWKS; the database fetches
-- nothing.  Their subjects map to users through auth.identities, or are
-- user ids themselves (subject_mapping 'uuid').

CREATE TABLE auth.issuers (
    issuer          text PRIMARY KEY,
    jwks            jsonb NOT NULL,
    audiences       text[],           -- NULL: any; else aud must name one
    subject_mapping text NOT NULL DEFAULT 'identity',
    created_at      timestamptz NOT NULL DEFAULT auth.now(),
    keys_set_at     timestamptz NOT NULL DEFAULT auth.now(),
    CONSTRAINT issuers_issuer_check CHECK (length(issuer) BETWEEN 1 AND 512),
    CONSTRAINT issuers_subject_mapping_check CHECK (subject_mapping IN ('identity', 'uuid'))
);
ALTER TABLE auth.issuers ENABLE ROW LEVEL SECURITY;
SELECT pg_catalog.pg_extension_config_dump('auth.issuers', '');
COMMENT ON TABLE auth.issuers IS
    'trusted external issuers of JWTs and their public keys (JWKS)';

CREATE TRIGGER issuers_changed
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON auth.issuers
    FOR EACH STATEMENT EXECUTE FUNCTION auth._jwt_keys_changed();

CREATE TABLE auth.identities (
    issuer     text NOT NULL REFERENCES auth.issuers (issuer) ON DELETE CASCADE,
    subject    text NOT NULL,
    user_id    uuid NOT NULL REFERENCES auth.users (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT auth.now(),
    PRIMARY KEY (issuer, subject),
    CONSTRAINT identities_subject_check CHECK (length(subject) BETWEEN 1 AND 255)
);
CREATE INDEX identities_user_id_idx ON auth.identities (user_id);
ALTER TABLE auth.identities ENABLE ROW LEVEL SECURITY;
SELECT pg_catalog.pg_extension_config_dump('auth.identities', '');
COMMENT ON TABLE auth.identities IS
    'links from an external issuer''s subject to a user';

CREATE FUNCTION auth._jwks_check(jwks jsonb) RETURNS integer
    AS 'MODULE_PATHNAME', 'auth_jwks_check'
    LANGUAGE C IMMUTABLE STRICT;
COMMENT ON FUNCTION auth._jwks_check(jsonb) IS
    'internal: the number of public RS256, ES256 and EdDSA keys in a JWKS; 22023 for anything else';
REVOKE ALL ON FUNCTION auth._jwks_check(jsonb) FROM PUBLIC;

CREATE FUNCTION auth._check_jwks(jwks jsonb) RETURNS void
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF jwks IS NULL OR octet_length(jwks::text) > 65536 THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'invalid JWKS',
            DETAIL = 'A JWKS of at most 64 kB.';
    END IF;
    IF auth._jwks_check(jwks) > 32 THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'invalid JWKS',
            DETAIL = 'An issuer has at most 32 keys.';
    END IF;
END
$$;
COMMENT ON FUNCTION auth._check_jwks(jsonb) IS
    'internal: validates an issuer''s JWKS (22023)';
REVOKE ALL ON FUNCTION auth._check_jwks(jsonb) FROM PUBLIC;

CREATE FUNCTION auth.add_issuer(issuer text, jwks jsonb, audiences text[] DEFAULT NULL,
                                subject_mapping text DEFAULT 'identity')
RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF issuer IS NULL OR length(issuer) NOT BETWEEN 1 AND 512 THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'an issuer is 1 to 512 characters';
    END IF;
    IF issuer = auth._jwt_issuer() THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'the issuer is this database''s own',
            HINT = 'Its keys are the signing keys: auth.import_signing_key().';
    END IF;
    IF subject_mapping IS NULL OR subject_mapping NOT IN ('identity', 'uuid') THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'invalid subject mapping',
            HINT = 'identity (through auth.identities) or uuid (sub is the user id).';
    END IF;
    IF audiences IS NOT NULL AND (cardinality(audiences) > 16 OR EXISTS (
            SELECT FROM unnest(audiences) a WHERE a IS NULL OR length(a) NOT BETWEEN 1 AND 512)) THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'invalid audiences',
            DETAIL = 'At most 16 audiences of 1 to 512 characters.';
    END IF;
    PERFORM auth._check_jwks(jwks);
    IF EXISTS (SELECT FROM auth.issuers i WHERE i.issuer = add_issuer.issuer) THEN
        RAISE EXCEPTION USING ERRCODE = '23505', MESSAGE = 'issuer already exists',
            HINT = 'Refresh its keys with auth.set_issuer_jwks().';
    END IF;
    INSERT INTO auth.issuers (issuer, jwks, audiences, subject_mapping)
    VALUES (issuer, jwks, audiences, subject_mapping);
    PERFORM auth._audit('issuer_added', NULL, NULL, NULL,
                        jsonb_build_object('issuer', issuer, 'subject_mapping', subject_mapping));
END
$$;
COMMENT ON FUNCTION auth.add_issuer(text, jsonb, text[], text) IS
    'admin: trusts an external issuer of JWTs with its public keys (JWKS); subject_mapping identity (auth.identities) or uuid';
REVOKE ALL ON FUNCTION auth.add_issuer(text, jsonb, text[], text) FROM PUBLIC;

CREATE FUNCTION auth.set_issuer_jwks(issuer text, jwks jsonb) RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM auth._check_jwks(jwks);
    UPDATE auth.issuers i SET jwks = set_issuer_jwks.jwks, keys_set_at = auth.now()
     WHERE i.issuer = set_issuer_jwks.issuer;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'issuer does not exist';
    END IF;
    PERFORM auth._audit('issuer_keys_set', NULL, NULL, NULL, jsonb_build_object('issuer', issuer));
END
$$;
COMMENT ON FUNCTION auth.set_issuer_jwks(text, jsonb) IS
    'admin: replaces an issuer''s public keys (the application refreshes them; the database fetches nothing)';
REVOKE ALL ON FUNCTION auth.set_issuer_jwks(text, jsonb) FROM PUBLIC;

CREATE FUNCTION auth.remove_issuer(issuer text) RETURNS boolean
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    DELETE FROM auth.issuers i WHERE i.issuer = remove_issuer.issuer;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    PERFORM auth._audit('issuer_removed', NULL, NULL, NULL, jsonb_build_object('issuer', issuer));
    RETURN true;
END
$$;
COMMENT ON FUNCTION auth.remove_issuer(text) IS
    'admin: stops trusting an issuer (its tokens are refused at once) and drops its identity links';
REVOKE ALL ON FUNCTION auth.remove_issuer(text) FROM PUBLIC;

CREATE FUNCTION auth.link_identity(issuer text, subject text, user_id uuid) RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF subject IS NULL OR length(subject) NOT BETWEEN 1 AND 255 THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'a subject is 1 to 255 characters';
    END IF;
    IF NOT EXISTS (SELECT FROM auth.issuers i WHERE i.issuer = link_identity.issuer) THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'issuer does not exist';
    END IF;
    IF NOT EXISTS (SELECT FROM auth.users u WHERE u.id = link_identity.user_id) THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'user does not exist';
    END IF;
    INSERT INTO auth.identities (issuer, subject, user_id)
    VALUES (issuer, subject, user_id)
    ON CONFLICT ON CONSTRAINT identities_pkey DO UPDATE SET user_id = EXCLUDED.user_id;
END
$$;
COMMENT ON FUNCTION auth.link_identity(text, text, uuid) IS
    'admin: maps an external issuer''s subject to a user (replacing an earlier link)';
REVOKE ALL ON FUNCTION auth.link_identity(text, text, uuid) FROM PUBLIC;


-- issue 13/14: after the outside attack: a PostgREST request starts with nobody; profile fields checked; a claim clears the profile; delete_account's retry hint
CREATE OR REPLACE FUNCTION auth._check_profile(name text, image text) RETURNS void
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM auth._check_length(name, 'name');
    PERFORM auth._check_length(image, 'image');
    IF name ~ '[[:cntrl:]\u00ad\u061c\u180e\u200b-\u200f\u202a-\u202e\u2060-\u206f\ufeff\ufff9-\ufffb]' THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'invalid name',
            DETAIL = 'A name has no control, format or bidirectional characters.';
    END IF;
    IF image <> '' AND image !~* '^(https?://[^[:space:]]+|/[^/[:space:]][^[:space:]]*)$' THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'invalid image',
            DETAIL = 'An image is an http(s) URL or a path starting with one /.';
    END IF;
END
$$;
COMMENT ON FUNCTION auth._check_profile(text, text) IS
    'internal: 22023 for a name past its bound or with control, format or bidi characters, or an image that is not an http(s) URL or a path';
REVOKE ALL ON FUNCTION auth._check_profile(text, text) FROM PUBLIC;
-- Forgetting only narrows: anyone may (auth.postgrest_pre_request, which is
-- not SECURITY DEFINER, starts every request with it).
GRANT EXECUTE ON FUNCTION auth._clear_identity() TO PUBLIC;

-- issue 12: multi-factor authentication (TOTP, recovery codes, email as a
-- second factor, MFA challenges, the assurance level in the identity,
-- organizations that require MFA)
ALTER TYPE auth.session_grant ADD ATTRIBUTE mfa_challenge text;
COMMENT ON TYPE auth.session_grant IS
    'a new session: its token, shown once and never stored, and its id, user and expiry; or, when the user has a second factor, no token but an MFA challenge for auth.verify_mfa';
ALTER TYPE auth.passwordless_grant ADD ATTRIBUTE mfa_challenge text;
COMMENT ON TYPE auth.passwordless_grant IS
    'a session opened by a magic link or code: the session token (shown once), the session, where to go, whether the user was just created, and whether the password of an account never verified was removed; or, when the user has a second factor, no token but an MFA challenge for auth.verify_mfa';

-- mfa: second factors (TOTP, recovery codes, email), MFA challenges and
-- the assurance level every identity carries (src/mfa.c, src/identity.c).
-- Once a user has a verified factor, no first factor (password, magic
-- link, email code, and any later one) yields more than a challenge: every
-- first factor ends in auth._open_first_factor_session.

-- Sessions carry how they were authenticated; an API key the assurance of
-- the session (or key) that made it; an organization may require aal2.
ALTER TABLE auth.sessions
    ADD COLUMN aal smallint NOT NULL DEFAULT 1 CONSTRAINT sessions_aal_check CHECK (aal IN (1, 2)),
    ADD COLUMN amr jsonb NOT NULL DEFAULT '[]',   -- [{"method": ..., "at": ...}, ...]
    ADD COLUMN auth_time timestamptz;             -- the last factor shown (NULL: created_at)
ALTER TABLE auth.api_keys
    ADD COLUMN aal smallint NOT NULL DEFAULT 1 CONSTRAINT api_keys_aal_check CHECK (aal IN (1, 2));
ALTER TABLE auth.organizations
    ADD COLUMN require_mfa boolean NOT NULL DEFAULT false;

CREATE TABLE auth.mfa_factors (
    id            uuid PRIMARY KEY DEFAULT pg_catalog.gen_random_uuid(),
    user_id       uuid NOT NULL REFERENCES auth.users (id) ON DELETE CASCADE,
    type          text NOT NULL CONSTRAINT mfa_factors_type_check CHECK (type IN ('totp', 'email')),
    label         text,
    -- the TOTP seed, AES-256-GCM under the "totp" key (keys at rest), the
    -- row's id as associated data; never in clear
    secret_sealed bytea,
    algorithm     text NOT NULL DEFAULT 'SHA1'
        CONSTRAINT mfa_factors_algorithm_check CHECK (algorithm IN ('SHA1', 'SHA256', 'SHA512')),
    digits        integer NOT NULL DEFAULT 6 CONSTRAINT mfa_factors_digits_check CHECK (digits IN (6, 8)),
    last_step     bigint,       -- the last TOTP time step accepted: each once
    created_at    timestamptz NOT NULL DEFAULT auth.now(),
    verified_at   timestamptz,
    last_used_at  timestamptz,
    CONSTRAINT mfa_factors_secret_check CHECK ((type = 'totp') = (secret_sealed IS NOT NULL))
);
CREATE INDEX mfa_factors_user_id_idx ON auth.mfa_factors (user_id);
CREATE UNIQUE INDEX mfa_factors_email_key ON auth.mfa_factors (user_id) WHERE type = 'email';
ALTER TABLE auth.mfa_factors ENABLE ROW LEVEL SECURITY;
SELECT pg_catalog.pg_extension_config_dump('auth.mfa_factors', '');
COMMENT ON TABLE auth.mfa_factors IS
    'second factors: TOTP (seed sealed with AES-256-GCM) and email';

CREATE TABLE auth.mfa_recovery_codes (
    id         uuid PRIMARY KEY DEFAULT pg_catalog.gen_random_uuid(),
    user_id    uuid NOT NULL REFERENCES auth.users (id) ON DELETE CASCADE,
    code_hash  bytea NOT NULL,      -- SHA-256 of "<user id>:<code>"; the code is never stored
    created_at timestamptz NOT NULL DEFAULT auth.now(),
    used_at    timestamptz,
    CONSTRAINT mfa_recovery_codes_code_hash_key UNIQUE (code_hash)
);
CREATE INDEX mfa_recovery_codes_user_id_idx ON auth.mfa_recovery_codes (user_id);
ALTER TABLE auth.mfa_recovery_codes ENABLE ROW LEVEL SECURITY;
SELECT pg_catalog.pg_extension_config_dump('auth.mfa_recovery_codes', '');
COMMENT ON TABLE auth.mfa_recovery_codes IS
    'recovery codes, single use; only their SHA-256 is kept';

-- A challenge is what a first factor yields once the user has a second:
-- an mfc_ token, single use, short-lived, of which only the SHA-256 is
-- kept, as of every one-time secret.  (Not a row of one_time_secrets:
-- those are mailed and count against the per-email request limit.)
CREATE TABLE auth.mfa_challenges (
    id              uuid PRIMARY KEY DEFAULT pg_catalog.gen_random_uuid(),
    user_id         uuid NOT NULL REFERENCES auth.users (id) ON DELETE CASCADE,
    secret_hash     bytea NOT NULL,     -- SHA-256 of the mfc_ token
    method          text NOT NULL,      -- the first factor shown
    ip              inet,
    created_at      timestamptz NOT NULL DEFAULT auth.now(),
    expires_at      timestamptz NOT NULL,
    consumed_at     timestamptz,
    email_code_hash bytea,              -- SHA-256 of "<id>:<code>" of the code mailed, if any
    email_code_expires_at timestamptz,
    CONSTRAINT mfa_challenges_secret_hash_key UNIQUE (secret_hash)
);
CREATE INDEX mfa_challenges_user_id_idx ON auth.mfa_challenges (user_id);
ALTER TABLE auth.mfa_challenges ENABLE ROW LEVEL SECURITY;
SELECT pg_catalog.pg_extension_config_dump('auth.mfa_challenges', '');
COMMENT ON TABLE auth.mfa_challenges IS
    'MFA challenges (mfc_...) a first factor yields; only their SHA-256 is kept';

-- The identity accessors of assurance, in C; not SECURITY DEFINER, so a
-- policy pays no user switch per row.
CREATE FUNCTION auth.aal() RETURNS text
    AS 'MODULE_PATHNAME', 'auth_aal'
    LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION auth.aal() IS
    'assurance level of the identity: aal2 after a second factor, aal1 otherwise, NULL when nobody is authenticated';

CREATE FUNCTION auth.amr() RETURNS jsonb
    AS 'MODULE_PATHNAME', 'auth_amr'
    LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION auth.amr() IS
    'the factors of the session behind the identity, each {"method", "at"}; NULL when nobody or not a session';

CREATE FUNCTION auth.auth_time() RETURNS timestamptz
    AS 'MODULE_PATHNAME', 'auth_auth_time'
    LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION auth.auth_time() IS
    'when the last factor of the session behind the identity was shown; NULL when nobody or not a session';

CREATE FUNCTION auth._set_identity_aal(aal integer) RETURNS void
    AS 'MODULE_PATHNAME', 'auth_set_identity_aal'
    LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION auth._set_identity_aal(integer) IS
    'internal: puts an assurance level into the current identity, for the transaction';
REVOKE ALL ON FUNCTION auth._set_identity_aal(integer) FROM PUBLIC;

CREATE FUNCTION auth._mfa_blocks(org_id uuid) RETURNS boolean
    AS 'MODULE_PATHNAME', 'auth_mfa_blocks'
    LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION auth._mfa_blocks(uuid) IS
    'internal: whether the caller is a member of the organization that only aal2 would let act';
REVOKE ALL ON FUNCTION auth._mfa_blocks(uuid) FROM PUBLIC;

CREATE FUNCTION auth._totp_new_secret(factor_id uuid, OUT secret text, OUT sealed bytea)
    AS 'MODULE_PATHNAME', 'auth_totp_new_secret'
    LANGUAGE C VOLATILE STRICT;
COMMENT ON FUNCTION auth._totp_new_secret(uuid) IS
    'internal: a fresh 160-bit TOTP seed, in base32 and sealed for the factor';
REVOKE ALL ON FUNCTION auth._totp_new_secret(uuid) FROM PUBLIC;

CREATE FUNCTION auth._totp_seal(factor_id uuid, secret text) RETURNS bytea
    AS 'MODULE_PATHNAME', 'auth_totp_seal'
    LANGUAGE C VOLATILE STRICT;
COMMENT ON FUNCTION auth._totp_seal(uuid, text) IS
    'internal: a base32 TOTP seed sealed for the factor; 22023 when not 16 to 64 bytes of base32';
REVOKE ALL ON FUNCTION auth._totp_seal(uuid, text) FROM PUBLIC;

CREATE FUNCTION auth._totp_match(factor_id uuid, sealed bytea, algorithm text, digits integer,
                                 code text, at timestamptz, "window" integer) RETURNS bigint
    AS 'MODULE_PATHNAME', 'auth_totp_match'
    LANGUAGE C STABLE STRICT;
COMMENT ON FUNCTION auth._totp_match(uuid, bytea, text, integer, text, timestamptz, integer) IS
    'internal: the RFC 6238 time step within window steps of at whose code is code, NULL when none';
REVOKE ALL ON FUNCTION auth._totp_match(uuid, bytea, text, integer, text, timestamptz, integer) FROM PUBLIC;

CREATE FUNCTION auth._recovery_code() RETURNS text
    AS 'MODULE_PATHNAME', 'auth_recovery_code'
    LANGUAGE C VOLATILE;
COMMENT ON FUNCTION auth._recovery_code() IS
    'internal: a recovery code of 80 random bits (xxxx-xxxx-xxxx-xxxx)';
REVOKE ALL ON FUNCTION auth._recovery_code() FROM PUBLIC;

-- Percent-encoding (RFC 3986 unreserved characters kept) for the URI.
CREATE FUNCTION auth._percent_encode(value text) RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT coalesce(string_agg(CASE WHEN c ~ '^[A-Za-z0-9._~-]$' THEN c
                                    ELSE regexp_replace(upper(encode(convert_to(c, 'UTF8'), 'hex')),
                                                        '(..)', '%\1', 'g') END,
                               '' ORDER BY n), '')
      FROM regexp_split_to_table(value, '') WITH ORDINALITY AS t(c, n)
$$;
COMMENT ON FUNCTION auth._percent_encode(text) IS
    'internal: a text percent-encoded for a URI';
REVOKE ALL ON FUNCTION auth._percent_encode(text) FROM PUBLIC;

-- Whether the user has a verified second factor.
CREATE FUNCTION auth._has_mfa(user_id uuid) RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT EXISTS (SELECT FROM auth.mfa_factors f
                    WHERE f.user_id = _has_mfa.user_id AND f.verified_at IS NOT NULL)
$$;
COMMENT ON FUNCTION auth._has_mfa(uuid) IS
    'internal: whether a user has a verified second factor';
REVOKE ALL ON FUNCTION auth._has_mfa(uuid) FROM PUBLIC;

-- What every first factor ends in: a session (aal1, its method in amr)
-- when the user has no second factor, otherwise no session but an MFA
-- challenge (token NULL, mfa_challenge set) for auth.verify_mfa.  Later
-- sign-in paths call it too.
CREATE FUNCTION auth._open_first_factor_session(user_id uuid, method text, ip inet, user_agent text)
RETURNS auth.session_grant
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    v_now timestamptz := auth.now();
    v_grant auth.session_grant;
    v_banned timestamptz;
BEGIN
    IF auth._has_mfa(user_id) THEN
        -- a suspended user gets no challenge (auth._issue_session refuses
        -- the session alike)
        SELECT u.banned_until INTO v_banned FROM auth.users u WHERE u.id = user_id;
        IF v_banned > v_now THEN
            RAISE EXCEPTION USING ERRCODE = '28000', MESSAGE = 'account is suspended',
                DETAIL = CASE WHEN v_banned < 'infinity'
                              THEN format('The suspension ends at %s.', v_banned)
                              ELSE 'The suspension has no end date.' END;
        END IF;
        -- the user's challenges used or dead go as a new one comes
        DELETE FROM auth.mfa_challenges c
         WHERE c.user_id = user_id AND (c.consumed_at IS NOT NULL OR c.expires_at < v_now);
        v_grant.user_id := user_id;
        v_grant.mfa_challenge := auth._generate_token('mfc');
        INSERT INTO auth.mfa_challenges (user_id, secret_hash, method, ip, created_at, expires_at)
        VALUES (user_id, auth._token_hash(v_grant.mfa_challenge, 'mfc'), method, ip, v_now,
                v_now + auth._setting_interval('auth.mfa_challenge_ttl'));
        RETURN v_grant;
    END IF;
    RETURN auth._issue_session_with(user_id, NULL, ip, user_agent, 1::smallint,
                                    jsonb_build_array(jsonb_build_object('method', method, 'at', v_now)),
                                    v_now);
END
$$;
COMMENT ON FUNCTION auth._open_first_factor_session(uuid, text, inet, text) IS
    'internal: the session a first factor opens, or only an MFA challenge when the user has a second factor';
REVOKE ALL ON FUNCTION auth._open_first_factor_session(uuid, text, inet, text) FROM PUBLIC;

-- An API key carries the assurance of the identity that makes it (aal1
-- when an admin makes one for a user).
CREATE FUNCTION auth._api_key_aal() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    NEW.aal := CASE WHEN auth.aal() = 'aal2' AND auth.uid() = NEW.user_id
                     AND (EXISTS (SELECT FROM auth.sessions s
                                   WHERE s.id = auth.session_id() AND s.aal = 2)
                          OR EXISTS (SELECT FROM auth.api_keys k
                                      WHERE k.id = auth.api_key_id() AND k.aal = 2))
                    THEN 2 ELSE 1 END;
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION auth._api_key_aal() IS
    'internal: gives a new API key the assurance level of the identity creating it';
REVOKE ALL ON FUNCTION auth._api_key_aal() FROM PUBLIC;
CREATE TRIGGER api_keys_take_aal
    BEFORE INSERT ON auth.api_keys
    FOR EACH ROW EXECUTE FUNCTION auth._api_key_aal();

-- The user of the current session for changes to second factors: 42501
-- for an API key; once the user has a verified factor, 42501 MFA_REQUIRED
-- below aal2, so a stolen aal1 session cannot add or strip factors.
CREATE FUNCTION auth._require_mfa_session() RETURNS uuid
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_uid uuid := auth._require_account_owner('manage second factors');
BEGIN
    IF auth.session_id() IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = '42501', MESSAGE = 'second factors are managed from a session';
    END IF;
    RETURN v_uid;
END
$$;
COMMENT ON FUNCTION auth._require_mfa_session() IS
    'internal: the session''s user, or 42501 (an API key, impersonation; MFA_REQUIRED below aal2 once the user has a factor)';
REVOKE ALL ON FUNCTION auth._require_mfa_session() FROM PUBLIC;

-- A second-factor try counted in shared memory (src/attempt_ledger.c):
-- started before the code is checked, ended passed (a right code counts
-- nothing) or failed; anything else that ends it (an error, a cancel, a
-- rollback, an exit) fails it.  A failed try counts at once and a worker
-- writes it to auth.attempts.  NULL when auth is not preloaded.
CREATE FUNCTION auth._attempt_try(request jsonb) RETURNS jsonb
    AS 'MODULE_PATHNAME', 'auth_attempt_try'
    LANGUAGE C VOLATILE STRICT;
COMMENT ON FUNCTION auth._attempt_try(jsonb) IS
    'internal: starts a try of the keys of an attempts request, counted in shared memory; the answers the worker would give, NULL when auth is not preloaded';
REVOKE ALL ON FUNCTION auth._attempt_try(jsonb) FROM PUBLIC;

CREATE FUNCTION auth._attempt_try_end(passed boolean) RETURNS void
    AS 'MODULE_PATHNAME', 'auth_attempt_try_end'
    LANGUAGE C VOLATILE;
COMMENT ON FUNCTION auth._attempt_try_end(boolean) IS
    'internal: ends the backend''s try: passed counts nothing, else it is a failed attempt';
REVOKE ALL ON FUNCTION auth._attempt_try_end(boolean) FROM PUBLIC;

-- Counts a try of a second factor before it is checked, per challenge
-- (when there is one) and per user: in shared memory when auth is
-- preloaded (a right code then costs no round trip, a wrong one is
-- written by a worker), else durably in one round trip to a worker.
-- PT429 past auth.mfa_max_attempts.  The caller ends the try with
-- auth._attempt_try_end(true) once the code was right, or
-- auth._mfa_failed.
CREATE FUNCTION auth._count_mfa_attempt(user_id uuid, challenge_id uuid) RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_max int := auth._setting_int('auth.mfa_max_attempts');
    v_user jsonb := jsonb_build_object(
        'scope', 'mfa', 'key', encode(uuid_send(user_id), 'hex'),
        'window', auth._setting_interval('auth.failed_sign_in_window'), 'max', v_max);
    v_request jsonb;
    v_tries jsonb;
    v_try jsonb;
BEGIN
    -- the challenge first: a challenge used up is refused without counting
    -- against the user
    v_request := jsonb_build_object(
        'op', 'attempts', 'at', auth._clock(),
        'attempts', CASE WHEN challenge_id IS NULL THEN jsonb_build_array(v_user)
                         ELSE jsonb_build_array(
                                  jsonb_build_object(
                                      'scope', 'mfa_challenge',
                                      'key', encode(uuid_send(challenge_id), 'hex'),
                                      'window', auth._setting_interval('auth.mfa_challenge_ttl')
                                                + interval '1 day',
                                      'max', v_max),
                                  v_user) END);
    v_tries := coalesce(auth._attempt_try(v_request), auth._autonomous(v_request))->'attempts';
    IF challenge_id IS NOT NULL THEN
        v_try := v_tries->0;
        IF (v_try->>'allowed')::boolean IS NOT TRUE THEN
            -- not retryable as it is (no retry time): the challenge is dead
            RAISE EXCEPTION USING ERRCODE = 'PT429', MESSAGE = 'too many wrong codes',
                DETAIL = 'This challenge is used up.', HINT = 'Sign in again.';
        END IF;
    END IF;
    v_try := v_tries->CASE WHEN challenge_id IS NULL THEN 0 ELSE 1 END;
    IF (v_try->>'allowed')::boolean IS NOT TRUE THEN
        RAISE EXCEPTION USING ERRCODE = 'PT429', MESSAGE = 'too many wrong second-factor codes for this account',
            DETAIL = format('Second factors for this account are locked until %s.', v_try->>'retry_at'),
            HINT = auth._retry_hint((v_try->>'retry_at')::timestamptz, auth._clock());
    END IF;
END
$$;
COMMENT ON FUNCTION auth._count_mfa_attempt(uuid, uuid) IS
    'internal: counts a second-factor try per challenge and per user before it is checked (in shared memory when preloaded, else by a worker); PT429 past auth.mfa_max_attempts';
REVOKE ALL ON FUNCTION auth._count_mfa_attempt(uuid, uuid) FROM PUBLIC;

-- A wrong second factor: the try counts as failed, and is audited
-- outside the caller's transaction, which the refusal rolls back (no code
-- in the row).
CREATE FUNCTION auth._mfa_failed(user_id uuid, ip inet, detail jsonb) RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    -- outside the block below: a failure not written in time is 53000
    PERFORM auth._attempt_try_end(false);
    BEGIN
        PERFORM auth._autonomous(jsonb_build_object(
            'op', 'audit', 'event', 'mfa_failed', 'user_id', user_id, 'ip', ip,
            'session_id', auth.session_id(), 'actor', auth._audit_actor(),
            'at', auth._clock(), 'notify', auth._setting_bool('auth.notify_events'),
            'detail', detail));
    EXCEPTION WHEN insufficient_resources THEN
        RAISE WARNING 'failed second factor not audited: %', SQLERRM;
    END;
END
$$;
COMMENT ON FUNCTION auth._mfa_failed(uuid, inet, jsonb) IS
    'internal: counts a wrong second factor as a failed try and audits it durably';
REVOKE ALL ON FUNCTION auth._mfa_failed(uuid, inet, jsonb) FROM PUBLIC;

-- Accepts a TOTP code of one factor: the step it matches is taken with one
-- UPDATE ... WHERE last_step < step, so a code (and any earlier one) is
-- accepted once, of two concurrent submissions exactly one.
CREATE FUNCTION auth._accept_totp(factor auth.mfa_factors, code text) RETURNS boolean
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_step bigint := auth._totp_match(factor.id, factor.secret_sealed, factor.algorithm,
                                      factor.digits, code, auth.now(),
                                      auth._setting_int('auth.totp_window'));
BEGIN
    IF v_step IS NULL THEN
        RETURN false;
    END IF;
    UPDATE auth.mfa_factors f SET last_step = v_step, last_used_at = auth.now()
     WHERE f.id = factor.id AND (f.last_step IS NULL OR f.last_step < v_step);
    RETURN FOUND;
END
$$;
COMMENT ON FUNCTION auth._accept_totp(auth.mfa_factors, text) IS
    'internal: checks a TOTP code of a factor and takes its time step, once';
REVOKE ALL ON FUNCTION auth._accept_totp(auth.mfa_factors, text) FROM PUBLIC;

-- Checks a second factor of a user (after the try was counted): a TOTP
-- code of a verified factor, the email code of the challenge, or an
-- unused recovery code, each single use.  Returns the method, NULL when
-- the code is none of them.
CREATE FUNCTION auth._check_second_factor(user_id uuid, code text, challenge auth.mfa_challenges)
RETURNS text
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    v_code text := btrim(code);
    v_factor auth.mfa_factors;
    v_recovery text;
    v_id uuid;
BEGIN
    IF v_code ~ '^[0-9]{6}([0-9]{2})?$' THEN
        FOR v_factor IN SELECT * FROM auth.mfa_factors f
                         WHERE f.user_id = user_id AND f.type = 'totp' AND f.verified_at IS NOT NULL
                         ORDER BY f.created_at LOOP
            IF auth._accept_totp(v_factor, v_code) THEN
                RETURN 'totp';
            END IF;
        END LOOP;
        -- never after an email first factor (create_mfa_email_code refuses
        -- to make one; a code made before is refused here)
        IF challenge.email_code_hash IS NOT NULL AND challenge.method IN ('magic_link', 'email_code') THEN
            RAISE EXCEPTION USING ERRCODE = '42501',
                MESSAGE = 'the email cannot be the second factor after an email sign-in',
                HINT = 'Use a TOTP or recovery code.';
        END IF;
        IF challenge.email_code_hash IS NOT NULL AND challenge.email_code_expires_at > auth.now()
           AND auth._secret_equal(challenge.email_code_hash,
                                  sha256(convert_to(challenge.id::text || ':' || v_code, 'UTF8'))) THEN
            UPDATE auth.mfa_challenges c SET email_code_hash = NULL, email_code_expires_at = NULL
             WHERE c.id = challenge.id AND c.email_code_hash = challenge.email_code_hash;
            IF FOUND THEN
                UPDATE auth.mfa_factors f SET last_used_at = auth.now()
                 WHERE f.user_id = user_id AND f.type = 'email';
                RETURN 'email';
            END IF;
        END IF;
        RETURN NULL;
    END IF;
    v_recovery := lower(regexp_replace(v_code, '[-[:space:]]', '', 'g'));
    IF v_recovery !~ '^[a-z2-7]{16}$' THEN
        RETURN NULL;
    END IF;
    UPDATE auth.mfa_recovery_codes r SET used_at = auth.now()
     WHERE r.code_hash = sha256(convert_to(user_id::text || ':' || v_recovery, 'UTF8'))
       AND r.user_id = user_id AND r.used_at IS NULL
    RETURNING r.id INTO v_id;
    IF v_id IS NULL THEN
        RETURN NULL;
    END IF;
    PERFORM auth._audit('recovery_code_used', user_id, auth.session_id(), NULL,
                        jsonb_build_object('remaining',
                            (SELECT count(*) FROM auth.mfa_recovery_codes r
                              WHERE r.user_id = user_id AND r.used_at IS NULL)));
    RETURN 'recovery_code';
END
$$;
COMMENT ON FUNCTION auth._check_second_factor(uuid, text, auth.mfa_challenges) IS
    'internal: checks and uses a TOTP, email or recovery code of a user; the method, or NULL';
REVOKE ALL ON FUNCTION auth._check_second_factor(uuid, text, auth.mfa_challenges) FROM PUBLIC;

-- Whether a REPEATABLE READ downgrade missed an aal2 session or key
-- (src/lifecycle.c).
CREATE FUNCTION auth._aal2_missed(user_id uuid) RETURNS boolean
    AS 'MODULE_PATHNAME', 'auth_aal2_missed'
    LANGUAGE C VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION auth._aal2_missed(uuid) IS
    'internal: whether, in the latest snapshot, the user has an aal2 session or key and no verified factor';
REVOKE ALL ON FUNCTION auth._aal2_missed(uuid) FROM PUBLIC;

-- Downgrades the user's sessions and API keys to aal1 once they have no
-- verified factor left (removed, or reset by an admin); the current
-- identity at once, a connection-scope one at its next transaction.
CREATE FUNCTION auth._mfa_factors_gone(user_id uuid) RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    v_first_factors jsonpath := '$[*] ? (!(@.method == "totp" || @.method == "recovery_code" || @.method == "email"))';
BEGIN
    -- first the rows a second factor being shown right now holds (a
    -- recovery code, a challenge): its commit goes through before this
    -- takes the lock that commit needs
    PERFORM FROM auth.mfa_recovery_codes r WHERE r.user_id = user_id FOR UPDATE;
    PERFORM FROM auth.mfa_challenges c WHERE c.user_id = user_id AND c.consumed_at IS NULL FOR UPDATE;
    -- two removals at once (two factors, or a factor and an email
    -- change) each see the other's factor: the second waits here, then
    -- looks again; a REPEATABLE READ one that cannot see it refuses
    PERFORM auth._lock_user_credentials(user_id, true);
    IF NOT auth._has_mfa(user_id) THEN
        DELETE FROM auth.mfa_recovery_codes r WHERE r.user_id = user_id;
        UPDATE auth.mfa_challenges c SET consumed_at = auth.now()
         WHERE c.user_id = user_id AND c.consumed_at IS NULL;
        UPDATE auth.users u SET credentials_epoch = u.credentials_epoch + 1 WHERE u.id = user_id;
        -- the second-factor entries of amr go with aal2
        UPDATE auth.sessions s SET aal = 1, amr = coalesce(jsonb_path_query_array(s.amr, v_first_factors), '[]')
         WHERE s.user_id = user_id
           AND (s.aal = 2 OR jsonb_path_query_array(s.amr, v_first_factors) <> s.amr);
        UPDATE auth.api_keys k SET aal = 1 WHERE k.user_id = user_id AND k.aal = 2;
        IF auth.uid() = user_id THEN
            PERFORM auth._set_identity_aal(1);
        END IF;
    END IF;
    -- a REPEATABLE READ snapshot that cannot see a factor removed, or a
    -- session or key raised, meanwhile
    IF auth._aal2_missed(user_id) THEN
        RAISE EXCEPTION USING ERRCODE = '40001',
            MESSAGE = 'a session or key reached aal2 while its second factors were removed',
            HINT = 'Retry the transaction.';
    END IF;
END
$$;
COMMENT ON FUNCTION auth._mfa_factors_gone(uuid) IS
    'internal: once a user has no verified factor, their sessions and keys drop to aal1 and their recovery codes and challenges go';
REVOKE ALL ON FUNCTION auth._mfa_factors_gone(uuid) FROM PUBLIC;

-- A session raised to aal2 by a second factor: method and time in amr.
CREATE FUNCTION auth._raise_session(session_id uuid, method text) RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_now timestamptz := auth.now();
BEGIN
    UPDATE auth.sessions s
       SET aal = 2, auth_time = v_now,
           amr = coalesce((SELECT jsonb_agg(e.value ORDER BY e.ord)
                             FROM jsonb_array_elements(s.amr) WITH ORDINALITY AS e (value, ord)
                            WHERE e.value->>'method' IS DISTINCT FROM _raise_session.method),
                          '[]')
                 || jsonb_build_array(jsonb_build_object('method', method, 'at', v_now))
     WHERE s.id = _raise_session.session_id;
END
$$;
COMMENT ON FUNCTION auth._raise_session(uuid, text) IS
    'internal: records a second factor on a session (aal2)';
REVOKE ALL ON FUNCTION auth._raise_session(uuid, text) FROM PUBLIC;

CREATE FUNCTION auth.enroll_totp(label text DEFAULT NULL,
                                 OUT factor_id uuid, OUT secret text, OUT uri text)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    v_uid uuid := auth._require_mfa_session();
    v_email text;
    v_sealed bytea;
    v_issuer text := current_setting('auth.totp_issuer');
BEGIN
    PERFORM auth._check_length(label, 'factor label');
    IF (SELECT count(*) FROM auth.mfa_factors f WHERE f.user_id = v_uid) >= auth._limit('factors') THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'too many factors',
            DETAIL = format('A user has at most %s factors; remove one first.', auth._limit('factors'));
    END IF;
    SELECT u.email INTO v_email FROM auth.users u WHERE u.id = v_uid;
    factor_id := gen_random_uuid();
    SELECT n.secret, n.sealed INTO secret, v_sealed FROM auth._totp_new_secret(factor_id) n;
    INSERT INTO auth.mfa_factors (id, user_id, type, label, secret_sealed, created_at)
    VALUES (factor_id, v_uid, 'totp', nullif(btrim(label), ''), v_sealed, auth.now());
    uri := format('otpauth://totp/%s:%s?secret=%s&issuer=%s&algorithm=SHA1&digits=6&period=30',
                  auth._percent_encode(v_issuer), auth._percent_encode(v_email), secret,
                  auth._percent_encode(v_issuer));
    PERFORM auth._audit('factor_enrolled', v_uid, auth.session_id(), NULL,
                        jsonb_build_object('factor_id', factor_id, 'type', 'totp'));
END
$$;
COMMENT ON FUNCTION auth.enroll_totp(text) IS
    'starts a TOTP factor for the session''s user: its id, base32 secret and otpauth:// URI, shown once (the seed is stored sealed); unverified until auth.verify_totp_enrollment; 42501 for an API key, or below aal2 when the user has a factor';

CREATE FUNCTION auth.verify_totp_enrollment(factor_id uuid, code text) RETURNS boolean
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    v_uid uuid := auth._require_mfa_session();
    v_factor auth.mfa_factors;
BEGIN
    SELECT * INTO v_factor FROM auth.mfa_factors f
     WHERE f.id = factor_id AND f.user_id = v_uid AND f.type = 'totp' AND f.verified_at IS NULL;
    IF v_factor.id IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'no such unverified factor';
    END IF;
    IF code IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'code is required';
    END IF;
    PERFORM auth._check_length(code, 'second-factor code');
    PERFORM auth._count_mfa_attempt(v_uid, NULL);
    IF NOT auth._accept_totp(v_factor, btrim(code)) THEN
        PERFORM auth._mfa_failed(v_uid, NULL, jsonb_build_object('factor_id', factor_id,
                                                                 'stage', 'enrollment'));
        RETURN false;
    END IF;
    PERFORM auth._attempt_try_end(true);
    UPDATE auth.mfa_factors f SET verified_at = auth.now() WHERE f.id = factor_id;
    DELETE FROM auth.attempts a WHERE a.scope = 'mfa' AND a.key = uuid_send(v_uid);
    -- the code just shown is a second factor: the session is aal2 now
    PERFORM auth._raise_session(auth.session_id(), 'totp');
    PERFORM auth._set_identity_aal(2);
    PERFORM auth._audit('factor_verified', v_uid, auth.session_id(), NULL,
                        jsonb_build_object('factor_id', factor_id, 'type', 'totp'));
    RETURN true;
END
$$;
COMMENT ON FUNCTION auth.verify_totp_enrollment(uuid, text) IS
    'verifies a new TOTP factor with a code from the authenticator, which raises the session to aal2; false for a wrong code; PT429 past auth.mfa_max_attempts';

CREATE FUNCTION auth.verify_mfa(challenge text, code text, ip inet DEFAULT NULL,
                                user_agent text DEFAULT NULL)
RETURNS auth.session_grant
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    v_ch auth.mfa_challenges;
    v_method text;
    v_grant auth.session_grant;
    v_now timestamptz := auth.now();
BEGIN
    SELECT * INTO v_ch FROM auth.mfa_challenges c
     WHERE c.secret_hash = auth._token_hash(challenge, 'mfc')
       AND c.consumed_at IS NULL AND c.expires_at > v_now;
    IF v_ch.id IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = '28000', MESSAGE = 'invalid or expired MFA challenge',
            HINT = 'Sign in again.';
    END IF;
    IF code IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'code is required';
    END IF;
    PERFORM auth._check_length(code, 'second-factor code');
    PERFORM auth._count_mfa_attempt(v_ch.user_id, v_ch.id);
    v_method := auth._check_second_factor(v_ch.user_id, code, v_ch);
    IF v_method IS NULL THEN
        PERFORM auth._mfa_failed(v_ch.user_id, ip, jsonb_build_object('challenge_id', v_ch.id));
        RAISE EXCEPTION USING ERRCODE = '28000', MESSAGE = 'invalid second-factor code';
    END IF;
    PERFORM auth._attempt_try_end(true);
    -- once: of two redemptions of one challenge, one opens a session
    UPDATE auth.mfa_challenges c SET consumed_at = v_now
     WHERE c.id = v_ch.id AND c.consumed_at IS NULL;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = '28000', MESSAGE = 'invalid or expired MFA challenge',
            HINT = 'Sign in again.';
    END IF;
    DELETE FROM auth.attempts a WHERE a.scope = 'mfa' AND a.key = uuid_send(v_ch.user_id);
    v_grant := auth._issue_session_with(
        v_ch.user_id, NULL, ip, user_agent, 2::smallint,
        jsonb_build_array(jsonb_build_object('method', v_ch.method, 'at', v_ch.created_at),
                          jsonb_build_object('method', v_method, 'at', v_now)),
        v_now);
    PERFORM auth._audit('mfa_verified', v_ch.user_id, v_grant.session_id, ip,
                        jsonb_build_object('method', v_method, 'first_factor', v_ch.method,
                                           'challenge_id', v_ch.id));
    RETURN v_grant;
END
$$;
COMMENT ON FUNCTION auth.verify_mfa(text, text, inet, text) IS
    'redeems an MFA challenge with a TOTP, email or recovery code and opens an aal2 session; 28000 when the challenge is invalid or expired or the code wrong, PT429 past auth.mfa_max_attempts';

CREATE FUNCTION auth.step_up_mfa(code text) RETURNS boolean
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_uid uuid := auth._require_account_uid();
    v_sid uuid := auth.session_id();
    v_method text;
BEGIN
    PERFORM auth._refuse_impersonation('step up');
    IF v_sid IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = '42501', MESSAGE = 'a step-up needs a session';
    END IF;
    IF NOT auth._has_mfa(v_uid) THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'no verified second factor',
            HINT = 'Enroll one with auth.enroll_totp().';
    END IF;
    IF code IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'code is required';
    END IF;
    PERFORM auth._check_length(code, 'second-factor code');
    PERFORM auth._count_mfa_attempt(v_uid, NULL);
    v_method := auth._check_second_factor(v_uid, code, NULL);
    IF v_method IS NULL THEN
        PERFORM auth._mfa_failed(v_uid, NULL, jsonb_build_object('stage', 'step_up'));
        RETURN false;
    END IF;
    PERFORM auth._attempt_try_end(true);
    DELETE FROM auth.attempts a WHERE a.scope = 'mfa' AND a.key = uuid_send(v_uid);
    PERFORM auth._raise_session(v_sid, v_method);
    PERFORM auth._set_identity_aal(2);
    PERFORM auth._audit('mfa_verified', v_uid, v_sid, NULL,
                        jsonb_build_object('method', v_method, 'step_up', true));
    RETURN true;
END
$$;
COMMENT ON FUNCTION auth.step_up_mfa(text) IS
    'raises the current session to aal2 with a TOTP or recovery code (method and time in amr); false for a wrong code; PT429 past auth.mfa_max_attempts';

CREATE FUNCTION auth.generate_recovery_codes() RETURNS text[]
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_uid uuid := auth._require_mfa_session();
    v_codes text[] := '{}';
    v_code text;
BEGIN
    -- made under the session as a key is: a removal of the last factor
    -- or reset_mfa committed before ours fails it at commit (40001), and
    -- one committed before this check leaves no factor and no aal2 here
    PERFORM auth._creating_credential(v_uid,
        (SELECT u.credentials_epoch FROM auth.users u WHERE u.id = v_uid), auth.session_id());
    IF auth.aal() IS DISTINCT FROM 'aal2' OR NOT auth._has_mfa(v_uid)
       OR NOT EXISTS (SELECT FROM auth.sessions s WHERE s.id = auth.session_id() AND s.aal = 2) THEN
        RAISE EXCEPTION USING ERRCODE = '42501', MESSAGE = 'a second factor is required',
            DETAIL = 'MFA_REQUIRED',
            HINT = 'Enroll and verify a TOTP factor first.';
    END IF;
    DELETE FROM auth.mfa_recovery_codes r WHERE r.user_id = v_uid;
    FOR i IN 1..10 LOOP
        v_code := auth._recovery_code();
        INSERT INTO auth.mfa_recovery_codes (user_id, code_hash, created_at)
        VALUES (v_uid, sha256(convert_to(v_uid::text || ':' || replace(v_code, '-', ''), 'UTF8')),
                auth.now());
        v_codes := v_codes || v_code;
    END LOOP;
    PERFORM auth._audit('recovery_codes_generated', v_uid, auth.session_id(), NULL,
                        jsonb_build_object('count', 10));
    RETURN v_codes;
END
$$;
COMMENT ON FUNCTION auth.generate_recovery_codes() IS
    '10 single-use recovery codes, shown once (stored hashed), voiding the previous set; needs an aal2 session (42501 MFA_REQUIRED)';

CREATE FUNCTION auth.list_factors()
RETURNS TABLE (id uuid, type text, label text, verified boolean,
               created_at timestamptz, last_used_at timestamptz)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT f.id, f.type, f.label, f.verified_at IS NOT NULL, f.created_at, f.last_used_at
      FROM auth.mfa_factors f
     WHERE f.user_id = auth._require_account_uid()
     ORDER BY f.created_at, f.id
$$;
COMMENT ON FUNCTION auth.list_factors() IS
    'the authenticated user''s second factors, never a secret';

CREATE FUNCTION auth.remove_factor(factor_id uuid) RETURNS boolean
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    v_uid uuid := auth._require_mfa_session();
    v_type text;
BEGIN
    DELETE FROM auth.mfa_factors f WHERE f.id = factor_id AND f.user_id = v_uid
    RETURNING f.type INTO v_type;
    IF v_type IS NULL THEN
        RETURN false;
    END IF;
    PERFORM auth._audit('factor_removed', v_uid, auth.session_id(), NULL,
                        jsonb_build_object('factor_id', factor_id, 'type', v_type));
    PERFORM auth._mfa_factors_gone(v_uid);
    RETURN true;
END
$$;
COMMENT ON FUNCTION auth.remove_factor(uuid) IS
    'removes one of the user''s factors; needs aal2 while the user has a verified factor (42501 MFA_REQUIRED); without one left, sessions and keys drop to aal1 and recovery codes go; false when not theirs';

CREATE FUNCTION auth.enable_email_factor() RETURNS uuid
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_uid uuid := auth._require_mfa_session();
    v_id uuid;
BEGIN
    IF NOT EXISTS (SELECT FROM auth.users u WHERE u.id = v_uid AND u.email_verified_at IS NOT NULL) THEN
        RAISE EXCEPTION USING ERRCODE = '42501', MESSAGE = 'email is not verified',
            HINT = 'Verify the email before using it as a second factor.';
    END IF;
    INSERT INTO auth.mfa_factors (user_id, type, verified_at, created_at)
    VALUES (v_uid, 'email', auth.now(), auth.now())
    ON CONFLICT (user_id) WHERE type = 'email' DO NOTHING
    RETURNING id INTO v_id;
    IF v_id IS NULL THEN
        SELECT f.id INTO v_id FROM auth.mfa_factors f WHERE f.user_id = v_uid AND f.type = 'email';
    ELSE
        PERFORM auth._audit('factor_enrolled', v_uid, auth.session_id(), NULL,
                            jsonb_build_object('factor_id', v_id, 'type', 'email'));
    END IF;
    RETURN v_id;
END
$$;
COMMENT ON FUNCTION auth.enable_email_factor() IS
    'makes a code mailed to the verified email a second factor (auth.create_mfa_email_code); returns the factor; needs aal2 once the user has a factor';

CREATE FUNCTION auth.create_mfa_email_code(challenge text) RETURNS text
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_ch auth.mfa_challenges;
    v_code text;
    v_now timestamptz := auth.now();
BEGIN
    SELECT * INTO v_ch FROM auth.mfa_challenges c
     WHERE c.secret_hash = auth._token_hash(challenge, 'mfc')
       AND c.consumed_at IS NULL AND c.expires_at > v_now
       FOR NO KEY UPDATE;
    IF v_ch.id IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = '28000', MESSAGE = 'invalid or expired MFA challenge',
            HINT = 'Sign in again.';
    END IF;
    IF NOT EXISTS (SELECT FROM auth.mfa_factors f WHERE f.user_id = v_ch.user_id AND f.type = 'email') THEN
        RAISE EXCEPTION USING ERRCODE = '42501', MESSAGE = 'email is not a second factor of this user',
            HINT = 'The user enables it with auth.enable_email_factor().';
    END IF;
    -- the mailbox that signed in is not a second factor as well
    IF v_ch.method IN ('magic_link', 'email_code') THEN
        RAISE EXCEPTION USING ERRCODE = '42501',
            MESSAGE = 'the email cannot be the second factor after an email sign-in',
            DETAIL = format('The first factor was %s, from the same mailbox.', v_ch.method),
            HINT = 'Use a TOTP or recovery code.';
    END IF;
    v_code := auth._generate_code();
    -- a new code replaces the previous; the tries of the challenge stay counted
    UPDATE auth.mfa_challenges c
       SET email_code_hash = sha256(convert_to(v_ch.id::text || ':' || v_code, 'UTF8')),
           email_code_expires_at = least(v_ch.expires_at,
                                         v_now + auth._setting_interval('auth.email_code_ttl'))
     WHERE c.id = v_ch.id;
    RETURN v_code;
END
$$;
COMMENT ON FUNCTION auth.create_mfa_email_code(text) IS
    'issuer: a 6-digit code for an MFA challenge, to mail to the user''s address, accepted once by auth.verify_mfa; 42501 unless the user enabled the email factor';
REVOKE ALL ON FUNCTION auth.create_mfa_email_code(text) FROM PUBLIC;

CREATE FUNCTION auth.import_totp_factor(user_id uuid, secret text, algorithm text DEFAULT 'SHA1',
                                        digits integer DEFAULT 6, label text DEFAULT NULL)
RETURNS uuid
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    v_id uuid := gen_random_uuid();
BEGIN
    IF secret IS NULL OR algorithm IS NULL OR algorithm NOT IN ('SHA1', 'SHA256', 'SHA512')
       OR digits IS NULL OR digits NOT IN (6, 8) THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'invalid TOTP factor',
            HINT = 'A base32 secret, algorithm SHA1, SHA256 or SHA512, and 6 or 8 digits.';
    END IF;
    PERFORM auth._check_length(label, 'factor label');
    IF NOT EXISTS (SELECT FROM auth.users u WHERE u.id = user_id) THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'user does not exist';
    END IF;
    INSERT INTO auth.mfa_factors (id, user_id, type, label, secret_sealed, algorithm, digits,
                                  created_at, verified_at)
    VALUES (v_id, user_id, 'totp', nullif(btrim(label), ''), auth._totp_seal(v_id, secret),
            algorithm, digits, auth.now(), auth.now());
    PERFORM auth._audit('factor_enrolled', user_id, NULL, NULL,
                        jsonb_build_object('factor_id', v_id, 'type', 'totp', 'imported', true));
    RETURN v_id;
END
$$;
COMMENT ON FUNCTION auth.import_totp_factor(uuid, text, text, integer, text) IS
    'admin: adds a verified TOTP factor with a known base32 secret (moving users from another system), SHA1, SHA256 or SHA512, 6 or 8 digits; 22023 otherwise';
REVOKE ALL ON FUNCTION auth.import_totp_factor(uuid, text, text, integer, text) FROM PUBLIC;

CREATE FUNCTION auth.reset_mfa(user_id uuid) RETURNS integer
LANGUAGE plpgsql VOLATILE STRICT SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    v_count int;
BEGIN
    IF NOT EXISTS (SELECT FROM auth.users u WHERE u.id = user_id) THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'user does not exist';
    END IF;
    DELETE FROM auth.mfa_factors f WHERE f.user_id = user_id;
    GET DIAGNOSTICS v_count = ROW_COUNT;
    PERFORM auth._mfa_factors_gone(user_id);
    PERFORM auth._audit('mfa_reset', user_id, NULL, NULL, jsonb_build_object('factors_removed', v_count));
    RETURN v_count;
END
$$;
COMMENT ON FUNCTION auth.reset_mfa(uuid) IS
    'admin: removes every factor and recovery code of a user (a lost device), whose sessions and keys drop to aal1; audited; returns how many factors';
REVOKE ALL ON FUNCTION auth.reset_mfa(uuid) FROM PUBLIC;

REVOKE ALL ON FUNCTION auth._require_permission(uuid, text) FROM PUBLIC;

CREATE OR REPLACE FUNCTION auth._require_member(org_id uuid) RETURNS uuid
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

CREATE OR REPLACE FUNCTION auth._issuer_functions() RETURNS regprocedure[]
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT ARRAY[
        'auth.create_magic_link(text, text, interval, inet)',
        'auth.create_email_code(text, text)',
        'auth.request_email_verification()',
        'auth.request_email_change(text)',
        'auth.request_password_reset(text)',
        'auth.create_mfa_email_code(text)'
    ]::regprocedure[]
$$;
COMMENT ON FUNCTION auth._issuer_functions() IS
    'internal: the issuer tier, granted by auth.grant_issuer()';
REVOKE ALL ON FUNCTION auth._issuer_functions() FROM PUBLIC;

-- issue 14: global roles and auth.has_global_permission()
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

CREATE OR REPLACE FUNCTION auth._admin_functions() RETURNS regprocedure[]
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT ARRAY[
        'auth.create_session(uuid, interval, inet, text)',
        'auth.revoke_user_sessions(uuid)',
        'auth.cleanup()',
        'auth.check()',
        'auth.allow_email(text)',
        'auth.disallow_email(text)',
        'auth.create_email_verification(uuid)',
        'auth.create_api_key_for(uuid, text, text[], interval, uuid, text, integer, interval, integer, integer, interval, jsonb)',
        'auth.set_api_key_limits(uuid, integer, interval, integer, integer, interval)',
        'auth.list_users(text, boolean, text, boolean, integer, integer)',
        'auth.create_user(text, text, text, text, boolean)',
        'auth.update_user_as_admin(uuid, text, text, text, boolean, jsonb, text)',
        'auth.set_user_password(uuid, text, boolean)',
        'auth.ban_user(uuid, timestamptz, text)',
        'auth.unban_user(uuid)',
        'auth.delete_user(uuid, uuid)',
        'auth.list_user_sessions(uuid)',
        'auth.revoke_all_sessions()',
        -- issue 11 (defined after this file: resolved when called)
        'auth.create_signing_key(text, text)',
        'auth.import_signing_key(jsonb, text)',
        'auth.rotate_signing_keys()',
        'auth.revoke_signing_key(text)',
        'auth.issue_jwt_for(uuid, text[], interval, uuid, jsonb)',
        'auth.add_issuer(text, jsonb, text[], text)',
        'auth.set_issuer_jwks(text, jsonb)',
        'auth.remove_issuer(text)',
        'auth.link_identity(text, text, uuid)',
        -- issue 12 (defined in 89_mfa.sql, before this file)
        'auth.import_totp_factor(uuid, text, text, integer, text)',
        'auth.reset_mfa(uuid)',
        -- issue 14 (likewise)
        'auth.create_global_role(text, text[])',
        'auth.set_user_role(uuid, text)',
        'auth.impersonate(uuid, text, interval)'
    ]::text[]::regprocedure[] || auth._issuer_functions()
$$;
COMMENT ON FUNCTION auth._admin_functions() IS
    'internal: the admin tier, granted by auth.grant_admin()';

-- issue 14: impersonation (auth.impersonate(), auth.impersonator_id(), the
-- impersonator in sessions and audit rows)
ALTER TABLE auth.sessions
    ADD COLUMN impersonator_id uuid REFERENCES auth.users (id) ON DELETE CASCADE,
    ADD COLUMN impersonation_reason text;
ALTER TABLE auth.audit_log ADD COLUMN impersonator_id uuid;
-- list_sessions() gains a column at the end (the definition above, which
-- cannot name the column yet, is replaced)
DROP FUNCTION auth.list_sessions();
CREATE FUNCTION auth.list_sessions()
RETURNS TABLE (id uuid, created_at timestamptz, refreshed_at timestamptz,
               expires_at timestamptz, ip inet, user_agent text, is_current boolean,
               impersonator_id uuid)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT s.id, s.created_at, s.refreshed_at, s.expires_at, s.ip, s.user_agent,
           s.id IS NOT DISTINCT FROM auth.session_id(), s.impersonator_id
      FROM auth.sessions s
     WHERE s.user_id = auth._require_account_uid() AND s.revoked_at IS NULL
       AND s.expires_at > auth.now() AND s.created_at > auth._sessions_not_before()
     ORDER BY s.created_at DESC
$$;
COMMENT ON FUNCTION auth.list_sessions() IS
    'the authenticated user''s live sessions, never their tokens; impersonator_id names who impersonates them in an impersonation session';

-- impersonation: an administrator acts as a user for a limited time, through
-- a session of that user's that records who impersonates and why
-- (auth.sessions.impersonator_id; auth.impersonator_id() reads it,
-- src/account.c); every audit row written meanwhile names both
-- (auth.audit_log.impersonator_id, filled by auth._audit()).

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

CREATE OR REPLACE FUNCTION auth.rotate_api_key(key_id uuid, grace interval DEFAULT '0') RETURNS text
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    v_old auth.api_keys := auth._lock_manageable_api_key(key_id);
    v_now timestamptz := auth.now();
    v_new record;
BEGIN
    PERFORM auth._refuse_impersonation('rotate API keys');
    IF grace IS NULL OR grace < interval '0' OR grace > interval '30 days' THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'grace must be between 0 and 30 days';
    END IF;
    v_new := auth._generate_api_key(v_old.prefix);
    UPDATE auth.api_keys k
       SET key_hash = v_new.key_hash, start = left(v_new.key, length(k.prefix) + 5),
           previous_key_hash = CASE WHEN grace > interval '0' THEN k.key_hash END,
           previous_key_expires_at = CASE WHEN grace > interval '0' THEN v_now + grace END,
           updated_at = v_now
     WHERE k.id = key_id;
    PERFORM auth._audit('api_key_rotated', v_old.user_id, auth.session_id(), NULL,
                        jsonb_build_object('key_id', key_id, 'grace', grace));
    RETURN v_new.key;
END
$$;
COMMENT ON FUNCTION auth.rotate_api_key(uuid, interval) IS
    'gives a key a new secret and returns it once; the old one works until grace (0 to 30 days) ends';

-- issue 14: anonymous users (sign_in_anonymously, link_email_password, the
-- upgrade by magic link or code, cleanup of idle ones)
-- anonymous users: a user without an email (is_anonymous) signed in by
-- auth.sign_in_anonymously(), so that an application can keep a visitor's
-- rows under auth.uid() before they sign up; linking an email and password
-- (auth.link_email_password) or redeeming a magic link or code while signed
-- in as them makes them an ordinary user with the same id, so the rows
-- stay.  auth.cleanup() removes those idle past auth.anonymous_ttl.

ALTER TABLE auth.users
    ALTER COLUMN email DROP NOT NULL,
    ADD COLUMN is_anonymous boolean NOT NULL DEFAULT false,
    ADD CONSTRAINT users_email_or_anonymous CHECK (email IS NOT NULL OR is_anonymous);

-- The anonymous user the caller is signed in as, by a session of their own
-- (not an API key, not an impersonation), locked; NULL otherwise.
CREATE FUNCTION auth._anonymous_caller() RETURNS uuid
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT u.id FROM auth.users u
     WHERE u.id OPERATOR(pg_catalog.=) auth.uid() AND u.is_anonymous
       AND auth.session_id() IS NOT NULL AND auth.impersonator_id() IS NULL
       FOR NO KEY UPDATE
$$;
COMMENT ON FUNCTION auth._anonymous_caller() IS
    'internal: the anonymous user signed in by a session of their own, locked, or NULL';
REVOKE ALL ON FUNCTION auth._anonymous_caller() FROM PUBLIC;

CREATE FUNCTION auth.sign_in_anonymously(ip inet DEFAULT NULL)
RETURNS auth.session_grant
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_try jsonb;
    v_id uuid;
    v_grant auth.session_grant;
BEGIN
    IF NOT auth._setting_bool('auth.allow_anonymous_sign_in') THEN
        RAISE EXCEPTION USING ERRCODE = '42501', MESSAGE = 'anonymous sign-in is disabled',
            HINT = 'A superuser enables it with auth.allow_anonymous_sign_in.';
    END IF;
    -- Every sign-in counts, durably, against the limit of its address (all
    -- calls without one share a single count; an IPv6 address by its /64).
    v_try := auth._count_attempt('anonymous_sign_in',
                                 sha256(convert_to(auth._anonymous_ip_key(ip), 'UTF8')),
                                 auth._setting_interval('auth.anonymous_sign_in_window'),
                                 auth._setting_int('auth.anonymous_sign_in_limit'));
    IF (v_try->>'allowed')::boolean IS NOT TRUE THEN
        RAISE EXCEPTION USING ERRCODE = 'PT429',
            MESSAGE = 'too many anonymous sign-ins from this address',
            DETAIL = format('Anonymous sign-in from this address is limited until %s.', v_try->>'retry_at');
    END IF;
    INSERT INTO auth.users (email, is_anonymous) VALUES (NULL, true) RETURNING id INTO v_id;
    PERFORM auth._audit('sign_up', v_id, NULL, ip, '{"method": "anonymous"}');
    v_grant := auth._issue_session(v_id, NULL, ip, NULL);
    PERFORM auth._audit('sign_in', v_id, v_grant.session_id, ip, '{"method": "anonymous"}');
    RETURN v_grant;
END
$$;
COMMENT ON FUNCTION auth.sign_in_anonymously(inet) IS
    'creates an anonymous user (no email) and opens a session for it; 42501 unless auth.allow_anonymous_sign_in, PT429 past auth.anonymous_sign_in_limit per ip';

CREATE FUNCTION auth.link_email_password(email text, password text) RETURNS uuid
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_uid uuid := auth._require_account_uid();
    v_email text := auth._normalize_email(email);
    v_anonymous boolean;
BEGIN
    PERFORM auth._refuse_impersonation('link an email and password');
    PERFORM auth._check_password_policy(password);
    -- FOR NO KEY UPDATE: a second link of the same user waits, then finds
    -- it no longer anonymous
    SELECT u.is_anonymous INTO v_anonymous FROM auth.users u WHERE u.id = v_uid FOR NO KEY UPDATE;
    IF NOT v_anonymous THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'the account is not anonymous',
            HINT = 'Change its email or password instead.';
    END IF;
    BEGIN
        UPDATE auth.users u
           SET email = v_email, password_hash = auth.hash_password(password),
               is_anonymous = false, updated_at = auth.now()
         WHERE u.id = v_uid;
    EXCEPTION WHEN unique_violation THEN
        RAISE EXCEPTION USING ERRCODE = '23505', MESSAGE = 'email is already registered',
            HINT = 'Sign in to that account instead.';
    END;
    PERFORM auth._audit('anonymous_linked', v_uid, auth.session_id(), NULL,
                        jsonb_build_object('method', 'password', 'email', v_email));
    RETURN v_uid;
END
$$;
COMMENT ON FUNCTION auth.link_email_password(text, text) IS
    'makes the authenticated anonymous user an ordinary one with an email (not yet verified) and a password, keeping their id; 22023 when not anonymous, 23505 when the email is taken';


-- issue 14: usernames (set_username, sign_in_with_username through the
-- password check and session sign_in now shares)
-- Checks an account's password as sign-in does, the account found by its
-- normalised email or username (login_kind 'email' or 'username'): the
-- attempt is counted durably against attempt_key first, so that concurrent
-- guesses are limited exactly; unknown logins and users without a password
-- cost the same argon2 work; a failure is audited and raises 28P01, a
-- lockout PT429.  On success the count is cleared and the user is
-- returned.  (No lock: the session it leads to is re-checked against a
-- password change or ban before commit, src/lifecycle.c.)
CREATE FUNCTION auth._check_password_login(login_kind text, login text, attempt_key bytea,
                                           password text, ip inet)
RETURNS auth.users
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    v_try jsonb;
    v_user auth.users;
    v_ok boolean;
BEGIN
    IF password IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'password is required';
    END IF;
    v_try := auth._count_attempt('sign_in', attempt_key);
    IF (v_try->>'allowed')::boolean IS NOT TRUE THEN
        RAISE EXCEPTION USING ERRCODE = 'PT429',
            MESSAGE = format('too many failed sign-ins for this %s', login_kind),
            DETAIL = format('Sign-in for this %s is locked until %s; wait until then, or reset the password.',
                            login_kind, v_try->>'retry_at'),
            HINT = auth._retry_hint((v_try->>'retry_at')::timestamptz, auth._clock());
    END IF;

    IF login_kind = 'email' THEN
        SELECT * INTO v_user FROM auth.users u WHERE auth._email_key(u.email) = login;
    ELSE
        SELECT * INTO v_user FROM auth.users u WHERE u.username = login;
    END IF;
    -- a stored hash of an unknown format is just a wrong password
    BEGIN
        v_ok := auth.verify_password(CASE WHEN length(password) > auth._limit('password') THEN ''
                                          ELSE password END,
                                     coalesce(v_user.password_hash, auth._dummy_password_hash()))
                AND v_user.password_hash IS NOT NULL AND length(password) <= auth._limit('password');
    EXCEPTION WHEN invalid_parameter_value THEN
        -- to the server log only: a client must not learn that the login
        -- has an account
        RAISE LOG 'user % has a password hash that cannot be verified', v_user.id;
        v_ok := false;
    END;
    IF NOT v_ok THEN
        -- The attempt is counted already; an audit row that cannot be
        -- written is a warning, not a different answer.
        BEGIN
            PERFORM auth._autonomous(jsonb_build_object(
                'op', 'audit', 'event', 'sign_in_failed', 'user_id', v_user.id, 'ip', ip,
                'session_id', auth.session_id(), 'actor', auth._audit_actor(),
                'at', auth._clock(), 'notify', auth._setting_bool('auth.notify_events'),
                'detail', jsonb_build_object(login_kind, left(login, 254),
                                             'attempt', (v_try->>'count')::int)));
        EXCEPTION WHEN insufficient_resources THEN
            RAISE WARNING 'failed sign-in not audited: %', SQLERRM;
        END;
        RAISE EXCEPTION USING ERRCODE = '28P01', MESSAGE = format('invalid %s or password', login_kind);
    END IF;
    DELETE FROM auth.attempts a WHERE a.scope = 'sign_in' AND a.key = attempt_key;
    -- what follows (a session) must not outlive an end of the user's
    -- credentials committed after the hash above was read
    PERFORM auth._creating_credential(v_user.id, v_user.credentials_epoch, NULL);
    RETURN v_user;
END
$$;
COMMENT ON FUNCTION auth._check_password_login(text, text, bytea, text, inet) IS
    'internal: checks the password of the account with a normalized email or username, with the sign-in limits, and returns the user; 28P01 when wrong, PT429 when locked';
REVOKE ALL ON FUNCTION auth._check_password_login(text, text, bytea, text, inet) FROM PUBLIC;

-- The session a password sign-in opens once the password was right
-- (sign_in, sign_in_with_username), audited as sign_in with detail.
CREATE FUNCTION auth._open_password_session(signed_in auth.users, password text, ip inet,
                                            user_agent text, detail jsonb)
RETURNS auth.session_grant
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    v_grant auth.session_grant;
BEGIN
    -- (a suspended user is refused by auth._issue_session, only now that
    -- the password was right, so a ban reveals nothing to a guesser)
    IF signed_in.email_verified_at IS NULL AND auth._setting_bool('auth.require_verified_email') THEN
        RAISE EXCEPTION USING ERRCODE = '28000', MESSAGE = 'email is not verified',
            HINT = 'Verify the email with the link sent to it, giving the password, or sign in with a magic link.';
    END IF;
    IF auth._password_needs_rehash(signed_in.password_hash) THEN
        UPDATE auth.users u SET password_hash = auth.hash_password(password),
                                updated_at = auth.now()
         WHERE u.id = signed_in.id AND u.password_hash = signed_in.password_hash;
    END IF;
    v_grant := auth._open_first_factor_session(signed_in.id, 'password', ip, user_agent);
    PERFORM auth._audit('sign_in', v_grant.user_id, v_grant.session_id, ip, detail);
    RETURN v_grant;
END
$$;
COMMENT ON FUNCTION auth._open_password_session(auth.users, text, inet, text, jsonb) IS
    'internal: the session a password sign-in opens for the user whose password was right';
REVOKE ALL ON FUNCTION auth._open_password_session(auth.users, text, inet, text, jsonb) FROM PUBLIC;


-- usernames: an optional unique name (3 to 32 of a-z, 0-9, _ and ., case
-- folded to lower case) to sign in with instead of the email, through the
-- same password sign-in as auth.sign_in() (auth._check_password_login and
-- auth._open_password_session).

ALTER TABLE auth.users
    ADD COLUMN username text,
    ADD CONSTRAINT users_username_format CHECK (username ~ '^[a-z0-9_.]{3,32}$');
CREATE UNIQUE INDEX users_username_key ON auth.users (username);

-- A username in the form stored and compared: ASCII letters lower-cased,
-- then 3 to 32 of a-z, 0-9, _ and . (22023 otherwise); anything outside
-- ASCII (a Cyrillic а, a fullwidth ａ) is refused, not folded.
CREATE FUNCTION auth._normalize_username(username text) RETURNS text
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_max int := auth._limit('username');
    v text;
BEGIN
    IF username IS NULL OR username = '' THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'username is required';
    END IF;
    -- the length first, before any work on a huge input
    v := CASE WHEN octet_length(username) <= v_max
              THEN translate(username, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz') END;
    IF v IS NULL OR v COLLATE "C" !~ '^[a-z0-9_.]{3,32}$' THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'invalid username',
            HINT = format('A username is 3 to %s of the letters a to z, the digits, _ and . (upper case is taken as lower case).', v_max);
    END IF;
    RETURN v;
END
$$;
COMMENT ON FUNCTION auth._normalize_username(text) IS
    'internal: a username in lower case, 22023 unless 3 to 32 of a-z, 0-9, _ and .';
REVOKE ALL ON FUNCTION auth._normalize_username(text) FROM PUBLIC;

CREATE FUNCTION auth.set_username(username text) RETURNS text
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_uid uuid := auth._require_account_owner('change the username');
    v_name text := auth._normalize_username(username);
    v_old text;
BEGIN
    SELECT u.username INTO v_old FROM auth.users u WHERE u.id = v_uid FOR NO KEY UPDATE;
    BEGIN
        UPDATE auth.users u SET username = v_name, updated_at = auth.now() WHERE u.id = v_uid;
    EXCEPTION WHEN unique_violation THEN
        RAISE EXCEPTION USING ERRCODE = '23505', MESSAGE = 'username is already taken';
    END;
    PERFORM auth._audit('username_set', v_uid, auth.session_id(), NULL,
                        jsonb_build_object('username', v_name, 'previous_username', v_old));
    RETURN v_name;
END
$$;
COMMENT ON FUNCTION auth.set_username(text) IS
    'gives the authenticated user a username (stored in lower case) and returns it; 22023 unless 3 to 32 of a-z, 0-9, _ and ., 23505 when taken';

CREATE FUNCTION auth.sign_in_with_username(username text, password text, ip inet DEFAULT NULL,
                                           user_agent text DEFAULT NULL)
RETURNS auth.session_grant
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_name text := auth._normalize_username(username);
    v_key bytea;
BEGIN
    -- Failures count against the account's email when the name has one, so
    -- a username is no second set of guesses at the same password; an
    -- unknown name is counted under itself, at the same cost.
    SELECT sha256(convert_to(auth._email_key(u.email), 'UTF8')) INTO v_key
      FROM auth.users u WHERE u.username = v_name;
    RETURN auth._open_password_session(
        auth._check_password_login('username', v_name,
                                   coalesce(v_key, sha256(convert_to('username:' || v_name, 'UTF8'))),
                                   password, ip),
        password, ip, user_agent, '{"method": "username"}');
END
$$;
COMMENT ON FUNCTION auth.sign_in_with_username(text, text, inet, text) IS
    'checks a username and password and opens a session, with the same failure limit and cost as sign_in; 28P01 when wrong, 28000 when suspended, PT429 after too many failures';

-- issue 11: after the outside attack: a JWT identity makes and manages no API key, and changes an organization only when issued from a session
CREATE OR REPLACE FUNCTION auth._require_not_jwt(action text) RETURNS uuid
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF auth.identity() OPERATOR(pg_catalog.->>) 'kind' OPERATOR(pg_catalog.=) 'jwt' THEN
        RAISE EXCEPTION USING ERRCODE = '42501',
            MESSAGE = format('a JWT identity cannot %s', action),
            HINT = 'Authenticate with the session or API key the token was issued from.';
    END IF;
    RETURN auth.require_uid();
END
$$;
COMMENT ON FUNCTION auth._require_not_jwt(text) IS
    'internal: the authenticated user; 28000 when nobody, 42501 under a JWT identity';

CREATE OR REPLACE FUNCTION auth.create_api_key(name text, scopes text[] DEFAULT '{}',
                                    expires_in interval DEFAULT NULL, org_id uuid DEFAULT NULL,
                                    prefix text DEFAULT NULL, rate_limit_max integer DEFAULT NULL,
                                    rate_limit_window interval DEFAULT NULL,
                                    remaining integer DEFAULT NULL, refill_amount integer DEFAULT NULL,
                                    refill_interval interval DEFAULT NULL,
                                    metadata jsonb DEFAULT '{}')
RETURNS auth.api_key_grant
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    v_uid uuid := auth._require_not_jwt('make API keys');
    v_caller_key uuid := auth.api_key_id();
BEGIN
    IF v_caller_key IS NOT NULL THEN
        -- its children would escape its limits
        IF EXISTS (SELECT FROM auth.api_keys k WHERE k.id = v_caller_key
                      AND (k.rate_limit_max IS NOT NULL OR k.remaining IS NOT NULL)) THEN
            RAISE EXCEPTION USING ERRCODE = '42501',
                MESSAGE = 'an API key with usage limits cannot create keys';
        END IF;
        IF NOT auth._scopes_subset(auth._check_scopes(scopes), auth.scopes()) THEN
            RAISE EXCEPTION USING ERRCODE = '42501',
                MESSAGE = 'an API key can only create keys with a subset of its own scopes';
        END IF;
        IF auth.org_id() IS NOT NULL AND org_id IS DISTINCT FROM auth.org_id() THEN
            RAISE EXCEPTION USING ERRCODE = '42501',
                MESSAGE = 'an organization''s API key can only create keys for that organization';
        END IF;
    END IF;
    IF org_id IS NOT NULL THEN
        PERFORM auth._require_permission(org_id, 'apikey:create');
    END IF;
    RETURN auth._create_api_key(v_uid, v_caller_key, false, name, scopes, expires_in, org_id,
                                prefix, rate_limit_max, rate_limit_window, remaining,
                                refill_amount, refill_interval, metadata);
END
$$;
COMMENT ON FUNCTION auth.create_api_key(text, text[], interval, uuid, text, integer, interval,
                                        integer, integer, interval, jsonb) IS
    'creates an API key for the authenticated user and returns it once; an organization key needs apikey:create there; an API key may only create keys with a subset of its scopes';

CREATE OR REPLACE FUNCTION auth._manageable_api_keys() RETURNS SETOF uuid
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT k.id FROM auth.api_keys k
     WHERE k.user_id = auth._require_not_jwt('manage API keys') AND auth.api_key_id() IS NULL
    UNION ALL
    SELECT d FROM auth._api_key_descendants(auth.api_key_id()) d
$$;
COMMENT ON FUNCTION auth._manageable_api_keys() IS
    'internal: ids of the API keys the caller may list and manage';

CREATE OR REPLACE FUNCTION auth._require_permission(org_id uuid, permission text) RETURNS uuid
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
REVOKE ALL ON FUNCTION auth._require_not_jwt(text) FROM PUBLIC;

-- issue 12/14: after the outside attack: one gate for account changes (aal2 once a factor exists, no impersonation); a moved email drops the email factor
CREATE OR REPLACE FUNCTION auth.revoke_other_sessions() RETURNS integer
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    RETURN auth._revoke_sessions(auth._require_account_owner('sign out other sessions'),
                                 auth.session_id(), 'revoked');
END
$$;
COMMENT ON FUNCTION auth.revoke_other_sessions() IS
    'revokes every session of the authenticated user but the current one; returns how many; 42501 with an API key, an impersonation session, or below aal2 once the user has a second factor (MFA_REQUIRED)';

CREATE OR REPLACE FUNCTION auth._require_account_owner(action text) RETURNS uuid
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

CREATE OR REPLACE FUNCTION auth._email_factor_moved() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_id uuid;
BEGIN
    DELETE FROM auth.mfa_factors f
     WHERE f.user_id = NEW.id AND f.type = 'email'
    RETURNING f.id INTO v_id;
    IF v_id IS NOT NULL THEN
        PERFORM auth._audit('factor_removed', NEW.id, auth.session_id(), NULL,
                            jsonb_build_object('factor_id', v_id, 'type', 'email',
                                               'reason', 'email_changed'));
        PERFORM auth._mfa_factors_gone(NEW.id);
    END IF;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION auth._email_factor_moved() IS
    'internal: a changed email removes the user''s email factor (audited factor_removed)';
REVOKE ALL ON FUNCTION auth._require_account_owner(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION auth._email_factor_moved() FROM PUBLIC;
CREATE TRIGGER users_email_factor_moved
    AFTER UPDATE OF email ON auth.users
    FOR EACH ROW WHEN (OLD.email IS DISTINCT FROM NEW.email)
    EXECUTE FUNCTION auth._email_factor_moved();

-- issue 12/14: after the outside attack: the anonymous sign-in limit per IPv4, IPv4-mapped address or IPv6 /64
CREATE OR REPLACE FUNCTION auth._anonymous_ip_key(ip inet) RETURNS text
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT CASE
        WHEN ip IS NULL THEN ''
        WHEN family(ip) OPERATOR(pg_catalog.=) 4 THEN host(ip)
        WHEN ip OPERATOR(pg_catalog.<<=) inet '::ffff:0.0.0.0/96'
            THEN host(inet '0.0.0.0' OPERATOR(pg_catalog.+) (ip OPERATOR(pg_catalog.-) inet '::ffff:0.0.0.0'))
        ELSE network(set_masklen(ip, 64))::text
    END
$$;
COMMENT ON FUNCTION auth._anonymous_ip_key(inet) IS
    'internal: the address an anonymous sign-in counts against: IPv4 (IPv4-mapped IPv6 unmapped), IPv6 by its /64';
REVOKE ALL ON FUNCTION auth._anonymous_ip_key(inet) FROM PUBLIC;

-- issue 12: verify_mfa in one round trip

CREATE FUNCTION auth._issue_session_with(user_id uuid, ttl interval, ip inet, user_agent text,
                                         aal smallint, amr jsonb, auth_time timestamptz)
RETURNS auth.session_grant
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_now timestamptz := auth.now();
    v_ttl interval := coalesce(ttl, auth._setting_interval('auth.session_ttl'));
    v_max interval := auth._setting_interval('auth.session_max_lifetime');
    v_grant auth.session_grant;
    v_banned timestamptz;
    v_epoch bigint;
BEGIN
    IF v_ttl <= interval '0' THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'session ttl must be positive';
    END IF;
    -- No lock: a ban or an end of the user's credentials committed before
    -- this transaction commits fails it (src/lifecycle.c), and none waits
    -- for this transaction.
    SELECT u.banned_until, u.credentials_epoch INTO v_banned, v_epoch FROM auth.users u
     WHERE u.id = _issue_session_with.user_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'user does not exist';
    END IF;
    PERFORM auth._creating_credential(_issue_session_with.user_id, v_epoch, NULL);
    IF v_banned > v_now THEN
        RAISE EXCEPTION USING ERRCODE = '28000', MESSAGE = 'account is suspended',
            DETAIL = CASE WHEN v_banned < 'infinity'
                          THEN format('The suspension ends at %s.', v_banned)
                          ELSE 'The suspension has no end date.' END;
    END IF;
    v_grant.token := auth._generate_token('ses');
    v_grant.user_id := _issue_session_with.user_id;
    INSERT INTO auth.sessions AS s (user_id, token_hash, created_at, refreshed_at,
                                    expires_at, ip, user_agent, user_banned_until,
                                    authenticated_at, aal, amr, auth_time)
    VALUES (_issue_session_with.user_id, auth._token_hash(v_grant.token, 'ses'), v_now, v_now,
            v_now + least(v_ttl, v_max), _issue_session_with.ip,
            left(_issue_session_with.user_agent, auth._limit('user agent')), v_banned, v_now,
            _issue_session_with.aal, _issue_session_with.amr, _issue_session_with.auth_time)
    RETURNING s.id, s.expires_at INTO v_grant.session_id, v_grant.expires_at;
    RETURN v_grant;
END
$$;
COMMENT ON FUNCTION auth._issue_session_with(uuid, interval, inet, text, smallint, jsonb, timestamptz) IS
    'internal: inserts a session with its assurance (aal, amr, auth_time) and returns its token';
REVOKE ALL ON FUNCTION auth._issue_session_with(uuid, interval, inet, text, smallint, jsonb, timestamptz) FROM PUBLIC;
