/*
 * attempt_ledger.c: second-factor tries counted in shared memory, so that
 * a right code costs no round trip to a worker (layer 5, beside
 * attempts.c; needs auth preloaded, else the worker counts every try).
 *
 * A try is taken before the code is checked: it goes into the caller's
 * call slot, where every later try of the same key sees it, and is
 * allowed while the key's rows in auth.attempts, the failures not yet
 * written and the other tries in progress stay under the limit (exactly,
 * as the worker's count under a lock was).  It ends "passed" (a right
 * code: nothing to count) or "failed": a wrong code, or whatever else
 * ends it (an error, a cancel, a rollback, the backend's exit).  A failed
 * try moves to the pending list at once, where it counts like a written
 * attempt; a worker writes it to auth.attempts, and it leaves the list
 * only after that commit.  A wrong code's refusal is answered once it is
 * written (53000 after 5 s).  So from the moment a code is checked until
 * its attempt is durable, the try counts in one place or the other, and
 * no outcome of the statement lets a wrong code go uncounted; only a
 * crash or restart of the whole server in those milliseconds forgets it.
 *
 * The pending slot a failure will need is promised when the try starts,
 * so ending one never fails.  The list has room for every backend's try
 * to fail at once, no database takes more than half of it, and when it is
 * full all the same (the workers stopped or far behind) a try is refused
 * before anything is checked.
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/relscan.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/transam.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/lmgr.h"
#include "storage/lwlock.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/jsonb.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"

#include "attempts.h"
#include "autonomous_pool.h"
#include "autonomous_work.h"
#include "catalog.h"

PG_FUNCTION_INFO_V1(auth_attempt_try);
PG_FUNCTION_INFO_V1(auth_attempt_try_end);

#define LEDGER_MAX_TIMES	1024	/* attempt times read per key */

/* this backend's try in progress (also in its call slot) */
static bool try_active = false;
static SubTransactionId try_subid = InvalidSubTransactionId;
static bool callbacks_registered = false;

static CallSlot *
my_slot(void)
{
	return &auth_pool->calls[AUTH_MY_CALL_SLOT];
}

static bool
same_key(const LedgerKey *a, const LedgerKey *b)
{
	return strcmp(a->scope, b->scope) == 0 &&
		memcmp(&a->key, &b->key, UUID_LEN) == 0;
}

/* the keys of this backend's last failed try, and its number */
static LedgerKey failed_keys[LEDGER_TRY_KEYS];
static int	nfailed_keys = 0;
static Oid	failed_database = InvalidOid;
static uint64 failed_seq = 0;

/*
 * Ends this backend's try: passed, it counts nothing; failed, each key
 * gets one more pending attempt (merged into the key's pending entry, or
 * in a free one: the try was promised one per key) and a worker is woken
 * to write it.
 */
static void
try_end(bool passed)
{
	CallSlot   *slot;
	LedgerTry  *t;

	if (!try_active)
		return;
	slot = my_slot();
	t = &slot->try;
	LWLockAcquire(auth_pool->lock, LW_EXCLUSIVE);
	if (!passed)
	{
		uint64		seq = ++auth_pool->ledger_seq;

		for (int k = 0; k < t->nkeys; k++)
		{
			LedgerPending *free_entry = NULL;
			LedgerPending *entry = NULL;

			for (int i = 0; i < auth_pool->nledger && entry == NULL; i++)
			{
				LedgerPending *p = &auth_pool_ledger()[i];

				if (!p->used)
				{
					if (free_entry == NULL)
						free_entry = p;
				}
				else if (p->database == t->database &&
						 same_key(&p->key, &t->keys[k]))
					entry = p;
			}
			if (entry == NULL)
			{
				/*
				 * promised at the start of the try, so never NULL; were it
				 * ever, losing the count silently is what must not happen
				 */
				if (free_entry == NULL)
					elog(PANIC, "no room for a failed second-factor try");
				entry = free_entry;
				memset(entry, 0, sizeof(*entry));
				entry->used = true;
				auth_pool->ledger_used++;
				entry->database = t->database;
				entry->role = t->role;
				entry->key = t->keys[k];
				/* what came before for this key is written */
				entry->done_seq = seq - 1;
			}
			entry->n++;
			entry->seq = seq;
			if (t->at > entry->at)
				entry->at = t->at;
			failed_keys[k] = t->keys[k];
		}
		nfailed_keys = t->nkeys;
		failed_database = t->database;
		failed_seq = seq;
		auth_pool_wake_workers(t->database, t->role);
	}
	auth_pool->ledger_promised -= t->nkeys;
	t->nkeys = 0;
	LWLockRelease(auth_pool->lock);
	try_active = false;
}

