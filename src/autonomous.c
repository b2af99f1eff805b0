/*
 * autonomous.c: writes that must outlive, or stay out of, the caller's
 * transaction.
 *
 * A refusal raises an error, and the error rolls back whatever the call
 * wrote in the caller's transaction, so a counter of refusals written there
 * would never count.  auth._autonomous(request jsonb) has
 * auth._autonomous_dispatch(request) run in a transaction of its own,
 * committed (WAL-logged, so replicas keep it) before the result comes back.
 *
 * The read path hands off its writes (a session's sliding refresh, an API
 * key's last_used_at) the same way, without waiting: a write in the
 * caller's transaction would hold the row until the caller commits, and a
 * revocation, ban or password change would wait for it (lifecycle property
 * 3).  The worker skips a row someone holds (SKIP LOCKED): its write is
 * due again at the next verification.
 *
 * Who does the work:
 *  - With auth in shared_preload_libraries: a pool of auth.autonomous_workers
 *    background workers registered at server start.  Their slots among
 *    max_worker_processes are taken at start and kept for good (a worker
 *    that exits is restarted in the same slot), so no parallel query or
 *    other extension can crowd them out, and no call pays a process start.
 *    Callers reach them through shared memory: a call slot per backend and
 *    a small queue of hand-offs, under one LWLock, with latches to wake.
 *    A worker serves one database (as the owner of its auth schema): it
 *    binds to the first it is asked for, and when work waits for a database
 *    no worker serves, an idle worker exits and is restarted at once,
 *    unbound; so does a worker idle for IDLE_UNBIND_MS, which lets DROP
 *    DATABASE proceed.
 *  - Otherwise: a short-lived dynamic background worker per call (the slots
 *    are shared with parallel query; when none can be had the call fails
 *    closed), and per hand-off one that is not waited for (none free: the
 *    write is skipped, and due again at the next verification).
 */
#include "postgres.h"

#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "port/atomics.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/dsm.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/lwlock.h"
#include "storage/proc.h"
#include "storage/shmem.h"
#include "tcop/tcopprot.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"

#include "autonomous.h"
#include "catalog.h"

#define AUTONOMOUS_MAX_TEXT 8192
#define WORKER_SLOT_TRIES	500		/* ... of WORKER_SLOT_WAIT_US each: 5 s */
#define WORKER_SLOT_WAIT_US 10000
#define QUEUE_WAIT_MS		5000	/* a call no worker took fails then */
#define MAX_POOL_WORKERS	32
#define ASYNC_QUEUE_LEN		256
#define BUSY_RESPONSE		"{\"busy\": true}"
#define BUSY_RETRY_MS		20
#define IDLE_UNBIND_MS		2000	/* then a worker lets its database go */

/* ---- the dynamic path ---- */

typedef struct AutonomousCall
{
	Oid			database;
	Oid			role;
	bool		done;			/* set by the worker after its commit */
	char		request[AUTONOMOUS_MAX_TEXT];
	char		response[AUTONOMOUS_MAX_TEXT];
} AutonomousCall;

/* A hand-off: what the read path asks to be written. */
typedef struct AsyncWrite
{
	Oid			database;
	Oid			role;
	AuthAsyncOp op;
	pg_uuid_t	id;
	TimestampTz a;
	TimestampTz b;
} AsyncWrite;

StaticAssertDecl(sizeof(AsyncWrite) <= BGW_EXTRALEN,
				 "a hand-off must fit in bgw_extra");

/* ---- the pool (preloaded) ---- */

typedef enum CallState
{
	CALL_FREE = 0,
	CALL_QUEUED,				/* waiting for a worker */
	CALL_TAKEN,					/* a worker runs it */
	CALL_DONE,					/* committed (or failed); response written */
	CALL_ABANDONED,				/* taken, but the caller left */
} CallState;

typedef struct CallSlot
{
	CallState	state;
	bool		failed;
	Oid			database;
	Oid			role;
	PGPROC	   *caller;
	uint64		seq;			/* order of arrival */
	TimestampTz queued_at;
	TimestampTz not_before;		/* put back after BUSY_RESPONSE */
	int			worker;			/* who took it */
	char		request[AUTONOMOUS_MAX_TEXT];
	char		response[AUTONOMOUS_MAX_TEXT];
} CallSlot;

