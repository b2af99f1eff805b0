-- pgbench (g): verify a random API key without limits.
\set i random(1, 20000)
SELECT * FROM auth.verify_api_key((SELECT key FROM bench_api_keys WHERE id = :i));
