/*
 * password.c: password hashing and verification.
 *
 * New hashes are argon2id (libargon2) in PHC string format, with the cost
 * set by auth.argon2_*; argon2's memory comes from PostgreSQL's allocator.
 * Verification also accepts imported hashes, so users keep their passwords
 * when they move here: argon2i/argon2id PHC strings, bcrypt through
 * pgcrypto's crypt(), and better-auth's scrypt format.  Every comparison of
 * derived keys is constant-time.
 */
#include "postgres.h"

#include <argon2.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/indexing.h"
#include "catalog/pg_extension.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "nodes/makefuncs.h"
#include "parser/parse_func.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"

#include "password.h"
#include "phc.h"
#include "settings.h"
#include "token.h"

#define MAX_PASSWORD_BYTES	4096	/* longer input is refused, not hashed */
#define ARGON2_SALT_LEN		16
#define ARGON2_HASH_LEN		32

static int	argon2_memory_kib = 19456;
static int	argon2_iterations = 2;
static int	argon2_parallelism = 1;
static int	password_min_length = 8;
static int	max_failed_sign_ins = 5;
static int	failed_sign_in_window = 15 * SECS_PER_MINUTE;
static bool require_verified_email = false;

StaticAssertDecl((int) AUTH_ARGON2ID == (int) Argon2_id &&
				 (int) AUTH_ARGON2I == (int) Argon2_i &&
				 (int) AUTH_ARGON2D == (int) Argon2_d &&
				 AUTH_ARGON2_VERSION_13 == ARGON2_VERSION_13 &&
				 AUTH_ARGON2_VERSION_10 == ARGON2_VERSION_10,
				 "phc.h numbers argon2 as libargon2 does");

