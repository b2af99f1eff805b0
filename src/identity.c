/*
 * identity.c: who the current database session is acting for.
 *
 * The identity lives in the hidden GUC auth.identity, PGC_SUSET, so that
 * ordinary roles cannot SET it, and PostgreSQL itself clears it at the end
 * of the transaction (or savepoint) that set it locally, on RESET ALL and
 * DISCARD ALL, and copies it into parallel workers.  The check hook parses
 * the value once into a struct (identity_value.c); the accessors read it.
 *
 * Kinds of identity come from a registry: "user" (set by a superuser) is
 * built in; each credential module registers its own (session.c,
 * apikey.c).  An identity kept for the whole connection (is_local =>
 * false) whose kind can die is re-checked through its kind's liveness
 * callback once per transaction, on first use, so revoking or expiring the
 * credential or banning its user takes effect at the connection's next
 * transaction.  The leader settles that check before any query or utility
 * statement starts (ExecutorStart and ProcessUtility hooks) and clears a
 * dead identity for the transaction, so parallel workers, which trust the
 * value they are handed, always agree.  Without the extension (after DROP
 * EXTENSION) no identity is live.
 */
#include "postgres.h"

#include "access/parallel.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/executor.h"
#include "tcop/utility.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"

#include "catalog.h"
#include "identity.h"
#include "role.h"
#include "settings.h"

/* The registry: kinds[i] is kind i + 1 (0 is nobody). */
static const AuthCredentialKind *kinds[AUTH_MAX_KINDS];
static const AuthKindSyntax *syntaxes[AUTH_MAX_KINDS];
static int	nkinds = 0;

/* A user set by a superuser: never re-checked, may manage the account. */
static const AuthCredentialKind user_kind = {
	.syntax = {.name = "user"},
	.manages_account = true,
};

static char *identity_value = NULL;
static bool allow_connection_scope = true;
static const AuthIdentity *identity_current = NULL;

/*
 * Whether identity_current was checked in this transaction, the answer,
 * and the identity as settled by the check (e.g. with the session's
 * current active organization).
 */
static bool identity_checked = false;
static bool identity_can_die = false;	/* its kind has a liveness check */
static bool identity_live = false;
static AuthIdentity identity_settled;

/*
 * The amr and auth_time of the current identity, looked up once per
 * identity and transaction (auth.amr(), auth.auth_time()).
 */
static bool assurance_loaded = false;
static bool assurance_found = false;
static Datum assurance_amr;
static TimestampTz assurance_auth_time;
static MemoryContext assurance_context = NULL;

/*
 * Whether the liveness check is running: its own queries (SPI) start
 * executors, whose hook must not check the identity again.
 */
static bool identity_checking = false;

static ExecutorStart_hook_type prev_executor_start = NULL;
static ProcessUtility_hook_type prev_process_utility = NULL;

static void set_identity_value(const char *value, bool is_local,
							   bool narrowing);
static void apply_identity(const AuthIdentity *ident, bool is_local,
						   bool narrowing);

/* Registers a kind of identity; returns its number. */
int
auth_register_credential_kind(const AuthCredentialKind *kind)
{
	if (nkinds == AUTH_MAX_KINDS)
		elog(ERROR, "too many kinds of identity");
	kinds[nkinds] = kind;
	syntaxes[nkinds] = &kind->syntax;
	return ++nkinds;
}

/* The kind of an identity (not nobody's). */
const AuthCredentialKind *
auth_identity_kind(const AuthIdentity *ident)
{
	Assert(ident->kind >= 1 && ident->kind <= nkinds);
	return kinds[ident->kind - 1];
}

/*
 * The auth.identity() key of the identity's credential id ("session_id",
 * "api_key_id"), or NULL when it names none.
 */
const char *
auth_identity_credential_field(const AuthIdentity *ident)
{
	const AuthCredentialKind *kind = auth_identity_kind(ident);

	if (kind->credential_field != NULL)
		return kind->credential_field(ident);
	return kind->syntax.credential_id ? kind->id_field : NULL;
}

