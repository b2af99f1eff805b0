/*
 * jwt_cache.c: the signing keys and trusted issuers, kept per backend.
 *
 * A verification finds its key here, with no table read: the keys are
 * loaded once (public keys parsed into EVP_PKEYs; private parts opened only
 * when a key signs, or an HS256 key verifies) and kept until a change to
 * auth.signing_keys or auth.issuers.  Plain DML sends no relcache
 * invalidation, so a statement trigger on both tables sends one
 * (auth._jwt_keys_changed()); PostgreSQL delivers it to every backend when
 * the change commits, and WAL-logs it with the commit, so a hot standby's
 * backends get it as they replay.  The cache is loaded with the latest
 * snapshot: a change that committed before the invalidation arrived is
 * always seen by the reload it causes.  A reload builds a new cache in a
 * context of its own and swaps it in only when complete: an invalidation
 * arriving during the reload, or a lookup re-entered from the reload's own
 * queries, finds the old cache whole (and the re-entered lookup does not
 * reload again).
 */
#include "postgres.h"

#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "utils/lsyscache.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/inval.h"
#include "utils/memutils.h"

#include "catalog.h"
#include "clock.h"
#include "jwt.h"
#include "keys_at_rest.h"

#define MAX_KEYS	256			/* own keys and issuers' keys, loaded */

/* One loaded cache: its context holds everything it points to. */
typedef struct JwtCache
{
	MemoryContext cxt;
	JwtKey	   *keys;
	int			nkeys;
	JwtIssuer  *issuers;
	int			nissuers;
} JwtCache;

static JwtCache cache;			/* in use */
static JwtCache building;		/* being loaded */
static bool loading = false;
static bool cache_valid = false;
static uint64 invalidations = 0;
static Oid	keys_relid = InvalidOid;
static Oid	issuers_relid = InvalidOid;

static void
jwt_relcache_callback(Datum arg, Oid relid)
{
	if (!OidIsValid(relid) || relid == keys_relid || relid == issuers_relid)
	{
		cache_valid = false;
		invalidations++;
	}
}

void
auth_jwt_cache_init(void)
{
	CacheRegisterRelcacheCallback(jwt_relcache_callback, (Datum) 0);
}

/* Frees what OpenSSL holds, wipes the secrets and frees the context. */
static void
cache_release(JwtCache *c)
{
	for (int i = 0; i < c->nkeys; i++)
	{
		EVP_PKEY_free(c->keys[i].pkey);
		EVP_PKEY_free(c->keys[i].private_pkey);
		auth_jws_verifier_free(c->keys[i].verifier);
		if (c->keys[i].secret != NULL)
			explicit_bzero(c->keys[i].secret, c->keys[i].secret_len);
	}
	if (c->cxt != NULL)
		MemoryContextDelete(c->cxt);
	memset(c, 0, sizeof(*c));
}

static int
state_from_name(const char *s)
{
	if (strcmp(s, "current") == 0)
		return JWT_KEY_CURRENT;
	if (strcmp(s, "previous") == 0)
		return JWT_KEY_PREVIOUS;
	if (strcmp(s, "revoked") == 0)
		return JWT_KEY_REVOKED;
	return JWT_KEY_STANDBY;
}

/*
 * The keys that verify (current, standby, previous) first, the newest
 * retired first; the revoked ones (which answer REVOKED rather than
 * UNKNOWN_KEY) only in the room the issuers' keys leave, so that they
 * never crowd out a live key.
 */
static AuthQuery keys_query = {
	.sql = "SELECT k.id, k.kid, k.algorithm, k.state, k.public_jwk, "
	"k.private_key, k.retired_at FROM auth.signing_keys k "
	"WHERE k.state OPERATOR(pg_catalog.<>) 'revoked' "
	"ORDER BY k.retired_at DESC NULLS FIRST",
	.nargs = 0,
	.read_only = true,
	.latest_snapshot = true,
};

