-- request: one round trip per request.  A request's credential is checked
-- and its query run in one call, the query only after the identity is set
-- (README "One round trip per request").
--
-- Why a function and not one plain statement: within one statement the
-- planner decides what runs first.  In `FROM notes, LATERAL (SELECT
-- auth.authenticate($1))` or with a MATERIALIZED CTE the credential is
-- one input of a join, read when the join order reaches it, so the
-- table's policy may be evaluated (and every row refused) before the
-- identity exists.  The statements of a PL/pgSQL body run one after the
-- other, each to completion: the query is planned and started only once
-- authenticate has returned, so its scans, its parallel workers (which
-- copy the settings when they start) and its policies all see the
-- identity.
--
-- SECURITY INVOKER and without a SET clause: the query is the caller's,
-- runs with the caller's rights and resolves names in the caller's
-- search_path; every name the body itself uses is qualified.
CREATE FUNCTION auth.with_identity(token text, query text, args jsonb DEFAULT NULL)
RETURNS SETOF jsonb
LANGUAGE plpgsql VOLATILE
AS $$
BEGIN
    IF query IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'query must not be NULL';
    END IF;
    -- A session token, or else an API key (whose prefix is configurable).
    IF token IS NULL OR pg_catalog.starts_with(token, 'ses_') THEN
        PERFORM auth.authenticate(token);
    ELSE
        PERFORM auth.authenticate_api_key(token);
    END IF;
    -- The newline ends a trailing -- comment of the query.
    RETURN QUERY EXECUTE pg_catalog.format(
        E'WITH q AS (%s\n) SELECT pg_catalog.to_jsonb(q) FROM q', query)
        USING args;
END
$$;
COMMENT ON FUNCTION auth.with_identity(text, text, jsonb) IS
    'authenticates a session token or API key for the transaction, then runs query (args as $1) and returns its rows as jsonb; 28000 when the credential is invalid';
