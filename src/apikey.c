/*
 * apikey.c: API keys, read and verified on the hot path.
 *
 * A key "<prefix>_<48 base64url characters>" is checked by its shape, hashed,
 * and looked up with one probe of the unique index on
 * auth.api_keys(key_hash), straight from C like a session token (a miss
 * tries the hash a rotation keeps for its grace period).  The row carries
 * its owner's ban, so a key without limits costs one probe and no write
 * beyond an occasional touch; a key made by a key costs one more probe of
 * the primary key per key above it, since it lives only while they all do
 * (apikey_usage.c counts uses against limits, apikey_window.c keeps
 * rate-limit windows in shared memory).  The module
 * registers the identity kind "api_key", whose value names the key, the
 * secret shown (a tag of its hash) and the key's scopes.
 */
#include "postgres.h"

#include "access/table.h"
#include "access/tableam.h"
#include "catalog/pg_type.h"
#include "fmgr.h"
#include "funcapi.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/guc.h"
#include "utils/rel.h"

#include "apikey.h"
#include "catalog.h"
#include "clock.h"
#include "settings.h"
#include "token.h"

int			auth_api_key_touch_interval = SECS_PER_MINUTE;
static char *api_key_prefix = NULL;

const char *const auth_key_code_names[KEY_NUM_CODES] = {
	[KEY_VALID] = NULL,
	[KEY_INVALID] = "INVALID",
	[KEY_EXPIRED] = "EXPIRED",
	[KEY_DISABLED] = "DISABLED",
	[KEY_REVOKED] = "REVOKED",
	[KEY_RATE_LIMITED] = "RATE_LIMITED",
	[KEY_USAGE_EXCEEDED] = "USAGE_EXCEEDED",
	[KEY_INSUFFICIENT_SCOPE] = "INSUFFICIENT_SCOPE",
};

static bool api_key_is_live(const AuthIdentity *ident, AuthIdentity *settled);

static const AuthCredentialKind api_key_kind = {
	.syntax = {.name = "api_key", .credential_id = true, .tag = true,
	.scopes = true},
	.id_field = "api_key_id",
	.manages_account = false,
	.fixed_org = true,
	.is_live = api_key_is_live,
};
static int	api_key_kind_id;

/*
 * A key's prefix: 1 to 16 lowercase letters or digits, none of the
 * extension's own token kinds.
 */
static bool
prefix_is_api_key_prefix(const char *prefix)
{
	return auth_token_prefix_is_valid(prefix) &&
		!auth_token_prefix_is_reserved(prefix);
}

static bool
check_api_key_prefix(char **newval, void **extra, GucSource source)
{
	if (*newval == NULL || !auth_token_prefix_is_valid(*newval))
	{
		GUC_check_errdetail(
			"A prefix is 1 to 16 lowercase letters or digits.");
		return false;
	}
	return true;
}

void
auth_api_key_init(void)
{
	DefineCustomStringVariable("auth.api_key_prefix",
							   "Prefix of new API keys when "
							   "auth.create_api_key is given none.",
							   "1 to 16 lowercase letters or digits; "
							   "secret scanners match it.",
							   &api_key_prefix, "ak", PGC_SUSET, 0,
							   check_api_key_prefix, NULL, NULL);
	auth_define_seconds("auth.api_key_touch_interval",
						"Age of last_used_at after which verifying a key "
						"without limits records the use.",
						&auth_api_key_touch_interval, 0, AUTH_YEAR_SECS);
	auth_api_key_window_init();
	api_key_kind_id = auth_register_credential_kind(&api_key_kind);
}

/* ---------------------------------------------------------------------
 * Reading a key
 * --------------------------------------------------------------------- */

