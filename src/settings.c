/*
 * settings.c: the extension's settings (GUCs under the auth. prefix), the
 * module's entry point, and the clock every capability reads.
 *
 * Settings whose loosening would weaken security are PGC_SUSET, so an
 * application role cannot relax them for itself.  Durations are integers in
 * seconds with GUC_UNIT_S, so '7d' and '15min' are accepted and shown.
 */
#include "postgres.h"

#include "fmgr.h"
#include "access/xact.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/timestamp.h"

#include "auth.h"

PG_MODULE_MAGIC;

int			auth_argon2_memory_kib = 19456;
int			auth_argon2_iterations = 2;
int			auth_argon2_parallelism = 1;
int			auth_password_min_length = 8;
int			auth_session_ttl = 7 * SECS_PER_DAY;
int			auth_session_refresh_age = SECS_PER_DAY;
int			auth_session_max_lifetime = 30 * SECS_PER_DAY;
int			auth_max_failed_sign_ins = 5;
int			auth_failed_sign_in_window = 15 * SECS_PER_MINUTE;
int			auth_audit_retention = 90 * SECS_PER_DAY;
int			auth_cleanup_grace = SECS_PER_DAY;
int			auth_time_offset = 0;
int			auth_magic_link_ttl = 15 * SECS_PER_MINUTE;
int			auth_magic_link_rate_limit = 5;
int			auth_magic_link_rate_window = SECS_PER_HOUR;
bool		auth_magic_link_sign_up = true;
int			auth_email_code_ttl = 5 * SECS_PER_MINUTE;
int			auth_code_max_attempts = 5;
int			auth_email_verification_ttl = SECS_PER_HOUR;
int			auth_password_reset_ttl = SECS_PER_HOUR;
bool		auth_require_verified_email = false;
bool		auth_notify_events = true;
int			auth_membership_limit = 100;
int			auth_invitation_ttl = 48 * SECS_PER_HOUR;
int			auth_api_key_touch_interval = SECS_PER_MINUTE;
int			auth_api_key_rate_limit_slots = 16384;
char	   *auth_api_key_prefix = NULL;

#define YEAR_SECS	(365 * SECS_PER_DAY)

/* Every setting is PGC_SUSET; its default is the variable's initial value. */
static void
define_seconds(const char *name, const char *desc, int *var, int min, int max)
{
	DefineCustomIntVariable(name, desc, NULL, var, *var, min, max,
							PGC_SUSET, GUC_UNIT_S, NULL, NULL, NULL);
}

static void
define_count(const char *name, const char *desc, int *var, int min, int max)
{
	DefineCustomIntVariable(name, desc, NULL, var, *var, min, max,
							PGC_SUSET, 0, NULL, NULL, NULL);
}

static void
define_flag(const char *name, const char *desc, bool *var)
{
	DefineCustomBoolVariable(name, desc, NULL, var, *var,
							 PGC_SUSET, 0, NULL, NULL, NULL);
}

static bool
check_api_key_prefix(char **newval, void **extra, GucSource source)
{
	if (*newval == NULL || !auth_token_prefix_is_valid(*newval))
	{
		GUC_check_errdetail("A prefix is 1 to 16 lowercase letters or digits.");
		return false;
	}
	return true;
}

