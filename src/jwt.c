/*
 * jwt.c: signed tokens, issued and verified in C.
 *
 * Verification (auth.verify_jwt, auth.authenticate_jwt) parses the compact
 * form strictly (jws.c), reads the header and the claims with PostgreSQL's
 * JSON parser, refusing a name given twice, takes the key from the
 * per-backend cache (jwt_cache.c) by kid, and checks the signature with
 * the key's own algorithm, never the header's.  Then exp and nbf with a
 * bounded leeway, iss and aud; for a token this database issued from a
 * session or an API key, that its sid is still live, with that kind's own
 * liveness callback (one index probe), unless auth.jwt_check_revocation
 * is off.  The identity it sets is of kind "jwt": its value carries the
 * user, the sid, the organization and the scopes, so auth.uid() and the
 * organization helpers work unchanged; the claims travel beside it in the
 * hidden setting auth.jwt_claims, so auth.jwt() works in parallel workers
 * too.  Issuing signs the claims auth._issue_jwt built in SQL.
 */
#include "postgres.h"

#include <math.h>

#include <openssl/err.h>

#include "access/table.h"
#include "access/tableam.h"
#include "catalog/pg_type.h"
#include "common/jsonapi.h"
#include "executor/tuptable.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/fmgroids.h"
#include "utils/guc.h"
#include "utils/jsonb.h"
#include "utils/uuid.h"

#include "catalog.h"
#include "clock.h"
#include "identity.h"
#include "jws.h"
#include "jwt.h"
#include "keys_at_rest.h"
#include "settings.h"
#include "token.h"
#include "token_shape.h"

typedef enum JwtCode
{
	JWT_VALID = 0,
	JWT_INVALID,
	JWT_BAD_SIGNATURE,
	JWT_UNKNOWN_KEY,
	JWT_EXPIRED,
	JWT_NOT_YET_VALID,
	JWT_WRONG_AUDIENCE,
	JWT_WRONG_ISSUER,
	JWT_REVOKED,
	JWT_UNKNOWN_SUBJECT,
	JWT_NUM_CODES
} JwtCode;

static const char *const code_names[JWT_NUM_CODES] = {
	[JWT_VALID] = NULL,
	[JWT_INVALID] = "INVALID",
	[JWT_BAD_SIGNATURE] = "BAD_SIGNATURE",
	[JWT_UNKNOWN_KEY] = "UNKNOWN_KEY",
	[JWT_EXPIRED] = "EXPIRED",
	[JWT_NOT_YET_VALID] = "NOT_YET_VALID",
	[JWT_WRONG_AUDIENCE] = "WRONG_AUDIENCE",
	[JWT_WRONG_ISSUER] = "WRONG_ISSUER",
	[JWT_REVOKED] = "REVOKED",
	[JWT_UNKNOWN_SUBJECT] = "UNKNOWN_SUBJECT",
};

/* What a JWT identity's sid names: tag[0] of its identity value. */
enum
{
	SID_NONE = 0,
	SID_SESSION = 1,
	SID_API_KEY = 2
};

#define MAX_CANDIDATES 16

static char *jwt_issuer = NULL;
static int	jwt_ttl = 15 * SECS_PER_MINUTE;
static int	jwt_max_ttl = SECS_PER_DAY;
static int	jwt_leeway = 30;
static int	jwt_previous_key_grace = 7 * SECS_PER_DAY;
static bool jwt_check_revocation = true;
static char *jwt_claims_hook = NULL;
static char *jwt_claims = NULL;

static bool jwt_is_live(const AuthIdentity *ident, AuthIdentity *settled);
static Jsonb *claims_with_aal(Jsonb *claims, uint8 aal);
static const char *jwt_credential_field(const AuthIdentity *ident);

static const AuthCredentialKind jwt_kind = {
	.syntax = {.name = "jwt", .credential_id = true, .tag = true,
	.scopes = true},
	.id_field = "session_id",
	.manages_account = false,
	.fixed_org = true,
	.is_live = jwt_is_live,
	.credential_field = jwt_credential_field,
};
static int	jwt_kind_id;

/* A connection-scope JWT identity remembers the key that signed it. */
static AuthIdentity conn_ident;
static char conn_kid[AUTH_JWT_KID_MAX + 1];
static bool conn_own_key = false;

void
auth_jwt_init(void)
{
	DefineCustomStringVariable("auth.jwt_issuer",
							   "The iss claim of the JWTs this database "
							   "issues, and the one its own keys accept.",
							   NULL, &jwt_issuer, "auth", PGC_SUSET, 0,
							   NULL, NULL, NULL);
	auth_define_seconds("auth.jwt_ttl",
						"Lifetime of an issued JWT when none is given.",
						&jwt_ttl, 1, AUTH_YEAR_SECS);
	auth_define_seconds("auth.jwt_max_ttl",
						"Longest lifetime of an issued JWT.",
						&jwt_max_ttl, 1, AUTH_YEAR_SECS);
	auth_define_seconds("auth.jwt_leeway",
						"Clock skew allowed when checking exp and nbf.",
						&jwt_leeway, 0, 5 * SECS_PER_MINUTE);
	auth_define_seconds("auth.jwt_previous_key_grace",
						"Time a previous signing key still verifies "
						"after a rotation.",
						&jwt_previous_key_grace, 0, AUTH_YEAR_SECS);
	auth_define_flag("auth.jwt_check_revocation",
					 "Whether verifying a JWT checks that the session or "
					 "API key it was issued from is still live.",
					 &jwt_check_revocation);
	DefineCustomStringVariable("auth.jwt_claims_hook",
							   "Function adding claims to every issued JWT.",
							   "A function (claims jsonb) returns jsonb, "
							   "called in the issuing transaction.",
							   &jwt_claims_hook, "", PGC_SUSET,
							   GUC_SUPERUSER_ONLY, NULL, NULL, NULL);
	DefineCustomStringVariable("auth.jwt_claims",
							   "Claims of the current JWT identity.",
							   NULL, &jwt_claims, "", PGC_SUSET,
							   GUC_NO_SHOW_ALL | GUC_NOT_IN_SAMPLE |
							   GUC_SUPERUSER_ONLY | GUC_DISALLOW_IN_FILE,
							   NULL, NULL, NULL);
	auth_jwt_cache_init();
	jwt_kind_id = auth_register_credential_kind(&jwt_kind);
}

static const char *
jwt_credential_field(const AuthIdentity *ident)
{
	return ident->tag[0] == SID_SESSION ? "session_id" :
		ident->tag[0] == SID_API_KEY ? "api_key_id" : NULL;
}

/* ---------------------------------------------------------------------
 * JSON: one pass over an object, its names (each once) and the top-level
 * members verification reads, through PostgreSQL's JSON parser
 * --------------------------------------------------------------------- */

/* Semantic actions return a result from PostgreSQL 16 on. */
#if PG_VERSION_NUM >= 160000
#define SEM_RESULT JsonParseErrorType
#define SEM_OK return JSON_SUCCESS
#else
#define SEM_RESULT void
#define SEM_OK return
#endif


