/*
 * apikey.c: verifying API keys on the hot path, and their usage limits.
 *
 * A key "<prefix>_<48 base64url characters>" is checked by its shape, hashed,
 * and looked up with one probe of the unique index on
 * auth.api_keys(key_hash), straight from C like a session token (a miss
 * tries the hash a rotation keeps for its grace period).  The row carries
 * its owner's ban, so a key without limits costs one probe and no write:
 * last_used_at is touched at most once per auth.api_key_touch_interval.
 *
 * Limits.  `remaining` is a durable quota: one UPDATE ... WHERE remaining > 0
 * RETURNING, exact under concurrency, committed with the caller.  The
 * rate-limit window must not hold a row lock until the caller commits, or
 * every request with the key would queue behind the slowest transaction:
 * with auth in shared_preload_libraries it lives in shared memory, a fixed
 * table of slots guarded by partitioned LWLocks held for a few
 * instructions (reset on restart, like an in-memory rate limiter);
 * without, it is the same exact row update as the quota, which serializes
 * one key's requests, and auth.check() says so.  A key with limits is
 * refused on a hot standby, where it could not be counted.
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/rel.h"

#include "auth.h"

/* ---------------------------------------------------------------------
 * The rate-limit windows in shared memory
 * --------------------------------------------------------------------- */

#define RATE_PARTITIONS 64

typedef struct RateSlot
{
	pg_uuid_t	key_id;
	bool		used;			/* never reset: it keeps probe chains whole */
	int32		count;
	int64		window_us;		/* a changed window length starts a new window */
	TimestampTz window_end;
} RateSlot;

typedef struct RateTable
{
	int			slots_per_partition;
	RateSlot	slots[FLEXIBLE_ARRAY_MEMBER];
} RateTable;

static RateTable *rate_table = NULL;	/* NULL: not preloaded */
static LWLockPadded *rate_locks = NULL;

#if PG_VERSION_NUM >= 150000
static shmem_request_hook_type prev_shmem_request_hook = NULL;
#endif
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

static int
slots_per_partition(void)
{
	return (auth_api_key_rate_limit_slots + RATE_PARTITIONS - 1) / RATE_PARTITIONS;
}

static Size
rate_table_size(void)
{
	return add_size(offsetof(RateTable, slots),
					mul_size(sizeof(RateSlot),
							 mul_size(RATE_PARTITIONS, slots_per_partition())));
}

static void
rate_shmem_request(void)
{
#if PG_VERSION_NUM >= 150000
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
#endif
	RequestAddinShmemSpace(rate_table_size());
	RequestNamedLWLockTranche("auth_api_key_rate_limit", RATE_PARTITIONS);
}

static void
rate_shmem_startup(void)
{
	bool		found;

	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();
	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	rate_table = ShmemInitStruct("auth_api_key_rate_limit", rate_table_size(), &found);
	if (!found)
	{
		memset(rate_table, 0, rate_table_size());
		rate_table->slots_per_partition = slots_per_partition();
	}
	rate_locks = GetNamedLWLockTranche("auth_api_key_rate_limit");
	LWLockRelease(AddinShmemInitLock);
}

/* Called from _PG_init: takes shared memory only when preloaded. */
void
auth_api_key_shmem_init(void)
{
	if (!process_shared_preload_libraries_in_progress)
		return;
#if PG_VERSION_NUM >= 150000
	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = rate_shmem_request;
#else
	rate_shmem_request();
#endif
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = rate_shmem_startup;
}

typedef enum RateResult
{
	RATE_OK,
	RATE_LIMITED,
	RATE_FULL
} RateResult;

/*
 * Finds the key's slot in its partition, or claims a free or expired one
 * for it; NULL when the partition has neither.  The caller holds the
 * partition's lock.  A whole chain is scanned before a slot is claimed, so
 * a key never gets two slots.
 */
static RateSlot *
rate_slot(const pg_uuid_t *key_id, TimestampTz now, bool claim)
{
	uint32		h = hash_bytes(key_id->data, UUID_LEN);
	int			per = rate_table->slots_per_partition;
	RateSlot   *part = &rate_table->slots[(h % RATE_PARTITIONS) * per];
	int			start = (h / RATE_PARTITIONS) % per;
	RateSlot   *reusable = NULL;

	for (int i = 0; i < per; i++)
	{
		RateSlot   *s = &part[(start + i) % per];

		if (!s->used)
		{
			if (reusable == NULL)
				reusable = s;
			break;
		}
		if (memcmp(&s->key_id, key_id, UUID_LEN) == 0)
			return s;
		if (reusable == NULL && s->window_end <= now)
			reusable = s;
	}
	if (!claim || reusable == NULL)
		return NULL;
	reusable->used = true;
	reusable->key_id = *key_id;
	reusable->count = 0;
	reusable->window_end = 0;
	return reusable;
}