void
auth_define_settings(void)
{
	DefineCustomIntVariable("auth.argon2_memory_kib",
							"Memory cost of new argon2id password hashes, in KiB.",
							"OWASP's minimum for argon2id is 19456 (19 MiB).",
							&auth_argon2_memory_kib, auth_argon2_memory_kib,
							64, 4 * 1024 * 1024, PGC_SUSET, 0, NULL, NULL, NULL);
	define_count("auth.argon2_iterations",
				 "Time cost (passes) of new argon2id password hashes.",
				 &auth_argon2_iterations, 1, 64);
	DefineCustomIntVariable("auth.argon2_parallelism",
							"Lanes of new argon2id password hashes.",
							"Lanes are computed one after the other in the backend.",
							&auth_argon2_parallelism, auth_argon2_parallelism,
							1, 16, PGC_SUSET, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("auth.password_min_length",
							"Shortest password accepted when one is set.",
							"The longest is 128 characters.",
							&auth_password_min_length, auth_password_min_length,
							1, 128, PGC_SUSET, 0, NULL, NULL, NULL);
	define_seconds("auth.session_ttl",
				   "Lifetime of a new session, renewed by sliding expiry.",
				   &auth_session_ttl, 60, 10 * YEAR_SECS);
	define_seconds("auth.session_refresh_age",
				   "Age of the last refresh after which verifying a session extends it.",
				   &auth_session_refresh_age, 0, 10 * YEAR_SECS);
	define_seconds("auth.session_max_lifetime",
				   "Time after creation beyond which no session is extended.",
				   &auth_session_max_lifetime, 60, 10 * YEAR_SECS);
	define_count("auth.max_failed_sign_ins",
				 "Failed sign-ins per email within auth.failed_sign_in_window before the email is refused.",
				 &auth_max_failed_sign_ins, 1, 1000);
	define_seconds("auth.failed_sign_in_window",
				   "Window in which failed sign-ins per email are counted.",
				   &auth_failed_sign_in_window, 1, YEAR_SECS);
	define_seconds("auth.audit_retention",
				   "Age after which auth.cleanup() removes audit rows.",
				   &auth_audit_retention, 0, 50 * YEAR_SECS);
	define_seconds("auth.cleanup_grace",
				   "Time a session stays after it expired or was revoked before auth.cleanup() removes it.",
				   &auth_cleanup_grace, 0, 10 * YEAR_SECS);
	define_seconds("auth.magic_link_ttl",
				   "Lifetime of a magic link.",
				   &auth_magic_link_ttl, 60, 7 * SECS_PER_DAY);
	define_count("auth.magic_link_rate_limit",
				 "Magic links, codes, verification and reset messages requested per email within auth.magic_link_rate_window.",
				 &auth_magic_link_rate_limit, 1, 1000);
	define_seconds("auth.magic_link_rate_window",
				   "Window in which requests per email are counted.",
				   &auth_magic_link_rate_window, 1, YEAR_SECS);
	define_flag("auth.magic_link_sign_up",
				"Whether a magic link or sign-in code for an unknown email creates the user.",
				&auth_magic_link_sign_up);
	define_seconds("auth.email_code_ttl",
				   "Lifetime of a 6-digit email code.",
				   &auth_email_code_ttl, 60, SECS_PER_DAY);
	define_count("auth.code_max_attempts",
				 "Wrong tries after which a 6-digit code dies.",
				 &auth_code_max_attempts, 1, 100);
	define_seconds("auth.email_verification_ttl",
				   "Lifetime of an email verification or email change link.",
				   &auth_email_verification_ttl, 60, 30 * SECS_PER_DAY);
	define_seconds("auth.password_reset_ttl",
				   "Lifetime of a password reset link.",
				   &auth_password_reset_ttl, 60, 7 * SECS_PER_DAY);
	define_flag("auth.require_verified_email",
				"Whether auth.sign_in refuses users whose email is not verified.",
				&auth_require_verified_email);
	define_count("auth.membership_limit",
				 "Most members an organization may have.",
				 &auth_membership_limit, 1, 1000000);
	define_seconds("auth.invitation_ttl",
				   "Lifetime of an invitation to an organization.",
				   &auth_invitation_ttl, 60, 365 * SECS_PER_DAY);
	DefineCustomStringVariable("auth.api_key_prefix",
							   "Prefix of new API keys when auth.create_api_key is given none.",
							   "1 to 16 lowercase letters or digits; secret scanners match it.",
							   &auth_api_key_prefix, "ak", PGC_SUSET, 0,
							   check_api_key_prefix, NULL, NULL);
	define_seconds("auth.api_key_touch_interval",
				   "Age of last_used_at after which verifying a key without limits records the use.",
				   &auth_api_key_touch_interval, 0, YEAR_SECS);
	/* a server-start setting can only be defined while preloading */
	if (process_shared_preload_libraries_in_progress)
		DefineCustomIntVariable("auth.api_key_rate_limit_slots",
								"API keys whose rate-limit windows can be open at once in shared memory.",
								"Used when auth is in shared_preload_libraries; about 40 bytes each.",
								&auth_api_key_rate_limit_slots, auth_api_key_rate_limit_slots,
								64, 16 * 1024 * 1024, PGC_POSTMASTER, 0, NULL, NULL, NULL);
	/* any role that can connect may LISTEN; payloads hold ids and event names */
	define_flag("auth.notify_events",
				"Whether each audit event is also sent as NOTIFY auth_events.",
				&auth_notify_events);
	DefineCustomIntVariable("auth.time_offset",
							"Shifts the extension's clock, for tests only.",
							"Lets a test move time forward instead of sleeping.",
							&auth_time_offset, auth_time_offset, -50 * YEAR_SECS, 50 * YEAR_SECS,
							PGC_SUSET, GUC_UNIT_S | GUC_SUPERUSER_ONLY,
							NULL, NULL, NULL);
}

/*
 * The extension's clock: the transaction's start, like now(), shifted by
 * auth.time_offset.
 */
TimestampTz
auth_now(void)
{
	return GetCurrentTransactionStartTimestamp() +
		(TimestampTz) auth_time_offset * USECS_PER_SEC;
}

/*
 * The clock of rate-limit windows: the wall clock, shifted like auth_now(),
 * so that windows shared by every backend only move forward.
 */
TimestampTz
auth_wall_clock(void)
{
	return GetCurrentTimestamp() + (TimestampTz) auth_time_offset * USECS_PER_SEC;
}

void		_PG_init(void);

void
_PG_init(void)
{
	auth_define_settings();
	auth_define_identity();
	auth_api_key_shmem_init();
#if PG_VERSION_NUM >= 150000
	MarkGUCPrefixReserved("auth");
#else
	EmitWarningsOnPlaceholders("auth");
#endif
}

/* SQL function: auth.now() returns timestamptz */
PG_FUNCTION_INFO_V1(auth_now_sql);
Datum
auth_now_sql(PG_FUNCTION_ARGS)
{
	PG_RETURN_TIMESTAMPTZ(auth_now());
}

/*
 * Settings are read from SQL through these rather than current_setting(),
 * because calling them loads the module, which defines the settings.
 */
static const char *
auth_setting_value(text *name)
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
	const char *value = auth_setting_value(PG_GETARG_TEXT_PP(0));

	return DirectFunctionCall3(interval_in, CStringGetDatum(value),
							   ObjectIdGetDatum(InvalidOid), Int32GetDatum(-1));
}

/* SQL function: auth._setting_bool(name text) returns boolean */
PG_FUNCTION_INFO_V1(auth_setting_bool);
Datum
auth_setting_bool(PG_FUNCTION_ARGS)
{
	const char *value = auth_setting_value(PG_GETARG_TEXT_PP(0));

	PG_RETURN_BOOL(strcmp(value, "on") == 0);
}

/* SQL function: auth._setting_int(name text) returns integer */
PG_FUNCTION_INFO_V1(auth_setting_int);
Datum
auth_setting_int(PG_FUNCTION_ARGS)
{
	const char *value = auth_setting_value(PG_GETARG_TEXT_PP(0));

	PG_RETURN_INT32(pg_strtoint32(value));
}
