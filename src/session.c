/*
 * session.c: session tokens, verified on the hot path.
 *
 * A token is checked by its shape, hashed, and looked up with one probe of
 * the unique index on auth.sessions(token_hash), straight from C with no
 * SPI round trip.  The session row carries a copy of its user's ban
 * (kept by a trigger on auth.users), so no second probe is needed.
 * Nothing is written in the caller's transaction: a session due for its
 * sliding refresh (at most once per auth.session_refresh_age) is extended
 * by a worker (autonomous.c), so that the caller holds no lock on the row
 * a revocation must write; never on a hot standby or for a read-only
 * transaction.  A session created before the cutoff that
 * auth.revoke_all_sessions() stores is dead too: the probe compares its
 * created_at with the cutoff, which is read at most once per snapshot.
 * The module registers the identity kind "session" and defines the
 * sessions' settings.
 */
#include "postgres.h"

#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "access/transam.h"
#include "access/xlog.h"
#include "catalog/pg_type.h"
#include "fmgr.h"
#include "funcapi.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/memutils.h"
#include "utils/jsonb.h"
#include "utils/rel.h"

#include "autonomous.h"
#include "catalog.h"
#include "clock.h"
#include "identity.h"
#include "session.h"
#include "settings.h"
#include "token.h"

static int	session_ttl = 7 * SECS_PER_DAY;
static int	session_refresh_age = SECS_PER_DAY;
static int	session_max_lifetime = 30 * SECS_PER_DAY;
static int	cleanup_grace = SECS_PER_DAY;
static int	fresh_age = SECS_PER_DAY;

static bool session_is_live(const AuthIdentity *ident, AuthIdentity *settled);
static bool session_assurance(const AuthIdentity *ident, MemoryContext mcxt,
							  Datum *amr, TimestampTz *auth_time);

static const AuthCredentialKind session_kind = {
	.syntax = {.name = "session", .credential_id = true},
	.id_field = "session_id",
	.manages_account = true,
	.is_live = session_is_live,
	.assurance = session_assurance,
};
static int	session_kind_id;

void
auth_session_init(void)
{
	auth_define_seconds("auth.session_ttl",
						"Lifetime of a new session, "
						"renewed by sliding expiry.",
						&session_ttl, 60, 10 * AUTH_YEAR_SECS);
	auth_define_seconds("auth.session_refresh_age",
						"Age of the last refresh after which "
						"verifying a session extends it.",
						&session_refresh_age, 0, 10 * AUTH_YEAR_SECS);
	auth_define_seconds("auth.session_max_lifetime",
						"Time after creation beyond which "
						"no session is extended.",
						&session_max_lifetime, 60, 10 * AUTH_YEAR_SECS);
	auth_define_seconds("auth.cleanup_grace",
						"Time a session stays after it expired or was revoked "
						"before auth.cleanup() removes it.",
						&cleanup_grace, 0, 10 * AUTH_YEAR_SECS);
	auth_define_seconds("auth.fresh_age",
						"Time after a session's last authentication within "
						"which it may delete the account without the password.",
						&fresh_age, 0, 10 * AUTH_YEAR_SECS);
	session_kind_id = auth_register_credential_kind(&session_kind);
}

/* Whether an identity stands on a session. */
bool
auth_identity_is_session(const AuthIdentity *ident)
{
	return ident->kind == session_kind_id;
}

/* A row of auth.sessions, as far as verification reads it. */
typedef struct SessionRow
{
	pg_uuid_t	id;
	pg_uuid_t	user_id;
	TimestampTz created_at;
	TimestampTz refreshed_at;
	TimestampTz expires_at;
	bool		revoked;
	bool		banned;
	bool		has_org;
	pg_uuid_t	active_org_id;
	int			aal;			/* 2 after a second factor */
	bool		impersonation;	/* never extended */
} SessionRow;

enum
{
	COL_ID,
	COL_USER_ID,
	COL_CREATED_AT,
	COL_REFRESHED_AT,
	COL_EXPIRES_AT,
	COL_REVOKED_AT,
	COL_USER_BANNED_UNTIL,
	COL_ACTIVE_ORG_ID,
	COL_AAL,
	COL_AMR,
	COL_AUTH_TIME,
	COL_IMPERSONATOR_ID,
	NUM_COLUMNS
};
static const char *const column_names[NUM_COLUMNS] = {
	[COL_ID] = "id",
	[COL_USER_ID] = "user_id",
	[COL_CREATED_AT] = "created_at",
	[COL_REFRESHED_AT] = "refreshed_at",
	[COL_EXPIRES_AT] = "expires_at",
	[COL_REVOKED_AT] = "revoked_at",
	[COL_USER_BANNED_UNTIL] = "user_banned_until",
	[COL_ACTIVE_ORG_ID] = "active_org_id",
	[COL_AAL] = "?aal",
	[COL_AMR] = "?amr",
	[COL_AUTH_TIME] = "?auth_time",
	[COL_IMPERSONATOR_ID] = "?impersonator_id",	/* 0.2.0 */
};
static AttrNumber column_attnums[NUM_COLUMNS];
static AuthColumnMap columns = AUTH_COLUMN_MAP(column_names, column_attnums);

