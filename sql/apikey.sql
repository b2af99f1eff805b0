-- API keys: creation, every verification code and refusal, limits, the
-- api_key identity and scopes, organization keys, keys made by keys,
-- rotation, revocation, and row-level security with keys.
\i sql/include/setup.psql

\i sql/include/as_user.psql
\i sql/include/settled.psql
-- The verdict on a key without the key: valid, code, and whether the
-- owner, organization and scopes came back.
CREATE FUNCTION pg_temp.verdict(key text, required text[] DEFAULT '{}')
RETURNS TABLE (valid boolean, code text, remaining integer, has_owner boolean, scopes text[])
LANGUAGE sql AS $$
    SELECT v.valid, v.code, v.remaining, v.user_id IS NOT NULL, v.scopes
      FROM auth.verify_api_key(key, required) v
$$;

INSERT INTO auth.users (email, email_verified_at)
SELECT e || '@keys.example', now() FROM unnest(ARRAY['kate', 'ken', 'kim']) e;
SELECT id AS kate_id FROM auth.users WHERE email = 'kate@keys.example' \gset
SELECT id AS ken_id FROM auth.users WHERE email = 'ken@keys.example' \gset
SELECT id AS kim_id FROM auth.users WHERE email = 'kim@keys.example' \gset
SELECT token AS kate FROM auth.create_session(:'kate_id') \gset
SELECT token AS ken FROM auth.create_session(:'ken_id') \gset
SELECT token AS kim FROM auth.create_session(:'kim_id') \gset

-- Creating: for the authenticated user, returned once.
SELECT pg_temp.err($$SELECT auth.create_api_key('nobody')$$);
BEGIN;
SELECT auth.authenticate(:'kate') IS NOT NULL AS authenticated;
SELECT key AS k_read, key_id AS k_read_id
  FROM auth.create_api_key('reader', '{read,projects:*}', metadata => '{"env": "ci"}') \gset
SELECT key AS k_plain, key_id AS k_plain_id FROM auth.create_api_key('plain') \gset
SELECT key AS k_custom FROM auth.create_api_key('custom prefix', prefix => 'sk2') \gset
COMMIT;
-- "<prefix>_" and 48 base64url characters (288 bits); only the hash is kept
SELECT :'k_read' ~ '^ak_[A-Za-z0-9_-]{48}$' AS default_shape,
       :'k_custom' ~ '^sk2_[A-Za-z0-9_-]{48}$' AS custom_shape,
       :'k_read' <> :'k_plain' AS distinct_keys;
SELECT name, prefix, start = left(:'k_read', 7) AS start_shown, length(start) AS start_length,
       key_hash = sha256(convert_to(:'k_read', 'UTF8')) AS sha256_stored, scopes, metadata,
       user_id = :'kate_id' AS kate_owns, expires_at, managed
  FROM auth.api_keys WHERE id = :'k_read_id';

-- Refusals when creating, each with its SQLSTATE.
BEGIN;
SELECT auth.authenticate(:'kate') IS NOT NULL AS authenticated;
SELECT pg_temp.err($$SELECT auth.create_api_key(NULL)$$) AS null_name;
SELECT pg_temp.err($$SELECT auth.create_api_key('  ')$$) AS blank_name;
SELECT pg_temp.err($$SELECT auth.create_api_key(repeat('n', 201))$$) AS long_name;
SELECT pg_temp.err($$SELECT auth.create_api_key('k', prefix => 'ses')$$) AS reserved_prefix;
SELECT pg_temp.err($$SELECT auth.create_api_key('k', prefix => 'Sk_live')$$) AS bad_prefix;
SELECT pg_temp.err($$SELECT auth.create_api_key('k', '{read,NULL}')$$) AS null_scope;
SELECT pg_temp.err($$SELECT auth.create_api_key('k', '{"has space"}')$$) AS bad_scope;
SELECT pg_temp.err($$SELECT auth.create_api_key('k', '{a*b}')$$) AS inner_wildcard;
SELECT pg_temp.err($$SELECT auth.create_api_key('k', ARRAY(SELECT 's' || g FROM generate_series(1, 33) g))$$) AS too_many_scopes;
SELECT pg_temp.err($$SELECT auth.create_api_key('k', ARRAY[repeat('s', 65)])$$) AS long_scope;
SELECT pg_temp.err($$SELECT auth.create_api_key('k', expires_in => '-1 day')$$) AS negative_expiry;
SELECT pg_temp.err($$SELECT auth.create_api_key('k', metadata => '[1]')$$) AS metadata_array;
SELECT pg_temp.err($$SELECT auth.create_api_key('k', metadata => jsonb_build_object('x', repeat('m', 20000)))$$) AS huge_metadata;
SELECT pg_temp.err($$SELECT auth.create_api_key('k', rate_limit_max => 5)$$) AS half_rate_limit;
SELECT pg_temp.err($$SELECT auth.create_api_key('k', rate_limit_max => 0, rate_limit_window => '1 min')$$) AS zero_rate_limit;
SELECT pg_temp.err($$SELECT auth.create_api_key('k', rate_limit_max => 1, rate_limit_window => '1 ms')$$) AS tiny_window;
SELECT pg_temp.err($$SELECT auth.create_api_key('k', remaining => -1)$$) AS negative_remaining;
SELECT pg_temp.err($$SELECT auth.create_api_key('k', refill_amount => 5, refill_interval => '1 day')$$) AS refill_without_quota;
SELECT pg_temp.err($$SELECT auth.create_api_key('k', remaining => 1, refill_amount => 5)$$) AS half_refill;
COMMIT;
SELECT count(*) AS kates_keys FROM auth.api_keys WHERE user_id = :'kate_id';

