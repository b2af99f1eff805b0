/*
 * lifecycle.c: what ending a user's credentials needs from C.
 *
 * A credential being created and the end of its user's credentials (a
 * claim, reset, password change, revoke-all, email change, ban) must not
 * both commit as if the other had not happened (DESIGN "Credential
 * lifecycle", property 2), and the creator must not be able to hold the
 * end off by keeping its transaction open (property 3).  So creation
 * takes no lock while its transaction runs: it notes the user's
 * credentials epoch and ban as it read them, and re-reads them with the
 * latest snapshot just before its transaction commits, under a lock on
 * the user's credentials in share mode that an ending transaction holds
 * exclusively until it commits; if either changed, the creation fails
 * with 40001.  A creation that committed first is seen by the end under
 * READ COMMITTED; a REPEATABLE READ or SERIALIZABLE end, whose snapshot
 * is older, asks with the latest snapshot whether any credential it
 * should have ended is still live, and refuses (40001, retry) when one is.
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "storage/lock.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"
#include "utils/uuid.h"

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
 * session other than except_session, or (api_keys) a live API key.
 */
PG_FUNCTION_INFO_V1(auth_credentials_missed);
Datum
auth_credentials_missed(PG_FUNCTION_ARGS)
{
	static AuthQuery missed = {
		.sql = "SELECT EXISTS (SELECT FROM auth.sessions s"
		"  WHERE s.user_id OPERATOR(pg_catalog.=) $1"
		"  AND s.id IS DISTINCT FROM $2 AND s.revoked_at IS NULL"
		"  AND s.expires_at OPERATOR(pg_catalog.>) $4)"
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

/*
 * The lock on a user's credentials: an advisory-class lock tag of our own
 * (field4 0x4155, which pg_advisory_lock never uses), keyed by the first
 * 8 bytes of the user's id (random in a v4 uuid).
 */
static void
lock_user_credentials(const pg_uuid_t *user_id, LOCKMODE mode)
{
	LOCKTAG		tag;
	uint32		hi,
				lo;

	memcpy(&hi, user_id->data, 4);
	memcpy(&lo, user_id->data + 4, 4);
	SET_LOCKTAG_ADVISORY(tag, MyDatabaseId, hi, lo, 0x4155);
	(void) LockAcquire(&tag, mode, false, false);
}

/*
 * SQL function: auth._lock_user_credentials(user_id uuid) returns void
 * Held by a transaction that ends the user's credentials, until it ends.
 */
PG_FUNCTION_INFO_V1(auth_lock_user_credentials);
Datum
auth_lock_user_credentials(PG_FUNCTION_ARGS)
{
	if (!PG_ARGISNULL(0))
		lock_user_credentials(PG_GETARG_UUID_P(0), ExclusiveLock);
	PG_RETURN_VOID();
}

/* A credential created in this transaction, to re-check before commit. */
typedef struct PendingCreation
{
	pg_uuid_t	user_id;
	int64		epoch;
	bool		banned_isnull;
	TimestampTz banned_until;
	SubTransactionId subid;
} PendingCreation;

static List *pending_creations = NIL;	/* in TopTransactionContext */
static bool creation_callbacks_registered = false;

typedef struct UserState
{
	bool		found;
	int64		epoch;
	bool		banned_isnull;
	TimestampTz banned_until;
} UserState;

static void
read_user_state(SPITupleTable *rows, uint64 nrows, void *arg)
{
	UserState  *state = (UserState *) arg;
	bool		isnull;

	state->found = nrows == 1;
	if (!state->found)
		return;
	state->epoch = DatumGetInt64(SPI_getbinval(rows->vals[0], rows->tupdesc,
											   1, &isnull));
	state->banned_until =
		DatumGetTimestampTz(SPI_getbinval(rows->vals[0], rows->tupdesc, 2,
										  &state->banned_isnull));
}

/* Each creation's user, re-read with the latest snapshot under the lock. */
static void
recheck_creations(void)
{
	static AuthQuery user_state = {
		.sql = "SELECT u.credentials_epoch, u.banned_until FROM auth.users u"
		"  WHERE u.id OPERATOR(pg_catalog.=) $1",
		.nargs = 1,
		.argtypes = {UUIDOID},
		.read_only = true,
		.latest_snapshot = true,
	};
	List	   *creations = pending_creations;
	ListCell   *lc;

	pending_creations = NIL;
	foreach(lc, creations)
	{
		PendingCreation *c = (PendingCreation *) lfirst(lc);
		UserState	now = {0};
		Datum		values[1];

		lock_user_credentials(&c->user_id, ShareLock);
		values[0] = UUIDPGetDatum(&c->user_id);
		(void) auth_query_run_as_owner(&user_state, values, 1,
									   read_user_state, &now);
		if (!now.found || now.epoch != c->epoch ||
			now.banned_isnull != c->banned_isnull ||
			(!now.banned_isnull && now.banned_until != c->banned_until))
			ereport(ERROR,
					(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
					 errmsg("could not create the credential: the user's credentials ended meanwhile"),
					 errdetail("A ban, password change or reset, claim or sign-out everywhere of this user committed while this transaction was creating a session or API key."),
					 errhint("Retry the transaction.")));
	}
}

static void
creation_xact_callback(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_PRE_COMMIT:
		case XACT_EVENT_PRE_PREPARE:
			if (pending_creations != NIL)
				recheck_creations();
			break;
		default:
			pending_creations = NIL;
			break;
	}
}

static void
creation_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
						  SubTransactionId parentSubid, void *arg)
{
	ListCell   *lc;

	if (event == SUBXACT_EVENT_ABORT_SUB)
	{
		foreach(lc, pending_creations)
		{
			if (((PendingCreation *) lfirst(lc))->subid == mySubid)
				pending_creations =
					foreach_delete_current(pending_creations, lc);
		}
	}
	else if (event == SUBXACT_EVENT_COMMIT_SUB)
	{
		foreach(lc, pending_creations)
		{
			PendingCreation *c = (PendingCreation *) lfirst(lc);

			if (c->subid == mySubid)
				c->subid = parentSubid;
		}
	}
}

/*
 * SQL function: auth._creating_credential(user_id uuid, epoch bigint,
 *   banned_until timestamptz) returns void
 * Notes a session or key being created for the user, as its creator read
 * the user's row (without a lock), to be re-checked before commit.
 */
PG_FUNCTION_INFO_V1(auth_creating_credential);
Datum
auth_creating_credential(PG_FUNCTION_ARGS)
{
	PendingCreation *c;
	MemoryContext old;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("user and credentials epoch are required")));
	if (!creation_callbacks_registered)
	{
		RegisterXactCallback(creation_xact_callback, NULL);
		RegisterSubXactCallback(creation_subxact_callback, NULL);
		creation_callbacks_registered = true;
	}
	old = MemoryContextSwitchTo(TopTransactionContext);
	c = palloc0(sizeof(PendingCreation));
	memcpy(&c->user_id, PG_GETARG_UUID_P(0), sizeof(pg_uuid_t));
	c->epoch = PG_GETARG_INT64(1);
	c->banned_isnull = PG_ARGISNULL(2);
	if (!c->banned_isnull)
		c->banned_until = PG_GETARG_TIMESTAMPTZ(2);
	c->subid = GetCurrentSubTransactionId();
	pending_creations = lappend(pending_creations, c);
	MemoryContextSwitchTo(old);
	PG_RETURN_VOID();
}
