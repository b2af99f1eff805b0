/*
 * identity.c: who the current database session is acting for.
 *
 * The identity lives in the hidden GUC auth.identity, PGC_SUSET, so that
 * ordinary roles cannot SET it, and PostgreSQL itself clears it at the end
 * of the transaction (or savepoint) that set it locally, on RESET ALL and
 * DISCARD ALL, and copies it into parallel workers.  The check hook parses
 * the value once into a struct; the accessors read that struct.
 *
 * Value format: "" (nobody), "session:<user uuid>:<session uuid>[:<org uuid>]",
 * "user:<user uuid>[:<org uuid>]" (set by a superuser), or
 * "api_key:<user uuid>:<key uuid>[:<org uuid>]#<tag>[/<scope> <scope> ...]",
 * where the tag (16 hex digits) names the secret that was presented, so
 * that a rotation ends the identity too; the optional last uuid is the
 * active organization (a key's is fixed).
 *
 * A session or API-key identity kept for the whole connection (is_local =>
 * false) is re-checked against its table once per transaction, on first
 * use, so revoking or expiring the credential or banning its user takes
 * effect at the connection's next transaction.  The leader settles that check before any
 * query starts (ExecutorStart hook) and clears a dead identity for the
 * transaction, so parallel workers, which trust the value they are handed,
 * always agree with it.
 */
#include "postgres.h"

#include "access/parallel.h"
#include "access/xact.h"
#include "executor/executor.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "catalog/pg_type.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/jsonb.h"

#include "auth.h"

static char *identity_value = NULL;
static const AuthIdentity *identity_current = NULL;

/*
 * Whether identity_current was checked in this transaction, the answer,
 * and the identity as settled by the check (with the session's current
 * active organization).
 */
static bool identity_checked = false;
static bool identity_live = false;
static AuthIdentity identity_settled;

static ExecutorStart_hook_type prev_executor_start = NULL;

static void set_identity_value(const char *value, bool is_local);

static int
hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Parses a canonical 36-character uuid; returns the text after it or NULL. */
static const char *
parse_uuid(const char *s, pg_uuid_t *out)
{
	int			nbytes = 0;

	for (int i = 0; i < 36; i++)
	{
		int			hi,
					lo;

		if (i == 8 || i == 13 || i == 18 || i == 23)
		{
			if (s[i] != '-')
				return NULL;
			continue;
		}
		hi = hex_value(s[i]);
		lo = hi < 0 ? -1 : hex_value(s[i + 1]);
		if (lo < 0)
			return NULL;
		out->data[nbytes++] = (hi << 4) | lo;
		i++;
	}
	return s + 36;
}

static void
append_uuid(StringInfo buf, const pg_uuid_t *u)
{
	static const char hex[] = "0123456789abcdef";

	for (int i = 0; i < UUID_LEN; i++)
	{
		if (i == 4 || i == 6 || i == 8 || i == 10)
			appendStringInfoChar(buf, '-');
		appendStringInfoChar(buf, hex[u->data[i] >> 4]);
		appendStringInfoChar(buf, hex[u->data[i] & 15]);
	}
}

/*
 * Steps through a space-separated list of scopes: returns the next one and
 * its length, or NULL at the end.
 */
static const char *
next_scope(const char **cursor, Size *len)
{
	const char *p = *cursor;
	const char *end;

	while (*p == ' ')
		p++;
	if (*p == '\0')
		return NULL;
	end = strchr(p, ' ');
	*len = end ? (Size) (end - p) : strlen(p);
	*cursor = p + *len;
	return p;
}

/* Parses an optional ":<org uuid>" at s; returns the text after it or NULL. */
static const char *
parse_org(const char *s, AuthIdentity *out)
{
	if (*s != ':')
		return s;
	if ((s = parse_uuid(s + 1, &out->org_id)) == NULL)
		return NULL;
	out->has_org = true;
	return s;
}

/* Parses an optional ":<org uuid>" at s, then the end of the value. */
static bool
parse_org_suffix(const char *s, AuthIdentity *out)
{
	return (s = parse_org(s, out)) != NULL && *s == '\0';
}

/* Parses "#<16 hex digits>" at s; returns the text after it or NULL. */
static const char *
parse_tag(const char *s, uint8 *tag)
{
	if (*s++ != '#')
		return NULL;
	for (int i = 0; i < AUTH_KEY_TAG_LEN; i++)
	{
		int			hi = hex_value(s[0]);
		int			lo = hi < 0 ? -1 : hex_value(s[1]);

		if (lo < 0)
			return NULL;
		tag[i] = (hi << 4) | lo;
		s += 2;
	}
	return s;
}

