/*
 * autonomous_pool.c: the extension's own background workers, when auth is
 * in shared_preload_libraries (autonomous.c describes the whole).
 *
 * auth.autonomous_workers workers are registered at server start; their
 * slots among max_worker_processes are kept for good (a worker that exits
 * is restarted in the same slot), so no parallel query can crowd them out
 * and no call pays a process start.  Callers reach them through shared
 * memory: a call slot per backend and a small queue of hand-offs, under
 * one LWLock, with latches to wake.  A worker serves one database (as the
 * owner of its auth schema): it binds to the first it is asked for, and
 * when work waits for a database no worker serves, an idle worker exits
 * and is restarted at once, unbound; so does a worker idle for
 * IDLE_UNBIND_MS, which lets DROP DATABASE proceed.
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

#include "autonomous_work.h"
#include "catalog.h"

#define QUEUE_WAIT_MS		5000	/* a call no worker took fails then */
#define MAX_POOL_WORKERS	32
#define ASYNC_QUEUE_LEN		256
#define BUSY_RESPONSE		"{\"busy\": true}"
#define BUSY_RETRY_MS		20
#define IDLE_UNBIND_MS		2000	/* then a worker lets its database go */

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

Datum
auth_autonomous_pool_call(const char *request)
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
		auth_autonomous_fail_closed("no auth worker took the request");
	if (failed)
		auth_autonomous_fail_closed("the auth worker failed");
	return DirectFunctionCall1(jsonb_in, CStringGetDatum(response));
}

/*
 * Queues a hand-off for the pool (a newer one for the same row replaces
 * the older); false when the queue is full.
 */
bool
auth_autonomous_pool_async(const AsyncWrite *wp)
{
	AsyncWrite	w = *wp;
	const pg_uuid_t *id = &wp->id;
	AuthAsyncOp op = wp->op;
	bool		queued = false;
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
		auth_autonomous_run_dispatch(request, true, response);
	}
	PG_CATCH();
	{
		auth_autonomous_recover(cxt);
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
		auth_autonomous_run_async(batch, n);
	}
	PG_CATCH();
	{
		auth_autonomous_recover(cxt);
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