/*
 * Whether a credential of the kind named (a session, an API key) is live
 * for the user, through the kind's own liveness callback: a credential
 * derived from it (a JWT's sid) is checked with the same one probe.  Its
 * tag is zero: the credential, whichever of its secrets was shown.  *aal
 * (unless NULL): the credential's assurance level as its row has it now.
 */
bool
auth_credential_is_live(const char *kind_name, const pg_uuid_t *user_id,
						const pg_uuid_t *credential_id, uint8 *aal)
{
	for (int i = 0; i < nkinds; i++)
		if (strcmp(kinds[i]->syntax.name, kind_name) == 0 &&
			kinds[i]->is_live != NULL)
		{
			AuthIdentity probe;
			AuthIdentity settled;

			memset(&probe, 0, sizeof(probe));
			probe.kind = i + 1;
			probe.user_id = *user_id;
			probe.credential_id = *credential_id;
			settled = probe;
			if (!kinds[i]->is_live(&probe, &settled))
				return false;
			if (aal != NULL)
				*aal = settled.aal >= 2 ? 2 : 1;
			return true;
		}
	return false;
}

static bool
check_identity(char **newval, void **extra, GucSource source)
{
	AuthIdentity parsed;
	AuthIdentity *result;

	if (!auth_identity_value_parse(*newval, syntaxes, nkinds, &parsed))
	{
		GUC_check_errdetail("Expected \"<kind>:<user uuid>[:<credential uuid>][:<org uuid>][#<tag>][/<scopes>]\" for a registered kind.");
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

/* Whether the identity stands for a credential that can die. */
static inline bool
needs_recheck(const AuthIdentity *ident)
{
	return ident->kind != 0 && auth_identity_kind(ident)->is_live != NULL;
}

static void
assign_identity(const char *newval, void *extra)
{
	identity_current = extra;
	/* decided once here, not per row in auth_identity_current() */
	identity_can_die = identity_current != NULL &&
		needs_recheck(identity_current);
	identity_checked = false;
	assurance_loaded = false;
}

static void
identity_xact_callback(XactEvent event, void *arg)
{
	identity_checked = false;
	assurance_loaded = false;
}

/* Whether two identities name the same active organization (or none). */
static bool
same_org(const AuthIdentity *a, const AuthIdentity *b)
{
	return a->has_org == b->has_org &&
		(!a->has_org || memcmp(&a->org_id, &b->org_id, UUID_LEN) == 0);
}

/*
 * In the leader, before anything can start parallel workers: check an
 * identity not yet checked in this transaction and, for the transaction,
 * clear it when its credential is no longer live, or bring it up to date
 * (active organization, scopes), before any worker copies the value.
 */
static void
settle_identity(void)
{
	const AuthIdentity *settled;

	if (identity_checking || IsParallelWorker() || IsInParallelMode() ||
		identity_current == NULL || !needs_recheck(identity_current) ||
		!IsTransactionState() || IsAbortedTransactionBlockState())
		return;
	settled = auth_identity_current();
	if (settled == NULL)
		set_identity_value("", true, true);
	else if (!same_org(settled, identity_current) ||
			 settled->aal != identity_current->aal ||
			 strcmp(settled->scopes, identity_current->scopes) != 0)
		apply_identity(settled, true, true);
}

/* Queries: their Gather nodes start workers. */
static void
identity_executor_start(QueryDesc *queryDesc, int eflags)
{
	settle_identity();
	if (prev_executor_start)
		prev_executor_start(queryDesc, eflags);
	else
		standard_ExecutorStart(queryDesc, eflags);
}

/*
 * Utility statements: CREATE INDEX and VACUUM start workers of their own,
 * which run index expressions and so could read the identity.
 * Transaction control is left alone (it may run in an aborted transaction).
 */
static void
identity_process_utility(PlannedStmt *pstmt, const char *queryString,
#if PG_VERSION_NUM >= 140000
						 bool readOnlyTree,
#endif
						 ProcessUtilityContext context, ParamListInfo params,
						 QueryEnvironment *queryEnv, DestReceiver *dest,
						 QueryCompletion *qc)
{
	if (!IsA(pstmt->utilityStmt, TransactionStmt))
		settle_identity();
#if PG_VERSION_NUM >= 140000
	if (prev_process_utility)
		prev_process_utility(pstmt, queryString, readOnlyTree, context,
							 params, queryEnv, dest, qc);
	else
		standard_ProcessUtility(pstmt, queryString, readOnlyTree, context,
								params, queryEnv, dest, qc);
#else
	if (prev_process_utility)
		prev_process_utility(pstmt, queryString, context, params, queryEnv,
							 dest, qc);
	else
		standard_ProcessUtility(pstmt, queryString, context, params,
								queryEnv, dest, qc);
#endif
}

/*
 * Defines auth.identity; called after the credential modules registered
 * their kinds, so a value given before the module loaded can be parsed.
 */
void
auth_identity_init(void)
{
	auth_register_credential_kind(&user_kind);
	auth_define_flag("auth.allow_connection_scope",
					 "Whether authenticate() may keep an identity for the "
					 "whole connection (is_local => false).",
					 &allow_connection_scope);
	DefineCustomStringVariable("auth.identity",
							   "Identity of the current session, "
							   "set by auth.authenticate().",
							   NULL, &identity_value, "",
							   PGC_SUSET,
							   GUC_NO_SHOW_ALL | GUC_NOT_IN_SAMPLE |
							   GUC_SUPERUSER_ONLY | GUC_DISALLOW_IN_FILE,
							   check_identity, assign_identity, NULL);
	RegisterXactCallback(identity_xact_callback, NULL);
	prev_executor_start = ExecutorStart_hook;
	ExecutorStart_hook = identity_executor_start;
	prev_process_utility = ProcessUtility_hook;
	ProcessUtility_hook = identity_process_utility;
}

/* Runs the kind's liveness check, marked as running. */
static bool
check_live(const AuthIdentity *ident)
{
	bool		live = false;

	identity_checking = true;
	PG_TRY();
	{
		identity_settled = *ident;
		/* without the extension (DROP EXTENSION) nothing is live */
		live = auth_extension_present() &&
			auth_identity_kind(ident)->is_live(ident, &identity_settled);
	}
	PG_FINALLY();
	{
		identity_checking = false;
	}
	PG_END_TRY();
	return live;
}

/* The current identity, or NULL for nobody. */
const AuthIdentity *
auth_identity_current(void)
{
	const AuthIdentity *ident = identity_current;

	if (ident == NULL || ident->kind == 0)
		return NULL;
	/* a worker is handed the identity its leader settled */
	if (!identity_can_die || IsParallelWorker())
		return ident;
	if (!identity_checked)
	{
		/*
		 * A query the check itself runs (a cache reload, a probe) sees the
		 * identity as it is: re-entering the check would settle it twice.
		 */
		if (identity_checking)
			return ident;
		identity_live = check_live(ident);
		identity_checked = true;
	}
	return identity_live ? &identity_settled : NULL;
}

/*
 * Nobody may set an identity inside a security-restricted operation (an
 * index expression, REFRESH MATERIALIZED VIEW, ANALYZE, run as a table's
 * owner): a function planted there must not act for whoever runs the
 * operation.  That is the rule GUC_NOT_WHILE_SEC_REST enforces, but the
 * flag also refuses any change under a SECURITY DEFINER function, which the
 * extension's own setters are, and when the library is first loaded inside
 * one it drops a value a superuser set before; so the setters check it
 * here.  Narrowing (clearing a dead identity, or settling it to fewer
 * grants) is allowed everywhere.
 */
static void
set_identity_value(const char *value, bool is_local, bool narrowing)
{
	if (!narrowing && InSecurityRestrictedOperation())
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("cannot set the identity within a security-restricted operation")));
	(void) set_config_option("auth.identity", value, PGC_SUSET,
							 PGC_S_SESSION,
							 is_local ? GUC_ACTION_LOCAL : GUC_ACTION_SET,
							 true, 0, false);
}