-- Verification: valid, with the owner and scopes; never raises for a bad key.
SELECT * FROM pg_temp.verdict(:'k_read');
SELECT v.user_id = :'kate_id' AS owner, v.key_id = :'k_read_id' AS key_id, v.org_id, v.retry_after
  FROM auth.verify_api_key(:'k_read') v;
SELECT * FROM pg_temp.verdict(:'k_custom');
-- scopes: exact, and "projects:*" covers every projects action
SELECT * FROM pg_temp.verdict(:'k_read', '{read}');
SELECT * FROM pg_temp.verdict(:'k_read', '{read,projects:write}');
SELECT * FROM pg_temp.verdict(:'k_read', '{write}');
SELECT * FROM pg_temp.verdict(:'k_read', '{projects:write,billing:read}');
SELECT * FROM pg_temp.verdict(:'k_plain', '{read}');
SELECT pg_temp.err(format('SELECT auth.verify_api_key(%L, ARRAY[NULL::text])', :'k_read')) AS null_required;
-- malformed, unknown, wrong kind: INVALID, nothing else
SELECT * FROM pg_temp.verdict(NULL);
SELECT * FROM pg_temp.verdict('');
SELECT * FROM pg_temp.verdict(repeat('x', 1000000));
SELECT * FROM pg_temp.verdict(:'kate');                             -- a session token
SELECT * FROM pg_temp.verdict('ses_' || substr(:'k_read', 4));      -- reserved prefix
SELECT * FROM pg_temp.verdict('sk_live_' || substr(:'k_read', 4));  -- foreign prefix
SELECT * FROM pg_temp.verdict(left(:'k_read', -1));                 -- one short
SELECT * FROM pg_temp.verdict(:'k_read' || 'A');                    -- one long
SELECT * FROM pg_temp.verdict(left(:'k_read', -1) || CASE WHEN right(:'k_read', 1) = 'A' THEN 'B' ELSE 'A' END);
SELECT * FROM pg_temp.verdict(upper(:'k_read'));
-- A key of the wrong shape reads no table; a well-shaped unknown one costs
-- the probe of the key index and of the rotated-key index; a valid key, one.
CREATE FUNCTION pg_temp.probes() RETURNS bigint[] LANGUAGE sql AS $$
    SELECT ARRAY[pg_stat_get_xact_numscans('auth.api_keys_key_hash_key'::regclass),
                 pg_stat_get_xact_numscans('auth.api_keys_previous_key_hash_key'::regclass),
                 pg_stat_get_xact_numscans('auth.api_keys'::regclass)]
$$;
BEGIN;
SELECT pg_temp.probes() AS before \gset
SELECT * FROM pg_temp.verdict('sk_live_' || substr(:'k_read', 4));
SELECT * FROM pg_temp.verdict(:'kate');
SELECT * FROM pg_temp.verdict(repeat('y', 100000));
SELECT pg_temp.probes() AS after \gset
SELECT (:'after'::bigint[])[1] - (:'before'::bigint[])[1] AS key_index_probes,
       (:'after'::bigint[])[2] - (:'before'::bigint[])[2] AS previous_index_probes;
SELECT * FROM pg_temp.verdict(left(:'k_read', -1) || CASE WHEN right(:'k_read', 1) = 'A' THEN 'B' ELSE 'A' END);
SELECT pg_temp.probes() AS after2 \gset
SELECT (:'after2'::bigint[])[1] - (:'after'::bigint[])[1] AS key_index_probes,
       (:'after2'::bigint[])[2] - (:'after'::bigint[])[2] AS previous_index_probes;