static LWLock *
rate_lock(const pg_uuid_t *key_id)
{
	return &rate_locks[hash_bytes(key_id->data, UUID_LEN) % RATE_PARTITIONS].lock;
}

/*
 * Counts one request in the key's window of window_us microseconds:
 * RATE_OK (*window_end tells which window), RATE_LIMITED with the time
 * left in *retry_us, or RATE_FULL when no slot is left for the key.
 */
static RateResult
rate_take(const pg_uuid_t *key_id, int32 max, int64 window_us, TimestampTz now,
		  TimestampTz *window_end, int64 *retry_us)
{
	LWLock	   *lock = rate_lock(key_id);
	RateSlot   *s;
	RateResult	result;

	LWLockAcquire(lock, LW_EXCLUSIVE);
	s = rate_slot(key_id, now, true);
	if (s == NULL)
		result = RATE_FULL;
	else
	{
		if (s->window_end <= now || s->window_us != window_us)
		{
			s->count = 0;
			s->window_us = window_us;
			s->window_end = now + window_us;
		}
		if (s->count >= max)
		{
			*retry_us = s->window_end - now;
			result = RATE_LIMITED;
		}
		else
		{
			s->count++;
			*window_end = s->window_end;
			result = RATE_OK;
		}
	}
	LWLockRelease(lock);
	return result;
}

/* Gives back a request counted by rate_take that was refused afterwards. */
static void
rate_refund(const pg_uuid_t *key_id, TimestampTz window_end)
{
	LWLock	   *lock = rate_lock(key_id);
	RateSlot   *s;

	LWLockAcquire(lock, LW_EXCLUSIVE);
	s = rate_slot(key_id, 0, false);
	if (s != NULL && s->window_end == window_end && s->count > 0)
		s->count--;
	LWLockRelease(lock);
}

/* ---------------------------------------------------------------------
 * Reading a key
 * --------------------------------------------------------------------- */

typedef enum KeyCode
{
	KEY_VALID = 0,
	KEY_INVALID,
	KEY_EXPIRED,
	KEY_DISABLED,
	KEY_REVOKED,
	KEY_RATE_LIMITED,
	KEY_USAGE_EXCEEDED,
	KEY_INSUFFICIENT_SCOPE
} KeyCode;

static const char *const key_code_names[] = {
	[KEY_VALID] = NULL,
	[KEY_INVALID] = "INVALID",
	[KEY_EXPIRED] = "EXPIRED",
	[KEY_DISABLED] = "DISABLED",
	[KEY_REVOKED] = "REVOKED",
	[KEY_RATE_LIMITED] = "RATE_LIMITED",
	[KEY_USAGE_EXCEEDED] = "USAGE_EXCEEDED",
	[KEY_INSUFFICIENT_SCOPE] = "INSUFFICIENT_SCOPE",
};

/* A row of auth.api_keys, as far as verification reads it. */
typedef struct KeyRow
{
	AuthApiKeyInfo info;		/* id, owner, organization, scopes, tag */
	uint8		current_tag[AUTH_KEY_TAG_LEN];	/* of key_hash */
	bool		previous_live;	/* previous_key_hash within its grace */
	uint8		previous_tag[AUTH_KEY_TAG_LEN];
	bool		enabled;
	bool		revoked;
	bool		banned;
	bool		expired;
	bool		has_rate_limit;
	int32		rate_limit_max;
	int64		rate_limit_window_us;
	bool		has_remaining;
	int32		remaining;		/* as the query's snapshot sees it */
	TimestampTz last_used_at;	/* 0 when never */
} KeyRow;

typedef struct KeyAttnums
{
	Oid			relid;
	AttrNumber	id,
				user_id,
				org_id,
				scopes,
				enabled,
				expires_at,
				revoked_at,
				user_banned_until,
				rate_limit_max,
				rate_limit_window,
				remaining,
				last_used_at,
				key_hash,
				previous_key_hash,
				previous_key_expires_at;
} KeyAttnums;

