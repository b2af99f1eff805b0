/*
 * autonomous_work.h: what the two halves of the autonomous writes share
 * (autonomous.c: running the work, the dynamic workers, the SQL entry
 * points; autonomous_pool.c: the extension's own workers when preloaded).
 */
#ifndef AUTH_AUTONOMOUS_WORK_H
#define AUTH_AUTONOMOUS_WORK_H

#include "postgres.h"

#include "fmgr.h"
#include "utils/jsonb.h"
#include "utils/palloc.h"
#include "utils/timestamp.h"
#include "utils/uuid.h"

#include "autonomous.h"

#define AUTONOMOUS_MAX_TEXT 8192

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

/* autonomous.c: the work, in a worker of either kind */
extern void auth_autonomous_run_dispatch(const char *request, bool nowait,
										 char *response);
extern void auth_autonomous_connect(Oid database, Oid role);
extern void auth_autonomous_begin_work(const char *activity);
extern void auth_autonomous_end_work(void);
extern void auth_autonomous_run_async(const AsyncWrite *w, int n);
extern void auth_autonomous_recover(MemoryContext cxt);
extern void auth_autonomous_fail_closed(const char *why)
			pg_attribute_noreturn();

/* attempts.c: counting attempts against limits, in the worker */
extern char *auth_attempts_take(Jsonb *request, bool wait);

/* autonomous_pool.c: the extension's own workers (preloaded) */
extern Datum auth_autonomous_pool_call(const char *request);
extern bool auth_autonomous_pool_async(const AsyncWrite *w);

#endif							/* AUTH_AUTONOMOUS_WORK_H */
