/*
 * apikey_usage.c: counting a use of an API key against its limits.
 *
 * A key without limits causes no write in the caller's transaction: its
 * last_used_at is touched at most once per auth.api_key_touch_interval by
 * a worker (autonomous.c), so the caller holds no lock on the row that
 * revoking or disabling the key must write.  `remaining` is a durable
 * quota: one UPDATE ... WHERE remaining > 0 RETURNING, exact under
 * concurrency, committed with the caller (and given back by its rollback);
 * it holds the key's row until the caller ends, so a revocation of a key
 * with a quota waits for the transactions using it (README "API keys").
 * The rate-limit window is counted in shared memory when auth is preloaded
 * (apikey_window.c), and otherwise by the
 * same exact row update as the quota, which serializes one key's requests
 * (auth.check() says so).  A key with limits is refused on a hot standby,
 * where it could not be counted.
 */
#include "postgres.h"

#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/builtins.h"

#include "apikey.h"
#include "autonomous.h"
#include "catalog.h"
#include "clock.h"

/*
 * Touches last_used_at when it is older than auth.api_key_touch_interval:
 * the only write a key without limits ever causes, handed to a worker and
 * not waited for (see refresh_if_due in session.c).  Not on a standby; in
 * a read-only transaction too, as the worker writes it in its own.
 */
static void
touch_if_due(const KeyRow *row)
{
	TimestampTz now = auth_now();

	if (row->last_used_at >
		now - (TimestampTz) auth_api_key_touch_interval * USECS_PER_SEC ||
		RecoveryInProgress())
		return;
	(void) auth_async_write(AUTH_ASYNC_TOUCH_API_KEY, &row->key_id, now, 0,
							now,
							now - (TimestampTz) auth_api_key_touch_interval *
							USECS_PER_SEC);
}

/* What auth._api_key_consume answered. */
typedef struct ConsumeResult
{
	KeyCode		code;
	bool		has_remaining;
	int32		remaining;
	bool		has_retry;
	Interval	retry_after;
} ConsumeResult;

static void
read_consume_result(SPITupleTable *rows, uint64 nrows, void *arg)
{
	ConsumeResult *r = arg;
	HeapTuple	tup;
	bool		isnull;
	Datum		d;

	if (nrows != 1)
		elog(ERROR, "could not count a use of the API key");
	tup = rows->vals[0];
	d = SPI_getbinval(tup, rows->tupdesc, 1, &isnull);
	r->code = KEY_VALID;
	if (!isnull)
	{
		char	   *code = TextDatumGetCString(d);

		r->code = KEY_INVALID;
		for (int i = 1; i < KEY_NUM_CODES; i++)
			if (strcmp(code, auth_key_code_names[i]) == 0)
				r->code = (KeyCode) i;
	}
	d = SPI_getbinval(tup, rows->tupdesc, 2, &isnull);
	r->has_remaining = !isnull;
	if (!isnull)
		r->remaining = DatumGetInt32(d);
	d = SPI_getbinval(tup, rows->tupdesc, 3, &isnull);
	r->has_retry = !isnull;
	if (!isnull)
		r->retry_after = *DatumGetIntervalP(d);
}

/*
 * Counts a use in the row (auth._api_key_consume): the quota, and the
 * rate-limit window too when count_window.  Sets v's code, the remaining
 * quota and, when rate limited, the time to wait.
 */
static void
consume_in_row(KeyVerdict *v, bool count_window)
{
	static AuthQuery consume = {
		.sql = "SELECT c.code, c.remaining, c.retry_after"
		" FROM auth._api_key_consume($1, $2, $3) c",
		.nargs = 3,
		.argtypes = {UUIDOID, TIMESTAMPTZOID, BOOLOID},
	};
	Datum		values[3];
	ConsumeResult r;

	if (XactReadOnly)
		ereport(ERROR,
				(errcode(ERRCODE_READ_ONLY_SQL_TRANSACTION),
				 errmsg("an API key with usage limits cannot be verified in a read-only transaction"),
				 errhint("Verify keys with a rate limit or a remaining quota in a read-write transaction on the primary.")));
	values[0] = UUIDPGetDatum(&v->row.key_id);
	values[1] = TimestampTzGetDatum(auth_wall_clock());
	values[2] = BoolGetDatum(count_window);
	memset(&r, 0, sizeof(r));
	(void) auth_query_run_as_owner(&consume, values, 1, read_consume_result,
								   &r);
	v->code = r.code;
	v->has_remaining = r.has_remaining;
	v->remaining = r.remaining;
	v->has_retry = r.has_retry;
	v->retry_after = r.retry_after;
}

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
void
auth_api_key_count_use(KeyVerdict *v)
{
	KeyRow	   *row = &v->row;
	volatile bool memory = auth_api_key_windows_in_memory();
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

		switch (auth_api_key_window_take(&row->key_id, row->rate_limit_max,
										 row->rate_limit_window_us,
										 auth_wall_clock(),
										 row->has_row_window ?
										 row->row_count : 0,
										 row->has_row_window ?
										 row->row_window_start +
										 row->rate_limit_window_us : 0,
										 &end, &retry_us))
		{
			case WINDOW_OK:
				counted = true;
				window_end = end;
				break;
			case WINDOW_LIMITED:
				v->code = KEY_RATE_LIMITED;
				v->has_remaining = row->has_remaining;
				v->remaining = row->remaining;
				v->has_retry = true;
				usecs_to_interval(retry_us, &v->retry_after);
				return;
			case WINDOW_FULL:
				/*
				 * no slot: this use is counted in the row, exactly, and waits
				 */
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
			consume_in_row(v, row->has_rate_limit && !memory);
		}
		PG_CATCH();
		{
			if (counted)
				auth_api_key_window_refund(&row->key_id, window_end);
			PG_RE_THROW();
		}
		PG_END_TRY();
		if (v->code != KEY_VALID && counted)
			auth_api_key_window_refund(&row->key_id, window_end);
	}
	else
		touch_if_due(row);
}