/* Whether this backend's last failed try is in auth.attempts.  Caller
 * holds the pool's lock. */
static bool
failed_try_written(void)
{
	for (int k = 0; k < nfailed_keys; k++)
		for (int i = 0; i < auth_pool->nledger; i++)
		{
			LedgerPending *p = &auth_pool_ledger()[i];

			if (p->used && p->database == failed_database &&
				same_key(&p->key, &failed_keys[k]) && p->done_seq < failed_seq)
				return false;
		}
	return true;
}

/*
 * Waits (up to QUEUE_WAIT_MS) for a worker to write this backend's last
 * failed try, so that the refusal is answered once it is durable, as when
 * the worker counted it (shared/DESIGN.md, "State that must outlive the
 * caller's transaction"); past that, 53000.  Nothing is lost if the wait
 * ends early (a cancel, a stalled worker): the try still counts in the
 * pending list.
 */
static void
wait_failed_try_written(void)
{
	CallSlot   *slot = my_slot();
	TimestampTz start = GetCurrentTimestamp();

	for (;;)
	{
		bool		written;

		LWLockAcquire(auth_pool->lock, LW_EXCLUSIVE);
		written = failed_try_written();
		slot->ledger_waiting = !written;
		slot->caller = MyProc;
		LWLockRelease(auth_pool->lock);
		if (written)
			break;
		if (TimestampDifferenceExceeds(start, GetCurrentTimestamp(), QUEUE_WAIT_MS))
		{
			slot->ledger_waiting = false;
			nfailed_keys = 0;
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_RESOURCES),
					 errmsg("could not record the attempt durably: no auth worker wrote it in time"),
					 errdetail("The code was not accepted, and the try still counts."),
					 errhint("Retry later.")));
		}
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 10, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}
	slot->ledger_waiting = false;
	nfailed_keys = 0;
}

/* Whatever ends a try without a pass makes it a failed one. */
static void
ledger_xact_callback(XactEvent event, void *arg)
{
	if (try_active)
		try_end(false);
}

static void
ledger_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
						SubTransactionId parentSubid, void *arg)
{
	/* the subtransaction the try began in, or one around it */
	if (try_active && event == SUBXACT_EVENT_ABORT_SUB && mySubid <= try_subid)
		try_end(false);
}

static void
ledger_exit(int code, Datum arg)
{
	if (try_active)
	{
		/* an exit that interrupted this backend's own use of the lock */
		LWLockReleaseAll();
		try_end(false);
	}
}

static void
register_callbacks(void)
{
	if (callbacks_registered)
		return;
	RegisterXactCallback(ledger_xact_callback, NULL);
	RegisterSubXactCallback(ledger_subxact_callback, NULL);
	before_shmem_exit(ledger_exit, (Datum) 0);
	callbacks_registered = true;
}

static int
compare_times_desc(const void *a, const void *b)
{
	TimestampTz x = *(const TimestampTz *) a;
	TimestampTz y = *(const TimestampTz *) b;

	return (x < y) - (x > y);
}

/*
 * Appends to times (up to LEDGER_MAX_TIMES) the times of the key's
 * attempts in auth.attempts after since, as the latest snapshot sees them:
 * a direct scan of (scope, key, attempted_at), whatever the table's size
 * when a plan would have been made.
 */
