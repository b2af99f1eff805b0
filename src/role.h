/*
 * role.h: the database role an identity acts as (layer 3, beside
 * identity.c).
 */
#ifndef AUTH_ROLE_H
#define AUTH_ROLE_H

#include "postgres.h"

extern void auth_role_init(void);
extern void auth_role_switch_authenticated(void);

#endif							/* AUTH_ROLE_H */
