/*
 * mfa.c: second factors (TOTP per RFC 6238, recovery codes) and the
 * settings of multi-factor authentication.
 *
 * A TOTP seed must be read back to compute codes, so it is kept sealed
 * (keys_at_rest.c, purpose "totp", the factor's id as associated data) and
 * only ever opened here, in C: the SQL functions below take the sealed
 * value and a code and answer with the time step the code matched, so no
 * seed passes through SQL after enrollment has shown it once.  Codes are
 * compared in constant time, every step of the window checked alike.  The
 * single use of a step is the caller's one UPDATE ... WHERE last_step <
 * step (src/sql/89_mfa.sql).
 */
#include "postgres.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "access/htup_details.h"
#include "fmgr.h"
#include "funcapi.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/timestamp.h"
#include "utils/uuid.h"

#include "catalog.h"
#include "clock.h"
#include "keys_at_rest.h"
#include "mfa.h"
#include "settings.h"
#include "token.h"

#define TOTP_STEP_SECS		30	/* RFC 6238: X = 30, T0 = 0 */
#define TOTP_SECRET_BYTES	20	/* 160 bits, RFC 4226's recommendation */
#define TOTP_SECRET_MIN		16	/* imported seeds: 128 bits at least */
#define TOTP_SECRET_MAX		64	/* SHA-512's block */
#define TOTP_MAX_WINDOW		2
#define RECOVERY_CODE_BYTES 10	/* 80 bits: 16 base32 characters */

static char *totp_issuer = NULL;
static int	totp_window = 1;
static int	mfa_challenge_ttl = 5 * SECS_PER_MINUTE;
static int	mfa_max_attempts = 5;

static bool
check_totp_issuer(char **newval, void **extra, GucSource source)
{
	size_t		len = *newval ? strlen(*newval) : 0;

	/* it goes into a URI and is shown by authenticator apps */
	if (len == 0 || len > 64 || strchr(*newval, ':') != NULL)
	{
		GUC_check_errdetail("An issuer is 1 to 64 characters, without a colon.");
		return false;
	}
	return true;
}

void
auth_mfa_init(void)
{
	DefineCustomStringVariable("auth.totp_issuer",
							   "Issuer named in TOTP enrollment URIs, shown "
							   "by authenticator apps.",
							   NULL, &totp_issuer, "auth", PGC_SUSET, 0,
							   check_totp_issuer, NULL, NULL);
	auth_define_count("auth.totp_window",
					  "Time steps of 30 s accepted before and after the "
					  "current one.",
					  &totp_window, 0, TOTP_MAX_WINDOW);
	auth_define_seconds("auth.mfa_challenge_ttl",
						"Lifetime of an MFA challenge (mfc_...).",
						&mfa_challenge_ttl, 30, SECS_PER_HOUR);
	auth_define_count("auth.mfa_max_attempts",
					  "Wrong second-factor codes allowed per challenge, "
					  "and per user within the challenge lifetime.",
					  &mfa_max_attempts, 1, 100);
}

/* ---------------------------------------------------------------------
 * Base32 (RFC 4648, no padding), the form authenticator apps exchange
 * --------------------------------------------------------------------- */

static const char base32_alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

static char *
base32_encode(const uint8 *data, Size len)
{
	char	   *out = palloc((len * 8 + 4) / 5 + 1);
	char	   *p = out;
	uint32		buffer = 0;
	int			bits = 0;

	for (Size i = 0; i < len; i++)
	{
		buffer = (buffer << 8) | data[i];
		bits += 8;
		while (bits >= 5)
		{
			*p++ = base32_alphabet[(buffer >> (bits - 5)) & 31];
			bits -= 5;
		}
	}
	if (bits > 0)
		*p++ = base32_alphabet[(buffer << (5 - bits)) & 31];
	*p = '\0';
	return out;
}

/*
 * Decodes base32 (either case, '=' padding at the end only) into out (at
 * most outmax bytes); returns the length, or -1 when it is not base32 or
 * too long.
 */