#define MAX_NESTING		64		/* '[' and '{' in a header or claims */

typedef enum FieldType
{
	FIELD_ABSENT = 0,
	FIELD_STRING,
	FIELD_NUMBER,
	FIELD_ARRAY,				/* of strings, in elems */
	FIELD_OTHER					/* true, false, null, an object, a mixed
								 * array */
} FieldType;

typedef struct ScanField
{
	FieldType	type;
	char	   *str;			/* a string's (unescaped) or number's text */
	int			nelems;
	char	  **elems;
} ScanField;

typedef struct ObjectScan
{
	int			depth;
	bool		is_object;
	bool		bad;
	int			nnames;
	int			maxnames;
	char	  **names;
	const char *const *wanted;
	int			nwanted;
	ScanField  *fields;			/* one per wanted name */
	int			current;		/* the wanted field being read, or -1 */
} ObjectScan;

static SEM_RESULT
scan_object_start(void *state)
{
	ObjectScan *sc = state;

	if (sc->depth == 0)
		sc->is_object = true;
	else if (sc->current >= 0)
		sc->fields[sc->current].type = FIELD_OTHER;
	sc->depth++;
	SEM_OK;
}

static SEM_RESULT
scan_end(void *state)
{
	((ObjectScan *) state)->depth--;
	SEM_OK;
}

static SEM_RESULT
scan_array_start(void *state)
{
	ObjectScan *sc = state;

	if (sc->current >= 0)
		sc->fields[sc->current].type =
			sc->depth == 1 ? FIELD_ARRAY : FIELD_OTHER;
	sc->depth++;
	SEM_OK;
}

static SEM_RESULT
scan_field_start(void *state, char *fname, bool isnull)
{
	ObjectScan *sc = state;

	if (sc->depth != 1)
		SEM_OK;
	if (sc->nnames == sc->maxnames)
	{
		sc->maxnames *= 2;
		sc->names = repalloc(sc->names, sizeof(char *) * sc->maxnames);
	}
	sc->names[sc->nnames++] = fname;
	sc->current = -1;
	for (int i = 0; i < sc->nwanted; i++)
		if (strcmp(fname, sc->wanted[i]) == 0)
			sc->current = i;
	SEM_OK;
}

static SEM_RESULT
scan_scalar(void *state, char *token, JsonTokenType tokentype)
{
	ObjectScan *sc = state;
	ScanField  *f = sc->current >= 0 ? &sc->fields[sc->current] : NULL;

	/* any number, anywhere, must also be one jsonb takes */
	if (tokentype == JSON_TOKEN_NUMBER &&
		(strlen(token) > 40 || isinf(strtod(token, NULL))))
		sc->bad = true;
	if (f == NULL || sc->depth > 2)
		SEM_OK;
	if (sc->depth == 1)
	{
		f->type = tokentype == JSON_TOKEN_STRING ? FIELD_STRING :
			tokentype == JSON_TOKEN_NUMBER ? FIELD_NUMBER : FIELD_OTHER;
		f->str = token;
	}
	else if (f->type == FIELD_ARRAY)
	{
		if (tokentype != JSON_TOKEN_STRING)
			f->type = FIELD_OTHER;
		else
		{
			if (f->nelems % 8 == 0)
				f->elems = f->elems == NULL ?
					palloc(sizeof(char *) * 8) :
					repalloc(f->elems, sizeof(char *) * (f->nelems + 8));
			f->elems[f->nelems++] = token;
		}
	}
	SEM_OK;
}

static int
compare_names(const void *a, const void *b)
{
	return strcmp(*(char *const *) a, *(char *const *) b);
}

/*
 * Scans the JSON object in bytes (len): fills fields[i] for each name in
 * wanted.  False when it is not valid UTF-8 JSON, not an object, names a
 * member twice (jsonb would silently keep the last one), nests more than
 * MAX_NESTING brackets, or holds a number jsonb would refuse.  Never
 * raises.  text: the object as a C string, for jsonb_in later.
 */
static bool
scan_object(const uint8 *bytes, Size len, const char *const *wanted,
			int nwanted, ScanField *fields, char **text)
{
	char	   *s;
	ObjectScan	sc;
	JsonSemAction sem;
	JsonParseErrorType rc;
	int			brackets = 0;

	if (len == 0 || memchr(bytes, '\0', len) != NULL ||
		!pg_verifymbstr((const char *) bytes, len, true))
		return false;
	/* the parser recurses per level: bound the levels before it runs */
	for (Size i = 0; i < len; i++)
		if ((bytes[i] == '[' || bytes[i] == '{') && ++brackets > MAX_NESTING)
			return false;
	s = pnstrdup((const char *) bytes, len);
	memset(&sc, 0, sizeof(sc));
	memset(fields, 0, sizeof(ScanField) * nwanted);
	sc.maxnames = 16;
	sc.names = palloc(sizeof(char *) * sc.maxnames);
	sc.wanted = wanted;
	sc.nwanted = nwanted;
	sc.fields = fields;
	sc.current = -1;
	memset(&sem, 0, sizeof(sem));
	sem.semstate = &sc;
	sem.object_start = scan_object_start;
	sem.object_end = scan_end;
	sem.array_start = scan_array_start;
	sem.array_end = scan_end;
	sem.object_field_start = scan_field_start;
	sem.scalar = scan_scalar;
	{
#if PG_VERSION_NUM >= 170000
		JsonLexContext lex;

		makeJsonLexContextCstringLen(&lex, s, len, GetDatabaseEncoding(),
									 true);
		rc = pg_parse_json(&lex, &sem);
		freeJsonLexContext(&lex);
#else
		JsonLexContext *lex = makeJsonLexContextCstringLen(s, len,
														   GetDatabaseEncoding(),
														   true);

		rc = pg_parse_json(lex, &sem);
#endif
	}
	if (rc != JSON_SUCCESS || !sc.is_object || sc.bad)
		return false;
	qsort(sc.names, sc.nnames, sizeof(char *), compare_names);
	for (int i = 1; i < sc.nnames; i++)
		if (strcmp(sc.names[i - 1], sc.names[i]) == 0)
			return false;
	if (text != NULL)
		*text = s;
	return true;
}

/* The claims as jsonb (already scanned: jsonb_in takes them). */
static Jsonb *
claims_jsonb(const char *text)
{
	return DatumGetJsonbP(DirectFunctionCall1(jsonb_in,
											  CStringGetDatum(text)));
}

/* Member key of an object, or NULL. */
static JsonbValue *
member(Jsonb *jb, const char *key)
{
	JsonbValue	k;

	k.type = jbvString;
	k.val.string.val = (char *) key;
	k.val.string.len = strlen(key);
	return findJsonbValueFromContainer(&jb->root, JB_FOBJECT, &k);
}

