/*
 * clock.h: the extension's clock (layer 1).
 */
#ifndef AUTH_CLOCK_H
#define AUTH_CLOCK_H

#include "postgres.h"

#include "utils/timestamp.h"

extern void auth_clock_init(void);
extern TimestampTz auth_now(void);
extern TimestampTz auth_wall_clock(void);
extern int64 auth_interval_usecs(const Interval *iv);

#endif							/* AUTH_CLOCK_H */
