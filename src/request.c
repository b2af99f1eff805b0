/*
 * request.c: one round trip per request (layer 5).
 *
 * auth.with_identity(token, query, args) authenticates a session token or an
 * API key, then runs the caller's query and returns its rows as jsonb.  The
 * order is the point: within one plain statement the planner decides which
 * input of a join is read first, so `FROM notes, LATERAL (SELECT
 * auth.authenticate($1))` may scan notes (and its policy refuse every row)
 * before the identity exists.  Here the credential is checked to completion
 * before the query is even planned; the query then runs as a statement of
 * its own (a new snapshot, parallel workers that copy the identity when
 * they start), with the caller's rights and search_path: the function is
 * not SECURITY DEFINER.
 *
 * Plans are kept per backend for the last AUTH_REQUEST_PLANS distinct
 * queries (the plan cache replans when the user, search_path, row security
 * or a table changes), so a request pays no parse and plan.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/tuplestore.h"

#include "apikey.h"
#include "jwt.h"
#include "session.h"

#define AUTH_REQUEST_PLANS 64
/* a longer query is planned for its call only */
#define AUTH_REQUEST_KEPT_LENGTH 8192

typedef struct RequestPlan
{
	char	   *query;			/* the caller's text, in TopMemoryContext */
	SPIPlanPtr	plan;
	uint64		used;			/* for least recently used eviction */
} RequestPlan;

static RequestPlan request_plans[AUTH_REQUEST_PLANS];
static uint64 request_clock;
/* calls running a query: a nested call keeps and evicts no plan */
static int	request_depth;

/* The caller's query, each row as one jsonb; its argument is $1. */
static char *
wrapped_query(const char *query)
{
	/* The newline ends a trailing -- comment of the query. */
	return psprintf("WITH q AS (%s\n) SELECT pg_catalog.to_jsonb(q) FROM q",
					query);
}

static SPIPlanPtr
prepare(const char *query)
{
	Oid			argtypes[1] = {JSONBOID};
	SPIPlanPtr	plan;

	plan = SPI_prepare_cursor(wrapped_query(query), 1, argtypes,
							  CURSOR_OPT_PARALLEL_OK);
	if (plan == NULL)
		elog(ERROR, "SPI_prepare_cursor failed: %s",
			 SPI_result_code_string(SPI_result));
	return plan;
}

/*
 * The kept plan of a query, prepared on first use; NULL for a query too
 * long to keep.  Called within SPI.
 */
static SPIPlanPtr
kept_plan(const char *query, size_t len)
{
	RequestPlan *slot = &request_plans[0];
	SPIPlanPtr	plan;
	int			i;

	if (len > AUTH_REQUEST_KEPT_LENGTH || request_depth > 0)
		return NULL;
	for (i = 0; i < AUTH_REQUEST_PLANS; i++)
	{
		RequestPlan *p = &request_plans[i];

		if (p->query != NULL && strcmp(p->query, query) == 0)
		{
			p->used = ++request_clock;
			return p->plan;
		}
		if (p->used < slot->used)
			slot = p;
	}
	/* Prepare first: a query that does not parse evicts nothing. */
	plan = prepare(query);
	if (SPI_keepplan(plan) != 0)
		elog(ERROR, "SPI_keepplan failed");
	if (slot->query != NULL)
	{
		SPI_freeplan(slot->plan);
		pfree(slot->query);
	}
	slot->query = MemoryContextStrdup(TopMemoryContext, query);
	slot->plan = plan;
	slot->used = ++request_clock;
	return plan;
}

/*
 * Runs the query; read_only false takes a new snapshot, which sees what the
 * statements before it did.
 */
static int
execute(SPIPlanPtr plan, Datum *args, const char *nulls)
{
	volatile int rc = 0;

	request_depth++;
	PG_TRY();
	{
		rc = SPI_execute_plan(plan, args, nulls, false, 0);
	}
	PG_FINALLY();
	{
		request_depth--;
	}
	PG_END_TRY();
	return rc;
}

/* Calls a credential's authenticate entry point, transaction-scoped. */
static void
authenticate(PGFunction fn, Datum token, bool isnull)
{
	LOCAL_FCINFO(call, 2);

	InitFunctionCallInfoData(*call, NULL, 2, InvalidOid, NULL, NULL);
	call->args[0].value = token;
	call->args[0].isnull = isnull;
	call->args[1].value = BoolGetDatum(true);
	call->args[1].isnull = false;
	(void) fn(call);
}

/*
 * SQL function: auth.with_identity(token text, query text, args jsonb)
 * returns setof jsonb
 * A session token ("ses_..."), a JWT (three parts joined by dots) or else an
 * API key is authenticated for the transaction; then the query runs, args
 * as its $1.
 */
PG_FUNCTION_INFO_V1(auth_with_identity);
Datum
auth_with_identity(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Datum		args[1];
	char		nulls[1];
	char	   *query;
	size_t		len;
	SPIPlanPtr	plan;
	Tuplestorestate *store;
	TupleDesc	tupdesc;
	MemoryContext old;
	uint64		i;
	int			rc;

	if (rsinfo == NULL || !IsA(rsinfo, ReturnSetInfo) ||
		(rsinfo->allowedModes & SFRM_Materialize) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("auth.with_identity must be called in FROM")));
	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("query must not be NULL")));

	/* The credential first, to completion. */
	if (!PG_ARGISNULL(0))
	{
		text	   *token = PG_GETARG_TEXT_PP(0);

		const char *p = VARDATA_ANY(token);
		int			len = VARSIZE_ANY_EXHDR(token);
		int			dots = 0;

		for (int k = 0; k < len; k++)
			dots += p[k] == '.';
		if (len >= 4 && memcmp(p, "ses_", 4) == 0)
			authenticate(auth_authenticate, PointerGetDatum(token), false);
		else if (dots == 2)
			authenticate(auth_authenticate_jwt, PointerGetDatum(token),
						 false);
		else
			authenticate(auth_authenticate_api_key, PointerGetDatum(token),
						 false);
	}
	else
		authenticate(auth_authenticate, (Datum) 0, true);

	query = text_to_cstring(PG_GETARG_TEXT_PP(1));
	len = strlen(query);
	args[0] = PG_ARGISNULL(2) ? (Datum) 0 : PG_GETARG_DATUM(2);
	nulls[0] = PG_ARGISNULL(2) ? 'n' : ' ';

	old = MemoryContextSwitchTo(rsinfo->econtext->ecxt_per_query_memory);
	tupdesc = CreateTemplateTupleDesc(1);
	TupleDescInitEntry(tupdesc, (AttrNumber) 1, "r", JSONBOID, -1, 0);
	store = tuplestore_begin_heap(true, false, work_mem);
	MemoryContextSwitchTo(old);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	plan = kept_plan(query, len);
	if (plan == NULL)
		plan = prepare(query);
	rc = execute(plan, args, nulls);
	if (rc < 0)
		elog(ERROR, "SPI_execute_plan failed: %s", SPI_result_code_string(rc));
	for (i = 0; i < SPI_processed; i++)
	{
		bool		isnull;
		Datum		value = SPI_getbinval(SPI_tuptable->vals[i],
										  SPI_tuptable->tupdesc, 1, &isnull);

		tuplestore_putvalues(store, tupdesc, &value, &isnull);
	}
	SPI_finish();

	rsinfo->returnMode = SFRM_Materialize;
	rsinfo->setResult = store;
	rsinfo->setDesc = tupdesc;
	return (Datum) 0;
}
