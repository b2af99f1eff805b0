/*
 * jwt_keys.c: keys and signatures of signed tokens, on OpenSSL EVP.
 *
 * A JWK (RFC 7517) becomes an EVP_PKEY here and back; the algorithm is the
 * key's: an Ed25519 key (OKP) signs EdDSA, a P-256 key (EC) ES256, an RSA
 * key of 2048 bits or more RS256, a secret (oct) of 32 bytes or more
 * HS256, and nothing else.  ES256 signatures are R || S in a JWS and DER
 * in OpenSSL, converted both ways here.  HMACs are compared in constant
 * time.
 */
#include "postgres.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/hmac.h>
#include <openssl/param_build.h>
#include <openssl/rsa.h>

#include "lib/stringinfo.h"
#include "utils/builtins.h"

#include "jws.h"
#include "jwt.h"
#include "token.h"
#include "token_shape.h"

const char *const auth_jwt_alg_names[JWT_NUM_ALGS] = {
	[JWT_ALG_EDDSA] = "EdDSA",
	[JWT_ALG_ES256] = "ES256",
	[JWT_ALG_RS256] = "RS256",
	[JWT_ALG_HS256] = "HS256",
};

int
auth_jwt_alg_from_name(const char *name)
{
	for (int i = 0; i < JWT_NUM_ALGS; i++)
		if (name != NULL && strcmp(name, auth_jwt_alg_names[i]) == 0)
			return i;
	return -1;
}

/* The string member key of a jsonb object, or NULL. */
char *
auth_jsonb_get_string(Jsonb *jb, const char *key)
{
	JsonbValue	k;
	JsonbValue *v;

	if (!JB_ROOT_IS_OBJECT(jb))
		return NULL;
	k.type = jbvString;
	k.val.string.val = (char *) key;
	k.val.string.len = strlen(key);
	v = findJsonbValueFromContainer(&jb->root, JB_FOBJECT, &k);
	if (v == NULL || v->type != jbvString)
		return NULL;
	return pnstrdup(v->val.string.val, v->val.string.len);
}

/* A base64url member of a JWK, decoded; NULL when absent or malformed. */
static uint8 *
jwk_bytes(Jsonb *jwk, const char *key, Size *len)
{
	char	   *s = auth_jsonb_get_string(jwk, key);
	uint8	   *out;
	size_t		n;

	if (s == NULL)
		return NULL;
	out = palloc(strlen(s) + 1);
	if (!auth_b64url_decode(s, strlen(s), out, &n) || n == 0)
		return NULL;
	*len = n;
	return out;
}

static BIGNUM *
jwk_bn(Jsonb *jwk, const char *key)
{
	Size		len;
	uint8	   *b = jwk_bytes(jwk, key, &len);

	return b == NULL ? NULL : BN_bin2bn(b, (int) len, NULL);
}

static EVP_PKEY *
pkey_fromdata(const char *type, OSSL_PARAM_BLD *bld, bool private)
{
	OSSL_PARAM *params = OSSL_PARAM_BLD_to_param(bld);
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, type, NULL);
	EVP_PKEY   *pkey = NULL;

	if (params == NULL || ctx == NULL ||
		EVP_PKEY_fromdata_init(ctx) <= 0 ||
		EVP_PKEY_fromdata(ctx, &pkey,
						  private ? EVP_PKEY_KEYPAIR : EVP_PKEY_PUBLIC_KEY,
						  params) <= 0)
		pkey = NULL;
	EVP_PKEY_CTX_free(ctx);
	OSSL_PARAM_free(params);
	return pkey;
}

