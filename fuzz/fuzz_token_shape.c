/*
 * fuzz_token_shape.c: auth_token_is_shaped, auth_token_split_prefix,
 * auth_token_prefix_is_valid, auth_b64url_encode.
 *
 * The first byte of the input picks nbytes (0 to 64), the rest is a token
 * (given by length, in a heap block of its own size, as the server passes
 * it).  Checked against a reference written here:
 *
 *  - the prefix a token splits into is valid and is what precedes its '_';
 *  - the shape check accepts exactly "<prefix>_" + the canonical unpadded
 *    base64url of nbytes bytes (decoding and re-encoding gives the body);
 *  - the bytes of the token, encoded, make a token the shape check accepts
 *    (and not with one character less or for another byte count), and
 *    decode back to those bytes.
 */
#include "fuzz_util.h"
#include "token_shape.h"

#define MAX_NBYTES 64

static int
ref_b64url_value(char c)
{
	const char *pos = c != '\0' ? strchr(auth_b64url_alphabet, c) : NULL;

	return pos == NULL ? -1 : (int) (pos - auth_b64url_alphabet);
}

/* Encoded length of n bytes, counted group by group. */
static size_t
ref_b64url_len(size_t n)
{
	return n / 3 * 4 + (n % 3 == 0 ? 0 : n % 3 + 1);
}

/*
 * Decodes len characters into out; the byte count, or -1 when one is not
 * in the alphabet, the length is impossible or unused bits are not zero.
 */
static int
ref_b64url_decode(const char *s, size_t len, uint8_t *out, size_t outmax)
{
	uint32_t	acc = 0;
	int			bits = 0;
	size_t		n = 0;

	if (len % 4 == 1)
		return -1;
	for (size_t i = 0; i < len; i++)
	{
		int			v = ref_b64url_value(s[i]);

		if (v < 0)
			return -1;
		acc = (acc << 6) | (uint32_t) v;
		bits += 6;
		if (bits >= 8)
		{
			bits -= 8;
			if (n == outmax)
				return -1;
			out[n++] = (uint8_t) (acc >> bits);
		}
	}
	if ((acc & ((1u << bits) - 1)) != 0)
		return -1;
	return (int) n;
}

static bool
ref_prefix_is_valid(const char *p)
{
	size_t		len = strlen(p);

	if (len < 1 || len > AUTH_PREFIX_MAX)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!((p[i] >= 'a' && p[i] <= 'z') || (p[i] >= '0' && p[i] <= '9')))
			return false;
	return true;
}

static bool
ref_is_shaped(const char *prefix, size_t nbytes, const char *token,
			  size_t len)
{
	size_t		plen = strlen(prefix);
	uint8_t		bytes[MAX_NBYTES];

	if (len != plen + 1 + ref_b64url_len(nbytes) ||
		memcmp(token, prefix, plen) != 0 || token[plen] != '_')
		return false;
	return ref_b64url_decode(token + plen + 1, len - plen - 1, bytes,
							 sizeof(bytes)) == (int) nbytes;
}

/* "<prefix>_<body>" in a heap block of exactly its length (no NUL). */
static char *
make_token(const char *prefix, const char *body, size_t *len)
{
	size_t		plen = strlen(prefix),
				blen = strlen(body);
	char	   *t = malloc(plen + 1 + blen);

	FUZZ_CHECK(t != NULL);
	memcpy(t, prefix, plen);
	t[plen] = '_';
	memcpy(t + plen + 1, body, blen);
	*len = plen + 1 + blen;
	return t;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t		nbytes,
				len,
				tlen;
	char	   *token,
			   *cstr,
			   *body,
			   *t;
	char		prefix[AUTH_PREFIX_MAX + 1];
	char		again[AUTH_PREFIX_MAX + 1];
	uint8_t		bytes[MAX_NBYTES];
	bool		split,
				shaped;

	if (size == 0)
		return 0;
	nbytes = data[0] % (MAX_NBYTES + 1);
	len = size - 1;
	token = fuzz_exact_copy(data + 1, len);

	/* the prefix rule, on the input as a string */
	cstr = fuzz_cstring(data + 1, len);
	FUZZ_CHECK(auth_token_prefix_is_valid(cstr) == ref_prefix_is_valid(cstr));
	free(cstr);

	/* the prefix of the token */
	split = auth_token_split_prefix(token, len, prefix);
	if (split)
	{
		size_t		plen = strnlen(prefix, sizeof(prefix));

		FUZZ_CHECK(plen < sizeof(prefix));
		FUZZ_CHECK(ref_prefix_is_valid(prefix));
		FUZZ_CHECK(plen < len && memcmp(token, prefix, plen) == 0 &&
				   token[plen] == '_');
	}
	else
	{
		/* nothing before a '_' in the first 17 bytes is a valid prefix */
		for (size_t i = 1; i <= AUTH_PREFIX_MAX && i < len; i++)
		{
			if (token[i] != '_')
				continue;
			/* a NUL before the '_' is never a prefix (src is refused) */
			if (memchr(token, '\0', i) != NULL)
				break;
			memcpy(prefix, token, i);
			prefix[i] = '\0';
			FUZZ_CHECK(!ref_prefix_is_valid(prefix));
			break;
		}
		strcpy(prefix, "ak");
	}

	/* the shape check against the reference */
	shaped = auth_token_is_shaped(prefix, nbytes, token, len);
	FUZZ_CHECK(shaped == ref_is_shaped(prefix, nbytes, token, len));
	if (shaped)
	{
		size_t		plen = strlen(prefix);
		int			n = ref_b64url_decode(token + plen + 1, len - plen - 1,
										  bytes, sizeof(bytes));

		FUZZ_CHECK(n == (int) nbytes);
		body = malloc(auth_b64url_len(nbytes) + 1);
		FUZZ_CHECK(body != NULL);
		auth_b64url_encode(bytes, nbytes, body);
		FUZZ_CHECK(memcmp(body, token + plen + 1, len - plen - 1) == 0);
		free(body);
	}

	/* encoding: the token's own bytes as the secret */
	memset(bytes, 0, sizeof(bytes));
	memcpy(bytes, data + 1, len < nbytes ? len : nbytes);
	FUZZ_CHECK(auth_b64url_len(nbytes) == ref_b64url_len(nbytes));
	body = malloc(auth_b64url_len(nbytes) + 1);	/* what token.c allocates */
	FUZZ_CHECK(body != NULL);
	auth_b64url_encode(bytes, nbytes, body);
	FUZZ_CHECK(strlen(body) == auth_b64url_len(nbytes));
	{
		uint8_t		decoded[MAX_NBYTES];

		FUZZ_CHECK(ref_b64url_decode(body, strlen(body), decoded,
									 sizeof(decoded)) == (int) nbytes);
		FUZZ_CHECK(memcmp(decoded, bytes, nbytes) == 0);
	}
	t = make_token(prefix, body, &tlen);
	FUZZ_CHECK(auth_token_is_shaped(prefix, nbytes, t, tlen));
	FUZZ_CHECK(!auth_token_is_shaped(prefix, nbytes, t, tlen - 1));
	FUZZ_CHECK(!auth_token_is_shaped(prefix, nbytes + 1, t, tlen));
	if (nbytes > 0)
		FUZZ_CHECK(!auth_token_is_shaped(prefix, nbytes - 1, t, tlen));
	FUZZ_CHECK(auth_token_split_prefix(t, tlen, again));
	FUZZ_CHECK(strcmp(again, prefix) == 0);
	free(t);
	free(body);
	free(token);
	return 0;
}
