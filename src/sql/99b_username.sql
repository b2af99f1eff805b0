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