/* The settings of passwords and of signing in with one. */
void
auth_password_init(void)
{
	DefineCustomIntVariable("auth.argon2_memory_kib",
							"Memory cost of new argon2id "
							"password hashes, in KiB.",
							"OWASP's minimum for argon2id is 19456 (19 MiB).",
							&argon2_memory_kib, argon2_memory_kib,
							64, 4 * 1024 * 1024, PGC_SUSET, 0,
							NULL, NULL, NULL);
	auth_define_count("auth.argon2_iterations",
					  "Time cost (passes) of new argon2id password hashes.",
					  &argon2_iterations, 1, 64);
	DefineCustomIntVariable("auth.argon2_parallelism",
							"Lanes of new argon2id password hashes.",
							"Lanes are computed one after the other "
							"in the backend.",
							&argon2_parallelism, argon2_parallelism,
							1, 16, PGC_SUSET, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("auth.password_min_length",
							"Shortest password accepted when one is set.",
							"The longest is 128 characters.",
							&password_min_length, password_min_length,
							1, 128, PGC_SUSET, 0, NULL, NULL, NULL);
	auth_define_count("auth.max_failed_sign_ins",
					  "Failed sign-ins per email within "
					  "auth.failed_sign_in_window "
					  "before the email is refused.",
					  &max_failed_sign_ins, 1, 1000);
	auth_define_seconds("auth.failed_sign_in_window",
						"Window in which failed sign-ins "
						"per email are counted.",
						&failed_sign_in_window, 1, AUTH_YEAR_SECS);
	auth_define_flag("auth.require_verified_email",
					 "Whether auth.sign_in refuses users "
					 "whose email is not verified.",
					 &require_verified_email);
}

static int
argon2_alloc(uint8_t **memory, size_t bytes)
{
	*memory = MemoryContextAllocExtended(CurrentMemoryContext, bytes,
										 MCXT_ALLOC_HUGE | MCXT_ALLOC_NO_OOM);
	return *memory ? ARGON2_OK : ARGON2_MEMORY_ALLOCATION_ERROR;
}

static void
argon2_free(uint8_t *memory, size_t bytes)
{
	pfree(memory);
}

/* Runs argon2 over the password with p's parameters and salt into out. */
static void
argon2_derive(const char *pwd, size_t pwdlen, const AuthPhc *p,
			  uint8 *out, size_t outlen)
{
	argon2_context ctx;
	int			rc;

	memset(&ctx, 0, sizeof(ctx));
	ctx.out = out;
	ctx.outlen = outlen;
	ctx.pwd = (uint8_t *) pwd;
	ctx.pwdlen = pwdlen;
	ctx.salt = (uint8_t *) p->salt;
	ctx.saltlen = p->saltlen;
	ctx.t_cost = p->t_cost;
	ctx.m_cost = p->m_cost;
	ctx.lanes = p->lanes;
	ctx.threads = 1;			/* never start threads inside a backend */
	ctx.version = p->version;
	ctx.allocate_cbk = argon2_alloc;
	ctx.free_cbk = argon2_free;
	ctx.flags = ARGON2_DEFAULT_FLAGS;
	rc = argon2_ctx(&ctx, (argon2_type) p->type);
	if (rc != ARGON2_OK)
		ereport(ERROR,
				(errcode(rc == ARGON2_MEMORY_ALLOCATION_ERROR ?
						 ERRCODE_OUT_OF_MEMORY :
						 ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("argon2 failed: %s", argon2_error_message(rc))));
}

static void
current_argon2_params(AuthPhc *p)
{
	memset(p, 0, sizeof(*p));
	p->type = AUTH_ARGON2ID;
	p->version = AUTH_ARGON2_VERSION_13;
	p->m_cost = argon2_memory_kib;
	p->t_cost = argon2_iterations;
	p->lanes = argon2_parallelism;
	/* argon2 needs at least 8 KiB per lane */
	if (p->m_cost < 8 * p->lanes)
		p->m_cost = 8 * p->lanes;
	p->saltlen = ARGON2_SALT_LEN;
	p->hashlen = ARGON2_HASH_LEN;
}

static char *
encode_phc(const AuthPhc *p)
{
	char		buf[AUTH_PHC_MAX];

	if (!auth_phc_format(p, buf, sizeof(buf)))
		elog(ERROR, "could not format a password hash");
	return pstrdup(buf);
}

/*
 * argon2 cannot be interrupted, and verify_password() is public: a hash may
 * cost at most four times the configured cost, or four times OWASP's
 * strongest single-pass recommendation (m=47104, t=1) when that is more,
 * so nobody can stall a backend or exhaust memory with a hash of their own
 * making.  The work is memory times passes (argon2 fills m KiB t times);
 * lanes split the same memory and are computed one after the other here,
 * so they add no work, and are bounded on their own.  Each dimension is
 * bounded too, so that no single one grows while another shrinks.
 */
#define OWASP_ARGON2_M	47104
#define AUTH_ARGON2_MAX_LANES 16

static void
check_argon2_cost(const AuthPhc *p)
{
	uint32		max_m = Max(4 * (uint32) argon2_memory_kib, OWASP_ARGON2_M);
	uint32		max_t = Max(4 * (uint32) argon2_iterations, 5);
	uint64		max_work = 4 * Max((uint64) argon2_memory_kib *
								   argon2_iterations,
								   (uint64) OWASP_ARGON2_M);

	if (p->m_cost > max_m || p->t_cost > max_t ||
		p->lanes > AUTH_ARGON2_MAX_LANES ||
		(uint64) p->m_cost * p->t_cost > max_work)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("password hash cost exceeds the limit"),
				 errdetail("An argon2 hash may use at most m=%u, t=%u, p=%d and m*t=" UINT64_FORMAT " with the current settings.",
						   max_m, max_t, AUTH_ARGON2_MAX_LANES, max_work),
				 errhint("Raise auth.argon2_memory_kib or auth.argon2_iterations to accept costlier hashes.")));
}

static void
check_password_size(size_t len)
{
	if (len > MAX_PASSWORD_BYTES)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("password is too long"),
				 errdetail("A password has at most %d bytes.",
						   MAX_PASSWORD_BYTES)));
}