/* Whether c may appear in a scope (see auth._check_scopes). */
static inline bool
scope_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		(c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.' ||
		c == ':' || c == '*' || c == '/';
}

/* Parses "/<scope> <scope> ..." (or nothing) at s up to the end. */
static bool
parse_scopes(const char *s, AuthIdentity *out)
{
	Size		len;

	if (*s == '\0')
		return true;
	if (*s++ != '/' || (len = strlen(s)) >= sizeof(out->scopes))
		return false;
	for (const char *p = s; *p; p++)
		if (!scope_char(*p) && *p != ' ')
			return false;
	memcpy(out->scopes, s, len + 1);
	return true;
}

static bool
check_identity(char **newval, void **extra, GucSource source)
{
	AuthIdentity parsed;
	const char *s = *newval;
	AuthIdentity *result;
	bool		ok = false;

	memset(&parsed, 0, sizeof(parsed));
	if (s == NULL || *s == '\0')
	{
		parsed.kind = AUTH_IDENTITY_NONE;
		ok = true;
	}
	else if (strncmp(s, "session:", 8) == 0)
	{
		parsed.kind = AUTH_IDENTITY_SESSION;
		ok = (s = parse_uuid(s + 8, &parsed.user_id)) != NULL && *s == ':' &&
			(s = parse_uuid(s + 1, &parsed.session_id)) != NULL &&
			parse_org_suffix(s, &parsed);
	}
	else if (strncmp(s, "user:", 5) == 0)
	{
		parsed.kind = AUTH_IDENTITY_USER;
		ok = (s = parse_uuid(s + 5, &parsed.user_id)) != NULL &&
			parse_org_suffix(s, &parsed);
	}
	else if (strncmp(s, "api_key:", 8) == 0)
	{
		parsed.kind = AUTH_IDENTITY_API_KEY;
		ok = (s = parse_uuid(s + 8, &parsed.user_id)) != NULL && *s == ':' &&
			(s = parse_uuid(s + 1, &parsed.key_id)) != NULL &&
			(s = parse_org(s, &parsed)) != NULL &&
			(s = parse_tag(s, parsed.key_tag)) != NULL &&
			parse_scopes(s, &parsed);
	}
	if (!ok)
	{
		GUC_check_errdetail("Expected \"session:<user uuid>:<session uuid>[:<org uuid>]\", \"user:<user uuid>[:<org uuid>]\" or \"api_key:<user uuid>:<key uuid>[:<org uuid>]#<tag>[/<scopes>]\".");
		return false;
	}

#if PG_VERSION_NUM >= 160000
	result = guc_malloc(LOG, sizeof(AuthIdentity));
#else
	result = malloc(sizeof(AuthIdentity));	/* GUC frees extras with free() */
#endif
	if (result == NULL)
		return false;
	*result = parsed;
	*extra = result;
	return true;
}

static void
assign_identity(const char *newval, void *extra)
{
	identity_current = extra;
	identity_checked = false;
}

static void
identity_xact_callback(XactEvent event, void *arg)
{
	identity_checked = false;
}

/* Whether the identity stands for a credential that can die: a session or a key. */
static inline bool
needs_recheck(const AuthIdentity *ident)
{
	return ident->kind == AUTH_IDENTITY_SESSION || ident->kind == AUTH_IDENTITY_API_KEY;
}

/* Whether two identities name the same active organization (or none). */
static bool
same_org(const AuthIdentity *a, const AuthIdentity *b)
{
	return a->has_org == b->has_org &&
		(!a->has_org || memcmp(&a->org_id, &b->org_id, UUID_LEN) == 0);
}

/*
 * Before a query runs in the leader: check a session identity not yet
 * checked in this transaction and, for the transaction, clear it when its
 * session is no longer live, or bring its active organization up to date,
 * before any parallel worker copies the value.
 */
static void
identity_executor_start(QueryDesc *queryDesc, int eflags)
{
	if (!IsParallelWorker() && !IsInParallelMode() &&
		identity_current != NULL && needs_recheck(identity_current))
	{
		const AuthIdentity *settled = auth_identity_current();

		if (settled == NULL)
			set_identity_value("", true);
		else if (!same_org(settled, identity_current) ||
				 strcmp(settled->scopes, identity_current->scopes) != 0)
			auth_identity_set(settled, true);
	}
	if (prev_executor_start)
		prev_executor_start(queryDesc, eflags);
	else
		standard_ExecutorStart(queryDesc, eflags);
}

