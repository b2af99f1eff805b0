-- request: one round trip per request (src/request.c).  A request's
-- credential is checked and its query run in one call, the query only
-- after the identity is set (README "One round trip per request").
--
-- Why a function and not one plain statement: within one statement the
-- planner decides what runs first.  In `FROM notes, LATERAL (SELECT
-- auth.authenticate($1))` or with a MATERIALIZED CTE the credential is
-- one input of a join, read when the join order reaches it, so the
-- table's policy may refuse every row before the identity exists.
-- with_identity checks the credential to completion before the query is
-- planned, then runs the query as a statement of its own: its scans, its
-- policies and its parallel workers (which copy the settings when they
-- start) all see the identity.  Not SECURITY DEFINER and without a SET
-- clause: the query is the caller's, runs with the caller's rights and
-- resolves names in the caller's search_path.
CREATE FUNCTION auth.with_identity(token text, query text, args jsonb DEFAULT NULL)
RETURNS SETOF jsonb
    AS 'MODULE_PATHNAME', 'auth_with_identity'
    LANGUAGE C VOLATILE;
COMMENT ON FUNCTION auth.with_identity(text, text, jsonb) IS
    'authenticates a session token or API key for the transaction, then runs query (args as $1) and returns its rows as jsonb; 28000 when the credential is invalid';