SELECT valid FROM auth.verify_api_key(:'k_read');
SELECT pg_temp.probes() AS after3 \gset
SELECT (:'after3'::bigint[])[1] - (:'after2'::bigint[])[1] AS key_index_probes,
       (:'after3'::bigint[])[2] - (:'after2'::bigint[])[2] AS previous_index_probes;
COMMIT;

-- A key without limits writes nothing: last_used_at is touched once per
-- auth.api_key_touch_interval, not per verification.
SELECT last_used_at IS NOT NULL AS touched FROM auth.api_keys WHERE id = :'k_plain_id';
SELECT valid FROM auth.verify_api_key(:'k_plain');
BEGIN;
SELECT pg_stat_get_xact_tuples_updated('auth.api_keys'::regclass) AS updated_before \gset
SELECT valid FROM auth.verify_api_key(:'k_plain');
SELECT valid FROM auth.verify_api_key(:'k_plain');
SELECT pg_stat_get_xact_tuples_updated('auth.api_keys'::regclass) - :updated_before AS rows_updated;
COMMIT;
-- (a worker writes the touch, after the call and outside its transaction)
SELECT pg_temp.settled(format('SELECT last_used_at IS NOT NULL FROM auth.api_keys WHERE id = %L', :'k_plain_id')) AS touch_written;
SELECT last_used_at AS plain_used FROM auth.api_keys WHERE id = :'k_plain_id' \gset
SET auth.time_offset = '30s';
SELECT valid FROM auth.verify_api_key(:'k_plain');
SELECT last_used_at = :'plain_used' AS not_touched_within_a_minute FROM auth.api_keys WHERE id = :'k_plain_id';
SET auth.time_offset = '2min';
SELECT valid FROM auth.verify_api_key(:'k_plain');
SELECT pg_temp.settled(format('SELECT last_used_at > %L FROM auth.api_keys WHERE id = %L', :'plain_used', :'k_plain_id')) AS touched_after_a_minute;
-- and in a read-only transaction too (a GET through PostgREST)
SET auth.time_offset = '10min';
BEGIN READ ONLY;
SELECT valid FROM auth.verify_api_key(:'k_plain');
COMMIT;
SELECT pg_temp.settled(format('SELECT last_used_at > %L::timestamptz + interval %L FROM auth.api_keys WHERE id = %L', :'plain_used', '5 minutes', :'k_plain_id')) AS touched_read_only;
RESET auth.time_offset;

-- Expiry.
BEGIN;
SELECT auth.authenticate(:'kate') IS NOT NULL AS authenticated;
SELECT key AS k_short FROM auth.create_api_key('short-lived', expires_in => '1 hour') \gset
COMMIT;
SELECT * FROM pg_temp.verdict(:'k_short');
SET auth.time_offset = '61min';
SELECT * FROM pg_temp.verdict(:'k_short');
RESET auth.time_offset;

-- The rate limit: exactly max uses per window, then RATE_LIMITED with the
-- time to wait; a new window starts afresh.
BEGIN;
SELECT auth.authenticate(:'kate') IS NOT NULL AS authenticated;
SELECT key AS k_rate, key_id AS k_rate_id
  FROM auth.create_api_key('rated', rate_limit_max => 3, rate_limit_window => '1 minute') \gset
COMMIT;
SELECT valid, code FROM auth.verify_api_key(:'k_rate');
SELECT valid, code FROM auth.verify_api_key(:'k_rate');
SELECT valid, code FROM auth.verify_api_key(:'k_rate');
SELECT valid, code, retry_after > '0' AND retry_after <= '1 minute' AS retry_within_window
  FROM auth.verify_api_key(:'k_rate');
SELECT pg_temp.err(format('SELECT auth.authenticate_api_key(%L)', :'k_rate')) AS authenticate_limited;
BEGIN;
SELECT auth.authenticate(:'kate') IS NOT NULL AS authenticated;
SELECT request_count, window_start IS NOT NULL AS window_open FROM auth.list_api_keys() WHERE id = :'k_rate_id';
COMMIT;
-- a refused scope does not count
SELECT code FROM auth.verify_api_key(:'k_rate', '{admin}');
SET auth.time_offset = '61s';
SELECT valid, code FROM auth.verify_api_key(:'k_rate');
SELECT valid, code FROM auth.verify_api_key(:'k_rate');
RESET auth.time_offset;

-- The quota: remaining counts down durably; USAGE_EXCEEDED at 0; a refill
-- restores refill_amount once per refill_interval.
BEGIN;
SELECT auth.authenticate(:'kate') IS NOT NULL AS authenticated;
SELECT key AS k_quota, key_id AS k_quota_id
  FROM auth.create_api_key('quota', remaining => 2, refill_amount => 3, refill_interval => '1 day') \gset