typedef enum WorkerState
{
	WORKER_ABSENT = 0,			/* never started (not registered?) */
	WORKER_IDLE,				/* running or being restarted, unbound */
	WORKER_BOUND,				/* connected to database/role */
} WorkerState;

typedef struct PoolWorker
{
	WorkerState state;
	pid_t		pid;			/* 0 while not running */
	Latch	   *latch;
	Oid			database;
	Oid			role;
} PoolWorker;

typedef struct Pool
{
	LWLock	   *lock;
	int			nworkers;
	int			ncalls;
	uint64		next_seq;
	PoolWorker	workers[MAX_POOL_WORKERS];
	bool		async_used[ASYNC_QUEUE_LEN];
	AsyncWrite	async[ASYNC_QUEUE_LEN];
	CallSlot	calls[FLEXIBLE_ARRAY_MEMBER];	/* one per backend */
} Pool;

static Pool *pool = NULL;		/* NULL: not preloaded */
static int	pool_workers = 2;

#if PG_VERSION_NUM >= 150000
static shmem_request_hook_type prev_shmem_request_hook = NULL;
#endif
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

PGDLLEXPORT void auth_autonomous_main(Datum arg);
PGDLLEXPORT void auth_async_main(Datum arg);
PGDLLEXPORT void auth_pool_main(Datum arg);

static Size
pool_size(void)
{
	return add_size(offsetof(Pool, calls),
					mul_size(sizeof(CallSlot), MaxBackends));
}

static void
pool_shmem_request(void)
{
#if PG_VERSION_NUM >= 150000
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
#endif
	RequestAddinShmemSpace(pool_size());
	RequestNamedLWLockTranche("auth_autonomous", 1);
}

static void
pool_shmem_startup(void)
{
	bool		found;

	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();
	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	pool = ShmemInitStruct("auth_autonomous", pool_size(), &found);
	if (!found)
	{
		memset(pool, 0, pool_size());
		pool->lock = &(GetNamedLWLockTranche("auth_autonomous"))->lock;
		pool->nworkers = pool_workers;
		pool->ncalls = MaxBackends;
	}
	LWLockRelease(AddinShmemInitLock);
}

/*
 * Called from _PG_init: when preloaded, defines the pool's size, takes its
 * shared memory and registers its workers.
 */
void
auth_autonomous_init(void)
{
	BackgroundWorker worker;

	if (!process_shared_preload_libraries_in_progress)
		return;
	DefineCustomIntVariable("auth.autonomous_workers",
							"Background workers of the extension's own that "
							"count attempts and write what verification "
							"hands off.",
							"Used when auth is in shared_preload_libraries; "
							"each takes a slot of max_worker_processes for "
							"good.  Each serves one database at a time.",
							&pool_workers, pool_workers,
							1, MAX_POOL_WORKERS, PGC_POSTMASTER, 0,
							NULL, NULL, NULL);
#if PG_VERSION_NUM >= 150000
	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = pool_shmem_request;
#else
	pool_shmem_request();
#endif
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = pool_shmem_startup;

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS |
		BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	/* at once: an exit is how a worker changes its database */
	worker.bgw_restart_time = 0;
	strlcpy(worker.bgw_library_name, "auth", BGW_MAXLEN);
	strlcpy(worker.bgw_function_name, "auth_pool_main", BGW_MAXLEN);
	strlcpy(worker.bgw_type, "auth worker", BGW_MAXLEN);
	for (int i = 0; i < pool_workers; i++)
	{
		snprintf(worker.bgw_name, BGW_MAXLEN, "auth worker %d", i);
		worker.bgw_main_arg = Int32GetDatum(i);
		RegisterBackgroundWorker(&worker);
	}
}

/*
 * Whether calls and hand-offs go to the pool: auth is preloaded and at
 * least one of its workers has started.
 */
bool
auth_autonomous_preloaded(void)
{
	bool		any = false;

	if (pool == NULL)
		return false;
	LWLockAcquire(pool->lock, LW_SHARED);
	for (int i = 0; i < pool->nworkers && !any; i++)
		any = pool->workers[i].state != WORKER_ABSENT;
	LWLockRelease(pool->lock);
	return any;
}

/* ---- running the work (in a worker of either kind) ---- */

