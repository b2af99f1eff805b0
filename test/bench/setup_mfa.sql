-- (j) second factors: a policy reading auth.aal() over the 1M docs, and
-- MFA challenges to redeem with a TOTP code.  Nothing here prints a code,
-- a challenge or a token.
SET client_min_messages = warning;
-- bench_mfa reads docs through owner_id = auth.uid() AND auth.aal() = 'aal2'
CREATE POLICY docs_mfa ON docs TO bench_mfa USING (owner_id = auth.uid() AND auth.aal() = 'aal2');
GRANT SELECT ON docs TO bench_mfa;
-- the session of token 1 showed a second factor
UPDATE auth.sessions s SET aal = 2
 WHERE s.token_hash = auth._token_hash((SELECT token FROM bench_tokens WHERE id = 1), 'ses');
-- 1,000 users with a TOTP factor (the RFC 6238 SHA-1 seed) and a challenge
-- each, in batches of 100 (a challenge and a time step are accepted once)
CREATE TABLE bench_mfa (batch int, user_id uuid, challenge text);
-- the challenges are made at the time the runs verify them (see below)
SELECT set_config('auth.time_offset', (2000000000 - floor(extract(epoch FROM now())))::bigint::text, false);
DO $$
DECLARE
    r record;
BEGIN
    FOR r IN SELECT id, user_id FROM bench_tokens WHERE id BETWEEN 1001 AND 2000 LOOP
        PERFORM auth.import_totp_factor(r.user_id, 'GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ');
        INSERT INTO bench_mfa
        SELECT (r.id - 1001) / 100, r.user_id,
               (auth._open_first_factor_session(r.user_id, 'password', NULL, NULL)).mfa_challenge;
    END LOOP;
END
$$;
-- the code of the step of unix time 2000000000 (RFC 6238: 69279037 with 8
-- digits; 279037 with 6); each run moves the clock there (auth.time_offset)
CREATE TABLE bench_mfa_code AS
WITH m AS (SELECT hmac(int8send(2000000000 / 30), convert_to('12345678901234567890', 'UTF8'), 'sha1') AS mac),
     o AS (SELECT mac, get_byte(mac, 19) & 15 AS off FROM m)
SELECT lpad(((((get_byte(mac, off) & 127)::bigint << 24) | (get_byte(mac, off + 1) << 16)
              | (get_byte(mac, off + 2) << 8) | get_byte(mac, off + 3)) % 1000000)::text, 6, '0') AS code
  FROM o;