enum
{
	COL_ID,
	COL_USER_ID,
	COL_ORG_ID,
	COL_SCOPES,
	COL_ENABLED,
	COL_EXPIRES_AT,
	COL_REVOKED_AT,
	COL_USER_BANNED_UNTIL,
	COL_RATE_LIMIT_MAX,
	COL_RATE_LIMIT_WINDOW,
	COL_REMAINING,
	COL_REQUEST_COUNT,
	COL_WINDOW_START,
	COL_LAST_USED_AT,
	COL_KEY_HASH,
	COL_PREVIOUS_KEY_HASH,
	COL_PREVIOUS_KEY_EXPIRES_AT,
	COL_PARENT_KEY_ID,
	NUM_COLUMNS
};
static const char *const column_names[NUM_COLUMNS] = {
	[COL_ID] = "id",
	[COL_USER_ID] = "user_id",
	[COL_ORG_ID] = "org_id",
	[COL_SCOPES] = "scopes",
	[COL_ENABLED] = "enabled",
	[COL_EXPIRES_AT] = "expires_at",
	[COL_REVOKED_AT] = "revoked_at",
	[COL_USER_BANNED_UNTIL] = "user_banned_until",
	[COL_RATE_LIMIT_MAX] = "rate_limit_max",
	[COL_RATE_LIMIT_WINDOW] = "rate_limit_window",
	[COL_REMAINING] = "remaining",
	[COL_REQUEST_COUNT] = "request_count",
	[COL_WINDOW_START] = "window_start",
	[COL_LAST_USED_AT] = "last_used_at",
	[COL_KEY_HASH] = "key_hash",
	[COL_PREVIOUS_KEY_HASH] = "previous_key_hash",
	[COL_PREVIOUS_KEY_EXPIRES_AT] = "previous_key_expires_at",
	[COL_PARENT_KEY_ID] = "parent_key_id",
};
static AttrNumber column_attnums[NUM_COLUMNS];
static AuthColumnMap columns = AUTH_COLUMN_MAP(column_names, column_attnums);

/*
 * Copies the first bytes of a hash column into tag; false when it is null
 * or shorter than a tag.
 */
static bool
slot_hash_tag(TupleTableSlot *slot, int col, uint8 *tag)
{
	bytea	   *hash;

	if (auth_slot_isnull(slot, &columns, col))
		return false;
	hash = DatumGetByteaPP(auth_slot_datum(slot, &columns, col));
	if (VARSIZE_ANY_EXHDR(hash) < AUTH_KEY_TAG_LEN)
		return false;
	memcpy(tag, VARDATA_ANY(hash), AUTH_KEY_TAG_LEN);
	return true;
}

