/*
 * lifecycle.c: what ending a user's credentials needs from C.
 *
 * auth._end_credentials writes the user's row first, so a session or key
 * being created (which holds that row FOR SHARE) either commits before it
 * or waits for it.  Under READ COMMITTED its next statements then see
 * such a credential and end it; in a REPEATABLE READ or SERIALIZABLE
 * transaction they do not, since its snapshot is older.  So it asks, with
 * the latest snapshot, whether any credential it should have ended is
 * still live, and refuses (40001, retry) when one is.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "utils/builtins.h"

#include "catalog.h"

#define NO_SESSION "00000000-0000-0000-0000-000000000000"

/* Reads the one boolean a query returns. */
static void
read_bool(SPITupleTable *rows, uint64 nrows, void *arg)
{
	bool		isnull;

	*(bool *) arg = nrows == 1 &&
		DatumGetBool(SPI_getbinval(rows->vals[0], rows->tupdesc, 1,
								   &isnull)) &&
		!isnull;
}

/*
 * SQL function: auth._credentials_missed(user_id uuid, except_session uuid,
 *   api_keys boolean, at timestamptz) returns boolean
 * Whether, as the latest snapshot sees it, the user still has a live
 * session other than except_session (one revoke_all_sessions() ended is
 * not), or (api_keys) a live API key.
 */
PG_FUNCTION_INFO_V1(auth_credentials_missed);
Datum
auth_credentials_missed(PG_FUNCTION_ARGS)
{
	static AuthQuery missed = {
		.sql = "SELECT EXISTS (SELECT FROM auth.sessions s"
		"  WHERE s.user_id OPERATOR(pg_catalog.=) $1"
		"  AND s.id IS DISTINCT FROM $2 AND s.revoked_at IS NULL"
		"  AND s.expires_at OPERATOR(pg_catalog.>) $4"
		"  AND s.created_at OPERATOR(pg_catalog.>) auth._sessions_not_before())"
		" OR ($3 AND EXISTS (SELECT FROM auth.api_keys k"
		"  WHERE k.user_id OPERATOR(pg_catalog.=) $1"
		"  AND k.revoked_at IS NULL))",
		.nargs = 4,
		.argtypes = {UUIDOID, UUIDOID, BOOLOID, TIMESTAMPTZOID},
		.read_only = true,
		.latest_snapshot = true,
	};
	Datum		values[4];
	bool		result = false;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(2) || PG_ARGISNULL(3))
		PG_RETURN_BOOL(false);
	values[0] = PG_GETARG_DATUM(0);
	/* a NULL except_session matches no session: pass a uuid none has */
	values[1] = PG_ARGISNULL(1) ?
		DirectFunctionCall1(uuid_in, CStringGetDatum(NO_SESSION)) :
		PG_GETARG_DATUM(1);
	values[2] = PG_GETARG_DATUM(2);
	values[3] = PG_GETARG_DATUM(3);
	(void) auth_query_run(&missed, values, 1, read_bool, &result);
	PG_RETURN_BOOL(result);
}
