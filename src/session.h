/*
 * session.h: session tokens, the first kind of credential (layer 4).
 */
#ifndef AUTH_SESSION_H
#define AUTH_SESSION_H

#include "postgres.h"

extern void auth_session_init(void);

#endif							/* AUTH_SESSION_H */
