/*
 * catalog.c: finds the extension's own relations for the C read path.
 *
 * The read path probes indexes directly, with no SPI round trip, so it
 * needs the OIDs of a few relations.  They are looked up by name once per
 * backend and forgotten on any relcache invalidation of one of them (DROP
 * EXTENSION, a REINDEX that swaps a relation, ...).  The helpers below are
 * what every C read path shares: column numbers by name, one index probe,
 * and SPI plans prepared once per backend.
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "storage/lock.h"
#include "miscadmin.h"
#include "access/relation.h"
#include "access/relscan.h"
#include "access/stratnum.h"
#include "catalog/namespace.h"
#include "catalog/pg_namespace.h"
#include "commands/extension.h"
#include "parser/parse_relation.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/syscache.h"

#include "access/tableam.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/snapmgr.h"

#include "catalog.h"
#include "token.h"

static const char *const rel_names[AUTH_REL_COUNT] = {
	[AUTH_REL_SESSIONS] = "sessions",
	[AUTH_REL_SESSIONS_TOKEN_HASH_KEY] = "sessions_token_hash_key",
	[AUTH_REL_SESSIONS_PKEY] = "sessions_pkey",
	[AUTH_REL_API_KEYS] = "api_keys",
	[AUTH_REL_API_KEYS_KEY_HASH_KEY] = "api_keys_key_hash_key",
	[AUTH_REL_API_KEYS_PREVIOUS_KEY_HASH_KEY] =
		"api_keys_previous_key_hash_key",
	[AUTH_REL_API_KEYS_PKEY] = "api_keys_pkey",
	[AUTH_REL_SESSION_EPOCH] = "session_epoch",
	[AUTH_REL_USERS] = "users",
	[AUTH_REL_USERS_PKEY] = "users_pkey",
	[AUTH_REL_MEMBERS] = "members",
	[AUTH_REL_MEMBERS_PKEY] = "members_pkey",
	[AUTH_REL_ATTEMPTS] = "attempts",
	[AUTH_REL_ATTEMPTS_SCOPE_KEY_IDX] = "attempts_scope_key_idx",
};

static Oid	rel_oids[AUTH_REL_COUNT];
static bool callback_registered = false;

/* The column maps in use, forgotten with their relation. */
#define MAX_COLUMN_MAPS 8
static AuthColumnMap *column_maps[MAX_COLUMN_MAPS];
static int	ncolumn_maps = 0;

static void
forget_rel_oids(Datum arg, Oid relid)
{
	for (int i = 0; i < ncolumn_maps; i++)
		if (relid == InvalidOid || column_maps[i]->relid == relid)
			column_maps[i]->relid = InvalidOid;
	for (int i = 0; i < AUTH_REL_COUNT; i++)
		if (relid == InvalidOid || rel_oids[i] == relid)
		{
			memset(rel_oids, 0, sizeof(rel_oids));
			return;
		}
}

static void
register_callback(void)
{
	if (!callback_registered)
	{
		CacheRegisterRelcacheCallback(forget_rel_oids, (Datum) 0);
		callback_registered = true;
	}
}

/*
 * Whether the extension is installed in this database.  Its schema is no
 * sign: DROP EXTENSION leaves it.
 */
bool
auth_extension_present(void)
{
	return OidIsValid(get_extension_oid("auth", true));
}

static Oid
auth_namespace(void)
{
	Oid			nsp = get_namespace_oid("auth", true);

	if (!OidIsValid(nsp))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg(
					 "extension \"auth\" is not installed in this database"),
				 errhint("Run CREATE EXTENSION auth CASCADE.")));
	return nsp;
}

Oid
auth_rel_oid(AuthRel rel)
{
	register_callback();
	if (!OidIsValid(rel_oids[rel]))
	{
		Oid			relid = get_relname_relid(rel_names[rel],
											  auth_namespace());

		if (!OidIsValid(relid))
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_TABLE),
					 errmsg("relation \"auth.%s\" does not exist",
							rel_names[rel]),
					 errhint("The extension's objects were altered; reinstall it.")));
		rel_oids[rel] = relid;
	}
	return rel_oids[rel];
}

/*
 * Opens one of the extension's tables with AccessShareLock, or returns NULL
 * when it was dropped while this backend waited for the lock (a DROP
 * EXTENSION committing meanwhile): then there is nothing to read, and the
 * caller answers as for a missing row rather than fail (also when the
 * extension is already gone before its table's name was looked up).
 */
Relation
auth_table_try_open(AuthRel rel)
{
	Relation	r;

	if (!OidIsValid(rel_oids[rel]) && !auth_extension_present())
		return NULL;
	r = try_relation_open(auth_rel_oid(rel), AccessShareLock);
	if (r == NULL)
		rel_oids[rel] = InvalidOid;
	return r;
}

/*
 * Takes a lock of the extension's own for the transaction; false when not
 * wait and it is held by another.
 */