static int
durable_times(const LedgerKey *key, TimestampTz since, Snapshot snapshot,
			  TimestampTz *times, int ntimes)
{
	static const char *const names[] = {"attempted_at"};
	static AttrNumber attnums[lengthof(names)];
	static AuthColumnMap map = AUTH_COLUMN_MAP(names, attnums);
	Relation	rel = table_open(auth_rel_oid(AUTH_REL_ATTEMPTS), AccessShareLock);
	Relation	index = index_open(auth_rel_oid(AUTH_REL_ATTEMPTS_SCOPE_KEY_IDX),
								   AccessShareLock);
	TupleTableSlot *slot = table_slot_create(rel, NULL);
	bytea	   *keybytes = palloc(VARHDRSZ + UUID_LEN);
	ScanKeyData skey[3];
	IndexScanDesc scan;

	auth_columns_resolve(rel, &map);
	SET_VARSIZE(keybytes, VARHDRSZ + UUID_LEN);
	memcpy(VARDATA(keybytes), &key->key, UUID_LEN);
	ScanKeyEntryInitialize(&skey[0], 0, 1, BTEqualStrategyNumber, InvalidOid,
						   index->rd_indcollation[0], F_TEXTEQ,
						   CStringGetTextDatum(key->scope));
	ScanKeyEntryInitialize(&skey[1], 0, 2, BTEqualStrategyNumber, InvalidOid,
						   index->rd_indcollation[1], F_BYTEAEQ,
						   PointerGetDatum(keybytes));
	ScanKeyEntryInitialize(&skey[2], 0, 3, BTGreaterStrategyNumber, InvalidOid,
						   index->rd_indcollation[2], F_TIMESTAMPTZ_GT,
						   TimestampTzGetDatum(since));
	scan = auth_index_beginscan(rel, index, snapshot, 3);
	index_rescan(scan, skey, 3, NULL, 0);
	while (ntimes < LEDGER_MAX_TIMES &&
		   index_getnext_slot(scan, ForwardScanDirection, slot))
	{
		bool		isnull;
		TimestampTz at;

		slot_getallattrs(slot);
		at = auth_slot_timestamp(slot, &map, 0, &isnull);

		if (!isnull)
			times[ntimes++] = at;
	}
	index_endscan(scan);
	ExecDropSingleTupleTableSlot(slot);
	index_close(index, NoLock);
	table_close(rel, NoLock);
	return ntimes;
}

/*
 * auth._attempt_try(request jsonb) returns jsonb: starts a try of the keys
 * of an attempts request (attempts.h), answering as the worker would
 * ({"attempts": [{"allowed", "count"[, "retry_at"]}, ...]}, up to the first
 * refused key); refused, the try is over and counts nothing.  NULL when
 * the ledger cannot take it (auth not preloaded, a key that is not a
 * uuid): the caller has the worker count it instead.
 */
