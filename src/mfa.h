/*
 * mfa.h: second factors and the settings of MFA (layer 5).
 */
#ifndef AUTH_MFA_H
#define AUTH_MFA_H

extern void auth_mfa_init(void);

#endif							/* AUTH_MFA_H */
