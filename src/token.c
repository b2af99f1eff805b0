/*
 * token.c: the secrets the extension issues.
 *
 * A token is "<prefix>_" followed by 256 bits from pg_strong_random encoded
 * base64url without padding (43 characters).  Only its SHA-256 is stored.
 * A string that does not have the exact shape of a token of the expected
 * kind is refused before any table is read.
 */
#include "postgres.h"

#include <openssl/evp.h>

#include "fmgr.h"
#include "utils/builtins.h"

#include "auth.h"

#define TOKEN_BODY_LEN	43		/* base64url of 32 bytes, unpadded */

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

static bool
prefix_is_valid(const char *prefix)
{
	Size		len = strlen(prefix);

	if (len == 0 || len > 16)
		return false;
	for (const char *p = prefix; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9')))
			return false;
	return true;
}

/* A fresh token "<prefix>_<43 base64url characters>", palloc'd. */
char *
auth_token_generate(const char *prefix)
{
	uint8		raw[AUTH_TOKEN_BYTES + 1];
	Size		plen = strlen(prefix);
	char	   *out;
	char	   *p;

	if (!prefix_is_valid(prefix))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid token prefix"),
				 errdetail("A prefix is 1 to 16 lowercase letters or digits.")));

	auth_random_bytes(raw, AUTH_TOKEN_BYTES);
	raw[AUTH_TOKEN_BYTES] = 0;
	out = palloc(plen + 1 + TOKEN_BODY_LEN + 1);
	memcpy(out, prefix, plen);
	out[plen] = '_';
	p = out + plen + 1;
	/* 32 bytes = 10 groups of 3 bytes and 2 bytes left: 40 + 3 characters */
	for (int i = 0; i < AUTH_TOKEN_BYTES; i += 3)
	{
		uint32		v = (raw[i] << 16) | (raw[i + 1] << 8) |
			(i + 2 < AUTH_TOKEN_BYTES ? raw[i + 2] : 0);

		*p++ = b64url[(v >> 18) & 63];
		*p++ = b64url[(v >> 12) & 63];
		*p++ = b64url[(v >> 6) & 63];
		if (i + 2 < AUTH_TOKEN_BYTES)
			*p++ = b64url[v & 63];
	}
	*p = '\0';
	Assert(p - out == plen + 1 + TOKEN_BODY_LEN);
	explicit_bzero(raw, sizeof(raw));
	return out;
}

/*
 * When token (len bytes, not NUL-terminated) has the exact shape of a token
 * with this prefix, store its SHA-256 in hash_out and return true.
 */
bool
auth_token_hash_if_shaped(const char *prefix, const char *token, Size len,
						  uint8 *hash_out)
{
	Size		plen = strlen(prefix);

	if (len != plen + 1 + TOKEN_BODY_LEN ||
		memcmp(token, prefix, plen) != 0 || token[plen] != '_')
		return false;
	for (Size i = plen + 1; i < len; i++)
	{
		char		c = token[i];

		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
			  (c >= '0' && c <= '9') || c == '-' || c == '_'))
			return false;
	}
	/* the last character carries 4 bits: the 2 low ones must be zero */
	if ((strchr(b64url, token[len - 1]) - b64url) & 3)
		return false;
	auth_sha256(token, len, hash_out);
	return true;
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