static void
apply_identity(const AuthIdentity *ident, bool is_local, bool narrowing)
{
	char		value[AUTH_IDENTITY_VALUE_MAX];
	AuthIdentity copy = *ident; /* ident may point at identity_settled */

	if (!auth_identity_value_format(&copy,
									copy.kind == 0 ? NULL :
									&auth_identity_kind(&copy)->syntax,
									value, sizeof(value)))
		elog(ERROR, "the identity does not fit its setting");
	set_identity_value(value, is_local, narrowing);
	/* the caller has just verified it */
	identity_checked = true;
	identity_live = true;
	identity_settled = copy;
}

/*
 * Sets the identity, for the transaction or (is_local false) the session.
 * Behind a transaction pooler a connection's identity would outlive the
 * client that set it, so a deployment can refuse that outright.
 */
static void
identity_set(const AuthIdentity *ident, bool is_local)
{
	if (!is_local && !allow_connection_scope)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("connection-scope identities are disabled"),
				 errdetail("auth.allow_connection_scope is off."),
				 errhint("Authenticate in each transaction (is_local => true).")));
	apply_identity(ident, is_local, false);
}

/*
 * What authenticate*() call: sets the identity and switches the
 * transaction to auth.authenticated_role, if set (role.c).
 */
void
auth_identity_set(const AuthIdentity *ident, bool is_local)
{
	identity_set(ident, is_local);
	auth_role_switch_authenticated();
}