/*
 * Runs auth._autonomous_dispatch(request) in a transaction of its own and
 * copies its result to response; errors propagate (the transaction is
 * then aborted by the caller's error handling).  nowait: a lock the
 * request would wait for makes it answer BUSY_RESPONSE instead (a pooled
 * worker serves others meanwhile, so nobody can stall the pool by holding
 * a lock it needs).
 */
static void
run_dispatch(const char *request, bool nowait, char *response)
{
	Oid			argtypes[1] = {TEXTOID};
	Datum		values[1];
	char	   *result;

	/*
	 * Whatever the database's or role's defaults: the count must see every
	 * attempt committed before the advisory lock was granted, and write.
	 */
	DefaultXactIsoLevel = XACT_READ_COMMITTED;
	DefaultXactReadOnly = false;
	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	SPI_connect();
	PushActiveSnapshot(GetTransactionSnapshot());
	pgstat_report_activity(STATE_RUNNING, "auth autonomous write");
	values[0] = CStringGetTextDatum(request);
	if (SPI_execute_with_args(nowait ?
							  "SELECT auth._autonomous_dispatch("
							  "$1::pg_catalog.jsonb OPERATOR(pg_catalog.||)"
							  " '{\"nowait\": true}')::pg_catalog.text" :
							  "SELECT auth._autonomous_dispatch("
							  "$1::pg_catalog.jsonb)::pg_catalog.text",
							  1, argtypes, values, NULL, false,
							  1) != SPI_OK_SELECT ||
		SPI_processed != 1)
		elog(ERROR, "auth autonomous dispatch returned no row");
	result = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	strlcpy(response, result ? result : "null", AUTONOMOUS_MAX_TEXT);
	SPI_finish();
	PopActiveSnapshot();
	CommitTransactionCommand();
	pgstat_report_activity(STATE_IDLE, NULL);
}

/*
 * Writes hand-offs (all for this worker's database) in one transaction.
 * Each skips a row another transaction holds, and writes nothing that
 * went stale meanwhile: a revoked or expired session is not extended, and
 * no value moves backwards.
 */
static void
run_async(const AsyncWrite *w, int n)
{
	static const char *const sql[] = {
		[AUTH_ASYNC_REFRESH_SESSION] =
		"UPDATE auth.sessions SET expires_at = $2, refreshed_at = $3"
		" WHERE id OPERATOR(pg_catalog.=) ("
		"  SELECT s.id FROM auth.sessions s"
		"  WHERE s.id OPERATOR(pg_catalog.=) $1 AND s.revoked_at IS NULL"
		"   AND s.expires_at OPERATOR(pg_catalog.>) $3"
		"   AND s.expires_at OPERATOR(pg_catalog.<) $2"
		"  FOR UPDATE SKIP LOCKED)",
		[AUTH_ASYNC_TOUCH_API_KEY] =
		"UPDATE auth.api_keys SET last_used_at = $2"
		" WHERE id OPERATOR(pg_catalog.=) ("
		"  SELECT k.id FROM auth.api_keys k"
		"  WHERE k.id OPERATOR(pg_catalog.=) $1"
		"   AND (k.last_used_at IS NULL"
		"        OR k.last_used_at OPERATOR(pg_catalog.<) $2)"
		"  FOR UPDATE SKIP LOCKED)",
	};
	static const int nargs[] = {
		[AUTH_ASYNC_REFRESH_SESSION] = 3,
		[AUTH_ASYNC_TOUCH_API_KEY] = 2,
	};
	Oid			argtypes[3] = {UUIDOID, TIMESTAMPTZOID, TIMESTAMPTZOID};

	DefaultXactIsoLevel = XACT_READ_COMMITTED;
	DefaultXactReadOnly = false;
	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	SPI_connect();
	PushActiveSnapshot(GetTransactionSnapshot());
	pgstat_report_activity(STATE_RUNNING, "auth deferred write");
	for (int i = 0; i < n; i++)
	{
		Datum		values[3];

		if (w[i].op != AUTH_ASYNC_REFRESH_SESSION &&
			w[i].op != AUTH_ASYNC_TOUCH_API_KEY)
			continue;
		values[0] = UUIDPGetDatum(&w[i].id);
		values[1] = TimestampTzGetDatum(w[i].a);
		values[2] = TimestampTzGetDatum(w[i].b);
		if (SPI_execute_with_args(sql[w[i].op], nargs[w[i].op], argtypes,
								  values, NULL, false, 0) != SPI_OK_UPDATE)
			elog(ERROR, "auth deferred write failed");
	}
	SPI_finish();
	PopActiveSnapshot();
	CommitTransactionCommand();
	pgstat_report_activity(STATE_IDLE, NULL);
}

