/*
 * apikey_window.c: the rate-limit windows of API keys in shared memory.
 *
 * A window must not hold a row lock until the caller commits, or every
 * request with the key would queue behind the slowest transaction.  With
 * auth in shared_preload_libraries, windows live in a fixed table of slots
 * guarded by partitioned LWLocks held for a few instructions, reset on
 * restart like an in-memory rate limiter.  Without it there is no table,
 * and apikey_usage.c counts the window in the key's row instead.
 */
#include "postgres.h"

#include "common/hashfn.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "utils/builtins.h"
#include "utils/guc.h"

#include "apikey.h"
#include "clock.h"

#define RATE_PARTITIONS 64

typedef struct RateSlot
{
	pg_uuid_t	key_id;
	bool		used;			/* never reset: it keeps probe chains whole */
	int32		count;
	int64		window_us;		/* a changed window length starts a new
								 * window */
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

static int	rate_limit_slots = 16384;

static int
slots_per_partition(void)
{
	return (rate_limit_slots + RATE_PARTITIONS - 1) / RATE_PARTITIONS;
}

static Size
rate_table_size(void)
{
	return add_size(offsetof(RateTable, slots),
					mul_size(sizeof(RateSlot),
							 mul_size(RATE_PARTITIONS,
									  slots_per_partition())));
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
	rate_table = ShmemInitStruct("auth_api_key_rate_limit",
								 rate_table_size(), &found);
	if (!found)
	{
		memset(rate_table, 0, rate_table_size());
		rate_table->slots_per_partition = slots_per_partition();
	}
	rate_locks = GetNamedLWLockTranche("auth_api_key_rate_limit");
	LWLockRelease(AddinShmemInitLock);
}

/*
 * Called from _PG_init: defines the table's size and takes shared memory,
 * only when preloaded (a server-start setting can be defined only then).
 */
void
auth_api_key_window_init(void)
{
	if (!process_shared_preload_libraries_in_progress)
		return;
	DefineCustomIntVariable("auth.api_key_rate_limit_slots",
							"API keys whose rate-limit windows can be open "
							"at once in shared memory.",
							"Used when auth is in shared_preload_libraries; "
							"about 40 bytes each.",
							&rate_limit_slots, rate_limit_slots,
							64, 16 * 1024 * 1024, PGC_POSTMASTER, 0,
							NULL, NULL, NULL);
#if PG_VERSION_NUM >= 150000
	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = rate_shmem_request;
#else
	rate_shmem_request();
#endif
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = rate_shmem_startup;
}

/* Whether this backend counts rate-limit windows in shared memory. */
bool
auth_api_key_windows_in_memory(void)
{
	return rate_table != NULL;
}

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
	return &rate_locks[hash_bytes(key_id->data, UUID_LEN) %
					   RATE_PARTITIONS].lock;
}

/*
 * Counts one request in the key's window of window_us microseconds (a
 * window the row counted, seed_count uses until seed_end, carries over):
 * WINDOW_OK (*window_end tells which window), WINDOW_LIMITED with the time
 * left in *retry_us, or WINDOW_FULL when no slot is left for the key.
 */
WindowResult
auth_api_key_window_take(const pg_uuid_t *key_id, int32 max, int64 window_us,
						 TimestampTz now, int32 seed_count,
						 TimestampTz seed_end, TimestampTz *window_end,
						 int64 *retry_us)
{
	LWLock	   *lock = rate_lock(key_id);
	RateSlot   *s;
	WindowResult result;

	LWLockAcquire(lock, LW_EXCLUSIVE);
	s = rate_slot(key_id, now, true);
	if (s == NULL)
		result = WINDOW_FULL;
	else
	{
		/*
		 * A slot just claimed (window_end 0) for a key whose window was
		 * counted in its row while no slot was free: go on with that
		 * window, so the switch never gives the key a second allowance.
		 */
		if (s->window_end == 0 && seed_end > now)
		{
			s->count = seed_count;
			s->window_us = window_us;
			s->window_end = seed_end;
		}
		else if (s->window_end <= now || s->window_us != window_us)
		{
			s->count = 0;
			s->window_us = window_us;
			s->window_end = now + window_us;
		}
		if (s->count >= max)
		{
			*retry_us = s->window_end - now;
			result = WINDOW_LIMITED;
		}
		else
		{
			s->count++;
			*window_end = s->window_end;
			result = WINDOW_OK;
		}
	}
	LWLockRelease(lock);
	return result;
}

/*
 * Gives back a request counted by auth_api_key_window_take that was refused
 * afterwards.
 */
void
auth_api_key_window_refund(const pg_uuid_t *key_id, TimestampTz window_end)
{
	LWLock	   *lock = rate_lock(key_id);
	RateSlot   *s;

	LWLockAcquire(lock, LW_EXCLUSIVE);
	s = rate_slot(key_id, 0, false);
	if (s != NULL && s->window_end == window_end && s->count > 0)
		s->count--;
	LWLockRelease(lock);
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
	if (auth_api_key_windows_in_memory() &&
		!PG_ARGISNULL(0) && !PG_ARGISNULL(1))
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
			values[1] = TimestampTzGetDatum(
				s->window_end - auth_interval_usecs(PG_GETARG_INTERVAL_P(1)));
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
	PG_RETURN_TEXT_P(cstring_to_text(auth_api_key_windows_in_memory() ?
									 "memory" : "table"));
}