COMMIT;
SELECT valid, code, remaining FROM auth.verify_api_key(:'k_quota');
SELECT valid, code, remaining FROM auth.verify_api_key(:'k_quota');
SELECT valid, code, remaining, retry_after > '23 hours' AND retry_after <= '1 day' AS retry_within_refill FROM auth.verify_api_key(:'k_quota');
SELECT pg_temp.err(format('SELECT auth.authenticate_api_key(%L)', :'k_quota')) AS authenticate_exhausted;
-- a use inside a transaction that rolls back is not counted
BEGIN;
SET LOCAL auth.time_offset = '1441min';
SELECT valid, remaining FROM auth.verify_api_key(:'k_quota');
ROLLBACK;
SET auth.time_offset = '1441min';
SELECT valid, code, remaining FROM auth.verify_api_key(:'k_quota');
SELECT valid, code, remaining FROM auth.verify_api_key(:'k_quota');
SELECT valid, code, remaining FROM auth.verify_api_key(:'k_quota');
SELECT valid, code, remaining FROM auth.verify_api_key(:'k_quota');
RESET auth.time_offset;
-- a key with limits is counted in a read-write transaction only
BEGIN READ ONLY;
SELECT pg_temp.err(format('SELECT auth.verify_api_key(%L)', :'k_quota')) AS read_only;
COMMIT;
-- both limits: a use the quota refuses gives its rate-limit slot back
BEGIN;
SELECT auth.authenticate(:'kate') IS NOT NULL AS authenticated;
SELECT key AS k_both, key_id AS k_both_id FROM auth.create_api_key('both', rate_limit_max => 5,
       rate_limit_window => '1 hour', remaining => 1) \gset
COMMIT;
SELECT valid, code, remaining FROM auth.verify_api_key(:'k_both');
SELECT valid, code, remaining FROM auth.verify_api_key(:'k_both');
SELECT valid, code, remaining FROM auth.verify_api_key(:'k_both');
BEGIN;
SELECT auth.authenticate(:'kate') IS NOT NULL AS authenticated;
SELECT request_count, remaining FROM auth.list_api_keys() WHERE id = :'k_both_id';
COMMIT;

-- Disabled, revoked, banned owner.
BEGIN;
SELECT auth.authenticate(:'kate') IS NOT NULL AS authenticated;
SELECT auth.update_api_key(:'k_plain_id', enabled => false);
COMMIT;
SELECT * FROM pg_temp.verdict(:'k_plain');
SELECT pg_temp.err(format('SELECT auth.authenticate_api_key(%L)', :'k_plain')) AS authenticate_disabled;
BEGIN;
SELECT auth.authenticate(:'kate') IS NOT NULL AS authenticated;
SELECT auth.update_api_key(:'k_plain_id', enabled => true);
SELECT auth.revoke_api_key(:'k_plain_id') AS revoked, auth.revoke_api_key(:'k_plain_id') AS revoked_twice;
COMMIT;
SELECT * FROM pg_temp.verdict(:'k_plain');
SELECT pg_temp.err(format('SELECT auth.authenticate_api_key(%L)', :'k_plain')) AS authenticate_revoked;
UPDATE auth.users SET banned_until = 'infinity' WHERE id = :'kate_id';
SELECT * FROM pg_temp.verdict(:'k_read');
SELECT pg_temp.err(format('SELECT auth.authenticate_api_key(%L)', :'k_read')) AS authenticate_banned;
UPDATE auth.users SET banned_until = NULL WHERE id = :'kate_id';
SELECT * FROM pg_temp.verdict(:'k_read');
SELECT pg_temp.err($$SELECT auth.authenticate_api_key(NULL)$$) AS authenticate_null;
SELECT pg_temp.err(format('SELECT auth.authenticate_api_key(%L, NULL)', :'k_read')) AS null_is_local;

-- The api_key identity: uid() is the owner, api_key_id() the key, no
-- session, its scopes; transaction-scoped unless is_local is false.
BEGIN;
SELECT auth.authenticate_api_key(:'k_read') = :'kate_id' AS owner;
SELECT auth.uid() = :'kate_id' AS uid, auth.api_key_id() = :'k_read_id' AS api_key_id,
       auth.session_id() IS NULL AS no_session, auth.org_id() AS org_id,
       auth.identity() - 'user_id' - 'api_key_id' AS identity;
SELECT auth.scopes(), auth.has_scope('read') AS read, auth.has_scope('projects:delete') AS projects_delete,
       auth.has_scope('write') AS write, auth.has_scope('projects') AS projects_bare;