/* SQL function: auth.hash_password(password text) returns text */
PG_FUNCTION_INFO_V1(auth_hash_password);
Datum
auth_hash_password(PG_FUNCTION_ARGS)
{
	text	   *pwd = PG_GETARG_TEXT_PP(0);
	AuthPhc p;
	char	   *encoded;

	check_password_size(VARSIZE_ANY_EXHDR(pwd));
	current_argon2_params(&p);
	auth_random_bytes(p.salt, p.saltlen);
	argon2_derive(VARDATA_ANY(pwd), VARSIZE_ANY_EXHDR(pwd), &p,
				  p.hash, p.hashlen);
	encoded = encode_phc(&p);
	explicit_bzero(p.hash, sizeof(p.hash));
	PG_RETURN_TEXT_P(cstring_to_text(encoded));
}

static bool
verify_argon2(text *pwd, const AuthPhc *p)
{
	uint8		derived[64];
	bool		ok;

	argon2_derive(VARDATA_ANY(pwd), VARSIZE_ANY_EXHDR(pwd), p,
				  derived, p->hashlen);
	ok = CRYPTO_memcmp(derived, p->hash, p->hashlen) == 0;
	explicit_bzero(derived, sizeof(derived));
	return ok;
}

static Oid
extension_schema(const char *extname)
{
	Oid			extoid = get_extension_oid(extname, true);
	Relation	rel;
	SysScanDesc scan;
	ScanKeyData key;
	HeapTuple	tup;
	Oid			nsp = InvalidOid;

	if (!OidIsValid(extoid))
		return InvalidOid;
	rel = table_open(ExtensionRelationId, AccessShareLock);
	ScanKeyInit(&key, Anum_pg_extension_oid, BTEqualStrategyNumber, F_OIDEQ,
				ObjectIdGetDatum(extoid));
	scan = systable_beginscan(rel, ExtensionOidIndexId, true, NULL, 1, &key);
	tup = systable_getnext(scan);
	if (HeapTupleIsValid(tup))
		nsp = ((Form_pg_extension) GETSTRUCT(tup))->extnamespace;
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return nsp;
}

/*
 * bcrypt hashes are checked with pgcrypto's crypt(), wherever it lives.
 * pgcrypto knows the $2a$ spelling only; $2b$ and $2y$ name the same
 * algorithm for every password bcrypt accepts (at most 72 bytes), so they
 * are checked as $2a$ and compared past the prefix.
 */
static bool
verify_bcrypt(text *pwd, const char *hash)
{
	Oid			nsp = extension_schema("pgcrypto");
	Oid			argtypes[2] = {TEXTOID, TEXTOID};
	Oid			crypt_oid;
	char	   *setting = pstrdup(hash);
	text	   *computed;
	size_t		len = strlen(hash);

	if (!OidIsValid(nsp))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg(
					 "verifying a bcrypt hash needs the extension pgcrypto"),
				 errhint("Run CREATE EXTENSION pgcrypto.")));
	crypt_oid = LookupFuncName(list_make2(makeString(get_namespace_name(nsp)),
										  makeString("crypt")),
							   2, argtypes, false);
	setting[2] = 'a';
	computed = DatumGetTextPP(OidFunctionCall2(crypt_oid, PointerGetDatum(pwd),
											   CStringGetTextDatum(setting)));
	return VARSIZE_ANY_EXHDR(computed) == len &&
		CRYPTO_memcmp(VARDATA_ANY(computed) + 4, hash + 4, len - 4) == 0;
}

static void
check_bcrypt_cost(const char *s)
{
	int			cost = auth_bcrypt_cost(s);

	if (cost < 4 || cost > 16)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("password hash cost exceeds the limit"),
				 errdetail("A bcrypt hash has a cost from 04 to 16.")));
}

/*
 * better-auth's scrypt: N=16384, r=16, p=1, 64-byte key, the salt is the
 * hex string itself, the password NFKC-normalised.
 */
