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

CREATE FUNCTION auth.verify_email(token text) RETURNS uuid
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_secret auth.one_time_secrets := auth._consume_token(token, 'evt', 'email_verification');
BEGIN
    -- the token proves the address it was sent to, and only while it is the user's
    UPDATE auth.users u SET email_verified_at = coalesce(u.email_verified_at, auth.now()),
                            updated_at = auth.now()
     WHERE u.id = v_secret.user_id AND auth._email_key(u.email) = v_secret.email;
    IF v_secret.id IS NULL OR NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = '28000', MESSAGE = 'invalid or expired verification link',
            HINT = 'Request a new link.';
    END IF;
    PERFORM auth._audit('email_verified', v_secret.user_id, NULL, NULL,
                        jsonb_build_object('email', v_secret.email));
    RETURN v_secret.user_id;
END
$$;
COMMENT ON FUNCTION auth.verify_email(text) IS
    'redeems a verification token once and marks the email verified; returns the user; 28000 when unknown, expired or used';

CREATE FUNCTION auth.request_email_change(new_email text) RETURNS text
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_uid uuid := auth._require_account_uid();
    v_new text := auth._normalize_email(new_email);
BEGIN
    PERFORM auth._refuse_impersonation('change the email');
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
