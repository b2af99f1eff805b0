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
CREATE OR REPLACE FUNCTION auth._audit(event text, user_id uuid, session_id uuid,
                            ip inet, detail jsonb DEFAULT '{}',
                            occurred_at timestamptz DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_id bigint;
    v_at timestamptz := coalesce(occurred_at, auth.now());
BEGIN
    INSERT INTO auth.audit_log (occurred_at, event, user_id, session_id, ip, detail)
    VALUES (v_at, event, user_id, session_id, ip, coalesce(detail, '{}'))
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
COMMENT ON FUNCTION auth._audit(text, uuid, uuid, inet, jsonb, timestamptz) IS
    'internal: appends to auth.audit_log and notifies auth_events';
REVOKE ALL ON FUNCTION auth._audit(text, uuid, uuid, inet, jsonb, timestamptz) FROM PUBLIC;

-- issue 10: every SECURITY DEFINER function pins its search_path, the
-- identity setters too (a SET clause restores only the settings it names,
-- so the identity they set survives the call).
ALTER FUNCTION auth.verify_session(text) SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION auth.authenticate(text, boolean) SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION auth.sign_out() SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION auth.set_active_organization(uuid) SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION auth.verify_api_key(text, text[]) SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION auth.authenticate_api_key(text, boolean) SET search_path = pg_catalog, pg_temp;

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
                                         'password_changed', 'email_changed', 'revoke_all') THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'unknown reason to end credentials';
    END IF;
    UPDATE auth.users u
       SET updated_at = v_now,
           password_hash = CASE WHEN v_claim THEN NULL ELSE u.password_hash END,
           email_verified_at = CASE WHEN v_claim THEN coalesce(u.email_verified_at, v_now)
                                    ELSE u.email_verified_at END
     WHERE u.id = user_id
    RETURNING lower(u.email) INTO v_email;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'user does not exist';
    END IF;
    v_sessions := auth._revoke_sessions(user_id, except_session, reason);
    IF end_api_keys OR v_claim THEN
        UPDATE auth.api_keys k SET revoked_at = v_now, updated_at = v_now
         WHERE k.user_id = user_id AND k.revoked_at IS NULL;
        GET DIAGNOSTICS v_keys = ROW_COUNT;
        IF v_keys > 0 THEN
            PERFORM auth._audit('api_keys_revoked', user_id, auth.session_id(), NULL,
                                jsonb_build_object('reason', reason, 'count', v_keys));
        END IF;
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
    'internal: ends a user''s sessions (but one) and, unless told otherwise, API keys for a reason; an email change also its pending secrets; a claim of a never-verified account everything: password, keys, pending secrets, invitations, memberships and the organizations it alone owned';
REVOKE ALL ON FUNCTION auth._end_credentials(uuid, text, uuid, boolean) FROM PUBLIC;

CREATE FUNCTION auth.revoke_all_credentials(OUT sessions_revoked integer,
                                            OUT api_keys_revoked integer)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_ended jsonb := auth._end_credentials(auth._require_account_uid(), 'revoke_all');
BEGIN
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
    v_uid uuid := auth._require_account_uid();
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
    IF NOT (v_try->>'allowed')::boolean THEN
        RAISE EXCEPTION USING ERRCODE = 'PT429',
            MESSAGE = 'too many wrong current passwords',
            DETAIL = format('Password changes are locked until %s.', v_try->>'retry_at');
    END IF;
    -- FOR NO KEY UPDATE (what the UPDATE below takes): a session or key
    -- being created holds FOR KEY SHARE on the row and must not hold this off
    SELECT u.password_hash INTO v_hash FROM auth.users u WHERE u.id = v_uid FOR NO KEY UPDATE;
    IF current_password IS NULL OR length(current_password) > 128 OR
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
    SELECT u.email_verified_at IS NULL INTO v_claim FROM auth.users u
     WHERE u.id = v_secret.user_id AND lower(u.email) = v_secret.email;
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
    SELECT * INTO v_user FROM auth.users u WHERE lower(u.email) = secret.email;
    IF v_user.id IS NULL THEN
        IF NOT auth._setting_bool('auth.magic_link_sign_up') THEN
            RAISE EXCEPTION USING ERRCODE = '28000', MESSAGE = 'invalid or expired sign-in link or code';
        END IF;
        INSERT INTO auth.users (email, email_verified_at) VALUES (secret.email, v_now)
        ON CONFLICT ((lower(email))) DO NOTHING
        RETURNING * INTO v_user;
        IF v_user.id IS NULL THEN   -- created meanwhile by someone else
            SELECT * INTO v_user FROM auth.users u WHERE lower(u.email) = secret.email;
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
        PERFORM auth._end_credentials(v_user.id, 'unverified_account_claimed');
    END IF;
    v_session := auth._issue_session(v_user.id, NULL, ip, user_agent);
    PERFORM auth._audit('sign_in', v_user.id, v_session.session_id, ip,
                        jsonb_build_object('method', method, 'secret_id', secret.id));
    v_result.token := v_session.token;
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
    PERFORM auth._require_account_uid();  -- not with an API key
    SELECT u.email INTO v_old FROM auth.users u WHERE u.id = v_secret.user_id FOR UPDATE;
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
    v_key record;
    v_grant auth.api_key_grant;
BEGIN
    IF name IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'an API key needs a name of 1 to 200 characters';
    END IF;
    PERFORM auth._check_api_key_fields(name, metadata);
    IF NOT auth._api_key_prefix_is_valid(v_prefix) THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'invalid API key prefix',
            DETAIL = 'A prefix is 1 to 16 lowercase letters or digits, and not one of the extension''s own token kinds.';
    END IF;
    IF expires_in <= interval '0' THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'expires_in must be positive';
    END IF;
    PERFORM auth._check_api_key_limits(rate_limit_max, rate_limit_window, remaining,
                                       refill_amount, refill_interval);
    -- FOR SHARE waits for a ban being written, so the copy below is current
    SELECT u.banned_until INTO v_banned FROM auth.users u WHERE u.id = user_id FOR SHARE;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'user does not exist';
    END IF;
    IF v_banned > v_now THEN
        RAISE EXCEPTION USING ERRCODE = '28000', MESSAGE = 'account is suspended';
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