/*
 * Aborts the transaction a worker's failed work left; the error has been
 * logged.  The worker goes on.
 */
static void
recover_from_error(MemoryContext cxt)
{
	HOLD_INTERRUPTS();
	MemoryContextSwitchTo(cxt);
	EmitErrorReport();
	AbortCurrentTransaction();
	FlushErrorState();
	pgstat_report_activity(STATE_IDLE, NULL);
	RESUME_INTERRUPTS();
}

/* ---- the dynamic path ---- */

void
auth_autonomous_main(Datum arg)
{
	dsm_segment *seg;
	AutonomousCall *call;

	BackgroundWorkerUnblockSignals();
	seg = dsm_attach(DatumGetUInt32(arg));
	if (seg == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("auth autonomous worker could not attach to its request")));
	call = dsm_segment_address(seg);
	BackgroundWorkerInitializeConnectionByOid(call->database, call->role, 0);
	run_dispatch(call->request, false, call->response);

	/* only now, after the commit, may the caller rely on the write */
	pg_write_barrier();
	call->done = true;
	dsm_detach(seg);
	proc_exit(0);
}

/* A dynamic worker for one hand-off, which nobody waits for. */
void
auth_async_main(Datum arg)
{
	AsyncWrite	w;

	BackgroundWorkerUnblockSignals();
	memcpy(&w, MyBgworkerEntry->bgw_extra, sizeof(w));
	BackgroundWorkerInitializeConnectionByOid(w.database, w.role, 0);
	run_async(&w, 1);
	proc_exit(0);
}

static void
fail_closed(const char *why)
{
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_RESOURCES),
			 errmsg("could not record the attempt durably: %s", why),
			 errdetail(
				 "The attempt was refused because it could not be counted."),
			 errhint("Raise max_worker_processes, or retry.")));
}

static void
dynamic_worker_init(BackgroundWorker *worker, const char *function,
					const char *name)
{
	memset(worker, 0, sizeof(*worker));
	worker->bgw_flags = BGWORKER_SHMEM_ACCESS |
		BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker->bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker->bgw_restart_time = BGW_NEVER_RESTART;
	strlcpy(worker->bgw_library_name, "auth", BGW_MAXLEN);
	strlcpy(worker->bgw_function_name, function, BGW_MAXLEN);
	strlcpy(worker->bgw_name, name, BGW_MAXLEN);
	strlcpy(worker->bgw_type, name, BGW_MAXLEN);
}

static Datum
call_dynamic(const char *request)
{
	BackgroundWorker worker;
	BackgroundWorkerHandle *handle;
	BgwHandleStatus status;
	dsm_segment *seg;
	AutonomousCall *call;
	Datum		result;

	seg = dsm_create(sizeof(AutonomousCall), 0);
	call = dsm_segment_address(seg);
	memset(call, 0, sizeof(AutonomousCall));
	call->database = MyDatabaseId;
	call->role = auth_schema_owner();
	strlcpy(call->request, request, AUTONOMOUS_MAX_TEXT);

	dynamic_worker_init(&worker, "auth_autonomous_main",
						"auth autonomous write");
	worker.bgw_main_arg = UInt32GetDatum(dsm_segment_handle(seg));
	worker.bgw_notify_pid = MyProcPid;

	/*
	 * Slots are shared with parallel query and other sign-ins; a worker
	 * lives some 25 ms, so under a burst wait for one (up to 5 s) rather
	 * than refuse at once.
	 */
	for (int tries = 0;
		 !RegisterDynamicBackgroundWorker(&worker, &handle);
		 tries++)
	{
		if (tries >= WORKER_SLOT_TRIES)
		{
			dsm_detach(seg);
			fail_closed("no background worker slot is free");
		}
		pg_usleep(WORKER_SLOT_WAIT_US);
		CHECK_FOR_INTERRUPTS();
	}
	status = WaitForBackgroundWorkerShutdown(handle);
	pg_read_barrier();
	if (status != BGWH_STOPPED || !call->done)
	{
		dsm_detach(seg);
		fail_closed(status == BGWH_POSTMASTER_DIED ? "the postmaster died" :
					"the background worker failed");
	}
	result = DirectFunctionCall1(jsonb_in, CStringGetDatum(call->response));
	dsm_detach(seg);
	return result;
}

