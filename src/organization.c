/*
 * organization.c: the multi-tenant RLS helpers.
 *
 * auth.is_member(org_id), has_role, has_permission, org_ids and team_ids
 * are called once per row by policies such as USING (auth.is_member(org_id)).
 * Probing auth.members per row is what makes naive multi-tenant policies
 * slow, so the caller's memberships (organization, role, permissions) and
 * teams are loaded once, with the statement's snapshot, and kept, sorted,
 * while the user and the snapshot stay the same: a statement sees exactly
 * the memberships its snapshot sees (changes made earlier in the same
 * transaction, and, under READ COMMITTED, changes others committed before
 * it began), in the leader and in parallel workers alike.  A lookup is
 * then a binary search over a handful of uuids.
 *
 * An API key bound to an organization acts within it alone: the helpers see
 * no other membership.  An identity at aal1 sees no membership of an
 * organization that requires MFA (or of any, under auth.require_mfa, once
 * the user has a factor): one flag protects every table of the tenant.
 * And for any API key, a permission needs both the role's grant and one
 * of the key's scopes.
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/memutils.h"

#include "catalog.h"
#include "identity.h"
#include "organization.h"
#include "settings.h"

#define RANK_MEMBER 1			/* custom roles rank as members */

typedef struct Membership
{
	pg_uuid_t	org_id;
	char	   *role;
	int			rank;			/* owner 3, admin 2, member 1 */
	int			npermissions;
	char	  **permissions;
	bool		mfa_required;	/* hidden from an aal1 identity */
} Membership;

typedef struct TeamMembership
{
	pg_uuid_t	team_id;
	pg_uuid_t	org_id;
} TeamMembership;

typedef struct MembershipCache
{
	bool		valid;
	pg_uuid_t	user_id;
	AuthSnapshotKey snapshot;
	int			nmemberships;
	Membership *memberships;	/* sorted by org_id */
	int			nteams;
	TeamMembership *teams;		/* sorted by team_id */
	bool		mfa_loaded;		/* mfa_required, once an aal1 identity asks */
	bool		builtin_loaded; /* the built-in roles' grants, when asked */
	int			nbuiltin;
	Membership *builtin;		/* owner, admin, member */
	const AuthIdentity *ident;	/* the identity asking, set on each use */
} MembershipCache;

static int	membership_limit = 100;
static bool require_mfa = false;
static int	invitation_ttl = 48 * SECS_PER_HOUR;

static MembershipCache cache;
static MemoryContext cache_context = NULL;
static bool callbacks_registered = false;

