/*
 * onetime.h: one-time secrets (layer 5).
 */
#ifndef AUTH_ONETIME_H
#define AUTH_ONETIME_H

extern void auth_onetime_init(void);

#endif							/* AUTH_ONETIME_H */
