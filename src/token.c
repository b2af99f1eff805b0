/*
 * token.c: the secrets the extension issues.
 *
 * A token is "<prefix>_" followed by 256 bits from pg_strong_random encoded
 * base64url without padding (43 characters); an API key carries 288 bits
 * (48 characters), so that the few it shows for display leave over 256.
 * Only its SHA-256 is stored.  A string that does not have the exact shape
 * of a token of the expected kind is refused before any table is read.
 */
#include "postgres.h"

#include <openssl/evp.h>

#include "fmgr.h"
#include "utils/builtins.h"

#include "token.h"

/*
 * The prefixes of the extension's own token kinds: no API key may take
 * one, so a token of one kind is never looked up as another.
 */
static const char *const reserved_prefixes[] = {
	AUTH_SESSION_PREFIX,		/* session token */
	"mlk",						/* magic link */
	"evt",						/* email verification */
	"ect",						/* email change */
	"pwr",						/* password reset */
	"inv",						/* invitation */
	"mfc",						/* MFA challenge */
};
void
auth_sha256(const void *data, Size len, uint8 *out)
{
	unsigned int outlen = 0;
#if OPENSSL_VERSION_NUMBER >= 0x30000000L
	/*
	 * fetched once: a fetch per call takes a lock in OpenSSL's provider store
	 */
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

/* Whether prefix names one of the extension's own token kinds. */
bool
auth_token_prefix_is_reserved(const char *prefix)
{
	for (int i = 0; i < (int) lengthof(reserved_prefixes); i++)
		if (strcmp(prefix, reserved_prefixes[i]) == 0)
			return true;
	return false;
}

/* A fresh token "<prefix>_<nbytes random bytes, base64url>", palloc'd. */
char *
auth_token_generate_bytes(const char *prefix, Size nbytes)
{
	uint8		raw[AUTH_MAX_TOKEN_BYTES];
	Size		plen = strlen(prefix);
	char	   *out;

	if (!auth_token_prefix_is_valid(prefix))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid token prefix"),
				 errdetail(
					 "A prefix is 1 to 16 lowercase letters or digits.")));
	Assert(nbytes >= AUTH_TOKEN_BYTES && nbytes <= AUTH_MAX_TOKEN_BYTES);

	auth_random_bytes(raw, nbytes);
	out = palloc(plen + 1 + auth_b64url_len(nbytes) + 1);
	memcpy(out, prefix, plen);
	out[plen] = '_';
	auth_b64url_encode(raw, nbytes, out + plen + 1);
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
 * of nbytes with this prefix, store its SHA-256 in digest and return true.
 */
bool
auth_token_hash_if_shaped_bytes(const char *prefix, Size nbytes,
								const char *token, Size len,
								AuthDigest *digest)
{
	if (!auth_token_is_shaped(prefix, nbytes, token, len))
		return false;
	SET_VARSIZE(digest->bytes, VARHDRSZ + AUTH_HASH_LEN);
	auth_sha256(token, len, (uint8 *) VARDATA(digest->bytes));
	return true;
}

bool
auth_token_hash_if_shaped(const char *prefix, const char *token, Size len,
						  AuthDigest *digest)
{
	return auth_token_hash_if_shaped_bytes(prefix, AUTH_TOKEN_BYTES, token,
										   len, digest);
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
	AuthDigest	digest;

	if (!auth_token_hash_if_shaped(prefix, VARDATA_ANY(token),
								   VARSIZE_ANY_EXHDR(token), &digest))
		PG_RETURN_NULL();
	PG_RETURN_BYTEA_P(DatumGetByteaPCopy(PointerGetDatum(digest.bytes)));
}
