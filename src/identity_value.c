/*
 * identity_value.c: parsing and formatting the text form of an identity.
 *
 * The value comes back from PostgreSQL's settings machinery (a parallel
 * worker, RESET, a superuser's SET), so it is parsed strictly: every part
 * in its place, nothing after the end.
 */
#include <string.h>

#include "identity_value.h"

static const char hex_digits[] = "0123456789abcdef";

static int
hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Parses n bytes of hex digits at s; returns the text after them or NULL. */
static const char *
parse_hex(const char *s, uint8_t *out, int n)
{
	for (int i = 0; i < n; i++)
	{
		int			hi = hex_value(s[0]);
		int			lo = hi < 0 ? -1 : hex_value(s[1]);

		if (lo < 0)
			return NULL;
		out[i] = (uint8_t) ((hi << 4) | lo);
		s += 2;
	}
	return s;
}

/* Parses a canonical 36-character uuid; returns the text after it or NULL. */
static const char *
parse_uuid(const char *s, AuthUuid *out)
{
	static const int groups[] = {4, 2, 2, 2, 6};
	uint8_t    *p = out->data;

	for (int g = 0; g < 5; g++)
	{
		if (g > 0 && *s++ != '-')
			return NULL;
		if ((s = parse_hex(s, p, groups[g])) == NULL)
			return NULL;
		p += groups[g];
	}
	return s;
}

/* Parses "/<scope> <scope> ..." (or nothing) at s up to the end. */
static bool
parse_scopes(const char *s, AuthIdentity *out)
{
	size_t		len;

	if (*s == '\0')
		return true;
	if (*s++ != '/' || (len = strlen(s)) >= sizeof(out->scopes))
		return false;
	for (const char *p = s; *p; p++)
		if (!auth_scope_char(*p) && *p != ' ')
			return false;
	memcpy(out->scopes, s, len + 1);
	return true;
}

/* The kind whose name ends at the first ':' of s, or -1. */
static int
find_kind(const char *s, const AuthKindSyntax *const *kinds, int nkinds)
{
	const char *colon = strchr(s, ':');

	if (colon == NULL)
		return -1;
	for (int i = 0; i < nkinds; i++)
	{
		size_t		len = strlen(kinds[i]->name);

		if ((size_t) (colon - s) == len && memcmp(s, kinds[i]->name, len) == 0)
			return i;
	}
	return -1;
}

/*
 * Parses a value into out; false when it is not one.  kinds[i] is the
 * syntax of kind i + 1.
 */
bool
auth_identity_value_parse(const char *s, const AuthKindSyntax *const *kinds,
						  int nkinds, AuthIdentity *out)
{
	const AuthKindSyntax *syntax;
	int			k;

	memset(out, 0, sizeof(*out));
	if (s == NULL || *s == '\0')
		return true;
	if ((k = find_kind(s, kinds, nkinds)) < 0)
		return false;
	syntax = kinds[k];
	out->kind = k + 1;
	s += strlen(syntax->name) + 1;
	if ((s = parse_uuid(s, &out->user_id)) == NULL)
		return false;
	if (syntax->credential_id &&
		(*s++ != ':' || (s = parse_uuid(s, &out->credential_id)) == NULL))
		return false;
	if (*s == ':')
	{
		if ((s = parse_uuid(s + 1, &out->org_id)) == NULL)
			return false;
		out->has_org = true;
	}
	out->aal = 1;
	if (*s == '!')
	{
		if (s[1] != '2')
			return false;
		out->aal = 2;
		s += 2;
	}
	if (syntax->tag &&
		(*s++ != '#' ||
		 (s = parse_hex(s, out->tag, AUTH_KEY_TAG_LEN)) == NULL))
		return false;
	if (syntax->scopes)
		return parse_scopes(s, out);
	return *s == '\0';
}

static char *
put_hex(char *p, const uint8_t *data, int n)
{
	for (int i = 0; i < n; i++)
	{
		*p++ = hex_digits[data[i] >> 4];
		*p++ = hex_digits[data[i] & 15];
	}
	return p;
}

static char *
put_uuid(char *p, const AuthUuid *u)
{
	for (int i = 0; i < AUTH_UUID_BYTES; i++)
	{
		if (i == 4 || i == 6 || i == 8 || i == 10)
			*p++ = '-';
		p = put_hex(p, &u->data[i], 1);
	}
	return p;
}

/*
 * Writes the value of ident, whose kind has this syntax (NULL for nobody),
 * into buf; false when it does not fit.
 */
bool
auth_identity_value_format(const AuthIdentity *ident,
						   const AuthKindSyntax *syntax, char *buf,
						   size_t buflen)
{
	char		tmp[AUTH_IDENTITY_VALUE_MAX];
	char	   *p = tmp;
	size_t		len;

	if (syntax != NULL)
	{
		len = strnlen(syntax->name, AUTH_KIND_NAME_MAX + 1);
		if (len > AUTH_KIND_NAME_MAX)
			return false;
		memcpy(p, syntax->name, len);
		p += len;
		*p++ = ':';
		p = put_uuid(p, &ident->user_id);
		if (syntax->credential_id)
		{
			*p++ = ':';
			p = put_uuid(p, &ident->credential_id);
		}
		if (ident->has_org)
		{
			*p++ = ':';
			p = put_uuid(p, &ident->org_id);
		}
		if (ident->aal >= 2)
		{
			*p++ = '!';
			*p++ = '2';
		}
		if (syntax->tag)
		{
			*p++ = '#';
			p = put_hex(p, ident->tag, AUTH_KEY_TAG_LEN);
		}
		len = strnlen(ident->scopes, sizeof(ident->scopes));
		if (syntax->scopes && len > 0)
		{
			if (len == sizeof(ident->scopes))
				return false;
			*p++ = '/';
			memcpy(p, ident->scopes, len);
			p += len;
		}
	}
	*p++ = '\0';
	if ((size_t) (p - tmp) > buflen)
		return false;
	memcpy(buf, tmp, p - tmp);
	return true;
}
