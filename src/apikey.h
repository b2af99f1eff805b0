/*
 * apikey.h: API keys (layer 4), shared by the files of the module:
 * apikey.c (reading and verifying a key, its SQL entry points),
 * apikey_usage.c (counting a use against the key's limits) and
 * apikey_window.c (rate-limit windows in shared memory).
 */
#ifndef AUTH_APIKEY_H
#define AUTH_APIKEY_H

#include "postgres.h"

#include "utils/timestamp.h"
#include "utils/uuid.h"

#include "identity.h"

extern void auth_api_key_init(void);

/* SQL function auth.authenticate_api_key, also called by request.c */
extern Datum auth_authenticate_api_key(PG_FUNCTION_ARGS);

/* apikey.c */
extern int	auth_api_key_touch_interval;

typedef enum KeyCode
{
	KEY_VALID = 0,
	KEY_INVALID,
	KEY_EXPIRED,
	KEY_DISABLED,
	KEY_REVOKED,
	KEY_RATE_LIMITED,
	KEY_USAGE_EXCEEDED,
	KEY_INSUFFICIENT_SCOPE,
	KEY_NUM_CODES
} KeyCode;

extern const char *const auth_key_code_names[KEY_NUM_CODES];

/*
 * The longest chain of keys made by keys: a key has at most this many keys
 * above it.  auth._create_api_key refuses to make a key deeper, and
 * verification walks at most this many ancestors (a longer chain, which
 * only a 0.1.0 database can hold, is INVALID).
 */
#define AUTH_API_KEY_MAX_ANCESTORS 7

/* A row of auth.api_keys, as far as verification reads it. */
typedef struct KeyRow
{
	pg_uuid_t	key_id;
	pg_uuid_t	user_id;
	bool		has_parent;		/* made by a key: parent_key_id is set */
	pg_uuid_t	parent_key_id;
	bool		has_org;
	pg_uuid_t	org_id;
	char		scopes[AUTH_SCOPES_BUFLEN];
	uint8		tag[AUTH_KEY_TAG_LEN];	/* of the secret presented */
	uint8		current_tag[AUTH_KEY_TAG_LEN];	/* of key_hash */
	bool		previous_live;	/* previous_key_hash within its grace */
	uint8		previous_tag[AUTH_KEY_TAG_LEN];
	bool		enabled;
	bool		revoked;
	bool		banned;
	bool		expired;
	bool		has_rate_limit;
	int32		rate_limit_max;
	int64		rate_limit_window_us;
	bool		has_row_window; /* a window counted in the row, if any */
	int32		row_count;
	TimestampTz row_window_start;
	bool		has_remaining;
	int32		remaining;		/* as the query's snapshot sees it */
	TimestampTz last_used_at;	/* 0 when never */
} KeyRow;

/* The outcome of a verification. */
typedef struct KeyVerdict
{
	KeyCode		code;
	bool		found;			/* a row was found (key_id is set) */
	KeyRow		row;
	bool		has_remaining;
	int32		remaining;
	bool		has_retry;
	Interval	retry_after;
} KeyVerdict;

/* apikey_usage.c */
extern void auth_api_key_count_use(KeyVerdict *v);

/* apikey_window.c */
typedef enum WindowResult
{
	WINDOW_OK,
	WINDOW_LIMITED,
	WINDOW_FULL					/* no slot left for the key */
} WindowResult;

extern void auth_api_key_window_init(void);
extern bool auth_api_key_windows_in_memory(void);
extern WindowResult auth_api_key_window_take(const pg_uuid_t *key_id,
											 int32 max, int64 window_us,
											 TimestampTz now,
											 int32 seed_count,
											 TimestampTz seed_end,
											 TimestampTz *window_end,
											 int64 *retry_us);
extern void auth_api_key_window_refund(const pg_uuid_t *key_id,
									   TimestampTz window_end);

#endif							/* AUTH_APIKEY_H */