static KeyAttnums attnums;

/* Column numbers are looked up again after any change to the table. */
static void
resolve_attnums(Relation keys)
{
	if (!auth_columns_stale(keys, &attnums.relid))
		return;
	attnums.id = auth_attnum(keys, "id");
	attnums.user_id = auth_attnum(keys, "user_id");
	attnums.org_id = auth_attnum(keys, "org_id");
	attnums.scopes = auth_attnum(keys, "scopes");
	attnums.enabled = auth_attnum(keys, "enabled");
	attnums.expires_at = auth_attnum(keys, "expires_at");
	attnums.revoked_at = auth_attnum(keys, "revoked_at");
	attnums.user_banned_until = auth_attnum(keys, "user_banned_until");
	attnums.rate_limit_max = auth_attnum(keys, "rate_limit_max");
	attnums.rate_limit_window = auth_attnum(keys, "rate_limit_window");
	attnums.remaining = auth_attnum(keys, "remaining");
	attnums.last_used_at = auth_attnum(keys, "last_used_at");
	attnums.key_hash = auth_attnum(keys, "key_hash");
	attnums.previous_key_hash = auth_attnum(keys, "previous_key_hash");
	attnums.previous_key_expires_at = auth_attnum(keys, "previous_key_expires_at");
	attnums.relid = RelationGetRelid(keys);
}

/* An interval as microseconds, a month counting 30 days. */
static int64
interval_usecs(const Interval *iv)
{
	return iv->time + (int64) iv->day * USECS_PER_DAY +
		(int64) iv->month * DAYS_PER_MONTH * USECS_PER_DAY;
}

/* Copies a text[] of scopes into a space-separated list. */
static void
scopes_from_array(ArrayType *arr, char *out, Size outlen)
{
	Datum	   *elems;
	bool	   *nulls;
	int			n;
	Size		used = 0;

	deconstruct_array(arr, TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, &n);
	out[0] = '\0';
	for (int i = 0; i < n; i++)
	{
		text	   *t;
		Size		len;

		if (nulls[i])
			continue;
		t = DatumGetTextPP(elems[i]);
		len = VARSIZE_ANY_EXHDR(t);
		/* auth._check_scopes keeps every stored list well within outlen */
		if (used + len + 2 > outlen)
			elog(ERROR, "the scopes of an API key do not fit its identity");
		if (used > 0)
			out[used++] = ' ';
		memcpy(out + used, VARDATA_ANY(t), len);
		used += len;
		out[used] = '\0';
	}
}

/*
 * Looks a key up by one of the unique indexes and fills row; false when
 * there is no such row.  via_previous: the index is the one on the hash a
 * rotation kept, which counts only until its grace period ends.
 */
static bool
fetch_key(AuthRel index, RegProcedure eqproc, Datum key, bool via_previous,
		  KeyRow *row)
{
	Relation	keys = table_open(auth_rel_oid(AUTH_REL_API_KEYS), AccessShareLock);
	TupleTableSlot *slot = table_slot_create(keys, NULL);
	TimestampTz now = auth_now();
	bool		found;

	resolve_attnums(keys);
	found = auth_probe_index(keys, auth_rel_oid(index), eqproc, key, slot);
	if (found)
	{
		Datum	   *v = slot->tts_values;
		bool	   *n = slot->tts_isnull;
		bool		isnull;
		TimestampTz t;

		memset(row, 0, sizeof(*row));
		memcpy(row->current_tag, VARDATA_ANY(DatumGetByteaPP(v[attnums.key_hash - 1])),
			   AUTH_KEY_TAG_LEN);
		t = auth_slot_timestamp(slot, attnums.previous_key_expires_at, &isnull);
		row->previous_live = !isnull && t > now && !n[attnums.previous_key_hash - 1];
		if (row->previous_live)
			memcpy(row->previous_tag,
				   VARDATA_ANY(DatumGetByteaPP(v[attnums.previous_key_hash - 1])),
				   AUTH_KEY_TAG_LEN);
		memcpy(&row->info.key_id, DatumGetUUIDP(v[attnums.id - 1]), UUID_LEN);
		memcpy(&row->info.user_id, DatumGetUUIDP(v[attnums.user_id - 1]), UUID_LEN);
		row->info.has_org = !n[attnums.org_id - 1];
		if (row->info.has_org)
			memcpy(&row->info.org_id, DatumGetUUIDP(v[attnums.org_id - 1]), UUID_LEN);
		scopes_from_array(DatumGetArrayTypeP(v[attnums.scopes - 1]),
						  row->info.scopes, sizeof(row->info.scopes));
		row->enabled = DatumGetBool(v[attnums.enabled - 1]);
		t = auth_slot_timestamp(slot, attnums.expires_at, &isnull);
		row->expired = !isnull && t <= now;
		(void) auth_slot_timestamp(slot, attnums.revoked_at, &isnull);
		row->revoked = !isnull;
		t = auth_slot_timestamp(slot, attnums.user_banned_until, &isnull);
		row->banned = !isnull && t > now;
		row->has_rate_limit = !n[attnums.rate_limit_max - 1] && !n[attnums.rate_limit_window - 1];
		if (row->has_rate_limit)
		{
			row->rate_limit_max = DatumGetInt32(v[attnums.rate_limit_max - 1]);
			row->rate_limit_window_us =
				interval_usecs(DatumGetIntervalP(v[attnums.rate_limit_window - 1]));
		}
		row->has_remaining = !n[attnums.remaining - 1];
		if (row->has_remaining)
			row->remaining = DatumGetInt32(v[attnums.remaining - 1]);
		row->last_used_at = auth_slot_timestamp(slot, attnums.last_used_at, &isnull);
		/* a rotated-out secret counts only within its grace period */
		found = !via_previous || row->previous_live;
	}
	ExecDropSingleTupleTableSlot(slot);
	table_close(keys, NoLock);
	return found;
}

