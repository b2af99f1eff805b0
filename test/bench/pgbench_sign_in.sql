-- pgbench (e): sign in by password (argon2id at the default cost, and the
-- durable attempt count).
\set i random(1, 100)
SELECT token IS NOT NULL FROM auth.sign_in('pw' || :i || '@bench.test', 'bench password');
