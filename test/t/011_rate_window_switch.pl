# Rate-limit windows stay exact when a key moves from its row to shared
# memory.  With every slot of the shared-memory table taken, a rate-limited
# key is counted in its row (exact, but serialising its requests); when a
# slot frees up later in the same window, the key must go on with the
# count its row holds, not start a second allowance (issue 10, item 9).
#
# Keys stay in a table of the test database, never in a test name or a
# message.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib $FindBin::RealBin;
use AuthTAP;

# The smallest table: 64 slots, one per partition.
my $node = new_node('switch', conf => qq{
shared_preload_libraries = 'auth'
auth.api_key_rate_limit_slots = 64
});

query($node, q{
CREATE EXTENSION auth CASCADE;
INSERT INTO auth.users (email) VALUES ('switch@example.com');
CREATE TABLE keys (name text PRIMARY KEY, key text, key_id uuid);
-- 800 fillers with 10-minute windows take every partition's slot (the
-- chance that one of 64 partitions is left free is (63/64)^800, 3e-6)
INSERT INTO keys
SELECT 'filler' || g, k.key, k.key_id
  FROM generate_series(1, 800) g,
       LATERAL auth.create_api_key_for(
           (SELECT id FROM auth.users WHERE email = 'switch@example.com'),
           'filler' || g, rate_limit_max => 1000,
           rate_limit_window => '10 minutes') k;
-- the key under test: 3 uses a day
INSERT INTO keys
SELECT 'daily', k.key, k.key_id
  FROM auth.create_api_key_for(
           (SELECT id FROM auth.users WHERE email = 'switch@example.com'),
           'daily', rate_limit_max => 3, rate_limit_window => '1 day') k;
});
query($node, q{
SELECT count(*) FROM keys k, LATERAL auth.verify_api_key(k.key) v
 WHERE k.name LIKE 'filler%' AND v.valid;
});

is(query($node, q{SELECT auth._api_key_rate_limit_store()}), 'memory',
	'windows live in shared memory');

# Three uses of the daily key: the table is full, so they are counted in
# its row.
my $uses = query($node, q{
SELECT string_agg(coalesce(v.code, 'VALID'), ',' ORDER BY g)
  FROM generate_series(1, 4) g,
       LATERAL auth.verify_api_key((SELECT key FROM keys WHERE name = 'daily' AND g > 0)) v;
});
is($uses, 'VALID,VALID,VALID,RATE_LIMITED',
	'with no slot free, 3 uses of 3 pass and the 4th is refused');
is(query($node, q{
SELECT request_count FROM auth.api_keys WHERE id = (SELECT key_id FROM keys WHERE name = 'daily');
}), '3', 'those uses were counted in the row');

# 20 minutes later (the extension's clock, shifted): the fillers' windows
# have closed, so their slots are free; the daily key's window is still
# open, and it must stay spent when the key gets a slot.
my $after = query($node, q{
SET auth.time_offset = '20min';
SELECT string_agg(coalesce(v.code, 'VALID'), ',' ORDER BY g)
  FROM generate_series(1, 2) g,
       LATERAL auth.verify_api_key((SELECT key FROM keys WHERE name = 'daily' AND g > 0)) v;
});
is($after, 'RATE_LIMITED,RATE_LIMITED',
	'given a slot later in the same window, the key is still at its limit');
is(query($node, q{
SET auth.time_offset = '20min';
SELECT w.request_count FROM auth._api_key_window(
    (SELECT key_id FROM keys WHERE name = 'daily'), '1 day') w;
}), '3', 'its shared-memory window took over the count of its row');

# A new day: a new window, in memory.
is(query($node, q{
SET auth.time_offset = '25h';
SELECT string_agg(coalesce(v.code, 'VALID'), ',' ORDER BY g)
  FROM generate_series(1, 4) g,
       LATERAL auth.verify_api_key((SELECT key FROM keys WHERE name = 'daily' AND g > 0)) v;
}), 'VALID,VALID,VALID,RATE_LIMITED', 'the next window allows 3 again');

$node->stop;
done_testing();
