-- audit: what happened, to whom, from where; never a secret.

CREATE TABLE auth.audit_log (
    id          bigserial PRIMARY KEY,
    occurred_at timestamptz NOT NULL DEFAULT auth.now(),
    event       text NOT NULL,
    user_id     uuid,           -- no foreign key: history outlives the user
    session_id  uuid,
    ip          inet,
    detail      jsonb NOT NULL DEFAULT '{}',
    actor_id    uuid,           -- the authenticated user who acted (auth.uid())
    actor_role  text,           -- the database role that called
    impersonator_id uuid        -- who impersonated actor_id when it happened
);
CREATE INDEX audit_log_user_id_idx ON auth.audit_log (user_id, occurred_at);
CREATE INDEX audit_log_occurred_at_idx ON auth.audit_log (occurred_at);
ALTER TABLE auth.audit_log ENABLE ROW LEVEL SECURITY;
SELECT pg_catalog.pg_extension_config_dump('auth.audit_log', '');
SELECT pg_catalog.pg_extension_config_dump('auth.audit_log_id_seq', '');
COMMENT ON TABLE auth.audit_log IS
    'security events (sign_up, sign_in, sign_in_failed, sign_out, session_revoked, password_changed, ...) with their actor; also sent as NOTIFY auth_events';

-- Who acted, for every audit row: the authenticated user (auth.uid(), NULL
-- when nobody is), the database role that called (SET ROLE's, else the
-- session's; an admin tier's back office acts as a role, not a user), and
-- who impersonates the user when the identity is an impersonation session.
-- The one place the actor is computed: what an audit row names besides
-- comes here too.
CREATE FUNCTION auth._audit_actor() RETURNS jsonb
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT jsonb_build_object(
        'actor_id', auth.uid(),
        'actor_role', CASE WHEN current_setting('role') = 'none' THEN session_user::text
                           ELSE current_setting('role') END,
        'impersonator_id', auth.impersonator_id())
$$;
COMMENT ON FUNCTION auth._audit_actor() IS
    'internal: the actor of an audit row: the authenticated user, the calling database role and the impersonator';
REVOKE ALL ON FUNCTION auth._audit_actor() FROM PUBLIC;

-- Records an event, with its actor, and announces it on the channel
-- auth_events.
CREATE FUNCTION auth._audit(event text, user_id uuid, session_id uuid,
                            ip inet, detail jsonb DEFAULT '{}',
                            occurred_at timestamptz DEFAULT NULL,
                            actor jsonb DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_id bigint;
    v_at timestamptz := coalesce(occurred_at, auth.now());
    -- (a row the autonomous worker writes carries its caller's actor)
    v_actor jsonb := coalesce(actor, auth._audit_actor());
BEGIN
    INSERT INTO auth.audit_log (occurred_at, event, user_id, session_id, ip, detail,
                                actor_id, actor_role, impersonator_id)
    VALUES (v_at, event, user_id, session_id, ip, coalesce(detail, '{}'),
            (v_actor->>'actor_id')::uuid, v_actor->>'actor_role',
            -- or the impersonator of the session the event names (its start)
            coalesce((v_actor->>'impersonator_id')::uuid,
                     (SELECT s.impersonator_id FROM auth.sessions s
                       WHERE s.id OPERATOR(pg_catalog.=) _audit.session_id)))
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
COMMENT ON FUNCTION auth._audit(text, uuid, uuid, inet, jsonb, timestamptz, jsonb) IS
    'internal: appends to auth.audit_log and notifies auth_events; actor (from auth._audit_actor()) when written on a caller''s behalf';
REVOKE ALL ON FUNCTION auth._audit(text, uuid, uuid, inet, jsonb, timestamptz, jsonb) FROM PUBLIC;
