/*
 * autonomous_worker.c: the extension's own background workers (when auth
 * is preloaded; autonomous_pool.c sets them up and hands them work).
 *
 * A worker takes the oldest call or batch of hand-offs for the database it
 * serves, runs it in a transaction of its own (autonomous.c), and wakes
 * the caller.  An unbound worker binds to the first database it is asked
 * for; when work waits for a database no worker serves, an idle worker
 * exits and the postmaster restarts it at once, unbound.
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

#include "autonomous_pool.h"
#include "catalog.h"


PGDLLEXPORT void auth_pool_main(Datum arg);

/* ---- the pool: workers ---- */

static int	my_worker = -1;
static bool connected = false;	/* to the database it serves */

/*
 * On any exit: the worker is idle (the postmaster restarts it), and a
 * call it had taken fails rather than waiting forever.
 */
static void
pool_worker_exit(int code, Datum arg)
{
	PoolWorker *me = &auth_pool->workers[my_worker];

	LWLockReleaseAll();
	LWLockAcquire(auth_pool->lock, LW_EXCLUSIVE);
	me->state = WORKER_IDLE;
	me->pid = 0;
	me->latch = NULL;
	me->database = InvalidOid;
	me->role = InvalidOid;
	for (int i = 0; i < auth_pool->ncalls; i++)
	{
		CallSlot   *c = &auth_pool->calls[i];

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
	/*
	 * failed tries it was writing: written later (not at once: it may have
	 * died connecting to their database, which may be gone)
	 */
	for (int i = 0; i < auth_pool->nledger; i++)
	{
		LedgerPending *p = &auth_pool_ledger()[i];

		if (p->used && p->written > 0 && p->writer == my_worker)
		{
			p->written = 0;
			p->not_before = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
														LEDGER_RETRY_MS);
			/*
			 * after a few, no worker binds to their database for them
			 * again (it may be gone: a connected worker checks, and
			 * forgets them if so; if it is not, they still count)
			 */
			if (!connected)
				p->bind_failures++;
		}
	}
	LWLockRelease(auth_pool->lock);
}

