-- auth 0.1.0 -> 0.2.0: ALTER EXTENSION auth UPDATE TO '0.2.0'.
--
-- Every change of schema or function made since 0.1.0 is here, in the same
-- commit as the change in src/sql/, so that an upgraded database equals a
-- fresh install of 0.2.0 (test/t/005_upgrade.pl compares the two).
\echo Use "ALTER EXTENSION auth UPDATE TO '0.2.0'" to load this file. \quit

-- issue 10: NOTIFY announces no account.  The payload of auth_events is the
-- audit row's id and the event; auth.notify_events is now off by default
-- (a setting in the shared library, nothing to change here).
-- Records an event and announces it on the channel auth_events.
CREATE OR REPLACE FUNCTION auth._audit(event text, user_id uuid, session_id uuid,
                            ip inet, detail jsonb DEFAULT '{}',
                            occurred_at timestamptz DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_id bigint;
    v_at timestamptz := coalesce(occurred_at, auth.now());
BEGIN
    INSERT INTO auth.audit_log (occurred_at, event, user_id, session_id, ip, detail)
    VALUES (v_at, event, user_id, session_id, ip, coalesce(detail, '{}'))
    RETURNING id INTO v_id;
    -- Any role may LISTEN: the payload names the audit row and the event,
    -- no account (a listener with access to auth.audit_log reads the rest),
    -- so a failed sign-in for a registered email and for an unknown one
    -- announce the same; requests for links and codes (which anyone may
    -- make about any address) are not announced at all.
    IF auth._setting_bool('auth.notify_events') AND event NOT LIKE '%\_requested' THEN
        PERFORM pg_notify('auth_events', json_build_object(
            'id', v_id, 'event', event)::text);
    END IF;
END
$$;
COMMENT ON FUNCTION auth._audit(text, uuid, uuid, inet, jsonb, timestamptz) IS
    'internal: appends to auth.audit_log and notifies auth_events';
REVOKE ALL ON FUNCTION auth._audit(text, uuid, uuid, inet, jsonb, timestamptz) FROM PUBLIC;

-- issue 10: every SECURITY DEFINER function pins its search_path, the
-- identity setters too (a SET clause restores only the settings it names,
-- so the identity they set survives the call).
ALTER FUNCTION auth.verify_session(text) SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION auth.authenticate(text, boolean) SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION auth.sign_out() SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION auth.set_active_organization(uuid) SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION auth.verify_api_key(text, text[]) SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION auth.authenticate_api_key(text, boolean) SET search_path = pg_catalog, pg_temp;
