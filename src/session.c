/*
 * session.c: verifying session tokens on the hot path.
 *
 * A token is checked by its shape, hashed, and looked up with one probe of
 * the unique index on auth.sessions(token_hash), straight from C with no
 * SPI round trip.  The session row carries a copy of its user's ban
 * (kept by a trigger on auth.users), so no second probe is needed.
 * Nothing is written unless the session is due for its sliding refresh
 * (at most once per auth.session_refresh_age), and never on a hot standby
 * or in a read-only transaction.
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "executor/tuptable.h"
#include "fmgr.h"
#include "funcapi.h"
#include "parser/parse_relation.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

#include "auth.h"

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
} SessionRow;

typedef struct SessionAttnums
{
	Oid			relid;
	AttrNumber	id,
				user_id,
				created_at,
				refreshed_at,
				expires_at,
				revoked_at,
				user_banned_until,
				active_org_id;
} SessionAttnums;

static SessionAttnums attnums;

/* Column numbers are looked up again after any change to the table. */
static void
resolve_attnums(Relation sessions)
{
	if (!auth_columns_stale(sessions, &attnums.relid))
		return;
	attnums.id = auth_attnum(sessions, "id");
	attnums.user_id = auth_attnum(sessions, "user_id");
	attnums.created_at = auth_attnum(sessions, "created_at");
	attnums.refreshed_at = auth_attnum(sessions, "refreshed_at");
	attnums.expires_at = auth_attnum(sessions, "expires_at");
	attnums.revoked_at = auth_attnum(sessions, "revoked_at");
	attnums.user_banned_until = auth_attnum(sessions, "user_banned_until");
	attnums.active_org_id = auth_attnum(sessions, "active_org_id");
	attnums.relid = RelationGetRelid(sessions);
}

/* The snapshot a read inside a query uses: the query's own. */
Snapshot
auth_read_snapshot(void)
{
	return ActiveSnapshotSet() ? GetActiveSnapshot() : GetTransactionSnapshot();
}

/*
 * Looks a session up by one of its unique indexes and fills row; returns
 * whether it is live: not revoked, not expired, its user not banned.
 * The lock is kept to the end of the transaction (NoLock on close), so
 * later calls in the same transaction find it already held.
 */
static bool
fetch_live_session(AuthRel index, RegProcedure eqproc, Datum key,
				   SessionRow *row)
{
	Relation	sessions = table_open(auth_rel_oid(AUTH_REL_SESSIONS), AccessShareLock);
	TupleTableSlot *slot = table_slot_create(sessions, NULL);
	TimestampTz now = auth_now();
	bool		live = false;

	resolve_attnums(sessions);
	if (auth_probe_index(sessions, auth_rel_oid(index), eqproc, key, slot))
	{
		bool		isnull;
		TimestampTz banned_until;

		memcpy(&row->id, DatumGetUUIDP(slot->tts_values[attnums.id - 1]), UUID_LEN);
		memcpy(&row->user_id, DatumGetUUIDP(slot->tts_values[attnums.user_id - 1]), UUID_LEN);
		row->created_at = auth_slot_timestamp(slot, attnums.created_at, &isnull);
		row->refreshed_at = auth_slot_timestamp(slot, attnums.refreshed_at, &isnull);
		row->expires_at = auth_slot_timestamp(slot, attnums.expires_at, &isnull);
		(void) auth_slot_timestamp(slot, attnums.revoked_at, &isnull);
		row->revoked = !isnull;
		banned_until = auth_slot_timestamp(slot, attnums.user_banned_until, &isnull);
		row->banned = !isnull && banned_until > now;
		row->has_org = !slot->tts_isnull[attnums.active_org_id - 1];
		if (row->has_org)
			memcpy(&row->active_org_id,
				   DatumGetUUIDP(slot->tts_values[attnums.active_org_id - 1]), UUID_LEN);
		live = !row->revoked && !row->banned && row->expires_at > now;
	}
	ExecDropSingleTupleTableSlot(slot);
	table_close(sessions, NoLock);
	return live;
}

/*
 * Sliding expiry: extends a session last refreshed more than
 * auth.session_refresh_age ago to now + auth.session_ttl, capped at
 * created_at + auth.session_max_lifetime.  A row another transaction is
 * refreshing is skipped rather than waited for.
 */