void
auth_define_identity(void)
{
	DefineCustomStringVariable("auth.identity",
							   "Identity of the current session, set by auth.authenticate().",
							   NULL, &identity_value, "",
							   PGC_SUSET,
							   GUC_NO_SHOW_ALL | GUC_NOT_IN_SAMPLE |
							   GUC_SUPERUSER_ONLY | GUC_DISALLOW_IN_FILE,
							   check_identity, assign_identity, NULL);
	RegisterXactCallback(identity_xact_callback, NULL);
	prev_executor_start = ExecutorStart_hook;
	ExecutorStart_hook = identity_executor_start;
}

/* The current identity, or NULL for nobody. */
const AuthIdentity *
auth_identity_current(void)
{
	const AuthIdentity *ident = identity_current;

	if (ident == NULL || ident->kind == AUTH_IDENTITY_NONE)
		return NULL;
	/* a worker is handed the identity its leader settled */
	if (IsParallelWorker() || !needs_recheck(ident))
		return ident;
	if (!identity_checked)
	{
		identity_settled = *ident;
		if (ident->kind == AUTH_IDENTITY_SESSION)
		{
			AuthSessionInfo info;

			identity_live = auth_session_is_live(&ident->session_id,
												 &ident->user_id, &info);
			if (identity_live)
			{
				identity_settled.has_org = info.has_org;
				identity_settled.org_id = info.org_id;
			}
		}
		else
		{
			AuthApiKeyInfo info;

			/* a key's scopes may have shrunk since it was presented */
			identity_live = auth_api_key_is_live(&ident->key_id, &ident->user_id,
												 ident->key_tag, &info);
			if (identity_live)
				memcpy(identity_settled.scopes, info.scopes, sizeof(info.scopes));
		}
		identity_checked = true;
	}
	return identity_live ? &identity_settled : NULL;
}

static void
set_identity_value(const char *value, bool is_local)
{
	(void) set_config_option("auth.identity", value, PGC_SUSET, PGC_S_SESSION,
							 is_local ? GUC_ACTION_LOCAL : GUC_ACTION_SET,
							 true, 0, false);
}

/* Sets the identity, for the transaction or (is_local false) the session. */
void
auth_identity_set(const AuthIdentity *ident, bool is_local)
{
	StringInfoData buf;
	AuthIdentity copy = *ident;	/* ident may point at identity_settled */

	initStringInfo(&buf);
	if (copy.kind == AUTH_IDENTITY_SESSION)
	{
		appendStringInfoString(&buf, "session:");
		append_uuid(&buf, &copy.user_id);
		appendStringInfoChar(&buf, ':');
		append_uuid(&buf, &copy.session_id);
	}
	else if (copy.kind == AUTH_IDENTITY_USER)
	{
		appendStringInfoString(&buf, "user:");
		append_uuid(&buf, &copy.user_id);
	}
	else if (copy.kind == AUTH_IDENTITY_API_KEY)
	{
		appendStringInfoString(&buf, "api_key:");
		append_uuid(&buf, &copy.user_id);
		appendStringInfoChar(&buf, ':');
		append_uuid(&buf, &copy.key_id);
	}
	if (copy.kind != AUTH_IDENTITY_NONE && copy.has_org)
	{
		appendStringInfoChar(&buf, ':');
		append_uuid(&buf, &copy.org_id);
	}
	if (copy.kind == AUTH_IDENTITY_API_KEY)
	{
		appendStringInfoChar(&buf, '#');
		for (int i = 0; i < AUTH_KEY_TAG_LEN; i++)
			appendStringInfo(&buf, "%02x", copy.key_tag[i]);
	}
	if (copy.kind == AUTH_IDENTITY_API_KEY && copy.scopes[0] != '\0')
	{
		appendStringInfoChar(&buf, '/');
		appendStringInfoString(&buf, copy.scopes);
	}
	set_identity_value(buf.data, is_local);
	/* the caller has just verified it */
	identity_checked = true;
	identity_live = true;
	identity_settled = copy;
	pfree(buf.data);
}

void
auth_identity_clear(void)
{
	set_identity_value("", false);
}

/*
 * Returns u as a datum without allocating per call: the value is kept in
 * the call site's fn_extra and reused while it stays the same.  Policies
 * evaluate auth.uid() once per row, and a palloc per row would make the
 * executor reset the per-row memory context every time.  A copy already
 * handed out is never overwritten; a new identity gets a new copy.
 */
