/*
 * catalog.h: the extension's own relations and the machinery every C read
 * path shares (layer 2): relation and index lookups, column maps, one index
 * probe, the read snapshot, kept SPI plans, and result rows.
 */
#ifndef AUTH_CATALOG_H
#define AUTH_CATALOG_H

#include "postgres.h"

#include "storage/lockdefs.h"

#include "executor/spi.h"
#include "executor/tuptable.h"
#include "fmgr.h"
#include "utils/relcache.h"
#include "utils/snapshot.h"
#include "utils/timestamp.h"
#include "utils/uuid.h"

typedef enum AuthRel
{
	AUTH_REL_SESSIONS = 0,
	AUTH_REL_SESSIONS_TOKEN_HASH_KEY,
	AUTH_REL_SESSIONS_PKEY,
	AUTH_REL_API_KEYS,
	AUTH_REL_API_KEYS_KEY_HASH_KEY,
	AUTH_REL_API_KEYS_PREVIOUS_KEY_HASH_KEY,
	AUTH_REL_API_KEYS_PKEY,
	AUTH_REL_SESSION_EPOCH,
	AUTH_REL_USERS,
	AUTH_REL_USERS_PKEY,
	AUTH_REL_MEMBERS,
	AUTH_REL_MEMBERS_PKEY,
	AUTH_REL_ATTEMPTS,
	AUTH_REL_ATTEMPTS_SCOPE_KEY_IDX,
	AUTH_REL_COUNT
} AuthRel;

extern Oid	auth_rel_oid(AuthRel rel);
extern Oid	auth_rel_oid_if_any(AuthRel rel);
extern Relation auth_table_try_open(AuthRel rel);

/*
 * Locks of the extension's own: advisory-class lock tags whose fourth field
 * no SQL function uses (pg_advisory_lock takes 1 or 2), so no role can take
 * or hold one of them with SQL.
 */
typedef enum AuthLockSpace
{
	AUTH_LOCK_USER_CREDENTIALS = 0x4155,	/* lifecycle.c */
	AUTH_LOCK_KEYED = 0x4156,	/* auth._lock_keyed: per-email requests */
	AUTH_LOCK_ALL_CREDENTIALS = 0x4157, /* lifecycle.c: bulk creations */
	AUTH_LOCK_ATTEMPT = 0x4158, /* attempts.c: counts, in the worker only */
} AuthLockSpace;

extern bool auth_lock_acquire(AuthLockSpace space, uint64 key,
							  LOCKMODE mode, bool wait);
extern bool auth_lock_keyed_acquire(AuthLockSpace space, const char *key,
									size_t len, bool wait);
extern bool auth_extension_present(void);
extern bool auth_rel_exists(const char *name);
extern Oid	auth_schema_owner(void);
extern Snapshot auth_read_snapshot(void);

/*
 * What identifies the snapshot a per-statement cache was loaded with.  From
 * PG14 on the count of completed transactions tells whether anything
 * committed in between; before that, the snapshot itself (a new copy per
 * statement) and its in-progress list stand in for it.
 */
typedef struct AuthSnapshotKey
{
	TransactionId xmin;
	TransactionId xmax;
	CommandId	curcid;
#if PG_VERSION_NUM >= 140000
	uint64		completions;
#else
	Snapshot	snapshot;
	uint32		xcnt;
#endif
} AuthSnapshotKey;

static inline void
auth_snapshot_key(Snapshot snap, AuthSnapshotKey *key)
{
	key->xmin = snap->xmin;
	key->xmax = snap->xmax;
	key->curcid = snap->curcid;
#if PG_VERSION_NUM >= 140000
	key->completions = snap->snapXactCompletionCount;
#else
	key->snapshot = snap;
	key->xcnt = snap->xcnt;
#endif
}

