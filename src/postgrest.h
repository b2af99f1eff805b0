/*
 * postgrest.h: the settings of auth.postgrest_pre_request() (layer 5).
 */
#ifndef AUTH_POSTGREST_H
#define AUTH_POSTGREST_H

#include "postgres.h"

extern void auth_postgrest_init(void);

#endif							/* AUTH_POSTGREST_H */