static char *
member_string(Jsonb *jb, const char *key, bool *present)
{
	JsonbValue *v = member(jb, key);

	*present = v != NULL;
	if (v == NULL || v->type != jbvString)
		return NULL;
	return pnstrdup(v->val.string.val, v->val.string.len);
}

static int
hex_value(char c)
{
	return c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10;
}

/* A canonical uuid string (8-4-4-4-12 hex digits) into out. */
static bool
parse_uuid(const char *s, pg_uuid_t *out)
{
	int			n = 0;

	if (s == NULL || strlen(s) != 36)
		return false;
	for (int i = 0; i < 36; i++)
	{
		if (i == 8 || i == 13 || i == 18 || i == 23)
		{
			if (s[i] != '-')
				return false;
			continue;
		}
		if (!isxdigit((unsigned char) s[i]) ||
			!isxdigit((unsigned char) s[i + 1]))
			return false;
		out->data[n++] = (uint8) ((hex_value(s[i]) << 4) |
								  hex_value(s[i + 1]));
		i++;
	}
	return n == UUID_LEN;
}

/* ---------------------------------------------------------------------
 * Verification
 * --------------------------------------------------------------------- */

typedef struct JwtVerdict
{
	JwtCode		code;
	Jsonb	   *claims;			/* when valid */
	char	   *claims_text;
	char		kid[AUTH_JWT_KID_MAX + 1];	/* the key that verified */
	bool		own_key;
	bool		has_user;
	pg_uuid_t	user_id;
	int			sid_kind;
	pg_uuid_t	sid;
	bool		has_org;
	pg_uuid_t	org_id;
	char		scopes[AUTH_SCOPES_BUFLEN];
	int64		exp;			/* seconds since the Unix epoch */
	uint8		aal;			/* 2: aal2, else aal1 */
} JwtVerdict;

static TimestampTz
unix_to_timestamp(double secs)
{
	return (TimestampTz) ((secs - (double) ((POSTGRES_EPOCH_JDATE -
											 UNIX_EPOCH_JDATE) *
											SECS_PER_DAY)) *
						  USECS_PER_SEC);
}

/* Whether a previous key is past its grace, or the key revoked. */
static bool
key_retired(const JwtKey *key, TimestampTz now)
{
	if (key->state == JWT_KEY_REVOKED)
		return true;
	return key->state == JWT_KEY_PREVIOUS &&
		key->retired_at + (TimestampTz) jwt_previous_key_grace *
		USECS_PER_SEC <= now;
}

/* Whether the aud claim (a string or an array of them) holds audience. */
static bool
audience_in(const ScanField *aud, const char *audience)
{
	if (aud->type == FIELD_STRING)
		return strcmp(aud->str, audience) == 0;
	for (int i = 0; aud->type == FIELD_ARRAY && i < aud->nelems; i++)
		if (strcmp(aud->elems[i], audience) == 0)
			return true;
	return false;
}

static bool
scope_ok(const char *scope)
{
	size_t		len = strlen(scope);

	if (len == 0 || len > AUTH_MAX_SCOPE_LEN)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!(auth_scope_char(scope[i]) || scope[i] == '*'))
			return false;
	return true;
}

/*
 * The scopes claim (an array of scopes; or OAuth's "scope", a string of
 * them separated by spaces) into out; false when malformed.
 */
static bool
read_scopes(const ScanField *scopes, const ScanField *scope, char *out)
{
	Size		used = 0;

	out[0] = '\0';
	if (scopes->type == FIELD_ABSENT)
	{
		if (scope->type == FIELD_ABSENT)
			return true;
		if (scope->type != FIELD_STRING ||
			strlen(scope->str) >= AUTH_SCOPES_BUFLEN)
			return false;
		for (const char *p = scope->str; *p; p++)
			if (!(auth_scope_char(*p) || *p == ' ' || *p == '*'))
				return false;
		strlcpy(out, scope->str, AUTH_SCOPES_BUFLEN);
		return true;
	}
	if (scopes->type != FIELD_ARRAY || scopes->nelems > AUTH_MAX_SCOPES)
		return false;
	for (int i = 0; i < scopes->nelems; i++)
	{
		Size		len = strlen(scopes->elems[i]);

		if (!scope_ok(scopes->elems[i]))
			return false;
		if (used > 0)
			out[used++] = ' ';
		memcpy(out + used, scopes->elems[i], len);
		used += len;
		out[used] = '\0';
	}
	return true;
}

/* A NumericDate claim as seconds; false when present but not a number. */
static bool
claim_time(const ScanField *f, double *secs)
{
	if (f->type == FIELD_ABSENT)
		return true;
	if (f->type != FIELD_NUMBER)
		return false;
	*secs = strtod(f->str, NULL);
	return !isnan(*secs) && !isinf(*secs) && fabs(*secs) < 1e15;
}

/* A string claim, NULL when absent; false when present but not a string. */
static bool
claim_string(const ScanField *f, char **out)
{
	*out = f->type == FIELD_STRING ? f->str : NULL;
	return f->type == FIELD_ABSENT || f->type == FIELD_STRING;
}

static AuthQuery identity_query = {
	.sql = "SELECT i.user_id FROM auth.identities i "
	"WHERE i.issuer OPERATOR(pg_catalog.=) $1 "
	"AND i.subject OPERATOR(pg_catalog.=) $2",
	.nargs = 2,
	.argtypes = {TEXTOID, TEXTOID},
	.read_only = true,
};

static void
read_identity(SPITupleTable *rows, uint64 nrows, void *arg)
{
	bool		isnull;

	if (nrows == 1)
	{
		memcpy(arg, DatumGetUUIDP(SPI_getbinval(rows->vals[0], rows->tupdesc,
												1, &isnull)), UUID_LEN);
		((pg_uuid_t *) arg + 1)->data[0] = 1;
	}
}

/* The user an external issuer's subject is linked to. */
static bool
linked_user(const char *issuer, const char *subject, pg_uuid_t *user)
{
	pg_uuid_t	found[2];
	Datum		args[2];

	memset(found, 0, sizeof(found));
	args[0] = CStringGetTextDatum(issuer);
	args[1] = CStringGetTextDatum(subject);
	(void) auth_query_run_as_owner(&identity_query, args, 2, read_identity,
								   found);
	if (found[1].data[0] != 1)
		return false;
	*user = found[0];
	return true;
}

/* ---------------------------------------------------------------------
 * The user and the organization behind a token without a live-checkable
 * sid: one index probe each, unless auth.jwt_check_revocation is off
 * --------------------------------------------------------------------- */

static const char *const user_column_names[] = {"banned_until"};
static AttrNumber user_attnums[lengthof(user_column_names)];
static AuthColumnMap user_columns = AUTH_COLUMN_MAP(user_column_names,
													user_attnums);

/*
 * Whether user_id is a member of org_id: one probe of auth.members'
 * primary key (org_id, user_id).
 */
