-- The example application's database, run once by a superuser:
--   psql -d app -f examples/app/schema.sql
-- The application connects as example_app, which owns nothing, so the
-- policies apply to it (owners and superusers bypass RLS).
CREATE EXTENSION IF NOT EXISTS auth CASCADE;

DO $$ BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'example_app') THEN
        CREATE ROLE example_app LOGIN;
    END IF;
END $$;
-- create_magic_link returns a secret to mail: only the server role may.
SELECT auth.grant_issuer('example_app');

-- A note belongs to a user and to the organization that was active when it
-- was written (NULL: the personal space); a user sees their own notes in
-- the active organization only.
CREATE TABLE IF NOT EXISTS notes (
    id         bigserial PRIMARY KEY,
    owner_id   uuid NOT NULL DEFAULT auth.uid(),
    org_id     uuid DEFAULT auth.org_id(),
    body       text NOT NULL CHECK (length(body) BETWEEN 1 AND 2000),
    created_at timestamptz NOT NULL DEFAULT now()
);
ALTER TABLE notes ENABLE ROW LEVEL SECURITY;
DROP POLICY IF EXISTS own_notes ON notes;
CREATE POLICY own_notes ON notes
    USING (owner_id = auth.uid() AND org_id IS NOT DISTINCT FROM auth.org_id())
    WITH CHECK (owner_id = auth.uid() AND org_id IS NOT DISTINCT FROM auth.org_id());
GRANT USAGE ON SCHEMA public TO example_app;
GRANT SELECT, INSERT, DELETE ON notes TO example_app;
GRANT USAGE ON SEQUENCE notes_id_seq TO example_app;
