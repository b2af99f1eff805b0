/*
 * attempts.c: counting attempts against a limit (failed sign-ins, second-
 * factor codes), exactly under concurrency (layer 5, beside autonomous.c).
 *
 * It runs in the background worker's own transaction (autonomous.c), on
 * the caller's behalf and before the caller checks what it was given, so a
 * refusal, a rollback or a cancelled statement cannot undo a count.  In C,
 * called by the worker directly: every sign-in and every second factor
 * waits for it, and as PL/pgSQL it was most of the worker's time.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "lib/stringinfo.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/timestamp.h"

#include "attempts.h"
#include "autonomous_pool.h"
#include "autonomous_work.h"
#include "catalog.h"

#define MAX_KEY_BYTES		256

/* A field of a JSON object as text (a string, number or boolean), or NULL. */
static char *
field_text(JsonbContainer *object, const char *name)
{
	JsonbValue	v;

	if (!getKeyJsonValueFromContainer(object, name, strlen(name), &v))
		return NULL;
	switch (v.type)
	{
		case jbvString:
			return pnstrdup(v.val.string.val, v.val.string.len);
		case jbvNumeric:
			return DatumGetCString(DirectFunctionCall1(numeric_out,
													   NumericGetDatum(v.val.numeric)));
		case jbvBool:
			return pstrdup(v.val.boolean ? "true" : "false");
		default:
			return NULL;
	}
}

static char *
required_text(JsonbContainer *object, const char *name)
{
	char	   *s = field_text(object, name);

	if (s == NULL)
		elog(ERROR, "an attempt to count needs \"%s\"", name);
	return s;
}

/* One key of the request, its hex key validated and written lower-case. */
static void
read_key(JsonbContainer *item, AttemptKey *out)
{
	char	   *hex = required_text(item, "key");
	size_t		len = strlen(hex);
	StringInfoData lock;

	if (len % 2 != 0 || len / 2 > MAX_KEY_BYTES)
		elog(ERROR, "an attempt key must be hex of at most %d bytes",
			 MAX_KEY_BYTES);
	out->scope = required_text(item, "scope");
	out->key = (bytea *) palloc(VARHDRSZ + len / 2);
	/* an error for anything but hex digits */
	SET_VARSIZE(out->key, VARHDRSZ + hex_decode(hex, len, VARDATA(out->key)));
	initStringInfo(&lock);
	appendStringInfo(&lock, "%s:", out->scope);
	for (size_t i = 0; i < len; i++)
		appendStringInfoChar(&lock, pg_ascii_tolower((unsigned char) hex[i]));
	out->lock = lock.data;
	out->window = DatumGetIntervalP(DirectFunctionCall3(interval_in,
														CStringGetDatum(required_text(item, "window")),
														ObjectIdGetDatum(InvalidOid),
														Int32GetDatum(-1)));
	out->max = pg_strtoint32(required_text(item, "max"));
}

static int
compare_locks(const void *a, const void *b)
{
	return strcmp((*(const AttemptKey *const *) a)->lock,
				  (*(const AttemptKey *const *) b)->lock);
}

static void
read_int(SPITupleTable *rows, uint64 nrows, void *arg)
{
	bool		isnull;
	Datum		d;

	*(int32 *) arg = 0;
	if (nrows == 0)
		return;
	d = SPI_getbinval(rows->vals[0], rows->tupdesc, 1, &isnull);
	if (!isnull)
		*(int32 *) arg = DatumGetInt32(d);
}

static void
read_timestamp(SPITupleTable *rows, uint64 nrows, void *arg)
{
	bool		isnull = true;
	Datum		d = (Datum) 0;

	if (nrows > 0)
		d = SPI_getbinval(rows->vals[0], rows->tupdesc, 1, &isnull);
	*(TimestampTz *) arg = isnull ? DT_NOBEGIN : DatumGetTimestampTz(d);
}

/*
 * Counts an attempt of key at `at` unless `max` attempts fall within the
 * window before it; appends the answer {"allowed", "count"[, "retry_at"]}
 * and says whether it was allowed.  The caller holds the key's lock.
 */
