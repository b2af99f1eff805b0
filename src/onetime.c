/*
 * onetime.c: one-time secrets (magic links, email codes, verification,
 * email change and password reset tokens) need three things from C: a
 * uniformly random 6-digit code, a constant-time comparison of digests,
 * and a count of recent requests that sees every committed request.
 */
#include "postgres.h"

#include <openssl/crypto.h>

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/snapmgr.h"

#include "auth.h"

/* SQL function: auth._generate_code() returns text */
PG_FUNCTION_INFO_V1(auth_generate_code);
Datum
auth_generate_code(PG_FUNCTION_ARGS)
{
	uint32		v;
	char		code[7];

	/* rejection sampling: 4294000000 is the largest multiple of 10^6 */
	do
	{
		auth_random_bytes(&v, sizeof(v));
	} while (v >= 4294000000U);
	snprintf(code, sizeof(code), "%06u", v % 1000000);
	PG_RETURN_TEXT_P(cstring_to_text(code));
}

/* SQL function: auth._secret_equal(a bytea, b bytea) returns boolean */
PG_FUNCTION_INFO_V1(auth_secret_equal);
Datum
auth_secret_equal(PG_FUNCTION_ARGS)
{
	bytea	   *a = PG_GETARG_BYTEA_PP(0);
	bytea	   *b = PG_GETARG_BYTEA_PP(1);

	PG_RETURN_BOOL(VARSIZE_ANY_EXHDR(a) == VARSIZE_ANY_EXHDR(b) &&
				   CRYPTO_memcmp(VARDATA_ANY(a), VARDATA_ANY(b),
								 VARSIZE_ANY_EXHDR(a)) == 0);
}

/*
 * SQL function: auth._recent_requests(email text, since timestamptz)
 *   returns integer
 * The secrets requested for an email since a time, counted with the latest
 * snapshot rather than the transaction's: the caller holds the email's
 * advisory lock, and even in a REPEATABLE READ transaction must see the
 * requests committed by whoever held it before.
 */
PG_FUNCTION_INFO_V1(auth_recent_requests);
Datum
auth_recent_requests(PG_FUNCTION_ARGS)
{
	static SPIPlanPtr plan = NULL;
	Datum		values[2] = {PG_GETARG_DATUM(0), PG_GETARG_DATUM(1)};
	Oid			argtypes[2] = {TEXTOID, TIMESTAMPTZOID};
	bool		isnull;
	int32		count;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	auth_kept_plan(&plan,
				   "SELECT pg_catalog.count(*)::pg_catalog.int4"
				   " FROM auth.one_time_secrets s"
				   " WHERE s.email OPERATOR(pg_catalog.=) $1"
				   " AND s.created_at OPERATOR(pg_catalog.>) $2",
				   2, argtypes);
	if (SPI_execute_snapshot(plan, values, NULL, GetLatestSnapshot(),
							 InvalidSnapshot, true, false, 1) != SPI_OK_SELECT ||
		SPI_processed != 1)
		elog(ERROR, "could not count requests");
	count = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0],
										SPI_tuptable->tupdesc, 1, &isnull));
	SPI_finish();
	PG_RETURN_INT32(count);
}

/*
 * SQL function: auth._supersede_secrets(email text, purpose text, at timestamptz)
 *   returns integer
 * Marks the unused secrets of an email and purpose superseded, finding them
 * with the latest snapshot: the caller holds the email's advisory lock, and
 * even in a REPEATABLE READ transaction must reach a link issued and
 * committed after its snapshot was taken.
 */
PG_FUNCTION_INFO_V1(auth_supersede_secrets);
Datum
auth_supersede_secrets(PG_FUNCTION_ARGS)
{
	static SPIPlanPtr plan = NULL;
	Datum		values[3] = {PG_GETARG_DATUM(0), PG_GETARG_DATUM(1), PG_GETARG_DATUM(2)};
	Oid			argtypes[3] = {TEXTOID, TEXTOID, TIMESTAMPTZOID};
	int32		count;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	auth_kept_plan(&plan,
				   "UPDATE auth.one_time_secrets s SET invalidated_at = $3"
				   " WHERE s.email OPERATOR(pg_catalog.=) $1"
				   " AND s.purpose OPERATOR(pg_catalog.=) $2"
				   " AND s.consumed_at IS NULL AND s.invalidated_at IS NULL",
				   3, argtypes);
	if (SPI_execute_snapshot(plan, values, NULL, GetLatestSnapshot(),
							 InvalidSnapshot, false, true, 0) != SPI_OK_UPDATE)
		elog(ERROR, "could not supersede secrets");
	count = (int32) SPI_processed;
	SPI_finish();
	PG_RETURN_INT32(count);
}