static EVP_PKEY *
ec_from_jwk(Jsonb *jwk, bool want_private, const char **why)
{
	char	   *crv = auth_jsonb_get_string(jwk, "crv");
	Size		xl = 0,
				yl = 0;
	uint8	   *x = jwk_bytes(jwk, "x", &xl);
	uint8	   *y = jwk_bytes(jwk, "y", &yl);
	uint8		pub[65];
	BIGNUM	   *d = NULL;
	OSSL_PARAM_BLD *bld;
	EVP_PKEY   *pkey;

	if (crv == NULL || strcmp(crv, "P-256") != 0)
	{
		*why = "An EC key must be on the curve P-256 (ES256).";
		return NULL;
	}
	if (x == NULL || y == NULL || xl != 32 || yl != 32)
	{
		*why = "An EC key has x and y of 32 bytes each.";
		return NULL;
	}
	pub[0] = 0x04;
	memcpy(pub + 1, x, 32);
	memcpy(pub + 33, y, 32);
	if (want_private && (d = jwk_bn(jwk, "d")) == NULL)
	{
		*why = "The key has no private part (d).";
		return NULL;
	}
	bld = OSSL_PARAM_BLD_new();
	if (bld == NULL ||
		!OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME,
										 "prime256v1", 0) ||
		!OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY,
										  pub, sizeof(pub)) ||
		(d != NULL &&
		 !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_PRIV_KEY, d)))
		pkey = NULL;
	else
		pkey = pkey_fromdata("EC", bld, d != NULL);
	OSSL_PARAM_BLD_free(bld);
	BN_clear_free(d);
	if (pkey == NULL)
		*why = "The EC key is not a valid P-256 key.";
	return pkey;
}

static EVP_PKEY *
rsa_from_jwk(Jsonb *jwk, bool want_private, const char **why)
{
	static const char *const priv_members[] = {"d", "p", "q", "dp", "dq", "qi"};
	static const char *const priv_params[] = {
		OSSL_PKEY_PARAM_RSA_D, OSSL_PKEY_PARAM_RSA_FACTOR1,
		OSSL_PKEY_PARAM_RSA_FACTOR2, OSSL_PKEY_PARAM_RSA_EXPONENT1,
		OSSL_PKEY_PARAM_RSA_EXPONENT2, OSSL_PKEY_PARAM_RSA_COEFFICIENT1};
	BIGNUM	   *bn[8] = {0};
	OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
	EVP_PKEY   *pkey = NULL;
	bool		ok;

	bn[0] = jwk_bn(jwk, "n");
	bn[1] = jwk_bn(jwk, "e");
	/*
	 * A small or even exponent makes signatures forgeable (e = 1: the
	 * signature is the padded hash); RFC 8017 keys use 65537.
	 */
	if (bn[1] != NULL &&
		(!BN_is_odd(bn[1]) || BN_num_bits(bn[1]) < 17))
	{
		BN_free(bn[0]);
		BN_free(bn[1]);
		OSSL_PARAM_BLD_free(bld);
		*why = "An RSA key's exponent e is odd and at least 65537.";
		return NULL;
	}
	ok = bld != NULL && bn[0] != NULL && bn[1] != NULL &&
		OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn[0]) &&
		OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, bn[1]);
	for (int i = 0; ok && want_private && i < 6; i++)
		ok = (bn[2 + i] = jwk_bn(jwk, priv_members[i])) != NULL &&
			OSSL_PARAM_BLD_push_BN(bld, priv_params[i], bn[2 + i]);
	if (ok)
		pkey = pkey_fromdata("RSA", bld, want_private);
	OSSL_PARAM_BLD_free(bld);
	for (int i = 0; i < 8; i++)
		BN_clear_free(bn[i]);
	if (pkey == NULL)
		*why = want_private ?
			"An RSA key has n and e, and d, p, q, dp, dq and qi to sign." :
			"An RSA key has n and e.";
	else if (EVP_PKEY_get_bits(pkey) < AUTH_JWT_RSA_MIN)
	{
		EVP_PKEY_free(pkey);
		pkey = NULL;
		*why = "An RSA key has at least 2048 bits.";
	}
	return pkey;
}