/* What a key is before any limit is applied: valid or why not. */
static KeyCode
static_code(const KeyRow *row)
{
	if (row->banned)
		return KEY_INVALID;
	if (row->revoked)
		return KEY_REVOKED;
	if (!row->enabled)
		return KEY_DISABLED;
	if (row->expired)
		return KEY_EXPIRED;
	return KEY_VALID;
}

/*
 * Whether the key exists, belongs to user_id, is live, and still accepts
 * the secret whose hash begins with tag (a rotation ends the secrets it
 * replaced, at once or after their grace); fills info.
 */
bool
auth_api_key_is_live(const pg_uuid_t *key_id, const pg_uuid_t *user_id,
					 const uint8 *tag, AuthApiKeyInfo *info)
{
	KeyRow		row;

	if (!fetch_key(AUTH_REL_API_KEYS_PKEY, F_UUID_EQ, UUIDPGetDatum(key_id),
				   false, &row) ||
		memcmp(&row.info.user_id, user_id, UUID_LEN) != 0 ||
		static_code(&row) != KEY_VALID ||
		!(memcmp(row.current_tag, tag, AUTH_KEY_TAG_LEN) == 0 ||
		  (row.previous_live && memcmp(row.previous_tag, tag, AUTH_KEY_TAG_LEN) == 0)))
		return false;
	*info = row.info;
	memcpy(info->tag, tag, AUTH_KEY_TAG_LEN);
	return true;
}

/*
 * Finds the row of a key presented by a client.  A key whose prefix is not
 * an API-key prefix (1 to 16 lowercase letters or digits, none of the
 * extension's own token kinds) or whose body is not 48 base64url characters
 * reads no table.
 */
static bool
prefix_is_api_key_prefix(const char *prefix)
{
	static const char *const reserved[] = {"ses", "mlk", "evt", "ect", "pwr", "inv"};

	if (!auth_token_prefix_is_valid(prefix))
		return false;
	for (int i = 0; i < (int) lengthof(reserved); i++)
		if (strcmp(prefix, reserved[i]) == 0)
			return false;
	return true;
}

static bool
find_presented_key(const char *key, Size len, KeyRow *row)
{
	union
	{
		int32		align;		/* a varlena header must be aligned */
		uint8		bytes[VARHDRSZ + AUTH_HASH_LEN];
	}			hash;
	bytea	   *digest = (bytea *) hash.bytes;
	const char *sep = memchr(key, '_', Min(len, 17));
	char		prefix[17];

	if (sep == NULL || sep == key)
		return false;
	memcpy(prefix, key, sep - key);
	prefix[sep - key] = '\0';
	if (!prefix_is_api_key_prefix(prefix))
		return false;
	if (!auth_token_hash_if_shaped_bytes(prefix, AUTH_API_KEY_BYTES, key, len,
										 (uint8 *) VARDATA(digest)))
		return false;
	SET_VARSIZE(digest, VARHDRSZ + AUTH_HASH_LEN);
	if (!fetch_key(AUTH_REL_API_KEYS_KEY_HASH_KEY, F_BYTEAEQ,
				   PointerGetDatum(digest), false, row) &&
		!fetch_key(AUTH_REL_API_KEYS_PREVIOUS_KEY_HASH_KEY, F_BYTEAEQ,
				   PointerGetDatum(digest), true, row))
		return false;
	memcpy(row->info.tag, VARDATA(digest), AUTH_KEY_TAG_LEN);
	return true;
}

