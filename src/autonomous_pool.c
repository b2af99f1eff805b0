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
#include "portability/instr_time.h"
#include "port/atomics.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/dsm.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/lwlock.h"
#include "storage/proc.h"
#include "storage/s_lock.h"
#include "storage/shmem.h"
#include "tcop/tcopprot.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"

#include "autonomous_pool.h"
#include "catalog.h"

Pool	   *auth_pool = NULL;		/* NULL: not preloaded */
static int	pool_workers = 2;

#if PG_VERSION_NUM >= 150000
static shmem_request_hook_type prev_shmem_request_hook = NULL;
#endif
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

/* where the pending failures start: after the call slots */
static Size
ledger_offset(void)
{
	return MAXALIGN(add_size(offsetof(Pool, calls),
							 mul_size(sizeof(CallSlot), MaxBackends)));
}

static Size
pool_size(void)
{
	return add_size(ledger_offset(),
					mul_size(sizeof(LedgerPending), LEDGER_LEN(MaxBackends)));
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
	auth_pool = ShmemInitStruct("auth_autonomous", pool_size(), &found);
	if (!found)
	{
		memset(auth_pool, 0, pool_size());
		auth_pool->lock = &(GetNamedLWLockTranche("auth_autonomous"))->lock;
		auth_pool->nworkers = pool_workers;
		auth_pool->ncalls = MaxBackends;
		auth_pool->nledger = LEDGER_LEN(MaxBackends);
		auth_pool->ledger_offset = ledger_offset();
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
	/* a worker that has started never becomes absent again: ask once */
	static bool started = false;

	if (auth_pool == NULL)
		return false;
	if (started)
		return true;
	LWLockAcquire(auth_pool->lock, LW_SHARED);
	for (int i = 0; i < auth_pool->nworkers && !started; i++)
		started = auth_pool->workers[i].state != WORKER_ABSENT;
	LWLockRelease(auth_pool->lock);
	return started;
}

/* ---- the pool: callers ---- */

/*
 * Wakes the workers that may take work for database/role: the one bound
 * to it, else all (an idle one binds; a bound one may rebind).  Caller
 * holds the pool's lock.
 */
void
auth_pool_wake_workers(Oid database, Oid role)
{
	bool		woke = false;

	for (int i = 0; i < auth_pool->nworkers; i++)
	{
		PoolWorker *w = &auth_pool->workers[i];

		if (w->state == WORKER_BOUND && w->database == database &&
			w->role == role && w->latch != NULL)
		{
			SetLatch(w->latch);
			woke = true;
		}
	}
	if (woke)
		return;
	for (int i = 0; i < auth_pool->nworkers; i++)
		if (auth_pool->workers[i].pid != 0 &&
			auth_pool->workers[i].latch != NULL)
			SetLatch(auth_pool->workers[i].latch);
}

/*
 * Leaves the call slot after an error, a cancel or the backend's exit
 * (never forever taken: the next backend in this slot would wait for it).
 */
static void
leave_call(int code, Datum arg)
{
	CallSlot   *slot = (CallSlot *) DatumGetPointer(arg);

	LWLockAcquire(auth_pool->lock, LW_EXCLUSIVE);
	if (slot->state == CALL_TAKEN)
		slot->state = CALL_ABANDONED;	/* the worker frees it */
	else if (slot->state != CALL_ABANDONED)
		slot->state = CALL_FREE;
	LWLockRelease(auth_pool->lock);
}

Datum
auth_autonomous_pool_call(const char *request)
{
	CallSlot   *slot = &auth_pool->calls[AUTH_MY_CALL_SLOT];
	Oid			role = auth_schema_owner();
	char	   *response = palloc(AUTONOMOUS_MAX_TEXT);
	volatile bool failed = false;
	volatile bool untaken = false;
	int			outstanding = 0;

	/* A call this backend left may still be in a worker: wait for it. */
	for (;;)
	{
		LWLockAcquire(auth_pool->lock, LW_EXCLUSIVE);
		if (slot->state == CALL_FREE || slot->state == CALL_DONE)
			break;
		LWLockRelease(auth_pool->lock);
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT |
						 WL_EXIT_ON_PM_DEATH, 10, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}
	for (int i = 0; i < auth_pool->ncalls; i++)
		if (auth_pool->calls[i].state == CALL_QUEUED ||
			auth_pool->calls[i].state == CALL_TAKEN)
			outstanding++;
	slot->failed = false;
	slot->database = MyDatabaseId;
	slot->role = role;
	slot->caller = MyProc;
	slot->seq = auth_pool->next_seq++;
	slot->queued_at = GetCurrentTimestamp();
	slot->not_before = 0;
	slot->worker = -1;
	strlcpy(slot->request, request, AUTONOMOUS_MAX_TEXT);
	slot->state = CALL_QUEUED;
	auth_pool_wake_workers(MyDatabaseId, role);
	LWLockRelease(auth_pool->lock);

	/*
	 * A worker that is free answers within a fraction of a millisecond:
	 * wait for it awake for a while rather than asleep, which would add a
	 * wakeup to every sign-in and second factor (on a busy host, longer
	 * than the work).  Not when calls queue up: a waiter that spins then
	 * takes a core from the workers.
	 */
	if (outstanding < auth_pool->nworkers)
	{
		instr_time	start,
					now;

		INSTR_TIME_SET_CURRENT(start);
		for (;;)
		{
			if (((volatile CallSlot *) slot)->state == CALL_DONE)
				break;
			pg_spin_delay();
			INSTR_TIME_SET_CURRENT(now);
			INSTR_TIME_SUBTRACT(now, start);
			if (INSTR_TIME_GET_MICROSEC(now) >= SPIN_WAIT_US)
				break;
		}
	}

	/* on an error, and on a FATAL exit (pg_terminate_backend) as well */
	PG_ENSURE_ERROR_CLEANUP(leave_call, PointerGetDatum(slot));
	{
		for (;;)
		{
			bool		done = false;

			LWLockAcquire(auth_pool->lock, LW_EXCLUSIVE);
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
			LWLockRelease(auth_pool->lock);
			if (done)
				break;
			(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT |
							 WL_EXIT_ON_PM_DEATH, 100, PG_WAIT_EXTENSION);
			ResetLatch(MyLatch);
			CHECK_FOR_INTERRUPTS();
		}
	}
	PG_END_ENSURE_ERROR_CLEANUP(leave_call, PointerGetDatum(slot));
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
	bool		queued = false;
	bool		pending = false;	/* the database has writes queued */
	int			free_at = -1;

	LWLockAcquire(auth_pool->lock, LW_EXCLUSIVE);
	for (int i = 0; i < ASYNC_QUEUE_LEN && !queued; i++)
	{
		AsyncWrite *q = &auth_pool->async[i];

		if (!auth_pool->async_used[i])
		{
			if (free_at < 0)
				free_at = i;
			continue;
		}
		if (q->database != wp->database)
			continue;
		pending = true;
		if (q->op == wp->op && memcmp(&q->id, &wp->id, UUID_LEN) == 0)
		{
			*q = *wp;			/* the newer values */
			queued = true;
		}
	}
	if (!queued && free_at >= 0)
	{
		auth_pool->async[free_at] = *wp;
		auth_pool->async_used[free_at] = true;
		queued = true;
	}

	/*
	 * A worker takes every write queued for its database at once, so only
	 * the first one waiting needs to wake it: a wake per write would cost
	 * a context switch each.
	 */
	if (queued && !pending)
		auth_pool_wake_workers(wp->database, wp->role);
	LWLockRelease(auth_pool->lock);
	return queued;
}

