-- Row-level security with auth.uid(): each user sees and changes only their
-- own rows, nobody writes as someone else, anonymous sees nothing.
\i sql/include/setup.psql

CREATE ROLE regress_app;
GRANT USAGE ON SCHEMA public TO regress_app;
CREATE TABLE documents (
    id       serial PRIMARY KEY,
    owner_id uuid NOT NULL,
    title    text NOT NULL
);
GRANT SELECT, INSERT, UPDATE, DELETE ON documents TO regress_app;
GRANT USAGE ON SEQUENCE documents_id_seq TO regress_app;
ALTER TABLE documents ENABLE ROW LEVEL SECURITY;
CREATE POLICY own_documents ON documents
    USING (owner_id = auth.uid()) WITH CHECK (owner_id = auth.uid());

SELECT auth.sign_up('rae@example.com', 'rae password') AS rae \gset
SELECT auth.sign_up('rob@example.com', 'rob password') AS rob \gset
SELECT token AS rae_token FROM auth.sign_in('rae@example.com', 'rae password') \gset
SELECT token AS rob_token FROM auth.sign_in('rob@example.com', 'rob password') \gset
INSERT INTO documents (owner_id, title) VALUES
    (:'rae', 'rae 1'), (:'rae', 'rae 2'), (:'rob', 'rob 1');

-- Each user sees only their rows.
BEGIN;
SELECT auth.authenticate(:'rae_token') IS NOT NULL AS authenticated;
SET LOCAL ROLE regress_app;
SELECT title FROM documents ORDER BY title;
-- writes their own ...
INSERT INTO documents (owner_id, title) VALUES (auth.uid(), 'rae 3');
UPDATE documents SET title = title || ' (edited)' WHERE title = 'rae 1';
-- ... but not as someone else, nor someone else's rows.
SELECT pg_temp.err(format('INSERT INTO documents (owner_id, title) VALUES (%L, %L)', :'rob', 'forged'));
SELECT pg_temp.err(format('UPDATE documents SET owner_id = %L WHERE title = %L', :'rob', 'rae 2'));
UPDATE documents SET title = 'hijacked' WHERE title = 'rob 1';
DELETE FROM documents WHERE title = 'rob 1';
SELECT title FROM documents ORDER BY title;
COMMIT;

BEGIN;
SELECT auth.authenticate(:'rob_token') IS NOT NULL AS authenticated;
SET LOCAL ROLE regress_app;
SELECT title FROM documents ORDER BY title;
COMMIT;

-- Anonymous sees nothing and writes nothing.
BEGIN;
SET LOCAL ROLE regress_app;
SELECT count(*) AS anonymous_rows FROM documents;
SELECT pg_temp.err($$INSERT INTO documents (owner_id, title) VALUES ('00000000-0000-0000-0000-000000000000', 'anon')$$);
COMMIT;

-- After sign-out, the same token sees nothing.
BEGIN;
SELECT auth.authenticate(:'rae_token') IS NOT NULL AS authenticated;
SELECT auth.sign_out() AS signed_out;
SET LOCAL ROLE regress_app;
SELECT count(*) AS rows_after_sign_out FROM documents;
COMMIT;
SELECT pg_temp.err(format('SELECT auth.authenticate(%L)', :'rae_token'));

-- The policy's auth.uid() is a plain STABLE C call: no sub-select needed.
SELECT provolatile, proparallel, prolang = (SELECT oid FROM pg_language WHERE lanname = 'c') AS is_c
  FROM pg_proc WHERE oid = 'auth.uid()'::regprocedure;

-- The full table, as the owner sees it.
SELECT d.title, u.email FROM documents d JOIN auth.users u ON u.id = d.owner_id ORDER BY d.title;
DROP TABLE documents;
REVOKE USAGE ON SCHEMA public FROM regress_app;
DROP ROLE regress_app;