static EVP_PKEY *
okp_from_jwk(Jsonb *jwk, bool want_private, const char **why)
{
	char	   *crv = auth_jsonb_get_string(jwk, "crv");
	Size		xl = 0,
				dl = 0;
	uint8	   *x = jwk_bytes(jwk, "x", &xl);
	uint8	   *d = want_private ? jwk_bytes(jwk, "d", &dl) : NULL;
	EVP_PKEY   *pkey;

	if (crv == NULL || strcmp(crv, "Ed25519") != 0)
	{
		*why = "An OKP key must be on the curve Ed25519 (EdDSA).";
		return NULL;
	}
	if (x == NULL || xl != 32 || (want_private && (d == NULL || dl != 32)))
	{
		*why = want_private ?
			"An Ed25519 key has x and d of 32 bytes each." :
			"An Ed25519 key has x of 32 bytes.";
		return NULL;
	}
	if (!want_private)
		return EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, x, 32);
	pkey = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, d, 32);
	explicit_bzero(d, 32);
	if (pkey != NULL)
	{
		uint8		derived[32];
		size_t		len = sizeof(derived);

		/* x must be d's public key */
		if (EVP_PKEY_get_raw_public_key(pkey, derived, &len) != 1 ||
			len != 32 || memcmp(derived, x, 32) != 0)
		{
			EVP_PKEY_free(pkey);
			pkey = NULL;
			*why = "The Ed25519 key's x is not the public key of its d.";
		}
	}
	return pkey;
}

/*
 * Whether OpenSSL finds the key sound: a public key valid (an RSA modulus
 * that is odd and composite with a sound exponent, an EC point on the
 * curve), and a private key consistent with its public part (pairwise).
 */
static bool
pkey_checked(EVP_PKEY *pkey, bool private)
{
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL);
	bool		ok;

	ok = ctx != NULL && EVP_PKEY_public_check(ctx) == 1 &&
		(!private || EVP_PKEY_pairwise_check(ctx) == 1);
	EVP_PKEY_CTX_free(ctx);
	return ok;
}

/*
 * The key of a JWK: its public key (or with want_private, the private
 * key), and its algorithm in *alg.  An oct key (HS256) has no EVP_PKEY:
 * with want_private its secret comes back in *secret.  NULL with *why set
 * when the JWK is not a key this extension takes; *alg is -1 then.
 * Never puts any part of the key in *why.
 */
EVP_PKEY *
auth_jwk_to_pkey(Jsonb *jwk, bool want_private, int *alg, uint8 **secret,
				 Size *secret_len, const char **why)
{
	char	   *kty;
	char	   *given_alg;
	EVP_PKEY   *pkey = NULL;

	*alg = -1;
	*why = NULL;
	if (!JB_ROOT_IS_OBJECT(jwk) || JB_ROOT_IS_SCALAR(jwk))
	{
		*why = "A JWK is a JSON object.";
		return NULL;
	}
	kty = auth_jsonb_get_string(jwk, "kty");
	given_alg = auth_jsonb_get_string(jwk, "alg");
	if (kty == NULL)
	{
		*why = "The JWK has no kty.";
		return NULL;
	}
	if (strcmp(kty, "OKP") == 0)
	{
		pkey = okp_from_jwk(jwk, want_private, why);
		*alg = JWT_ALG_EDDSA;
	}
	else if (strcmp(kty, "EC") == 0)
	{
		pkey = ec_from_jwk(jwk, want_private, why);
		*alg = JWT_ALG_ES256;
	}
	else if (strcmp(kty, "RSA") == 0)
	{
		pkey = rsa_from_jwk(jwk, want_private, why);
		*alg = JWT_ALG_RS256;
	}
	else if (strcmp(kty, "oct") == 0)
	{
		Size		len = 0;
		uint8	   *k = jwk_bytes(jwk, "k", &len);

		*alg = JWT_ALG_HS256;
		if (!want_private)
			*why = "An HS256 secret is never a public key.";
		else if (k == NULL)
			*why = "An oct key has its secret in k.";
		else if (len < AUTH_JWT_HS_MIN)
		{
			explicit_bzero(k, len);
			*why = "WEAK_SECRET";
		}
		else
		{
			*secret = k;
			*secret_len = len;
		}
		if (*why != NULL)
			*alg = -1;
		else if (given_alg != NULL && strcmp(given_alg, "HS256") != 0)
		{
			explicit_bzero(k, len);
			*alg = -1;
			*why = "The JWK's alg is not the algorithm of its key.";
		}
		return NULL;
	}
	else
		*why = "The kty is not OKP, EC, RSA or oct.";
	if (pkey != NULL && !pkey_checked(pkey, want_private))
	{
		EVP_PKEY_free(pkey);
		pkey = NULL;
		*why = want_private ?
			"The key fails OpenSSL's key check: its public and private parts do not belong together." :
			"The key fails OpenSSL's public key check.";
	}
	if (pkey != NULL && given_alg != NULL &&
		strcmp(given_alg, auth_jwt_alg_names[*alg]) != 0)
	{
		EVP_PKEY_free(pkey);
		pkey = NULL;
		*why = "The JWK's alg is not the algorithm of its key.";
	}
	if (pkey == NULL)
		*alg = -1;
	return pkey;
}

