-- Benchmark data for (i), signed tokens (run by run.sh after setup.sql).
-- 2,000 tokens per algorithm, issued from the first 2,000 sessions, each
-- algorithm's key current in turn (the earlier ones stay previous, within
-- their grace).  Tokens stay in bench_jwts; nothing selects one to the
-- client.
\set ON_ERROR_STOP 1
\set VERBOSITY terse
SET client_min_messages = warning;

CREATE TABLE bench_jwts (
    alg   text NOT NULL,
    id    integer NOT NULL,
    token text NOT NULL,
    PRIMARY KEY (alg, id)
);
DO $$
DECLARE
    v_alg text;
    t record;
BEGIN
    FOREACH v_alg IN ARRAY ARRAY['HS256', 'EdDSA', 'ES256'] LOOP
        PERFORM auth.create_signing_key(v_alg, 'current');
        FOR t IN SELECT id, token FROM bench_tokens WHERE id <= 2000 LOOP
            PERFORM auth.authenticate(t.token);
            INSERT INTO bench_jwts VALUES (v_alg, t.id, auth.issue_jwt(ttl => '24 hours'));
        END LOOP;
    END LOOP;
END
$$;
VACUUM (FREEZE, ANALYZE) bench_jwts, auth.signing_keys;
