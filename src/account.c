/*
 * account.c: the account-wide RLS helpers: auth.has_global_permission()
 * and auth.impersonator_id().
 *
 * Both are called once per row by policies such as
 * USING (auth.has_global_permission('documents:read')), so what they read
 * (the permissions of the user's global role, and who impersonates them
 * when the identity is an impersonation session) is loaded once, with the
 * statement's snapshot, and kept while the identity and the snapshot stay
 * the same, as organization.c keeps memberships: a role changed and
 * committed is seen by the next statement (under READ COMMITTED), so a
 * connection-scope identity sees it at its next transaction at the latest.
 * A call then compares a few words and returns the answer it gave last
 * for the same permission.
 *
 * An API key's scopes narrow the global permissions as they narrow an
 * organization role's: the permission needs both the role's grant and one
 * of the key's scopes.
 *
 * The settings of impersonation and of anonymous users, which their SQL
 * functions read, are defined here as well.
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "fmgr.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "account.h"
#include "catalog.h"
#include "identity.h"
#include "scope.h"
#include "session.h"
#include "settings.h"

typedef struct AccountCache
{
	bool		valid;
	uint64		generation;		/* bumped at each load */
	int			kind;			/* the identity it was loaded for */
	pg_uuid_t	user_id;
	pg_uuid_t	credential_id;
	AuthSnapshotKey snapshot;
	int			npermissions;
	char	  **permissions;	/* of the user's global role */
	bool		impersonated;
	pg_uuid_t	impersonator_id;
} AccountCache;

/* What one call site of has_global_permission answered last. */
typedef struct PermissionAnswer
{
	uint64		generation;
	bool		answer;
	Size		len;
	char		permission[FLEXIBLE_ARRAY_MEMBER];
} PermissionAnswer;

static int	impersonation_ttl = SECS_PER_HOUR;
static bool allow_impersonating_admins = false;

static bool allow_anonymous_sign_in = false;
static int	anonymous_sign_in_limit = 30;
static int	anonymous_sign_in_window = SECS_PER_HOUR;
static int	anonymous_ttl = 30 * SECS_PER_DAY;

static AccountCache cache;
static uint64 generations = 0;
static MemoryContext cache_context = NULL;

static void
forget_cache(void)
{
	cache.valid = false;
	if (cache_context != NULL)
		MemoryContextReset(cache_context);
}

static void
cache_xact_callback(XactEvent event, void *arg)
{
	forget_cache();
}

static void
cache_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
					   SubTransactionId parentSubid, void *arg)
{
	if (event == SUBXACT_EVENT_ABORT_SUB)
		forget_cache();
}

/* The settings of impersonation and anonymous users, read by SQL. */
void
auth_account_init(void)
{
	auth_define_flag("auth.allow_anonymous_sign_in",
					 "Whether auth.sign_in_anonymously() may create "
					 "anonymous users.",
					 &allow_anonymous_sign_in);
	auth_define_count("auth.anonymous_sign_in_limit",
					  "Anonymous sign-ins per ip address within "
					  "auth.anonymous_sign_in_window.",
					  &anonymous_sign_in_limit, 1, 1000000);
	auth_define_seconds("auth.anonymous_sign_in_window",
						"Window of the anonymous sign-in limit.",
						&anonymous_sign_in_window, 1, 30 * SECS_PER_DAY);
	auth_define_seconds("auth.anonymous_ttl",
						"Idle time after which auth.cleanup() removes an "
						"anonymous user.",
						&anonymous_ttl, SECS_PER_HOUR, 10 * AUTH_YEAR_SECS);
	auth_define_seconds("auth.impersonation_ttl",
						"Default and longest lifetime of an impersonation "
						"session.",
						&impersonation_ttl, 60, SECS_PER_DAY);
	auth_define_flag("auth.allow_impersonating_admins",
					 "Whether auth.impersonate() may impersonate a user "
					 "whose global role may impersonate users itself.",
					 &allow_impersonating_admins);
	RegisterXactCallback(cache_xact_callback, NULL);
	RegisterSubXactCallback(cache_subxact_callback, NULL);
}

/* Copies the user's role grants and the session's impersonator. */
static void
read_account(SPITupleTable *rows, uint64 nrows, void *arg)
{
	MemoryContext old = MemoryContextSwitchTo(cache_context);
	HeapTuple	tup;
	TupleDesc	desc = rows->tupdesc;
	bool		isnull;
	Datum		d;
	Datum	   *elems;
	int			nelems = 0;

	cache.npermissions = 0;
	cache.impersonated = false;
	if (nrows == 1)
	{
		tup = rows->vals[0];
		d = SPI_getbinval(tup, desc, 1, &isnull);
		if (!isnull)
		{
			deconstruct_array(DatumGetArrayTypeP(d), TEXTOID, -1, false,
							  TYPALIGN_INT, &elems, NULL, &nelems);
			cache.permissions = palloc(sizeof(char *) * Max(1, nelems));
			for (int i = 0; i < nelems; i++)
				cache.permissions[i] = TextDatumGetCString(elems[i]);
			cache.npermissions = nelems;
		}
		d = SPI_getbinval(tup, desc, 2, &isnull);
		if (!isnull)
		{
			memcpy(&cache.impersonator_id, DatumGetUUIDP(d), UUID_LEN);
			cache.impersonated = true;
		}
	}
	MemoryContextSwitchTo(old);
}