static void
append_b64url(StringInfo buf, const uint8 *data, Size len)
{
	char	   *enc = palloc(auth_b64url_len(len) + 1);

	auth_b64url_encode(data, len, enc);
	appendStringInfoString(buf, enc);
	pfree(enc);
}

static void
append_bn_param(StringInfo buf, EVP_PKEY *pkey, const char *param,
				int pad)
{
	BIGNUM	   *bn = NULL;
	uint8		bytes[1024];
	int			len;

	if (!EVP_PKEY_get_bn_param(pkey, param, &bn))
		elog(ERROR, "could not read a public key");
	len = pad > 0 ? BN_bn2binpad(bn, bytes, pad) : BN_bn2bin(bn, bytes);
	BN_free(bn);
	if (len <= 0 || len > (int) sizeof(bytes))
		elog(ERROR, "could not read a public key");
	append_b64url(buf, bytes, len);
}

/* The public JWK of a key, as JSON text: kty, crv and its members. */
char *
auth_pkey_public_jwk(EVP_PKEY *pkey, int alg)
{
	StringInfoData buf;

	initStringInfo(&buf);
	switch (alg)
	{
		case JWT_ALG_EDDSA:
			{
				uint8		x[32];
				size_t		len = sizeof(x);

				if (EVP_PKEY_get_raw_public_key(pkey, x, &len) != 1)
					elog(ERROR, "could not read a public key");
				appendStringInfoString(&buf, "{\"kty\": \"OKP\", "
									   "\"crv\": \"Ed25519\", \"x\": \"");
				append_b64url(&buf, x, len);
				appendStringInfoString(&buf, "\"}");
				break;
			}
		case JWT_ALG_ES256:
			appendStringInfoString(&buf, "{\"kty\": \"EC\", "
								   "\"crv\": \"P-256\", \"x\": \"");
			append_bn_param(&buf, pkey, OSSL_PKEY_PARAM_EC_PUB_X, 32);
			appendStringInfoString(&buf, "\", \"y\": \"");
			append_bn_param(&buf, pkey, OSSL_PKEY_PARAM_EC_PUB_Y, 32);
			appendStringInfoString(&buf, "\"}");
			break;
		case JWT_ALG_RS256:
			appendStringInfoString(&buf, "{\"kty\": \"RSA\", \"n\": \"");
			append_bn_param(&buf, pkey, OSSL_PKEY_PARAM_RSA_N, 0);
			appendStringInfoString(&buf, "\", \"e\": \"");
			append_bn_param(&buf, pkey, OSSL_PKEY_PARAM_RSA_E, 0);
			appendStringInfoString(&buf, "\"}");
			break;
		default:
			elog(ERROR, "an HS256 key has no public JWK");
	}
	return buf.data;
}