static bool
still_member(const pg_uuid_t *org_id, const pg_uuid_t *user_id)
{
	Relation	rel = auth_table_try_open(AUTH_REL_MEMBERS);
	TupleTableSlot *slot;
	Datum		keys[2];
	bool		found;

	if (rel == NULL)
		return false;
	slot = table_slot_create(rel, NULL);
	keys[0] = UUIDPGetDatum((pg_uuid_t *) org_id);
	keys[1] = UUIDPGetDatum((pg_uuid_t *) user_id);
	found = auth_probe_index_keys(rel, auth_rel_oid(AUTH_REL_MEMBERS_PKEY),
								  F_UUID_EQ, 2, keys, slot);
	ExecDropSingleTupleTableSlot(slot);
	table_close(rel, NoLock);
	return found;
}

/*
 * The verdict on the user of a token that names no session or key whose
 * liveness covers its user (a service token, an external issuer's): one
 * probe of auth.users' primary key.  UNKNOWN_SUBJECT when the user was
 * deleted (or never existed), REVOKED while banned.
 */
static JwtCode
user_verdict(const pg_uuid_t *user_id)
{
	Relation	rel = auth_table_try_open(AUTH_REL_USERS);
	TupleTableSlot *slot;
	JwtCode		code = JWT_UNKNOWN_SUBJECT;

	if (rel == NULL)
		return code;
	slot = table_slot_create(rel, NULL);
	auth_columns_resolve(rel, &user_columns);
	if (auth_probe_index(rel, auth_rel_oid(AUTH_REL_USERS_PKEY), F_UUID_EQ,
						 UUIDPGetDatum((pg_uuid_t *) user_id), slot))
	{
		bool		isnull;
		TimestampTz banned_until = auth_slot_timestamp(slot, &user_columns,
													   0, &isnull);

		code = !isnull && banned_until > auth_now() ? JWT_REVOKED : JWT_VALID;
	}
	ExecDropSingleTupleTableSlot(slot);
	table_close(rel, NoLock);
	return code;
}

enum
{
	H_ALG,
	H_KID,
	H_CRIT,
	H_NUM
};
static const char *const header_names[H_NUM] = {"alg", "kid", "crit"};

/* The last header read, in base64url, and what it said. */
static char last_header[512] = "";
static int	last_alg;
static bool last_has_kid;
static char last_kid[AUTH_JWT_KID_MAX + 1];

enum
{
	C_ISS,
	C_SUB,
	C_EXP,
	C_NBF,
	C_AUD,
	C_SID,
	C_SESSION_ID,
	C_API_KEY_ID,
	C_ORG,
	C_SCOPES,
	C_SCOPE,
	C_AAL,
	C_NUM
};
static const char *const claim_names[C_NUM] = {
	"iss", "sub", "exp", "nbf", "aud", "sid", "session_id", "api_key_id",
	"org", "scopes", "scope", "aal"
};

/*
 * Verifies a token; fills v.  Never raises for a bad token (a database
 * whose own keys do not open with its root key is an error).  The claims
 * come back as text (v->claims_text); with want_jsonb also as jsonb.
 */
