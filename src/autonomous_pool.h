/*
 * autonomous_pool.h: the shared memory of the extension's own workers,
 * shared by autonomous_pool.c (its setup and the callers) and
 * autonomous_worker.c (the workers).
 */
#ifndef AUTH_AUTONOMOUS_POOL_H
#define AUTH_AUTONOMOUS_POOL_H

#include "postgres.h"

#include "storage/latch.h"
#include "storage/lwlock.h"
#include "storage/proc.h"
#include "utils/timestamp.h"
#include "utils/uuid.h"

#include "autonomous_work.h"

#define QUEUE_WAIT_MS		5000	/* a call no worker took fails then */
#define MAX_POOL_WORKERS	32
#define ASYNC_QUEUE_LEN		256
#define BUSY_RESPONSE		"{\"busy\": true}"
#define BUSY_RETRY_MS		20
#define SPIN_WAIT_US		400		/* a caller waits awake, then asleep */
#define IDLE_UNBIND_MS		2000	/* then a worker lets its database go */
#define LEDGER_RETRY_MS		1000	/* a failed write of failed tries, again */
#define LEDGER_BIND_TRIES	3		/* workers that died connecting for them */


/*
 * Second-factor tries counted in shared memory (attempt_ledger.c): a key
 * of auth.attempts (a user's or a challenge's uuid), a try in progress in
 * the caller's call slot, and the tries that failed, until a worker has
 * written them to auth.attempts.
 */
#define LEDGER_SCOPE_LEN	32
#define LEDGER_TRY_KEYS		2	/* keys one try counts */
/* room for every backend's try to fail, and then some */
#define LEDGER_LEN(nbackends)	(LEDGER_TRY_KEYS * (nbackends) + 64)

typedef struct LedgerKey
{
	char		scope[LEDGER_SCOPE_LEN];
	pg_uuid_t	key;
} LedgerKey;

typedef struct LedgerTry
{
	int			nkeys;			/* 0: no try in progress */
	Oid			database;
	Oid			role;			/* the schema owner, as the worker writes */
	TimestampTz at;
	LedgerKey	keys[LEDGER_TRY_KEYS];
} LedgerTry;

typedef struct LedgerPending
{
	bool		used;
	int			written;		/* a worker is writing this many */
	int			writer;			/* which worker */
	TransactionId writer_xid;	/* its transaction, once it inserted them */
	Oid			database;
	Oid			role;
	LedgerKey	key;
	int			n;				/* failed tries not in auth.attempts yet */
	TimestampTz at;				/* the latest of them */
	uint64		seq;			/* the number of the latest of them */
	uint64		taken_seq;		/* ... when the worker took them */
	uint64		done_seq;		/* the failures up to this one are written */
	TimestampTz not_before;		/* after a failed write: not again before */
	int			bind_failures;	/* workers that died connecting for them */
} LedgerPending;

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
	LedgerTry	try;			/* the backend's second-factor try */
	bool		ledger_waiting; /* for its failed try's write */
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
	int			ledger_promised;	/* pending slots tries may still need */
	uint64		ledger_seq;		/* failed tries so far */
	int			nledger;		/* LEDGER_LEN(ncalls), after the calls */
	int			ledger_used;	/* entries in use: none, and no one scans */
	Size		ledger_offset;	/* ... from the start of the pool */
	CallSlot	calls[FLEXIBLE_ARRAY_MEMBER];	/* one per backend */
} Pool;

/* this backend's call slot (PG 17 numbers backends from 0, by their PGPROC) */
#if PG_VERSION_NUM >= 170000
#define AUTH_MY_CALL_SLOT	((int) MyProcNumber)
#else
#define AUTH_MY_CALL_SLOT	((int) MyBackendId - 1)
#endif

extern Pool *auth_pool;			/* NULL: not preloaded */

/* the pending failures, in the pool's memory after its call slots */
static inline LedgerPending *
auth_pool_ledger(void)
{
	return (LedgerPending *) ((char *) auth_pool + auth_pool->ledger_offset);
}

extern void auth_pool_wake_workers(Oid database, Oid role);

/* attempt_ledger.c: the failed tries a worker writes */
extern int	auth_ledger_take(Oid database, Oid role, int worker,
							 LedgerPending *out);
extern void auth_ledger_write(const LedgerPending *batch, int n, int worker);
extern void auth_ledger_written(const LedgerPending *batch, int n, bool ok);
extern bool auth_ledger_due(const LedgerPending *p, TimestampTz now);
extern bool auth_ledger_bindable(const LedgerPending *p);
extern void auth_ledger_forget(Oid database);
extern void auth_ledger_forget_dropped(void);


#endif							/* AUTH_AUTONOMOUS_POOL_H */
