-- pgbench (h): a sign-in that fails (an unknown email, drawn from so many
-- that none reaches the failure limit): argon2 plus the durable attempt
-- count and the audit row of the failure.
\set i random(1, 100000000)
SELECT bench_failing_sign_in(:i);