COMMIT;
SELECT auth.uid() IS NULL AS cleared_at_commit, auth.scopes() IS NULL AS no_scopes, auth.has_scope('read') AS read;
BEGIN;
SELECT auth.authenticate(:'kate') IS NOT NULL AS authenticated;
SELECT auth.scopes() AS session_scopes, auth.has_scope('anything:at-all') AS session_has_any, auth.api_key_id();
COMMIT;
-- connection scope: checked again each transaction, so revocation,
-- disabling and narrowed scopes reach it at the next one
SELECT auth.authenticate_api_key(:'k_read', false) IS NOT NULL AS authenticated;
SELECT auth.uid() = :'kate_id' AS kept, auth.scopes();
SELECT pg_temp.as_user(:'kate', format('SELECT auth.update_api_key(%L, scopes => %L)', :'k_read_id', '{read}'));
SELECT auth.uid() = :'kate_id' AS kept, auth.scopes() AS narrowed, auth.has_scope('projects:read') AS projects_read;
SELECT pg_temp.as_user(:'kate', format('SELECT auth.update_api_key(%L, enabled => false)', :'k_read_id'));
SELECT auth.uid() IS NULL AS disabled_key_dropped, auth.scopes() IS NULL AS no_scopes;
SELECT pg_temp.as_user(:'kate', format('SELECT auth.update_api_key(%L, enabled => true)', :'k_read_id'));
SELECT auth.uid() = :'kate_id' AS enabled_again;
-- a rotation ends it too: the identity names the secret that was shown
SELECT pg_temp.as_user(:'kate', format('SELECT auth.rotate_api_key(%L, %L) IS NOT NULL', :'k_read_id', '1 hour')) AS rotated;
SELECT auth.uid() = :'kate_id' AS old_secret_within_grace;
SET auth.time_offset = '61min';
SELECT auth.uid() IS NULL AS old_secret_after_grace;
RESET auth.time_offset;
RESET auth.identity;
-- (a fresh secret for what follows; never printed)
SELECT pg_temp.as_user(:'kate', format('SELECT auth.rotate_api_key(%L)', :'k_read_id')) AS k_read \gset

-- What an API key may not do: manage its owner's account.
SELECT pg_temp.as_key(:'k_read', $$SELECT auth.change_password('x', 'new password 123')$$) AS change_password;
SELECT pg_temp.as_key(:'k_read', $$SELECT auth.revoke_other_sessions()$$) AS revoke_sessions;
SELECT pg_temp.as_key(:'k_read', $$SELECT count(*) FROM auth.list_sessions()$$) AS list_sessions;
SELECT pg_temp.as_key(:'k_read', $$SELECT auth.create_organization('Key Corp')$$) AS create_organization;
SELECT pg_temp.as_key(:'k_read', $$SELECT auth.set_active_organization(NULL)$$) AS set_active_organization;

-- Keys made by keys: a subset of the maker's scopes, dying no later than
-- it, revoked with it; a key manages itself and what it made, nothing else.
BEGIN;
SELECT auth.authenticate(:'kate') IS NOT NULL AS authenticated;
SELECT key AS k_maker, key_id AS k_maker_id
  FROM auth.create_api_key('maker', '{read,projects:*}', expires_in => '1 day') \gset
COMMIT;
BEGIN;
SELECT auth.authenticate_api_key(:'k_maker') IS NOT NULL AS authenticated;
SELECT key AS k_child, key_id AS k_child_id
  FROM auth.create_api_key('child', '{projects:read}', expires_in => '1 year') \gset
SELECT pg_temp.err($$SELECT auth.create_api_key('wider', '{write}')$$) AS wider_scopes;
SELECT pg_temp.err($$SELECT auth.create_api_key('star', '{*}')$$) AS wildcard_scope;
SELECT name FROM auth.list_api_keys() ORDER BY name;
SELECT pg_temp.err(format('SELECT auth.update_api_key(%L, name => %L)', :'k_read_id', 'hijacked')) AS sibling_update;
SELECT auth.revoke_api_key(:'k_read_id') AS sibling_revoke;
SELECT pg_temp.err(format('SELECT auth.rotate_api_key(%L)', :'k_read_id')) AS sibling_rotate;
COMMIT;
SELECT c.expires_at = m.expires_at AS child_capped_at_maker, c.parent_key_id = m.id AS parent
  FROM auth.api_keys c, auth.api_keys m WHERE c.id = :'k_child_id' AND m.id = :'k_maker_id';
