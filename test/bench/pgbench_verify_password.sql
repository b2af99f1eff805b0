-- pgbench (h) baseline: verify_password alone, a wrong password against a
-- hash of the configured cost.
SELECT auth.verify_password('bench wrong password', (SELECT h FROM bench_hash));
