-- Anonymous users: sign-in off by default and limited per ip address; an
-- anonymous user's rows (a table with a policy on auth.uid()) survive the
-- upgrade to email and password, and by magic link, with the same uid;
-- cleanup() removes those idle past auth.anonymous_ttl.
\i sql/include/setup.psql
\i sql/include/as_user.psql

-- Off by default.
SELECT pg_temp.err($$SELECT auth.sign_in_anonymously()$$);
SET auth.allow_anonymous_sign_in = on;

CREATE ROLE regress_anon_app;
GRANT USAGE ON SCHEMA public TO regress_anon_app;
CREATE TABLE carts (id serial PRIMARY KEY, owner_id uuid NOT NULL DEFAULT auth.uid(), item text);
GRANT SELECT, INSERT ON carts TO regress_anon_app;
GRANT USAGE ON SEQUENCE carts_id_seq TO regress_anon_app;
ALTER TABLE carts ENABLE ROW LEVEL SECURITY;
CREATE POLICY own_carts ON carts USING (owner_id = auth.uid()) WITH CHECK (owner_id = auth.uid());

-- A visitor signs in anonymously: a user without email, is_anonymous.
SELECT token AS anon_token, user_id AS anon FROM auth.sign_in_anonymously('192.0.2.10') \gset
SELECT email IS NULL AS no_email, is_anonymous, password_hash IS NULL AS no_password, role
  FROM auth.users WHERE id = :'anon';
BEGIN;
SELECT auth.authenticate(:'anon_token') = :'anon' AS authenticated;
SET LOCAL ROLE regress_anon_app;
INSERT INTO carts (item) VALUES ('tea'), ('cups');
SELECT item FROM carts ORDER BY item;
COMMIT;

-- What an anonymous user cannot do: change an email it does not have.
SELECT pg_temp.as_user(:'anon_token', $$SELECT auth.request_email_change('x@example.com')$$);

-- Upgrade by password: link_email_password; refusals first.
SELECT pg_temp.err($$SELECT auth.link_email_password('anna@example.com', 'anna password')$$);
SELECT pg_temp.as_user(:'anon_token', $$SELECT auth.link_email_password(NULL, 'anna password')$$);
SELECT pg_temp.as_user(:'anon_token', $$SELECT auth.link_email_password('', 'anna password')$$);
SELECT pg_temp.as_user(:'anon_token', $$SELECT auth.link_email_password('not an email', 'anna password')$$);
SELECT pg_temp.as_user(:'anon_token', format('SELECT auth.link_email_password(%L, %L)', repeat('a', 250) || '@example.com', 'anna password'));
SELECT pg_temp.as_user(:'anon_token', $$SELECT auth.link_email_password('anna@example.com', NULL)$$);
SELECT pg_temp.as_user(:'anon_token', $$SELECT auth.link_email_password('anna@example.com', 'short')$$);
SELECT pg_temp.as_user(:'anon_token', format('SELECT auth.link_email_password(%L, %L)', 'anna@example.com', repeat('p', 129)));
SELECT auth.sign_up('taken@example.com', 'taken password') IS NOT NULL AS taken_made;
SELECT pg_temp.as_user(:'anon_token', $$SELECT auth.link_email_password('TAKEN@example.com', 'anna password')$$);
-- a fullwidth t that NFKC would turn into the taken address: refused, as
-- every entry point of an email refuses it
SELECT pg_temp.as_user(:'anon_token', $$SELECT auth.link_email_password(U&'\FF54' || 'aken@example.com', 'anna password')$$);
SELECT pg_temp.as_user(:'anon_token', $$SELECT auth.link_email_password('Anna@Example.com', 'anna password')$$) = :'anon' AS linked_same_id;
SELECT email, is_anonymous, email_verified_at IS NULL AS unverified FROM auth.users WHERE id = :'anon';
-- Not anonymous any more: a second link is refused.
SELECT pg_temp.as_user(:'anon_token', $$SELECT auth.link_email_password('anna2@example.com', 'anna password')$$);
-- The same user signs in by password and sees the cart; the anonymous
-- session goes on too.
SELECT token AS anna_token, user_id = :'anon' AS same_uid FROM auth.sign_in('anna@example.com', 'anna password') \gset
SELECT :'same_uid' AS same_uid;
BEGIN;
SELECT auth.authenticate(:'anna_token') = :'anon' AS same_user;
SET LOCAL ROLE regress_anon_app;
SELECT item FROM carts ORDER BY item;
COMMIT;

