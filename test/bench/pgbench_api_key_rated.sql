-- pgbench (g): verify the one rate-limited key every client shares; each
-- use is counted in its shared-memory window.
SELECT * FROM auth.verify_api_key((SELECT key FROM bench_api_keys WHERE id = 0));
