/*
 * jws.h: the JWS compact serialization, "<header>.<payload>.<signature>",
 * each part base64url without padding (RFC 7515 section 7.1).
 *
 * Layer 1, pure C: no server headers, so the fuzz target links it alone.
 * Strict: exactly three parts, the base64url alphabet only, no padding, no
 * non-zero bits left over in the last character (one spelling per value),
 * at most AUTH_JWS_MAX_LEN characters in all.
 */
#ifndef AUTH_JWS_H
#define AUTH_JWS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define AUTH_JWS_MAX_LEN	8192

/* A parsed token: the decoded parts point into the caller's buffer. */
typedef struct AuthJwsParts
{
	size_t		signing_input_len;	/* "<header>.<payload>", in the token */
	const uint8_t *header;
	size_t		header_len;
	const uint8_t *payload;
	size_t		payload_len;
	const uint8_t *signature;
	size_t		signature_len;
} AuthJwsParts;

extern bool auth_b64url_decode(const char *in, size_t len, uint8_t *out,
							   size_t *outlen);
extern bool auth_jws_parse(const char *token, size_t len, uint8_t *buf,
						   size_t buflen, AuthJwsParts *out);

#endif							/* AUTH_JWS_H */
