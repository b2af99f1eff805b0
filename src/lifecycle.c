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
#include "pgstat.h"
#include "storage/latch.h"
#include "storage/lock.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"
#include "utils/uuid.h"

#include "catalog.h"
#include "clock.h"

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

/*
 * SQL function: auth._aal2_missed(user_id uuid) returns boolean
 * Whether, as the latest snapshot sees it, the user has a session or API
 * key at aal2 while no verified second factor: one raised or made after
 * the snapshot of a REPEATABLE READ downgrade (auth._mfa_factors_gone).
 */
PG_FUNCTION_INFO_V1(auth_aal2_missed);
Datum
auth_aal2_missed(PG_FUNCTION_ARGS)
{
	static AuthQuery missed = {
		.sql = "SELECT NOT EXISTS (SELECT FROM auth.mfa_factors f"
		"  WHERE f.user_id OPERATOR(pg_catalog.=) $1"
		"  AND f.verified_at IS NOT NULL)"
		" AND (EXISTS (SELECT FROM auth.sessions s"
		"  WHERE s.user_id OPERATOR(pg_catalog.=) $1"
		"  AND s.aal OPERATOR(pg_catalog.>=) 2 AND s.revoked_at IS NULL)"
		" OR EXISTS (SELECT FROM auth.api_keys k"
		"  WHERE k.user_id OPERATOR(pg_catalog.=) $1"
		"  AND k.aal OPERATOR(pg_catalog.>=) 2 AND k.revoked_at IS NULL))",
		.nargs = 1,
		.argtypes = {UUIDOID},
		.read_only = true,
		.latest_snapshot = true,
	};
	Datum		values[1];
	bool		result = false;

	if (PG_ARGISNULL(0))
		PG_RETURN_BOOL(false);
	values[0] = PG_GETARG_DATUM(0);
	(void) auth_query_run(&missed, values, 1, read_bool, &result);
	PG_RETURN_BOOL(result);
}

/*
 * The lock on a user's credentials (a lock of the extension's own, see
 * catalog.h), keyed by the first 8 bytes of the user's id (random in a v4
 * uuid).
 */
static void
lock_user_credentials(const pg_uuid_t *user_id, LOCKMODE mode)
{
	uint64		key;

	memcpy(&key, user_id->data, sizeof(key));
	(void) auth_lock_acquire(AUTH_LOCK_USER_CREDENTIALS, key, mode, true);
}

/*
 * A transaction that creates credentials for more users than this checks
 * them under one lock on every user's credentials, in exclusive mode,
 * instead of one lock per user, which would fill the lock table (an admin
 * opening sessions for 20,000 users in one statement).  Every end holds
 * that lock in share mode, so it waits for the bulk creator's commit, or
 * the bulk creator for the end's.
 */
#define CREATIONS_LOCKED_PER_USER 64
#define BULK_LOCK_TRY_MS 2000

static void
lock_every_user(LOCKMODE mode)
{
	(void) auth_lock_acquire(AUTH_LOCK_ALL_CREDENTIALS, 0, mode, true);
}

/*
 * The bulk creator's exclusive lock is tried, not waited for: a waiting
 * exclusive request would queue every end's share request behind it, and
 * one end kept open (a sign-out in a transaction left open) would then
 * hold off every user's sign-out, ban and reset.  After BULK_LOCK_TRY_MS
 * the creation fails with 40001.
 */
static void
lock_every_user_for_bulk(void)
{
	TimestampTz give_up = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
													  BULK_LOCK_TRY_MS);

	while (!auth_lock_acquire(AUTH_LOCK_ALL_CREDENTIALS, 0, ExclusiveLock,
							  false))
	{
		if (GetCurrentTimestamp() >= give_up)
			ereport(ERROR,
					(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
					 errmsg("could not create the credentials: their users' credentials are being ended"),
					 errdetail("More than %d users' credentials were created in one transaction, which waits for no end.",
							   CREATIONS_LOCKED_PER_USER),
					 errhint("Retry the transaction.")));
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT |
						 WL_EXIT_ON_PM_DEATH, 5, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}
}