static int
base32_decode(const char *s, Size slen, uint8 *out, int outmax)
{
	uint32		buffer = 0;
	int			bits = 0;
	int			n = 0;
	Size		i;

	while (slen > 0 && s[slen - 1] == '=')
		slen--;
	for (i = 0; i < slen; i++)
	{
		char		c = s[i];
		int			v;

		if (c >= 'A' && c <= 'Z')
			v = c - 'A';
		else if (c >= 'a' && c <= 'z')
			v = c - 'a';
		else if (c >= '2' && c <= '7')
			v = c - '2' + 26;
		else
			return -1;
		buffer = (buffer << 5) | v;
		bits += 5;
		if (bits >= 8)
		{
			if (n == outmax)
				return -1;
			out[n++] = (uint8) (buffer >> (bits - 8));
			bits -= 8;
		}
	}
	return n;
}

/* ---------------------------------------------------------------------
 * TOTP (RFC 6238 over RFC 4226's HOTP)
 * --------------------------------------------------------------------- */

static const EVP_MD *
totp_md(const char *algorithm)
{
	if (strcmp(algorithm, "SHA1") == 0)
		return EVP_sha1();
	if (strcmp(algorithm, "SHA256") == 0)
		return EVP_sha256();
	if (strcmp(algorithm, "SHA512") == 0)
		return EVP_sha512();
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("unknown TOTP algorithm"),
			 errhint("Use SHA1, SHA256 or SHA512.")));
	return NULL;				/* keep compiler quiet */
}

/* The HOTP value of counter, as digits decimal digits (with NUL) in out. */
static void
hotp(const EVP_MD *md, const uint8 *key, Size keylen, uint64 counter,
	 int digits, char *out)
{
	uint8		msg[8];
	uint8		mac[EVP_MAX_MD_SIZE];
	unsigned int maclen = 0;
	int			offset;
	uint32		bin;
	uint32		mod = 1;

	for (int i = 7; i >= 0; i--)
	{
		msg[i] = (uint8) (counter & 0xff);
		counter >>= 8;
	}
	if (HMAC(md, key, (int) keylen, msg, sizeof(msg), mac, &maclen) == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not compute an HMAC")));
	/* dynamic truncation (RFC 4226 5.3) */
	offset = mac[maclen - 1] & 0x0f;
	bin = ((uint32) (mac[offset] & 0x7f) << 24) |
		((uint32) mac[offset + 1] << 16) |
		((uint32) mac[offset + 2] << 8) |
		(uint32) mac[offset + 3];
	for (int i = 0; i < digits; i++)
		mod *= 10;
	snprintf(out, digits + 1, "%0*u", digits, bin % mod);
	explicit_bzero(mac, sizeof(mac));
}

/* The seal of a seed for the factor id; 22023 for a seed of a bad size. */
static bytea *
seal_seed(const pg_uuid_t *id, const uint8 *seed, Size len)
{
	return auth_seal(AUTH_SEAL_TOTP, id, seed, len);
}

/*
 * SQL function: auth._totp_new_secret(factor_id uuid,
 *   OUT secret text, OUT sealed bytea)
 * A fresh 160-bit seed: base32 for the user (shown once) and sealed for
 * the row.
 */
PG_FUNCTION_INFO_V1(auth_totp_new_secret);
Datum
auth_totp_new_secret(PG_FUNCTION_ARGS)
{
	TupleDesc	tupdesc = auth_result_tupdesc(fcinfo);
	uint8		seed[TOTP_SECRET_BYTES];
	Datum		values[2];
	bool		nulls[2] = {false, false};
	char	   *b32;

	auth_random_bytes(seed, sizeof(seed));
	b32 = base32_encode(seed, sizeof(seed));
	values[0] = CStringGetTextDatum(b32);
	values[1] = PointerGetDatum(seal_seed(PG_GETARG_UUID_P(0), seed,
										  sizeof(seed)));
	explicit_bzero(seed, sizeof(seed));
	explicit_bzero(b32, strlen(b32));
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values,
													  nulls)));
}

/*
 * SQL function: auth._totp_seal(factor_id uuid, secret text) returns bytea
 * An imported seed (base32, 128 to 512 bits), sealed for the factor; 22023
 * otherwise (the message never repeats the secret).
 */