static bool
verify_better_auth_scrypt(text *pwd, const char *hash)
{
	text	   *normalized = pwd;
	uint8		expected[AUTH_SCRYPT_KEY_LEN];
	uint8		derived[AUTH_SCRYPT_KEY_LEN];
	bool		ok;

	if (GetDatabaseEncoding() == PG_UTF8)
		normalized = DatumGetTextPP(
			DirectFunctionCall2(unicode_normalize_func,
								PointerGetDatum(pwd),
								CStringGetTextDatum("NFKC")));
	hex_decode(hash + AUTH_SCRYPT_SALT_HEX + 1, 2 * AUTH_SCRYPT_KEY_LEN,
			   (char *) expected);
	if (EVP_PBE_scrypt(VARDATA_ANY(normalized), VARSIZE_ANY_EXHDR(normalized),
					   (const unsigned char *) hash, AUTH_SCRYPT_SALT_HEX,
					   16384, 16, 1, 64 * 1024 * 1024,
					   derived, AUTH_SCRYPT_KEY_LEN) != 1)
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("scrypt failed")));
	ok = CRYPTO_memcmp(derived, expected, AUTH_SCRYPT_KEY_LEN) == 0;
	explicit_bzero(derived, sizeof(derived));
	return ok;
}

/*
 * SQL function: auth.verify_password(password text, hash text)
 *   returns boolean
 */
PG_FUNCTION_INFO_V1(auth_verify_password);
Datum
auth_verify_password(PG_FUNCTION_ARGS)
{
	text	   *pwd = PG_GETARG_TEXT_PP(0);
	char	   *hs = text_to_cstring(PG_GETARG_TEXT_PP(1));
	size_t		hlen = strlen(hs);
	AuthPhc p;

	check_password_size(VARSIZE_ANY_EXHDR(pwd));
	if (auth_phc_parse(hs, &p))
	{
		check_argon2_cost(&p);
		PG_RETURN_BOOL(verify_argon2(pwd, &p));
	}
	if (auth_is_bcrypt(hs, hlen))
	{
		check_bcrypt_cost(hs);
		PG_RETURN_BOOL(verify_bcrypt(pwd, hs));
	}
	if (auth_is_better_auth_scrypt(hs, hlen))
		PG_RETURN_BOOL(verify_better_auth_scrypt(pwd, hs));
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("unrecognized password hash format"),
			 errhint("Supported are argon2id, argon2i and argon2d PHC strings, bcrypt ($2a$, $2b$, $2y$) and better-auth's scrypt.")));
	PG_RETURN_NULL();
}

/*
 * SQL function: auth._password_needs_rehash(hash text) returns boolean
 * True unless the hash is argon2id with the current cost settings.
 */
PG_FUNCTION_INFO_V1(auth_password_needs_rehash);
Datum
auth_password_needs_rehash(PG_FUNCTION_ARGS)
{
	char	   *hs = text_to_cstring(PG_GETARG_TEXT_PP(0));
	AuthPhc have,
				want;

	current_argon2_params(&want);
	if (!auth_phc_parse(hs, &have))
		PG_RETURN_BOOL(true);
	PG_RETURN_BOOL(have.type != want.type || have.version != want.version ||
				   have.m_cost != want.m_cost || have.t_cost != want.t_cost ||
				   have.lanes != want.lanes);
}

/*
 * SQL function: auth._dummy_password_hash() returns text
 * An argon2id hash with the current costs that no password matches (its
 * key is zero), so that signing in as an unknown email or a user with no
 * password costs the same argon2 work as a real check.
 */
PG_FUNCTION_INFO_V1(auth_dummy_password_hash);
Datum
auth_dummy_password_hash(PG_FUNCTION_ARGS)
{
	AuthPhc p;

	current_argon2_params(&p);
	PG_RETURN_TEXT_P(cstring_to_text(encode_phc(&p)));
}
