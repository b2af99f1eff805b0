-- pgbench (d): verify a random live session token.
\set i random(1, 20000)
SELECT * FROM auth.verify_session((SELECT token FROM bench_tokens WHERE id = :i));