void
auth_identity_clear(void)
{
	set_identity_value("", false, true);
}

/*
 * Returns u as a datum without allocating per call: the value is kept in
 * the call site's fn_extra and reused while it stays the same.  Policies
 * evaluate auth.uid() once per row, and a palloc per row would make the
 * executor reset the per-row memory context every time.  A copy already
 * handed out is never overwritten; a new identity gets a new copy.
 */
Datum
auth_uuid_datum_cached(FunctionCallInfo fcinfo, const pg_uuid_t *u)
{
	pg_uuid_t  *cached = (pg_uuid_t *) fcinfo->flinfo->fn_extra;

	if (cached == NULL || memcmp(cached, u, UUID_LEN) != 0)
	{
		cached = MemoryContextAlloc(fcinfo->flinfo->fn_mcxt,
									sizeof(pg_uuid_t));
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
	return auth_uuid_datum_cached(fcinfo, &ident->user_id);
}

/* SQL function: auth.org_id() returns uuid */
PG_FUNCTION_INFO_V1(auth_org_id);
Datum
auth_org_id(PG_FUNCTION_ARGS)
{
	const AuthIdentity *ident = auth_identity_current();

	if (ident == NULL || !ident->has_org)
		PG_RETURN_NULL();
	return auth_uuid_datum_cached(fcinfo, &ident->org_id);
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
	return auth_uuid_datum_cached(fcinfo, &require_identity()->user_id);
}

/*
 * SQL function: auth._require_account_uid() returns uuid
 * The user, for functions that act on the account itself (its password,
 * sessions, email, memberships and invitations): a credential scoped to
 * what an application does with it, such as an API key, cannot (42501).
 */
PG_FUNCTION_INFO_V1(auth_require_account_uid);
Datum
auth_require_account_uid(PG_FUNCTION_ARGS)
{
	const AuthIdentity *ident = require_identity();

	if (!auth_identity_kind(ident)->manages_account)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 strcmp(auth_identity_kind(ident)->syntax.name, "jwt") == 0 ?
				 errmsg("a JWT identity cannot manage its user's account") :
				 errmsg("an API key cannot manage its owner's account"),
				 errhint("Sign in with a session to change credentials, sessions, email or memberships.")));
	return auth_uuid_datum_cached(fcinfo, &ident->user_id);
}

static void
append_uuid_field(StringInfo buf, const char *field, const pg_uuid_t *u)
{
	appendStringInfo(buf, ", \"%s\": \"%s\"", field,
					 DatumGetCString(DirectFunctionCall1(uuid_out,
														 UUIDPGetDatum(u))));
}