/*
 * The cutoff of auth.revoke_all_sessions(): the one row of
 * auth.session_epoch, read with the query's snapshot.  Two snapshots that
 * see the same transactions as committed (same xmax, same running xids)
 * see the same row, so the value read with one is kept for the next until
 * another transaction commits: a backend serving only reads reads it once.
 * A transaction that has written (it may have stored a cutoff itself)
 * reads it every time and keeps nothing.
 */
typedef struct CutoffCache
{
	bool		valid;
	TimestampTz value;
	/* what identifies the snapshots it holds for */
	TransactionId xmax;
	uint32		xcnt;
	int32		subxcnt;
	bool		suboverflowed;
	bool		recovery;
	TransactionId *xids;		/* xip, then subxip */
	Size		xids_size;
} CutoffCache;

static CutoffCache cutoff;

static const char *const epoch_column_names[] = {"not_before"};
static AttrNumber epoch_column_attnums[lengthof(epoch_column_names)];
static AuthColumnMap epoch_columns =
	AUTH_COLUMN_MAP(epoch_column_names, epoch_column_attnums);

static bool
cutoff_matches(Snapshot snap)
{
	return cutoff.valid &&
		snap->xmax == cutoff.xmax &&
		snap->xcnt == cutoff.xcnt &&
		snap->subxcnt == cutoff.subxcnt &&
		snap->suboverflowed == cutoff.suboverflowed &&
		snap->takenDuringRecovery == cutoff.recovery &&
		(snap->xcnt == 0 ||
		 memcmp(snap->xip, cutoff.xids,
				snap->xcnt * sizeof(TransactionId)) == 0) &&
		(snap->subxcnt <= 0 ||
		 memcmp(snap->subxip, cutoff.xids + snap->xcnt,
				snap->subxcnt * sizeof(TransactionId)) == 0);
}

static void
cutoff_remember(Snapshot snap, TimestampTz value)
{
	Size		n = snap->xcnt + Max(snap->subxcnt, 0);

	cutoff.valid = false;
	if (n > cutoff.xids_size)
	{
		if (cutoff.xids != NULL)
			pfree(cutoff.xids);
		cutoff.xids = NULL;
		cutoff.xids = MemoryContextAlloc(TopMemoryContext,
										 n * sizeof(TransactionId));
		cutoff.xids_size = n;
	}
	if (snap->xcnt > 0)
		memcpy(cutoff.xids, snap->xip, snap->xcnt * sizeof(TransactionId));
	if (snap->subxcnt > 0)
		memcpy(cutoff.xids + snap->xcnt, snap->subxip,
			   snap->subxcnt * sizeof(TransactionId));
	cutoff.xmax = snap->xmax;
	cutoff.xcnt = snap->xcnt;
	cutoff.subxcnt = snap->subxcnt;
	cutoff.suboverflowed = snap->suboverflowed;
	cutoff.recovery = snap->takenDuringRecovery;
	cutoff.value = value;
	cutoff.valid = true;
}

static TimestampTz
sessions_not_before(void)
{
	Snapshot	snap = auth_read_snapshot();
	bool		keep = snap->snapshot_type == SNAPSHOT_MVCC &&
		!TransactionIdIsValid(GetTopTransactionIdIfAny());
	Oid			relid;
	TimestampTz value = DT_NOBEGIN;

	if (keep && cutoff_matches(snap))
		return cutoff.value;
	/* a database not yet updated from 0.1.0 has no cutoff */
	relid = auth_rel_oid_if_any(AUTH_REL_SESSION_EPOCH);
	if (OidIsValid(relid))
	{
		Relation	rel = table_open(relid, AccessShareLock);
		TableScanDesc scan = table_beginscan(rel, snap, 0, NULL);
		TupleTableSlot *slot = table_slot_create(rel, NULL);

		auth_columns_resolve(rel, &epoch_columns);
		if (table_scan_getnextslot(scan, ForwardScanDirection, slot))
		{
			bool		isnull;
			TimestampTz t;

			slot_getallattrs(slot);
			t = auth_slot_timestamp(slot, &epoch_columns, 0, &isnull);
			if (!isnull)
				value = t;
		}
		table_endscan(scan);
		ExecDropSingleTupleTableSlot(slot);
		table_close(rel, NoLock);
	}
	if (keep)
		cutoff_remember(snap, value);
	else
		cutoff.valid = false;
	return value;
}

