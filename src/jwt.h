/*
 * jwt.h: signed tokens (layer 4), shared by the files of the module:
 * jwt_keys.c (JWKs, key generation, signatures on OpenSSL EVP),
 * jwt_cache.c (the per-backend cache of signing keys and issuers) and
 * jwt.c (issuing, verifying, the identity kind "jwt", auth.jwt()).
 */
#ifndef AUTH_JWT_H
#define AUTH_JWT_H

#include "postgres.h"

#include <openssl/evp.h>

#include "utils/jsonb.h"
#include "utils/timestamp.h"
#include "utils/uuid.h"

typedef enum JwtAlg
{
	JWT_ALG_EDDSA = 0,
	JWT_ALG_ES256,
	JWT_ALG_RS256,
	JWT_ALG_HS256,
	JWT_NUM_ALGS
} JwtAlg;

extern const char *const auth_jwt_alg_names[JWT_NUM_ALGS];

#define AUTH_JWT_KID_MAX	128
#define AUTH_JWT_HS_MIN		32	/* bytes of an HS256 secret */
#define AUTH_JWT_RSA_MIN	2048	/* bits */
#define AUTH_JWT_SIG_MAX	1024	/* bytes: RSA up to 8192 bits */

/* jwt.c */
extern void auth_jwt_init(void);
extern Datum auth_authenticate_jwt(PG_FUNCTION_ARGS);

/* jwt_keys.c */
extern int	auth_jwt_alg_from_name(const char *name);
extern char *auth_jsonb_get_string(Jsonb *jb, const char *key);
extern EVP_PKEY *auth_jwk_to_pkey(Jsonb *jwk, bool want_private, int *alg,
								  uint8 **secret, Size *secret_len,
								  const char **why);
extern char *auth_pkey_public_jwk(EVP_PKEY *pkey, int alg);
extern EVP_PKEY *auth_jwt_generate(int alg);
extern uint8 *auth_pkey_private_der(EVP_PKEY *pkey, Size *len);
extern EVP_PKEY *auth_pkey_from_der(int alg, const uint8 *der, Size len);
extern bool auth_jws_sign(int alg, EVP_PKEY *pkey, const uint8 *secret,
						  Size secret_len, const char *input, Size len,
						  uint8 *sig, Size *siglen);
extern void *auth_jws_verifier_new(int alg, EVP_PKEY *pkey,
								   const uint8 *secret, Size secret_len);
extern void auth_jws_verifier_free(void *verifier);
extern bool auth_jws_verify_with(int alg, void *verifier, EVP_PKEY *pkey,
								 const char *input, Size len,
								 const uint8 *sig, Size siglen);

/* jwt_cache.c */
typedef enum JwtKeyState
{
	JWT_KEY_STANDBY,
	JWT_KEY_CURRENT,
	JWT_KEY_PREVIOUS,
	JWT_KEY_REVOKED
} JwtKeyState;

typedef struct JwtIssuer
{
	char	   *issuer;
	int			naudiences;
	char	  **audiences;
	bool		subject_is_uuid;	/* subject_mapping 'uuid' */
} JwtIssuer;

typedef struct JwtKey
{
	char		kid[AUTH_JWT_KID_MAX + 1];
	int			alg;
	JwtKeyState state;
	TimestampTz retired_at;		/* a previous key: when it became one */
	pg_uuid_t	id;				/* own keys: the row's id */
	JwtIssuer  *issuer;			/* NULL for the database's own keys */
	EVP_PKEY   *pkey;			/* public key (NULL for HS256) */
	bytea	   *sealed;			/* own keys: the sealed private part */
	bool		opened;			/* private part read (lazily) */
	EVP_PKEY   *private_pkey;
	uint8	   *secret;			/* HS256 */
	Size		secret_len;
	void	   *verifier;		/* made on first use (jwt_keys.c) */
	bool		verifier_made;
} JwtKey;

extern void auth_jwt_cache_init(void);
extern bool auth_jwt_cache_usable(void);
extern JwtKey *auth_jwt_key_by_kid(const char *kid, JwtIssuer *issuer);
extern int	auth_jwt_keys_for(JwtIssuer *issuer, int alg, JwtKey **out,
							  int max);
extern JwtIssuer *auth_jwt_issuer(const char *iss);
extern JwtKey *auth_jwt_current_key(void);
extern void auth_jwt_key_open(JwtKey *key);
extern bool auth_jwt_key_verify(JwtKey *key, const char *input, Size len,
								const uint8 *sig, Size siglen);

#endif							/* AUTH_JWT_H */
