/*
 * scope.c: matching scopes and permissions.
 *
 * A permission or scope is "resource:action"; "*" grants everything and
 * "resource:*" every action on the resource.  An identity keeps its scopes
 * as one space-separated list (see identity_value.c).
 */
#include <string.h>

#include "scope.h"

/* Whether c may appear in a scope (see auth._check_scopes). */
bool
auth_scope_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		(c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.' ||
		c == ':' || c == '*' || c == '/';
}

/*
 * Steps through a space-separated list of scopes: returns the next one and
 * its length, or NULL at the end.
 */
const char *
auth_scope_next(const char **cursor, size_t *len)
{
	const char *p = *cursor;
	const char *end;

	while (*p == ' ')
		p++;
	if (*p == '\0')
		return NULL;
	end = strchr(p, ' ');
	*len = end ? (size_t) (end - p) : strlen(p);
	*cursor = p + *len;
	return p;
}

/* Whether a granted permission (or scope) covers the one asked for. */
bool
auth_permission_covers(const char *granted, const char *wanted)
{
	size_t		len = strlen(granted);

	if (strcmp(granted, "*") == 0 || strcmp(granted, wanted) == 0)
		return true;
	/* "resource:*" grants every action on the resource */
	return len >= 2 && granted[len - 1] == '*' && granted[len - 2] == ':' &&
		strncmp(granted, wanted, len - 1) == 0;
}

/* Whether a space-separated list of scopes covers one. */
bool
auth_scopes_cover(const char *scopes, const char *scope)
{
	char		granted[AUTH_MAX_SCOPE_LEN + 1];
	const char *cursor;
	const char *p;
	size_t		len;

	for (cursor = scopes; (p = auth_scope_next(&cursor, &len)) != NULL;)
	{
		if (len >= sizeof(granted))
			continue;
		memcpy(granted, p, len);
		granted[len] = '\0';
		if (auth_permission_covers(granted, scope))
			return true;
	}
	return false;
}