static Datum
uuid_datum_cached(FunctionCallInfo fcinfo, const pg_uuid_t *u)
{
	pg_uuid_t  *cached = (pg_uuid_t *) fcinfo->flinfo->fn_extra;

	if (cached == NULL || memcmp(cached, u, UUID_LEN) != 0)
	{
		cached = MemoryContextAlloc(fcinfo->flinfo->fn_mcxt, sizeof(pg_uuid_t));
		memcpy(cached, u, UUID_LEN);
		fcinfo->flinfo->fn_extra = cached;
	}
	return UUIDPGetDatum(cached);
}

/* SQL function: auth.uid() returns uuid */
PG_FUNCTION_INFO_V1(auth_uid);
Datum
auth_uid(PG_FUNCTION_ARGS)
{
	const AuthIdentity *ident = auth_identity_current();

	if (ident == NULL)
		PG_RETURN_NULL();
	return uuid_datum_cached(fcinfo, &ident->user_id);
}

/* SQL function: auth.session_id() returns uuid */
PG_FUNCTION_INFO_V1(auth_session_id);
Datum
auth_session_id(PG_FUNCTION_ARGS)
{
	const AuthIdentity *ident = auth_identity_current();

	if (ident == NULL || ident->kind != AUTH_IDENTITY_SESSION)
		PG_RETURN_NULL();
	return uuid_datum_cached(fcinfo, &ident->session_id);
}

/* SQL function: auth.org_id() returns uuid */
PG_FUNCTION_INFO_V1(auth_org_id);
Datum
auth_org_id(PG_FUNCTION_ARGS)
{
	const AuthIdentity *ident = auth_identity_current();

	if (ident == NULL || !ident->has_org)
		PG_RETURN_NULL();
	return uuid_datum_cached(fcinfo, &ident->org_id);
}

/* SQL function: auth.is_authenticated() returns boolean */
PG_FUNCTION_INFO_V1(auth_is_authenticated);
Datum
auth_is_authenticated(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(auth_identity_current() != NULL);
}

/* The current identity, or 28000 when nobody is authenticated. */
static const AuthIdentity *
require_identity(void)
{
	const AuthIdentity *ident = auth_identity_current();

	if (ident == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
				 errmsg("not authenticated"),
				 errhint("Call auth.authenticate() with the session token first.")));
	return ident;
}

/* SQL function: auth.require_uid() returns uuid */
PG_FUNCTION_INFO_V1(auth_require_uid);
Datum
auth_require_uid(PG_FUNCTION_ARGS)
{
	return uuid_datum_cached(fcinfo, &require_identity()->user_id);
}

/*
 * SQL function: auth._require_account_uid() returns uuid
 * The user, for functions that act on the account itself (its password,
 * sessions, email, memberships and invitations): an API key, scoped to
 * what an application does with it, cannot do those (42501).
 */
PG_FUNCTION_INFO_V1(auth_require_account_uid);
Datum
auth_require_account_uid(PG_FUNCTION_ARGS)
{
	const AuthIdentity *ident = require_identity();

	if (ident->kind == AUTH_IDENTITY_API_KEY)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("an API key cannot manage its owner's account"),
				 errhint("Sign in with a session to change credentials, sessions, email or memberships.")));
	return uuid_datum_cached(fcinfo, &ident->user_id);
}

/* SQL function: auth.identity() returns jsonb */
PG_FUNCTION_INFO_V1(auth_identity_json);
Datum
auth_identity_json(PG_FUNCTION_ARGS)
{
	const AuthIdentity *ident = auth_identity_current();
	StringInfoData buf;
	Size		len;

	if (ident == NULL)
		PG_RETURN_NULL();
	initStringInfo(&buf);
	appendStringInfo(&buf, "{\"kind\": \"%s\", \"user_id\": \"",
					 ident->kind == AUTH_IDENTITY_SESSION ? "session" :
					 ident->kind == AUTH_IDENTITY_API_KEY ? "api_key" : "user");
	append_uuid(&buf, &ident->user_id);
	appendStringInfoChar(&buf, '"');
	if (ident->kind == AUTH_IDENTITY_SESSION)
	{
		appendStringInfoString(&buf, ", \"session_id\": \"");
		append_uuid(&buf, &ident->session_id);
		appendStringInfoChar(&buf, '"');
	}
	if (ident->kind == AUTH_IDENTITY_API_KEY)
	{
		appendStringInfoString(&buf, ", \"api_key_id\": \"");
		append_uuid(&buf, &ident->key_id);
		/* scopes hold no quote or backslash (scope_char) */
		appendStringInfoString(&buf, "\", \"scopes\": [");
		for (const char *cursor = ident->scopes, *scope, *sep = "";
			 (scope = next_scope(&cursor, &len)) != NULL; sep = ", ")
			appendStringInfo(&buf, "%s\"%.*s\"", sep, (int) len, scope);
		appendStringInfoChar(&buf, ']');
	}
	if (ident->has_org)
	{
		appendStringInfoString(&buf, ", \"org_id\": \"");
		append_uuid(&buf, &ident->org_id);
		appendStringInfoChar(&buf, '"');
	}
	appendStringInfoChar(&buf, '}');
	return DirectFunctionCall1(jsonb_in, CStringGetDatum(buf.data));
}