Datum
auth_attempt_try(PG_FUNCTION_ARGS)
{
	Jsonb	   *request = PG_GETARG_JSONB_P(0);
	AttemptKey	keys[MAX_ATTEMPT_KEYS];
	int			nkeys;
	TimestampTz at;
	bool		single;
	CallSlot   *slot;
	LedgerTry  *t;
	int			nfree = 0;
	int			nmine = 0;
	TimestampTz *times[LEDGER_TRY_KEYS];
	int			ntimes[LEDGER_TRY_KEYS] = {0};
	StringInfoData answer;
	bool		refused = false;
	Oid			role;
	Snapshot	snapshot;

	if (!auth_autonomous_preloaded() || AUTH_MY_CALL_SLOT < 0 ||
		AUTH_MY_CALL_SLOT >= auth_pool->ncalls)
		PG_RETURN_NULL();
	if (!auth_attempts_parse(request, keys, &nkeys, &at, &single) ||
		single || nkeys < 1 || nkeys > LEDGER_TRY_KEYS)
		PG_RETURN_NULL();
	for (int k = 0; k < nkeys; k++)
		if (VARSIZE_ANY_EXHDR(keys[k].key) != UUID_LEN ||
			strlen(keys[k].scope) >= LEDGER_SCOPE_LEN)
			PG_RETURN_NULL();

	register_callbacks();
	/* one try at a time: one left open (never, by the SQL) fails first */
	try_end(false);
	slot = my_slot();
	t = &slot->try;

	/*
	 * Take the try where the others see it, and read theirs and the
	 * pending failures, with a snapshot of the written attempts taken at
	 * the same moment: a failure leaves the list only after its write
	 * committed, and one whose writer committed within the snapshot is
	 * counted there, not twice.  Tries that start later see this one.
	 */
	for (int k = 0; k < nkeys; k++)
		times[k] = palloc(sizeof(TimestampTz) * LEDGER_MAX_TIMES);
	role = auth_schema_owner();
	LWLockAcquire(auth_pool->lock, LW_EXCLUSIVE);
	nfree = auth_pool->nledger - auth_pool->ledger_used;
	for (int i = 0; auth_pool->ledger_used > 0 && i < auth_pool->nledger; i++)
		if (auth_pool_ledger()[i].used &&
			auth_pool_ledger()[i].database == MyDatabaseId)
			nmine++;

	/*
	 * no database takes more than half of the list: failures one cannot
	 * have written stay counted there, and must not refuse the others'
	 */
	if (nfree - auth_pool->ledger_promised < nkeys ||
		nmine + nkeys > auth_pool->nledger / 2)
	{
		LWLockRelease(auth_pool->lock);
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_RESOURCES),
				 errmsg("could not record the attempt durably: the extension's workers are behind"),
				 errdetail("The code was not checked, and nothing was counted."),
				 errhint("Retry later; see the server log for the auth workers.")));
	}
	/*
	 * the snapshot of the written attempts, at the same moment (first: an
	 * error here leaves nothing half taken)
	 */
	snapshot = RegisterSnapshot(GetLatestSnapshot());
	auth_pool->ledger_promised += nkeys;
	t->database = MyDatabaseId;
	t->role = role;
	t->at = at;
	for (int k = 0; k < nkeys; k++)
	{
		memset(&t->keys[k], 0, sizeof(LedgerKey));
		strlcpy(t->keys[k].scope, keys[k].scope, LEDGER_SCOPE_LEN);
		memcpy(&t->keys[k].key, VARDATA_ANY(keys[k].key), UUID_LEN);
	}
	t->nkeys = nkeys;
	try_active = true;
	try_subid = GetCurrentSubTransactionId();
	for (int k = 0; k < nkeys; k++)
	{
		for (int c = 0; c < auth_pool->ncalls; c++)
		{
			LedgerTry  *o = &auth_pool->calls[c].try;

			if (c == AUTH_MY_CALL_SLOT || o->database != MyDatabaseId)
				continue;
			for (int j = 0; j < o->nkeys && ntimes[k] < LEDGER_MAX_TIMES; j++)
				if (same_key(&o->keys[j], &t->keys[k]))
					times[k][ntimes[k]++] = o->at;
		}
		for (int i = 0; auth_pool->ledger_used > 0 && i < auth_pool->nledger; i++)
		{
			LedgerPending *p = &auth_pool_ledger()[i];
			int			n;

			if (!p->used || p->database != MyDatabaseId ||
				!same_key(&p->key, &t->keys[k]))
				continue;
			n = p->n;
			/* written by a transaction the snapshot sees: read there */
			if (p->written > 0 && TransactionIdIsValid(p->writer_xid) &&
				!XidInMVCCSnapshot(p->writer_xid, snapshot) &&
				TransactionIdDidCommit(p->writer_xid))
				n -= p->written;
			for (int j = 0; j < n && ntimes[k] < LEDGER_MAX_TIMES; j++)
				times[k][ntimes[k]++] = p->at;
		}
	}
	LWLockRelease(auth_pool->lock);

	initStringInfo(&answer);
	appendStringInfoString(&answer, "{\"attempts\": [");
	for (int k = 0; k < nkeys && !refused; k++)
	{
		TimestampTz since = DatumGetTimestampTz(DirectFunctionCall2(timestamptz_mi_interval,
																	TimestampTzGetDatum(at),
																	IntervalPGetDatum(keys[k].window)));
		int			n;
		int			counted = 0;

		n = durable_times(&t->keys[k], since, snapshot, times[k], ntimes[k]);
		/* pending and in-progress tries outside the window do not count */
		for (int j = 0; j < n; j++)
			if (times[k][j] > since)
				times[k][counted++] = times[k][j];
		if (k > 0)
			appendStringInfoString(&answer, ", ");
		if (counted >= keys[k].max)
		{
			TimestampTz retry = DT_NOBEGIN;

			if (keys[k].max > 0)
			{
				qsort(times[k], counted, sizeof(TimestampTz), compare_times_desc);
				retry = DatumGetTimestampTz(DirectFunctionCall2(timestamptz_pl_interval,
																TimestampTzGetDatum(times[k][keys[k].max - 1]),
																IntervalPGetDatum(keys[k].window)));
			}
			auth_attempts_answer(&answer, false, counted, retry);
			refused = true;
		}
		else
			auth_attempts_answer(&answer, true, counted + 1, DT_NOBEGIN);
	}
	appendStringInfoString(&answer, "]}");
	UnregisterSnapshot(snapshot);
	/* refused: nothing was checked, so nothing is counted */
	if (refused)
		try_end(true);
	PG_RETURN_DATUM(DirectFunctionCall1(jsonb_in, CStringGetDatum(answer.data)));
}