/*
 * Loads what the identity's account grants, as the extension's owner: the
 * caller may read no auth table.
 */
static void
load_cache(const AuthIdentity *ident, bool is_session)
{
	static AuthQuery account = {
		.sql = "SELECT r.permissions, s.impersonator_id"
		" FROM auth.users u"
		" LEFT JOIN auth.global_roles r"
		"   ON r.name OPERATOR(pg_catalog.=) u.role"
		" LEFT JOIN auth.sessions s"
		"   ON s.id OPERATOR(pg_catalog.=) $2"
		"  AND s.user_id OPERATOR(pg_catalog.=) u.id"
		" WHERE u.id OPERATOR(pg_catalog.=) $1",
		.nargs = 2,
		.argtypes = {UUIDOID, UUIDOID},
		.read_only = true,
	};
	static const pg_uuid_t no_session = {{0}};
	Datum		values[2];

	if (cache_context == NULL)
		cache_context = AllocSetContextCreate(TopMemoryContext,
											  "auth account",
											  ALLOCSET_SMALL_SIZES);
	forget_cache();
	values[0] = UUIDPGetDatum(&ident->user_id);
	/* no session has the nil uuid (an API key's id is no session's) */
	values[1] = UUIDPGetDatum(is_session ? &ident->credential_id :
							  &no_session);
	(void) auth_query_run_as_owner(&account, values, 1, read_account, NULL);
	cache.kind = ident->kind;
	cache.user_id = ident->user_id;
	cache.credential_id = ident->credential_id;
	cache.generation = ++generations;
	cache.valid = true;
}

/* What the current identity's account grants, or NULL for nobody. */
static const AccountCache *
current_account(const AuthIdentity **identp)
{
	const AuthIdentity *ident = auth_identity_current();
	Snapshot	snap;

	*identp = ident;
	if (ident == NULL)
		return NULL;
	snap = auth_read_snapshot();
	if (!cache.valid || cache.kind != ident->kind ||
		!auth_snapshot_key_matches(snap, &cache.snapshot) ||
		memcmp(&cache.user_id, &ident->user_id, UUID_LEN) != 0 ||
		memcmp(&cache.credential_id, &ident->credential_id, UUID_LEN) != 0)
	{
		load_cache(ident, auth_identity_is_session(ident));
		auth_snapshot_key(snap, &cache.snapshot);
	}
	return &cache;
}

/*
 * SQL function: auth.has_global_permission(permission text) returns boolean
 * Whether the user's global role grants the permission ("*" and
 * "resource:*" grant more) and, under an API key, one of its scopes
 * covers it; false for nobody.
 */
PG_FUNCTION_INFO_V1(auth_has_global_permission);
Datum
auth_has_global_permission(PG_FUNCTION_ARGS)
{
	text	   *arg = PG_GETARG_TEXT_PP(0);
	Size		len = VARSIZE_ANY_EXHDR(arg);
	const AuthIdentity *ident;
	const AccountCache *c = current_account(&ident);
	PermissionAnswer *last = (PermissionAnswer *) fcinfo->flinfo->fn_extra;
	bool		answer = false;

	if (c == NULL)
		PG_RETURN_BOOL(false);
	/* in a policy the argument is a constant: the last answer stands */
	if (last != NULL && last->generation == c->generation &&
		last->len == len && memcmp(last->permission, VARDATA_ANY(arg),
									len) == 0)
		PG_RETURN_BOOL(last->answer);
	if (last == NULL || last->len < len)
		last = MemoryContextAlloc(fcinfo->flinfo->fn_mcxt,
								  offsetof(PermissionAnswer, permission) +
								  len + 1);
	memcpy(last->permission, VARDATA_ANY(arg), len);
	last->permission[len] = '\0';
	last->len = len;
	/* an API key needs the scope as well as the role's grant */
	if (auth_identity_has_scope(ident, last->permission))
		for (int i = 0; i < c->npermissions && !answer; i++)
			answer = auth_permission_covers(c->permissions[i],
											last->permission);
	last->answer = answer;
	last->generation = c->generation;
	fcinfo->flinfo->fn_extra = last;
	PG_RETURN_BOOL(answer);
}

/*
 * SQL function: auth.impersonator_id() returns uuid
 * Who started the impersonation session the identity stands on; NULL
 * otherwise.
 */
PG_FUNCTION_INFO_V1(auth_impersonator_id);
Datum
auth_impersonator_id(PG_FUNCTION_ARGS)
{
	const AuthIdentity *ident;
	const AccountCache *c = current_account(&ident);

	if (c == NULL || !c->impersonated)
		PG_RETURN_NULL();
	return auth_uuid_datum_cached(fcinfo, &c->impersonator_id);
}
