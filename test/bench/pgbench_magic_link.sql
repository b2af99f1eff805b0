-- pgbench (e): request a magic link and redeem it (a new session; a new
-- user the first time an address comes up).
\set i random(1, 1000000)
SELECT token IS NOT NULL FROM auth.consume_magic_link(auth.create_magic_link('ml' || :i || '@bench.test'));
