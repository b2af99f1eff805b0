/*
 * settings.h: defining the extension's settings (layer 1).
 *
 * Each module defines its own settings in its init function with these
 * helpers; every one is PGC_SUSET, its default the variable's initial
 * value.  Durations are integers in seconds (GUC_UNIT_S), so '7d' and
 * '15min' are accepted and shown.
 */
#ifndef AUTH_SETTINGS_H
#define AUTH_SETTINGS_H

#include "postgres.h"

#define AUTH_YEAR_SECS	(365 * SECS_PER_DAY)

extern void auth_define_seconds(const char *name, const char *desc, int *var,
								int min, int max);
extern void auth_define_count(const char *name, const char *desc, int *var,
							  int min, int max);
extern void auth_define_flag(const char *name, const char *desc, bool *var);
extern void auth_settings_init(void);

#endif							/* AUTH_SETTINGS_H */
