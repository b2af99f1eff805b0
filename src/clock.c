/*
 * clock.c: the time every capability reads.
 *
 * Time comes from the transaction's start, like now(), so one statement
 * sees one instant; auth.time_offset (superuser only) shifts it so that a
 * test can move time forward instead of sleeping.
 */
#include "postgres.h"

#include "access/xact.h"
#include "fmgr.h"
#include "utils/guc.h"

#include "clock.h"

#define YEAR_SECS	(365 * SECS_PER_DAY)

static int	time_offset = 0;

void
auth_clock_init(void)
{
	DefineCustomIntVariable("auth.time_offset",
							"Shifts the extension's clock, for tests only.",
							"Lets a test move time forward "
							"instead of sleeping.",
							&time_offset, time_offset,
							-50 * YEAR_SECS, 50 * YEAR_SECS,
							PGC_SUSET, GUC_UNIT_S | GUC_SUPERUSER_ONLY,
							NULL, NULL, NULL);
}

/* The transaction's start, like now(), shifted by auth.time_offset. */
TimestampTz
auth_now(void)
{
	return GetCurrentTransactionStartTimestamp() +
		(TimestampTz) time_offset * USECS_PER_SEC;
}

/*
 * The clock of rate-limit windows: the wall clock, shifted like auth_now(),
 * so that windows shared by every backend only move forward.
 */
TimestampTz
auth_wall_clock(void)
{
	return GetCurrentTimestamp() + (TimestampTz) time_offset * USECS_PER_SEC;
}

/* An interval as microseconds, a month counting 30 days. */
int64
auth_interval_usecs(const Interval *iv)
{
	return iv->time + (int64) iv->day * USECS_PER_DAY +
		(int64) iv->month * DAYS_PER_MONTH * USECS_PER_DAY;
}

/* SQL function: auth.now() returns timestamptz */
PG_FUNCTION_INFO_V1(auth_now_sql);
Datum
auth_now_sql(PG_FUNCTION_ARGS)
{
	PG_RETURN_TIMESTAMPTZ(auth_now());
}
