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
#include "access/relscan.h"
#include "access/stratnum.h"
#include "catalog/namespace.h"
#include "catalog/pg_namespace.h"
#include "parser/parse_relation.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/syscache.h"

#include "auth.h"

static const char *const rel_names[AUTH_REL_COUNT] = {
	[AUTH_REL_SESSIONS] = "sessions",
	[AUTH_REL_SESSIONS_TOKEN_HASH_KEY] = "sessions_token_hash_key",
	[AUTH_REL_SESSIONS_PKEY] = "sessions_pkey",
	[AUTH_REL_API_KEYS] = "api_keys",
	[AUTH_REL_API_KEYS_KEY_HASH_KEY] = "api_keys_key_hash_key",
	[AUTH_REL_API_KEYS_PREVIOUS_KEY_HASH_KEY] = "api_keys_previous_key_hash_key",
	[AUTH_REL_API_KEYS_PKEY] = "api_keys_pkey",
};

static Oid	rel_oids[AUTH_REL_COUNT];
static bool callback_registered = false;

/* The relid tags of the column-number caches (auth_columns_stale). */
#define MAX_COLUMN_CACHES 4
static Oid *column_caches[MAX_COLUMN_CACHES];
static int	ncolumn_caches = 0;

static void
forget_rel_oids(Datum arg, Oid relid)
{
	for (int i = 0; i < ncolumn_caches; i++)
		if (relid == InvalidOid || *column_caches[i] == relid)
			*column_caches[i] = InvalidOid;
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

static Oid
auth_namespace(void)
{
	Oid			nsp = get_namespace_oid("auth", true);

	if (!OidIsValid(nsp))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("extension \"auth\" is not installed in this database"),
				 errhint("Run CREATE EXTENSION auth CASCADE.")));
	return nsp;
}

Oid
auth_rel_oid(AuthRel rel)
{
	register_callback();
	if (!OidIsValid(rel_oids[rel]))
	{
		Oid			relid = get_relname_relid(rel_names[rel], auth_namespace());

		if (!OidIsValid(relid))
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_TABLE),
					 errmsg("relation \"auth.%s\" does not exist", rel_names[rel]),
					 errhint("The extension's objects were altered; reinstall it.")));
		rel_oids[rel] = relid;
	}
	return rel_oids[rel];
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

/*
 * Whether a cache of rel's column numbers, tagged with the relid in *tag,
 * must be filled (again); the caller fills it and sets *tag to rel's OID.
 * Any relcache invalidation of the relation clears the tag.
 */
bool
auth_columns_stale(Relation rel, Oid *tag)
{
	int			i;

	register_callback();
	for (i = 0; i < ncolumn_caches && column_caches[i] != tag; i++)
		;
	if (i == ncolumn_caches)
	{
		if (ncolumn_caches == MAX_COLUMN_CACHES)
			elog(ERROR, "too many column caches");
		column_caches[ncolumn_caches++] = tag;
	}
	return *tag != RelationGetRelid(rel);
}

/* The number of a column of one of the extension's tables, or an error. */
AttrNumber
auth_attnum(Relation rel, const char *name)
{
	int			attnum = attnameAttNum(rel, name, false);

	if (attnum == InvalidAttrNumber)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("column \"%s\" of \"auth.%s\" does not exist", name,
						RelationGetRelationName(rel))));
	return attnum;
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
	Relation	index = index_open(indexoid, AccessShareLock);
	IndexScanDesc scan;
	ScanKeyData skey;
	bool		found;

	ScanKeyInit(&skey, 1, BTEqualStrategyNumber, eqproc, key);
	scan = index_beginscan(rel, index, auth_read_snapshot(), 1, 0);
	index_rescan(scan, &skey, 1, NULL, 0);
	found = index_getnext_slot(scan, ForwardScanDirection, slot);
	if (found)
		slot_getallattrs(slot);
	index_endscan(scan);
	index_close(index, NoLock);
	return found;
}

TimestampTz
auth_slot_timestamp(TupleTableSlot *slot, AttrNumber attnum, bool *isnull)
{
	Datum		d = slot->tts_values[attnum - 1];

	*isnull = slot->tts_isnull[attnum - 1];
	return *isnull ? 0 : DatumGetTimestampTz(d);
}

/* *plan, prepared and kept for the backend's life on first use. */
SPIPlanPtr
auth_kept_plan(SPIPlanPtr *plan, const char *sql, int nargs, Oid *argtypes)
{
	if (*plan == NULL)
	{
		SPIPlanPtr	p = SPI_prepare(sql, nargs, argtypes);

		if (p == NULL || SPI_keepplan(p) != 0)
			elog(ERROR, "could not prepare a query of the auth extension: %s",
				 SPI_result_code_string(SPI_result));
		*plan = p;
	}
	return *plan;
}
