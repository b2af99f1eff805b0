-- email_verification: proving an address, and moving an account to a new one.

-- A verification token (evt_...) for a user's current email.
CREATE FUNCTION auth._email_verification_for(user_id uuid) RETURNS text
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
REVOKE ALL ON FUNCTION auth._email_verification_for(uuid) FROM PUBLIC;

CREATE FUNCTION auth.request_email_verification() RETURNS text
LANGUAGE sql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$ SELECT auth._email_verification_for(auth._require_account_uid()) $$;
COMMENT ON FUNCTION auth.request_email_verification() IS
    'a verification token (evt_...) for the authenticated user''s email, to be sent by the application';

CREATE FUNCTION auth.create_email_verification(user_id uuid) RETURNS text
LANGUAGE sql VOLATILE STRICT SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$ SELECT auth._email_verification_for(user_id) $$;
COMMENT ON FUNCTION auth.create_email_verification(uuid) IS
    'admin: a verification token (evt_...) for any user''s email';
REVOKE ALL ON FUNCTION auth.create_email_verification(uuid) FROM PUBLIC;

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

CREATE FUNCTION auth.verify_email(token text) RETURNS uuid
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

CREATE FUNCTION auth.request_email_change(new_email text) RETURNS text
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

CREATE FUNCTION auth.confirm_email_change(token text) RETURNS uuid
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