/* A credential created in this transaction, to re-check before commit. */
typedef struct PendingCreation
{
	pg_uuid_t	user_id;
	int64		epoch;			/* expected at commit */
	bool		has_session;	/* made under a session that must be live */
	pg_uuid_t	session_id;
	SubTransactionId subid;
} PendingCreation;

static List *pending_creations = NIL;	/* in TopTransactionContext */
static bool creation_callbacks_registered = false;

/*
 * SQL function: auth._lock_user_credentials(user_id uuid, bumps_epoch
 *   boolean) returns void
 * Held by a transaction that ends the user's credentials, or revokes one of
 * the user's sessions, until it ends.  bumps_epoch: the caller is about to
 * add 1 to the user's credentials_epoch, so a creation of this transaction
 * expects that one more (only another transaction's end fails it).
 */
PG_FUNCTION_INFO_V1(auth_lock_user_credentials);
Datum
auth_lock_user_credentials(PG_FUNCTION_ARGS)
{
	pg_uuid_t  *user_id;
	ListCell   *lc;

	if (PG_ARGISNULL(0))
		PG_RETURN_VOID();
	user_id = PG_GETARG_UUID_P(0);
	lock_every_user(ShareLock);
	lock_user_credentials(user_id, ExclusiveLock);
	if (!PG_ARGISNULL(1) && PG_GETARG_BOOL(1))
		foreach(lc, pending_creations)
		{
			PendingCreation *c = (PendingCreation *) lfirst(lc);

			if (memcmp(&c->user_id, user_id, UUID_LEN) == 0)
				c->epoch++;
		}
	PG_RETURN_VOID();
}

/*
 * SQL function: auth._share_user_credentials(user_id uuid) returns void
 * Taken, until the transaction ends, before a self-service write to a row
 * an end of the user's credentials must also write (a session's active
 * organization, a key's settings): the end then waits for that writer
 * instead of both waiting for each other once the writer also creates a
 * credential (the lock order is always this lock, then rows).
 */
PG_FUNCTION_INFO_V1(auth_share_user_credentials);
Datum
auth_share_user_credentials(PG_FUNCTION_ARGS)
{
	if (!PG_ARGISNULL(0))
		lock_user_credentials(PG_GETARG_UUID_P(0), ShareLock);
	PG_RETURN_VOID();
}

typedef struct UserState
{
	bool		found;
	int64		epoch;
	bool		session_live;
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
	state->session_live = DatumGetBool(SPI_getbinval(rows->vals[0],
													 rows->tupdesc, 2,
													 &isnull)) && !isnull;
}

/* Each creation's user, re-read with the latest snapshot under the lock. */
static void
recheck_creations(void)
{
	static AuthQuery user_state = {
		.sql = "SELECT u.credentials_epoch,"
		"  NOT $3 OR EXISTS (SELECT FROM auth.sessions s"
		"   WHERE s.id OPERATOR(pg_catalog.=) $2 AND s.revoked_at IS NULL"
		"   AND s.expires_at OPERATOR(pg_catalog.>) $4)"
		" FROM auth.users u WHERE u.id OPERATOR(pg_catalog.=) $1",
		.nargs = 4,
		.argtypes = {UUIDOID, UUIDOID, BOOLOID, TIMESTAMPTZOID},
		.read_only = true,
		.latest_snapshot = true,
	};
	List	   *creations = pending_creations;
	bool		bulk = list_length(creations) > CREATIONS_LOCKED_PER_USER;
	ListCell   *lc;

	pending_creations = NIL;
	if (bulk)
		lock_every_user_for_bulk();
	foreach(lc, creations)
	{
		PendingCreation *c = (PendingCreation *) lfirst(lc);
		UserState	now = {0};
		Datum		values[4];

		if (!bulk)
			lock_user_credentials(&c->user_id, ShareLock);
		values[0] = UUIDPGetDatum(&c->user_id);
		values[1] = UUIDPGetDatum(&c->session_id);
		values[2] = BoolGetDatum(c->has_session);
		values[3] = TimestampTzGetDatum(auth_now());
		(void) auth_query_run_as_owner(&user_state, values, 1,
									   read_user_state, &now);
		if (!now.found || now.epoch != c->epoch || !now.session_live)
			ereport(ERROR,
					(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
					 errmsg("could not create the credential: the user's credentials ended meanwhile"),
					 errdetail("A ban, password change or reset, claim, sign-out everywhere, or the end of the session it was made under committed while this transaction was creating a session or API key."),
					 errhint("Retry the transaction.")));
	}
}