/* Fills row from a slot of auth.api_keys. */
static void
read_key_row(TupleTableSlot *slot, TimestampTz now, KeyRow *row)
{
	bool		isnull;
	TimestampTz t;

	memset(row, 0, sizeof(*row));
	(void) slot_hash_tag(slot, COL_KEY_HASH, row->current_tag);
	t = auth_slot_timestamp(slot, &columns, COL_PREVIOUS_KEY_EXPIRES_AT,
							&isnull);
	row->previous_live = !isnull && t > now &&
		slot_hash_tag(slot, COL_PREVIOUS_KEY_HASH, row->previous_tag);
	auth_slot_uuid(slot, &columns, COL_ID, &row->key_id);
	auth_slot_uuid(slot, &columns, COL_USER_ID, &row->user_id);
	row->has_parent = auth_slot_uuid(slot, &columns, COL_PARENT_KEY_ID,
									 &row->parent_key_id);
	row->has_org = auth_slot_uuid(slot, &columns, COL_ORG_ID, &row->org_id);
	auth_scopes_from_array(
		DatumGetArrayTypeP(auth_slot_datum(slot, &columns, COL_SCOPES)),
		row->scopes, sizeof(row->scopes));
	row->enabled = DatumGetBool(auth_slot_datum(slot, &columns, COL_ENABLED));
	t = auth_slot_timestamp(slot, &columns, COL_EXPIRES_AT, &isnull);
	row->expired = !isnull && t <= now;
	row->revoked = !auth_slot_isnull(slot, &columns, COL_REVOKED_AT);
	t = auth_slot_timestamp(slot, &columns, COL_USER_BANNED_UNTIL, &isnull);
	row->banned = !isnull && t > now;
	row->has_rate_limit =
		!auth_slot_isnull(slot, &columns, COL_RATE_LIMIT_MAX) &&
		!auth_slot_isnull(slot, &columns, COL_RATE_LIMIT_WINDOW);
	if (row->has_rate_limit)
	{
		row->rate_limit_max =
			DatumGetInt32(auth_slot_datum(slot, &columns, COL_RATE_LIMIT_MAX));
		row->rate_limit_window_us = auth_interval_usecs(
			DatumGetIntervalP(auth_slot_datum(slot, &columns,
											  COL_RATE_LIMIT_WINDOW)));
	}
	row->row_window_start = auth_slot_timestamp(slot, &columns,
												COL_WINDOW_START, &isnull);
	row->has_row_window = !isnull;
	if (row->has_row_window)
		row->row_count =
			DatumGetInt32(auth_slot_datum(slot, &columns, COL_REQUEST_COUNT));
	row->has_remaining = !auth_slot_isnull(slot, &columns, COL_REMAINING);
	if (row->has_remaining)
		row->remaining =
			DatumGetInt32(auth_slot_datum(slot, &columns, COL_REMAINING));
	row->last_used_at = auth_slot_timestamp(slot, &columns, COL_LAST_USED_AT,
											&isnull);
}

/*
 * Looks a key up by one of the unique indexes and fills row; false when
 * there is no such row.  via_previous: the index is the one on the hash a
 * rotation kept, which counts only until its grace period ends.
 */
static bool
fetch_key(AuthRel index, RegProcedure eqproc, Datum key, bool via_previous,
		  KeyRow *row)
{
	Relation	keys = auth_table_try_open(AUTH_REL_API_KEYS);
	TupleTableSlot *slot;
	bool		found;

	if (keys == NULL)
		return false;
	slot = table_slot_create(keys, NULL);

	auth_columns_resolve(keys, &columns);
	found = auth_probe_index(keys, auth_rel_oid(index), eqproc, key, slot);
	if (found)
	{
		read_key_row(slot, auth_now(), row);
		/* a rotated-out secret counts only within its grace period */
		found = !via_previous || row->previous_live;
	}
	ExecDropSingleTupleTableSlot(slot);
	table_close(keys, NoLock);
	return found;
}

/* What a key is before any limit is applied: valid or why not. */
static KeyCode
static_code(const KeyRow *row)
{
	if (row->banned)
		return KEY_INVALID;
	if (row->revoked)
		return KEY_REVOKED;
	if (!row->enabled)
		return KEY_DISABLED;
	if (row->expired)
		return KEY_EXPIRED;
	return KEY_VALID;
}

/*
 * What a key is, counting the keys above it: a key made by a key lives only
 * while every key above it is live (not revoked, disabled, expired or
 * banned), since a transaction that authenticated with the parent before
 * its end committed can still make a key after it, which the end's cascade
 * did not see.  One probe of the primary key per ancestor, at most
 * AUTH_API_KEY_MAX_ANCESTORS; a key with no parent costs nothing more.
 * The first ancestor that is not live gives its code (a missing ancestor,
 * or a chain longer than the bound, is INVALID).
 */
static KeyCode
chain_code(const KeyRow *row)
{
	KeyCode		code = static_code(row);
	bool		has_parent = row->has_parent;
	pg_uuid_t	parent = row->parent_key_id;

	for (int depth = 0; code == KEY_VALID && has_parent; depth++)
	{
		KeyRow		up;

		if (depth == AUTH_API_KEY_MAX_ANCESTORS ||
			!fetch_key(AUTH_REL_API_KEYS_PKEY, F_UUID_EQ,
					   UUIDPGetDatum(&parent), false, &up) ||
			memcmp(&up.user_id, &row->user_id, UUID_LEN) != 0)
			return KEY_INVALID;
		code = static_code(&up);
		has_parent = up.has_parent;
		parent = up.parent_key_id;
	}
	return code;
}