/* ---------------------------------------------------------------------
 * Counting a use
 * --------------------------------------------------------------------- */

/* Whether this backend counts rate-limit windows in shared memory. */
static bool
windows_in_memory(void)
{
	return rate_table != NULL;
}

/*
 * Touches last_used_at when it is older than auth.api_key_touch_interval:
 * the only write a key without limits ever causes.  Skipped where a write
 * is impossible or could make the verification fail (standby, read-only,
 * REPEATABLE READ), and for a row another transaction holds.
 */
static void
touch_if_due(const KeyRow *row)
{
	static SPIPlanPtr plan = NULL;
	Oid			argtypes[2] = {UUIDOID, TIMESTAMPTZOID};
	Datum		values[2];
	TimestampTz now = auth_now();

	if (row->last_used_at > now - (TimestampTz) auth_api_key_touch_interval * USECS_PER_SEC ||
		RecoveryInProgress() || XactReadOnly || IsolationUsesXactSnapshot())
		return;
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	auth_kept_plan(&plan,
				   "UPDATE auth.api_keys SET last_used_at = $2"
				   " WHERE id OPERATOR(pg_catalog.=) ("
				   "  SELECT k.id FROM auth.api_keys k"
				   "  WHERE k.id OPERATOR(pg_catalog.=) $1 FOR UPDATE SKIP LOCKED)",
				   2, argtypes);
	values[0] = UUIDPGetDatum(&row->info.key_id);
	values[1] = TimestampTzGetDatum(now);
	if (SPI_execute_plan(plan, values, NULL, false, 0) != SPI_OK_UPDATE)
		elog(ERROR, "could not touch the API key");
	SPI_finish();
}

/*
 * Counts a use in the row (auth._api_key_consume): the quota, and the
 * rate-limit window too when count_window.  Returns the code; fills the
 * remaining quota and, when rate limited, the time to wait.
 */
static KeyCode
consume_in_row(const KeyRow *row, bool count_window, bool *has_remaining,
			   int32 *remaining, bool *has_retry, Interval *retry_after)
{
	static SPIPlanPtr plan = NULL;
	Oid			argtypes[3] = {UUIDOID, TIMESTAMPTZOID, BOOLOID};
	Datum		values[3];
	bool		isnull;
	char	   *code;
	KeyCode		result = KEY_VALID;
	HeapTuple	tup;
	TupleDesc	desc;
	Datum		d;

	if (XactReadOnly)
		ereport(ERROR,
				(errcode(ERRCODE_READ_ONLY_SQL_TRANSACTION),
				 errmsg("an API key with usage limits cannot be verified in a read-only transaction"),
				 errhint("Verify keys with a rate limit or a remaining quota in a read-write transaction on the primary.")));
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	auth_kept_plan(&plan,
				   "SELECT c.code, c.remaining, c.retry_after"
				   " FROM auth._api_key_consume($1, $2, $3) c",
				   3, argtypes);
	values[0] = UUIDPGetDatum(&row->info.key_id);
	values[1] = TimestampTzGetDatum(auth_wall_clock());
	values[2] = BoolGetDatum(count_window);
	if (SPI_execute_plan(plan, values, NULL, false, 1) != SPI_OK_SELECT ||
		SPI_processed != 1)
		elog(ERROR, "could not count a use of the API key");
	tup = SPI_tuptable->vals[0];
	desc = SPI_tuptable->tupdesc;
	d = SPI_getbinval(tup, desc, 1, &isnull);
	code = isnull ? NULL : TextDatumGetCString(d);
	if (code != NULL)
	{
		result = KEY_INVALID;
		for (int i = 1; i < (int) lengthof(key_code_names); i++)
			if (strcmp(code, key_code_names[i]) == 0)
				result = (KeyCode) i;
	}
	d = SPI_getbinval(tup, desc, 2, &isnull);
	*has_remaining = !isnull;
	if (!isnull)
		*remaining = DatumGetInt32(d);
	d = SPI_getbinval(tup, desc, 3, &isnull);
	*has_retry = !isnull;
	if (!isnull)
		*retry_after = *DatumGetIntervalP(d);
	SPI_finish();
	return result;
}