static bool
take_attempt(const AttemptKey *k, TimestampTz at, StringInfo answer)
{
	/* counted, and inserted unless the limit is reached, in one statement */
	static AuthQuery take_query = {
		"WITH c AS (SELECT pg_catalog.count(*)::pg_catalog.int4 AS n"
		"  FROM auth.attempts a"
		"  WHERE a.scope OPERATOR(pg_catalog.=) $1"
		"   AND a.key OPERATOR(pg_catalog.=) $2"
		"   AND a.attempted_at OPERATOR(pg_catalog.>) $3),"
		" i AS (INSERT INTO auth.attempts (scope, key, attempted_at)"
		"  SELECT $1, $2, $4 FROM c WHERE c.n OPERATOR(pg_catalog.<) $5)"
		" SELECT c.n FROM c",
		5, {TEXTOID, BYTEAOID, TIMESTAMPTZOID, TIMESTAMPTZOID, INT4OID},
		false, false, NULL
	};

	/*
	 * the limit frees up when the max-th newest attempt leaves the window;
	 * not read-only, so with a snapshot taken now, after the key's lock was
	 * granted (the transaction's first one may predate the attempts that
	 * others committed while this one waited for it)
	 */
	static AuthQuery retry_query = {
		"SELECT a.attempted_at FROM auth.attempts a"
		" WHERE a.scope OPERATOR(pg_catalog.=) $1"
		"   AND a.key OPERATOR(pg_catalog.=) $2"
		"   AND a.attempted_at OPERATOR(pg_catalog.>) $3"
		" ORDER BY a.attempted_at DESC OFFSET $4 LIMIT 1",
		4, {TEXTOID, BYTEAOID, TIMESTAMPTZOID, INT8OID}, false, false, NULL
	};
	TimestampTz since = DatumGetTimestampTz(DirectFunctionCall2(timestamptz_mi_interval,
																TimestampTzGetDatum(at),
																IntervalPGetDatum(k->window)));
	Datum		values[5];
	int32		count;

	values[0] = CStringGetTextDatum(k->scope);
	values[1] = PointerGetDatum(k->key);
	values[2] = TimestampTzGetDatum(since);
	values[3] = TimestampTzGetDatum(at);
	values[4] = Int32GetDatum(k->max);
	auth_query_run(&take_query, values, 0, read_int, &count);
	if (count >= k->max)
	{
		TimestampTz oldest;

		values[3] = Int64GetDatum((int64) Max(k->max, 1) - 1);
		auth_query_run(&retry_query, values, 1, read_timestamp, &oldest);
		auth_attempts_answer(answer, false, count,
							 TIMESTAMP_NOT_FINITE(oldest) ? DT_NOBEGIN :
							 DatumGetTimestampTz(DirectFunctionCall2(timestamptz_pl_interval,
																	 TimestampTzGetDatum(oldest),
																	 IntervalPGetDatum(k->window))));
		return false;
	}
	auth_attempts_answer(answer, true, count + 1, DT_NOBEGIN);
	return true;
}

/*
 * One key's answer: {"allowed", "count"}, and "retry_at" (null when
 * unknown) when refused.
 */
void
auth_attempts_answer(StringInfo answer, bool allowed, int count,
					 TimestampTz retry_at)
{
	char		buf[MAXDATELEN + 1];

	appendStringInfo(answer, "{\"allowed\": %s, \"count\": %d",
					 allowed ? "true" : "false", count);
	if (!allowed && !TIMESTAMP_NOT_FINITE(retry_at))
		appendStringInfo(answer, ", \"retry_at\": \"%s\"",
						 JsonEncodeDateTime(buf, TimestampTzGetDatum(retry_at),
											TIMESTAMPTZOID, NULL));
	else if (!allowed)
		appendStringInfoString(answer, ", \"retry_at\": null");
	appendStringInfoChar(answer, '}');
}

