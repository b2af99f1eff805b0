/*
 * fuzz_identity_value.c: auth_identity_value_parse and _format.
 *
 * The kinds are the extension's own (session.c, apikey.c, identity.c), in
 * the order _PG_init registers them.  Each input is used twice:
 *
 *  1. as text: when it parses, the fields a kind does not carry are zero,
 *     formatting succeeds, gives the input back (up to the case of hex
 *     digits and an empty "/"), and parses to the same identity;
 *  2. as bytes describing an identity (kind, uuids, org, tag, then the
 *     length of the scopes, up to the longest that fits, and their
 *     characters): formatting it succeeds and parsing the text gives the
 *     same identity back.
 */
#include "fuzz_util.h"
#include "identity_value.h"

static const AuthKindSyntax session_syntax = {.name = "session",
.credential_id = true};
static const AuthKindSyntax api_key_syntax = {.name = "api_key",
.credential_id = true, .tag = true, .scopes = true};
static const AuthKindSyntax user_syntax = {.name = "user"};

static const AuthKindSyntax *const kinds[] = {
	&session_syntax, &api_key_syntax, &user_syntax,
};
#define NKINDS ((int) (sizeof(kinds) / sizeof(kinds[0])))

/* What auth_scope_char accepts, and the space between scopes. */
static const char scope_alphabet[] =
"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.:*/ ";

static void
check_same(const AuthIdentity *a, const AuthIdentity *b)
{
	FUZZ_CHECK(a->kind == b->kind);
	FUZZ_CHECK(memcmp(&a->user_id, &b->user_id, sizeof(a->user_id)) == 0);
	FUZZ_CHECK(memcmp(&a->credential_id, &b->credential_id,
					  sizeof(a->credential_id)) == 0);
	FUZZ_CHECK(a->has_org == b->has_org);
	FUZZ_CHECK(memcmp(&a->org_id, &b->org_id, sizeof(a->org_id)) == 0);
	FUZZ_CHECK(a->aal == b->aal);
	FUZZ_CHECK(memcmp(a->tag, b->tag, sizeof(a->tag)) == 0);
	FUZZ_CHECK(memcmp(a->scopes, b->scopes, sizeof(a->scopes)) == 0);
}

static const AuthKindSyntax *
syntax_of(const AuthIdentity *ident)
{
	FUZZ_CHECK(ident->kind >= 0 && ident->kind <= NKINDS);
	return ident->kind == 0 ? NULL : kinds[ident->kind - 1];
}

/*
 * Formats ident into a heap block of exactly the text's size (so ASan sees
 * a write past buflen), checks that one byte less is refused; returns the
 * text, malloc'd.
 */
static char *
format_exact(const AuthIdentity *ident)
{
	const AuthKindSyntax *syntax = syntax_of(ident);
	char		buf[AUTH_IDENTITY_VALUE_MAX];
	size_t		len;
	char	   *exact;

	FUZZ_CHECK(auth_identity_value_format(ident, syntax, buf, sizeof(buf)));
	len = strnlen(buf, sizeof(buf));
	FUZZ_CHECK(len < sizeof(buf));
	exact = malloc(len + 1);
	FUZZ_CHECK(exact != NULL);
	FUZZ_CHECK(auth_identity_value_format(ident, syntax, exact, len + 1));
	FUZZ_CHECK(memcmp(exact, buf, len + 1) == 0);
	FUZZ_CHECK(!auth_identity_value_format(ident, syntax, exact, len));
	return exact;
}

static void
text_round_trip(const char *s)
{
	AuthIdentity a,
				b;
	const AuthKindSyntax *syntax;
	char	   *f;
	size_t		n = strlen(s),
				flen;

	if (!auth_identity_value_parse(s, kinds, NKINDS, &a))
		return;
	syntax = syntax_of(&a);
	if (syntax == NULL)
	{
		FUZZ_CHECK(n == 0);
		FUZZ_CHECK(fuzz_all_zero(&a.user_id, sizeof(a.user_id)) && !a.has_org);
	}
	if (syntax == NULL || !syntax->credential_id)
		FUZZ_CHECK(fuzz_all_zero(&a.credential_id, sizeof(a.credential_id)));
	if (syntax == NULL || !syntax->tag)
		FUZZ_CHECK(fuzz_all_zero(a.tag, sizeof(a.tag)));
	if (syntax == NULL || !syntax->scopes)
		FUZZ_CHECK(a.scopes[0] == '\0');
	if (!a.has_org)
		FUZZ_CHECK(fuzz_all_zero(&a.org_id, sizeof(a.org_id)));
	/* nobody has no assurance level; anyone else aal1 or aal2 ("!2") */
	FUZZ_CHECK(syntax == NULL ? a.aal == 0 : (a.aal == 1 || a.aal == 2));
	FUZZ_CHECK(strnlen(a.scopes, sizeof(a.scopes)) < sizeof(a.scopes));

	f = format_exact(&a);
	FUZZ_CHECK(auth_identity_value_parse(f, kinds, NKINDS, &b));
	check_same(&a, &b);

	/* the text is the input, but for hex case and a "/" with no scopes */
	if (syntax != NULL && syntax->scopes && a.scopes[0] == '\0' &&
		n > 0 && s[n - 1] == '/')
		n--;
	flen = strlen(f);
	FUZZ_CHECK(flen == n);
	for (size_t i = 0; i < n; i++)
		FUZZ_CHECK(f[i] == s[i] ||
				   (s[i] >= 'A' && s[i] <= 'F' && f[i] == s[i] - 'A' + 'a'));
	free(f);
}

static void
struct_round_trip(const uint8_t *data, size_t size)
{
	FuzzReader	r = {data, size};
	AuthIdentity a,
				b;
	const AuthKindSyntax *syntax;
	char	   *f;

	memset(&a, 0, sizeof(a));
	a.kind = fuzz_take(&r) % (NKINDS + 1);
	syntax = syntax_of(&a);
	if (syntax != NULL)
	{
		fuzz_take_bytes(&r, &a.user_id, sizeof(a.user_id));
		if (syntax->credential_id)
			fuzz_take_bytes(&r, &a.credential_id, sizeof(a.credential_id));
		if ((a.has_org = fuzz_take(&r) & 1))
			fuzz_take_bytes(&r, &a.org_id, sizeof(a.org_id));
		a.aal = 1 + (fuzz_take(&r) & 1);
		if (syntax->tag)
			fuzz_take_bytes(&r, a.tag, sizeof(a.tag));
		if (syntax->scopes)
		{
			/* a length up to the most that fits, then the rest of the input
			 * as scope characters, repeated */
			size_t		n = (size_t) fuzz_take(&r) << 8;
			const uint8_t *rest;

			n = (n | fuzz_take(&r)) % sizeof(a.scopes);
			rest = r.p;
			for (size_t i = 0; i < n; i++)
				a.scopes[i] = scope_alphabet[(r.left > 0 ? rest[i % r.left] : i) %
											 (sizeof(scope_alphabet) - 1)];
		}
	}
	f = format_exact(&a);
	FUZZ_CHECK(auth_identity_value_parse(f, kinds, NKINDS, &b));
	check_same(&a, &b);
	free(f);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char	   *s = fuzz_cstring(data, size);

	text_round_trip(s);
	struct_round_trip(data, size);
	free(s);
	return 0;
}
