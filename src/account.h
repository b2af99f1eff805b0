/*
 * account.h: the account-wide RLS helpers, global permissions and the
 * impersonator (layer 5).
 */
#ifndef AUTH_ACCOUNT_H
#define AUTH_ACCOUNT_H

extern void auth_account_init(void);

#endif							/* AUTH_ACCOUNT_H */