static void
verify_token(const char *token, Size len, const char *audience,
			 bool want_jsonb, JwtVerdict *v)
{
	uint8		buf[AUTH_JWS_MAX_LEN];
	AuthJwsParts parts;
	ScanField	h[H_NUM];
	ScanField	c[C_NUM];
	bool		claims_ok;
	char	   *kid;
	char	   *iss = NULL;
	char	   *sub;
	int			alg;
	JwtIssuer  *issuer = NULL;
	JwtKey	   *candidates[MAX_CANDIDATES];
	int			ncandidates = 0;
	JwtKey	   *key = NULL;
	TimestampTz now = auth_now();
	double		exp = 0,
				nbf = 0;
	Size		hlen;

	memset(v, 0, sizeof(*v));
	v->code = JWT_INVALID;
	if (!auth_jws_parse(token, len, buf, sizeof(buf), &parts))
		return;
	/* every token of a key has the same header: read once per backend */
	hlen = (const char *) memchr(token, '.', len) - token;
	if (hlen < sizeof(last_header) && hlen == strlen(last_header) &&
		memcmp(token, last_header, hlen) == 0)
	{
		alg = last_alg;
		kid = last_has_kid ? last_kid : NULL;
	}
	else
	{
		if (!scan_object(parts.header, parts.header_len, header_names, H_NUM,
						 h, NULL) ||
			h[H_CRIT].type != FIELD_ABSENT || h[H_ALG].type != FIELD_STRING)
			return;
		alg = auth_jwt_alg_from_name(h[H_ALG].str);
		if (alg < 0)
			return;				/* "none", or an algorithm nobody here has */
		if (!claim_string(&h[H_KID], &kid) ||
			(kid != NULL && strlen(kid) > AUTH_JWT_KID_MAX))
			return;
		/* a header that parsed: remember it */
		if (hlen < sizeof(last_header))
		{
			memcpy(last_header, token, hlen);
			last_header[hlen] = '\0';
			last_alg = alg;
			last_has_kid = kid != NULL;
			strlcpy(last_kid, kid != NULL ? kid : "", sizeof(last_kid));
		}
	}

	/* the claims name their issuer, whose keys are then the candidates */
	claims_ok = scan_object(parts.payload, parts.payload_len, claim_names,
							C_NUM, c, &v->claims_text);
	if (claims_ok && claim_string(&c[C_ISS], &iss) && iss != NULL &&
		(jwt_issuer == NULL || strcmp(iss, jwt_issuer) != 0))
		issuer = auth_jwt_issuer(iss);
	if (kid != NULL)
	{
		key = auth_jwt_key_by_kid(kid, issuer);
		if (key == NULL)
		{
			v->code = JWT_UNKNOWN_KEY;
			return;
		}
		if (key->alg != alg)
			return;				/* the key decides the algorithm */
		candidates[ncandidates++] = key;
	}
	else
	{
		ncandidates = auth_jwt_keys_for(issuer, alg, candidates,
										MAX_CANDIDATES);
		if (ncandidates == 0)
		{
			v->code = JWT_UNKNOWN_KEY;
			return;
		}
	}
	key = NULL;
	for (int i = 0; i < ncandidates && key == NULL; i++)
	{
		JwtKey	   *k = candidates[i];

		if (kid == NULL && key_retired(k, now))
			continue;
		if (auth_jwt_key_verify(k, token, parts.signing_input_len,
								parts.signature, parts.signature_len))
			key = k;
	}
	if (key == NULL)
	{
		v->code = JWT_BAD_SIGNATURE;
		return;
	}
	strlcpy(v->kid, key->kid, sizeof(v->kid));
	v->own_key = key->issuer == NULL;
	if (key_retired(key, now))
	{
		v->code = JWT_REVOKED;
		return;
	}
	if (!claims_ok)
		return;

	/* times: exp is required, nbf optional, both with the leeway */
	if (c[C_EXP].type == FIELD_ABSENT || !claim_time(&c[C_EXP], &exp) ||
		!claim_time(&c[C_NBF], &nbf))
		return;
	if (unix_to_timestamp(exp) + (TimestampTz) jwt_leeway * USECS_PER_SEC
		<= now)
	{
		v->code = JWT_EXPIRED;
		return;
	}
	if (c[C_NBF].type != FIELD_ABSENT &&
		unix_to_timestamp(nbf) - (TimestampTz) jwt_leeway * USECS_PER_SEC
		> now)
	{
		v->code = JWT_NOT_YET_VALID;
		return;
	}
	v->exp = (int64) exp;

	if (issuer == NULL &&
		(iss == NULL || jwt_issuer == NULL || strcmp(iss, jwt_issuer) != 0))
	{
		v->code = JWT_WRONG_ISSUER;
		return;
	}
	if (audience != NULL && !audience_in(&c[C_AUD], audience))
	{
		v->code = JWT_WRONG_AUDIENCE;
		return;
	}
	if (issuer != NULL && issuer->naudiences > 0)
	{
		bool		ok = false;

		for (int i = 0; i < issuer->naudiences && !ok; i++)
			ok = audience_in(&c[C_AUD], issuer->audiences[i]);
		if (!ok)
		{
			v->code = JWT_WRONG_AUDIENCE;
			return;
		}
	}
	if (!read_scopes(&c[C_SCOPES], &c[C_SCOPE], v->scopes) ||
		!claim_string(&c[C_SUB], &sub))
		return;
	if (issuer == NULL)
	{
		char	   *org;
		char	   *sid;
		char	   *of;
		char	   *aal;

		/* the database's own: sub, org and sid are uuids */
		if (sub != NULL && !(v->has_user = parse_uuid(sub, &v->user_id)))
			return;
		if (!claim_string(&c[C_ORG], &org) ||
			(org != NULL && !(v->has_org = parse_uuid(org, &v->org_id))) ||
			!claim_string(&c[C_SID], &sid))
			return;
		if (sid != NULL)
		{
			if (!parse_uuid(sid, &v->sid) || !v->has_user)
				return;
			if (claim_string(&c[C_SESSION_ID], &of) && of != NULL &&
				strcmp(of, sid) == 0)
				v->sid_kind = SID_SESSION;
			else if (claim_string(&c[C_API_KEY_ID], &of) && of != NULL &&
					 strcmp(of, sid) == 0)
				v->sid_kind = SID_API_KEY;
			else
				return;

			/*
			 * aal2 only as the session or key it came from has it: a
			 * token without a sid is aal1, and one whose session lost
			 * its second factor since (a factor removed or reset) is
			 * aal1 from then on, unless the check is off
			 */
			if (!claim_string(&c[C_AAL], &aal))
				return;
			v->aal = aal != NULL && strcmp(aal, "aal2") == 0 ? 2 : 1;
			if (jwt_check_revocation)
			{
				uint8		live_aal;

				if (!auth_credential_is_live(v->sid_kind == SID_SESSION ?
											 "session" : "api_key",
											 &v->user_id, &v->sid, &live_aal))
				{
					v->code = JWT_REVOKED;
					return;
				}
				v->aal = Min(v->aal, live_aal);
			}
		}
		else if (v->has_user && jwt_check_revocation &&
				 (v->code = user_verdict(&v->user_id)) != JWT_VALID)
			return;
	}
	else
	{
		if (sub == NULL || sub[0] == '\0' || strlen(sub) > 255)
		{
			v->code = JWT_UNKNOWN_SUBJECT;
			return;
		}
		v->has_user = issuer->subject_is_uuid ?
			parse_uuid(sub, &v->user_id) :
			linked_user(issuer->issuer, sub, &v->user_id);
		if (!v->has_user)
		{
			v->code = JWT_UNKNOWN_SUBJECT;
			return;
		}
		if (jwt_check_revocation &&
			(v->code = user_verdict(&v->user_id)) != JWT_VALID)
			return;
	}
	if (want_jsonb)
	{
		v->claims = claims_jsonb(v->claims_text);
		/* verify_jwt's claims say the aal that holds, as auth.jwt() does */
		if (issuer == NULL)
			v->claims = claims_with_aal(v->claims, v->aal);
	}
	v->code = JWT_VALID;
}

static void
verify_arg(FunctionCallInfo fcinfo, JwtVerdict *v)
{
	char	   *audience = PG_ARGISNULL(1) ? NULL :
		text_to_cstring(PG_GETARG_TEXT_PP(1));

	if (PG_ARGISNULL(0))
	{
		memset(v, 0, sizeof(*v));
		v->code = JWT_INVALID;
		return;
	}
	else
	{
		text	   *token = PG_GETARG_TEXT_PP(0);

		verify_token(VARDATA_ANY(token), VARSIZE_ANY_EXHDR(token), audience,
					 true, v);
	}
	ERR_clear_error();
}

/*
 * SQL function: auth.verify_jwt(token text, audience text)
 *   returns (valid boolean, code text, user_id uuid, claims jsonb, kid text)
 * Never raises for a bad token; the claims only when valid.
 */
PG_FUNCTION_INFO_V1(auth_verify_jwt);
Datum
auth_verify_jwt(PG_FUNCTION_ARGS)
{
	TupleDesc	tupdesc = auth_result_tupdesc(fcinfo);
	JwtVerdict	v;
	Datum		values[5];
	bool		nulls[5] = {false, true, true, true, true};

	verify_arg(fcinfo, &v);
	values[0] = BoolGetDatum(v.code == JWT_VALID);
	if (v.code != JWT_VALID)
	{
		values[1] = CStringGetTextDatum(code_names[v.code]);
		nulls[1] = false;
	}
	else
	{
		if (v.has_user)
		{
			values[2] = auth_uuid_datum(&v.user_id);
			nulls[2] = false;
		}
		values[3] = JsonbPGetDatum(v.claims);
		nulls[3] = false;
	}
	if (v.kid[0] != '\0')
	{
		values[4] = CStringGetTextDatum(v.kid);
		nulls[4] = false;
	}
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc,
													  values, nulls)));
}

/* The identity of a valid token. */
static void
identity_of(const JwtVerdict *v, AuthIdentity *ident)
{
	uint64		exp = (uint64) Max(v->exp, 0);

	memset(ident, 0, sizeof(*ident));
	ident->kind = jwt_kind_id;
	ident->user_id = v->user_id;
	ident->credential_id = v->sid;
	ident->has_org = v->has_org;
	ident->org_id = v->org_id;
	ident->tag[0] = (uint8) v->sid_kind;
	ident->aal = v->aal >= 2 ? 2 : 1;
	/* exp, for the check of a connection-scope identity */
	for (int i = 7; i >= 1; i--, exp >>= 8)
		ident->tag[i] = (uint8) (exp & 0xff);
	memcpy(ident->scopes, v->scopes, sizeof(ident->scopes));
}

/*
 * SQL function: auth.authenticate_jwt(token text, is_local boolean)
 *   returns uuid
 * Sets an identity of kind jwt; 28000 with the code in the detail.
 */
