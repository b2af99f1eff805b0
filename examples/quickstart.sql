-- Quickstart: two users sign up and sign in; each sees only their own
-- rows of an RLS-protected table; one signs out and their token is refused.
-- Run by `make demo` (psql -X -v ON_ERROR_STOP=1 --echo-all).

\set VERBOSITY terse
CREATE EXTENSION auth CASCADE;

-- 1. The application's table, protected by a policy on auth.uid().
CREATE ROLE demo_app;                           -- the role the application connects as
CREATE TABLE notes (
    id       bigserial PRIMARY KEY,
    owner_id uuid NOT NULL DEFAULT auth.uid(),
    body     text NOT NULL
);
ALTER TABLE notes ENABLE ROW LEVEL SECURITY;
CREATE POLICY own_notes ON notes
    USING (owner_id = auth.uid()) WITH CHECK (owner_id = auth.uid());
GRANT SELECT, INSERT, UPDATE, DELETE ON notes TO demo_app;
GRANT USAGE ON SEQUENCE notes_id_seq TO demo_app;

-- 2. Two users sign up.
SET ROLE demo_app;
SELECT auth.sign_up('alice@example.com', 'alice-secret-1') AS alice_id \gset
SELECT auth.sign_up('bob@example.com', 'bob-secret-22') IS NOT NULL AS bob_signed_up;

-- 3. They sign in; the application keeps each opaque token (here in psql
--    variables, never printed).
SELECT token AS alice_token FROM auth.sign_in('alice@example.com', 'alice-secret-1') \gset
SELECT token AS bob_token FROM auth.sign_in('bob@example.com', 'bob-secret-22') \gset

-- 4. Each request authenticates inside its transaction, then uses the table.
BEGIN;
SELECT auth.authenticate(:'alice_token') IS NOT NULL AS alice_authenticated;
INSERT INTO notes (body) VALUES ('alice: buy milk'), ('alice: call mom');
COMMIT;

BEGIN;
SELECT auth.authenticate(:'bob_token') IS NOT NULL AS bob_authenticated;
INSERT INTO notes (body) VALUES ('bob: fix the bike');
COMMIT;

-- 5. Each sees only their own rows.
BEGIN;
SELECT auth.authenticate(:'alice_token') IS NOT NULL AS alice_authenticated;
SELECT body FROM notes ORDER BY id;
COMMIT;

BEGIN;
SELECT auth.authenticate(:'bob_token') IS NOT NULL AS bob_authenticated;
SELECT body FROM notes ORDER BY id;
-- Bob cannot write a row as Alice (the error is expected).
SAVEPOINT try;
\set ON_ERROR_STOP off
INSERT INTO notes (owner_id, body) VALUES (:'alice_id', 'forged by bob');
\set ON_ERROR_STOP on
ROLLBACK TO SAVEPOINT try;
COMMIT;

-- Nobody authenticated: no rows.
SELECT count(*) AS anonymous_sees FROM notes;

-- 6. Alice signs out; her token is refused from then on.
BEGIN;
SELECT auth.authenticate(:'alice_token') IS NOT NULL AS alice_authenticated;
SELECT auth.sign_out() AS alice_signed_out;
COMMIT;
SELECT user_id IS NULL AS alice_token_refused FROM auth.verify_session(:'alice_token');
\set ON_ERROR_STOP off
SELECT auth.authenticate(:'alice_token');
\set ON_ERROR_STOP on
RESET ROLE;
