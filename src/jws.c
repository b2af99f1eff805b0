/*
 * jws.c: splits and decodes a JWS in compact form (layer 1, pure C).
 *
 * Nothing here trusts the token: each part is decoded strictly, and the
 * decoded bytes go to the caller's buffer, which holds at least as many
 * bytes as the token has characters (decoding only shrinks).
 */
#include <string.h>

#include "jws.h"
#include "token_shape.h"

/*
 * Decodes unpadded base64url; false for any other character, a length that
 * is 1 modulo 4, or leftover bits that are not zero.  out holds at least
 * len * 3 / 4 bytes.
 */
bool
auth_b64url_decode(const char *in, size_t len, uint8_t *out, size_t *outlen)
{
	uint32_t	acc = 0;
	int			bits = 0;
	size_t		n = 0;

	if (len % 4 == 1)
		return false;
	for (size_t i = 0; i < len; i++)
	{
		int			v = auth_b64url_value((unsigned char) in[i]);

		if (v < 0)
			return false;
		acc = (acc << 6) | (uint32_t) v;
		bits += 6;
		if (bits >= 8)
		{
			bits -= 8;
			out[n++] = (uint8_t) (acc >> bits);
			acc &= (1u << bits) - 1;
		}
	}
	if (acc != 0)				/* a second spelling of the same bytes */
		return false;
	*outlen = n;
	return true;
}

/*
 * Splits token (len bytes, not NUL-terminated) into its three parts and
 * decodes them into buf (buflen at least len).  The header and the
 * signature must not be empty; the payload may be.
 */
bool
auth_jws_parse(const char *token, size_t len, uint8_t *buf, size_t buflen,
			   AuthJwsParts *out)
{
	const char *dot1;
	const char *dot2;
	size_t		hlen,
				plen,
				slen,
				n;

	if (token == NULL || len == 0 || len > AUTH_JWS_MAX_LEN || buflen < len)
		return false;
	dot1 = memchr(token, '.', len);
	if (dot1 == NULL)
		return false;
	dot2 = memchr(dot1 + 1, '.', len - (size_t) (dot1 + 1 - token));
	if (dot2 == NULL ||
		memchr(dot2 + 1, '.', len - (size_t) (dot2 + 1 - token)) != NULL)
		return false;
	hlen = (size_t) (dot1 - token);
	plen = (size_t) (dot2 - dot1 - 1);
	slen = len - (size_t) (dot2 + 1 - token);
	if (hlen == 0 || slen == 0)
		return false;

	memset(out, 0, sizeof(*out));
	out->signing_input_len = (size_t) (dot2 - token);
	if (!auth_b64url_decode(token, hlen, buf, &n))
		return false;
	out->header = buf;
	out->header_len = n;
	buf += n;
	if (!auth_b64url_decode(dot1 + 1, plen, buf, &n))
		return false;
	out->payload = buf;
	out->payload_len = n;
	buf += n;
	if (!auth_b64url_decode(dot2 + 1, slen, buf, &n))
		return false;
	out->signature = buf;
	out->signature_len = n;
	return out->header_len > 0 && out->signature_len > 0;
}