static AuthQuery revoked_keys_query = {
	.sql = "SELECT k.id, k.kid, k.algorithm, k.state, k.public_jwk, "
	"k.private_key, k.retired_at FROM auth.signing_keys k "
	"WHERE k.state OPERATOR(pg_catalog.=) 'revoked' "
	"ORDER BY k.retired_at DESC NULLS FIRST",
	.nargs = 0,
	.read_only = true,
	.latest_snapshot = true,
};

static void
read_keys(SPITupleTable *rows, uint64 nrows, void *arg)
{
	MemoryContext old = MemoryContextSwitchTo(building.cxt);

	for (uint64 r = 0; r < nrows && building.nkeys < MAX_KEYS; r++)
	{
		HeapTuple	tup = rows->vals[r];
		TupleDesc	desc = rows->tupdesc;
		JwtKey	   *k = &building.keys[building.nkeys];
		bool		isnull;
		Datum		d;
		int			alg;

		memset(k, 0, sizeof(*k));
		memcpy(&k->id, DatumGetUUIDP(SPI_getbinval(tup, desc, 1, &isnull)),
			   UUID_LEN);
		strlcpy(k->kid, TextDatumGetCString(SPI_getbinval(tup, desc, 2,
														  &isnull)),
				sizeof(k->kid));
		alg = auth_jwt_alg_from_name(
			TextDatumGetCString(SPI_getbinval(tup, desc, 3, &isnull)));
		if (alg < 0)
			continue;
		k->alg = alg;
		k->state = state_from_name(
			TextDatumGetCString(SPI_getbinval(tup, desc, 4, &isnull)));
		d = SPI_getbinval(tup, desc, 5, &isnull);
		if (!isnull)
		{
			int			jalg;
			uint8	   *unused;
			Size		unused_len;
			const char *why;

			k->pkey = auth_jwk_to_pkey(DatumGetJsonbP(d), false, &jalg,
									   &unused, &unused_len, &why);
			if (k->pkey == NULL || jalg != alg)
			{
				EVP_PKEY_free(k->pkey);
				continue;
			}
		}
		else if (alg != JWT_ALG_HS256)
			continue;
		d = SPI_getbinval(tup, desc, 6, &isnull);
		k->sealed = DatumGetByteaPCopy(d);
		d = SPI_getbinval(tup, desc, 7, &isnull);
		k->retired_at = isnull ? 0 : DatumGetTimestampTz(d);
		building.nkeys++;
	}
	MemoryContextSwitchTo(old);
}

static AuthQuery issuers_query = {
	.sql = "SELECT i.issuer, i.jwks, i.audiences, i.subject_mapping "
	"FROM auth.issuers i",
	.nargs = 0,
	.read_only = true,
	.latest_snapshot = true,
};

/* Adds the keys of an issuer's JWKS ({"keys": [...]}) to the cache. */
static void
add_issuer_keys(JwtIssuer *iss, Jsonb *jwks)
{
	JsonbValue	k;
	JsonbValue *arr;
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;

	k.type = jbvString;
	k.val.string.val = "keys";
	k.val.string.len = 4;
	if (!JB_ROOT_IS_OBJECT(jwks) ||
		(arr = findJsonbValueFromContainer(&jwks->root, JB_FOBJECT,
										   &k)) == NULL ||
		arr->type != jbvBinary)
		return;
	it = JsonbIteratorInit(arr->val.binary.data);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		Jsonb	   *jwk;
		JwtKey	   *key;
		int			alg;
		uint8	   *unused;
		Size		unused_len;
		const char *why;
		char	   *kid;

		if (tok != WJB_ELEM || v.type != jbvBinary ||
			building.nkeys >= MAX_KEYS)
			continue;
		jwk = JsonbValueToJsonb(&v);
		key = &building.keys[building.nkeys];
		memset(key, 0, sizeof(*key));
		key->pkey = auth_jwk_to_pkey(jwk, false, &alg, &unused, &unused_len,
									 &why);
		if (key->pkey == NULL)
			continue;
		key->alg = alg;
		key->state = JWT_KEY_CURRENT;
		key->issuer = iss;
		kid = auth_jsonb_get_string(jwk, "kid");
		strlcpy(key->kid, kid == NULL ? "" : kid, sizeof(key->kid));
		building.nkeys++;
	}
}

