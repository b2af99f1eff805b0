-- Password hashing (argon2id) and verification of imported hashes.
\i sql/include/setup.psql

-- New hashes are argon2id PHC strings with the OWASP defaults.
SELECT auth.hash_password('correct horse') ~ '^\$argon2id\$v=19\$m=19456,t=2,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$' AS phc_format;
SELECT auth.hash_password('same') <> auth.hash_password('same') AS salted;
SELECT auth.verify_password('correct horse', auth.hash_password('correct horse')) AS right_password,
       auth.verify_password('correct horsE', auth.hash_password('correct horse')) AS wrong_password;

-- The cost follows the settings, and a hash records its own cost.
SET auth.argon2_memory_kib = 1024;
SET auth.argon2_iterations = 1;
SET auth.argon2_parallelism = 2;
SELECT auth.hash_password('cheap') ~ '^\$argon2id\$v=19\$m=1024,t=1,p=2\$' AS cost_from_settings;
SELECT auth.verify_password('cheap', auth.hash_password('cheap')) AS verifies;
RESET auth.argon2_memory_kib;
RESET auth.argon2_iterations;
RESET auth.argon2_parallelism;

-- An ordinary role cannot lower the cost for itself.
CREATE ROLE regress_pw_user;
SET ROLE regress_pw_user;
SELECT pg_temp.err($$SET auth.argon2_memory_kib = 64$$);
RESET ROLE;
DROP ROLE regress_pw_user;

-- Hashes made elsewhere, by Debian's argon2 command-line tool
-- (echo -n password | argon2 somesalt -id -t 2 -m 16 -p 1 -e; -i; -v 10).
SELECT auth.verify_password('password', '$argon2id$v=19$m=65536,t=2,p=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc') AS argon2id_vector,
       auth.verify_password('password', '$argon2i$v=19$m=65536,t=2,p=1$c29tZXNhbHQ$wWKIMhR9lyDFvRz9YTZweHKfbftvj+qf+YFY4NeBbtA') AS argon2i_vector,
       auth.verify_password('password', '$argon2id$v=16$m=1024,t=2,p=2$c29tZXNhbHQ$IdTg/4MraRFgFxqi4VO/G6Np9VGpyb7V8uHk2VF5090') AS argon2id_v16_vector,
       auth.verify_password('passwore', '$argon2id$v=19$m=65536,t=2,p=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc') AS wrong;

-- bcrypt, through pgcrypto's crypt(): $2a$ as pgcrypto writes it, and the
-- same hash spelt $2b$ and $2y$ as other libraries write it.
CREATE TEMP TABLE bcrypt AS SELECT crypt('bcrypt pass', gen_salt('bf', 6)) AS h;
SELECT auth.verify_password('bcrypt pass', h) AS b2a,
       auth.verify_password('bcrypt pass', overlay(h placing '$2b$' from 1 for 4)) AS b2b,
       auth.verify_password('bcrypt pass', overlay(h placing '$2y$' from 1 for 4)) AS b2y,
       auth.verify_password('bcrypt Pass', h) AS wrong
  FROM bcrypt;

-- better-auth's scrypt format; the password is NFKC-normalised, so the
-- ligature U&'\FB01' matches the hash made from it.
SELECT auth.verify_password('better-auth-pass', '0123456789abcdef0123456789abcdef:2bbecf9980047461b557199fcc07b2532b2d625ae4a2bbcfbcb870c7accba86a70b3784e81d6405474546822c63b32459fee8de3b296bf921829bd39b8404ca0') AS scrypt_right,
       auth.verify_password('better-auth-Pass', '0123456789abcdef0123456789abcdef:2bbecf9980047461b557199fcc07b2532b2d625ae4a2bbcfbcb870c7accba86a70b3784e81d6405474546822c63b32459fee8de3b296bf921829bd39b8404ca0') AS scrypt_wrong,
       auth.verify_password(U&'\FB01re-password', '0123456789abcdef0123456789abcdef:eaacd3fa1222b0cf0ed6ed34c01e9884e0660e5d541640a9f1093beed78a01600bf70b90a7b72379be373161523c2f421a398dfe6ca74f750d4b3c283d703ffa') AS scrypt_nfkc;

-- Unrecognised formats are errors, not false; NULL in gives NULL out.
SELECT pg_temp.err($$SELECT auth.verify_password('x', 'plaintext')$$);
SELECT pg_temp.err($$SELECT auth.verify_password('x', '')$$);
SELECT pg_temp.err($$SELECT auth.verify_password('x', '$argon2id$v=19$m=99999999,t=2,p=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc')$$);
SELECT pg_temp.err($$SELECT auth.verify_password('x', '$2b$10$short')$$);
-- A hash may not cost more than four times the configured cost, so nobody
-- can stall a backend with a hash of their own (argon2 cannot be cancelled).
SELECT pg_temp.err($$SELECT auth.verify_password('x', '$argon2id$v=19$m=4194304,t=2,p=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc')$$);
SELECT pg_temp.err($$SELECT auth.verify_password('x', '$argon2id$v=19$m=65536,t=60,p=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc')$$);
-- Base64 fields must be canonical, as libargon2 requires: the same salt
-- spelled with nonzero spare bits is another string, refused.
SELECT pg_temp.err($$SELECT auth.verify_password('password', '$argon2id$v=19$m=65536,t=2,p=1$c29tZXNhbHR$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc')$$) AS spare_bits_in_salt;
SELECT pg_temp.err($$SELECT auth.verify_password('password', '$argon2id$v=19$m=65536,t=2,p=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPd')$$) AS spare_bits_in_hash;
-- ... and the work is bounded as a whole, memory times passes: each of
-- m=77824 and t=8 is within its own bound, together they are 16x the
-- configured cost; at four times OWASP's strongest single-pass cost a hash
-- is verified.
SELECT pg_temp.err($$SELECT auth.verify_password('x', '$argon2id$v=19$m=77824,t=8,p=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc')$$);
SELECT pg_temp.err($$SELECT auth.verify_password('x', '$argon2id$v=19$m=47104,t=4,p=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc')$$) AS at_the_bound;
SELECT pg_temp.err(format('SELECT auth.verify_password(%L, %L)', 'x', overlay(h placing '$2a$31$' from 1 for 7))) FROM bcrypt;
SELECT auth.verify_password(NULL, 'x') IS NULL AS null_password, auth.hash_password(NULL) IS NULL AS null_hash;
-- Huge input is refused before any work.
SELECT pg_temp.err($$SELECT auth.hash_password(repeat('x', 5000))$$);
SELECT pg_temp.err($$SELECT auth.verify_password(repeat('x', 5000), auth.hash_password('y'))$$);
-- The empty password hashes and verifies (policy is sign_up's business).
SELECT auth.verify_password('', auth.hash_password('')) AS empty_ok;
