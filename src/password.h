/*
 * password.h: password hashing and verification (layer 5).
 */
#ifndef AUTH_PASSWORD_H
#define AUTH_PASSWORD_H

extern void auth_password_init(void);

#endif							/* AUTH_PASSWORD_H */
