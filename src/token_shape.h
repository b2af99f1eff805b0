/*
 * token_shape.h: the shape of the secrets the extension issues,
 * "<prefix>_<base64url of n random bytes, unpadded>".
 *
 * Layer 1, pure C: no server headers, so the fuzz targets link it alone.
 */
#ifndef AUTH_TOKEN_SHAPE_H
#define AUTH_TOKEN_SHAPE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define AUTH_PREFIX_MAX		16

extern const char auth_b64url_alphabet[];

extern bool auth_token_prefix_is_valid(const char *prefix);
extern size_t auth_b64url_len(size_t nbytes);
extern int	auth_b64url_value(unsigned char c);
extern void auth_b64url_encode(const uint8_t *data, size_t len, char *out);
extern bool auth_token_is_shaped(const char *prefix, size_t nbytes,
								 const char *token, size_t len);
extern bool auth_token_split_prefix(const char *token, size_t len,
									char *prefix);

#endif							/* AUTH_TOKEN_SHAPE_H */