/*
 * auth._attempt_try_end(passed boolean): ends this backend's try, if any:
 * passed (a right code) it counts nothing, else it is a failed attempt,
 * and the call returns once a worker has written it.
 */
Datum
auth_attempt_try_end(PG_FUNCTION_ARGS)
{
	bool		passed = !PG_ARGISNULL(0) && PG_GETARG_BOOL(0);
	bool		had_try = try_active;

	try_end(passed);
	if (had_try && !passed)
		wait_failed_try_written();
	PG_RETURN_VOID();
}

/* ---- in the worker ---- */

/*
 * Takes the pending failures of database/role for writing (each marked
 * with the count being written); how many, copied to out.  Caller holds
 * the pool's lock.
 */
int
auth_ledger_take(Oid database, Oid role, int worker, LedgerPending *out)
{
	int			n = 0;
	TimestampTz now;

	if (auth_pool->ledger_used == 0)
		return 0;
	now = GetCurrentTimestamp();
	for (int i = 0; i < auth_pool->nledger; i++)
	{
		LedgerPending *p = &auth_pool_ledger()[i];

		if (!auth_ledger_due(p, now) || p->database != database ||
			p->role != role)
			continue;
		p->written = p->n;
		p->writer_xid = InvalidTransactionId;
		p->taken_seq = p->seq;
		p->writer = worker;
		out[n++] = *p;
	}
	return n;
}

/*
 * Whether a pending entry waits for a worker to write it now (not being
 * written, nor put off after a failed write).  Caller holds the pool's
 * lock.
 */
bool
auth_ledger_due(const LedgerPending *p, TimestampTz now)
{
	return p->used && p->written == 0 && p->n > 0 && p->not_before <= now;
}

/*
 * Whether an unbound worker may connect to a pending entry's database for
 * it, now or once it is due: not after LEDGER_BIND_TRIES workers died
 * connecting.  Caller holds the pool's lock.
 */
bool
auth_ledger_bindable(const LedgerPending *p)
{
	return p->used && p->written == 0 && p->n > 0 &&
		p->bind_failures < LEDGER_BIND_TRIES;
}

/*
 * After the write of batch (ok: committed): what was written leaves the
 * pending list, and an entry with nothing more to write is free again;
 * failed, the batch is put off for LEDGER_RETRY_MS, so that the worker
 * serves the rest meanwhile.
 */
void
auth_ledger_written(const LedgerPending *batch, int n, bool ok)
{
	LWLockAcquire(auth_pool->lock, LW_EXCLUSIVE);
	for (int b = 0; b < n; b++)
		for (int i = 0; i < auth_pool->nledger; i++)
		{
			LedgerPending *p = &auth_pool_ledger()[i];

			if (!p->used || p->written == 0 || p->database != batch[b].database ||
				!same_key(&p->key, &batch[b].key))
				continue;
			if (ok)
			{
				p->n -= p->written;
				p->done_seq = p->taken_seq;
				p->bind_failures = 0;
			}
			else
				p->not_before = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
															LEDGER_RETRY_MS);
			p->written = 0;
			p->writer_xid = InvalidTransactionId;
			if (p->n <= 0)
			{
				p->used = false;
				auth_pool->ledger_used--;
			}
			break;
		}
	/* the backends waiting for their failures to be written */
	for (int c = 0; ok && c < auth_pool->ncalls; c++)
		if (auth_pool->calls[c].ledger_waiting && auth_pool->calls[c].caller)
			SetLatch(&auth_pool->calls[c].caller->procLatch);
	LWLockRelease(auth_pool->lock);
}

/*
 * Writes the taken failures to auth.attempts, in the worker's own
 * transaction: n rows of a key at its latest failure's time (a little
 * later than some were: the limit holds a little longer, never shorter).
 */
