/*
 * postgrest.c: the settings of auth.postgrest_pre_request(), which is SQL
 * (src/sql/94_postgrest.sql): where a request's credential travels.
 *
 * PostgREST refuses an Authorization: Bearer value that is not a JWT it
 * can verify before any hook runs, so session tokens and API keys travel
 * in a cookie or in a header of their own.  The prefix auth. is reserved,
 * so these must be defined here for current_setting() to read them.
 */
#include "postgres.h"

#include "utils/guc.h"

#include "postgrest.h"

static char *cookie_name = NULL;
static char *token_header = NULL;

void
auth_postgrest_init(void)
{
	DefineCustomStringVariable("auth.cookie_name",
							   "Cookie auth.postgrest_pre_request() reads "
							   "the credential from; empty for none.",
							   NULL, &cookie_name, "auth_session",
							   PGC_SUSET, 0, NULL, NULL, NULL);
	DefineCustomStringVariable("auth.token_header",
							   "Request header (lower case) "
							   "auth.postgrest_pre_request() reads the "
							   "credential from; empty for none.",
							   NULL, &token_header, "x-auth-token",
							   PGC_SUSET, 0, NULL, NULL, NULL);
}
