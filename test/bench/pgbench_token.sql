-- pgbench (d) baseline: the same token lookup without verifying it.
\set i random(1, 20000)
SELECT (SELECT token FROM bench_tokens WHERE id = :i);