bool
auth_lock_acquire(AuthLockSpace space, uint64 key, LOCKMODE mode, bool wait)
{
	LOCKTAG		tag;

	SET_LOCKTAG_ADVISORY(tag, MyDatabaseId, (uint32) (key >> 32),
						 (uint32) key, (uint16) space);
	return LockAcquire(&tag, mode, false, !wait) != LOCKACQUIRE_NOT_AVAIL;
}

/*
 * SQL function: auth._lock_keyed(key text, wait boolean) returns boolean
 * A transaction lock on a text key (a per-email request limit, an attempt
 * counter), out of reach of pg_advisory_lock: otherwise any role that can
 * compute the key could hold it and lock a user out of signing in.
 */
PG_FUNCTION_INFO_V1(auth_lock_keyed);
Datum
auth_lock_keyed(PG_FUNCTION_ARGS)
{
	text	   *key;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("a lock key is required")));
	key = PG_GETARG_TEXT_PP(0);
	PG_RETURN_BOOL(auth_lock_keyed_acquire(AUTH_LOCK_KEYED, VARDATA_ANY(key),
										   VARSIZE_ANY_EXHDR(key),
										   PG_GETARG_BOOL(1)));
}

/*
 * A transaction lock of space on len bytes of key, named by the first 64
 * bits of its SHA-256: nobody can choose a key whose lock is another's (a
 * hash that can be inverted, as PostgreSQL's own can, would let an email
 * chosen for the purpose hold a victim's lock).
 */
bool
auth_lock_keyed_acquire(AuthLockSpace space, const char *key, size_t len,
						bool wait)
{
	uint8		digest[32];
	uint64		name = 0;

	auth_sha256(key, len, digest);
	for (int i = 0; i < 8; i++)
		name = (name << 8) | digest[i];
	return auth_lock_acquire(space, name, ExclusiveLock, wait);
}

/*
 * The relation's OID, or InvalidOid when it does not exist: for relations
 * a release added, which a database not yet updated from an older release
 * lacks while the new library serves it.
 */
Oid
auth_rel_oid_if_any(AuthRel rel)
{
	register_callback();
	if (!OidIsValid(rel_oids[rel]))
		rel_oids[rel] = get_relname_relid(rel_names[rel], auth_namespace());
	return rel_oids[rel];
}

/*
 * Whether schema auth has a relation of this name: a table a later version
 * added is absent while a database still runs an earlier version's SQL
 * (the library serves both).
 */
bool
auth_rel_exists(const char *name)
{
	return OidIsValid(get_relname_relid(name, auth_namespace()));
}

/* The owner of schema auth: the superuser who installed the extension. */
Oid
auth_schema_owner(void)
{
	Oid			nsp = auth_namespace();
	HeapTuple	tup = SearchSysCache1(NAMESPACEOID, ObjectIdGetDatum(nsp));
	Oid			owner;

	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for namespace %u", nsp);
	owner = ((Form_pg_namespace) GETSTRUCT(tup))->nspowner;
	ReleaseSysCache(tup);
	return owner;
}

/* The snapshot a read inside a query uses: the query's own. */
Snapshot
auth_read_snapshot(void)
{
	return ActiveSnapshotSet() ?
		GetActiveSnapshot() : GetTransactionSnapshot();
}

/* The number of a column of one of the extension's tables, or an error. */
static AttrNumber
column_attnum(Relation rel, const char *name)
{
	/* "?name": a column a later version added; InvalidAttrNumber before */
	bool		optional = name[0] == '?';
	int			attnum = attnameAttNum(rel, name + optional, false);

	if (attnum == InvalidAttrNumber && !optional)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("column \"%s\" of \"auth.%s\" does not exist", name,
						RelationGetRelationName(rel))));
	return attnum;
}

/* Fills map with rel's column numbers unless it holds them already. */
void
auth_columns_resolve(Relation rel, AuthColumnMap *map)
{
	int			i;

	register_callback();
	if (map->relid == RelationGetRelid(rel))
		return;
	for (i = 0; i < ncolumn_maps && column_maps[i] != map; i++)
		;
	if (i == ncolumn_maps)
	{
		if (ncolumn_maps == MAX_COLUMN_MAPS)
			elog(ERROR, "too many column maps");
		column_maps[ncolumn_maps++] = map;
	}
	for (i = 0; i < map->ncolumns; i++)
		map->attnums[i] = map->names[i][0] == '?' ?
			attnameAttNum(rel, map->names[i] + 1, false) :
			column_attnum(rel, map->names[i]);
	map->relid = RelationGetRelid(rel);
}

/*
 * Fetches the first tuple of rel visible to the query's snapshot whose
 * index (first key column) equals key into slot, with every column
 * deformed; false when there is none.
 */
bool
auth_probe_index(Relation rel, Oid indexoid, RegProcedure eqproc, Datum key,
				 TupleTableSlot *slot)
{
	return auth_probe_index_keys(rel, indexoid, eqproc, 1, &key, slot);
}

/*
 * The same with the first nkeys key columns of the index, all of one type
 * compared with eqproc (auth.members' primary key: org_id, user_id).
 */
