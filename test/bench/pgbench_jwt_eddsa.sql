-- pgbench (i): authenticate a random EdDSA token (the revocation check on or
-- off as the connection's auth.jwt_check_revocation says).
\set i random(1, 2000)
SELECT auth.authenticate_jwt((SELECT token FROM bench_jwts WHERE alg = 'EdDSA' AND id = :i));
