/*
 * autonomous.c: writes that must outlive the caller's transaction.
 *
 * A refusal raises an error, and the error rolls back whatever the call
 * wrote in the caller's transaction, so a counter of refusals written there
 * would never count.  auth._autonomous(request jsonb) hands the request to
 * a short-lived dynamic background worker, which runs
 * auth._autonomous_dispatch(request) in a transaction of its own, commits
 * (WAL-logged, so replicas keep it) and hands back the result.  No
 * shared_preload_libraries is needed.  When no worker can be had, the call
 * fails, so the caller fails closed.
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
#include "storage/dsm.h"
#include "storage/ipc.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/snapmgr.h"

#include "catalog.h"

#define AUTONOMOUS_MAX_TEXT 8192
#define WORKER_SLOT_TRIES	500		/* ... of WORKER_SLOT_WAIT_US each: 5 s */
#define WORKER_SLOT_WAIT_US 10000

typedef struct AutonomousCall
{
	Oid			database;
	Oid			role;
	bool		done;			/* set by the worker after its commit */
	char		request[AUTONOMOUS_MAX_TEXT];
	char		response[AUTONOMOUS_MAX_TEXT];
} AutonomousCall;

PGDLLEXPORT void auth_autonomous_main(Datum arg);

void
auth_autonomous_main(Datum arg)
{
	dsm_segment *seg;
	AutonomousCall *call;
	Oid			argtypes[1] = {TEXTOID};
	Datum		values[1];
	char	   *response;

	BackgroundWorkerUnblockSignals();
	seg = dsm_attach(DatumGetUInt32(arg));
	if (seg == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("auth autonomous worker could not attach to its request")));
	call = dsm_segment_address(seg);
	BackgroundWorkerInitializeConnectionByOid(call->database, call->role, 0);

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
	values[0] = CStringGetTextDatum(call->request);
	if (SPI_execute_with_args("SELECT auth._autonomous_dispatch("
							  "$1::pg_catalog.jsonb)::pg_catalog.text",
							  1, argtypes, values, NULL, false,
							  1) != SPI_OK_SELECT ||
		SPI_processed != 1)
		elog(ERROR, "auth autonomous dispatch returned no row");
	response = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	strlcpy(call->response, response ? response : "null", AUTONOMOUS_MAX_TEXT);
	SPI_finish();
	PopActiveSnapshot();
	CommitTransactionCommand();
	pgstat_report_activity(STATE_IDLE, NULL);

	/* only now, after the commit, may the caller rely on the write */
	pg_write_barrier();
	call->done = true;
	dsm_detach(seg);
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
	BackgroundWorker worker;
	BackgroundWorkerHandle *handle;
	BgwHandleStatus status;
	dsm_segment *seg;
	AutonomousCall *call;
	Datum		result;

	if (strlen(request) >= AUTONOMOUS_MAX_TEXT)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("autonomous request is too large")));
	if (RecoveryInProgress())
		ereport(ERROR,
				(errcode(ERRCODE_READ_ONLY_SQL_TRANSACTION),
				 errmsg("cannot record the attempt on a hot standby"),
				 errhint("Send sign-ins to the primary.")));

	seg = dsm_create(sizeof(AutonomousCall), 0);
	call = dsm_segment_address(seg);
	memset(call, 0, sizeof(AutonomousCall));
	call->database = MyDatabaseId;
	call->role = auth_schema_owner();
	strlcpy(call->request, request, AUTONOMOUS_MAX_TEXT);

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS |
		BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = BGW_NEVER_RESTART;
	strlcpy(worker.bgw_library_name, "auth", BGW_MAXLEN);
	strlcpy(worker.bgw_function_name, "auth_autonomous_main", BGW_MAXLEN);
	strlcpy(worker.bgw_name, "auth autonomous write", BGW_MAXLEN);
	strlcpy(worker.bgw_type, "auth autonomous write", BGW_MAXLEN);
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
	PG_RETURN_DATUM(result);
}