PG_FUNCTION_INFO_V1(auth_totp_seal);
Datum
auth_totp_seal(PG_FUNCTION_ARGS)
{
	text	   *secret = PG_GETARG_TEXT_PP(1);
	uint8		seed[TOTP_SECRET_MAX];
	int			len;
	bytea	   *sealed;

	len = base32_decode(VARDATA_ANY(secret), VARSIZE_ANY_EXHDR(secret), seed,
						sizeof(seed));
	if (len < TOTP_SECRET_MIN)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid TOTP secret"),
				 errdetail("A secret is base32 of %d to %d bytes.",
						   TOTP_SECRET_MIN, TOTP_SECRET_MAX)));
	sealed = seal_seed(PG_GETARG_UUID_P(0), seed, len);
	explicit_bzero(seed, sizeof(seed));
	PG_RETURN_BYTEA_P(sealed);
}

/*
 * SQL function: auth._totp_match(factor_id uuid, sealed bytea,
 *   algorithm text, digits integer, code text, at timestamptz,
 *   "window" integer) returns bigint
 * The time step (RFC 6238's T) within window steps of at whose code is
 * code, the latest if several; NULL when none is, when code is not digits
 * digits, or when the seed does not open.  Every step is computed and
 * compared in constant time, so the answer's timing says nothing.
 */
PG_FUNCTION_INFO_V1(auth_totp_match);
Datum
auth_totp_match(PG_FUNCTION_ARGS)
{
	pg_uuid_t  *id = PG_GETARG_UUID_P(0);
	bytea	   *sealed = PG_GETARG_BYTEA_PP(1);
	char	   *algorithm = text_to_cstring(PG_GETARG_TEXT_PP(2));
	int			digits = PG_GETARG_INT32(3);
	text	   *code = PG_GETARG_TEXT_PP(4);
	TimestampTz at = PG_GETARG_TIMESTAMPTZ(5);
	int			window = PG_GETARG_INT32(6);
	const EVP_MD *md = totp_md(algorithm);
	Size		codelen = VARSIZE_ANY_EXHDR(code);
	const char *c = VARDATA_ANY(code);
	uint8	   *seed;
	Size		seedlen;
	int64		unix_secs;
	int64		step;
	int64		matched = -1;
	bool		shaped = true;

	if (digits != 6 && digits != 8)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("a TOTP code has 6 or 8 digits")));
	if (window < 0 || window > TOTP_MAX_WINDOW)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the TOTP window is 0 to %d steps", TOTP_MAX_WINDOW)));
	if (codelen != (Size) digits)
		PG_RETURN_NULL();
	for (int i = 0; i < digits; i++)
		shaped &= c[i] >= '0' && c[i] <= '9';
	if (!shaped || !auth_unseal(AUTH_SEAL_TOTP, id, sealed, &seed, &seedlen))
		PG_RETURN_NULL();

	/* T = floor((unix time - T0) / X), T0 = 0 */
	unix_secs = at / USECS_PER_SEC +
		(POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * SECS_PER_DAY;
	if (at < 0 && at % USECS_PER_SEC != 0)
		unix_secs--;
	step = unix_secs >= 0 ? unix_secs / TOTP_STEP_SECS : -1;
	for (int64 s = step - window; s <= step + window; s++)
	{
		char		expected[9];

		if (s < 0)
			continue;
		hotp(md, seed, seedlen, (uint64) s, digits, expected);
		if (CRYPTO_memcmp(expected, c, digits) == 0)
			matched = s;
		explicit_bzero(expected, sizeof(expected));
	}
	explicit_bzero(seed, seedlen);
	pfree(seed);
	if (matched < 0)
		PG_RETURN_NULL();
	PG_RETURN_INT64(matched);
}

/*
 * SQL function: auth._recovery_code() returns text
 * A recovery code: 80 random bits as 16 lowercase base32 characters in
 * four groups (xxxx-xxxx-xxxx-xxxx).
 */
PG_FUNCTION_INFO_V1(auth_recovery_code);
Datum
auth_recovery_code(PG_FUNCTION_ARGS)
{
	uint8		raw[RECOVERY_CODE_BYTES];
	char	   *b32;
	char		out[16 + 3 + 1];
	char	   *p = out;

	auth_random_bytes(raw, sizeof(raw));
	b32 = base32_encode(raw, sizeof(raw));
	for (int i = 0; i < 16; i++)
	{
		if (i > 0 && i % 4 == 0)
			*p++ = '-';
		*p++ = pg_ascii_tolower((unsigned char) b32[i]);
	}
	*p = '\0';
	explicit_bzero(raw, sizeof(raw));
	explicit_bzero(b32, strlen(b32));
	PG_RETURN_TEXT_P(cstring_to_text(out));
}
