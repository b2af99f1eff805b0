/*
 * autonomous.c: writes that must outlive, or stay out of, the caller's
 * transaction.
 *
 * A refusal raises an error, and the error rolls back whatever the call
 * wrote in the caller's transaction, so a counter of refusals written there
 * would never count.  auth._autonomous(request jsonb) has the request run
 * in a transaction of its own (attempt counts in C, attempts.c; anything
 * else by auth._autonomous_dispatch(request)), committed (WAL-logged, so
 * replicas keep it) before the result comes back.
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
 *    background workers registered at server start, reached through shared
 *    memory (autonomous_pool.c, autonomous_worker.c): no parallel query can
 *    crowd them out, and no call pays a process start.
 *  - Otherwise: a short-lived dynamic background worker per call (the slots
 *    are shared with parallel query; when none can be had the call fails
 *    closed), and per hand-off one that is not waited for (none free: the
 *    write is skipped, and due again at the next verification).
 */
#include "postgres.h"

#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/pg_type.h"
#include "common/hashfn.h"
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
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"

#include "autonomous_work.h"
#include "catalog.h"

#define RECENT_WRITES		256	/* hand-offs a backend remembers */
#define REFUSED_BACKOFF_MS	20	/* after a refused hand-off */
#define WORKER_SLOT_TRIES	500		/* ... of WORKER_SLOT_WAIT_US each: 5 s */
#define WORKER_SLOT_WAIT_US 10000

/* ---- the dynamic path ---- */

typedef struct AutonomousCall
{
	Oid			database;
	Oid			role;
	bool		done;			/* set by the worker after its commit */
	char		request[AUTONOMOUS_MAX_TEXT];
	char		response[AUTONOMOUS_MAX_TEXT];
} AutonomousCall;

StaticAssertDecl(sizeof(AsyncWrite) <= BGW_EXTRALEN,
				 "a hand-off must fit in bgw_extra");

PGDLLEXPORT void auth_autonomous_main(Datum arg);
PGDLLEXPORT void auth_async_main(Datum arg);

/* ---- running the work (in a worker of either kind) ---- */

/*
 * Connects a worker of either kind to the database it works for, as the
 * owner of schema auth, whatever the database's owner set: connections may
 * be disallowed there (its callers are in already), and the settings
 * ALTER DATABASE gives every connection must not change who writes
 * (session_authorization, role)
 * or make a wait for a lock fail or an error end the worker (lock_timeout,
 * exit_on_error), or a database's owner could keep its writes, and the
 * failures waiting for them, from ever being written.
 */
void
auth_autonomous_connect(Oid database, Oid role)
{
	BackgroundWorkerInitializeConnectionByOid(database, role,
											  BGWORKER_BYPASS_ALLOWCONN);
	/* a role name is looked up in a transaction */
	StartTransactionCommand();
	SetConfigOption("session_authorization", GetUserNameFromId(role, false),
					PGC_SUSET, PGC_S_OVERRIDE);
	CommitTransactionCommand();
	SetConfigOption("role", "none", PGC_SUSET, PGC_S_OVERRIDE);
	SetConfigOption("lock_timeout", "0", PGC_SUSET, PGC_S_OVERRIDE);
	SetConfigOption("exit_on_error", "off", PGC_SUSET, PGC_S_OVERRIDE);
}

/*
 * A worker's transaction, whatever the database's or role's defaults: READ
 * COMMITTED (an attempt count must see every attempt committed before the
 * advisory lock was granted) and read-write.
 */
void
auth_autonomous_begin_work(const char *activity)
{
	DefaultXactIsoLevel = XACT_READ_COMMITTED;
	DefaultXactReadOnly = false;
	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	SPI_connect();
	PushActiveSnapshot(GetTransactionSnapshot());
	pgstat_report_activity(STATE_RUNNING, activity);
}

void
auth_autonomous_end_work(void)
{
	SPI_finish();
	PopActiveSnapshot();
	CommitTransactionCommand();
	pgstat_report_activity(STATE_IDLE, NULL);
}

/*
 * Runs request in a transaction of its own and copies its result to
 * response: attempts to count in C (attempts.c), anything else through
 * auth._autonomous_dispatch(request).  Errors propagate (the transaction
 * is then aborted by the caller's error handling).  nowait: a lock the
 * request would wait for makes it answer BUSY_RESPONSE instead (a pooled
 * worker serves others meanwhile, so nobody can stall the pool by holding
 * a lock it needs).
 */
