/*
 * onetime.c: one-time secrets (magic links, email codes, verification,
 * email change and password reset tokens) need three things from C: a
 * uniformly random 6-digit code, a constant-time comparison of digests,
 * and a count of recent requests that sees every committed request.  The
 * module also defines the settings of one-time secrets.
 */
#include "postgres.h"

#include <openssl/crypto.h>

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "utils/builtins.h"

#include "catalog.h"
#include "onetime.h"
#include "settings.h"
#include "token.h"

static int	magic_link_ttl = 15 * SECS_PER_MINUTE;
static int	magic_link_rate_limit = 5;
static int	magic_link_rate_window = SECS_PER_HOUR;
static bool magic_link_sign_up = true;
static int	email_code_ttl = 5 * SECS_PER_MINUTE;
static int	code_max_attempts = 5;
static int	email_verification_ttl = SECS_PER_HOUR;
static int	password_reset_ttl = SECS_PER_HOUR;

/* The settings of one-time secrets, read by their SQL functions. */
void
auth_onetime_init(void)
{
	auth_define_seconds("auth.magic_link_ttl",
						"Lifetime of a magic link.",
						&magic_link_ttl, 60, 7 * SECS_PER_DAY);
	auth_define_count("auth.magic_link_rate_limit",
					  "Magic links, codes, verification and reset messages "
					  "requested per email within "
					  "auth.magic_link_rate_window.",
					  &magic_link_rate_limit, 1, 1000);
	auth_define_seconds("auth.magic_link_rate_window",
						"Window in which requests per email are counted.",
						&magic_link_rate_window, 1, AUTH_YEAR_SECS);
	auth_define_flag("auth.magic_link_sign_up",
					 "Whether a magic link or sign-in code for an unknown "
					 "email creates the user.",
					 &magic_link_sign_up);
	auth_define_seconds("auth.email_code_ttl",
						"Lifetime of a 6-digit email code.",
						&email_code_ttl, 60, SECS_PER_DAY);
	auth_define_count("auth.code_max_attempts",
					  "Wrong tries after which a 6-digit code dies.",
					  &code_max_attempts, 1, 100);
	auth_define_seconds("auth.email_verification_ttl",
						"Lifetime of an email verification or "
						"email change link.",
						&email_verification_ttl, 60, 30 * SECS_PER_DAY);
	auth_define_seconds("auth.password_reset_ttl",
						"Lifetime of a password reset link.",
						&password_reset_ttl, 60, 7 * SECS_PER_DAY);
}

/* SQL function: auth._generate_code() returns text */
PG_FUNCTION_INFO_V1(auth_generate_code);
Datum
auth_generate_code(PG_FUNCTION_ARGS)
{
	uint32		v;
	char		code[7];

	/* rejection sampling: 4294000000 is the largest multiple of 10^6 */
	do
	{
		auth_random_bytes(&v, sizeof(v));
	} while (v >= 4294000000U);
	snprintf(code, sizeof(code), "%06u", v % 1000000);
	PG_RETURN_TEXT_P(cstring_to_text(code));
}

/* SQL function: auth._secret_equal(a bytea, b bytea) returns boolean */
PG_FUNCTION_INFO_V1(auth_secret_equal);
Datum
auth_secret_equal(PG_FUNCTION_ARGS)
{
	bytea	   *a = PG_GETARG_BYTEA_PP(0);
	bytea	   *b = PG_GETARG_BYTEA_PP(1);

	PG_RETURN_BOOL(VARSIZE_ANY_EXHDR(a) == VARSIZE_ANY_EXHDR(b) &&
				   CRYPTO_memcmp(VARDATA_ANY(a), VARDATA_ANY(b),
								 VARSIZE_ANY_EXHDR(a)) == 0);
}

/* Reads the one integer a count returns. */
static void
read_count(SPITupleTable *rows, uint64 nrows, void *arg)
{
	bool		isnull;

	if (nrows != 1)
		elog(ERROR, "could not count requests");
	*(int32 *) arg = DatumGetInt32(SPI_getbinval(rows->vals[0], rows->tupdesc,
												 1, &isnull));
}

/*
 * SQL function: auth._recent_requests(email text, since timestamptz)
 *   returns integer
 * The secrets requested for an email since a time, counted with the latest
 * snapshot rather than the transaction's: the caller holds the email's
 * advisory lock, and even in a REPEATABLE READ transaction must see the
 * requests committed by whoever held it before.
 */
PG_FUNCTION_INFO_V1(auth_recent_requests);
Datum
auth_recent_requests(PG_FUNCTION_ARGS)
{
	static AuthQuery recent = {
		.sql = "SELECT pg_catalog.count(*)::pg_catalog.int4"
		" FROM auth.one_time_secrets s"
		" WHERE s.email OPERATOR(pg_catalog.=) $1"
		" AND s.created_at OPERATOR(pg_catalog.>) $2",
		.nargs = 2,
		.argtypes = {TEXTOID, TIMESTAMPTZOID},
		.read_only = true,
		.latest_snapshot = true,
	};
	Datum		values[2] = {PG_GETARG_DATUM(0), PG_GETARG_DATUM(1)};
	int32		count = 0;

	(void) auth_query_run(&recent, values, 1, read_count, &count);
	PG_RETURN_INT32(count);
}

/*
 * SQL function: auth._supersede_secrets(email text, purpose text,
 *   at timestamptz) returns integer
 * Marks the unused secrets of an email and purpose superseded, finding them
 * with the latest snapshot: the caller holds the email's advisory lock, and
 * even in a REPEATABLE READ transaction must reach a link issued and
 * committed after its snapshot was taken.
 */
PG_FUNCTION_INFO_V1(auth_supersede_secrets);
Datum
auth_supersede_secrets(PG_FUNCTION_ARGS)
{
	static AuthQuery supersede = {
		.sql = "UPDATE auth.one_time_secrets s SET invalidated_at = $3"
		" WHERE s.email OPERATOR(pg_catalog.=) $1"
		" AND s.purpose OPERATOR(pg_catalog.=) $2"
		" AND s.consumed_at IS NULL AND s.invalidated_at IS NULL",
		.nargs = 3,
		.argtypes = {TEXTOID, TEXTOID, TIMESTAMPTZOID},
		.latest_snapshot = true,
	};
	Datum		values[3] = {PG_GETARG_DATUM(0), PG_GETARG_DATUM(1),
	PG_GETARG_DATUM(2)};

	PG_RETURN_INT32((int32) auth_query_run(&supersede, values, 0, NULL, NULL));
}