static void
read_issuers(SPITupleTable *rows, uint64 nrows, void *arg)
{
	MemoryContext old = MemoryContextSwitchTo(building.cxt);

	building.issuers = palloc0(sizeof(JwtIssuer) * Max(nrows, 1));
	for (uint64 r = 0; r < nrows; r++)
	{
		HeapTuple	tup = rows->vals[r];
		TupleDesc	desc = rows->tupdesc;
		JwtIssuer  *iss = &building.issuers[building.nissuers++];
		bool		isnull;
		Datum		d;

		iss->issuer = TextDatumGetCString(SPI_getbinval(tup, desc, 1,
														&isnull));
		d = SPI_getbinval(tup, desc, 3, &isnull);
		if (!isnull)
		{
			Datum	   *elems;
			bool	   *nulls;

			deconstruct_array(DatumGetArrayTypeP(d), TEXTOID, -1, false,
							  TYPALIGN_INT, &elems, &nulls,
							  &iss->naudiences);
			iss->audiences = palloc(sizeof(char *) *
									Max(iss->naudiences, 1));
			for (int i = 0; i < iss->naudiences; i++)
				iss->audiences[i] = nulls[i] ? "" :
					TextDatumGetCString(elems[i]);
		}
		iss->subject_is_uuid = strcmp(TextDatumGetCString(
			SPI_getbinval(tup, desc, 4, &isnull)), "uuid") == 0;
		add_issuer_keys(iss, DatumGetJsonbP(SPI_getbinval(tup, desc, 2,
														  &isnull)));
	}
	MemoryContextSwitchTo(old);
}

/*
 * Loads the cache when it is not valid, into a new context swapped in at
 * the end.  Re-entered from the load's own queries, it keeps the old one.
 */
static void
ensure_loaded(void)
{
	uint64		seen;
	Oid			nsp;

	if (cache_valid || loading)
		return;
	nsp = get_namespace_oid("auth", false);
	keys_relid = get_relname_relid("signing_keys", nsp);
	issuers_relid = get_relname_relid("issuers", nsp);
	seen = invalidations;
	memset(&building, 0, sizeof(building));
	building.cxt = AllocSetContextCreate(TopMemoryContext, "auth jwt keys",
										 ALLOCSET_SMALL_SIZES);
	building.keys = MemoryContextAllocZero(building.cxt,
										   sizeof(JwtKey) * MAX_KEYS);
	loading = true;
	PG_TRY();
	{
		(void) auth_query_run_as_owner(&keys_query, NULL, 0, read_keys,
									   NULL);
		(void) auth_query_run_as_owner(&issuers_query, NULL, 0,
									   read_issuers, NULL);
		if (building.nkeys < MAX_KEYS)
			(void) auth_query_run_as_owner(&revoked_keys_query, NULL,
										   MAX_KEYS - building.nkeys,
										   read_keys, NULL);
	}
	PG_CATCH();
	{
		loading = false;
		cache_release(&building);
		PG_RE_THROW();
	}
	PG_END_TRY();
	loading = false;
	cache_release(&cache);
	cache = building;
	memset(&building, 0, sizeof(building));
	/* valid unless a change arrived while loading: then load again next */
	cache_valid = seen == invalidations;
}

/* The issuer named iss, or NULL. */
JwtIssuer *
auth_jwt_issuer(const char *iss)
{
	ensure_loaded();
	for (int i = 0; iss != NULL && i < cache.nissuers; i++)
		if (strcmp(cache.issuers[i].issuer, iss) == 0)
			return &cache.issuers[i];
	return NULL;
}