/* A fresh key pair for alg (not HS256). */
EVP_PKEY *
auth_jwt_generate(int alg)
{
	EVP_PKEY   *pkey = NULL;

	switch (alg)
	{
		case JWT_ALG_EDDSA:
			pkey = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
			break;
		case JWT_ALG_ES256:
			pkey = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
			break;
		case JWT_ALG_RS256:
			pkey = EVP_PKEY_Q_keygen(NULL, NULL, "RSA",
									 (size_t) AUTH_JWT_RSA_MIN);
			break;
	}
	if (pkey == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not generate a signing key")));
	return pkey;
}

/* The private key in DER, palloc'd (the caller wipes it). */
uint8 *
auth_pkey_private_der(EVP_PKEY *pkey, Size *len)
{
	unsigned char *der = NULL;
	int			n = i2d_PrivateKey(pkey, &der);
	uint8	   *out;

	if (n <= 0)
		elog(ERROR, "could not encode a private key");
	out = palloc(n);
	memcpy(out, der, n);
	OPENSSL_clear_free(der, n);
	*len = n;
	return out;
}

EVP_PKEY *
auth_pkey_from_der(int alg, const uint8 *der, Size len)
{
	const unsigned char *p = der;
	int			type = alg == JWT_ALG_EDDSA ? EVP_PKEY_ED25519 :
		alg == JWT_ALG_ES256 ? EVP_PKEY_EC : EVP_PKEY_RSA;

	return d2i_PrivateKey(type, NULL, &p, (long) len);
}

/* Signs input; sig holds AUTH_JWT_SIG_MAX bytes. */
bool
auth_jws_sign(int alg, EVP_PKEY *pkey, const uint8 *secret, Size secret_len,
			  const char *input, Size len, uint8 *sig, Size *siglen)
{
	EVP_MD_CTX *ctx;
	uint8		der[128];
	size_t		n;
	bool		ok;

	if (alg == JWT_ALG_HS256)
	{
		unsigned int hlen = 0;

		ok = HMAC(EVP_sha256(), secret, (int) secret_len,
				  (const unsigned char *) input, len, sig, &hlen) != NULL;
		*siglen = hlen;
		return ok;
	}
	ctx = EVP_MD_CTX_new();
	if (alg == JWT_ALG_ES256)
	{
		n = sizeof(der);
		ok = ctx != NULL &&
			EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, pkey) == 1 &&
			EVP_DigestSign(ctx, der, &n, (const unsigned char *) input,
						   len) == 1;
		if (ok)
		{
			const unsigned char *p = der;
			ECDSA_SIG  *es = d2i_ECDSA_SIG(NULL, &p, (long) n);
			const BIGNUM *r,
					   *s;

			ok = es != NULL;
			if (ok)
			{
				ECDSA_SIG_get0(es, &r, &s);
				ok = BN_bn2binpad(r, sig, 32) == 32 &&
					BN_bn2binpad(s, sig + 32, 32) == 32;
				ECDSA_SIG_free(es);
			}
			*siglen = 64;
		}
	}
	else
	{
		n = AUTH_JWT_SIG_MAX;
		ok = ctx != NULL &&
			EVP_DigestSignInit(ctx, NULL,
							   alg == JWT_ALG_EDDSA ? NULL : EVP_sha256(),
							   NULL, pkey) == 1 &&
			EVP_DigestSign(ctx, sig, &n, (const unsigned char *) input,
						   len) == 1;
		*siglen = n;
	}
	EVP_MD_CTX_free(ctx);
	return ok;
}

/*
 * An ES256 signature, R || S in a JWS, as the DER OpenSSL checks; its
 * length, or 0 when it is not 64 bytes.
 */
static int
es256_to_der(const uint8 *sig, Size siglen, unsigned char *der, int max)
{
	ECDSA_SIG  *es;
	BIGNUM	   *r,
			   *s;
	unsigned char *p = der;
	int			n;

	if (siglen != 64)
		return 0;
	es = ECDSA_SIG_new();
	r = BN_bin2bn(sig, 32, NULL);
	s = BN_bin2bn(sig + 32, 32, NULL);
	if (es == NULL || r == NULL || s == NULL || !ECDSA_SIG_set0(es, r, s))
	{
		BN_free(r);
		BN_free(s);
		ECDSA_SIG_free(es);
		return 0;
	}
	n = i2d_ECDSA_SIG(es, NULL);
	if (n <= 0 || n > max)
		n = 0;
	else
		n = i2d_ECDSA_SIG(es, &p);
	ECDSA_SIG_free(es);
	return n;
}