/*
 * A zero tag names the key, not one of its secrets: the probe of
 * auth_credential_is_live(), for a credential derived from the key (a JWT
 * issued from it lives as long as the key, across rotations).
 */
static bool
tag_is_zero(const uint8 *tag)
{
	for (int i = 0; i < AUTH_KEY_TAG_LEN; i++)
		if (tag[i] != 0)
			return false;
	return true;
}

/*
 * The liveness callback of the kind: whether the key exists, belongs to
 * the identity's user, is live with every key above it, and still accepts
 * the secret whose hash begins with the identity's tag (a rotation ends the
 * secrets it replaced, at once or after their grace).  A key's scopes may
 * have shrunk since it was presented: settled gets the current ones.
 */
static bool
api_key_is_live(const AuthIdentity *ident, AuthIdentity *settled)
{
	KeyRow		row;

	if (!fetch_key(AUTH_REL_API_KEYS_PKEY, F_UUID_EQ,
				   UUIDPGetDatum(&ident->credential_id), false, &row) ||
		memcmp(&row.user_id, &ident->user_id, UUID_LEN) != 0 ||
		chain_code(&row) != KEY_VALID ||
		!(tag_is_zero(ident->tag) ||
		  memcmp(row.current_tag, ident->tag, AUTH_KEY_TAG_LEN) == 0 ||
		  (row.previous_live &&
		   memcmp(row.previous_tag, ident->tag, AUTH_KEY_TAG_LEN) == 0)))
		return false;
	memcpy(settled->scopes, row.scopes, sizeof(settled->scopes));
	return true;
}

/*
 * Finds the row of a key presented by a client.  A key whose prefix is not
 * an API-key prefix or whose body is not 48 base64url characters reads no
 * table.
 */
static bool
find_presented_key(const char *key, Size len, KeyRow *row)
{
	AuthDigest	digest;
	char		prefix[AUTH_PREFIX_MAX + 1];

	if (!auth_token_split_prefix(key, len, prefix) ||
		!prefix_is_api_key_prefix(prefix) ||
		!auth_token_hash_if_shaped_bytes(prefix, AUTH_API_KEY_BYTES, key, len,
										 &digest))
		return false;
	if (!fetch_key(AUTH_REL_API_KEYS_KEY_HASH_KEY, F_BYTEAEQ,
				   PointerGetDatum(digest.bytes), false, row) &&
		!fetch_key(AUTH_REL_API_KEYS_PREVIOUS_KEY_HASH_KEY, F_BYTEAEQ,
				   PointerGetDatum(digest.bytes), true, row))
		return false;
	memcpy(row->tag, VARDATA(digest.bytes), AUTH_KEY_TAG_LEN);
	return true;
}

/*
 * Verifies a presented key: its row, its state, the scopes asked for
 * (required, nrequired C strings), then its limits.  Never raises for a
 * bad key.
 */
static void
verify_key(const char *key, Size len, char **required, int nrequired,
		   KeyVerdict *v)
{
	memset(v, 0, sizeof(*v));
	v->code = KEY_INVALID;
	if (!find_presented_key(key, len, &v->row))
		return;
	v->code = chain_code(&v->row);
	v->found = v->code != KEY_INVALID;
	if (v->code != KEY_VALID)
		return;
	for (int i = 0; i < nrequired; i++)
		if (!auth_scopes_cover(v->row.scopes, required[i]))
		{
			v->code = KEY_INSUFFICIENT_SCOPE;
			return;
		}
	auth_api_key_count_use(v);
}