/* The key kid of the issuer (NULL: the database's own), or NULL. */
JwtKey *
auth_jwt_key_by_kid(const char *kid, JwtIssuer *issuer)
{
	ensure_loaded();
	for (int i = 0; i < cache.nkeys; i++)
		if (cache.keys[i].issuer == issuer &&
			strcmp(cache.keys[i].kid, kid) == 0)
			return &cache.keys[i];
	return NULL;
}

/*
 * The keys of the issuer (NULL: the database's own) for alg, at most max,
 * for a token that names no kid.
 */
int
auth_jwt_keys_for(JwtIssuer *issuer, int alg, JwtKey **out, int max)
{
	int			n = 0;

	ensure_loaded();
	for (int i = 0; i < cache.nkeys && n < max; i++)
		if (cache.keys[i].issuer == issuer && cache.keys[i].alg == alg)
			out[n++] = &cache.keys[i];
	return n;
}

/* Whether sig is a signature of input by key (opened when HS256). */
bool
auth_jwt_key_verify(JwtKey *key, const char *input, Size len,
					const uint8 *sig, Size siglen)
{
	if (!key->verifier_made)
	{
		if (key->alg == JWT_ALG_HS256)
			auth_jwt_key_open(key);
		key->verifier = auth_jws_verifier_new(key->alg, key->pkey,
											  key->secret, key->secret_len);
		key->verifier_made = true;
	}
	return auth_jws_verify_with(key->alg, key->verifier, key->pkey, input,
								len, sig, siglen);
}

/* The database's current signing key, or NULL. */
JwtKey *
auth_jwt_current_key(void)
{
	ensure_loaded();
	for (int i = 0; i < cache.nkeys; i++)
		if (cache.keys[i].issuer == NULL &&
			cache.keys[i].state == JWT_KEY_CURRENT)
			return &cache.keys[i];
	return NULL;
}

/*
 * Opens the private part of one of the database's own keys (an HS256
 * secret, or a private key to sign with), once.
 */
void
auth_jwt_key_open(JwtKey *key)
{
	uint8	   *plain;
	Size		len;

	if (key->opened || key->issuer != NULL)
		return;
	if (!auth_unseal(AUTH_SEAL_SIGNING_KEY, &key->id, key->sealed, &plain,
					 &len))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("the signing key \"%s\" does not open with the root key",
						key->kid),
				 errhint("The root key file (auth.root_key_file) is missing or not the one the key was sealed with; see auth.check().")));
	if (key->alg == JWT_ALG_HS256)
	{
		key->secret = MemoryContextAlloc(cache.cxt, len);
		memcpy(key->secret, plain, len);
		key->secret_len = len;
	}
	else
	{
		key->private_pkey = auth_pkey_from_der(key->alg, plain, len);
		if (key->private_pkey == NULL)
		{
			explicit_bzero(plain, len);
			elog(ERROR, "the signing key \"%s\" could not be decoded",
				 key->kid);
		}
	}
	explicit_bzero(plain, len);
	pfree(plain);
	key->opened = true;
}

/*
 * SQL function: auth._jwt_keys_changed() returns trigger
 * A statement trigger on auth.signing_keys and auth.issuers: every
 * backend's cache of keys is invalidated when the change commits (on
 * standbys too, as the commit is replayed).
 */
PG_FUNCTION_INFO_V1(auth_jwt_keys_changed);
Datum
auth_jwt_keys_changed(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;

	if (!CALLED_AS_TRIGGER(fcinfo))
		elog(ERROR, "auth._jwt_keys_changed() is a trigger");
	CacheInvalidateRelcacheByRelid(RelationGetRelid(trigdata->tg_relation));
	return PointerGetDatum(NULL);
}