static void
creation_xact_callback(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_PRE_COMMIT:
			if (pending_creations != NIL)
				recheck_creations();
			break;
		case XACT_EVENT_PRE_PREPARE:
			/* a prepared transaction would hold the check's lock for ever */
			if (pending_creations != NIL)
				ereport(ERROR,
						(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
						 errmsg("cannot prepare a transaction that created a session or API key")));
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
 *   under_session uuid) returns void
 * Notes a session or key being created for the user, with the user's
 * credentials epoch as the proof that allows it was checked against (the
 * password's row, or the user's row), and the session it is made under,
 * if any, to be re-checked before commit.
 */
PG_FUNCTION_INFO_V1(auth_creating_credential);
Datum
auth_creating_credential(PG_FUNCTION_ARGS)
{
	PendingCreation *c;
	MemoryContext old;
	ListCell   *lc;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("user and credentials epoch are required")));

	/*
	 * The same check noted already (a sign-in notes its password's row, then
	 * its session): once is enough.  A noted entry belongs to this
	 * subtransaction or one above it, so it lives at least as long.
	 */
	foreach(lc, pending_creations)
	{
		c = (PendingCreation *) lfirst(lc);
		if (memcmp(&c->user_id, PG_GETARG_UUID_P(0), UUID_LEN) == 0 &&
			c->epoch == PG_GETARG_INT64(1) &&
			c->has_session == !PG_ARGISNULL(2) &&
			(!c->has_session ||
			 memcmp(&c->session_id, PG_GETARG_UUID_P(2), UUID_LEN) == 0))
			PG_RETURN_VOID();
	}
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
	c->has_session = !PG_ARGISNULL(2);
	if (c->has_session)
		memcpy(&c->session_id, PG_GETARG_UUID_P(2), sizeof(pg_uuid_t));
	c->subid = GetCurrentSubTransactionId();
	pending_creations = lappend(pending_creations, c);
	MemoryContextSwitchTo(old);
	PG_RETURN_VOID();
}

/*
 * SQL function: auth._ban_missed(user_id uuid, banned_until timestamptz)
 *   returns boolean
 * Whether, as the latest snapshot sees it, a live session or key of the
 * user does not carry the ban just written: one a REPEATABLE READ ban's
 * snapshot could not see.
 */
PG_FUNCTION_INFO_V1(auth_ban_missed);
Datum
auth_ban_missed(PG_FUNCTION_ARGS)
{
	static AuthQuery missed = {
		.sql = "SELECT EXISTS (SELECT FROM auth.sessions s"
		"  WHERE s.user_id OPERATOR(pg_catalog.=) $1 AND s.revoked_at IS NULL"
		"  AND CASE WHEN $3 THEN s.user_banned_until IS NOT NULL"
		"   ELSE s.user_banned_until IS DISTINCT FROM $2 END)"
		" OR EXISTS (SELECT FROM auth.api_keys k"
		"  WHERE k.user_id OPERATOR(pg_catalog.=) $1 AND k.revoked_at IS NULL"
		"  AND CASE WHEN $3 THEN k.user_banned_until IS NOT NULL"
		"   ELSE k.user_banned_until IS DISTINCT FROM $2 END)",
		.nargs = 3,
		.argtypes = {UUIDOID, TIMESTAMPTZOID, BOOLOID},
		.read_only = true,
		.latest_snapshot = true,
	};
	Datum		values[3];
	bool		result = false;

	if (PG_ARGISNULL(0))
		PG_RETURN_BOOL(false);
	values[0] = PG_GETARG_DATUM(0);
	/* a lifted ban is NULL, passed as a flag (no NULL parameters here) */
	values[1] = PG_ARGISNULL(1) ? TimestampTzGetDatum(0) : PG_GETARG_DATUM(1);
	values[2] = BoolGetDatum(PG_ARGISNULL(1));
	(void) auth_query_run(&missed, values, 1, read_bool, &result);
	PG_RETURN_BOOL(result);
}