/* The outcome of a verification. */
typedef struct KeyVerdict
{
	KeyCode		code;
	bool		found;			/* a row was found (key_id is set) */
	KeyRow		row;
	bool		has_remaining;
	int32		remaining;
	bool		has_retry;
	Interval	retry_after;
} KeyVerdict;

static void
usecs_to_interval(int64 us, Interval *out)
{
	memset(out, 0, sizeof(*out));
	out->time = Max(us, 0);
}

/*
 * Applies the key's limits, counting this use when they allow it.  On a
 * hot standby a key with limits is refused: a replica's count would be its
 * own and wrong.
 */
static void
apply_limits(KeyVerdict *v)
{
	KeyRow	   *row = &v->row;
	volatile bool memory = windows_in_memory();
	volatile bool counted = false;
	volatile TimestampTz window_end = 0;

	if (!row->has_rate_limit && !row->has_remaining)
	{
		touch_if_due(row);
		return;
	}
	if (RecoveryInProgress())
		ereport(ERROR,
				(errcode(ERRCODE_READ_ONLY_SQL_TRANSACTION),
				 errmsg("an API key with usage limits cannot be verified on a hot standby"),
				 errhint("Verify keys with a rate limit or a remaining quota on the primary.")));
	if (row->has_rate_limit && memory)
	{
		int64		retry_us = 0;
		TimestampTz end = 0;

		switch (rate_take(&row->info.key_id, row->rate_limit_max,
						  row->rate_limit_window_us, auth_wall_clock(),
						  &end, &retry_us))
		{
			case RATE_OK:
				counted = true;
				window_end = end;
				break;
			case RATE_LIMITED:
				v->code = KEY_RATE_LIMITED;
				v->has_remaining = row->has_remaining;
				v->remaining = row->remaining;
				v->has_retry = true;
				usecs_to_interval(retry_us, &v->retry_after);
				return;
			case RATE_FULL:
				/* no slot: this use is counted in the row, exactly, and waits */
				memory = false;
				ereport(DEBUG1,
						(errmsg("no rate-limit slot is free; counting the API key's use in its row"),
						 errhint("Raise auth.api_key_rate_limit_slots (needs a restart).")));
				break;
		}
	}
	if (row->has_remaining || (row->has_rate_limit && !memory))
	{
		PG_TRY();
		{
			v->code = consume_in_row(row, row->has_rate_limit && !memory,
									 &v->has_remaining, &v->remaining,
									 &v->has_retry, &v->retry_after);
		}
		PG_CATCH();
		{
			if (counted)
				rate_refund(&row->info.key_id, window_end);
			PG_RE_THROW();
		}
		PG_END_TRY();
		if (v->code != KEY_VALID && counted)
			rate_refund(&row->info.key_id, window_end);
	}
	else
		touch_if_due(row);
}

/*
 * Verifies a presented key: its row, its state, the scopes asked for
 * (required, nrequired C strings), then its limits.  Never raises for a
 * bad key.
 */
static void
verify_key(const char *key, Size len, char **required, int nrequired,
		   KeyVerdict *v)
{
	memset(v, 0, sizeof(*v));
	v->code = KEY_INVALID;
	if (!find_presented_key(key, len, &v->row))
		return;
	v->code = static_code(&v->row);
	v->found = v->code != KEY_INVALID;
	if (v->code != KEY_VALID)
		return;
	for (int i = 0; i < nrequired; i++)
		if (!auth_scopes_cover(v->row.info.scopes, required[i]))
		{
			v->code = KEY_INSUFFICIENT_SCOPE;
			return;
		}
	apply_limits(v);
}

/* The C strings of a text[] argument; 22023 for a NULL element. */
static char **
required_scopes(ArrayType *arr, int *n)
{
	Datum	   *elems;
	bool	   *nulls;
	char	  **out;

	deconstruct_array(arr, TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, n);
	out = palloc(sizeof(char *) * Max(1, *n));
	for (int i = 0; i < *n; i++)
	{
		if (nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("required scopes must not contain null")));
		out[i] = TextDatumGetCString(elems[i]);
	}
	return out;
}

