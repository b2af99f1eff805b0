/*
 * auth.h: machinery shared by the capabilities of the auth extension.
 *
 * One capability per C file; what more than one of them needs is declared
 * here and defined once.
 */
#ifndef AUTH_H
#define AUTH_H

#include "postgres.h"
#include "executor/spi.h"
#include "executor/tuptable.h"
#include "utils/relcache.h"
#include "utils/snapshot.h"
#include "utils/timestamp.h"
#include "utils/uuid.h"

#define AUTH_HASH_LEN		32		/* SHA-256 */
#define AUTH_TOKEN_BYTES	32		/* 256 bits from pg_strong_random */
#define AUTH_API_KEY_BYTES	36		/* 288 bits: 48 characters, 4 shown */
#define AUTH_MAX_TOKEN_BYTES 64
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

extern int	auth_api_key_touch_interval;
extern int	auth_api_key_rate_limit_slots;
extern char *auth_api_key_prefix;

extern void auth_define_settings(void);
extern TimestampTz auth_now(void);
extern TimestampTz auth_wall_clock(void);

/* token.c: secrets the extension issues */
extern void auth_random_bytes(void *buf, Size len);
extern char *auth_token_generate(const char *prefix);
extern char *auth_token_generate_bytes(const char *prefix, Size nbytes);
extern bool auth_token_hash_if_shaped_bytes(const char *prefix, Size nbytes,
											const char *token, Size len,
											uint8 *hash_out);
extern bool auth_token_prefix_is_valid(const char *prefix);
extern bool auth_token_hash_if_shaped(const char *prefix, const char *token,
									  Size len, uint8 *hash_out);
extern void auth_sha256(const void *data, Size len, uint8 *out);

/* identity.c: the identity of the current database session */
typedef enum AuthIdentityKind
{
	AUTH_IDENTITY_NONE = 0,
	AUTH_IDENTITY_SESSION,		/* authenticated with a session token */
	AUTH_IDENTITY_USER,			/* set by a superuser for a user */
	AUTH_IDENTITY_API_KEY		/* authenticated with an API key */
} AuthIdentityKind;

/*
 * An API key holds at most AUTH_MAX_SCOPES scopes of at most
 * AUTH_MAX_SCOPE_LEN characters each, so they fit the identity inline.
 */
#define AUTH_KEY_TAG_LEN	8		/* first bytes of the SHA-256 of a key */
#define AUTH_MAX_SCOPES		32
#define AUTH_MAX_SCOPE_LEN	64
#define AUTH_SCOPES_BUFLEN	(AUTH_MAX_SCOPES * (AUTH_MAX_SCOPE_LEN + 1) + 1)

typedef struct AuthIdentity
{
	AuthIdentityKind kind;
	pg_uuid_t	user_id;
	pg_uuid_t	session_id;		/* all zero unless kind is SESSION */
	pg_uuid_t	key_id;			/* all zero unless kind is API_KEY */
	uint8		key_tag[AUTH_KEY_TAG_LEN];	/* API key: which secret was shown */
	bool		has_org;		/* the active organization (the key's), if any */
	pg_uuid_t	org_id;
	char		scopes[AUTH_SCOPES_BUFLEN];	/* API key: space-separated */
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
/* whether a granted permission or scope ("*", "res:*", "res:act") covers one */
extern bool auth_permission_covers(const char *granted, const char *wanted);
/* identity.c: scopes, kept as a space-separated list */
extern bool auth_identity_has_scope(const AuthIdentity *ident, const char *scope);
extern bool auth_scopes_cover(const char *scopes, const char *scope);
extern Datum auth_scopes_array(const char *scopes);

/* apikey.c: verification of API keys, and the rate-limit shared memory */
typedef struct AuthApiKeyInfo
{
	pg_uuid_t	key_id;
	uint8		tag[AUTH_KEY_TAG_LEN];	/* the presented secret's hash, first bytes */
	pg_uuid_t	user_id;
	bool		has_org;
	pg_uuid_t	org_id;
	char		scopes[AUTH_SCOPES_BUFLEN];
} AuthApiKeyInfo;

extern bool auth_api_key_is_live(const pg_uuid_t *key_id,
								 const pg_uuid_t *user_id, const uint8 *tag,
								 AuthApiKeyInfo *info);
extern void auth_api_key_shmem_init(void);

/* catalog.c: the extension's own relations, found once per backend */
typedef enum AuthRel
{
	AUTH_REL_SESSIONS = 0,
	AUTH_REL_SESSIONS_TOKEN_HASH_KEY,
	AUTH_REL_SESSIONS_PKEY,
	AUTH_REL_API_KEYS,
	AUTH_REL_API_KEYS_KEY_HASH_KEY,
	AUTH_REL_API_KEYS_PREVIOUS_KEY_HASH_KEY,
	AUTH_REL_API_KEYS_PKEY,
	AUTH_REL_COUNT
} AuthRel;

extern Oid	auth_rel_oid(AuthRel rel);
extern Oid	auth_schema_owner(void);

/* catalog.c: the read path's shared machinery */
extern bool auth_columns_stale(Relation rel, Oid *tag);
extern AttrNumber auth_attnum(Relation rel, const char *name);
extern bool auth_probe_index(Relation rel, Oid indexoid, RegProcedure eqproc,
							 Datum key, TupleTableSlot *slot);
extern TimestampTz auth_slot_timestamp(TupleTableSlot *slot, AttrNumber attnum,
									   bool *isnull);
extern SPIPlanPtr auth_kept_plan(SPIPlanPtr *plan, const char *sql,
								 int nargs, Oid *argtypes);

#endif							/* AUTH_H */