/* Whether a cache loaded with key sees what snap sees. */
static inline bool
auth_snapshot_key_matches(Snapshot snap, const AuthSnapshotKey *key)
{
	return snap->xmin == key->xmin && snap->xmax == key->xmax &&
		snap->curcid == key->curcid &&
#if PG_VERSION_NUM >= 140000
		snap->snapXactCompletionCount == key->completions;
#else
		snap == key->snapshot && snap->xcnt == key->xcnt;
#endif
}

/*
 * The column numbers of one table, by name: looked up on first use and
 * again after any relcache invalidation of the table.  A name starting with
 * "?" is a column a later version added: where the table lacks it (the
 * SQL of an older version still installed), it reads as NULL.
 */
typedef struct AuthColumnMap
{
	Oid			relid;			/* InvalidOid until resolved */
	int			ncolumns;
	const char *const *names;
	AttrNumber *attnums;
} AuthColumnMap;

#define AUTH_COLUMN_MAP(names, attnums) \
	{InvalidOid, lengthof(names), (names), (attnums)}

/* An index scan without ordering keys (PG 18 added an instrument argument). */
#if PG_VERSION_NUM >= 180000
#define auth_index_beginscan(rel, index, snapshot, nkeys) \
	index_beginscan((rel), (index), (snapshot), NULL, (nkeys), 0)
#else
#define auth_index_beginscan(rel, index, snapshot, nkeys) \
	index_beginscan((rel), (index), (snapshot), (nkeys), 0)
#endif

extern void auth_columns_resolve(Relation rel, AuthColumnMap *map);
extern bool auth_probe_index(Relation rel, Oid indexoid, RegProcedure eqproc,
							 Datum key, TupleTableSlot *slot);
extern bool auth_probe_index_keys(Relation rel, Oid indexoid,
								  RegProcedure eqproc, int nkeys,
								  const Datum *keys, TupleTableSlot *slot);

/* Whether the table has column i of map ("?name": maybe not). */
static inline bool
auth_has_column(const AuthColumnMap *map, int i)
{
	return map->attnums[i] != InvalidAttrNumber;
}

/* Column i of map in a slot filled by auth_probe_index. */
static inline bool
auth_slot_isnull(TupleTableSlot *slot, const AuthColumnMap *map, int i)
{
	return map->attnums[i] == InvalidAttrNumber ||
		slot->tts_isnull[map->attnums[i] - 1];
}

static inline Datum
auth_slot_datum(TupleTableSlot *slot, const AuthColumnMap *map, int i)
{
	return slot->tts_values[map->attnums[i] - 1];
}

extern bool auth_slot_uuid(TupleTableSlot *slot, const AuthColumnMap *map,
						   int i, pg_uuid_t *out);
extern TimestampTz auth_slot_timestamp(TupleTableSlot *slot,
									   const AuthColumnMap *map, int i,
									   bool *isnull);

/*
 * A query of the extension's, prepared on first use and kept for the
 * backend's life.  latest_snapshot: run with the latest snapshot rather
 * than the statement's, to see what committed since (in any isolation).
 */
#define AUTH_QUERY_MAX_ARGS 5

typedef struct AuthQuery
{
	const char *sql;
	int			nargs;
	Oid			argtypes[AUTH_QUERY_MAX_ARGS];
	bool		read_only;
	bool		latest_snapshot;
	SPIPlanPtr	plan;
} AuthQuery;

/* Reads the rows of a query before SPI lets them go. */
typedef void (*AuthRowsReader) (SPITupleTable *rows, uint64 nrows,
								void *arg);

extern uint64 auth_query_run(AuthQuery *q, Datum *values, long limit,
							 AuthRowsReader read, void *arg);
extern uint64 auth_query_run_as_owner(AuthQuery *q, Datum *values,
									  long limit, AuthRowsReader read,
									  void *arg);

/* Result rows and values of SQL functions. */
extern TupleDesc auth_result_tupdesc(FunctionCallInfo fcinfo);
extern Datum auth_uuid_datum(const pg_uuid_t *u);

#endif							/* AUTH_CATALOG_H */