/*
 * Looks a session up by one of its unique indexes and fills row; returns
 * whether it is live: not revoked, not expired, its user not banned,
 * created after the cutoff of auth.revoke_all_sessions().
 * With mcxt, also copies its amr (into mcxt) and auth_time.
 * The lock is kept to the end of the transaction (NoLock on close), so
 * later calls in the same transaction find it already held.
 */
static bool
fetch_live_session(AuthRel index, RegProcedure eqproc, Datum key,
				   SessionRow *row, MemoryContext mcxt, Datum *amr,
				   TimestampTz *auth_time)
{
	Relation	sessions = auth_table_try_open(AUTH_REL_SESSIONS);
	TupleTableSlot *slot;
	TimestampTz now = auth_now();
	bool		live = false;

	if (sessions == NULL)
		return false;
	slot = table_slot_create(sessions, NULL);

	auth_columns_resolve(sessions, &columns);
	if (auth_probe_index(sessions, auth_rel_oid(index), eqproc, key, slot))
	{
		bool		isnull;
		TimestampTz banned_until;

		auth_slot_uuid(slot, &columns, COL_ID, &row->id);
		auth_slot_uuid(slot, &columns, COL_USER_ID, &row->user_id);
		row->created_at = auth_slot_timestamp(slot, &columns, COL_CREATED_AT,
											  &isnull);
		row->refreshed_at = auth_slot_timestamp(slot, &columns,
												COL_REFRESHED_AT, &isnull);
		row->expires_at = auth_slot_timestamp(slot, &columns, COL_EXPIRES_AT,
											  &isnull);
		row->revoked = !auth_slot_isnull(slot, &columns, COL_REVOKED_AT);
		banned_until = auth_slot_timestamp(slot, &columns,
										   COL_USER_BANNED_UNTIL, &isnull);
		row->banned = !isnull && banned_until > now;
		row->has_org = auth_slot_uuid(slot, &columns, COL_ACTIVE_ORG_ID,
									  &row->active_org_id);
		/* (the columns of assurance come with 0.2.0's SQL) */
		row->aal = auth_has_column(&columns, COL_AAL) ?
			DatumGetInt16(auth_slot_datum(slot, &columns, COL_AAL)) : 1;
		if (mcxt != NULL && !auth_has_column(&columns, COL_AMR))
			*amr = (Datum) 0;
		else if (mcxt != NULL)
		{
			MemoryContext old = MemoryContextSwitchTo(mcxt);

			*amr = PointerGetDatum(DatumGetJsonbPCopy(
				auth_slot_datum(slot, &columns, COL_AMR)));
			MemoryContextSwitchTo(old);
			*auth_time = auth_slot_timestamp(slot, &columns, COL_AUTH_TIME,
											 &isnull);
			if (isnull)			/* a session from before 0.2.0 */
				*auth_time = row->created_at;
		}
		row->impersonation = !auth_slot_isnull(slot, &columns,
											   COL_IMPERSONATOR_ID);
		live = !row->revoked && !row->banned && row->expires_at > now &&
			row->created_at > sessions_not_before();
	}
	ExecDropSingleTupleTableSlot(slot);
	table_close(sessions, NoLock);
	return live;
}

/*
 * Sliding expiry: extends a session (not an impersonation session, whose
 * end is fixed when it starts) last refreshed more than
 * auth.session_refresh_age ago to now + auth.session_ttl, capped at
 * created_at + auth.session_max_lifetime.  The write is handed to a worker
 * and not waited for: in the caller's transaction it would hold the row
 * until the caller commits, and revoking the session, banning its user or
 * changing the password would wait for that (lifecycle property 3).  The
 * worker skips a row someone holds; the refresh is then due again at the
 * next verification.
 */
static void
refresh_if_due(SessionRow *row)
{
	TimestampTz now = auth_now();
	TimestampTz new_expires;

	/*
	 * No write on a standby.  A read-only transaction (a GET through
	 * PostgREST) still hands the refresh off: the worker writes it in a
	 * transaction of its own.
	 */
	if (row->refreshed_at >
		now - (TimestampTz) session_refresh_age * USECS_PER_SEC ||
		row->impersonation || RecoveryInProgress())
		return;
	new_expires = Min(now + (TimestampTz) session_ttl * USECS_PER_SEC,
					  row->created_at +
					  (TimestampTz) session_max_lifetime * USECS_PER_SEC);
	if (new_expires <= row->expires_at)
		return;
	if (auth_async_write(AUTH_ASYNC_REFRESH_SESSION, &row->id, new_expires,
						 now, now,
						 now - (TimestampTz) session_refresh_age *
						 USECS_PER_SEC))
		row->expires_at = new_expires;
}

/*
 * Verifies a session token (len bytes); on success fills row and returns
 * true.  A token of the wrong shape reads no table.
 */
