/*
 * fuzz_phc.c: auth_phc_parse and _format, auth_is_bcrypt, auth_bcrypt_cost,
 * auth_is_better_auth_scrypt.
 *
 * Each input is used twice:
 *
 *  1. as text: a PHC string that parses has parameters in their bounds,
 *     formats, re-parses to the same parameters, formats to the same text
 *     again, and carries the canonical base64 of its salt and hash (as the
 *     format writes them); the bcrypt and scrypt recognisers agree with
 *     what their comments say;
 *  2. as bytes describing parameters: formatting succeeds and parsing the
 *     text gives them back exactly when they are in bounds.
 */
#include "fuzz_util.h"
#include "phc.h"

static bool
params_valid(const AuthPhc *p)
{
	return (p->type == AUTH_ARGON2D || p->type == AUTH_ARGON2I ||
			p->type == AUTH_ARGON2ID) &&
		(p->version == AUTH_ARGON2_VERSION_10 ||
		 p->version == AUTH_ARGON2_VERSION_13) &&
		p->lanes >= 1 && p->lanes <= 64 && p->t_cost >= 1 &&
		(uint64_t) p->m_cost >= 8 * (uint64_t) p->lanes &&
		p->saltlen >= 8 && p->saltlen <= sizeof(p->salt) &&
		p->hashlen >= 4 && p->hashlen <= sizeof(p->hash);
}

static void
check_same(const AuthPhc *a, const AuthPhc *b)
{
	FUZZ_CHECK(a->type == b->type);
	FUZZ_CHECK(a->version == b->version);
	FUZZ_CHECK(a->m_cost == b->m_cost);
	FUZZ_CHECK(a->t_cost == b->t_cost);
	FUZZ_CHECK(a->lanes == b->lanes);
	FUZZ_CHECK(a->saltlen == b->saltlen);
	FUZZ_CHECK(memcmp(a->salt, b->salt, a->saltlen) == 0);
	FUZZ_CHECK(a->hashlen == b->hashlen);
	FUZZ_CHECK(memcmp(a->hash, b->hash, a->hashlen) == 0);
}

/*
 * Formats p into a heap block of exactly the text's size (so ASan sees a
 * write past buflen), checks that one byte less is refused; returns the
 * text, malloc'd.
 */
static char *
format_exact(const AuthPhc *p)
{
	char		buf[AUTH_PHC_MAX];
	size_t		len;
	char	   *exact;

	FUZZ_CHECK(auth_phc_format(p, buf, sizeof(buf)));
	len = strnlen(buf, sizeof(buf));
	FUZZ_CHECK(len < sizeof(buf));
	exact = malloc(len + 1);
	FUZZ_CHECK(exact != NULL);
	FUZZ_CHECK(auth_phc_format(p, exact, len + 1));
	FUZZ_CHECK(memcmp(exact, buf, len + 1) == 0);
	FUZZ_CHECK(!auth_phc_format(p, exact, len));
	return exact;
}

/* The text after the (n)th '$' from the end of s. */
static const char *
field_from_end(const char *s, int n)
{
	const char *p = s + strlen(s);

	while (p > s)
	{
		p--;
		if (*p == '$' && --n == 0)
			return p + 1;
	}
	return NULL;
}

static void
text_round_trip(const char *s)
{
	AuthPhc		a,
				b;
	char	   *f,
			   *g;
	const char *s_salt,
			   *f_salt;

	if (!auth_phc_parse(s, &a))
		return;
	FUZZ_CHECK(params_valid(&a));
	f = format_exact(&a);
	FUZZ_CHECK(auth_phc_parse(f, &b));
	check_same(&a, &b);
	g = format_exact(&b);
	FUZZ_CHECK(strcmp(f, g) == 0);

	/* "$<salt>$<hash>" ends both, and is canonical base64 in the input too */
	s_salt = field_from_end(s, 2);
	f_salt = field_from_end(f, 2);
	FUZZ_CHECK(s_salt != NULL && f_salt != NULL);
	FUZZ_CHECK(strcmp(s_salt, f_salt) == 0);
	free(f);
	free(g);
}

/* "$2a$NN$" + 53 characters ($2b$ and $2y$ too), as phc.c's comment says */
static bool
ref_is_bcrypt(const char *s, size_t len)
{
	return len == 60 && s[0] == '$' && s[1] == '2' &&
		s[2] != '\0' && strchr("aby", s[2]) != NULL && s[3] == '$' &&
		s[4] >= '0' && s[4] <= '9' && s[5] >= '0' && s[5] <= '9' &&
		s[6] == '$';
}

/* better-auth: "<32 hex salt>:<128 hex key>" */
static bool
ref_is_scrypt(const char *s, size_t len)
{
	if (len != 32 + 1 + 128 || s[32] != ':')
		return false;
	for (size_t i = 0; i < len; i++)
		if (i != 32 &&
			(s[i] == '\0' || !strchr("0123456789abcdefABCDEF", s[i])))
			return false;
	return true;
}

static void
recognisers(const uint8_t *data, size_t size)
{
	/* not NUL-terminated: they are given a length */
	char	   *s = fuzz_exact_copy(data, size);
	bool		bcrypt = auth_is_bcrypt(s, size);

	FUZZ_CHECK(bcrypt == ref_is_bcrypt(s, size));
	if (bcrypt)
	{
		int			cost = auth_bcrypt_cost(s);

		FUZZ_CHECK(cost == (s[4] - '0') * 10 + (s[5] - '0'));
		FUZZ_CHECK(cost >= 0 && cost <= 99);
	}
	FUZZ_CHECK(auth_is_better_auth_scrypt(s, size) == ref_is_scrypt(s, size));
	free(s);
}

static void
struct_round_trip(const uint8_t *data, size_t size)
{
	FuzzReader	r = {data, size};
	AuthPhc		a,
				b;
	char	   *f;
	bool		parsed;

	memset(&a, 0, sizeof(a));
	a.type = fuzz_take(&r) % 3;
	switch (fuzz_take(&r) % 3)
	{
		case 0:
			a.version = AUTH_ARGON2_VERSION_10;
			break;
		case 1:
			a.version = AUTH_ARGON2_VERSION_13;
			break;
		default:
			a.version = fuzz_take32(&r);
	}
	a.m_cost = fuzz_take32(&r);
	a.t_cost = fuzz_take32(&r);
	a.lanes = fuzz_take32(&r);
	a.saltlen = fuzz_take(&r) % (sizeof(a.salt) + 1);
	a.hashlen = fuzz_take(&r) % (sizeof(a.hash) + 1);
	fuzz_take_bytes(&r, a.salt, a.saltlen);
	fuzz_take_bytes(&r, a.hash, a.hashlen);

	f = format_exact(&a);
	parsed = auth_phc_parse(f, &b);
	FUZZ_CHECK(parsed == params_valid(&a));
	if (parsed)
		check_same(&a, &b);
	free(f);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char	   *s = fuzz_cstring(data, size);

	text_round_trip(s);
	recognisers(data, size);
	struct_round_trip(data, size);
	free(s);
	return 0;
}