static Datum
uuid_copy_datum(const pg_uuid_t *u)
{
	pg_uuid_t  *copy = palloc(sizeof(pg_uuid_t));

	*copy = *u;
	return UUIDPGetDatum(copy);
}

/*
 * SQL function: auth.verify_api_key(key text, required_scopes text[])
 *   returns (valid, code, key_id, user_id, org_id, scopes, remaining, retry_after)
 * Owner, organization and scopes only when valid; key_id for any key that
 * exists and is not INVALID.
 */
PG_FUNCTION_INFO_V1(auth_verify_api_key);
Datum
auth_verify_api_key(PG_FUNCTION_ARGS)
{
	TupleDesc	tupdesc = (TupleDesc) fcinfo->flinfo->fn_extra;
	KeyVerdict	v;
	Datum		values[8];
	bool		nulls[8] = {false, false, true, true, true, true, true, true};
	char	  **required = NULL;
	int			nrequired = 0;

	if (tupdesc == NULL)
	{
		MemoryContext old = MemoryContextSwitchTo(fcinfo->flinfo->fn_mcxt);

		if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
			elog(ERROR, "return type must be a row type");
		tupdesc = BlessTupleDesc(CreateTupleDescCopy(tupdesc));
		MemoryContextSwitchTo(old);
		fcinfo->flinfo->fn_extra = tupdesc;
	}
	if (!PG_ARGISNULL(1))
		required = required_scopes(PG_GETARG_ARRAYTYPE_P(1), &nrequired);
	if (PG_ARGISNULL(0))
	{
		memset(&v, 0, sizeof(v));
		v.code = KEY_INVALID;
	}
	else
	{
		text	   *key = PG_GETARG_TEXT_PP(0);

		verify_key(VARDATA_ANY(key), VARSIZE_ANY_EXHDR(key), required, nrequired, &v);
	}

	values[0] = BoolGetDatum(v.code == KEY_VALID);
	if (v.code == KEY_VALID)
		nulls[1] = true;
	else
		values[1] = CStringGetTextDatum(key_code_names[v.code]);
	if (v.found)
	{
		values[2] = uuid_copy_datum(&v.row.info.key_id);
		nulls[2] = false;
	}
	if (v.code == KEY_VALID)
	{
		values[3] = uuid_copy_datum(&v.row.info.user_id);
		nulls[3] = false;
		if (v.row.info.has_org)
		{
			values[4] = uuid_copy_datum(&v.row.info.org_id);
			nulls[4] = false;
		}
		values[5] = auth_scopes_array(v.row.info.scopes);
		nulls[5] = false;
	}
	if (v.has_remaining)
	{
		values[6] = Int32GetDatum(v.remaining);
		nulls[6] = false;
	}
	if (v.has_retry)
	{
		Interval   *iv = palloc(sizeof(Interval));

		*iv = v.retry_after;
		values[7] = IntervalPGetDatum(iv);
		nulls[7] = false;
	}
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}

/*
 * SQL function: auth.authenticate_api_key(key text, is_local boolean) returns uuid
 * Sets the identity (kind api_key) for the transaction or the connection and
 * returns the owner's id; 28000 for a key that is not valid, PT429 when a
 * limit refuses it.
 */
PG_FUNCTION_INFO_V1(auth_authenticate_api_key);
Datum
auth_authenticate_api_key(PG_FUNCTION_ARGS)
{
	KeyVerdict	v;
	AuthIdentity ident;

	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("is_local must not be null")));
	memset(&v, 0, sizeof(v));
	v.code = KEY_INVALID;
	if (!PG_ARGISNULL(0))
	{
		text	   *key = PG_GETARG_TEXT_PP(0);

		verify_key(VARDATA_ANY(key), VARSIZE_ANY_EXHDR(key), NULL, 0, &v);
	}
	if (v.code == KEY_RATE_LIMITED || v.code == KEY_USAGE_EXCEEDED)
		ereport(ERROR,
				(errcode(MAKE_SQLSTATE('P', 'T', '4', '2', '9')),
				 errmsg("API key usage limit reached"),
				 errdetail("Reason: %s.", key_code_names[v.code]),
				 v.has_retry ?
				 errhint("Retry in %s.",
						 DatumGetCString(DirectFunctionCall1(interval_out,
															 IntervalPGetDatum(&v.retry_after)))) : 0));
	if (v.code != KEY_VALID)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
				 errmsg("invalid API key"),
				 errdetail("Reason: %s.", key_code_names[v.code]),
				 errhint("INVALID means malformed, unknown, or its owner is suspended.")));

	memset(&ident, 0, sizeof(ident));
	ident.kind = AUTH_IDENTITY_API_KEY;
	ident.user_id = v.row.info.user_id;
	ident.key_id = v.row.info.key_id;
	ident.has_org = v.row.info.has_org;
	ident.org_id = v.row.info.org_id;
	memcpy(ident.scopes, v.row.info.scopes, sizeof(ident.scopes));
	memcpy(ident.key_tag, v.row.info.tag, AUTH_KEY_TAG_LEN);
	auth_identity_set(&ident, PG_GETARG_BOOL(1));
	PG_RETURN_DATUM(uuid_copy_datum(&v.row.info.user_id));
}

