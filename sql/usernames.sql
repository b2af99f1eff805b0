-- Usernames: 3 to 32 of a-z, 0-9, _ and ., case-insensitive, unique;
-- lookalikes refused; sign-in by username with sign_in's failure limit
-- (shared with the account's email) and equal cost for unknown names.
\i sql/include/setup.psql
\i sql/include/as_user.psql

SELECT auth.sign_up('uma@example.com', 'uma password') AS uma \gset
SELECT auth.sign_up('ugo@example.com', 'ugo password') AS ugo \gset
SELECT token AS uma_token FROM auth.sign_in('uma@example.com', 'uma password') \gset
SELECT token AS ugo_token FROM auth.sign_in('ugo@example.com', 'ugo password') \gset

-- Setting one: the caller's own, stored in lower case.
SELECT pg_temp.err($$SELECT auth.set_username('uma')$$);
SELECT pg_temp.as_user(:'uma_token', $$SELECT auth.set_username('Uma.Smith_1')$$);
SELECT username FROM auth.users WHERE id = :'uma';
-- Refusals: NULL, empty, too short, too long, huge, other characters,
-- Unicode lookalikes (Cyrillic letters, fullwidth forms, the Kelvin sign,
-- a dotless i), spaces.
SELECT u AS username, pg_temp.as_user(:'ugo_token', format('SELECT auth.set_username(%L)', u)) AS result
  FROM unnest(ARRAY[NULL, '', 'ab', repeat('a', 33), 'uma-smith', 'uma smith', ' uma', 'uma@x',
                    U&'\0443ma', U&'um\0430', U&'\FF55\FF4D\FF41', U&'\212Aelvin', U&'\0131van', U&'uma\200B',
                    'émile']) u;
SELECT pg_temp.as_user(:'ugo_token', format('SELECT auth.set_username(%L)', repeat('a', 100000))) AS huge;
-- Unique, case-insensitively.
SELECT pg_temp.as_user(:'ugo_token', $$SELECT auth.set_username('UMA.SMITH_1')$$);
SELECT pg_temp.as_user(:'ugo_token', $$SELECT auth.set_username('uma.smith_1')$$);
SELECT pg_temp.as_user(:'ugo_token', $$SELECT auth.set_username('ugo')$$);
-- Changing one's own frees the old name.
SELECT pg_temp.as_user(:'uma_token', $$SELECT auth.set_username('uma')$$);
SELECT pg_temp.as_user(:'ugo_token', $$SELECT auth.set_username('Uma.Smith_1')$$) AS ugo_takes_the_old_name;
SELECT pg_temp.as_user(:'ugo_token', $$SELECT auth.set_username('ugo')$$);
-- Not with an API key, nor under an impersonation.
BEGIN;
SELECT auth.authenticate(:'uma_token') IS NOT NULL AS authenticated;
SELECT key AS uma_key FROM auth.create_api_key('uma key') \gset
COMMIT;
SELECT pg_temp.as_key(:'uma_key', $$SELECT auth.set_username('umakey')$$);
SELECT auth.set_user_role(:'ugo', 'admin');
BEGIN;
SELECT auth.authenticate(:'ugo_token') IS NOT NULL AS authenticated;
SELECT token AS imp_token FROM auth.impersonate(:'uma', 'username support') \gset
COMMIT;
SELECT pg_temp.as_user(:'imp_token', $$SELECT auth.set_username('hijacked')$$);
-- A direct write cannot store a name the rules refuse.
SELECT pg_temp.err(format('UPDATE auth.users SET username = %L WHERE id = %L', 'UMA', :'uma'));

-- Signing in by username, in any case.
SELECT user_id = :'uma' AS uma FROM auth.sign_in_with_username('UMA', 'uma password', '203.0.113.5', 'agent');
SELECT user_id = :'ugo' AS ugo FROM auth.sign_in_with_username('ugo', 'ugo password');
SELECT event, user_id = :'uma' AS uma, detail FROM auth.audit_log
 WHERE event IN ('sign_in', 'username_set') AND user_id = :'uma' ORDER BY id;
-- Refusals: the same message for a wrong password and an unknown name.
SELECT pg_temp.err($$SELECT auth.sign_in_with_username('uma', 'wrong password')$$);
SELECT pg_temp.err($$SELECT auth.sign_in_with_username('nobody', 'wrong password')$$);
SELECT pg_temp.err($$SELECT auth.sign_in_with_username('uma', NULL)$$);
SELECT pg_temp.err($$SELECT auth.sign_in_with_username(NULL, 'uma password')$$);
SELECT pg_temp.err($$SELECT auth.sign_in_with_username('', 'uma password')$$);
SELECT pg_temp.err(format('SELECT auth.sign_in_with_username(%L, %L)', U&'\0443ma', 'uma password'));
SELECT pg_temp.err(format('SELECT auth.sign_in_with_username(%L, %L)', repeat('u', 100000), 'uma password'));
SELECT pg_temp.err(format('SELECT auth.sign_in_with_username(%L, %L)', 'uma', repeat('p', 100000)));
SELECT detail FROM auth.audit_log WHERE event = 'sign_in_failed' AND detail ? 'username' ORDER BY id;

-- The failure limit: each attempt its own statement. Failures by username
-- and by email count together against the account (5 per window).
DELETE FROM auth.attempts;
SELECT pg_temp.err($$SELECT auth.sign_in_with_username('uma', 'wrong 1')$$);
SELECT pg_temp.err($$SELECT auth.sign_in('uma@example.com', 'wrong 2')$$);
SELECT pg_temp.err($$SELECT auth.sign_in_with_username('Uma', 'wrong 3')$$);
SELECT pg_temp.err($$SELECT auth.sign_in('uma@example.com', 'wrong 4')$$);
SELECT pg_temp.err($$SELECT auth.sign_in_with_username('uma', 'wrong 5')$$);
SELECT pg_temp.err($$SELECT auth.sign_in_with_username('uma', 'uma password')$$);
SELECT pg_temp.err($$SELECT auth.sign_in('uma@example.com', 'uma password')$$);
-- An unknown name is limited under itself, as an unknown email is.
SELECT count(*) AS counted FROM (
    SELECT pg_temp.err($$SELECT auth.sign_in_with_username('ghost', 'wrong')$$) r FROM generate_series(1, 6)) x
 WHERE r LIKE 'PT429%';
DELETE FROM auth.attempts;
-- A success clears the count.
SELECT pg_temp.err($$SELECT auth.sign_in_with_username('ugo', 'wrong')$$);
SELECT count(*) AS before_success FROM auth.attempts WHERE scope = 'sign_in';
SELECT user_id = :'ugo' AS ugo FROM auth.sign_in_with_username('ugo', 'ugo password');
SELECT count(*) AS after_success FROM auth.attempts WHERE scope = 'sign_in';
-- A suspended user is refused only once the password is right.
UPDATE auth.users SET banned_until = 'infinity' WHERE id = :'ugo';
SELECT pg_temp.err($$SELECT auth.sign_in_with_username('ugo', 'wrong')$$);
SELECT pg_temp.err($$SELECT auth.sign_in_with_username('ugo', 'ugo password')$$);
UPDATE auth.users SET banned_until = NULL WHERE id = :'ugo';
DELETE FROM auth.attempts;

-- Equal cost: an unknown name runs argon2 as a known one does (the dummy
-- hash). The fastest of 7 tries of each is within a factor of 2 of the
-- other's (argon2 dominates: a lookup alone would be 100 times faster);
-- the limit is lifted so that every try runs to the password check.
SET auth.max_failed_sign_ins = 1000;
CREATE FUNCTION pg_temp.fastest(name text) RETURNS float8 LANGUAGE plpgsql AS $$
DECLARE t0 timestamptz; best float8;
BEGIN
    FOR i IN 1 .. 7 LOOP
        t0 := clock_timestamp();
        BEGIN
            PERFORM auth.sign_in_with_username(name, 'wrong password ' || i);
        EXCEPTION WHEN invalid_password THEN NULL;
        END;
        best := least(best, extract(epoch FROM clock_timestamp() - t0));
    END LOOP;
    RETURN best;
END $$;
SELECT pg_temp.fastest('nosuchname') / pg_temp.fastest('uma') BETWEEN 0.5 AND 2 AS similar_cost;
RESET auth.max_failed_sign_ins;
DELETE FROM auth.attempts;