/* SQL function: auth.identity() returns jsonb */
PG_FUNCTION_INFO_V1(auth_identity_json);
Datum
auth_identity_json(PG_FUNCTION_ARGS)
{
	const AuthIdentity *ident = auth_identity_current();
	const AuthCredentialKind *kind;
	StringInfoData buf;
	size_t		len;

	if (ident == NULL)
		PG_RETURN_NULL();
	kind = auth_identity_kind(ident);
	initStringInfo(&buf);
	/* kind names are lowercase letters and _ (the registry's) */
	appendStringInfo(&buf, "{\"kind\": \"%s\"", kind->syntax.name);
	append_uuid_field(&buf, "user_id", &ident->user_id);
	if (auth_identity_credential_field(ident) != NULL)
		append_uuid_field(&buf, auth_identity_credential_field(ident),
						  &ident->credential_id);
	if (kind->syntax.scopes)
	{
		/* scopes hold no quote or backslash (auth_scope_char) */
		appendStringInfoString(&buf, ", \"scopes\": [");
		for (const char *cursor = ident->scopes, *scope, *sep = "";
			 (scope = auth_scope_next(&cursor, &len)) != NULL; sep = ", ")
			appendStringInfo(&buf, "%s\"%.*s\"", sep, (int) len, scope);
		appendStringInfoChar(&buf, ']');
	}
	if (ident->has_org)
		append_uuid_field(&buf, "org_id", &ident->org_id);
	appendStringInfoChar(&buf, '}');
	return DirectFunctionCall1(jsonb_in, CStringGetDatum(buf.data));
}

/*
 * SQL function: auth.aal() returns text
 * aal2 when a second factor was shown, aal1 otherwise, NULL for nobody.
 * The two values are made once per call site, so no row pays a palloc.
 */
PG_FUNCTION_INFO_V1(auth_aal);
Datum
auth_aal(PG_FUNCTION_ARGS)
{
	const AuthIdentity *ident = auth_identity_current();
	text	  **values = (text **) fcinfo->flinfo->fn_extra;

	if (ident == NULL)
		PG_RETURN_NULL();
	if (values == NULL)
	{
		MemoryContext old = MemoryContextSwitchTo(fcinfo->flinfo->fn_mcxt);

		values = palloc(2 * sizeof(text *));
		values[0] = cstring_to_text("aal1");
		values[1] = cstring_to_text("aal2");
		MemoryContextSwitchTo(old);
		fcinfo->flinfo->fn_extra = values;
	}
	PG_RETURN_TEXT_P(values[ident->aal >= 2 ? 1 : 0]);
}

/*
 * The amr and auth_time of the current identity, from its kind, once per
 * identity and transaction; false when nobody or none is recorded.
 */
static bool
current_assurance(void)
{
	const AuthIdentity *ident = auth_identity_current();
	const AuthCredentialKind *kind;

	if (ident == NULL)
		return false;
	if (!assurance_loaded)
	{
		if (assurance_context == NULL)
			assurance_context = AllocSetContextCreate(TopMemoryContext,
													  "auth assurance",
													  ALLOCSET_SMALL_SIZES);
		MemoryContextReset(assurance_context);
		kind = auth_identity_kind(ident);
		assurance_found = kind->assurance != NULL &&
			kind->assurance(ident, assurance_context, &assurance_amr,
							&assurance_auth_time);
		assurance_loaded = true;
	}
	return assurance_found;
}

/*
 * SQL function: auth.amr() returns jsonb
 * The methods of the authentication behind the identity, each with its
 * time: [{"method": "password", "at": ...}, {"method": "totp", ...}].
 */
PG_FUNCTION_INFO_V1(auth_amr);
Datum
auth_amr(PG_FUNCTION_ARGS)
{
	if (!current_assurance())
		PG_RETURN_NULL();
	PG_RETURN_DATUM(assurance_amr);
}

/* SQL function: auth.auth_time() returns timestamptz */
PG_FUNCTION_INFO_V1(auth_auth_time);
Datum
auth_auth_time(PG_FUNCTION_ARGS)
{
	if (!current_assurance())
		PG_RETURN_NULL();
	PG_RETURN_TIMESTAMPTZ(assurance_auth_time);
}

/*
 * SQL function: auth._set_identity_aal(aal integer) returns void
 * The identity at another assurance level, for the transaction (a step-up,
 * a removed factor); a connection-scope identity takes it from its
 * credential's row from the next transaction on.
 */
