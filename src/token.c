/*
 * token.c: the secrets the extension issues.
 *
 * A token is "<prefix>_" followed by 256 bits from pg_strong_random encoded
 * base64url without padding (43 characters); an API key carries 288 bits
 * (48 characters), so that the few it shows for display leave over 256.  Only its SHA-256 is stored.
 * A string that does not have the exact shape of a token of the expected
 * kind is refused before any table is read.
 */
#include "postgres.h"

#include <openssl/evp.h>

#include "fmgr.h"
#include "utils/builtins.h"

#include "auth.h"

static const char b64url[] =
"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

void
auth_sha256(const void *data, Size len, uint8 *out)
{
	unsigned int outlen = 0;
#if OPENSSL_VERSION_NUMBER >= 0x30000000L
	/* fetched once: a fetch per call takes a lock in OpenSSL's provider store */
	static EVP_MD *sha256 = NULL;

	if (sha256 == NULL)
		sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
#else
	const EVP_MD *sha256 = EVP_sha256();
#endif

	if (sha256 == NULL ||
		EVP_Digest(data, len, out, &outlen, sha256, NULL) != 1 ||
		outlen != AUTH_HASH_LEN)
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not compute a SHA-256 digest")));
}

/* len bytes from pg_strong_random, or an error */
void
auth_random_bytes(void *buf, Size len)
{
	if (!pg_strong_random(buf, len))
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not generate random bytes")));
}

/* A prefix is 1 to 16 lowercase letters or digits. */
bool
auth_token_prefix_is_valid(const char *prefix)
{
	Size		len = strlen(prefix);

	if (len == 0 || len > 16)
		return false;
	for (const char *p = prefix; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9')))
			return false;
	return true;
}

/* Characters of nbytes encoded base64url without padding. */
static Size
body_len(Size nbytes)
{
	return (nbytes * 4 + 2) / 3;
}

/* A fresh token "<prefix>_<nbytes random bytes, base64url>", palloc'd. */
char *
auth_token_generate_bytes(const char *prefix, Size nbytes)
{
	uint8		raw[AUTH_MAX_TOKEN_BYTES];
	Size		plen = strlen(prefix);
	char	   *out;
	char	   *p;

	if (!auth_token_prefix_is_valid(prefix))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid token prefix"),
				 errdetail("A prefix is 1 to 16 lowercase letters or digits.")));
	Assert(nbytes >= AUTH_TOKEN_BYTES && nbytes <= AUTH_MAX_TOKEN_BYTES);

	auth_random_bytes(raw, nbytes);
	out = palloc(plen + 1 + body_len(nbytes) + 1);
	memcpy(out, prefix, plen);
	out[plen] = '_';
	p = out + plen + 1;
	for (Size i = 0; i < nbytes; i += 3)
	{
		Size		left = nbytes - i;
		uint32		v = (raw[i] << 16) | (left > 1 ? raw[i + 1] << 8 : 0) |
			(left > 2 ? raw[i + 2] : 0);

		*p++ = b64url[(v >> 18) & 63];
		*p++ = b64url[(v >> 12) & 63];
		if (left > 1)
			*p++ = b64url[(v >> 6) & 63];
		if (left > 2)
			*p++ = b64url[v & 63];
	}
	*p = '\0';
	Assert(p - out == plen + 1 + body_len(nbytes));
	explicit_bzero(raw, sizeof(raw));
	return out;
}

/* A fresh token "<prefix>_<43 base64url characters>", palloc'd. */
char *
auth_token_generate(const char *prefix)
{
	return auth_token_generate_bytes(prefix, AUTH_TOKEN_BYTES);
}

/*
 * When token (len bytes, not NUL-terminated) has the exact shape of a token
 * of nbytes with this prefix, store its SHA-256 in hash_out and return true.
 */
bool
auth_token_hash_if_shaped_bytes(const char *prefix, Size nbytes,
								const char *token, Size len, uint8 *hash_out)
{
	Size		plen = strlen(prefix);
	int			spare_bits = (3 - nbytes % 3) % 3 * 2;	/* zero bits at the end */

	if (len != plen + 1 + body_len(nbytes) ||
		memcmp(token, prefix, plen) != 0 || token[plen] != '_')
		return false;
	for (Size i = plen + 1; i < len; i++)
	{
		char		c = token[i];

		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
			  (c >= '0' && c <= '9') || c == '-' || c == '_'))
			return false;
	}
	/* the bits the last character carries beyond the bytes must be zero */
	if ((strchr(b64url, token[len - 1]) - b64url) & ((1 << spare_bits) - 1))
		return false;
	auth_sha256(token, len, hash_out);
	return true;
}

bool
auth_token_hash_if_shaped(const char *prefix, const char *token, Size len,
						  uint8 *hash_out)
{
	return auth_token_hash_if_shaped_bytes(prefix, AUTH_TOKEN_BYTES, token,
										   len, hash_out);
}

/* SQL function: auth._generate_token(prefix text) returns text */
PG_FUNCTION_INFO_V1(auth_generate_token_sql);
Datum
auth_generate_token_sql(PG_FUNCTION_ARGS)
{
	char	   *prefix = text_to_cstring(PG_GETARG_TEXT_PP(0));

	PG_RETURN_TEXT_P(cstring_to_text(auth_token_generate(prefix)));
}

/*
 * SQL function: auth._token_hash(token text, prefix text) returns bytea
 * NULL when the token does not have the shape of a token of that kind.
 */
PG_FUNCTION_INFO_V1(auth_token_hash_sql);
Datum
auth_token_hash_sql(PG_FUNCTION_ARGS)
{
	text	   *token = PG_GETARG_TEXT_PP(0);
	char	   *prefix = text_to_cstring(PG_GETARG_TEXT_PP(1));
	bytea	   *result = palloc(VARHDRSZ + AUTH_HASH_LEN);

	SET_VARSIZE(result, VARHDRSZ + AUTH_HASH_LEN);
	if (!auth_token_hash_if_shaped(prefix, VARDATA_ANY(token),
								   VARSIZE_ANY_EXHDR(token),
								   (uint8 *) VARDATA(result)))
		PG_RETURN_NULL();
	PG_RETURN_BYTEA_P(result);
}