SELECT * FROM pg_temp.verdict(:'k_child');
-- a key cannot lift its own limits, re-enable or rotate itself
SELECT pg_temp.as_key(:'k_maker', format('SELECT auth.update_api_key(%L, name => %L)', :'k_maker_id', 'self')) AS update_itself;
SELECT pg_temp.as_key(:'k_maker', format('SELECT auth.rotate_api_key(%L)', :'k_maker_id')) AS rotate_itself;
SELECT pg_temp.as_key(:'k_maker', format('SELECT auth.update_api_key(%L, name => %L)', :'k_child_id', 'renamed child')) AS update_child;
-- a key with limits makes no keys (they would escape its limits)
SELECT pg_temp.as_key(:'k_rate', $$SELECT auth.create_api_key('escape')$$) AS limited_key_creates;
-- disabling a key disables the keys it made
SELECT pg_temp.as_user(:'kate', format('SELECT auth.update_api_key(%L, enabled => false)', :'k_maker_id')) AS disable_maker;
SELECT * FROM pg_temp.verdict(:'k_child');
SELECT pg_temp.as_user(:'kate', format('SELECT auth.update_api_key(%L, enabled => true)', :'k_maker_id')) AS enable_maker;
SELECT * FROM pg_temp.verdict(:'k_child');
SELECT pg_temp.as_user(:'kate', format('SELECT auth.update_api_key(%L, enabled => true)', :'k_child_id')) AS enable_child;
SELECT pg_temp.as_user(:'kate', format('SELECT auth.revoke_api_key(%L)', :'k_maker_id')) AS revoke_maker;
SELECT * FROM pg_temp.verdict(:'k_child');

-- update_api_key: scopes only shrink; limits of a key an admin made are
-- the admin's; someone else's key does not exist.
SELECT pg_temp.as_user(:'kate', format('SELECT auth.update_api_key(%L, scopes => %L)', :'k_read_id', '{read,write}')) AS grow_scopes;
SELECT pg_temp.as_user(:'kate', format('SELECT auth.update_api_key(%L, name => %L, metadata => %L, rate_limit_max => 100, rate_limit_window => %L)',
                                       :'k_read_id', 'renamed', '{"env": "prod"}', '1 hour')) AS own_limits;
SELECT name, metadata, rate_limit_max, rate_limit_window FROM auth.api_keys WHERE id = :'k_read_id';
SELECT pg_temp.as_user(:'kate', format('SELECT auth.update_api_key(%L, name => %L)', :'k_read_id', '')) AS blank_name;
SELECT pg_temp.as_user(:'ken', format('SELECT auth.update_api_key(%L, name => %L)', :'k_read_id', 'mine')) AS someone_elses;
SELECT pg_temp.as_user(:'ken', format('SELECT auth.revoke_api_key(%L)', :'k_read_id')) AS revoke_someone_elses;
SELECT key AS k_managed, key_id AS k_managed_id
  FROM auth.create_api_key_for(:'ken_id', 'billing', '{read}', remaining => 10) \gset
SELECT pg_temp.as_user(:'ken', format('SELECT auth.update_api_key(%L, remaining => 1000)', :'k_managed_id')) AS raise_managed_quota;
SELECT pg_temp.as_user(:'ken', format('SELECT auth.update_api_key(%L, name => %L)', :'k_managed_id', 'billing v2')) AS rename_managed;
SELECT auth.set_api_key_limits(:'k_managed_id', 1, '1 hour', NULL);
SELECT valid, code FROM auth.verify_api_key(:'k_managed');
SELECT valid, code FROM auth.verify_api_key(:'k_managed');
-- a new window length starts a new window at once
SELECT auth.set_api_key_limits(:'k_managed_id', 2, '1 minute', NULL);
SELECT valid, code FROM auth.verify_api_key(:'k_managed');
SELECT managed, rate_limit_max, remaining FROM auth.api_keys WHERE id = :'k_managed_id';
SELECT pg_temp.err(format('SELECT auth.set_api_key_limits(%L, 1, NULL, NULL)', :'k_managed_id')) AS half_limit;
SELECT pg_temp.err(format('SELECT auth.set_api_key_limits(%L, NULL, NULL, NULL)', gen_random_uuid())) AS unknown_key;
SELECT pg_temp.err(format('SELECT auth.create_api_key_for(%L, %L)', gen_random_uuid(), 'ghost')) AS unknown_user;

