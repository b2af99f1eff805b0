/*
 * auth.c: the module's entry point.
 *
 * _PG_init calls each module's init in layer order, as pgvector's vector.c
 * does; each defines its own settings, shared memory, hooks and credential
 * kind.  The identity setting is defined after the credential modules have
 * registered their kinds, so that a value set before the library was loaded
 * can be parsed.
 */
#include "postgres.h"

#include "fmgr.h"
#include "utils/guc.h"

#include "account.h"
#include "apikey.h"
#include "autonomous.h"
#include "clock.h"
#include "identity.h"
#include "jwt.h"
#include "keys_at_rest.h"
#include "mfa.h"
#include "onetime.h"
#include "organization.h"
#include "password.h"
#include "postgrest.h"
#include "role.h"
#include "session.h"
#include "settings.h"

PG_MODULE_MAGIC;

void		_PG_init(void);

void
_PG_init(void)
{
	/* layer 1 */
	auth_clock_init();
	auth_settings_init();
	/* layer 2: the extension's own workers, when preloaded */
	auth_autonomous_init();
	auth_keys_at_rest_init();
	/* layer 4: credentials register their kinds of identity */
	auth_session_init();
	auth_api_key_init();
	auth_jwt_init();
	/* layer 3 */
	auth_identity_init();
	auth_role_init();
	/* layer 5 */
	auth_password_init();
	auth_onetime_init();
	auth_organization_init();
	auth_account_init();
	auth_postgrest_init();
	auth_mfa_init();
#if PG_VERSION_NUM >= 150000
	MarkGUCPrefixReserved("auth");
#else
	EmitWarningsOnPlaceholders("auth");
#endif
}
