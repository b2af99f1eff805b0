/*
 * catalog.c: finds the extension's own relations for the C read path.
 *
 * The read path probes indexes directly, with no SPI round trip, so it
 * needs the OIDs of a few relations.  They are looked up by name once per
 * backend and forgotten on any relcache invalidation of one of them (DROP
 * EXTENSION, a REINDEX that swaps a relation, ...).
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/namespace.h"
#include "catalog/pg_namespace.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"

#include "auth.h"

static const char *const rel_names[AUTH_REL_COUNT] = {
	[AUTH_REL_SESSIONS] = "sessions",
	[AUTH_REL_SESSIONS_TOKEN_HASH_KEY] = "sessions_token_hash_key",
	[AUTH_REL_SESSIONS_PKEY] = "sessions_pkey",
};

static Oid	rel_oids[AUTH_REL_COUNT];
static bool callback_registered = false;

static void
forget_rel_oids(Datum arg, Oid relid)
{
	for (int i = 0; i < AUTH_REL_COUNT; i++)
		if (relid == InvalidOid || rel_oids[i] == relid)
		{
			memset(rel_oids, 0, sizeof(rel_oids));
			return;
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
	if (!callback_registered)
	{
		CacheRegisterRelcacheCallback(forget_rel_oids, (Datum) 0);
		callback_registered = true;
	}
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
