/*
 * phc.h: the text forms of password hashes: argon2 PHC strings, bcrypt,
 * better-auth's scrypt.
 *
 * Layer 1, pure C: no server headers, so the fuzz targets link it alone.
 */
#ifndef AUTH_PHC_H
#define AUTH_PHC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum AuthArgon2Type
{
	AUTH_ARGON2D = 0,			/* libargon2's numbering */
	AUTH_ARGON2I = 1,
	AUTH_ARGON2ID = 2
} AuthArgon2Type;

#define AUTH_ARGON2_VERSION_10	0x10
#define AUTH_ARGON2_VERSION_13	0x13

typedef struct AuthPhc
{
	AuthArgon2Type type;
	uint32_t	version;
	uint32_t	m_cost;			/* KiB */
	uint32_t	t_cost;			/* passes */
	uint32_t	lanes;
	uint8_t		salt[64];
	size_t		saltlen;
	uint8_t		hash[64];
	size_t		hashlen;
} AuthPhc;

/* "$argon2id$v=19$m=...,t=...,p=...$" + two 86-character fields at most */
#define AUTH_PHC_MAX	256

#define AUTH_SCRYPT_SALT_HEX	32
#define AUTH_SCRYPT_KEY_LEN		64

extern bool auth_phc_parse(const char *s, AuthPhc *out);
extern bool auth_phc_format(const AuthPhc *p, char *buf, size_t buflen);
extern bool auth_is_bcrypt(const char *s, size_t len);
extern int	auth_bcrypt_cost(const char *s);
extern bool auth_is_better_auth_scrypt(const char *s, size_t len);

#endif							/* AUTH_PHC_H */
