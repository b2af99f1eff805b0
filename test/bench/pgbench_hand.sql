-- pgbench (d) comparison: the hand-written lookup of (a), for one random token.
\set i random(1, 20000)
SELECT s.user_id, s.token_hash IS NOT NULL AS found, s.expires_at
  FROM hand_sessions s
 WHERE s.token_hash = sha256(convert_to((SELECT token FROM bench_tokens WHERE id = :i), 'UTF8'))
   AND s.expires_at > now() AND s.revoked_at IS NULL;