/* ---- the pool: callers ---- */

/*
 * Wakes the workers that may take work for database/role: the one bound
 * to it, else all (an idle one binds; a bound one may rebind).  Caller
 * holds the pool's lock.
 */
static void
wake_workers(Oid database, Oid role)
{
	bool		woke = false;

	for (int i = 0; i < pool->nworkers; i++)
	{
		PoolWorker *w = &pool->workers[i];

		if (w->state == WORKER_BOUND && w->database == database &&
			w->role == role && w->latch != NULL)
		{
			SetLatch(w->latch);
			woke = true;
		}
	}
	if (woke)
		return;
	for (int i = 0; i < pool->nworkers; i++)
		if (pool->workers[i].pid != 0 && pool->workers[i].latch != NULL)
			SetLatch(pool->workers[i].latch);
}

/* Leaves the call slot after an error or a cancel (never forever taken). */
static void
leave_call(CallSlot *slot)
{
	LWLockAcquire(pool->lock, LW_EXCLUSIVE);
	if (slot->state == CALL_TAKEN)
		slot->state = CALL_ABANDONED;	/* the worker frees it */
	else if (slot->state != CALL_ABANDONED)
		slot->state = CALL_FREE;
	LWLockRelease(pool->lock);
}

static Datum
call_pool(const char *request)
{
	CallSlot   *slot = &pool->calls[MyBackendId - 1];
	Oid			role = auth_schema_owner();
	char	   *response = palloc(AUTONOMOUS_MAX_TEXT);
	volatile bool failed = false;
	volatile bool untaken = false;

	/* A call this backend left may still be in a worker: wait for it. */
	for (;;)
	{
		LWLockAcquire(pool->lock, LW_EXCLUSIVE);
		if (slot->state == CALL_FREE || slot->state == CALL_DONE)
			break;
		LWLockRelease(pool->lock);
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT |
						 WL_EXIT_ON_PM_DEATH, 10, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}
	slot->failed = false;
	slot->database = MyDatabaseId;
	slot->role = role;
	slot->caller = MyProc;
	slot->seq = pool->next_seq++;
	slot->queued_at = GetCurrentTimestamp();
	slot->not_before = 0;
	slot->worker = -1;
	strlcpy(slot->request, request, AUTONOMOUS_MAX_TEXT);
	slot->state = CALL_QUEUED;
	wake_workers(MyDatabaseId, role);
	LWLockRelease(pool->lock);

	PG_TRY();
	{
		for (;;)
		{
			bool		done = false;

			LWLockAcquire(pool->lock, LW_EXCLUSIVE);
			if (slot->state == CALL_DONE)
			{
				failed = slot->failed;
				strlcpy(response, slot->response, AUTONOMOUS_MAX_TEXT);
				slot->state = CALL_FREE;
				done = true;
			}
			else if (slot->state == CALL_QUEUED &&
					 TimestampDifferenceExceeds(slot->queued_at,
												GetCurrentTimestamp(),
												QUEUE_WAIT_MS))
			{
				slot->state = CALL_FREE;
				untaken = true;
				done = true;
			}
			LWLockRelease(pool->lock);
			if (done)
				break;
			(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT |
							 WL_EXIT_ON_PM_DEATH, 100, PG_WAIT_EXTENSION);
			ResetLatch(MyLatch);
			CHECK_FOR_INTERRUPTS();
		}
	}
	PG_CATCH();
	{
		leave_call(slot);
		PG_RE_THROW();
	}
	PG_END_TRY();
	if (untaken)
		fail_closed("no auth worker took the request");
	if (failed)
		fail_closed("the auth worker failed");
	return DirectFunctionCall1(jsonb_in, CStringGetDatum(response));
}

/*
 * SQL function: auth._autonomous(request jsonb) returns jsonb
 * Runs auth._autonomous_dispatch(request) in a transaction of its own and
 * returns its result once that transaction has committed.
 */
