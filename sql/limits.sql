-- Limits: every field a caller supplies has a bound (auth._limits(), the
-- README's "Limits" table), and 22023 past it; each is tried just under
-- and just over.  User agents are cut to their bound instead.
\i sql/include/setup.psql
SET auth.magic_link_rate_limit = 100;
\i sql/include/as_user.psql

SELECT field, max, unit FROM auth._limits() ORDER BY field;

-- sign_up: name and metadata (0.1.0 took a 1 MB name and 10 MB of metadata).
SELECT auth.sign_up('name256@limits.example', 'some password', repeat('n', 256)) IS NOT NULL AS name_256;
SELECT pg_temp.err($$SELECT auth.sign_up('name257@limits.example', 'some password', repeat('n', 257))$$) AS name_257;
SELECT pg_temp.err($$SELECT auth.sign_up('huge@limits.example', 'some password', repeat('n', 1000000))$$) AS name_1mb;
-- '{"x": "..."}' is 9 bytes besides the string
SELECT auth.sign_up('meta16k@limits.example', 'some password', NULL,
                    jsonb_build_object('x', repeat('m', 16384 - 9))) IS NOT NULL AS metadata_16k;
SELECT pg_temp.err($$SELECT auth.sign_up('meta16k1@limits.example', 'some password', NULL,
                                         jsonb_build_object('x', repeat('m', 16384 - 8)))$$) AS metadata_16k_1;
SELECT pg_temp.err($$SELECT auth.sign_up('meta10m@limits.example', 'some password', NULL,
                                         jsonb_build_object('x', repeat('m', 10000000)))$$) AS metadata_10mb;
SELECT pg_temp.err($$SELECT auth.sign_up('array@limits.example', 'some password', NULL, '[]')$$) AS metadata_array;
-- depth: no value more than 32 levels below the top
SELECT auth.sign_up('deep32@limits.example', 'some password', NULL,
                    (repeat('{"a":', 32) || '1' || repeat('}', 32))::jsonb) IS NOT NULL AS depth_32;
SELECT pg_temp.err($$SELECT auth.sign_up('deep33@limits.example', 'some password', NULL,
                    (repeat('{"a":', 33) || '1' || repeat('}', 33))::jsonb)$$) AS depth_33;
SELECT pg_temp.err($$SELECT auth.sign_up('deep@limits.example', 'some password', NULL,
                    ('{"a":' || repeat('[', 5000) || repeat(']', 5000) || '}')::jsonb)$$) AS depth_5000;
SELECT count(*) AS refused_users_created FROM auth.users
 WHERE email IN ('name257@limits.example', 'huge@limits.example', 'meta16k1@limits.example',
                 'meta10m@limits.example', 'array@limits.example', 'deep33@limits.example', 'deep@limits.example');

-- Emails: 254 bytes, counted in bytes (0.1.0 counted characters).
SELECT auth.sign_up(repeat('a', 239) || '@limits.example', 'some password') IS NOT NULL AS email_254;
SELECT pg_temp.err($$SELECT auth.sign_up(repeat('a', 240) || '@limits.example', 'some password')$$) AS email_255;
SELECT pg_temp.err($$SELECT auth.sign_up(repeat(U&'\00E9', 120) || '@limits.example', 'some password')$$) AS email_255_bytes;
SELECT pg_temp.err($$SELECT auth.sign_in(repeat('a', 1000000) || '@limits.example', 'some password')$$) AS sign_in_1mb;

-- Passwords: 128 characters (the policy; C refuses 4096 bytes).
SELECT auth.sign_up('pw128@limits.example', repeat('p', 128)) IS NOT NULL AS password_128;
SELECT pg_temp.err($$SELECT auth.sign_up('pw129@limits.example', repeat('p', 129))$$) AS password_129;

-- User agents are cut to 512 characters, not refused.
SELECT session_id AS ua512 FROM auth.sign_in('pw128@limits.example', repeat('p', 128), NULL, repeat('u', 512)) \gset
SELECT session_id AS ua100k FROM auth.sign_in('pw128@limits.example', repeat('p', 128), NULL, repeat('u', 100000)) \gset
SELECT length(user_agent) AS user_agent_512 FROM auth.sessions WHERE id = :'ua512';
SELECT length(user_agent) AS user_agent_cut FROM auth.sessions WHERE id = :'ua100k';

-- redirect_to: 2048 characters; code purposes: 40.
SELECT auth.create_magic_link('redirect@limits.example', '/' || repeat('x', 2047)) IS NOT NULL AS redirect_2048;
SELECT pg_temp.err($$SELECT auth.create_magic_link('redirect@limits.example', '/' || repeat('x', 2048))$$) AS redirect_2049;
SELECT auth.create_email_code('purpose@limits.example', repeat('p', 40)) IS NOT NULL AS purpose_40;
SELECT pg_temp.err($$SELECT auth.create_email_code('purpose@limits.example', repeat('p', 41))$$) AS purpose_41;
SELECT auth.verify_email_code('purpose@limits.example', '000000', repeat('q', 40)) AS verify_purpose_40;
SELECT pg_temp.err($$SELECT auth.verify_email_code('purpose@limits.example', '000000', repeat('q', 41))$$) AS verify_purpose_41;
SELECT pg_temp.err($$SELECT auth.verify_email_code('purpose@limits.example', '000000', repeat('q', 1000000))$$) AS verify_purpose_1mb;

-- Organizations: name 200, slug 64, logo 2048, metadata as above.
SELECT auth.sign_up('olga@limits.example', 'olga password') AS olga \gset
SELECT token AS olga_session FROM auth.sign_in('olga@limits.example', 'olga password') \gset
SELECT pg_temp.as_user(:'olga_session',
    format('SELECT auth.create_organization(%L, %L) IS NOT NULL', repeat('o', 200), repeat('s', 64))) AS org_200_64;
SELECT id AS org FROM auth.organizations WHERE slug = repeat('s', 64) \gset
SELECT pg_temp.as_user(:'olga_session', format('SELECT auth.create_organization(%L)', repeat('o', 201))) AS org_name_201;
SELECT pg_temp.as_user(:'olga_session', format('SELECT auth.create_organization(%L, %L)', 'x', repeat('s', 65))) AS slug_65;
SELECT pg_temp.as_user(:'olga_session',
    $$SELECT auth.create_organization('x', NULL, jsonb_build_object('x', repeat('m', 16384 - 8)))$$) AS org_metadata_16k_1;
SELECT pg_temp.as_user(:'olga_session',
    format('SELECT auth.update_organization(%L, logo => %L)', :'org', 'https://e.example/' || repeat('l', 2048 - 18))) AS logo_2048;
SELECT pg_temp.as_user(:'olga_session',
    format('SELECT auth.update_organization(%L, logo => %L)', :'org', 'https://e.example/' || repeat('l', 2049 - 18))) AS logo_2049;
SELECT pg_temp.as_user(:'olga_session',
    format('SELECT auth.update_organization(%L, metadata => %L)', :'org', (repeat('{"a":', 33) || '1' || repeat('}', 33)))) AS org_depth_33;
SELECT pg_temp.as_user(:'olga_session',
    format('SELECT auth.update_organization(%L, name => %L)', :'org', repeat('o', 201))) AS org_rename_201;
SELECT length(logo) AS logo, metadata FROM auth.organizations WHERE id = :'org';

-- Roles: names 40, permissions 128 characters and 64 per role; a role
-- argument anywhere is a role name.
SELECT pg_temp.as_user(:'olga_session',
    format('SELECT auth.create_role(%L, %L, %L) IS NOT NULL', :'org', 'r' || repeat('x', 39),
           ARRAY(SELECT 'res' || i || ':read' FROM generate_series(1, 64) i))) AS role_40_64;
SELECT pg_temp.as_user(:'olga_session',
    format('SELECT auth.create_role(%L, %L, %L)', :'org', 'r' || repeat('x', 40), '{}'::text[])) AS role_41;
SELECT pg_temp.as_user(:'olga_session',
    format('SELECT auth.create_role(%L, %L, %L)', :'org', 'many',
           ARRAY(SELECT 'res' || i || ':read' FROM generate_series(1, 65) i))) AS permissions_65;
SELECT pg_temp.as_user(:'olga_session',
    format('SELECT auth.create_role(%L, %L, %L) IS NOT NULL', :'org', 'long',
           ARRAY['r' || repeat('x', 122) || ':read'])) AS permission_128;
SELECT pg_temp.as_user(:'olga_session',
    format('SELECT auth.create_role(%L, %L, %L)', :'org', 'longer',
           ARRAY['r' || repeat('x', 123) || ':read'])) AS permission_129;
SELECT pg_temp.as_user(:'olga_session',
    format('SELECT auth.update_role(%L, %L, %L)', :'org', 'long',
           ARRAY(SELECT 'res' || i || ':read' FROM generate_series(1, 65) i))) AS update_permissions_65;
SELECT auth.sign_up('mia@limits.example', 'mia password') AS mia \gset
SELECT pg_temp.as_user(:'olga_session',
    format('SELECT auth.add_member(%L, %L, %L)', :'org', :'mia', repeat('r', 40))) AS member_role_40;
SELECT pg_temp.as_user(:'olga_session',
    format('SELECT auth.add_member(%L, %L, %L)', :'org', :'mia', repeat('r', 1000000))) AS member_role_1mb;
SELECT pg_temp.as_user(:'olga_session',
    format('SELECT auth.invite_member(%L, %L, %L)', :'org', 'mia@limits.example', repeat('r', 41))) AS invitation_role_41;
SELECT pg_temp.as_user(:'olga_session',
    format('SELECT auth.delete_role(%L, %L)', :'org', repeat('r', 41))) AS delete_role_41;

-- Teams: names 200.
SELECT pg_temp.as_user(:'olga_session',
    format('SELECT auth.create_team(%L, %L) IS NOT NULL', :'org', repeat('t', 200))) AS team_200;
SELECT pg_temp.as_user(:'olga_session',
    format('SELECT auth.create_team(%L, %L)', :'org', repeat('t', 201))) AS team_201;

-- API keys: names 200, scopes 64 characters and 32 per key, metadata as above.
SELECT pg_temp.as_user(:'olga_session',
    format('SELECT (auth.create_api_key(%L, %L)).key IS NOT NULL', repeat('k', 200),
           ARRAY(SELECT repeat('s', 63) || i FROM generate_series(1, 9) i)
           || ARRAY(SELECT 's' || i FROM generate_series(10, 32) i))) AS key_200_64_32;
SELECT pg_temp.as_user(:'olga_session',
    format('SELECT auth.create_api_key(%L)', repeat('k', 201))) AS key_name_201;
SELECT pg_temp.as_user(:'olga_session',
    format('SELECT auth.create_api_key(%L, %L)', 'k', ARRAY[repeat('s', 65)])) AS scope_65;
SELECT pg_temp.as_user(:'olga_session',
    format('SELECT auth.create_api_key(%L, %L)', 'k', ARRAY(SELECT 's' || i FROM generate_series(1, 33) i))) AS scopes_33;
SELECT pg_temp.as_user(:'olga_session',
    format('SELECT auth.create_api_key(%L, metadata => %L)', 'k', (repeat('{"a":', 33) || '1' || repeat('}', 33)))) AS key_depth_33;
