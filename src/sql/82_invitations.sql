-- invitations: joining an organization by an emailed token.  Only a
-- signed-in user whose verified email is the invited one can accept it
-- (better-auth's GHSA-fmh4-wcc4-5jm3 was a missing check of exactly this),
-- and an invitation is accepted, rejected or canceled once.

CREATE TABLE auth.invitations (
    id          uuid PRIMARY KEY DEFAULT pg_catalog.gen_random_uuid(),
    org_id      uuid NOT NULL REFERENCES auth.organizations (id) ON DELETE CASCADE,
    email       text NOT NULL,
    role        text NOT NULL,
    team_id     uuid REFERENCES auth.teams (id) ON DELETE SET NULL,
    token_hash  bytea NOT NULL,
    inviter_id  uuid REFERENCES auth.users (id) ON DELETE SET NULL,
    status      text NOT NULL DEFAULT 'pending'
                CHECK (status IN ('pending', 'accepted', 'rejected', 'canceled')),
    expires_at  timestamptz NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT auth.now(),
    CONSTRAINT invitations_token_hash_key UNIQUE (token_hash)
);
CREATE INDEX invitations_org_id_idx ON auth.invitations (org_id, status);
CREATE INDEX invitations_email_idx ON auth.invitations (email, status);
ALTER TABLE auth.invitations ENABLE ROW LEVEL SECURITY;
SELECT pg_catalog.pg_extension_config_dump('auth.invitations', '');
COMMENT ON TABLE auth.invitations IS
    'invitations to organizations; only the SHA-256 of each token is kept; a pending one past expires_at reads as expired';

-- Pending invitations a member issued die when they leave or change role.
CREATE FUNCTION auth._cancel_invitations_by(org_id uuid, inviter_id uuid) RETURNS void
LANGUAGE sql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    UPDATE auth.invitations i SET status = 'canceled'
     WHERE i.org_id = _cancel_invitations_by.org_id AND i.inviter_id = _cancel_invitations_by.inviter_id
       AND i.status = 'pending'
$$;
COMMENT ON FUNCTION auth._cancel_invitations_by(uuid, uuid) IS
    'internal: cancels the pending invitations a member issued';
REVOKE ALL ON FUNCTION auth._cancel_invitations_by(uuid, uuid) FROM PUBLIC;

CREATE FUNCTION auth.invite_member(org_id uuid, email text, role text, team_id uuid DEFAULT NULL,
                                   ttl interval DEFAULT NULL)
RETURNS text
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    v_uid uuid := auth._require_permission(org_id, 'invitation:create');
    v_email text := auth._normalize_email(email);
    v_token text := auth._generate_token('inv');
    v_ttl interval := auth._capped_ttl(ttl, 'auth.invitation_ttl');
    v_id uuid;
BEGIN
    IF v_ttl <= interval '0' THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'ttl must be positive';
    END IF;
    PERFORM auth._check_role(org_id, role);
    PERFORM auth._check_rank(org_id, role);
    IF team_id IS NOT NULL AND NOT EXISTS (SELECT FROM auth.teams t WHERE t.id = team_id AND t.org_id = org_id) THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'the team is not in this organization';
    END IF;
    IF EXISTS (SELECT FROM auth.members m JOIN auth.users u ON u.id = m.user_id
                WHERE m.org_id = org_id AND auth._email_key(u.email) = v_email) THEN
        RAISE EXCEPTION USING ERRCODE = '23505', MESSAGE = 'already a member of this organization';
    END IF;
    -- a new invitation replaces a pending one for the same address
    UPDATE auth.invitations i SET status = 'canceled'
     WHERE i.org_id = org_id AND i.email = v_email AND i.status = 'pending';
    INSERT INTO auth.invitations (org_id, email, role, team_id, token_hash, inviter_id, expires_at)
    VALUES (org_id, v_email, role, team_id, auth._token_hash(v_token, 'inv'), v_uid, auth.now() + v_ttl)
    RETURNING id INTO v_id;
    PERFORM auth._audit('invitation_created', v_uid, auth.session_id(), NULL,
                        jsonb_build_object('org_id', org_id, 'invitation_id', v_id,
                                           'email', v_email, 'role', role));
    RETURN v_token;
END
$$;
COMMENT ON FUNCTION auth.invite_member(uuid, text, text, uuid, interval) IS
    'an invitation token (inv_...) to mail; needs invitation:create and a role not above the inviter''s; default lifetime auth.invitation_ttl';

-- The pending, unexpired invitation a token names, addressed to the
-- signed-in user's verified email; 28000 or 42501 otherwise.
CREATE FUNCTION auth._my_invitation(token text) RETURNS auth.invitations
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_uid uuid := auth._require_account_uid();
    v_hash bytea := auth._token_hash(token, 'inv');
    v_inv auth.invitations;
BEGIN
    SELECT * INTO v_inv FROM auth.invitations i
     WHERE i.token_hash = v_hash AND i.status = 'pending' AND i.expires_at > auth.now();
    IF v_inv.id IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = '28000', MESSAGE = 'invalid or expired invitation';
    END IF;
    IF NOT EXISTS (SELECT FROM auth.users u
                    WHERE u.id = v_uid AND auth._email_key(u.email) = v_inv.email
                      AND u.email_verified_at IS NOT NULL) THEN
        RAISE EXCEPTION USING ERRCODE = '42501', MESSAGE = 'this invitation is for another email',
            HINT = 'Sign in with the invited address, verified.';
    END IF;
    RETURN v_inv;
END
$$;
COMMENT ON FUNCTION auth._my_invitation(text) IS
    'internal: the caller''s pending invitation named by a token';
REVOKE ALL ON FUNCTION auth._my_invitation(text) FROM PUBLIC;

-- Moves a pending invitation to a final status, once (28000 when it was
-- not pending any more).
CREATE FUNCTION auth._close_invitation(id uuid, status text) RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    UPDATE auth.invitations i SET status = _close_invitation.status
     WHERE i.id = _close_invitation.id AND i.status = 'pending';
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = '28000', MESSAGE = 'invalid or expired invitation';
    END IF;
END
$$;
COMMENT ON FUNCTION auth._close_invitation(uuid, text) IS
    'internal: closes a pending invitation once';
REVOKE ALL ON FUNCTION auth._close_invitation(uuid, text) FROM PUBLIC;

CREATE FUNCTION auth.accept_invitation(token text) RETURNS uuid
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_inv auth.invitations := auth._my_invitation(token);
    v_uid uuid := auth.uid();
BEGIN
    PERFORM auth._close_invitation(v_inv.id, 'accepted');
    IF NOT EXISTS (SELECT FROM auth.members m WHERE m.org_id = v_inv.org_id AND m.user_id = v_uid) THEN
        PERFORM auth._insert_member(v_inv.org_id, v_uid, v_inv.role);
    END IF;
    IF v_inv.team_id IS NOT NULL THEN
        INSERT INTO auth.team_members (org_id, team_id, user_id)
        VALUES (v_inv.org_id, v_inv.team_id, v_uid) ON CONFLICT DO NOTHING;
    END IF;
    PERFORM auth._audit('invitation_accepted', v_uid, auth.session_id(), NULL,
                        jsonb_build_object('org_id', v_inv.org_id, 'invitation_id', v_inv.id,
                                           'role', v_inv.role));
    RETURN v_inv.org_id;
END
$$;
COMMENT ON FUNCTION auth.accept_invitation(text) IS
    'joins the organization of an invitation addressed to the signed-in user''s verified email, once; returns the organization; 28000 when invalid, 42501 for another email';

CREATE FUNCTION auth.reject_invitation(token text) RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_inv auth.invitations := auth._my_invitation(token);
BEGIN
    PERFORM auth._close_invitation(v_inv.id, 'rejected');
    PERFORM auth._audit('invitation_rejected', auth.uid(), auth.session_id(), NULL,
                        jsonb_build_object('org_id', v_inv.org_id, 'invitation_id', v_inv.id));
END
$$;
COMMENT ON FUNCTION auth.reject_invitation(text) IS
    'declines an invitation addressed to the signed-in user''s verified email';

CREATE FUNCTION auth.cancel_invitation(invitation_id uuid) RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_org uuid := (SELECT i.org_id FROM auth.invitations i WHERE i.id = invitation_id);
    v_uid uuid := auth._require_permission(v_org, 'invitation:cancel');
BEGIN
    PERFORM auth._close_invitation(invitation_id, 'canceled');
    PERFORM auth._audit('invitation_canceled', v_uid, auth.session_id(), NULL,
                        jsonb_build_object('org_id', v_org, 'invitation_id', invitation_id));
END
$$;
COMMENT ON FUNCTION auth.cancel_invitation(uuid) IS
    'withdraws a pending invitation; needs invitation:cancel';

CREATE FUNCTION auth.list_invitations(org_id uuid)
RETURNS TABLE (id uuid, email text, role text, team_id uuid, status text, inviter_id uuid,
               expires_at timestamptz, created_at timestamptz)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT i.id, i.email, i.role, i.team_id,
           CASE WHEN i.status = 'pending' AND i.expires_at <= auth.now() THEN 'expired' ELSE i.status END,
           i.inviter_id, i.expires_at, i.created_at
      FROM auth.invitations i
     WHERE i.org_id = list_invitations.org_id AND auth._require_member(list_invitations.org_id) IS NOT NULL
     ORDER BY i.created_at DESC
$$;
COMMENT ON FUNCTION auth.list_invitations(uuid) IS
    'the invitations of an organization the caller belongs to, never their tokens; status pending, accepted, rejected, canceled or expired';

CREATE FUNCTION auth.list_my_invitations()
RETURNS TABLE (id uuid, org_id uuid, org_name text, role text, inviter_id uuid, expires_at timestamptz)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT i.id, i.org_id, o.name, i.role, i.inviter_id, i.expires_at
      FROM auth.invitations i
      JOIN auth.organizations o ON o.id = i.org_id
      JOIN auth.users u ON auth._email_key(u.email) = i.email AND u.email_verified_at IS NOT NULL
     WHERE u.id = auth._require_account_uid() AND i.status = 'pending' AND i.expires_at > auth.now()
     ORDER BY i.created_at DESC
$$;
COMMENT ON FUNCTION auth.list_my_invitations() IS
    'pending invitations addressed to the signed-in user''s verified email';
