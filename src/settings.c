/*
 * settings.c: how settings are defined and read from SQL, and the settings
 * of the capabilities written in SQL alone (the audit log).
 *
 * Settings whose loosening would weaken security are PGC_SUSET, so an
 * application role cannot relax them for itself.
 */
#include "postgres.h"

#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/timestamp.h"

#include "settings.h"

static int	audit_retention = 90 * SECS_PER_DAY;
static bool notify_events = false;

void
auth_define_seconds(const char *name, const char *desc, int *var, int min,
					int max)
{
	DefineCustomIntVariable(name, desc, NULL, var, *var, min, max,
							PGC_SUSET, GUC_UNIT_S, NULL, NULL, NULL);
}

void
auth_define_count(const char *name, const char *desc, int *var, int min,
				  int max)
{
	DefineCustomIntVariable(name, desc, NULL, var, *var, min, max,
							PGC_SUSET, 0, NULL, NULL, NULL);
}

void
auth_define_flag(const char *name, const char *desc, bool *var)
{
	DefineCustomBoolVariable(name, desc, NULL, var, *var,
							 PGC_SUSET, 0, NULL, NULL, NULL);
}

void
auth_settings_init(void)
{
	auth_define_seconds("auth.audit_retention",
						"Age after which auth.cleanup() removes audit rows.",
						&audit_retention, 0, 50 * AUTH_YEAR_SECS);
	/*
	 * Off by default: any role that can connect may LISTEN, and every
	 * announced event takes the cluster-wide notify lock at commit.
	 */
	auth_define_flag("auth.notify_events",
					 "Whether each audit event is also sent as "
					 "NOTIFY auth_events.",
					 &notify_events);
}

/*
 * Settings are read from SQL through these rather than current_setting(),
 * because calling them loads the module, which defines the settings.
 */
static const char *
setting_value(text *name)
{
	char	   *n = text_to_cstring(name);

	if (strncmp(n, "auth.", 5) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("\"%s\" is not a setting of the auth extension", n)));
	return GetConfigOption(n, false, false);
}

/* SQL function: auth._setting_interval(name text) returns interval */
PG_FUNCTION_INFO_V1(auth_setting_interval);
Datum
auth_setting_interval(PG_FUNCTION_ARGS)
{
	const char *value = setting_value(PG_GETARG_TEXT_PP(0));

	return DirectFunctionCall3(interval_in, CStringGetDatum(value),
							   ObjectIdGetDatum(InvalidOid),
							   Int32GetDatum(-1));
}

/* SQL function: auth._setting_bool(name text) returns boolean */
PG_FUNCTION_INFO_V1(auth_setting_bool);
Datum
auth_setting_bool(PG_FUNCTION_ARGS)
{
	const char *value = setting_value(PG_GETARG_TEXT_PP(0));

	PG_RETURN_BOOL(strcmp(value, "on") == 0);
}

/* SQL function: auth._setting_int(name text) returns integer */
PG_FUNCTION_INFO_V1(auth_setting_int);
Datum
auth_setting_int(PG_FUNCTION_ARGS)
{
	const char *value = setting_value(PG_GETARG_TEXT_PP(0));

	PG_RETURN_INT32(pg_strtoint32(value));
}
