/*
 * organization.h: organizations and their RLS helpers (layer 5).
 */
#ifndef AUTH_ORGANIZATION_H
#define AUTH_ORGANIZATION_H

extern void auth_organization_init(void);

#endif							/* AUTH_ORGANIZATION_H */