void
auth_autonomous_run_dispatch(const char *request, bool nowait, char *response)
{
	static const char *const sql[] = {
		"SELECT auth._autonomous_dispatch("
		"$1::pg_catalog.jsonb)::pg_catalog.text",
		"SELECT auth._autonomous_dispatch("
		"$1::pg_catalog.jsonb OPERATOR(pg_catalog.||)"
		" '{\"nowait\": true}')::pg_catalog.text",
	};

	/*
	 * Prepared once per worker (a worker serves one database): a pooled
	 * worker answers many calls, and each waits for it.
	 */
	static SPIPlanPtr plans[lengthof(sql)];
	Oid			argtypes[1] = {TEXTOID};
	Datum		values[1];
	char	   *result;

	auth_autonomous_begin_work("auth autonomous write");
	result = auth_attempts_take(DatumGetJsonbP(DirectFunctionCall1(jsonb_in,
																   CStringGetDatum(request))),
								!nowait);
	if (result != NULL)
	{
		strlcpy(response, result, AUTONOMOUS_MAX_TEXT);
		auth_autonomous_end_work();
		return;
	}
	if (plans[nowait] == NULL)
	{
		SPIPlanPtr	plan = SPI_prepare(sql[nowait], 1, argtypes);

		if (plan == NULL || SPI_keepplan(plan) != 0)
			elog(ERROR, "could not prepare an autonomous write: %s",
				 SPI_result_code_string(SPI_result));
		plans[nowait] = plan;
	}
	values[0] = CStringGetTextDatum(request);
	if (SPI_execute_plan(plans[nowait], values, NULL, false,
						 1) != SPI_OK_SELECT ||
		SPI_processed != 1)
		elog(ERROR, "auth autonomous dispatch returned no row");
	result = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	strlcpy(response, result ? result : "null", AUTONOMOUS_MAX_TEXT);
	auth_autonomous_end_work();
}

/*
 * Writes hand-offs (all for this worker's database) in one transaction,
 * one statement per kind of write over arrays of them.  Each skips a row
 * another transaction holds, and writes nothing that went stale meanwhile:
 * a revoked or expired session is not extended, and no value moves
 * backwards.
 */
void
auth_autonomous_run_async(const AsyncWrite *w, int n)
{
	static const char *const sql[] = {
		[AUTH_ASYNC_REFRESH_SESSION] =
		"WITH v AS (SELECT * FROM ROWS FROM (pg_catalog.unnest($1),"
		"  pg_catalog.unnest($2), pg_catalog.unnest($3)) AS v (id, e, r)),"
		" l AS (SELECT s.id, v.e, v.r FROM auth.sessions s"
		"  JOIN v ON s.id OPERATOR(pg_catalog.=) v.id"
		"  WHERE s.revoked_at IS NULL"
		"   AND s.expires_at OPERATOR(pg_catalog.>) v.r"
		"   AND s.expires_at OPERATOR(pg_catalog.<) v.e"
		"  FOR UPDATE OF s SKIP LOCKED)"
		" UPDATE auth.sessions s SET expires_at = l.e, refreshed_at = l.r"
		" FROM l WHERE s.id OPERATOR(pg_catalog.=) l.id",
		[AUTH_ASYNC_TOUCH_API_KEY] =
		"WITH v AS (SELECT * FROM ROWS FROM (pg_catalog.unnest($1),"
		"  pg_catalog.unnest($2)) AS v (id, at)),"
		" l AS (SELECT k.id, v.at FROM auth.api_keys k"
		"  JOIN v ON k.id OPERATOR(pg_catalog.=) v.id"
		"  WHERE (k.last_used_at IS NULL"
		"         OR k.last_used_at OPERATOR(pg_catalog.<) v.at)"
		"  FOR UPDATE OF k SKIP LOCKED)"
		" UPDATE auth.api_keys k SET last_used_at = l.at"
		" FROM l WHERE k.id OPERATOR(pg_catalog.=) l.id",
	};
	static SPIPlanPtr plans[lengthof(sql)];
	Oid			argtypes[3] = {UUIDARRAYOID, TIMESTAMPTZARRAYOID,
	TIMESTAMPTZARRAYOID};
	Datum	   *ids;
	Datum	   *as;
	Datum	   *bs;

	auth_autonomous_begin_work("auth deferred write");
	/* in SPI's memory, which auth_autonomous_end_work() frees */
	ids = palloc(sizeof(Datum) * Max(1, n));
	as = palloc(sizeof(Datum) * Max(1, n));
	bs = palloc(sizeof(Datum) * Max(1, n));
	for (int op = AUTH_ASYNC_REFRESH_SESSION; op <= AUTH_ASYNC_TOUCH_API_KEY;
		 op++)
	{
		int			m = 0;
		Datum		values[3];

		for (int i = 0; i < n; i++)
			if ((int) w[i].op == op)
			{
				ids[m] = UUIDPGetDatum(&w[i].id);
				as[m] = TimestampTzGetDatum(w[i].a);
				bs[m] = TimestampTzGetDatum(w[i].b);
				m++;
			}
		if (m == 0)
			continue;
		if (plans[op] == NULL)
		{
			SPIPlanPtr	plan = SPI_prepare(sql[op],
										   op == AUTH_ASYNC_REFRESH_SESSION ?
										   3 : 2, argtypes);

			if (plan == NULL || SPI_keepplan(plan) != 0)
				elog(ERROR, "could not prepare a deferred write: %s",
					 SPI_result_code_string(SPI_result));
			plans[op] = plan;
		}
		values[0] = PointerGetDatum(construct_array(ids, m, UUIDOID, UUID_LEN,
													false, TYPALIGN_CHAR));
		values[1] = PointerGetDatum(construct_array(as, m, TIMESTAMPTZOID,
													sizeof(TimestampTz),
													FLOAT8PASSBYVAL,
													TYPALIGN_DOUBLE));
		values[2] = PointerGetDatum(construct_array(bs, m, TIMESTAMPTZOID,
													sizeof(TimestampTz),
													FLOAT8PASSBYVAL,
													TYPALIGN_DOUBLE));
		if (SPI_execute_plan(plans[op], values, NULL, false, 0) < 0)
			elog(ERROR, "auth deferred write failed");
	}
	auth_autonomous_end_work();
}

