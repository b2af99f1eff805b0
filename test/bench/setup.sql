-- Benchmark data (run by test/bench/run.sh in a fresh database).
-- Nothing here prints a token: tokens stay in bench_tokens and are only
-- ever read by queries, never selected to the client.
\set ON_ERROR_STOP 1
\set VERBOSITY terse
SET client_min_messages = warning;

CREATE EXTENSION auth CASCADE;

-- 20,000 users without passwords (no argon2 cost) and one live session each.
INSERT INTO auth.users (email)
SELECT 'u' || g || '@bench.test' FROM generate_series(1, 20000) g;

CREATE TABLE bench_tokens (
    id      integer PRIMARY KEY,
    user_id uuid NOT NULL,
    token   text NOT NULL
);
INSERT INTO bench_tokens (id, user_id, token)
SELECT row_number() OVER (), s.user_id, s.token
  FROM auth.users u
 CROSS JOIN LATERAL auth.create_session(u.id) s;

-- (g) 20,000 API keys without limits, one per user, and one key with a
-- rate limit (high enough never to refuse: every use is counted) that 8
-- clients share.
CREATE TABLE bench_api_keys (
    id  integer PRIMARY KEY,
    key text NOT NULL
);
INSERT INTO bench_api_keys (id, key)
SELECT t.id, k.key
  FROM bench_tokens t
 CROSS JOIN LATERAL auth.create_api_key_for(t.user_id, 'bench', '{read}') k;
INSERT INTO bench_api_keys (id, key)
SELECT 0, k.key
  FROM auth.create_api_key_for((SELECT user_id FROM bench_tokens WHERE id = 1), 'rated', '{read}',
                               rate_limit_max => 2000000000, rate_limit_window => '1 day') k;

-- (a) the same lookup written by hand: one table, same SHA-256 hashes.
CREATE TABLE hand_sessions (
    token_hash bytea PRIMARY KEY,
    user_id    uuid NOT NULL,
    expires_at timestamptz NOT NULL,
    revoked_at timestamptz
);
INSERT INTO hand_sessions (token_hash, user_id, expires_at, revoked_at)
SELECT sha256(convert_to(t.token, 'UTF8')), s.user_id, s.expires_at, s.revoked_at
  FROM bench_tokens t
  JOIN auth.sessions s ON s.token_hash = sha256(convert_to(t.token, 'UTF8'))
 ORDER BY t.id;

-- (b)/(c) 1M documents over 1000 owners (the users of tokens 1..1000).
-- One table, two policies, each for its own role (run.sh creates the roles):
-- bench_app sees docs through auth.uid(), bench_supabase through a
-- Supabase-style SQL function, so both read exactly the same pages.
CREATE TABLE bench_owners AS
SELECT id - 1 AS slot, user_id FROM bench_tokens WHERE id <= 1000;

CREATE TABLE docs (id bigint, owner_id uuid, body text);
INSERT INTO docs (id, owner_id, body)
SELECT g, o.user_id, md5(g::text)
  FROM generate_series(1, 1000000) g
  JOIN bench_owners o ON o.slot = g % 1000
 ORDER BY g;

CREATE SCHEMA bench;
-- what Supabase's auth.uid() is: an inlinable SQL function over a setting
CREATE FUNCTION bench.supabase_uid() RETURNS uuid
LANGUAGE sql STABLE
AS $$ select nullif(current_setting('request.jwt.claim.sub', true), '')::uuid $$;

ALTER TABLE docs ENABLE ROW LEVEL SECURITY;
-- not wrapped in (SELECT ...): evaluated per row, as written by most people
CREATE POLICY docs_auth ON docs TO bench_app USING (owner_id = auth.uid());
CREATE POLICY docs_supabase ON docs TO bench_supabase USING (owner_id = bench.supabase_uid());

GRANT USAGE ON SCHEMA bench TO bench_app, bench_supabase;
GRANT SELECT ON docs TO bench_app, bench_supabase;