PG_FUNCTION_INFO_V1(auth_set_identity_aal);
Datum
auth_set_identity_aal(PG_FUNCTION_ARGS)
{
	const AuthIdentity *ident = auth_identity_current();
	AuthIdentity copy;

	if (ident == NULL || PG_ARGISNULL(0))
		PG_RETURN_VOID();
	copy = *ident;
	copy.aal = PG_GETARG_INT32(0) >= 2 ? 2 : 1;
	auth_identity_set(&copy, true);
	PG_RETURN_VOID();
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
	/* the same identity in another organization: no role to switch */
	identity_set(&copy, true);
	PG_RETURN_VOID();
}

/*
 * Whether the identity may act in org_id: one bound to an organization (an
 * org-bound API key) only in its own.
 */
bool
auth_identity_in_org(const AuthIdentity *ident, const pg_uuid_t *org_id)
{
	return !auth_identity_kind(ident)->fixed_org || !ident->has_org ||
		memcmp(&ident->org_id, org_id, UUID_LEN) == 0;
}

/*
 * Whether the identity holds a scope: one whose kind carries scopes holds
 * those it was given; any other (a session, a user set by a superuser)
 * holds every scope; nobody none.
 */
bool
auth_identity_has_scope(const AuthIdentity *ident, const char *scope)
{
	if (ident == NULL)
		return false;
	return !auth_identity_kind(ident)->syntax.scopes ||
		auth_scopes_cover(ident->scopes, scope);
}

/* A space-separated list of scopes as a text[]. */
Datum
auth_scopes_array(const char *scopes)
{
	Datum		elems[AUTH_MAX_SCOPES];
	int			n = 0;
	const char *cursor;
	const char *p;
	size_t		len;

	for (cursor = scopes;
		 n < AUTH_MAX_SCOPES && (p = auth_scope_next(&cursor, &len)) != NULL;)
		elems[n++] = PointerGetDatum(cstring_to_text_with_len(p, len));
	return PointerGetDatum(construct_array(elems, n, TEXTOID, -1, false,
										   TYPALIGN_INT));
}

/* Copies a text[] of scopes into a space-separated list. */
void
auth_scopes_from_array(ArrayType *arr, char *out, Size outlen)
{
	Datum	   *elems;
	bool	   *nulls;
	int			n;
	Size		used = 0;

	deconstruct_array(arr, TEXTOID, -1, false, TYPALIGN_INT,
					  &elems, &nulls, &n);
	out[0] = '\0';
	for (int i = 0; i < n; i++)
	{
		text	   *t;
		Size		len;

		if (nulls[i])
			continue;
		t = DatumGetTextPP(elems[i]);
		len = VARSIZE_ANY_EXHDR(t);
		/* auth._check_scopes keeps every stored list well within outlen */
		if (used + len + 2 > outlen)
			elog(ERROR, "the scopes of a credential do not fit its identity");
		if (used > 0)
			out[used++] = ' ';
		memcpy(out + used, VARDATA_ANY(t), len);
		used += len;
		out[used] = '\0';
	}
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
 * {"*"} for an identity whose kind carries no scopes, the credential's
 * scopes otherwise, NULL for nobody.
 */
PG_FUNCTION_INFO_V1(auth_scopes);
Datum
auth_scopes(PG_FUNCTION_ARGS)
{
	const AuthIdentity *ident = auth_identity_current();

	if (ident == NULL)
		PG_RETURN_NULL();
	PG_RETURN_DATUM(auth_scopes_array(
		auth_identity_kind(ident)->syntax.scopes ? ident->scopes : "*"));
}

/* SQL function: auth._scopes_cover(held text[], scope text) returns boolean */
PG_FUNCTION_INFO_V1(auth_scopes_cover_sql);
Datum
auth_scopes_cover_sql(PG_FUNCTION_ARGS)
{
	char		held[AUTH_SCOPES_BUFLEN];

	auth_scopes_from_array(PG_GETARG_ARRAYTYPE_P(0), held, sizeof(held));
	PG_RETURN_BOOL(auth_scopes_cover(held,
									 text_to_cstring(PG_GETARG_TEXT_PP(1))));
}