-- Upgrade by magic link: the anonymous user redeems a link to an address
-- nobody has, while signed in; the address becomes theirs, verified.
SELECT token AS anon2_token, user_id AS anon2 FROM auth.sign_in_anonymously('192.0.2.11') \gset
BEGIN;
SELECT auth.authenticate(:'anon2_token') IS NOT NULL AS authenticated;
SET LOCAL ROLE regress_anon_app;
INSERT INTO carts (item) VALUES ('scarf');
COMMIT;
SELECT auth.create_magic_link('anon-bo@example.com') AS bo_link \gset
BEGIN;
SELECT auth.authenticate(:'anon2_token') IS NOT NULL AS authenticated;
SELECT user_id = :'anon2' AS same_uid, is_new_user, token IS NOT NULL AS session
  FROM auth.consume_magic_link(:'bo_link');
COMMIT;
SELECT email, is_anonymous, email_verified_at IS NOT NULL AS verified FROM auth.users WHERE id = :'anon2';
SELECT auth.create_magic_link('anon-bo@example.com') AS bo_link2 \gset
SELECT user_id = :'anon2' AS same_uid, is_new_user, token AS bo_token FROM auth.consume_magic_link(:'bo_link2') \gset
SELECT :'same_uid' AS same_uid;
BEGIN;
SELECT auth.authenticate(:'bo_token') = :'anon2' AS same_user;
SET LOCAL ROLE regress_anon_app;
SELECT item FROM carts ORDER BY item;
COMMIT;
-- A link to an address someone has signs the anonymous user in to that
-- account instead (the application moves what it wants); the anonymous
-- user stays as it was.
SELECT token AS anon3_token, user_id AS anon3 FROM auth.sign_in_anonymously('192.0.2.12') \gset
SELECT auth.create_magic_link('taken@example.com') AS taken_link \gset
BEGIN;
SELECT auth.authenticate(:'anon3_token') IS NOT NULL AS authenticated;
SELECT user_id = :'anon3' AS anonymous_uid, user_id = (SELECT id FROM auth.users WHERE email = 'taken@example.com') AS taken_uid
  FROM auth.consume_magic_link(:'taken_link');
COMMIT;
SELECT is_anonymous FROM auth.users WHERE id = :'anon3';
SELECT event, detail->>'method' AS method, detail->>'email' AS email FROM auth.audit_log
 WHERE event = 'anonymous_linked' ORDER BY id;

-- The limit per ip address (and one for calls without an address).
SET auth.anonymous_sign_in_limit = 2;
SELECT (auth.sign_in_anonymously('198.51.100.1')).token IS NOT NULL AS first;
SELECT (auth.sign_in_anonymously('198.51.100.1')).token IS NOT NULL AS second;
SELECT pg_temp.err($$SELECT auth.sign_in_anonymously('198.51.100.1')$$);
SELECT (auth.sign_in_anonymously('198.51.100.2')).token IS NOT NULL AS other_address;
SELECT (auth.sign_in_anonymously()).token IS NOT NULL AS no_address_1;
SELECT (auth.sign_in_anonymously(NULL)).token IS NOT NULL AS no_address_2;
SELECT pg_temp.err($$SELECT auth.sign_in_anonymously()$$);
RESET auth.anonymous_sign_in_limit;
SELECT pg_temp.err($$SELECT auth.sign_in_anonymously('not an address')$$);

-- cleanup(): anonymous users idle past auth.anonymous_ttl (30 days) go;
-- one still active (a session refreshed within it), upgraded users, and
-- ordinary users stay.
SELECT count(*) AS anonymous_before FROM auth.users WHERE is_anonymous;
SELECT token AS active_token, user_id AS active FROM auth.sign_in_anonymously('192.0.2.20') \gset
SET auth.time_offset = '31d';
UPDATE auth.sessions SET refreshed_at = auth.now(), expires_at = auth.now() + interval '7 days'
 WHERE user_id = :'active';
SELECT sessions_deleted >= 0 AS cleaned FROM auth.cleanup();
SELECT detail FROM auth.audit_log WHERE event = 'anonymous_users_deleted';
SELECT id = :'active' AS only_the_active_one_left FROM auth.users WHERE is_anonymous;
SELECT count(*) AS upgraded_kept FROM auth.users WHERE id IN (:'anon', :'anon2');
SELECT count(*) AS carts_of_upgraded FROM carts WHERE owner_id IN (:'anon', :'anon2');
RESET auth.time_offset;

-- An anonymous user is no email: no NULL-email row can appear otherwise.
SELECT pg_temp.err($$INSERT INTO auth.users (email) VALUES (NULL)$$);

DROP TABLE carts;
REVOKE USAGE ON SCHEMA public FROM regress_anon_app;
DROP ROLE regress_anon_app;
