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

-- The key the anonymous sign-in limit counts against: an IPv4 address
-- (an IPv4-mapped IPv6 one, ::ffff:a.b.c.d, as the IPv4 it is), an IPv6
-- address by its /64 (what one subscriber is given), '' without one.
CREATE FUNCTION auth._anonymous_ip_key(ip inet) RETURNS text
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