static bool
verify_token(const char *token, Size len, SessionRow *row)
{
	AuthDigest	digest;

	if (!auth_token_hash_if_shaped(AUTH_SESSION_PREFIX, token, len, &digest))
		return false;
	if (!fetch_live_session(AUTH_REL_SESSIONS_TOKEN_HASH_KEY, F_BYTEAEQ,
							PointerGetDatum(digest.bytes), row, NULL, NULL,
							NULL))
		return false;
	refresh_if_due(row);
	return true;
}

/*
 * The liveness callback of the kind: whether the session exists, belongs
 * to the identity's user and is live; brings the active organization up to
 * date.
 */
static bool
session_is_live(const AuthIdentity *ident, AuthIdentity *settled)
{
	SessionRow	row;

	if (!fetch_live_session(AUTH_REL_SESSIONS_PKEY, F_UUID_EQ,
							UUIDPGetDatum(&ident->credential_id), &row, NULL,
							NULL, NULL) ||
		memcmp(&row.user_id, &ident->user_id, UUID_LEN) != 0)
		return false;
	settled->has_org = row.has_org;
	settled->org_id = row.active_org_id;
	settled->aal = row.aal >= 2 ? 2 : 1;
	return true;
}

/*
 * The assurance callback of the kind: the session's amr and auth_time, as
 * its row has them (one probe, once per identity and transaction).
 */
static bool
session_assurance(const AuthIdentity *ident, MemoryContext mcxt, Datum *amr,
				  TimestampTz *auth_time)
{
	SessionRow	row;

	return fetch_live_session(AUTH_REL_SESSIONS_PKEY, F_UUID_EQ,
							  UUIDPGetDatum(&ident->credential_id), &row,
							  mcxt, amr, auth_time) &&
		*amr != (Datum) 0 &&
		memcmp(&row.user_id, &ident->user_id, UUID_LEN) == 0;
}

/*
 * SQL function: auth.verify_session(token text)
 *   returns (user_id uuid, session_id uuid, expires_at timestamptz)
 * All NULL when the token is not a live session's; never raises for a bad
 * token.
 */
PG_FUNCTION_INFO_V1(auth_verify_session);
Datum
auth_verify_session(PG_FUNCTION_ARGS)
{
	text	   *token = PG_GETARG_TEXT_PP(0);
	TupleDesc	tupdesc = auth_result_tupdesc(fcinfo);
	SessionRow	row;
	Datum		values[3];
	bool		nulls[3] = {true, true, true};

	if (verify_token(VARDATA_ANY(token), VARSIZE_ANY_EXHDR(token), &row))
	{
		values[0] = auth_uuid_datum(&row.user_id);
		values[1] = auth_uuid_datum(&row.id);
		values[2] = TimestampTzGetDatum(row.expires_at);
		nulls[0] = nulls[1] = nulls[2] = false;
	}
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc,
													  values, nulls)));
}

/*
 * SQL function: auth.authenticate(token text, is_local boolean) returns uuid
 * Sets the identity for the transaction (or the connection) and returns the
 * user's id; 28000 for a token that is not a live session's.
 */
PG_FUNCTION_INFO_V1(auth_authenticate);
Datum
auth_authenticate(PG_FUNCTION_ARGS)
{
	SessionRow	row;
	AuthIdentity ident;
	text	   *token;

	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("is_local must not be null")));
	token = PG_ARGISNULL(0) ? NULL : PG_GETARG_TEXT_PP(0);
	if (token == NULL ||
		!verify_token(VARDATA_ANY(token), VARSIZE_ANY_EXHDR(token), &row))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
				 errmsg("invalid session token"),
				 errdetail("The token is malformed, unknown, expired or revoked, or its user is suspended."),
				 errhint("Sign in again to get a new session token.")));

	memset(&ident, 0, sizeof(ident));
	ident.kind = session_kind_id;
	ident.user_id = row.user_id;
	ident.credential_id = row.id;
	ident.has_org = row.has_org;
	ident.org_id = row.active_org_id;
	ident.aal = row.aal >= 2 ? 2 : 1;
	auth_identity_set(&ident, PG_GETARG_BOOL(1));
	PG_RETURN_DATUM(auth_uuid_datum(&row.user_id));
}

/* SQL function: auth.session_id() returns uuid */
PG_FUNCTION_INFO_V1(auth_session_id);
Datum
auth_session_id(PG_FUNCTION_ARGS)
{
	const AuthIdentity *ident = auth_identity_current();

	const char *field;

	/* a session's, or one a credential derived from a session names */
	if (ident == NULL ||
		(ident->kind != session_kind_id &&
		 ((field = auth_identity_credential_field(ident)) == NULL ||
		  strcmp(field, "session_id") != 0)))
		PG_RETURN_NULL();
	return auth_uuid_datum_cached(fcinfo, &ident->credential_id);
}