PG_FUNCTION_INFO_V1(auth_authenticate_jwt);
Datum
auth_authenticate_jwt(PG_FUNCTION_ARGS)
{
	JwtVerdict	v;
	AuthIdentity ident;
	bool		is_local;
	char	   *text_claims;

	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("is_local must not be null")));
	is_local = PG_GETARG_BOOL(1);
	if (PG_ARGISNULL(0))
	{
		memset(&v, 0, sizeof(v));
		v.code = JWT_INVALID;
	}
	else
	{
		text	   *token = PG_GETARG_TEXT_PP(0);

		verify_token(VARDATA_ANY(token), VARSIZE_ANY_EXHDR(token), NULL,
					 false, &v);
		ERR_clear_error();
	}
	if (v.code == JWT_VALID && !v.has_user)
		v.code = JWT_UNKNOWN_SUBJECT;
	if (v.code != JWT_VALID)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
				 errmsg("invalid JWT"),
				 errdetail("Reason: %s.", code_names[v.code]),
				 errhint("Get a new token from its issuer.")));
	identity_of(&v, &ident);
	/* a member no more acts in the organization the token names */
	if (ident.has_org && jwt_check_revocation &&
		!still_member(&ident.org_id, &ident.user_id))
		ident.has_org = false;
	/* the payload as the issuer wrote it: valid UTF-8 JSON, checked */
	text_claims = v.claims_text;
	auth_identity_set(&ident, is_local);
	(void) set_config_option("auth.jwt_claims", text_claims, PGC_SUSET,
							 PGC_S_SESSION,
							 is_local ? GUC_ACTION_LOCAL : GUC_ACTION_SET,
							 true, 0, false);
	if (!is_local)
	{
		conn_ident = ident;
		strlcpy(conn_kid, v.kid, sizeof(conn_kid));
		conn_own_key = v.own_key;
	}
	PG_RETURN_DATUM(auth_uuid_datum(&v.user_id));
}

/*
 * The liveness callback of the kind, for a connection-scope identity at
 * each transaction: not expired (its exp is in the tag), its sid live,
 * and the key that signed it (remembered by the backend that verified it)
 * not revoked nor past its grace.
 */
static bool
jwt_is_live(const AuthIdentity *ident, AuthIdentity *settled)
{
	uint64		exp = 0;
	TimestampTz now = auth_now();

	for (int i = 1; i <= 7; i++)
		exp = (exp << 8) | ident->tag[i];
	if (unix_to_timestamp((double) exp) +
		(TimestampTz) jwt_leeway * USECS_PER_SEC <= now)
		return false;
	if (ident->tag[0] != SID_NONE)
	{
		uint8		live_aal;

		if (!auth_credential_is_live(ident->tag[0] == SID_SESSION ?
									 "session" : "api_key",
									 &ident->user_id, &ident->credential_id,
									 &live_aal))
			return false;
		/* its session lost its second factor: aal1 from now on */
		settled->aal = Min(ident->aal, live_aal);
	}
	if (ident->tag[0] == SID_NONE && jwt_check_revocation &&
		user_verdict(&ident->user_id) != JWT_VALID)
		return false;
	/* a member no more: the identity, without the organization */
	if (ident->has_org && jwt_check_revocation &&
		!still_member(&ident->org_id, &ident->user_id))
		settled->has_org = false;
	if (conn_own_key && ident->kind == conn_ident.kind &&
		memcmp(&ident->user_id, &conn_ident.user_id, UUID_LEN) == 0 &&
		memcmp(&ident->credential_id, &conn_ident.credential_id,
			   UUID_LEN) == 0 &&
		memcmp(ident->tag, conn_ident.tag, AUTH_KEY_TAG_LEN) == 0)
	{
		JwtKey	   *key = auth_jwt_key_by_kid(conn_kid, NULL);

		if (key == NULL || key_retired(key, now))
			return false;
	}
	return true;
}

/* ---------------------------------------------------------------------
 * auth.jwt(): the claims of any identity, in Supabase's shape
 * --------------------------------------------------------------------- */

static void
append_uuid(StringInfo buf, const char *field, const pg_uuid_t *u)
{
	appendStringInfo(buf, ", \"%s\": \"%s\"", field,
					 DatumGetCString(DirectFunctionCall1(uuid_out,
														 UUIDPGetDatum(u))));
}

typedef struct ClaimsCache
{
	char	   *text;
	bool		has_org;
	pg_uuid_t	org_id;
	uint8		aal;
	Jsonb	   *claims;
} ClaimsCache;

/*
 * This database's claims with the aal that holds now: the token's, unless
 * its session or key has lost its second factor since (or it names none);
 * a token without the claim is left as it is.
 */
static Jsonb *
claims_with_aal(Jsonb *claims, uint8 aal)
{
	bool		present;
	char	   *claimed = member_string(claims, "aal", &present);
	const char *now = aal >= 2 ? "aal2" : "aal1";
	char		patch[32];

	if (!present || (claimed != NULL && strcmp(claimed, now) == 0))
		return claims;
	snprintf(patch, sizeof(patch), "{\"aal\": \"%s\"}", now);
	return DatumGetJsonbP(DirectFunctionCall2(jsonb_concat,
											  JsonbPGetDatum(claims),
											  DirectFunctionCall1(jsonb_in,
																  CStringGetDatum(patch))));
}

/*
 * An external issuer's claims with this database's word on the identity:
 * sub (the user), role, aal and org are the identity's, and the issuer's
 * session_id, api_key_id and sid are dropped (policies read them all as
 * facts about the identity).  Tokens of this database keep their claims,
 * which are this database's, but for what changed since they were issued:
 * an organization left, a second factor lost (aal).
 */
static Jsonb *
identity_claims(Jsonb *claims, const AuthIdentity *ident)
{
	static const char *const theirs[] = {"sub", "role", "aal", "org",
	"session_id", "api_key_id", "sid"};
	Datum		names[lengthof(theirs)];
	ArrayType  *arr;
	StringInfoData ours;
	bool		present;
	char	   *iss = member_string(claims, "iss", &present);

	if (iss == NULL || jwt_issuer == NULL || strcmp(iss, jwt_issuer) == 0)
	{
		/* the organization dropped with a membership */
		if (!ident->has_org && member(claims, "org") != NULL)
			claims = DatumGetJsonbP(DirectFunctionCall2(jsonb_delete,
														JsonbPGetDatum(claims),
														CStringGetTextDatum("org")));
		return claims_with_aal(claims, ident->aal);
	}
	for (int i = 0; i < (int) lengthof(theirs); i++)
		names[i] = CStringGetTextDatum(theirs[i]);
	arr = construct_array(names, lengthof(theirs), TEXTOID, -1, false,
						  TYPALIGN_INT);
	claims = DatumGetJsonbP(DirectFunctionCall2(jsonb_delete_array,
												JsonbPGetDatum(claims),
												PointerGetDatum(arr)));
	initStringInfo(&ours);
	appendStringInfoString(&ours,
						   "{\"role\": \"authenticated\", \"aal\": \"aal1\"");
	append_uuid(&ours, "sub", &ident->user_id);
	if (ident->has_org)
		append_uuid(&ours, "org", &ident->org_id);
	appendStringInfoChar(&ours, '}');
	return DatumGetJsonbP(DirectFunctionCall2(jsonb_concat,
											  JsonbPGetDatum(claims),
											  DirectFunctionCall1(jsonb_in,
																  CStringGetDatum(ours.data))));
}

