/*
 * autonomous.h: writes outside the caller's transaction (layer 2).
 *
 * Synchronous calls (auth._autonomous: counted attempts, audit rows of
 * refusals) and fire-and-forget writes of the read path (the sliding
 * refresh of a session, the last_used_at touch of an API key), done by
 * the extension's own background workers when auth is preloaded and by
 * short-lived dynamic workers otherwise.  Sits beside catalog.c: it calls
 * nothing above it, and the credential modules hand their writes to it.
 */
#ifndef AUTH_AUTONOMOUS_H
#define AUTH_AUTONOMOUS_H

#include "postgres.h"

#include "utils/timestamp.h"
#include "utils/uuid.h"

/* The writes of the read path that are handed off. */
typedef enum AuthAsyncOp
{
	AUTH_ASYNC_NONE = 0,
	AUTH_ASYNC_REFRESH_SESSION, /* id; expires_at = a, refreshed_at = b */
	AUTH_ASYNC_TOUCH_API_KEY,	/* id; last_used_at = a */
} AuthAsyncOp;

extern void auth_autonomous_init(void);
extern bool auth_autonomous_preloaded(void);
extern bool auth_async_write(AuthAsyncOp op, const pg_uuid_t *id,
							 TimestampTz a, TimestampTz b,
							 TimestampTz stamp, TimestampTz fresh_after);

#endif							/* AUTH_AUTONOMOUS_H */