static void
forget_cache(void)
{
	cache.valid = false;
	cache.mfa_loaded = false;
	cache.builtin_loaded = false;
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

static int
uuid_compare(const void *a, const void *b)
{
	return memcmp(a, b, UUID_LEN);
}

static int
membership_compare(const void *a, const void *b)
{
	return memcmp(&((const Membership *) a)->org_id,
				  &((const Membership *) b)->org_id, UUID_LEN);
}

/* The settings of organizations, read by their SQL functions. */
void
auth_organization_init(void)
{
	auth_define_count("auth.membership_limit",
					  "Most members an organization may have.",
					  &membership_limit, 1, 1000000);
	auth_define_seconds("auth.invitation_ttl",
						"Lifetime of an invitation to an organization.",
						&invitation_ttl, 60, 365 * SECS_PER_DAY);
	auth_define_flag("auth.require_mfa",
					 "Whether every user with a second factor needs aal2 "
					 "in every organization.",
					 &require_mfa);
}

/* The rank of a built-in role: owner 3, admin 2, any other 1. */
static int
auth_role_rank(const char *role)
{
	if (strcmp(role, "owner") == 0)
		return 3;
	if (strcmp(role, "admin") == 0)
		return 2;
	return RANK_MEMBER;
}

static void fill_cache(const pg_uuid_t *user_id);
static int	auth_role_rank(const char *role);

/*
 * Loads the memberships with the statement's snapshot, as the extension's
 * owner: the caller may read no auth table.
 */
static void
load_cache(const pg_uuid_t *user_id)
{
	if (!callbacks_registered)
	{
		RegisterXactCallback(cache_xact_callback, NULL);
		RegisterSubXactCallback(cache_subxact_callback, NULL);
		cache_context = AllocSetContextCreate(TopMemoryContext,
											  "auth memberships",
											  ALLOCSET_SMALL_SIZES);
		callbacks_registered = true;
	}
	forget_cache();
	fill_cache(user_id);
	cache.user_id = *user_id;
	cache.valid = true;
}

/* Reads a role's name and permissions, columns col and col + 1, into m. */
static void
read_role(HeapTuple tup, TupleDesc desc, int col, Membership *m)
{
	bool		isnull;
	Datum	   *elems;
	int			nelems;

	m->role = TextDatumGetCString(SPI_getbinval(tup, desc, col, &isnull));
	m->rank = auth_role_rank(m->role);
	deconstruct_array(DatumGetArrayTypeP(SPI_getbinval(tup, desc, col + 1,
													   &isnull)),
					  TEXTOID, -1, false, TYPALIGN_INT, &elems, NULL, &nelems);
	m->npermissions = nelems;
	m->permissions = palloc(sizeof(char *) * Max(1, nelems));
	for (int j = 0; j < nelems; j++)
		m->permissions[j] = TextDatumGetCString(elems[j]);
}

/* Copies the built-in roles' grants a query returned into the cache. */
static void
read_builtin_roles(SPITupleTable *rows, uint64 nrows, void *arg)
{
	MemoryContext old = MemoryContextSwitchTo(cache_context);

	cache.nbuiltin = nrows;
	cache.builtin = palloc0(sizeof(Membership) * Max(1, nrows));
	for (uint64 i = 0; i < nrows; i++)
		read_role(rows->vals[i], rows->tupdesc, 1, &cache.builtin[i]);
	MemoryContextSwitchTo(old);
}

/* Copies the memberships a query returned into the cache, sorted. */
static void
read_memberships(SPITupleTable *rows, uint64 nrows, void *arg)
{
	MemoryContext old = MemoryContextSwitchTo(cache_context);

	cache.nmemberships = nrows;
	cache.memberships = palloc0(sizeof(Membership) * Max(1, nrows));
	for (uint64 i = 0; i < nrows; i++)
	{
		HeapTuple	tup = rows->vals[i];
		TupleDesc	desc = rows->tupdesc;
		Membership *m = &cache.memberships[i];
		bool		isnull;

		memcpy(&m->org_id,
			   DatumGetUUIDP(SPI_getbinval(tup, desc, 1, &isnull)),
			   UUID_LEN);
		read_role(tup, desc, 2, m);
	}
	qsort(cache.memberships, cache.nmemberships, sizeof(Membership),
		  membership_compare);
	MemoryContextSwitchTo(old);
}

/* Copies the teams a query returned into the cache, sorted. */
static void
read_teams(SPITupleTable *rows, uint64 nrows, void *arg)
{
	MemoryContext old = MemoryContextSwitchTo(cache_context);

	cache.nteams = nrows;
	cache.teams = palloc(sizeof(TeamMembership) * Max(1, nrows));
	for (uint64 i = 0; i < nrows; i++)
	{
		HeapTuple	tup = rows->vals[i];
		TupleDesc	desc = rows->tupdesc;
		bool		isnull;

		memcpy(&cache.teams[i].team_id,
			   DatumGetUUIDP(SPI_getbinval(tup, desc, 1, &isnull)),
			   UUID_LEN);
		memcpy(&cache.teams[i].org_id,
			   DatumGetUUIDP(SPI_getbinval(tup, desc, 2, &isnull)),
			   UUID_LEN);
	}
	qsort(cache.teams, cache.nteams, sizeof(TeamMembership), uuid_compare);
	MemoryContextSwitchTo(old);
}

static void
fill_cache(const pg_uuid_t *user_id)
{
	static AuthQuery memberships = {
		.sql = "SELECT m.org_id, m.role,"
		" coalesce(r.permissions, '{}'::pg_catalog.text[])"
		" FROM auth.members m LEFT JOIN auth.roles r"
		"   ON r.name OPERATOR(pg_catalog.=) m.role"
		"  AND (r.org_id OPERATOR(pg_catalog.=) m.org_id OR r.org_id IS NULL)"
		" WHERE m.user_id OPERATOR(pg_catalog.=) $1",
		.nargs = 1,
		.argtypes = {UUIDOID},
		.read_only = true,
	};
	static AuthQuery teams = {
		.sql = "SELECT tm.team_id, tm.org_id FROM auth.team_members tm"
		" WHERE tm.user_id OPERATOR(pg_catalog.=) $1",
		.nargs = 1,
		.argtypes = {UUIDOID},
		.read_only = true,
	};
	Datum		values[1] = {UUIDPGetDatum(user_id)};

	/* as the extension's owner: the caller may read no auth table */
	(void) auth_query_run_as_owner(&memberships, values, 0, read_memberships,
								   NULL);
	(void) auth_query_run_as_owner(&teams, values, 0, read_teams, NULL);
}

/* Marks the memberships a query returned (their org ids) mfa_required. */
static void
read_mfa_required(SPITupleTable *rows, uint64 nrows, void *arg)
{
	for (uint64 i = 0; i < nrows; i++)
	{
		bool		isnull;
		Membership	key;
		Membership *m;

		memcpy(&key.org_id,
			   DatumGetUUIDP(SPI_getbinval(rows->vals[i], rows->tupdesc, 1,
										   &isnull)),
			   UUID_LEN);
		m = bsearch(&key, cache.memberships, cache.nmemberships,
					sizeof(Membership), membership_compare);
		if (m != NULL)
			m->mfa_required = true;
	}
}

/*
 * Which memberships need aal2, asked only by an aal1 identity.  Before
 * 0.2.0's SQL (no auth.mfa_factors) none does.
 */
static void
load_mfa_required(const pg_uuid_t *user_id)
{
	static AuthQuery mfa = {
		.sql = "SELECT m.org_id FROM auth.members m"
		" JOIN auth.organizations o ON o.id OPERATOR(pg_catalog.=) m.org_id"
		" WHERE m.user_id OPERATOR(pg_catalog.=) $1"
		" AND (o.require_mfa OR ($2 AND EXISTS (SELECT FROM auth.mfa_factors f"
		"  WHERE f.user_id OPERATOR(pg_catalog.=) $1"
		"  AND f.verified_at IS NOT NULL)))",
		.nargs = 2,
		.argtypes = {UUIDOID, BOOLOID},
		.read_only = true,
	};
	Datum		values[2] = {UUIDPGetDatum(user_id),
	BoolGetDatum(require_mfa)};

	if (auth_rel_exists("mfa_factors"))
		(void) auth_query_run_as_owner(&mfa, values, 0, read_mfa_required,
									   NULL);
	cache.mfa_loaded = true;
}

/* Whether the cache was loaded with a snapshot that sees what snap sees. */
static inline bool
cache_matches(Snapshot snap, const pg_uuid_t *user_id)
{
	return cache.valid && auth_snapshot_key_matches(snap, &cache.snapshot) &&
		memcmp(&cache.user_id, user_id, UUID_LEN) == 0;
}

/* The memberships of the current user, or NULL when nobody is signed in. */
static MembershipCache *
current_memberships(void)
{
	const AuthIdentity *ident = auth_identity_current();
	Snapshot	snap;

	if (ident == NULL)
		return NULL;
	snap = auth_read_snapshot();
	if (!cache_matches(snap, &ident->user_id))
	{
		load_cache(&ident->user_id);
		auth_snapshot_key(snap, &cache.snapshot);
	}
	if (ident->aal < 2 && !cache.mfa_loaded)
		load_mfa_required(&ident->user_id);
	cache.ident = ident;
	return &cache;
}

/* The membership in org_id, whatever the identity's assurance. */
static Membership *
lookup_membership(MembershipCache *c, const pg_uuid_t *org_id)
{
	Membership	key;

	if (c == NULL || !auth_identity_in_org(c->ident, org_id))
		return NULL;
	key.org_id = *org_id;
	return bsearch(&key, c->memberships, c->nmemberships, sizeof(Membership),
				   membership_compare);
}

/* Whether a membership is hidden from the identity for want of aal2. */
static inline bool
mfa_hides(MembershipCache *c, const Membership *m)
{
	return m->mfa_required && c->ident->aal < 2;
}

/*
 * The membership in org_id as the identity may use it: the one place that
 * decides, for every helper and organization function.
 */
static const Membership *
find_membership(MembershipCache *c, const pg_uuid_t *org_id)
{
	Membership *m = lookup_membership(c, org_id);

	return m == NULL || mfa_hides(c, m) ? NULL : m;
}

/* SQL function: auth.is_member(org_id uuid) returns boolean */
PG_FUNCTION_INFO_V1(auth_is_member);
Datum
auth_is_member(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(find_membership(current_memberships(),
								   PG_GETARG_UUID_P(0)) != NULL);
}

/*
 * The text argument as a C string, kept in fn_extra while it stays the
 * same (in a policy it is a constant), so no row pays an allocation.
 */
static const char *
cached_cstring(FunctionCallInfo fcinfo, text *arg)
{
	char	   *cached = (char *) fcinfo->flinfo->fn_extra;
	Size		len = VARSIZE_ANY_EXHDR(arg);

	if (cached == NULL || strlen(cached) != len ||
		memcmp(cached, VARDATA_ANY(arg), len) != 0)
	{
		cached = MemoryContextAlloc(fcinfo->flinfo->fn_mcxt, len + 1);
		memcpy(cached, VARDATA_ANY(arg), len);
		cached[len] = '\0';
		fcinfo->flinfo->fn_extra = cached;
	}
	return cached;
}

/*
 * The grants of a built-in role, loaded on first use (only a credential
 * with scopes asks).
 */
static const Membership *
builtin_role(const char *role)
{
	static AuthQuery builtin = {
		.sql = "SELECT r.name, r.permissions FROM auth.roles r"
		" WHERE r.org_id IS NULL",
		.read_only = true,
	};

	if (!cache.builtin_loaded)
	{
		(void) auth_query_run_as_owner(&builtin, NULL, 0, read_builtin_roles,
									   NULL);
		cache.builtin_loaded = true;
	}
	for (int i = 0; i < cache.nbuiltin; i++)
		if (strcmp(cache.builtin[i].role, role) == 0)
			return &cache.builtin[i];
	return NULL;
}

/*
 * Whether the identity may act with every permission the role grants: an
 * identity without scopes (a session) always; an API key when its scopes
 * cover each of them.
 */
static bool
role_in_scope(const AuthIdentity *ident, const Membership *role)
{
	if (!auth_identity_kind(ident)->syntax.scopes)
		return true;
	if (role == NULL)
		return false;
	for (int i = 0; i < role->npermissions; i++)
		if (!auth_identity_has_scope(ident, role->permissions[i]))
			return false;
	return true;
}

/*
 * SQL function: auth.has_role(org_id uuid, role text) returns boolean
 * Rank-aware for the built-in roles (an owner has the role admin); a custom
 * role only matches itself.  Under an API key, a role is held only with
 * every permission it grants in the key's scopes.
 */
PG_FUNCTION_INFO_V1(auth_has_role);
Datum
auth_has_role(PG_FUNCTION_ARGS)
{
	MembershipCache *c = current_memberships();
	const Membership *m = find_membership(c, PG_GETARG_UUID_P(0));
	const char *role;
	const Membership *granted;

	if (m == NULL)
		PG_RETURN_BOOL(false);
	role = cached_cstring(fcinfo, PG_GETARG_TEXT_PP(1));
	if (strcmp(m->role, role) == 0)
		granted = m;
	/* built-in roles by rank; "member" is held by every member */
	else if ((strcmp(role, "owner") == 0 || strcmp(role, "admin") == 0 ||
			  strcmp(role, "member") == 0) &&
			 m->rank >= auth_role_rank(role))
		granted = builtin_role(role);
	else
		PG_RETURN_BOOL(false);
	/* a credential with scopes holds a role only with all its grants */
	PG_RETURN_BOOL(role_in_scope(c->ident, granted));
}

/*
 * SQL function: auth.has_permission(org_id uuid, permission text)
 *   returns boolean
 */
PG_FUNCTION_INFO_V1(auth_has_permission);
Datum
auth_has_permission(PG_FUNCTION_ARGS)
{
	MembershipCache *c = current_memberships();
	const Membership *m = find_membership(c, PG_GETARG_UUID_P(0));
	const char *wanted;

	if (m == NULL)
		PG_RETURN_BOOL(false);
	wanted = cached_cstring(fcinfo, PG_GETARG_TEXT_PP(1));
	/* an API key needs the scope as well as the role's grant */
	if (!auth_identity_has_scope(c->ident, wanted))
		PG_RETURN_BOOL(false);
	for (int i = 0; i < m->npermissions; i++)
		if (auth_permission_covers(m->permissions[i], wanted))
			PG_RETURN_BOOL(true);
	PG_RETURN_BOOL(false);
}

/*
 * The ids at offset id_off of n items of size size whose organization, at
 * offset org_off, is in the identity's reach, as a uuid[].
 */
static Datum
ids_in_reach(MembershipCache *c, const void *items, int n, Size size,
			 Size id_off, Size org_off)
{
	Datum	   *elems = palloc(sizeof(Datum) * Max(1, n));
	int			count = 0;

	for (int i = 0; c != NULL && i < n; i++)
	{
		const char *item = (const char *) items + i * size;

		if (find_membership(c, (const pg_uuid_t *) (item + org_off)) != NULL)
			elems[count++] =
				UUIDPGetDatum((const pg_uuid_t *) (item + id_off));
	}
	return PointerGetDatum(construct_array(elems, count, UUIDOID, UUID_LEN,
										   false, TYPALIGN_CHAR));
}

/* SQL function: auth.org_ids() returns uuid[] */
PG_FUNCTION_INFO_V1(auth_org_ids);
Datum
auth_org_ids(PG_FUNCTION_ARGS)
{
	MembershipCache *c = current_memberships();

	return ids_in_reach(c, c ? c->memberships : NULL, c ? c->nmemberships : 0,
						sizeof(Membership), offsetof(Membership, org_id),
						offsetof(Membership, org_id));
}

/* SQL function: auth.team_ids() returns uuid[] */
PG_FUNCTION_INFO_V1(auth_team_ids);
Datum
auth_team_ids(PG_FUNCTION_ARGS)
{
	MembershipCache *c = current_memberships();

	return ids_in_reach(c, c ? c->teams : NULL, c ? c->nteams : 0,
						sizeof(TeamMembership),
						offsetof(TeamMembership, team_id),
						offsetof(TeamMembership, org_id));
}

/*
 * SQL function: auth._mfa_blocks(org_id uuid) returns boolean
 * Whether the caller is a member of the organization that only a second
 * factor would let act (so a refusal can say MFA_REQUIRED).
 */
PG_FUNCTION_INFO_V1(auth_mfa_blocks);
Datum
auth_mfa_blocks(PG_FUNCTION_ARGS)
{
	MembershipCache *c = current_memberships();
	Membership *m = lookup_membership(c, PG_GETARG_UUID_P(0));

	PG_RETURN_BOOL(m != NULL && mfa_hides(c, m));
}

/* SQL function: auth.role_rank(role text) returns integer */
PG_FUNCTION_INFO_V1(auth_role_rank_sql);
Datum
auth_role_rank_sql(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT32(auth_role_rank(text_to_cstring(PG_GETARG_TEXT_PP(0))));
}