PG_FUNCTION_INFO_V1(auth_autonomous);
Datum
auth_autonomous(PG_FUNCTION_ARGS)
{
	char	   *request =
		DatumGetCString(DirectFunctionCall1(jsonb_out, PG_GETARG_DATUM(0)));

	if (strlen(request) >= AUTONOMOUS_MAX_TEXT)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("autonomous request is too large")));
	if (RecoveryInProgress())
		ereport(ERROR,
				(errcode(ERRCODE_READ_ONLY_SQL_TRANSACTION),
				 errmsg("cannot record the attempt on a hot standby"),
				 errhint("Send sign-ins to the primary.")));
	if (auth_autonomous_preloaded())
		PG_RETURN_DATUM(call_pool(request));
	PG_RETURN_DATUM(call_dynamic(request));
}

/*
 * SQL function: auth._autonomous_path() returns text
 * 'workers' when the extension's own workers do the autonomous writes,
 * 'dynamic' when each starts a dynamic background worker.
 */
PG_FUNCTION_INFO_V1(auth_autonomous_path);
Datum
auth_autonomous_path(PG_FUNCTION_ARGS)
{
	PG_RETURN_TEXT_P(cstring_to_text(auth_autonomous_preloaded() ?
									 "workers" : "dynamic"));
}

/*
 * Hands a write of the read path off, without waiting for it; returns
 * whether it was handed off.  Not on a standby (the caller checks).  stamp
 * is the time the write records (on the extension's clock), and a row
 * written after fresh_after is not due: until the worker has committed,
 * the row still looks due, so one backend's burst of verifications hands
 * the same write off once, not once each.
 */
bool
auth_async_write(AuthAsyncOp op, const pg_uuid_t *id, TimestampTz a,
				 TimestampTz b, TimestampTz stamp, TimestampTz fresh_after)
{
	static AsyncWrite last;
	static TimestampTz last_stamp = 0;
	AsyncWrite	w;
	bool		queued = false;

	memset(&w, 0, sizeof(w));
	w.database = MyDatabaseId;
	w.op = op;
	w.id = *id;
	w.a = a;
	w.b = b;
	if (last.op == op && last.database == MyDatabaseId &&
		memcmp(&last.id, id, UUID_LEN) == 0 && last_stamp > fresh_after)
		return true;
	w.role = auth_schema_owner();

	if (auth_autonomous_preloaded())
	{
		int			free_at = -1;

		LWLockAcquire(pool->lock, LW_EXCLUSIVE);
		for (int i = 0; i < ASYNC_QUEUE_LEN; i++)
		{
			if (!pool->async_used[i])
			{
				if (free_at < 0)
					free_at = i;
			}
			else if (pool->async[i].op == op &&
					 pool->async[i].database == w.database &&
					 memcmp(&pool->async[i].id, id, UUID_LEN) == 0)
			{
				pool->async[i] = w; /* the newer values */
				free_at = -2;
				queued = true;
				break;
			}
		}
		if (free_at >= 0)
		{
			pool->async[free_at] = w;
			pool->async_used[free_at] = true;
			queued = true;
		}
		if (queued)
			wake_workers(w.database, w.role);
		LWLockRelease(pool->lock);
	}
	else
	{
		BackgroundWorker worker;
		BackgroundWorkerHandle *handle;

		dynamic_worker_init(&worker, "auth_async_main",
							"auth deferred write");
		memcpy(worker.bgw_extra, &w, sizeof(w));
		queued = RegisterDynamicBackgroundWorker(&worker, &handle);
	}
	if (queued)
	{
		last = w;
		last_stamp = stamp;
	}
	return queued;
}

/* ---- the pool: workers ---- */

static int	my_worker = -1;

/*
 * On any exit: the worker is idle (the postmaster restarts it), and a
 * call it had taken fails rather than waiting forever.
 */
static void
pool_worker_exit(int code, Datum arg)
{
	PoolWorker *me = &pool->workers[my_worker];

	LWLockReleaseAll();
	LWLockAcquire(pool->lock, LW_EXCLUSIVE);
	me->state = WORKER_IDLE;
	me->pid = 0;
	me->latch = NULL;
	me->database = InvalidOid;
	me->role = InvalidOid;
	for (int i = 0; i < pool->ncalls; i++)
	{
		CallSlot   *c = &pool->calls[i];

		if (c->worker != my_worker)
			continue;
		if (c->state == CALL_TAKEN)
		{
			c->failed = true;
			c->state = CALL_DONE;
			SetLatch(&c->caller->procLatch);
		}
		else if (c->state == CALL_ABANDONED)
			c->state = CALL_FREE;
	}
	LWLockRelease(pool->lock);
}

