/*
 * identity.h: who the current database session acts for (layer 3), and
 * the registry of credential kinds.
 *
 * A credential module (session.c, apikey.c, ...) registers its kind at
 * _PG_init: the syntax of its identity value, and a liveness callback that
 * re-checks a connection-scope identity once per transaction.  Identity
 * calls into the registry, never into the modules above it.
 */
#ifndef AUTH_IDENTITY_H
#define AUTH_IDENTITY_H

#include "postgres.h"

#include "fmgr.h"
#include "utils/timestamp.h"
#include "utils/uuid.h"

#include "identity_value.h"

typedef struct AuthCredentialKind
{
	AuthKindSyntax syntax;		/* its name and what its value carries */
	const char *id_field;		/* auth.identity() key of credential_id */
	bool		manages_account;	/* may change passwords, sessions, email,
									 * memberships */
	bool		fixed_org;		/* the identity acts in its organization
								 * alone (an org-bound API key) */

	/*
	 * Whether the credential behind ident is still live; may bring settled
	 * (a copy of ident) up to date: the active organization, the scopes.
	 * NULL: the identity never dies (set by a superuser).
	 */
	bool		(*is_live) (const AuthIdentity *ident, AuthIdentity *settled);

	/*
	 * The auth.identity() key naming credential_id for this identity, when
	 * it depends on the value (a JWT's sid is a session's or a key's); NULL
	 * callback: always id_field.
	 */
	const char *(*credential_field) (const AuthIdentity *ident);

	/*
	 * The authentication behind ident: the methods used (amr, a jsonb
	 * array, allocated in mcxt) and when the last was shown; false when
	 * the credential records none.  NULL: the kind records none.
	 */
	bool		(*assurance) (const AuthIdentity *ident, MemoryContext mcxt,
							  Datum *amr, TimestampTz *auth_time);
} AuthCredentialKind;

#define AUTH_MAX_KINDS 8

extern int	auth_register_credential_kind(const AuthCredentialKind *kind);
extern const AuthCredentialKind *auth_identity_kind(const AuthIdentity *ident);
extern void auth_identity_init(void);
extern const char *auth_identity_credential_field(const AuthIdentity *ident);
extern bool auth_credential_is_live(const char *kind_name,
									const pg_uuid_t *user_id,
									const pg_uuid_t *credential_id,
									uint8 *aal);

extern const AuthIdentity *auth_identity_current(void);
extern void auth_identity_set(const AuthIdentity *ident, bool is_local);
extern void auth_identity_clear(void);
extern bool auth_identity_has_scope(const AuthIdentity *ident,
									const char *scope);
extern bool auth_identity_in_org(const AuthIdentity *ident,
								 const pg_uuid_t *org_id);

/* For the accessors of each kind: a uuid datum without a palloc per row. */
extern Datum auth_uuid_datum_cached(FunctionCallInfo fcinfo,
									const pg_uuid_t *u);
/* Scopes between their SQL form (text[]) and their identity form. */
extern Datum auth_scopes_array(const char *scopes);
extern void auth_scopes_from_array(ArrayType *arr, char *out, Size outlen);

#endif							/* AUTH_IDENTITY_H */