/* SQL function: auth._clear_identity() returns void */
PG_FUNCTION_INFO_V1(auth_clear_identity_sql);
Datum
auth_clear_identity_sql(PG_FUNCTION_ARGS)
{
	auth_identity_clear();
	PG_RETURN_VOID();
}

/*
 * SQL function: auth._set_identity_org(org_id uuid) returns void
 * The identity with another active organization, for the transaction; a
 * connection-scope identity takes it from the session row from the next
 * transaction on.
 */
PG_FUNCTION_INFO_V1(auth_set_identity_org);
Datum
auth_set_identity_org(PG_FUNCTION_ARGS)
{
	const AuthIdentity *ident = auth_identity_current();
	AuthIdentity copy;

	if (ident == NULL)
		PG_RETURN_VOID();
	copy = *ident;
	copy.has_org = !PG_ARGISNULL(0);
	if (copy.has_org)
		copy.org_id = *PG_GETARG_UUID_P(0);
	auth_identity_set(&copy, true);
	PG_RETURN_VOID();
}

/* SQL function: auth.api_key_id() returns uuid */
PG_FUNCTION_INFO_V1(auth_api_key_id);
Datum
auth_api_key_id(PG_FUNCTION_ARGS)
{
	const AuthIdentity *ident = auth_identity_current();

	if (ident == NULL || ident->kind != AUTH_IDENTITY_API_KEY)
		PG_RETURN_NULL();
	return uuid_datum_cached(fcinfo, &ident->key_id);
}

/*
 * Whether a space-separated list of scopes covers one, where "*" and
 * "resource:*" are wildcards.
 */
bool
auth_scopes_cover(const char *scopes, const char *scope)
{
	char		granted[AUTH_MAX_SCOPE_LEN + 1];
	const char *cursor;
	const char *p;
	Size		len;

	for (cursor = scopes; (p = next_scope(&cursor, &len)) != NULL;)
	{
		if (len >= sizeof(granted))
			continue;
		memcpy(granted, p, len);
		granted[len] = '\0';
		if (auth_permission_covers(granted, scope))
			return true;
	}
	return false;
}

/* A space-separated list of scopes as a text[]. */
Datum
auth_scopes_array(const char *scopes)
{
	Datum		elems[AUTH_MAX_SCOPES];
	int			n = 0;
	const char *cursor;
	const char *p;
	Size		len;

	for (cursor = scopes; n < AUTH_MAX_SCOPES && (p = next_scope(&cursor, &len)) != NULL;)
		elems[n++] = PointerGetDatum(cstring_to_text_with_len(p, len));
	return PointerGetDatum(construct_array(elems, n, TEXTOID, -1, false, TYPALIGN_INT));
}

/*
 * Whether the identity holds a scope: a session (or a user set by a
 * superuser) holds every scope; an API key those it was given; nobody none.
 */
bool
auth_identity_has_scope(const AuthIdentity *ident, const char *scope)
{
	if (ident == NULL)
		return false;
	return ident->kind != AUTH_IDENTITY_API_KEY || auth_scopes_cover(ident->scopes, scope);
}

/* SQL function: auth.has_scope(scope text) returns boolean */
PG_FUNCTION_INFO_V1(auth_has_scope);
Datum
auth_has_scope(PG_FUNCTION_ARGS)
{
	char	   *scope = text_to_cstring(PG_GETARG_TEXT_PP(0));

	PG_RETURN_BOOL(auth_identity_has_scope(auth_identity_current(), scope));
}

/*
 * SQL function: auth.scopes() returns text[]
 * {"*"} for a session, the key's scopes for an API key, NULL for nobody.
 */
PG_FUNCTION_INFO_V1(auth_scopes);
Datum
auth_scopes(PG_FUNCTION_ARGS)
{
	const AuthIdentity *ident = auth_identity_current();

	if (ident == NULL)
		PG_RETURN_NULL();
	PG_RETURN_DATUM(auth_scopes_array(ident->kind == AUTH_IDENTITY_API_KEY ?
									  ident->scopes : "*"));
}
