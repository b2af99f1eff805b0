/*
 * attempts.h: attempts counted against a limit (layer 5): the request both
 * counting paths read (attempts.c, in the worker; attempt_ledger.c, in the
 * caller's backend with shared memory).
 */
#ifndef AUTH_ATTEMPTS_H
#define AUTH_ATTEMPTS_H

#include "postgres.h"

#include "lib/stringinfo.h"
#include "utils/jsonb.h"
#include "utils/timestamp.h"

#define MAX_ATTEMPT_KEYS	8	/* keys one request may count */

typedef struct AttemptKey
{
	char	   *scope;
	bytea	   *key;
	char	   *lock;			/* scope:hex(key), the lock's name */
	Interval   *window;
	int32		max;
} AttemptKey;

/*
 * The keys of an attempts request ({"op": "attempts", "at", "attempts":
 * [...]}, or one {"op": "attempt", ...}); false when request is not one.
 */
extern bool auth_attempts_parse(Jsonb *request, AttemptKey *keys, int *nkeys,
								TimestampTz *at, bool *single);

extern void auth_attempts_answer(StringInfo answer, bool allowed, int count,
								 TimestampTz retry_at);

#endif							/* AUTH_ATTEMPTS_H */