-- Rotation: a new secret for the same key; the old one works for the grace
-- period, or not at all.
BEGIN;
SELECT auth.authenticate(:'kate') IS NOT NULL AS authenticated;
SELECT auth.rotate_api_key(:'k_read_id', '1 hour') AS k_read2 \gset
COMMIT;
SELECT :'k_read2' <> :'k_read' AS new_secret;
SELECT valid, code, key_id = :'k_read_id' AS same_key FROM auth.verify_api_key(:'k_read2');
SELECT valid, code, key_id = :'k_read_id' AS same_key FROM auth.verify_api_key(:'k_read');
SET auth.time_offset = '61min';
SELECT * FROM pg_temp.verdict(:'k_read');
SELECT * FROM pg_temp.verdict(:'k_read2');
RESET auth.time_offset;
BEGIN;
SELECT auth.authenticate(:'kate') IS NOT NULL AS authenticated;
SELECT auth.rotate_api_key(:'k_read_id') AS k_read3 \gset
SELECT pg_temp.err(format('SELECT auth.rotate_api_key(%L, %L)', :'k_read_id', '31 days')) AS long_grace;
SELECT pg_temp.err(format('SELECT auth.rotate_api_key(%L, NULL)', :'k_read_id')) AS null_grace;
SELECT pg_temp.err(format('SELECT auth.rotate_api_key(%L)', :'k_plain_id')) AS rotate_revoked;
COMMIT;
SELECT * FROM pg_temp.verdict(:'k_read2');
SELECT * FROM pg_temp.verdict(:'k_read3');

-- Organization keys: need membership and apikey:create there; act within
-- that organization only; die when the owner leaves it.
BEGIN;
SELECT auth.authenticate(:'kate') IS NOT NULL AS authenticated;
SELECT auth.create_organization('North') AS north \gset
SELECT auth.create_organization('South') AS south \gset
SELECT auth.add_member(:'north', :'ken_id', 'member');
SELECT auth.add_member(:'north', :'kim_id', 'admin');
SELECT key AS k_north, key_id AS k_north_id
  FROM auth.create_api_key('north ci', '{projects:read}', org_id => :'north') \gset
SELECT key AS k_north_admin
  FROM auth.create_api_key('north admin', '{member:create,projects:*}', org_id => :'north') \gset
COMMIT;
SELECT pg_temp.as_user(:'ken', format('SELECT auth.create_api_key(%L, org_id => %L)', 'no perm', :'north')) AS member_lacks_permission;
SELECT pg_temp.as_user(:'ken', format('SELECT auth.create_api_key(%L, org_id => %L)', 'not mine', :'south')) AS not_a_member;
SELECT pg_temp.as_user(:'kim', format('SELECT (auth.create_api_key(%L, org_id => %L)).key_id IS NOT NULL', 'admin key', :'north')) AS admin_may;
SELECT pg_temp.err(format('SELECT auth.create_api_key_for(%L, %L, org_id => %L)', :'ken_id', 'x', :'south')) AS admin_form_needs_member;
SELECT valid, org_id = :'north' AS north FROM auth.verify_api_key(:'k_north');
BEGIN;
SELECT auth.authenticate_api_key(:'k_north') IS NOT NULL AS authenticated;
SELECT auth.org_id() = :'north' AS org_is_north,
       auth.is_member(:'north') AS in_north, auth.is_member(:'south') AS in_south,
       cardinality(auth.org_ids()) AS orgs, auth.has_role(:'south', 'owner') AS south_owner,
       (SELECT count(*) FROM auth.list_my_organizations()) AS listed;
-- a permission needs the role's grant and the key's scope
SELECT auth.has_permission(:'north', 'member:create') AS member_create_without_scope;
SELECT pg_temp.err(format('SELECT auth.update_organization(%L, name => %L)', :'north', 'Hijacked')) AS update_org;
COMMIT;
-- a role, too, is held under a key only with every permission it grants
-- in the key's scopes: the owner's read-only key is no owner, nor admin
BEGIN;
SELECT auth.authenticate_api_key(:'k_north') IS NOT NULL AS authenticated;
SELECT auth.has_role(:'north', 'owner') AS owner_with_read_scope,
       auth.has_role(:'north', 'admin') AS admin_with_read_scope,
       auth.has_role(:'north', 'member') AS member_with_read_scope;
COMMIT;
SELECT pg_temp.as_user(:'kate', format('SELECT (auth.create_api_key(%L, %L, org_id => %L)).key', 'north all', '{*}', :'north')) AS k_north_all \gset
BEGIN;
SELECT auth.authenticate_api_key(:'k_north_all') IS NOT NULL AS authenticated;
SELECT auth.has_role(:'north', 'owner') AS owner_with_every_scope;
COMMIT;
-- with member:create in scope, a key may add members, but not owners:
-- granting a built-in role needs every permission of it in scope
BEGIN;
SELECT auth.authenticate_api_key(:'k_north_admin') IS NOT NULL AS authenticated;
SELECT pg_temp.err(format('SELECT auth.add_member(%L, %L, %L)', :'north', :'kim_id', 'owner')) AS grant_owner;
SELECT pg_temp.err(format('SELECT auth.update_member_role(%L, %L, %L)', :'north', :'ken_id', 'admin')) AS grant_admin;
COMMIT;
BEGIN;
SELECT auth.authenticate_api_key(:'k_north') IS NOT NULL AS authenticated;
SELECT pg_temp.err(format('SELECT auth.create_api_key(%L)', 'personal')) AS personal_from_org_key;
SELECT pg_temp.err(format('SELECT auth.create_api_key(%L, org_id => %L)', 'south', :'south')) AS other_org_from_org_key;
COMMIT;
BEGIN;
SELECT auth.authenticate_api_key(:'k_north_admin') IS NOT NULL AS authenticated;
SELECT auth.has_permission(:'north', 'member:create') AS member_create_with_scope,
       auth.has_permission(:'north', 'team:create') AS team_create_without_scope;
