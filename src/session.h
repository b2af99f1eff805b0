/*
 * session.h: session tokens, the first kind of credential (layer 4).
 */
#ifndef AUTH_SESSION_H
#define AUTH_SESSION_H

#include "postgres.h"

#include "fmgr.h"

#include "identity.h"

extern void auth_session_init(void);
extern bool auth_identity_is_session(const AuthIdentity *ident);

/* SQL function auth.authenticate, also called by request.c */
extern Datum auth_authenticate(PG_FUNCTION_ARGS);

#endif							/* AUTH_SESSION_H */