/* The C strings of a text[] argument; 22023 for a NULL element. */
static char **
required_scopes(ArrayType *arr, int *n)
{
	Datum	   *elems;
	bool	   *nulls;
	char	  **out;

	deconstruct_array(arr, TEXTOID, -1, false, TYPALIGN_INT,
					  &elems, &nulls, n);
	out = palloc(sizeof(char *) * Max(1, *n));
	for (int i = 0; i < *n; i++)
	{
		if (nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("required scopes must not contain null")));
		out[i] = TextDatumGetCString(elems[i]);
	}
	return out;
}

/*
 * SQL function: auth.verify_api_key(key text, required_scopes text[])
 *   returns (valid, code, key_id, user_id, org_id, scopes, remaining,
 *            retry_after)
 * Owner, organization and scopes only when valid; key_id for any key that
 * exists and is not INVALID.
 */
PG_FUNCTION_INFO_V1(auth_verify_api_key);
Datum
auth_verify_api_key(PG_FUNCTION_ARGS)
{
	TupleDesc	tupdesc = auth_result_tupdesc(fcinfo);
	KeyVerdict	v;
	Datum		values[8];
	bool		nulls[8] = {false, false, true, true, true, true, true, true};
	char	  **required = NULL;
	int			nrequired = 0;

	if (!PG_ARGISNULL(1))
		required = required_scopes(PG_GETARG_ARRAYTYPE_P(1), &nrequired);
	if (PG_ARGISNULL(0))
	{
		memset(&v, 0, sizeof(v));
		v.code = KEY_INVALID;
	}
	else
	{
		text	   *key = PG_GETARG_TEXT_PP(0);

		verify_key(VARDATA_ANY(key), VARSIZE_ANY_EXHDR(key), required,
				   nrequired, &v);
	}

	values[0] = BoolGetDatum(v.code == KEY_VALID);
	if (v.code == KEY_VALID)
		nulls[1] = true;
	else
		values[1] = CStringGetTextDatum(auth_key_code_names[v.code]);
	if (v.found)
	{
		values[2] = auth_uuid_datum(&v.row.key_id);
		nulls[2] = false;
	}
	if (v.code == KEY_VALID)
	{
		values[3] = auth_uuid_datum(&v.row.user_id);
		nulls[3] = false;
		if (v.row.has_org)
		{
			values[4] = auth_uuid_datum(&v.row.org_id);
			nulls[4] = false;
		}
		values[5] = auth_scopes_array(v.row.scopes);
		nulls[5] = false;
	}
	if (v.has_remaining)
	{
		values[6] = Int32GetDatum(v.remaining);
		nulls[6] = false;
	}
	if (v.has_retry)
	{
		Interval   *iv = palloc(sizeof(Interval));

		*iv = v.retry_after;
		values[7] = IntervalPGetDatum(iv);
		nulls[7] = false;
	}
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc,
													  values, nulls)));
}

/*
 * Whole seconds to wait, rounded up and at least 1: the retry_after of
 * the hint every retryable PT429 carries (README "Errors").
 */
static int64
retry_seconds(const Interval *iv)
{
	int64		secs = (iv->time + USECS_PER_SEC - 1) / USECS_PER_SEC +
		(int64) iv->day * SECS_PER_DAY +
		(int64) iv->month * DAYS_PER_MONTH * SECS_PER_DAY;

	return Max(secs, 1);
}

/*
 * SQL function: auth.authenticate_api_key(key text, is_local boolean)
 *   returns uuid
 * Sets the identity (kind api_key) for the transaction or the connection and
 * returns the owner's id; 28000 for a key that is not valid, PT429 when a
 * limit refuses it.
 */
