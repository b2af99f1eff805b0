/*
 * auth.h: machinery shared by the capabilities of the auth extension.
 *
 * One capability per C file; what more than one of them needs is declared
 * here and defined once.
 */
#ifndef AUTH_H
#define AUTH_H

#include "postgres.h"
#include "utils/snapshot.h"
#include "utils/timestamp.h"
#include "utils/uuid.h"

#define AUTH_HASH_LEN		32		/* SHA-256 */
#define AUTH_TOKEN_BYTES	32		/* 256 bits from pg_strong_random */
#define AUTH_SESSION_PREFIX "ses"

/* settings.c: GUC variables (seconds for every duration) */
extern int	auth_argon2_memory_kib;
extern int	auth_argon2_iterations;
extern int	auth_argon2_parallelism;
extern int	auth_password_min_length;
extern int	auth_session_ttl;
extern int	auth_session_refresh_age;
extern int	auth_session_max_lifetime;
extern int	auth_max_failed_sign_ins;
extern int	auth_failed_sign_in_window;
extern int	auth_audit_retention;
extern int	auth_cleanup_grace;
extern int	auth_time_offset;

extern void auth_define_settings(void);
extern TimestampTz auth_now(void);

/* token.c: secrets the extension issues */
extern void auth_random_bytes(void *buf, Size len);
extern char *auth_token_generate(const char *prefix);
extern bool auth_token_hash_if_shaped(const char *prefix, const char *token,
									  Size len, uint8 *hash_out);
extern void auth_sha256(const void *data, Size len, uint8 *out);

/* identity.c: the identity of the current database session */
typedef enum AuthIdentityKind
{
	AUTH_IDENTITY_NONE = 0,
	AUTH_IDENTITY_SESSION,		/* authenticated with a session token */
	AUTH_IDENTITY_USER			/* set by a superuser for a user */
} AuthIdentityKind;

typedef struct AuthIdentity
{
	AuthIdentityKind kind;
	pg_uuid_t	user_id;
	pg_uuid_t	session_id;		/* all zero unless kind is SESSION */
	bool		has_org;		/* the session's active organization, if any */
	pg_uuid_t	org_id;
} AuthIdentity;

extern void auth_define_identity(void);
extern const AuthIdentity *auth_identity_current(void);
extern void auth_identity_set(const AuthIdentity *ident, bool is_local);
extern void auth_identity_clear(void);

/* session.c: verification of session tokens, and the snapshot reads use */
extern Snapshot auth_read_snapshot(void);
typedef struct AuthSessionInfo
{
	pg_uuid_t	user_id;
	pg_uuid_t	session_id;
	TimestampTz expires_at;
	bool		has_org;
	pg_uuid_t	org_id;			/* active organization of the session */
} AuthSessionInfo;

extern bool auth_session_verify_token(const char *token, Size len,
									  bool allow_refresh,
									  AuthSessionInfo *info);
extern bool auth_session_is_live(const pg_uuid_t *session_id,
								 const pg_uuid_t *user_id,
								 AuthSessionInfo *info);

/* organization.c: rank of a built-in role (owner 3, admin 2, others 1) */
extern int	auth_role_rank(const char *role);

/* catalog.c: the extension's own relations, found once per backend */
typedef enum AuthRel
{
	AUTH_REL_SESSIONS = 0,
	AUTH_REL_SESSIONS_TOKEN_HASH_KEY,
	AUTH_REL_SESSIONS_PKEY,
	AUTH_REL_COUNT
} AuthRel;

extern Oid	auth_rel_oid(AuthRel rel);
extern Oid	auth_schema_owner(void);

#endif							/* AUTH_H */
