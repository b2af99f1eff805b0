-- The outside attack on MFA and impersonation: what an aal1 session of a
-- user with a second factor, an impersonation session, the mailbox alone,
-- a support role, a banned user and anonymous users may no longer do.
\i sql/include/setup.psql
\i sql/include/as_user.psql
\i sql/include/totp.psql
-- the SQLSTATE, message and detail of a refusal
CREATE FUNCTION pg_temp.as_user_detail(token text, statement text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    r text;
    d text;
BEGIN
    PERFORM auth.authenticate(token);
    EXECUTE statement INTO r;
    RETURN coalesce(nullif(r, ''), 'ok');
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS d = PG_EXCEPTION_DETAIL;
    RETURN SQLSTATE || ': ' || SQLERRM || coalesce(' (' || nullif(d, '') || ')', '');
END
$$;
-- the rows this test writes go at its end (the database is shared)
SELECT coalesce(max(id), 0) AS audit_start FROM auth.audit_log \gset
-- the clock at the start of a TOTP step, so that the codes below (now and
-- one step later) stay within the window however slow the run
SELECT pg_temp.clock_at((floor(extract(epoch FROM now()))::bigint / 30 + 1) * 30 + 1);

-- 1. Zoe has a verified TOTP factor and the email factor.  An aal1 session
-- of hers (from before the enrollment, or made by an admin) can no longer
-- move the account or end its credentials.
SELECT auth.sign_up('zoe@attack.example', 'zoe password') AS zoe \gset
UPDATE auth.users SET email_verified_at = now() WHERE id = :'zoe';
SELECT token AS zoe_old FROM auth.sign_in('zoe@attack.example', 'zoe password') \gset
SELECT token AS zoe_enroll FROM auth.sign_in('zoe@attack.example', 'zoe password') \gset
BEGIN;
SELECT auth.authenticate(:'zoe_enroll') IS NOT NULL AS authenticated;
SELECT factor_id AS zoe_f, secret AS zoe_secret FROM auth.enroll_totp('phone') \gset
SELECT auth.verify_totp_enrollment(:'zoe_f', pg_temp.totp(:'zoe_secret', auth.now())) AS verified;
SELECT auth.enable_email_factor() IS NOT NULL AS email_factor;
COMMIT;
SELECT token AS zoe_admin FROM auth.create_session(:'zoe') \gset
SELECT pg_temp.as_user(:'zoe_old', $$SELECT auth.aal()$$) AS old_session,
       pg_temp.as_user(:'zoe_admin', $$SELECT auth.aal()$$) AS admin_session;
SELECT pg_temp.as_user_detail(:'zoe_old', $$SELECT auth.request_email_change('mallory@attack.example')$$) AS email_change;
SELECT pg_temp.as_user_detail(:'zoe_admin', $$SELECT auth.change_password('zoe password', 'mallory password')$$) AS change_password;
SELECT pg_temp.as_user_detail(:'zoe_admin', $$SELECT auth.set_username('mallory')$$) AS set_username;
SELECT pg_temp.as_user_detail(:'zoe_admin', $$SELECT auth.delete_account('zoe password')$$) AS delete_account;
SELECT pg_temp.as_user_detail(:'zoe_old', $$SELECT auth.revoke_other_sessions()$$) AS revoke_other_sessions;
SELECT pg_temp.as_user_detail(:'zoe_old', $$SELECT auth.revoke_all_credentials()$$) AS revoke_all_credentials;
-- A change requested at aal2 cannot be confirmed from an aal1 session.
SELECT pg_temp.as_user(:'zoe_enroll', $$SELECT auth.request_email_change('zoe@new.example')$$) AS zoe_ect \gset
SELECT pg_temp.as_user_detail(:'zoe_old', format('SELECT auth.confirm_email_change(%L)', :'zoe_ect')) AS confirm_from_aal1;
-- Nothing moved, nothing ended.
SELECT u.email, u.username,
       (SELECT count(*) FROM auth.sessions s WHERE s.user_id = u.id AND s.revoked_at IS NULL) AS live_sessions
  FROM auth.users u WHERE u.id = :'zoe';
-- After a step-up, the same session may; the confirmed change removes the
-- email factor (the new mailbox does not carry it), TOTP stays.
BEGIN;
SELECT auth.authenticate(:'zoe_old') IS NOT NULL AS authenticated;
SELECT auth.step_up_mfa(pg_temp.totp(:'zoe_secret', auth.now() + interval '30s')) AS stepped_up;
SELECT auth.confirm_email_change(:'zoe_ect') = :'zoe' AS moved;
SELECT string_agg(type, ',' ORDER BY type) AS factors_left FROM auth.list_factors();
COMMIT;
SELECT event, detail->>'type' AS type, detail->>'reason' AS reason
  FROM auth.audit_log WHERE user_id = :'zoe' AND event = 'factor_removed';
-- With only the email factor, a moved address leaves no factor at all:
-- the email factor goes whoever changes the address.
SELECT auth.sign_up('yan@attack.example', 'yan password') AS yan \gset
UPDATE auth.users SET email_verified_at = now() WHERE id = :'yan';
SELECT token AS yan_t FROM auth.sign_in('yan@attack.example', 'yan password') \gset
SELECT pg_temp.as_user(:'yan_t', $$SELECT auth.enable_email_factor() IS NOT NULL$$) AS yan_email_factor;
UPDATE auth.users SET email = 'yan@moved.example' WHERE id = :'yan';
SELECT count(*) AS yan_factors FROM auth.mfa_factors WHERE user_id = :'yan';

-- 3. An impersonation session manages no second factor and ends no
-- credential: the impersonator cannot leave with a seed, codes or the
-- user's sessions.
SELECT auth.sign_up('pat@attack.example', 'pat password') AS pat \gset
UPDATE auth.users SET email_verified_at = now() WHERE id = :'pat';
SELECT auth.sign_up('sam@attack.example', 'sam password') AS sam \gset
SELECT auth.create_global_role('support_only', '{users:impersonate}');
SELECT auth.set_user_role(:'sam', 'support_only');
SELECT token AS sam_token FROM auth.sign_in('sam@attack.example', 'sam password') \gset
SELECT token AS pat_token FROM auth.sign_in('pat@attack.example', 'pat password') \gset
CREATE ROLE regress_att_admin;
SELECT auth.grant_admin('regress_att_admin');
SET ROLE regress_att_admin;
SELECT pg_temp.as_user(:'sam_token', format('SELECT (auth.impersonate(%L, %L)).token', :'pat', 'ticket 7')) AS imp_pat \gset
SELECT pg_temp.as_user(:'sam_token', format('SELECT (auth.impersonate(%L, %L)).token', :'zoe', 'ticket 8')) AS imp_zoe \gset
RESET ROLE;
SELECT pg_temp.as_user(:'imp_pat', $$SELECT auth.impersonator_id() IS NOT NULL$$) AS impersonating;
SELECT pg_temp.as_user(:'imp_pat', $$SELECT (auth.enroll_totp()).factor_id IS NOT NULL$$) AS enroll;
SELECT pg_temp.as_user(:'imp_pat', $$SELECT auth.enable_email_factor() IS NOT NULL$$) AS enable_email;
SELECT pg_temp.as_user(:'imp_pat', $$SELECT auth.generate_recovery_codes() IS NOT NULL$$) AS recovery_codes;
SELECT pg_temp.as_user(:'imp_pat', $$SELECT auth.revoke_other_sessions()$$) AS revoke_other_sessions;
SELECT pg_temp.as_user(:'imp_pat', $$SELECT (auth.revoke_all_credentials()).sessions_revoked$$) AS revoke_all;
-- pat's own unverified factor: the impersonator can neither verify nor remove it
BEGIN;
SELECT auth.authenticate(:'pat_token') IS NOT NULL AS authenticated;
SELECT factor_id AS pat_f FROM auth.enroll_totp('pat phone') \gset
COMMIT;
SELECT pg_temp.as_user(:'imp_pat', format('SELECT auth.verify_totp_enrollment(%L, %L)', :'pat_f', '000000')) AS verify_enrollment;
SELECT pg_temp.as_user(:'imp_pat', format('SELECT auth.remove_factor(%L)', :'pat_f')) AS remove_factor;
SELECT pg_temp.as_user(:'imp_zoe', $$SELECT auth.step_up_mfa('000000')$$) AS step_up;
SELECT pg_temp.as_user(:'imp_zoe', format('SELECT auth.remove_factor(%L)', :'zoe_f')) AS remove_zoe_factor;
SELECT (SELECT count(*) FROM auth.mfa_factors WHERE user_id = :'pat') AS pat_factors,
       (SELECT count(*) FROM auth.mfa_recovery_codes WHERE user_id = :'pat') AS pat_codes,
       (SELECT count(*) FROM auth.sessions WHERE user_id = :'pat' AND revoked_at IS NULL) AS pat_sessions;

-- 2. The mailbox alone is not two factors: after a magic link or an email
-- code, the email factor is refused; after a password it still works.
SELECT auth.sign_up('uma@attack.example', 'uma password') AS uma \gset
UPDATE auth.users SET email_verified_at = now() WHERE id = :'uma';
SELECT token AS uma_t FROM auth.sign_in('uma@attack.example', 'uma password') \gset
BEGIN;
SELECT auth.authenticate(:'uma_t') IS NOT NULL AS authenticated;
SELECT factor_id AS uma_f, secret AS uma_secret FROM auth.enroll_totp() \gset
SELECT auth.verify_totp_enrollment(:'uma_f', pg_temp.totp(:'uma_secret', auth.now())) AS verified;
SELECT auth.enable_email_factor() IS NOT NULL AS email_factor;
COMMIT;
SELECT mfa_challenge AS uma_ml FROM auth.consume_magic_link(auth.create_magic_link('uma@attack.example')) \gset
SELECT pg_temp.err(format('SELECT auth.create_mfa_email_code(%L)', :'uma_ml')) AS after_magic_link;
SELECT mfa_challenge AS uma_ec FROM auth.sign_in_with_code('uma@attack.example', auth.create_email_code('uma@attack.example')) \gset
SELECT pg_temp.err(format('SELECT auth.create_mfa_email_code(%L)', :'uma_ec')) AS after_email_code;
-- a TOTP code still redeems such a challenge
SELECT token IS NOT NULL AS totp_after_magic_link
  FROM auth.verify_mfa(:'uma_ml', pg_temp.totp(:'uma_secret', auth.now() + interval '30s'));
-- after a password, the email code is a second factor
SELECT mfa_challenge AS uma_pw FROM auth.sign_in('uma@attack.example', 'uma password') \gset
SELECT auth.create_mfa_email_code(:'uma_pw') AS uma_code \gset
SELECT token IS NOT NULL AS email_after_password FROM auth.verify_mfa(:'uma_pw', :'uma_code');
-- a code made on a challenge that was an email sign-in (before this
-- check existed) is refused at verify_mfa
SELECT mfa_challenge AS uma_old FROM auth.sign_in('uma@attack.example', 'uma password') \gset
SELECT auth.create_mfa_email_code(:'uma_old') AS uma_old_code \gset
UPDATE auth.mfa_challenges SET method = 'email_code'
 WHERE secret_hash = auth._token_hash(:'uma_old', 'mfc');
SELECT pg_temp.err(format('SELECT auth.verify_mfa(%L, %L)', :'uma_old', :'uma_old_code')) AS stale_email_code;

-- 4. Impersonation does not raise the support user's permissions: sam's
-- role grants only users:impersonate, bill's billing:* and users:delete.
SELECT auth.sign_up('bill@attack.example', 'bill password') AS bill \gset
SELECT auth.create_global_role('billing_admin', '{billing:*,users:delete}');
SELECT auth.set_user_role(:'bill', 'billing_admin');
SET ROLE regress_att_admin;
SELECT pg_temp.as_user_detail(:'sam_token', format('SELECT (auth.impersonate(%L, %L)).token IS NOT NULL', :'bill', 'ticket 9')) AS impersonate_bill;
RESET ROLE;
-- a role covering them (through billing:* and users:*) may
SELECT auth.create_global_role('support_lead', '{users:impersonate,users:*,billing:*}');
SELECT auth.set_user_role(:'sam', 'support_lead');
SET ROLE regress_att_admin;
SELECT pg_temp.as_user(:'sam_token', format('SELECT (auth.impersonate(%L, %L)).token IS NOT NULL', :'bill', 'ticket 9')) AS lead_impersonates_bill;
RESET ROLE;
-- and with auth.allow_impersonating_admins on, anyone may be
SELECT auth.set_user_role(:'sam', 'support_only');
SET auth.allow_impersonating_admins = on;
SET ROLE regress_att_admin;
SELECT pg_temp.as_user(:'sam_token', format('SELECT (auth.impersonate(%L, %L)).token IS NOT NULL', :'bill', 'ticket 9')) AS allowed_by_setting;
RESET ROLE;
RESET auth.allow_impersonating_admins;

-- 5. Audit rows the autonomous worker writes name the caller's session,
-- actor and impersonator: a wrong step-up code, a failed sign-in from an
-- impersonation session.
SELECT pg_temp.as_user(:'zoe_old', 'SELECT auth.session_id()') AS zoe_old_sid \gset
SELECT pg_temp.as_user(:'zoe_old', $$SELECT auth.step_up_mfa('000000')$$) AS wrong_step_up;
SELECT session_id = :'zoe_old_sid' AS right_session, actor_id = :'zoe' AS actor, impersonator_id
  FROM auth.audit_log WHERE event = 'mfa_failed' AND user_id = :'zoe' ORDER BY id DESC LIMIT 1;
SELECT pg_temp.as_user(:'imp_pat', 'SELECT auth.session_id()') AS imp_pat_sid \gset
SELECT pg_temp.as_user(:'imp_pat', $$SELECT (auth.sign_in('pat@attack.example', 'not it')).token$$) AS wrong_sign_in;
SELECT session_id = :'imp_pat_sid' AS right_session, actor_id = :'pat' AS actor,
       impersonator_id = :'sam' AS impersonator
  FROM auth.audit_log WHERE event = 'sign_in_failed' AND user_id = :'pat' ORDER BY id DESC LIMIT 1;

-- 6. Bans and MFA challenges: a banned user with a factor gets no
-- challenge, and a ban ends the challenges already open.
SELECT mfa_challenge AS uma_open FROM auth.sign_in('uma@attack.example', 'uma password') \gset
SELECT sessions_revoked >= 0 AS banned FROM auth.ban_user(:'uma', reason => 'abuse');
SELECT count(*) AS open_challenges FROM auth.mfa_challenges
 WHERE user_id = :'uma' AND consumed_at IS NULL;
SELECT pg_temp.err(format('SELECT auth.verify_mfa(%L, %L)', :'uma_open',
                          pg_temp.totp(:'uma_secret', auth.now() + interval '60s'))) AS verify_after_ban;
SELECT pg_temp.err($$SELECT auth.sign_in('uma@attack.example', 'uma password')$$) AS sign_in_banned;
SELECT auth.unban_user(:'uma') IS NOT NULL AS unbanned;
SELECT mfa_challenge IS NOT NULL AS challenge_again FROM auth.sign_in('uma@attack.example', 'uma password');

-- 7. The anonymous sign-in limit counts an IPv4-mapped IPv6 address as the
-- IPv4 it is and IPv6 by its /64; an anonymous user has no API key.
SET auth.allow_anonymous_sign_in = on;
SET auth.anonymous_sign_in_limit = 2;
SELECT ip, auth._anonymous_ip_key(ip::inet) AS counted_as
  FROM (VALUES ('203.0.113.7'), ('::ffff:203.0.113.7'), ('2001:db8:1:2:aaaa::1'),
               ('2001:db8:1:2:ffff::9/128'), ('2001:db8:1:3::1'), (NULL)) v (ip);
SELECT (auth.sign_in_anonymously('203.0.113.7')).token IS NOT NULL AS first;
SELECT (auth.sign_in_anonymously('::ffff:203.0.113.7')).token IS NOT NULL AS second_mapped;
SELECT pg_temp.err($$SELECT auth.sign_in_anonymously('::ffff:cb00:7107')$$) AS third_mapped_hex;
SELECT (auth.sign_in_anonymously('2001:db8:1:2::1')).token IS NOT NULL AS v6_first;
SELECT (auth.sign_in_anonymously('2001:db8:1:2:dead::beef')).token IS NOT NULL AS v6_second;
SELECT pg_temp.err($$SELECT auth.sign_in_anonymously('2001:db8:1:2:ffff:ffff:ffff:ffff')$$) AS v6_same_64;
SELECT (auth.sign_in_anonymously('2001:db8:1:3::1')).token IS NOT NULL AS v6_next_64;
SELECT token AS anon_token, user_id AS anon FROM auth.sign_in_anonymously('198.51.100.77') \gset
SELECT pg_temp.as_user(:'anon_token', $$SELECT (auth.create_api_key('anon key')).key IS NOT NULL$$) AS anonymous_key;
SELECT pg_temp.err(format('SELECT auth.create_api_key_for(%L, %L)', :'anon', 'admin key')) AS anonymous_key_by_admin;
RESET auth.anonymous_sign_in_limit;
RESET auth.allow_anonymous_sign_in;
DELETE FROM auth.users WHERE is_anonymous;
DELETE FROM auth.attempts WHERE scope = 'anonymous_sign_in';

SELECT auth.revoke_admin('regress_att_admin');
DROP ROLE regress_att_admin;
SELECT auth.set_user_role(:'sam', 'user');
SELECT auth.set_user_role(:'bill', 'user');
DELETE FROM auth.global_roles WHERE name IN ('support_only', 'support_lead', 'billing_admin');
DELETE FROM auth.users WHERE id IN (:'zoe', :'yan', :'pat', :'sam', :'uma', :'bill');
DELETE FROM auth.audit_log WHERE id > :audit_start;
RESET auth.time_offset;