bool
auth_probe_index_keys(Relation rel, Oid indexoid, RegProcedure eqproc,
					  int nkeys, const Datum *keys, TupleTableSlot *slot)
{
	Relation	index = index_open(indexoid, AccessShareLock);
	IndexScanDesc scan;
	ScanKeyData skey[INDEX_MAX_KEYS];
	bool		found;

	Assert(nkeys >= 1 && nkeys <= INDEX_MAX_KEYS);
	for (int i = 0; i < nkeys; i++)
		ScanKeyInit(&skey[i], i + 1, BTEqualStrategyNumber, eqproc, keys[i]);
	scan = auth_index_beginscan(rel, index, auth_read_snapshot(), nkeys);
	index_rescan(scan, skey, nkeys, NULL, 0);
	found = index_getnext_slot(scan, ForwardScanDirection, slot);
	if (found)
		slot_getallattrs(slot);
	index_endscan(scan);
	index_close(index, NoLock);
	return found;
}

/* Copies a uuid column into out; false when it is null. */
bool
auth_slot_uuid(TupleTableSlot *slot, const AuthColumnMap *map, int i,
			   pg_uuid_t *out)
{
	if (auth_slot_isnull(slot, map, i))
		return false;
	memcpy(out, DatumGetUUIDP(auth_slot_datum(slot, map, i)), UUID_LEN);
	return true;
}

TimestampTz
auth_slot_timestamp(TupleTableSlot *slot, const AuthColumnMap *map, int i,
					bool *isnull)
{
	*isnull = auth_slot_isnull(slot, map, i);
	return *isnull ? 0 : DatumGetTimestampTz(auth_slot_datum(slot, map, i));
}

/*
 * Runs q with values as its arguments: connects to SPI, prepares and keeps
 * the plan on first use, executes (at most limit rows, 0 for all), hands
 * the rows to read, if any, and finishes.  Returns the rows processed.
 */
uint64
auth_query_run(AuthQuery *q, Datum *values, long limit, AuthRowsReader read,
			   void *arg)
{
	uint64		processed;
	int			rc;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (q->plan == NULL)
	{
		SPIPlanPtr	p = SPI_prepare(q->sql, q->nargs, q->argtypes);

		if (p == NULL || SPI_keepplan(p) != 0)
			elog(ERROR, "could not prepare a query of the auth extension: %s",
				 SPI_result_code_string(SPI_result));
		q->plan = p;
	}
	if (q->latest_snapshot)
		rc = SPI_execute_snapshot(q->plan, values, NULL, GetLatestSnapshot(),
								  InvalidSnapshot, q->read_only, true, limit);
	else
		rc = SPI_execute_plan(q->plan, values, NULL, q->read_only, limit);
	if (rc < 0)
		elog(ERROR, "a query of the auth extension failed: %s",
			 SPI_result_code_string(rc));
	processed = SPI_processed;
	if (read != NULL)
		read(SPI_tuptable, processed, arg);
	SPI_finish();
	return processed;
}

/*
 * auth_query_run as the extension's owner, for C functions that are not
 * SECURITY DEFINER (they run on the hot path, where a definer's settings
 * push and pop would cost every call) but read or call what only the
 * owner may.
 */
uint64
auth_query_run_as_owner(AuthQuery *q, Datum *values, long limit,
						AuthRowsReader read, void *arg)
{
	Oid			save_userid;
	int			save_sec;
	volatile uint64 processed = 0;

	GetUserIdAndSecContext(&save_userid, &save_sec);
	SetUserIdAndSecContext(auth_schema_owner(),
						   save_sec | SECURITY_LOCAL_USERID_CHANGE);
	PG_TRY();
	{
		processed = auth_query_run(q, values, limit, read, arg);
	}
	PG_FINALLY();
	{
		SetUserIdAndSecContext(save_userid, save_sec);
	}
	PG_END_TRY();
	return processed;
}

/*
 * The row type a function returns, blessed and kept in fn_extra, so a
 * function called per row looks it up once.
 */
TupleDesc
auth_result_tupdesc(FunctionCallInfo fcinfo)
{
	TupleDesc	tupdesc = (TupleDesc) fcinfo->flinfo->fn_extra;

	if (tupdesc == NULL)
	{
		MemoryContext old = MemoryContextSwitchTo(fcinfo->flinfo->fn_mcxt);

		if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
			elog(ERROR, "return type must be a row type");
		tupdesc = BlessTupleDesc(CreateTupleDescCopy(tupdesc));
		MemoryContextSwitchTo(old);
		fcinfo->flinfo->fn_extra = tupdesc;
	}
	return tupdesc;
}

/* A palloc'd copy of a uuid, as a Datum. */
Datum
auth_uuid_datum(const pg_uuid_t *u)
{
	pg_uuid_t  *copy = palloc(sizeof(pg_uuid_t));

	*copy = *u;
	return UUIDPGetDatum(copy);
}