/*
 * The claims of text as jsonb (with ident, a JWT identity's: see
 * identity_claims), parsed once per call site while the text and the
 * identity's org and aal stay the same: a policy calls auth.jwt() once
 * per row.
 */
static Jsonb *
claims_cached(FunctionCallInfo fcinfo, const char *text,
			  const AuthIdentity *ident)
{
	ClaimsCache *cache = fcinfo->flinfo->fn_extra;
	MemoryContext old;
	bool		has_org = ident != NULL && ident->has_org;
	uint8		aal = ident != NULL ? ident->aal : 0;

	if (cache != NULL && strcmp(cache->text, text) == 0 &&
		cache->has_org == has_org && cache->aal == aal &&
		(!has_org || memcmp(&cache->org_id, &ident->org_id, UUID_LEN) == 0))
		return cache->claims;
	old = MemoryContextSwitchTo(fcinfo->flinfo->fn_mcxt);
	/* a value already handed out is never freed: a new one is made */
	cache = palloc0(sizeof(ClaimsCache));
	cache->text = pstrdup(text);
	cache->has_org = has_org;
	cache->aal = aal;
	if (has_org)
		cache->org_id = ident->org_id;
	cache->claims = DatumGetJsonbP(DirectFunctionCall1(jsonb_in,
													   CStringGetDatum(text)));
	if (ident != NULL)
		cache->claims = identity_claims(cache->claims, ident);
	MemoryContextSwitchTo(old);
	fcinfo->flinfo->fn_extra = cache;
	return cache->claims;
}

/*
 * SQL function: auth.jwt() returns jsonb
 * A JWT identity's own claims; for any other identity the claims a token
 * of it would carry (sub, role, aal, session_id or api_key_id, org,
 * scopes), so that policies written for Supabase's auth.jwt() port.  NULL
 * when nobody is authenticated.
 */
PG_FUNCTION_INFO_V1(auth_jwt_claims_sql);
Datum
auth_jwt_claims_sql(PG_FUNCTION_ARGS)
{
	const AuthIdentity *ident = auth_identity_current();
	const AuthCredentialKind *kind;
	const char *field;
	StringInfoData buf;

	if (ident == NULL)
		PG_RETURN_NULL();
	if (ident->kind == jwt_kind_id && jwt_claims != NULL &&
		jwt_claims[0] != '\0')
	{
		Jsonb	   *claims = claims_cached(fcinfo, jwt_claims, ident);
		pg_uuid_t	sub;
		bool		present;

		/* the claims set with this identity, not a stale value */
		if (parse_uuid(member_string(claims, "sub", &present), &sub) &&
			memcmp(&sub, &ident->user_id, UUID_LEN) == 0)
			PG_RETURN_JSONB_P(claims);
	}
	kind = auth_identity_kind(ident);
	initStringInfo(&buf);
	appendStringInfo(&buf, "{\"role\": \"authenticated\", "
					 "\"aal\": \"aal%d\", \"is_anonymous\": false",
					 ident->aal >= 2 ? 2 : 1);
	append_uuid(&buf, "sub", &ident->user_id);
	field = auth_identity_credential_field(ident);
	if (field != NULL)
		append_uuid(&buf, field, &ident->credential_id);
	if (ident->has_org)
		append_uuid(&buf, "org", &ident->org_id);
	appendStringInfoString(&buf, ", \"scopes\": [");
	{
		const char *cursor = kind->syntax.scopes ? ident->scopes : "*";
		const char *scope;
		const char *sep = "";
		size_t		len;

		/* scopes hold no quote or backslash (auth_scope_char) */
		while ((scope = auth_scope_next(&cursor, &len)) != NULL)
		{
			appendStringInfo(&buf, "%s\"%.*s\"", sep, (int) len, scope);
			sep = ", ";
		}
	}
	appendStringInfoString(&buf, "]}");
	PG_RETURN_JSONB_P(claims_cached(fcinfo, buf.data, NULL));
}

/* ---------------------------------------------------------------------
 * Keys and signing, for the SQL functions of 91_signing_keys.sql
 * --------------------------------------------------------------------- */

/*
 * An asymmetric key for the row id: its private part (DER) sealed into
 * *sealed, wiped from memory at once, its public JWK into *public_jwk;
 * frees pkey.
 */
static void
seal_pkey(EVP_PKEY *pkey, int alg, pg_uuid_t *id, Datum *sealed,
		  Datum *public_jwk)
{
	Size		len;
	uint8	   *der = auth_pkey_private_der(pkey, &len);
	char	   *jwk = auth_pkey_public_jwk(pkey, alg);

	EVP_PKEY_free(pkey);
	*sealed = PointerGetDatum(auth_seal(AUTH_SEAL_SIGNING_KEY, id, der, len));
	explicit_bzero(der, len);
	*public_jwk = DirectFunctionCall1(jsonb_in, CStringGetDatum(jwk));
}

/*
 * SQL function: auth._signing_key_generate(alg text, id uuid,
 *   OUT public_jwk jsonb, OUT private_key bytea)
 * A fresh key for the row id: its public JWK (NULL for HS256) and its
 * private part (or HS256 secret) sealed.
 */
PG_FUNCTION_INFO_V1(auth_signing_key_generate);
Datum
auth_signing_key_generate(PG_FUNCTION_ARGS)
{
	int			alg = auth_jwt_alg_from_name(text_to_cstring(PG_GETARG_TEXT_PP(0)));
	pg_uuid_t  *id = PG_GETARG_UUID_P(1);
	TupleDesc	tupdesc = auth_result_tupdesc(fcinfo);
	Datum		values[2];
	bool		nulls[2] = {true, false};

	if (alg < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unsupported signing algorithm"),
				 errhint("Use EdDSA, ES256, RS256 or HS256.")));
	if (alg == JWT_ALG_HS256)
	{
		uint8		secret[AUTH_JWT_HS_MIN];

		auth_random_bytes(secret, sizeof(secret));
		values[1] = PointerGetDatum(auth_seal(AUTH_SEAL_SIGNING_KEY, id,
											  secret, sizeof(secret)));
		explicit_bzero(secret, sizeof(secret));
	}
	else
	{
		seal_pkey(auth_jwt_generate(alg), alg, id, &values[1], &values[0]);
		nulls[0] = false;
	}
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc,
													  values, nulls)));
}

