/*
 * role.c: switching to auth.authenticated_role when an identity is set.
 *
 * With auth.authenticated_role set, authenticate*() also switches the
 * transaction to that role (SET LOCAL ROLE), so that tables granted only
 * to it refuse a request that forgot to authenticate (42501) instead of
 * silently returning no rows under RLS.  The switch is always for the
 * transaction, even for a connection-scope identity: a role kept for the
 * connection would outlive an identity that dies at the next transaction.
 *
 * PostgreSQL lets the session user switch to a role it is a member of
 * (PostgREST's authenticator is a member of its anon and authenticated
 * roles), and refuses inside a SECURITY DEFINER function or a
 * security-restricted operation; those refusals are raised here first,
 * with what to do about them.  auth.anonymous_role names the role a
 * request without a credential runs as; auth.postgrest_pre_request() reads
 * it.
 */
#include "postgres.h"

#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/guc.h"

#include "role.h"

static char *authenticated_role = NULL;
static char *anonymous_role = NULL;

void
auth_role_init(void)
{
	DefineCustomStringVariable("auth.authenticated_role",
							   "Role that authenticate() switches to for the "
							   "transaction; empty for none.",
							   NULL, &authenticated_role, "",
							   PGC_SUSET, 0, NULL, NULL, NULL);
	DefineCustomStringVariable("auth.anonymous_role",
							   "Role auth.postgrest_pre_request() switches "
							   "to when a request has no credential; empty "
							   "for none.",
							   NULL, &anonymous_role, "",
							   PGC_SUSET, 0, NULL, NULL, NULL);
}

/*
 * Switches the transaction to auth.authenticated_role, if it is set and
 * not the current role already; raises 42704 for a role that does not
 * exist and 42501 where PostgreSQL would refuse the switch.
 */
void
auth_role_switch_authenticated(void)
{
	Oid			roleid;
	const char *login;

	if (authenticated_role == NULL || authenticated_role[0] == '\0')
		return;
	roleid = get_role_oid(authenticated_role, true);
	if (!OidIsValid(roleid))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("auth.authenticated_role names role \"%s\", which does not exist",
						authenticated_role),
				 errhint("CREATE ROLE %s NOLOGIN, or change auth.authenticated_role.",
						 quote_identifier(authenticated_role))));
	if (roleid == GetUserId())
		return;
	if (InLocalUserIdChange() || InSecurityRestrictedOperation())
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("cannot switch to auth.authenticated_role inside a SECURITY DEFINER function"),
				 errdetail("PostgreSQL refuses SET ROLE there, and auth.authenticated_role is \"%s\".",
						   authenticated_role),
				 errhint("Call auth.authenticate() from the request, or from a function that is not SECURITY DEFINER.")));
	/* PostgreSQL's own test for SET ROLE: the session user's membership */
	if (!is_member_of_role(GetSessionUserId(), roleid))
	{
		login = GetUserNameFromId(GetSessionUserId(), false);
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("role \"%s\" cannot switch to auth.authenticated_role \"%s\"",
						login, authenticated_role),
				 errdetail("The role the connection logged in as must be a member of it."),
				 errhint("GRANT %s TO %s;", quote_identifier(authenticated_role),
						 quote_identifier(login))));
	}
	(void) set_config_option("role", authenticated_role, PGC_USERSET,
							 PGC_S_SESSION, GUC_ACTION_LOCAL, true, 0, false);
}