/*
 * SQL function: auth._api_key_window(key_id uuid, window interval,
 *   OUT request_count integer, OUT window_start timestamptz)
 * The key's open window in shared memory; NULLs when there is none (or
 * windows are counted in the row).
 */
PG_FUNCTION_INFO_V1(auth_api_key_window);
Datum
auth_api_key_window(PG_FUNCTION_ARGS)
{
	TupleDesc	tupdesc;
	Datum		values[2];
	bool		nulls[2] = {true, true};

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	if (windows_in_memory() && !PG_ARGISNULL(0) && !PG_ARGISNULL(1))
	{
		pg_uuid_t  *key_id = PG_GETARG_UUID_P(0);
		TimestampTz now = auth_wall_clock();
		LWLock	   *lock = rate_lock(key_id);
		RateSlot   *s;

		LWLockAcquire(lock, LW_SHARED);
		s = rate_slot(key_id, now, false);
		if (s != NULL && s->window_end > now)
		{
			values[0] = Int32GetDatum(s->count);
			values[1] = TimestampTzGetDatum(s->window_end -
											interval_usecs(PG_GETARG_INTERVAL_P(1)));
			nulls[0] = nulls[1] = false;
		}
		LWLockRelease(lock);
	}
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(tupdesc),
													  values, nulls)));
}

/* SQL function: auth._api_key_rate_limit_store() returns text */
PG_FUNCTION_INFO_V1(auth_api_key_rate_limit_store);
Datum
auth_api_key_rate_limit_store(PG_FUNCTION_ARGS)
{
	PG_RETURN_TEXT_P(cstring_to_text(windows_in_memory() ? "memory" : "table"));
}

/* SQL function: auth._scopes_cover(held text[], scope text) returns boolean */
PG_FUNCTION_INFO_V1(auth_scopes_cover_sql);
Datum
auth_scopes_cover_sql(PG_FUNCTION_ARGS)
{
	char		held[AUTH_SCOPES_BUFLEN];

	scopes_from_array(PG_GETARG_ARRAYTYPE_P(0), held, sizeof(held));
	PG_RETURN_BOOL(auth_scopes_cover(held, text_to_cstring(PG_GETARG_TEXT_PP(1))));
}

/*
 * SQL function: auth._generate_api_key(prefix text, OUT key text, OUT key_hash bytea)
 * A fresh key of 288 random bits and its SHA-256.
 */
PG_FUNCTION_INFO_V1(auth_generate_api_key);
Datum
auth_generate_api_key(PG_FUNCTION_ARGS)
{
	char	   *prefix = text_to_cstring(PG_GETARG_TEXT_PP(0));
	char	   *key = auth_token_generate_bytes(prefix, AUTH_API_KEY_BYTES);
	bytea	   *hash = palloc(VARHDRSZ + AUTH_HASH_LEN);
	TupleDesc	tupdesc;
	Datum		values[2];
	bool		nulls[2] = {false, false};

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	SET_VARSIZE(hash, VARHDRSZ + AUTH_HASH_LEN);
	auth_sha256(key, strlen(key), (uint8 *) VARDATA(hash));
	values[0] = CStringGetTextDatum(key);
	values[1] = PointerGetDatum(hash);
	explicit_bzero(key, strlen(key));
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(tupdesc),
													  values, nulls)));
}

/* SQL function: auth._api_key_prefix_is_valid(prefix text) returns boolean */
PG_FUNCTION_INFO_V1(auth_api_key_prefix_is_valid);
Datum
auth_api_key_prefix_is_valid(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(prefix_is_api_key_prefix(text_to_cstring(PG_GETARG_TEXT_PP(0))));
}
