/*
 * token.h: the secrets the extension issues (layer 1).
 */
#ifndef AUTH_TOKEN_H
#define AUTH_TOKEN_H

#include "postgres.h"

#include "token_shape.h"

#define AUTH_HASH_LEN		32		/* SHA-256 */
#define AUTH_TOKEN_BYTES	32		/* 256 bits from pg_strong_random */
#define AUTH_API_KEY_BYTES	36		/* 288 bits: 48 characters, 4 shown */
#define AUTH_MAX_TOKEN_BYTES 64
#define AUTH_SESSION_PREFIX "ses"

/* A SHA-256 digest as a bytea, on the stack: the varlena header aligned. */
typedef union AuthDigest
{
	int32		align;
	uint8		bytes[VARHDRSZ + AUTH_HASH_LEN];
} AuthDigest;

extern void auth_random_bytes(void *buf, Size len);
extern void auth_sha256(const void *data, Size len, uint8 *out);
extern char *auth_token_generate(const char *prefix);
extern char *auth_token_generate_bytes(const char *prefix, Size nbytes);
extern bool auth_token_prefix_is_reserved(const char *prefix);
extern bool auth_token_hash_if_shaped_bytes(const char *prefix, Size nbytes,
											const char *token, Size len,
											AuthDigest *digest);
extern bool auth_token_hash_if_shaped(const char *prefix, const char *token,
									  Size len, AuthDigest *digest);

#endif							/* AUTH_TOKEN_H */