void
auth_ledger_write(const LedgerPending *batch, int n, int worker)
{
	static AuthQuery insert_query = {
		"INSERT INTO auth.attempts (scope, key, attempted_at)"
		" SELECT v.scope, v.key, v.at"
		" FROM ROWS FROM (pg_catalog.unnest($1), pg_catalog.unnest($2),"
		"  pg_catalog.unnest($3), pg_catalog.unnest($4)) AS v (scope, key, at, n),"
		" pg_catalog.generate_series(1, v.n)",
		4, {TEXTARRAYOID, BYTEAARRAYOID, TIMESTAMPTZARRAYOID, INT4ARRAYOID},
		false, false, NULL
	};
	Datum	   *scopes;
	Datum	   *keys;
	Datum	   *ats;
	Datum	   *counts;
	Datum		values[4];

	auth_autonomous_begin_work("auth attempt write");

	/*
	 * never wait for the table: whoever holds a lock on it (an owner's
	 * LOCK TABLE, a long DDL) would hold the worker, which every database
	 * shares; put off instead, and tried again
	 */
	if (!ConditionalLockRelationOid(auth_rel_oid(AUTH_REL_ATTEMPTS),
									RowExclusiveLock))
		ereport(ERROR,
				(errcode(ERRCODE_LOCK_NOT_AVAILABLE),
				 errmsg("auth.attempts is locked: failed second-factor tries wait")));
	scopes = palloc(sizeof(Datum) * n);
	keys = palloc(sizeof(Datum) * n);
	ats = palloc(sizeof(Datum) * n);
	counts = palloc(sizeof(Datum) * n);
	for (int i = 0; i < n; i++)
	{
		bytea	   *k = palloc(VARHDRSZ + UUID_LEN);

		SET_VARSIZE(k, VARHDRSZ + UUID_LEN);
		memcpy(VARDATA(k), &batch[i].key.key, UUID_LEN);
		scopes[i] = CStringGetTextDatum(batch[i].key.scope);
		keys[i] = PointerGetDatum(k);
		ats[i] = TimestampTzGetDatum(batch[i].at);
		counts[i] = Int32GetDatum(batch[i].written);
	}
	values[0] = PointerGetDatum(construct_array(scopes, n, TEXTOID, -1, false,
												TYPALIGN_INT));
	values[1] = PointerGetDatum(construct_array(keys, n, BYTEAOID, -1, false,
												TYPALIGN_INT));
	values[2] = PointerGetDatum(construct_array(ats, n, TIMESTAMPTZOID,
												sizeof(TimestampTz),
												FLOAT8PASSBYVAL,
												TYPALIGN_DOUBLE));
	values[3] = PointerGetDatum(construct_array(counts, n, INT4OID, sizeof(int32),
												true, TYPALIGN_INT));
	auth_query_run(&insert_query, values, 0, NULL, NULL);

	/*
	 * Before the commit, which transaction writes them: a try reading the
	 * attempts with a snapshot that sees it counts them there, and not as
	 * pending as well.
	 */
	LWLockAcquire(auth_pool->lock, LW_EXCLUSIVE);
	for (int i = 0; i < auth_pool->nledger; i++)
		if (auth_pool_ledger()[i].used && auth_pool_ledger()[i].written > 0 &&
			auth_pool_ledger()[i].writer == worker)
			auth_pool_ledger()[i].writer_xid = GetTopTransactionId();
	LWLockRelease(auth_pool->lock);
	auth_autonomous_end_work();
}

/*
 * Forgets the failures pending for database: its extension was dropped
 * (there is nothing left to count them against), or the database itself.
 * A backend waiting for one of them stops waiting.
 */
void
auth_ledger_forget(Oid database)
{
	LWLockAcquire(auth_pool->lock, LW_EXCLUSIVE);
	for (int i = 0; i < auth_pool->nledger; i++)
	{
		LedgerPending *p = &auth_pool_ledger()[i];

		if (p->used && p->written == 0 && p->database == database)
		{
			p->used = false;
			auth_pool->ledger_used--;
		}
	}
	LWLockRelease(auth_pool->lock);
}

/*
 * Forgets the failures pending for databases that no longer exist (in a
 * transaction: pg_database is read from any database).
 */
void
auth_ledger_forget_dropped(void)
{
	Oid			databases[8];
	int			n = 0;

	LWLockAcquire(auth_pool->lock, LW_SHARED);
	for (int i = 0; i < auth_pool->nledger && n < (int) lengthof(databases); i++)
	{
		LedgerPending *p = &auth_pool_ledger()[i];
		bool		seen = false;

		if (!p->used || p->database == MyDatabaseId)
			continue;
		for (int j = 0; j < n; j++)
			seen = seen || databases[j] == p->database;
		if (!seen)
			databases[n++] = p->database;
	}
	LWLockRelease(auth_pool->lock);
	for (int j = 0; j < n; j++)
		if (!SearchSysCacheExists1(DATABASEOID, ObjectIdGetDatum(databases[j])))
			auth_ledger_forget(databases[j]);
}
