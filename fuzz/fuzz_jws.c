/*
 * fuzz_jws.c: auth_jws_parse and auth_b64url_decode (jws.c), the JWS
 * compact form every verification parses first.
 *
 * The input is a token (given by length, in a heap block of its own size,
 * as the server passes it).  Checked against a reference written here:
 *
 *  - the parser accepts exactly: at most 8192 bytes, three parts separated
 *    by two dots, each canonical unpadded base64url, header and signature
 *    not empty;
 *  - the decoded parts are what the reference decodes, and encoding them
 *    again (auth_b64url_encode) gives the token back, character for
 *    character, so no other spelling of a token parses;
 *  - the signing input is the token up to its second dot.
 */
#include "fuzz_util.h"
#include "jws.h"
#include "token_shape.h"

static int
ref_value(char c)
{
	const char *pos = c != '\0' ? strchr(auth_b64url_alphabet, c) : NULL;

	return pos == NULL ? -1 : (int) (pos - auth_b64url_alphabet);
}

/* Canonical unpadded base64url: every character valid, no spare bits. */
static bool
ref_part_ok(const char *s, size_t len)
{
	size_t		rem = len % 4;

	if (rem == 1)
		return false;
	for (size_t i = 0; i < len; i++)
		if (ref_value(s[i]) < 0)
			return false;
	if (rem == 2)
		return (ref_value(s[len - 1]) & 0x0f) == 0;
	if (rem == 3)
		return (ref_value(s[len - 1]) & 0x03) == 0;
	return true;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char	   *token = fuzz_exact_copy(data, size);
	uint8_t    *buf = malloc(size + 1);
	AuthJwsParts parts;
	bool		ok = auth_jws_parse(token, size, buf, size, &parts);
	const char *dot1 = memchr(token, '.', size);
	const char *dot2 = dot1 ? memchr(dot1 + 1, '.', size - (dot1 + 1 - token)) : NULL;
	bool		expect;

	expect = size > 0 && size <= AUTH_JWS_MAX_LEN && dot1 != NULL &&
		dot2 != NULL &&
		memchr(dot2 + 1, '.', size - (dot2 + 1 - token)) == NULL &&
		dot1 > token && dot2 + 1 < token + size &&
		ref_part_ok(token, dot1 - token) &&
		ref_part_ok(dot1 + 1, dot2 - dot1 - 1) &&
		ref_part_ok(dot2 + 1, size - (dot2 + 1 - token));
	/* an empty header or signature decodes to no byte: refused too */
	FUZZ_CHECK(ok == expect);
	if (ok)
	{
		char	   *again = malloc(size + 4);
		size_t		n = 0;

		FUZZ_CHECK(parts.signing_input_len == (size_t) (dot2 - token));
		auth_b64url_encode(parts.header, parts.header_len, again);
		n = strlen(again);
		again[n++] = '.';
		auth_b64url_encode(parts.payload, parts.payload_len, again + n);
		n += strlen(again + n);
		again[n++] = '.';
		auth_b64url_encode(parts.signature, parts.signature_len, again + n);
		n += strlen(again + n);
		FUZZ_CHECK(n == size && memcmp(again, token, size) == 0);
		free(again);
	}
	free(buf);
	free(token);
	return 0;
}
