/*
 * token_shape.c: whether a string has the exact shape of a token.
 *
 * A string of any other shape is refused before any table is read, so
 * this is the first code outside input reaches.
 */
#include <string.h>

#include "token_shape.h"

const char	auth_b64url_alphabet[] =
"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* A prefix is 1 to 16 lowercase letters or digits. */
bool
auth_token_prefix_is_valid(const char *prefix)
{
	size_t		len = strnlen(prefix, AUTH_PREFIX_MAX + 1);

	if (len == 0 || len > AUTH_PREFIX_MAX)
		return false;
	for (const char *p = prefix; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9')))
			return false;
	return true;
}

/* Characters of nbytes encoded base64url without padding. */
size_t
auth_b64url_len(size_t nbytes)
{
	return (nbytes * 4 + 2) / 3;
}

/* Encodes len bytes base64url without padding into out (and a NUL). */
void
auth_b64url_encode(const uint8_t *data, size_t len, char *out)
{
	const char *a = auth_b64url_alphabet;

	for (size_t i = 0; i < len; i += 3)
	{
		size_t		left = len - i;
		uint32_t	v = ((uint32_t) data[i] << 16) |
			(left > 1 ? (uint32_t) data[i + 1] << 8 : 0) |
			(left > 2 ? data[i + 2] : 0);

		*out++ = a[(v >> 18) & 63];
		*out++ = a[(v >> 12) & 63];
		if (left > 1)
			*out++ = a[(v >> 6) & 63];
		if (left > 2)
			*out++ = a[v & 63];
	}
	*out = '\0';
}

/* The value of a base64url character, or -1 for any other. */
int
auth_b64url_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '-')
		return 62;
	if (c == '_')
		return 63;
	return -1;
}

/*
 * Whether token (len bytes, not NUL-terminated) is "<prefix>_" and the
 * canonical unpadded base64url of nbytes bytes.
 */
bool
auth_token_is_shaped(const char *prefix, size_t nbytes, const char *token,
					 size_t len)
{
	size_t		plen = strlen(prefix);
	int			spare_bits = (3 - nbytes % 3) % 3 * 2;	/* zero at the end */

	if (len != plen + 1 + auth_b64url_len(nbytes) ||
		memcmp(token, prefix, plen) != 0 || token[plen] != '_')
		return false;
	for (size_t i = plen + 1; i < len; i++)
		if (auth_b64url_value((unsigned char) token[i]) < 0)
			return false;
	/* the bits the last character carries beyond the bytes must be zero */
	return (auth_b64url_value((unsigned char) token[len - 1]) & ((1 << spare_bits) - 1)) == 0;
}

/*
 * Copies the prefix of token, the text before its '_' within the first 17
 * bytes, into prefix (AUTH_PREFIX_MAX + 1 bytes); false when there is none
 * or it is not a valid prefix.
 */
bool
auth_token_split_prefix(const char *token, size_t len, char *prefix)
{
	size_t		n = len < AUTH_PREFIX_MAX + 1 ? len : AUTH_PREFIX_MAX + 1;
	const char *sep = memchr(token, '_', n);

	if (sep == NULL || sep == token || memchr(token, '\0', sep - token))
		return false;
	memcpy(prefix, token, sep - token);
	prefix[sep - token] = '\0';
	return auth_token_prefix_is_valid(prefix);
}