COMMIT;
BEGIN;
SELECT auth.authenticate(:'kate') IS NOT NULL AS authenticated;
SELECT key AS k_ken_north FROM auth.create_api_key_for(:'ken_id', 'ken north', org_id => :'north') \gset
COMMIT;
SELECT * FROM pg_temp.verdict(:'k_ken_north');
SELECT pg_temp.as_user(:'ken', format('SELECT auth.leave_organization(%L)', :'north')) AS ken_leaves;
SELECT * FROM pg_temp.verdict(:'k_ken_north');

-- Row-level security with keys: an organization key sees only its
-- organization's rows; a key without the write scope cannot write.
CREATE TABLE public.projects (
    id     serial PRIMARY KEY,
    org_id uuid NOT NULL,
    name   text NOT NULL
);
ALTER TABLE public.projects ENABLE ROW LEVEL SECURITY;
CREATE POLICY projects_read ON public.projects FOR SELECT USING (auth.is_member(org_id));
CREATE POLICY projects_insert ON public.projects FOR INSERT
    WITH CHECK (auth.is_member(org_id) AND auth.has_scope('projects:write'));
CREATE POLICY projects_update ON public.projects FOR UPDATE
    USING (auth.is_member(org_id) AND auth.has_scope('projects:write'));
CREATE ROLE regress_app;
GRANT USAGE ON SCHEMA auth TO regress_app;
GRANT SELECT, INSERT, UPDATE ON public.projects TO regress_app;
GRANT USAGE ON SEQUENCE public.projects_id_seq TO regress_app;
INSERT INTO public.projects (org_id, name)
VALUES (:'north', 'n1'), (:'north', 'n2'), (:'south', 's1');
BEGIN;
SELECT key AS k_kate_any FROM auth.create_api_key_for(:'kate_id', 'kate everywhere', '{projects:read}') \gset
COMMIT;
SET ROLE regress_app;
-- Kate's own session sees both organizations; her personal key too
SELECT pg_temp.as_user(:'kate', 'SELECT string_agg(name, '','' ORDER BY name) FROM public.projects') AS session_sees;
SELECT pg_temp.as_key(:'k_kate_any', 'SELECT string_agg(name, '','' ORDER BY name) FROM public.projects') AS personal_key_sees;
SELECT pg_temp.as_key(:'k_north', 'SELECT string_agg(name, '','' ORDER BY name) FROM public.projects') AS north_key_sees;
SELECT pg_temp.as_key(:'k_north', format('INSERT INTO public.projects (org_id, name) VALUES (%L, %L) RETURNING name', :'north', 'n3')) AS read_only_key_inserts;
SELECT pg_temp.as_key(:'k_north', 'WITH u AS (UPDATE public.projects SET name = name || ''!'' RETURNING 1) SELECT count(*) FROM u') AS read_only_key_updates;
SELECT pg_temp.as_key(:'k_north_admin', format('INSERT INTO public.projects (org_id, name) VALUES (%L, %L) RETURNING name', :'north', 'n3')) AS write_key_inserts;
SELECT pg_temp.as_key(:'k_north_admin', format('INSERT INTO public.projects (org_id, name) VALUES (%L, %L) RETURNING name', :'south', 's2')) AS write_key_other_org;
RESET ROLE;
SELECT name FROM public.projects ORDER BY name;
DROP TABLE public.projects;
DROP OWNED BY regress_app;
DROP ROLE regress_app;

-- The audit log records key events, never a key.
SELECT event, count(*) FROM auth.audit_log WHERE event LIKE 'api\_key%' GROUP BY event ORDER BY event;

-- cleanup removes keys revoked or expired longer than auth.cleanup_grace ago.
SET auth.time_offset = '2d';
SELECT api_keys_deleted > 0 AS deleted_dead_keys FROM auth.cleanup();
RESET auth.time_offset;
SELECT count(*) AS revoked_left FROM auth.api_keys WHERE revoked_at IS NOT NULL;