static void
refresh_if_due(SessionRow *row)
{
	static SPIPlanPtr plan = NULL;
	TimestampTz now = auth_now();
	TimestampTz new_expires;
	Datum		values[3];
	Oid			argtypes[3] = {UUIDOID, TIMESTAMPTZOID, TIMESTAMPTZOID};

	/*
	 * No write on a standby or in a read-only transaction; none either in a
	 * REPEATABLE READ or SERIALIZABLE one, where a concurrent refresh of the
	 * same row would make this verification fail with 40001.
	 */
	if (row->refreshed_at > now - (TimestampTz) auth_session_refresh_age * USECS_PER_SEC ||
		RecoveryInProgress() || XactReadOnly || IsolationUsesXactSnapshot())
		return;
	new_expires = Min(now + (TimestampTz) auth_session_ttl * USECS_PER_SEC,
					  row->created_at + (TimestampTz) auth_session_max_lifetime * USECS_PER_SEC);
	if (new_expires <= row->expires_at)
		return;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	auth_kept_plan(&plan,
				   "UPDATE auth.sessions SET expires_at = $2, refreshed_at = $3"
				   " WHERE id OPERATOR(pg_catalog.=) ("
				   "  SELECT s.id FROM auth.sessions s"
				   "  WHERE s.id OPERATOR(pg_catalog.=) $1 AND s.revoked_at IS NULL"
				   "  FOR UPDATE SKIP LOCKED)",
				   3, argtypes);
	values[0] = UUIDPGetDatum(&row->id);
	values[1] = TimestampTzGetDatum(new_expires);
	values[2] = TimestampTzGetDatum(now);
	if (SPI_execute_plan(plan, values, NULL, false, 0) != SPI_OK_UPDATE)
		elog(ERROR, "could not refresh the session");
	if (SPI_processed == 1)
		row->expires_at = new_expires;
	SPI_finish();
}

static void
session_info_from_row(const SessionRow *row, AuthSessionInfo *info)
{
	info->user_id = row->user_id;
	info->session_id = row->id;
	info->expires_at = row->expires_at;
	info->has_org = row->has_org;
	info->org_id = row->active_org_id;
}

/*
 * Verifies a session token (len bytes); on success fills info and returns
 * true.  A token of the wrong shape reads no table.
 */
bool
auth_session_verify_token(const char *token, Size len, bool allow_refresh,
						  AuthSessionInfo *info)
{
	union
	{
		int32		align;		/* a varlena header must be aligned */
		uint8		bytes[VARHDRSZ + AUTH_HASH_LEN];
	}			hash;
	bytea	   *key = (bytea *) hash.bytes;
	SessionRow	row;

	if (!auth_token_hash_if_shaped(AUTH_SESSION_PREFIX, token, len,
								   (uint8 *) VARDATA(key)))
		return false;
	SET_VARSIZE(key, VARHDRSZ + AUTH_HASH_LEN);
	if (!fetch_live_session(AUTH_REL_SESSIONS_TOKEN_HASH_KEY, F_BYTEAEQ,
							PointerGetDatum(key), &row))
		return false;
	if (allow_refresh)
		refresh_if_due(&row);
	session_info_from_row(&row, info);
	return true;
}

/* Whether the session exists, belongs to user_id and is live; fills info. */
bool
auth_session_is_live(const pg_uuid_t *session_id, const pg_uuid_t *user_id,
					 AuthSessionInfo *info)
{
	SessionRow	row;

	if (!fetch_live_session(AUTH_REL_SESSIONS_PKEY, F_UUID_EQ,
							UUIDPGetDatum(session_id), &row) ||
		memcmp(&row.user_id, user_id, UUID_LEN) != 0)
		return false;
	session_info_from_row(&row, info);
	return true;
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
	TupleDesc	tupdesc = (TupleDesc) fcinfo->flinfo->fn_extra;
	AuthSessionInfo info;
	Datum		values[3];
	bool		nulls[3] = {true, true, true};

	if (tupdesc == NULL)
	{
		MemoryContext old = MemoryContextSwitchTo(fcinfo->flinfo->fn_mcxt);

		if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
			elog(ERROR, "return type must be a row type");
		tupdesc = BlessTupleDesc(CreateTupleDescCopy(tupdesc));
		MemoryContextSwitchTo(old);
		fcinfo->flinfo->fn_extra = tupdesc;
	}
	if (auth_session_verify_token(VARDATA_ANY(token), VARSIZE_ANY_EXHDR(token),
								  true, &info))
	{
		pg_uuid_t  *uid = palloc(sizeof(pg_uuid_t));
		pg_uuid_t  *sid = palloc(sizeof(pg_uuid_t));

		*uid = info.user_id;
		*sid = info.session_id;
		values[0] = UUIDPGetDatum(uid);
		values[1] = UUIDPGetDatum(sid);
		values[2] = TimestampTzGetDatum(info.expires_at);
		nulls[0] = nulls[1] = nulls[2] = false;
	}
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
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
	AuthSessionInfo info;
	AuthIdentity ident;
	text	   *token;
	pg_uuid_t  *result;

	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("is_local must not be null")));
	token = PG_ARGISNULL(0) ? NULL : PG_GETARG_TEXT_PP(0);
	if (token == NULL ||
		!auth_session_verify_token(VARDATA_ANY(token), VARSIZE_ANY_EXHDR(token),
								   true, &info))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
				 errmsg("invalid session token"),
				 errdetail("The token is malformed, unknown, expired or revoked, or its user is suspended."),
				 errhint("Sign in again to get a new session token.")));

	memset(&ident, 0, sizeof(ident));
	ident.kind = AUTH_IDENTITY_SESSION;
	ident.user_id = info.user_id;
	ident.session_id = info.session_id;
	ident.has_org = info.has_org;
	ident.org_id = info.org_id;
	auth_identity_set(&ident, PG_GETARG_BOOL(1));

	result = palloc(sizeof(pg_uuid_t));
	*result = info.user_id;
	PG_RETURN_UUID_P(result);
}