-- (j) the same documents through a global permission: the user of token 1
-- holds a global role granting docs:read, so the policy passes every row.
SELECT auth.create_global_role('bench_reader', '{docs:read}');
SELECT auth.set_user_role(user_id, 'bench_reader') FROM bench_tokens WHERE id = 1;
CREATE POLICY docs_global ON docs TO bench_global USING (auth.has_global_permission('docs:read'));
GRANT SELECT ON docs TO bench_global;

-- (e) 100 users with a password (one argon2id hash at the default cost,
-- shared) for sign-in; magic links go to fresh addresses, so the limit of
-- requests per email is lifted for this database only.
INSERT INTO auth.users (email, password_hash)
SELECT 'pw' || g || '@bench.test', h
  FROM generate_series(1, 100) g, (SELECT auth.hash_password('bench password') AS h) p;
SELECT format('ALTER DATABASE %I SET auth.magic_link_rate_limit = 1000', current_database()) \gexec

-- (f) 1M rows over 1,000 organizations; the user of token 1 belongs to 10
-- of them, and every organization has 5 other members.
INSERT INTO auth.organizations (name, slug)
SELECT 'Org ' || g, 'bench-org-' || g FROM generate_series(0, 999) g;
CREATE TABLE bench_orgs AS
SELECT replace(slug, 'bench-org-', '')::int AS slot, id FROM auth.organizations WHERE slug LIKE 'bench-org-%';
INSERT INTO auth.members (org_id, user_id, role)
SELECT o.id, t.user_id, 'member' FROM bench_orgs o, bench_tokens t WHERE t.id = 1 AND o.slot % 100 = 0;
INSERT INTO auth.members (org_id, user_id, role)
SELECT o.id, t.user_id, 'member'
  FROM bench_orgs o CROSS JOIN generate_series(0, 4) k
  JOIN bench_tokens t ON t.id = 2 + (o.slot * 5 + k) % 19999
ON CONFLICT DO NOTHING;
CREATE TABLE tenant_rows (id bigint, org_id uuid, body text);
INSERT INTO tenant_rows (id, org_id, body)
SELECT g, o.id, md5(g::text)
  FROM generate_series(1, 1000000) g
  JOIN bench_orgs o ON o.slot = g % 1000
 ORDER BY g;
ALTER TABLE tenant_rows ENABLE ROW LEVEL SECURITY;
-- written plainly: one call per row, no (SELECT ...) wrapper
CREATE POLICY tenant_auth ON tenant_rows TO bench_app USING (auth.is_member(org_id));
-- basejump's style: a SECURITY DEFINER SQL function probing the members table per row
CREATE FUNCTION bench.basejump_is_member(org uuid) RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog
AS $$ SELECT EXISTS (SELECT 1 FROM auth.members m WHERE m.org_id = org AND m.user_id = auth.uid()) $$;
CREATE POLICY tenant_basejump ON tenant_rows TO bench_supabase USING (bench.basejump_is_member(org_id));
GRANT SELECT ON tenant_rows TO bench_app, bench_supabase;

VACUUM (FREEZE, ANALYZE) auth.users, auth.sessions, bench_tokens, hand_sessions,
    docs, auth.members, tenant_rows;

-- (h) a failing sign-in (an unknown email: argon2 on the dummy hash, the
-- attempt counted and the failure audited by the extension's workers),
-- caught so that pgbench goes on; and verify_password alone on a hash of
-- the same cost.
CREATE FUNCTION bench_failing_sign_in(i bigint) RETURNS boolean
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM auth.sign_in('nobody' || i || '@bench.test', 'bench wrong password');
    RETURN true;
EXCEPTION WHEN invalid_password THEN
    RETURN false;
END
$$;
CREATE TABLE bench_hash AS SELECT auth.hash_password('bench password') AS h;