PG_FUNCTION_INFO_V1(auth_authenticate_api_key);
Datum
auth_authenticate_api_key(PG_FUNCTION_ARGS)
{
	KeyVerdict	v;
	AuthIdentity ident;

	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("is_local must not be null")));
	memset(&v, 0, sizeof(v));
	v.code = KEY_INVALID;
	if (!PG_ARGISNULL(0))
	{
		text	   *key = PG_GETARG_TEXT_PP(0);

		verify_key(VARDATA_ANY(key), VARSIZE_ANY_EXHDR(key), NULL, 0, &v);
	}
	if (v.code == KEY_RATE_LIMITED || v.code == KEY_USAGE_EXCEEDED)
		ereport(ERROR,
				(errcode(MAKE_SQLSTATE('P', 'T', '4', '2', '9')),
				 errmsg("API key usage limit reached"),
				 errdetail("Reason: %s.", auth_key_code_names[v.code]),
				 v.has_retry ?
				 errhint("{\"retry_after\": " INT64_FORMAT "}",
						 retry_seconds(&v.retry_after)) : 0));
	if (v.code != KEY_VALID)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
				 errmsg("invalid API key"),
				 errdetail("Reason: %s.", auth_key_code_names[v.code]),
				 errhint("INVALID means malformed, unknown, or its owner is suspended.")));

	memset(&ident, 0, sizeof(ident));
	ident.kind = api_key_kind_id;
	ident.user_id = v.row.user_id;
	ident.credential_id = v.row.key_id;
	ident.has_org = v.row.has_org;
	ident.org_id = v.row.org_id;
	memcpy(ident.scopes, v.row.scopes, sizeof(ident.scopes));
	memcpy(ident.tag, v.row.tag, AUTH_KEY_TAG_LEN);
	auth_identity_set(&ident, PG_GETARG_BOOL(1));
	PG_RETURN_DATUM(auth_uuid_datum(&v.row.user_id));
}

/*
 * SQL function: auth._generate_api_key(prefix text, OUT key text,
 *   OUT key_hash bytea)
 * A fresh key of 288 random bits and its SHA-256.
 */
PG_FUNCTION_INFO_V1(auth_generate_api_key);
Datum
auth_generate_api_key(PG_FUNCTION_ARGS)
{
	char	   *prefix = text_to_cstring(PG_GETARG_TEXT_PP(0));
	char	   *key = auth_token_generate_bytes(prefix, AUTH_API_KEY_BYTES);
	bytea	   *hash = palloc(VARHDRSZ + AUTH_HASH_LEN);
	TupleDesc	tupdesc = auth_result_tupdesc(fcinfo);
	Datum		values[2];
	bool		nulls[2] = {false, false};

	SET_VARSIZE(hash, VARHDRSZ + AUTH_HASH_LEN);
	auth_sha256(key, strlen(key), (uint8 *) VARDATA(hash));
	values[0] = CStringGetTextDatum(key);
	values[1] = PointerGetDatum(hash);
	explicit_bzero(key, strlen(key));
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc,
													  values, nulls)));
}

/* SQL function: auth._api_key_prefix_is_valid(prefix text) returns boolean */
PG_FUNCTION_INFO_V1(auth_api_key_prefix_is_valid);
Datum
auth_api_key_prefix_is_valid(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(prefix_is_api_key_prefix(
		text_to_cstring(PG_GETARG_TEXT_PP(0))));
}

/* SQL function: auth.api_key_id() returns uuid */
PG_FUNCTION_INFO_V1(auth_api_key_id);
Datum
auth_api_key_id(PG_FUNCTION_ARGS)
{
	const AuthIdentity *ident = auth_identity_current();

	const char *field;

	/* a key's, or one a credential derived from a key names */
	if (ident == NULL ||
		(ident->kind != api_key_kind_id &&
		 ((field = auth_identity_credential_field(ident)) == NULL ||
		  strcmp(field, "api_key_id") != 0)))
		PG_RETURN_NULL();
	return auth_uuid_datum_cached(fcinfo, &ident->credential_id);
}