/*
 * The keys of request and its time; false when it is not an attempts
 * request.  request: {"op": "attempt", "scope", "key" (hex), "window",
 * "max", "at"} or {"op": "attempts", "at", "attempts": [{"scope", "key",
 * "window", "max"}, ...]}.
 */
bool
auth_attempts_parse(Jsonb *request, AttemptKey *keys, int *nkeys,
					TimestampTz *at, bool *single)
{
	JsonbContainer *root = &request->root;
	char	   *op;

	*nkeys = 0;
	if (!JsonContainerIsObject(root))
		return false;
	op = field_text(root, "op");
	if (op == NULL ||
		(strcmp(op, "attempt") != 0 && strcmp(op, "attempts") != 0))
		return false;
	*single = strcmp(op, "attempt") == 0;
	*at = DatumGetTimestampTz(DirectFunctionCall3(timestamptz_in,
												  CStringGetDatum(required_text(root, "at")),
												  ObjectIdGetDatum(InvalidOid),
												  Int32GetDatum(-1)));
	if (*single)
		read_key(root, &keys[(*nkeys)++]);
	else
	{
		JsonbValue	list;

		if (!getKeyJsonValueFromContainer(root, "attempts", strlen("attempts"),
										  &list) ||
			list.type != jbvBinary || !JsonContainerIsArray(list.val.binary.data))
			elog(ERROR, "autonomous attempts need an array");
		if (JsonContainerSize(list.val.binary.data) > MAX_ATTEMPT_KEYS)
			elog(ERROR, "at most %d attempts are counted at once",
				 MAX_ATTEMPT_KEYS);
		for (uint32 i = 0; i < JsonContainerSize(list.val.binary.data); i++)
		{
			JsonbValue *item = getIthJsonbValueFromContainer(list.val.binary.data, i);

			if (item == NULL || item->type != jbvBinary ||
				!JsonContainerIsObject(item->val.binary.data))
				elog(ERROR, "an attempt to count must be an object");
			read_key(item->val.binary.data, &keys[(*nkeys)++]);
		}
	}
	return true;
}

/*
 * Counts the attempts of request (auth_attempts_parse), in the worker's
 * transaction; the answer as JSON text.  Every key is locked first, in one
 * order (two requests never deadlock), then counted in the order given;
 * the first refused one ends the count.  Answers the one count, or
 * {"attempts": [answer, ...]}; {"busy": true}, counting nothing, when not
 * wait and a key is locked (a pooled worker must not wait for another
 * request's lock); NULL when request is not an attempt to count.
 */
char *
auth_attempts_take(Jsonb *request, bool wait)
{
	TimestampTz at;
	AttemptKey	keys[MAX_ATTEMPT_KEYS];
	AttemptKey *order[MAX_ATTEMPT_KEYS];
	int			nkeys;
	bool		single;
	StringInfoData answer;

	if (!auth_attempts_parse(request, keys, &nkeys, &at, &single))
		return NULL;

	/*
	 * Locks of the extension's own that only this code takes, in the
	 * worker's short transaction: no role can hold one with SQL, nor with a
	 * lock of its choosing that the extension takes in its own transaction
	 * (a per-email request limit)
	 */
	for (int i = 0; i < nkeys; i++)
		order[i] = &keys[i];
	qsort(order, nkeys, sizeof(AttemptKey *), compare_locks);
	for (int i = 0; i < nkeys; i++)
		if (!auth_lock_keyed_acquire(AUTH_LOCK_ATTEMPT, order[i]->lock,
									 strlen(order[i]->lock), wait))
			return pstrdup(BUSY_RESPONSE);

	initStringInfo(&answer);
	if (single)
		(void) take_attempt(&keys[0], at, &answer);
	else
	{
		appendStringInfoString(&answer, "{\"attempts\": [");
		for (int i = 0; i < nkeys; i++)
		{
			if (i > 0)
				appendStringInfoString(&answer, ", ");
			if (!take_attempt(&keys[i], at, &answer))
				break;
		}
		appendStringInfoString(&answer, "]}");
	}
	return answer.data;
}
