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