/*
 * Aborts the transaction a worker's failed work left; the error has been
 * logged.  The worker goes on.
 */
void
auth_autonomous_recover(MemoryContext cxt)
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
	auth_autonomous_connect(call->database, call->role);
	auth_autonomous_run_dispatch(call->request, false, call->response);

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
	auth_autonomous_connect(w.database, w.role);
	auth_autonomous_run_async(&w, 1);
	proc_exit(0);
}

void
auth_autonomous_fail_closed(const char *why)
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
			auth_autonomous_fail_closed("no background worker slot is free");
		}
		pg_usleep(WORKER_SLOT_WAIT_US);
		CHECK_FOR_INTERRUPTS();
	}
	status = WaitForBackgroundWorkerShutdown(handle);
	pg_read_barrier();
	if (status != BGWH_STOPPED || !call->done)
	{
		dsm_detach(seg);
		auth_autonomous_fail_closed(status == BGWH_POSTMASTER_DIED ?
									"the postmaster died" :
									"the background worker failed");
	}
	result = DirectFunctionCall1(jsonb_in, CStringGetDatum(call->response));
	dsm_detach(seg);
	return result;
}

/*
 * SQL function: auth._autonomous(request jsonb) returns jsonb
 * Runs request in a transaction of its own (auth_autonomous_run_dispatch)
 * and returns its result once that transaction has committed.
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
		PG_RETURN_DATUM(auth_autonomous_pool_call(request));
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
	/*
	 * The writes this backend handed off lately, by a hash of the row: a
	 * row stays due until the worker has committed, and each of a burst of
	 * verifications would hand it off again.
	 */
	static struct
	{
		AuthAsyncOp op;
		Oid			database;
		pg_uuid_t	id;
		TimestampTz stamp;
	}			recent[RECENT_WRITES];
	/* after a refusal (queue full, no slot), hand nothing off for a while */
	static TimestampTz refused_until = 0;
	uint32		h = hash_bytes(id->data, UUID_LEN) % RECENT_WRITES;
	AsyncWrite	w;
	bool		queued = false;

	if (recent[h].op == op && recent[h].database == MyDatabaseId &&
		memcmp(&recent[h].id, id, UUID_LEN) == 0 &&
		recent[h].stamp > fresh_after)
		return true;
	if (refused_until != 0)
	{
		if (GetCurrentTimestamp() < refused_until)
			return false;
		refused_until = 0;
	}
	memset(&w, 0, sizeof(w));
	w.database = MyDatabaseId;
	w.op = op;
	w.id = *id;
	w.a = a;
	w.b = b;
	w.role = auth_schema_owner();

	if (auth_autonomous_preloaded())
		queued = auth_autonomous_pool_async(&w);
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
		recent[h].op = op;
		recent[h].database = MyDatabaseId;
		recent[h].id = *id;
		recent[h].stamp = stamp;
	}
	else
		refused_until = GetCurrentTimestamp() +
			REFUSED_BACKOFF_MS * (TimestampTz) 1000;
	return queued;
}

