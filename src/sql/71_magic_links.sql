-- magic_links: sign in (or up) by a link sent to the email, and by a
-- 6-digit code sent to it; both end in the same passwordless sign-in.

CREATE TYPE auth.passwordless_grant AS (
    token       text,
    session_id  uuid,
    user_id     uuid,
    expires_at  timestamptz,
    redirect_to text,
    is_new_user boolean,
    password_removed boolean,
    mfa_challenge text      -- instead of a session, when a second factor is due
);
COMMENT ON TYPE auth.passwordless_grant IS
    'a session opened by a magic link or code: the session token (shown once), the session, where to go, whether the user was just created, and whether the password of an account never verified was removed; or, when the user has a second factor, no token but an MFA challenge for auth.verify_mfa';

-- Opens a session for the email of a redeemed secret (28000 when none was
-- redeemed): finds the user, or gives the address to the anonymous user
-- who redeems it, or creates one when auth.magic_link_sign_up is on (28000
-- otherwise); the email is verified by the redemption itself.
CREATE FUNCTION auth._passwordless_sign_in(secret auth.one_time_secrets, method text,
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

-- A passwordless request: the email, checked against the allow-list, gets
-- a secret bound to its user when there is one.
CREATE FUNCTION auth._request_passwordless(purpose text, email text, ttl interval,
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
REVOKE ALL ON FUNCTION auth._request_passwordless(text, text, interval, text, text, inet) FROM PUBLIC;

-- A requested lifetime, at most the setting's (22023 beyond it).
CREATE FUNCTION auth._capped_ttl(ttl interval, setting text) RETURNS interval
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_max interval := auth._setting_interval(setting);
BEGIN
    IF ttl > v_max THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = format('ttl exceeds %s', setting),
            DETAIL = format('The longest lifetime is %s.', v_max);
    END IF;
    RETURN coalesce(ttl, v_max);
END
$$;
COMMENT ON FUNCTION auth._capped_ttl(interval, text) IS
    'internal: a requested lifetime, defaulting to and capped by a setting';
REVOKE ALL ON FUNCTION auth._capped_ttl(interval, text) FROM PUBLIC;

CREATE FUNCTION auth.create_magic_link(email text, redirect_to text DEFAULT NULL,
                                       ttl interval DEFAULT NULL, ip inet DEFAULT NULL)
RETURNS text
LANGUAGE sql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT auth._request_passwordless('magic_link', email,
        auth._capped_ttl(ttl, 'auth.magic_link_ttl'), 'mlk', redirect_to, ip)
$$;
COMMENT ON FUNCTION auth.create_magic_link(text, text, interval, inet) IS
    'a magic-link token (mlk_...) for an email, to be sent by the application; 42501 outside the allow-list, PT429 past the rate limit';

CREATE FUNCTION auth.consume_magic_link(token text, ip inet DEFAULT NULL,
                                        user_agent text DEFAULT NULL)
RETURNS auth.passwordless_grant
LANGUAGE sql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT auth._passwordless_sign_in(auth._consume_token(token, 'mlk', 'magic_link'),
                                      'magic_link', ip, user_agent)
$$;
COMMENT ON FUNCTION auth.consume_magic_link(text, inet, text) IS
    'redeems a magic link once: opens a session (creating the user when allowed) and marks the email verified, ending everything set up on an account never verified before; 28000 when unknown, expired or used';

CREATE FUNCTION auth.create_email_code(email text, purpose text DEFAULT 'sign_in')
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

CREATE FUNCTION auth.sign_in_with_code(email text, code text, ip inet DEFAULT NULL,
                                       user_agent text DEFAULT NULL)
RETURNS auth.passwordless_grant
LANGUAGE sql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT auth._passwordless_sign_in(auth._consume_code(email, code, 'sign_in'),
                                      'email_code', ip, user_agent)
$$;
COMMENT ON FUNCTION auth.sign_in_with_code(text, text, inet, text) IS
    'signs in with a 6-digit code sent to the email, ending everything set up on an account never verified before; 28000 when wrong, expired or used, PT429 after auth.code_max_attempts wrong tries';

CREATE FUNCTION auth.verify_email_code(email text, code text, purpose text)
RETURNS boolean
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_secret auth.one_time_secrets := auth._consume_code(email, code, purpose);
BEGIN
    IF v_secret.id IS NOT NULL THEN
        PERFORM auth._audit('email_code_verified', v_secret.user_id, NULL, NULL,
                            jsonb_build_object('purpose', purpose, 'secret_id', v_secret.id));
    END IF;
    RETURN v_secret.id IS NOT NULL;
END
$$;
COMMENT ON FUNCTION auth.verify_email_code(text, text, text) IS
    'checks and redeems a 6-digit code of a purpose, for an application''s own step-up checks; PT429 after auth.code_max_attempts wrong tries';