/* Whether a worker serves (or is about to serve) database/role. */
static bool
served(Oid database, Oid role)
{
	for (int i = 0; i < auth_pool->nworkers; i++)
	{
		PoolWorker *w = &auth_pool->workers[i];

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
	for (int i = 0; i < auth_pool->ncalls; i++)
	{
		CallSlot   *c = &auth_pool->calls[i];

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
		if (best < 0 || c->seq < auth_pool->calls[best].seq)
			best = i;
	}
	return best;
}

/*
 * Binds an idle worker to the database of the oldest queued work, taking
 * that call (or those hand-offs) with it; false when there is none.
 */
static bool
bind_to_work(PoolWorker *me, int *call, AsyncWrite *batch, int *nbatch,
			 LedgerPending *ledger, int *nledger)
{
	bool		deferred;
	int			c = oldest_call(InvalidOid, InvalidOid, &deferred);
	TimestampTz now = GetCurrentTimestamp();

	*call = -1;
	*nbatch = 0;
	*nledger = 0;
	for (int i = 0; c < 0 && auth_pool->ledger_used > 0 &&
		 i < auth_pool->nledger; i++)
	{
		LedgerPending *p = &auth_pool_ledger()[i];

		if (auth_ledger_bindable(p) && auth_ledger_due(p, now))
		{
			me->database = p->database;
			me->role = p->role;
			*nledger = auth_ledger_take(p->database, p->role, my_worker,
											   ledger);
			me->state = WORKER_BOUND;
			return true;
		}
	}
	if (c >= 0)
	{
		me->database = auth_pool->calls[c].database;
		me->role = auth_pool->calls[c].role;
		auth_pool->calls[c].state = CALL_TAKEN;
		auth_pool->calls[c].worker = my_worker;
		*call = c;
	}
	else
	{
		for (int i = 0; i < ASYNC_QUEUE_LEN && *nbatch == 0; i++)
			if (auth_pool->async_used[i])
			{
				me->database = auth_pool->async[i].database;
				me->role = auth_pool->async[i].role;
				batch[(*nbatch)++] = auth_pool->async[i];
				auth_pool->async_used[i] = false;
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
		if (auth_pool->async_used[i] &&
			auth_pool->async[i].database == database &&
			auth_pool->async[i].role == role)
		{
			batch[n++] = auth_pool->async[i];
			auth_pool->async_used[i] = false;
		}
	return n;
}

/* Whether some queued work is for a database no worker serves. */
static bool
unserved_work(void)
{
	TimestampTz now = GetCurrentTimestamp();

	for (int i = 0; i < auth_pool->ncalls; i++)
		if (auth_pool->calls[i].state == CALL_QUEUED &&
			!served(auth_pool->calls[i].database, auth_pool->calls[i].role))
			return true;
	for (int i = 0; i < ASYNC_QUEUE_LEN; i++)
		if (auth_pool->async_used[i] &&
			!served(auth_pool->async[i].database, auth_pool->async[i].role))
			return true;
	for (int i = 0; auth_pool->ledger_used > 0 && i < auth_pool->nledger; i++)
	{
		LedgerPending *p = &auth_pool_ledger()[i];

		if (auth_ledger_bindable(p) && auth_ledger_due(p, now) &&
			!served(p->database, p->role))
			return true;
	}
	return false;
}

/*
 * Whether failed tries of database/role wait to be written (not those put
 * off after a failed write: a worker lets the database go meanwhile).
 */
static bool
ledger_work(Oid database, Oid role)
{
	TimestampTz now = GetCurrentTimestamp();

	for (int i = 0; auth_pool->ledger_used > 0 && i < auth_pool->nledger; i++)
	{
		LedgerPending *p = &auth_pool_ledger()[i];

		if (auth_ledger_due(p, now) && p->database == database &&
			p->role == role)
			return true;
	}
	return false;
}

/* Runs one taken call and hands its result back. */
static void
serve_call(int c, MemoryContext cxt)
{
	CallSlot   *slot = &auth_pool->calls[c];
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

	LWLockAcquire(auth_pool->lock, LW_EXCLUSIVE);
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
	LWLockRelease(auth_pool->lock);
	pfree(request);
	pfree(response);
}

/* Runs fn(arg) in a transaction of its own; an error is logged and ends it. */
static void
in_transaction(void (*fn) (void *arg), void *arg, MemoryContext cxt)
{
	PG_TRY();
	{
		StartTransactionCommand();
		fn(arg);
		CommitTransactionCommand();
	}
	PG_CATCH();
	{
		auth_autonomous_recover(cxt);
	}
	PG_END_TRY();
}

/* Whether this database no longer has the extension (*(bool *) gone). */
static void
check_extension_gone(void *gone)
{
	*(bool *) gone = !auth_extension_present() ||
		!OidIsValid(auth_rel_oid_if_any(AUTH_REL_ATTEMPTS));
}

static void
forget_dropped(void *arg)
{
	auth_ledger_forget_dropped();
}

/*
 * Writes taken failed tries; a failed write is put off, and forgotten
 * when the database no longer has the extension.
 */
static void
serve_ledger(LedgerPending *batch, int n, MemoryContext cxt)
{
	volatile bool ok = false;
	bool		gone = false;

	PG_TRY();
	{
		auth_ledger_write(batch, n, my_worker);
		ok = true;
	}
	PG_CATCH();
	{
		auth_autonomous_recover(cxt);
	}
	PG_END_TRY();
	auth_ledger_written(batch, n, ok);
	if (ok)
		return;
	in_transaction(check_extension_gone, &gone, cxt);
	if (gone)
		auth_ledger_forget(MyDatabaseId);
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
	LedgerPending *ledger;
	int			call = -1;
	int			nbatch = 0;
	int			nledger = 0;

	my_worker = DatumGetInt32(arg);
	pqsignal(SIGTERM, die);
	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	BackgroundWorkerUnblockSignals();
	if (auth_pool == NULL || my_worker < 0 || my_worker >= auth_pool->nworkers)
		proc_exit(0);
	me = &auth_pool->workers[my_worker];
	cxt = AllocSetContextCreate(TopMemoryContext, "auth worker",
								ALLOCSET_DEFAULT_SIZES);
	MemoryContextSwitchTo(cxt);
	batch = palloc(sizeof(AsyncWrite) * ASYNC_QUEUE_LEN);
	ledger = palloc(sizeof(LedgerPending) * auth_pool->nledger);

	LWLockAcquire(auth_pool->lock, LW_EXCLUSIVE);
	me->state = WORKER_IDLE;
	me->pid = MyProcPid;
	me->latch = MyLatch;
	me->database = InvalidOid;
	LWLockRelease(auth_pool->lock);
	before_shmem_exit(pool_worker_exit, (Datum) 0);

	/* Unbound: wait for work, and bind to its database. */
	for (;;)
	{
		bool		bound;
		bool		put_off = false;

		LWLockAcquire(auth_pool->lock, LW_EXCLUSIVE);
		bound = bind_to_work(me, &call, batch, &nbatch, ledger, &nledger);
		/* failed tries put off for a while: due again later */
		for (int i = 0; !bound && auth_pool->ledger_used > 0 &&
			 i < auth_pool->nledger; i++)
			put_off |= auth_ledger_bindable(&auth_pool_ledger()[i]);
		LWLockRelease(auth_pool->lock);
		if (bound)
			break;
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_EXIT_ON_PM_DEATH |
						 (put_off ? WL_TIMEOUT : 0),
						 put_off ? LEDGER_RETRY_MS : -1, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}
	/* a database dropped meanwhile: FATAL, and the exit fails the call */
	auth_autonomous_connect(me->database, me->role);
	connected = true;

	for (;;)
	{
		bool		rebind = false;
		bool		deferred = false;

		if (nledger > 0)
			serve_ledger(ledger, nledger, cxt);
		else if (call >= 0)
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

		LWLockAcquire(auth_pool->lock, LW_EXCLUSIVE);
		/*
		 * failed tries first: each waits in shared memory, where the
		 * list's room is the limit of tries in progress
		 */
		call = -1;
		nbatch = 0;
		nledger = auth_ledger_take(me->database, me->role, my_worker, ledger);
		if (nledger == 0)
			call = oldest_call(me->database, me->role, &deferred);
		if (call >= 0)
		{
			auth_pool->calls[call].state = CALL_TAKEN;
			auth_pool->calls[call].worker = my_worker;
		}
		else if (nledger == 0)
			nbatch = take_async(me->database, me->role, batch);
		/* nothing to do here, but work waits elsewhere: make way */
		if (call < 0 && nbatch == 0 && nledger == 0 && unserved_work())
		{
			me->state = WORKER_IDLE;
			rebind = true;
		}
		LWLockRelease(auth_pool->lock);
		if (rebind)
			proc_exit(1);		/* restarted at once, unbound */
		if (call < 0 && nbatch == 0 && nledger == 0)
		{
			int			rc;
			bool		mine_put_off = false;
			bool		others_put_off = false;
			TimestampTz now = GetCurrentTimestamp();

			/* failed tries put off after a failed write */
			LWLockAcquire(auth_pool->lock, LW_SHARED);
			for (int i = 0; auth_pool->ledger_used > 0 &&
				 i < auth_pool->nledger; i++)
			{
				LedgerPending *p = &auth_pool_ledger()[i];

				if (!p->used || p->written > 0)
					continue;
				if (p->database == me->database)
					mine_put_off |= !auth_ledger_due(p, now);
				else
					others_put_off |= !auth_ledger_due(p, now) ||
						!auth_ledger_bindable(p);
			}
			LWLockRelease(auth_pool->lock);
			/* a database dropped with failures pending: they go */
			if (others_put_off)
				in_transaction(forget_dropped, NULL, cxt);
			rc = WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT |
						   WL_EXIT_ON_PM_DEATH,
						   deferred ? BUSY_RETRY_MS :
						   mine_put_off ? LEDGER_RETRY_MS : IDLE_UNBIND_MS,
						   PG_WAIT_EXTENSION);
			ResetLatch(MyLatch);

			/*
			 * Idle: let the database go (exit, restarted unbound), so that
			 * DROP DATABASE or CREATE DATABASE ... TEMPLATE, which wait 5 s
			 * for other connections, are not refused because of us.
			 */
			if ((rc & WL_TIMEOUT) && !deferred)
			{
				LWLockAcquire(auth_pool->lock, LW_EXCLUSIVE);
				rebind = oldest_call(me->database, me->role,
									 &deferred) < 0 && !deferred;
				for (int i = 0; rebind && i < ASYNC_QUEUE_LEN; i++)
					if (auth_pool->async_used[i] &&
						auth_pool->async[i].database == me->database)
						rebind = false;
				if (ledger_work(me->database, me->role))
					rebind = false;
				if (rebind)
					me->state = WORKER_IDLE;
				LWLockRelease(auth_pool->lock);
				if (rebind)
					proc_exit(1);
			}
		}
	}
}