/*
 * SQL function: auth._signing_key_import(jwk jsonb, id uuid,
 *   OUT algorithm text, OUT public_jwk jsonb, OUT private_key bytea)
 * An existing key or secret (a JWK with its private part) for the row id.
 * 22023 for anything else, detail WEAK_SECRET for an HS256 secret under 32
 * bytes; no part of the key ever in a message.
 */
PG_FUNCTION_INFO_V1(auth_signing_key_import);
Datum
auth_signing_key_import(PG_FUNCTION_ARGS)
{
	Jsonb	   *jwk = PG_GETARG_JSONB_P(0);
	pg_uuid_t  *id = PG_GETARG_UUID_P(1);
	TupleDesc	tupdesc = auth_result_tupdesc(fcinfo);
	Datum		values[3];
	bool		nulls[3] = {false, true, false};
	int			alg;
	uint8	   *secret = NULL;
	Size		secret_len = 0;
	const char *why;
	EVP_PKEY   *pkey = auth_jwk_to_pkey(jwk, true, &alg, &secret,
										&secret_len, &why);

	ERR_clear_error();
	if (alg < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid signing key"),
				 errdetail("%s", why != NULL ? why : "The JWK is not a key."),
				 strcmp(why ? why : "", "WEAK_SECRET") == 0 ?
				 errhint("An HS256 secret has at least %d bytes.",
						 AUTH_JWT_HS_MIN) : 0));
	values[0] = CStringGetTextDatum(auth_jwt_alg_names[alg]);
	if (alg == JWT_ALG_HS256)
	{
		values[2] = PointerGetDatum(auth_seal(AUTH_SEAL_SIGNING_KEY, id,
											  secret, secret_len));
		explicit_bzero(secret, secret_len);
	}
	else
	{
		seal_pkey(pkey, alg, id, &values[2], &values[1]);
		nulls[1] = false;
	}
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc,
													  values, nulls)));
}

/*
 * SQL function: auth._jwks_check(jwks jsonb) returns integer
 * The number of keys in an issuer's JWKS ({"keys": [...]}), each a public
 * RS256, ES256 or EdDSA key; 22023 for anything else (a private part
 * included: the database needs none of an issuer's).
 */
PG_FUNCTION_INFO_V1(auth_jwks_check);
Datum
auth_jwks_check(PG_FUNCTION_ARGS)
{
	Jsonb	   *jwks = PG_GETARG_JSONB_P(0);
	JsonbValue *arr;
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;
	int			n = 0;

	if (!JB_ROOT_IS_OBJECT(jwks) || JB_ROOT_IS_SCALAR(jwks) ||
		(arr = member(jwks, "keys")) == NULL || arr->type != jbvBinary ||
		!JsonContainerIsArray(arr->val.binary.data))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid JWKS"),
				 errdetail("A JWKS is an object {\"keys\": [...]}.")));
	it = JsonbIteratorInit(arr->val.binary.data);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		Jsonb	   *jwk;
		int			alg;
		uint8	   *unused = NULL;
		Size		unused_len;
		const char *why = NULL;
		EVP_PKEY   *pkey;
		char	   *kid;
		bool		present;

		if (tok != WJB_ELEM)
			continue;
		if (v.type != jbvBinary)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("invalid JWKS"),
					 errdetail("Each key is a JSON object.")));
		jwk = JsonbValueToJsonb(&v);
		if (member(jwk, "d") != NULL || member(jwk, "k") != NULL)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("invalid JWKS"),
					 errdetail("An issuer's keys are public keys: remove the private parts.")));
		pkey = auth_jwk_to_pkey(jwk, false, &alg, &unused, &unused_len,
								&why);
		EVP_PKEY_free(pkey);
		ERR_clear_error();
		if (pkey == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("invalid JWKS"),
					 errdetail("%s", why != NULL ? why : "A key is not valid.")));
		kid = member_string(jwk, "kid", &present);
		if (present && (kid == NULL || kid[0] == '\0' ||
						strlen(kid) > AUTH_JWT_KID_MAX))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("invalid JWKS"),
					 errdetail("A kid is 1 to %d characters.",
							   AUTH_JWT_KID_MAX)));
		n++;
	}
	PG_RETURN_INT32(n);
}

/*
 * SQL function: auth._jwt_sign(claims jsonb) returns text
 * The claims signed with the current key, as a compact JWS whose header
 * names the key (alg, kid, typ).  55000 when there is no current key.
 */
PG_FUNCTION_INFO_V1(auth_jwt_sign);
Datum
auth_jwt_sign(PG_FUNCTION_ARGS)
{
	Jsonb	   *claims = PG_GETARG_JSONB_P(0);
	JwtKey	   *key = auth_jwt_current_key();
	StringInfoData header;
	StringInfoData out;
	char	   *payload;
	char	   *enc;
	uint8		sig[AUTH_JWT_SIG_MAX];
	Size		siglen;
	bool		ok;

	if (key == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("there is no current signing key"),
				 errhint("Call auth.rotate_signing_keys() to make the standby key current.")));
	auth_jwt_key_open(key);
	initStringInfo(&header);
	appendStringInfo(&header, "{\"alg\":\"%s\",\"kid\":",
					 auth_jwt_alg_names[key->alg]);
	escape_json(&header, key->kid);
	appendStringInfoString(&header, ",\"typ\":\"JWT\"}");
	payload = JsonbToCString(NULL, &claims->root, VARSIZE(claims));

	initStringInfo(&out);
	enc = palloc(auth_b64url_len(header.len) + 1);
	auth_b64url_encode((uint8 *) header.data, header.len, enc);
	appendStringInfoString(&out, enc);
	appendStringInfoChar(&out, '.');
	enc = palloc(auth_b64url_len(strlen(payload)) + 1);
	auth_b64url_encode((uint8 *) payload, strlen(payload), enc);
	appendStringInfoString(&out, enc);
	if (out.len > AUTH_JWS_MAX_LEN - 700)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("the claims make a token longer than %d bytes",
						AUTH_JWS_MAX_LEN)));
	ok = auth_jws_sign(key->alg, key->private_pkey, key->secret,
					   key->secret_len, out.data, out.len, sig, &siglen);
	ERR_clear_error();
	if (!ok)
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not sign the token")));
	enc = palloc(auth_b64url_len(siglen) + 1);
	auth_b64url_encode(sig, siglen, enc);
	appendStringInfoChar(&out, '.');
	appendStringInfoString(&out, enc);
	PG_RETURN_TEXT_P(cstring_to_text_with_len(out.data, out.len));
}

/*
 * SQL function: auth._jwt_issuer() returns text
 * auth.jwt_issuer, read through the module (which defines it).
 */
PG_FUNCTION_INFO_V1(auth_jwt_issuer_sql);
Datum
auth_jwt_issuer_sql(PG_FUNCTION_ARGS)
{
	PG_RETURN_TEXT_P(cstring_to_text(jwt_issuer == NULL ? "" : jwt_issuer));
}