/* Whether a worker serves (or is about to serve) database/role. */
static bool
served(Oid database, Oid role)
{
	for (int i = 0; i < pool->nworkers; i++)
	{
		PoolWorker *w = &pool->workers[i];

		if (w->state == WORKER_IDLE ||
			(w->state == WORKER_BOUND && w->database == database &&
			 w->role == role))
			return true;
	}
	return false;
}

/*
 * The oldest queued call for database/role (any, when database is
 * invalid), or -1; *deferred tells whether one was put back for later.
 */
static int
oldest_call(Oid database, Oid role, bool *deferred)
{
	int			best = -1;
	TimestampTz now = GetCurrentTimestamp();

	*deferred = false;
	for (int i = 0; i < pool->ncalls; i++)
	{
		CallSlot   *c = &pool->calls[i];

		if (c->state != CALL_QUEUED)
			continue;
		if (c->not_before > now)
		{
			*deferred = true;
			continue;
		}
		if (OidIsValid(database) &&
			(c->database != database || c->role != role))
			continue;
		if (best < 0 || c->seq < pool->calls[best].seq)
			best = i;
	}
	return best;
}

/*
 * Binds an idle worker to the database of the oldest queued work, taking
 * that call (or those hand-offs) with it; false when there is none.
 */
static bool
bind_to_work(PoolWorker *me, int *call, AsyncWrite *batch, int *nbatch)
{
	bool		deferred;
	int			c = oldest_call(InvalidOid, InvalidOid, &deferred);

	*call = -1;
	*nbatch = 0;
	if (c >= 0)
	{
		me->database = pool->calls[c].database;
		me->role = pool->calls[c].role;
		pool->calls[c].state = CALL_TAKEN;
		pool->calls[c].worker = my_worker;
		*call = c;
	}
	else
	{
		for (int i = 0; i < ASYNC_QUEUE_LEN && *nbatch == 0; i++)
			if (pool->async_used[i])
			{
				me->database = pool->async[i].database;
				me->role = pool->async[i].role;
				batch[(*nbatch)++] = pool->async[i];
				pool->async_used[i] = false;
			}
		if (*nbatch == 0)
			return false;
	}
	me->state = WORKER_BOUND;
	return true;
}

/* Takes the hand-offs queued for database/role. */
static int
take_async(Oid database, Oid role, AsyncWrite *batch)
{
	int			n = 0;

	for (int i = 0; i < ASYNC_QUEUE_LEN; i++)
		if (pool->async_used[i] && pool->async[i].database == database &&
			pool->async[i].role == role)
		{
			batch[n++] = pool->async[i];
			pool->async_used[i] = false;
		}
	return n;
}

/* Whether some queued work is for a database no worker serves. */
static bool
unserved_work(void)
{
	for (int i = 0; i < pool->ncalls; i++)
		if (pool->calls[i].state == CALL_QUEUED &&
			!served(pool->calls[i].database, pool->calls[i].role))
			return true;
	for (int i = 0; i < ASYNC_QUEUE_LEN; i++)
		if (pool->async_used[i] &&
			!served(pool->async[i].database, pool->async[i].role))
			return true;
	return false;
}

/* Runs one taken call and hands its result back. */
static void
serve_call(int c, MemoryContext cxt)
{
	CallSlot   *slot = &pool->calls[c];
	char	   *request = MemoryContextStrdup(cxt, slot->request);
	char	   *response = MemoryContextAlloc(cxt, AUTONOMOUS_MAX_TEXT);
	volatile bool failed = false;

	PG_TRY();
	{
		run_dispatch(request, true, response);
	}
	PG_CATCH();
	{
		recover_from_error(cxt);
		failed = true;
	}
	PG_END_TRY();

	LWLockAcquire(pool->lock, LW_EXCLUSIVE);
	if (slot->state == CALL_ABANDONED)
		slot->state = CALL_FREE;
	else if (slot->state == CALL_TAKEN && !failed &&
			 strcmp(response, BUSY_RESPONSE) == 0)
	{
		/* back in the queue, after the others; the caller's clock runs */
		slot->state = CALL_QUEUED;
		slot->worker = -1;
		slot->not_before = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
													   BUSY_RETRY_MS);
	}
	else if (slot->state == CALL_TAKEN)
	{
		slot->failed = failed;
		if (!failed)
			strlcpy(slot->response, response, AUTONOMOUS_MAX_TEXT);
		pg_write_barrier();
		slot->state = CALL_DONE;
		SetLatch(&slot->caller->procLatch);
	}
	LWLockRelease(pool->lock);
	pfree(request);
	pfree(response);
}

