-- password_reset: a link to set a new password without the old one.

CREATE FUNCTION auth.request_password_reset(email text) RETURNS text
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

CREATE FUNCTION auth.reset_password(token text, new_password text) RETURNS uuid
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_secret auth.one_time_secrets;
    v_revoked int;
BEGIN
    -- the policy first, so a rejected password does not use up the token
    PERFORM auth._check_password_policy(new_password);
    v_secret := auth._consume_token(token, 'pwr', 'password_reset');
    -- and only while the account still has the address the link went to
    IF v_secret.user_id IS NULL OR NOT EXISTS (
           SELECT FROM auth.users u WHERE u.id = v_secret.user_id AND auth._email_key(u.email) = v_secret.email) THEN
        RAISE EXCEPTION USING ERRCODE = '28000', MESSAGE = 'invalid or expired password reset link',
            HINT = 'Request a new link.';
    END IF;
    UPDATE auth.users u SET password_hash = auth.hash_password(new_password),
                            updated_at = auth.now()
     WHERE u.id = v_secret.user_id;
    -- the reset proves the mailbox: failed sign-ins for it no longer count
    DELETE FROM auth.attempts a
     WHERE a.scope = 'sign_in' AND a.key = sha256(convert_to(v_secret.email, 'UTF8'));
    v_revoked := auth._revoke_sessions(v_secret.user_id, NULL, 'password_reset');
    PERFORM auth._audit('password_reset', v_secret.user_id, NULL, NULL,
                        jsonb_build_object('sessions_revoked', v_revoked));
    RETURN v_secret.user_id;
END
$$;
COMMENT ON FUNCTION auth.reset_password(text, text) IS
    'redeems a reset token once, sets the new password (policy applies, 22023) and revokes every session of the user; 28000 when invalid';