/*
 * A key's verifier, made once per key and kept in the cache: OpenSSL 3
 * fetches the algorithm and sets the key up at each initialisation, and
 * copying a context made once costs a fraction of that.  An HS256 key's is
 * an HMAC context keyed with its secret; the others a DigestVerify
 * context.  NULL when OpenSSL cannot make one (the key then verifies
 * nothing).
 */
typedef struct JwsVerifier
{
	EVP_MAC_CTX *mac;
	EVP_MD_CTX *md;
} JwsVerifier;

void *
auth_jws_verifier_new(int alg, EVP_PKEY *pkey, const uint8 *secret,
					  Size secret_len)
{
	static EVP_MAC *hmac = NULL;
	static EVP_MD *sha256 = NULL;
	JwsVerifier *v = calloc(1, sizeof(JwsVerifier));
	bool		ok = false;

	if (v == NULL)
		return NULL;
	if (alg == JWT_ALG_HS256)
	{
		OSSL_PARAM	params[2];

		if (hmac == NULL)
			hmac = EVP_MAC_fetch(NULL, "HMAC", NULL);
		params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
													 "SHA256", 0);
		params[1] = OSSL_PARAM_construct_end();
		ok = hmac != NULL && secret != NULL &&
			(v->mac = EVP_MAC_CTX_new(hmac)) != NULL &&
			EVP_MAC_init(v->mac, secret, secret_len, params) == 1;
	}
	else if (pkey != NULL)
	{
		if (sha256 == NULL)
			sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
		ok = (alg == JWT_ALG_EDDSA || sha256 != NULL) &&
			(v->md = EVP_MD_CTX_new()) != NULL &&
			EVP_DigestVerifyInit(v->md, NULL,
								 alg == JWT_ALG_EDDSA ? NULL : sha256,
								 NULL, pkey) == 1;
	}
	if (!ok)
	{
		auth_jws_verifier_free(v);
		return NULL;
	}
	return v;
}

void
auth_jws_verifier_free(void *verifier)
{
	JwsVerifier *v = verifier;

	if (v == NULL)
		return;
	EVP_MAC_CTX_free(v->mac);
	EVP_MD_CTX_free(v->md);
	free(v);
}

/* auth_jws_verify with a key's verifier: a copy of it checks sig. */
bool
auth_jws_verify_with(int alg, void *verifier, EVP_PKEY *pkey,
					 const char *input, Size len, const uint8 *sig,
					 Size siglen)
{
	JwsVerifier *v = verifier;
	unsigned char der[80];
	const unsigned char *to_check = sig;
	size_t		check_len = siglen;
	bool		ok;

	if (v == NULL)
		return false;
	if (alg == JWT_ALG_HS256)
	{
		EVP_MAC_CTX *w = EVP_MAC_CTX_dup(v->mac);
		uint8		mac[32];
		size_t		maclen = 0;

		ok = w != NULL && siglen == 32 &&
			EVP_MAC_update(w, (const unsigned char *) input, len) == 1 &&
			EVP_MAC_final(w, mac, &maclen, sizeof(mac)) == 1 &&
			maclen == 32 && CRYPTO_memcmp(mac, sig, 32) == 0;
		EVP_MAC_CTX_free(w);
		return ok;
	}
	if (alg == JWT_ALG_EDDSA && siglen != 64)
		return false;
	if (alg == JWT_ALG_RS256 && (int) siglen != EVP_PKEY_get_size(pkey))
		return false;
	if (alg == JWT_ALG_ES256)
	{
		int			n = es256_to_der(sig, siglen, der, sizeof(der));

		if (n <= 0)
			return false;
		to_check = der;
		check_len = n;
	}
	{
		EVP_MD_CTX *w = EVP_MD_CTX_new();

		ok = w != NULL && EVP_MD_CTX_copy_ex(w, v->md) == 1 &&
			EVP_DigestVerify(w, to_check, check_len,
							 (const unsigned char *) input, len) == 1;
		EVP_MD_CTX_free(w);
	}
	return ok;
}