static void
serve_async(AsyncWrite *batch, int n, MemoryContext cxt)
{
	PG_TRY();
	{
		run_async(batch, n);
	}
	PG_CATCH();
	{
		recover_from_error(cxt);
	}
	PG_END_TRY();
}

void
auth_pool_main(Datum arg)
{
	PoolWorker *me;
	MemoryContext cxt;
	AsyncWrite *batch;
	int			call = -1;
	int			nbatch = 0;

	my_worker = DatumGetInt32(arg);
	pqsignal(SIGTERM, die);
	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	BackgroundWorkerUnblockSignals();
	if (pool == NULL || my_worker < 0 || my_worker >= pool->nworkers)
		proc_exit(0);
	me = &pool->workers[my_worker];
	cxt = AllocSetContextCreate(TopMemoryContext, "auth worker",
								ALLOCSET_DEFAULT_SIZES);
	MemoryContextSwitchTo(cxt);
	batch = palloc(sizeof(AsyncWrite) * ASYNC_QUEUE_LEN);

	LWLockAcquire(pool->lock, LW_EXCLUSIVE);
	me->state = WORKER_IDLE;
	me->pid = MyProcPid;
	me->latch = MyLatch;
	me->database = InvalidOid;
	LWLockRelease(pool->lock);
	before_shmem_exit(pool_worker_exit, (Datum) 0);

	/* Unbound: wait for work, and bind to its database. */
	for (;;)
	{
		bool		bound;

		LWLockAcquire(pool->lock, LW_EXCLUSIVE);
		bound = bind_to_work(me, &call, batch, &nbatch);
		LWLockRelease(pool->lock);
		if (bound)
			break;
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_EXIT_ON_PM_DEATH, -1,
						 PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}
	/* a database dropped meanwhile: FATAL, and the exit fails the call */
	BackgroundWorkerInitializeConnectionByOid(me->database, me->role, 0);

	for (;;)
	{
		bool		rebind = false;
		bool		deferred = false;

		if (call >= 0)
			serve_call(call, cxt);
		else if (nbatch > 0)
			serve_async(batch, nbatch, cxt);
		MemoryContextSwitchTo(cxt);
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}
		CHECK_FOR_INTERRUPTS();

		LWLockAcquire(pool->lock, LW_EXCLUSIVE);
		call = oldest_call(me->database, me->role, &deferred);
		nbatch = 0;
		if (call >= 0)
		{
			pool->calls[call].state = CALL_TAKEN;
			pool->calls[call].worker = my_worker;
		}
		else
			nbatch = take_async(me->database, me->role, batch);
		/* nothing to do here, but work waits elsewhere: make way */
		if (call < 0 && nbatch == 0 && unserved_work())
		{
			me->state = WORKER_IDLE;
			rebind = true;
		}
		LWLockRelease(pool->lock);
		if (rebind)
			proc_exit(1);		/* restarted at once, unbound */
		if (call < 0 && nbatch == 0)
		{
			int			rc;

			rc = WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT |
						   WL_EXIT_ON_PM_DEATH,
						   deferred ? BUSY_RETRY_MS : IDLE_UNBIND_MS,
						   PG_WAIT_EXTENSION);
			ResetLatch(MyLatch);

			/*
			 * Idle: let the database go (exit, restarted unbound), so that
			 * DROP DATABASE or CREATE DATABASE ... TEMPLATE, which wait 5 s
			 * for other connections, are not refused because of us.
			 */
			if ((rc & WL_TIMEOUT) && !deferred)
			{
				LWLockAcquire(pool->lock, LW_EXCLUSIVE);
				rebind = oldest_call(me->database, me->role,
									 &deferred) < 0 && !deferred;
				for (int i = 0; rebind && i < ASYNC_QUEUE_LEN; i++)
					if (pool->async_used[i] &&
						pool->async[i].database == me->database)
						rebind = false;
				if (rebind)
					me->state = WORKER_IDLE;
				LWLockRelease(pool->lock);
				if (rebind)
					proc_exit(1);
			}
		}
	}
}
