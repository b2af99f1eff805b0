/*
 * fuzz_scopes.c: auth_scope_next, auth_permission_covers,
 * auth_scopes_cover, auth_scope_char.
 *
 * The input is "<space-separated scopes>\n<wanted scope>" (no newline:
 * the wanted scope is empty).  Checked against a reference written here:
 *
 *  - auth_scope_next steps through the list in order, each scope non-empty,
 *    without spaces, inside the string, and together they are the list
 *    without its spaces;
 *  - a permission covers another when it is "*", the same, or "r:*" and the
 *    other starts with "r:"; every scope covers itself, "*" covers all;
 *  - a list covers a scope when one of its scopes of at most
 *    AUTH_MAX_SCOPE_LEN characters does, and adding scopes to a list
 *    never takes coverage away.
 */
#include "fuzz_util.h"
#include "scope.h"

static bool
ref_scope_char(char c)
{
	return c != '\0' &&
		strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
			   "0123456789_-.:*/", c) != NULL;
}

static bool
ref_covers(const char *granted, const char *wanted)
{
	size_t		len = strlen(granted);

	if (strcmp(granted, "*") == 0 || strcmp(granted, wanted) == 0)
		return true;
	if (len < 2 || strcmp(granted + len - 2, ":*") != 0)
		return false;
	/* "r:*": wanted starts with "r:" */
	return strlen(wanted) >= len - 1 && memcmp(granted, wanted, len - 1) == 0;
}

/* Checks auth_scope_next over list; whether one listed scope covers wanted. */
static bool
walk(const char *list, const char *wanted)
{
	const char *cursor = list;
	const char *end = list + strlen(list);
	const char *prev_end = list;
	const char *p;
	const char *q = list;		/* the next non-space of list */
	size_t		len;
	bool		covered = false;

	while ((p = auth_scope_next(&cursor, &len)) != NULL)
	{
		char	   *one;

		FUZZ_CHECK(p >= prev_end && p < end);
		FUZZ_CHECK(len > 0 && len <= (size_t) (end - p));
		FUZZ_CHECK(cursor == p + len);
		FUZZ_CHECK(p[len] == ' ' || p[len] == '\0');
		for (const char *c = prev_end; c < p; c++)
			FUZZ_CHECK(*c == ' ');
		for (size_t i = 0; i < len; i++)
		{
			FUZZ_CHECK(p[i] != ' ');
			while (*q == ' ')
				q++;
			FUZZ_CHECK(q == p + i);
			q++;
		}
		prev_end = p + len;

		one = fuzz_exact_copy(p, len + 1);
		one[len] = '\0';
		FUZZ_CHECK(auth_permission_covers(one, wanted) ==
				   ref_covers(one, wanted));
		FUZZ_CHECK(auth_permission_covers(one, one));
		if (len <= AUTH_MAX_SCOPE_LEN && ref_covers(one, wanted))
			covered = true;
		free(one);
	}
	/* nothing but spaces after the last scope */
	for (const char *c = prev_end; c < end; c++)
		FUZZ_CHECK(*c == ' ');
	return covered;
}

/*
 * list + " " + added still covers wanted if list did; and does when added
 * is one scope (no space, not too long) that covers it.
 */
static void
check_added(const char *list, const char *added, const char *wanted,
			bool covered)
{
	size_t		llen = strlen(list),
				alen = strlen(added);
	char	   *longer = malloc(llen + 1 + alen + 1);

	FUZZ_CHECK(longer != NULL);
	memcpy(longer, list, llen);
	longer[llen] = ' ';
	memcpy(longer + llen + 1, added, alen + 1);
	if (covered)
		FUZZ_CHECK(auth_scopes_cover(longer, wanted));
	if (alen > 0 && alen <= AUTH_MAX_SCOPE_LEN && strchr(added, ' ') == NULL &&
		ref_covers(added, wanted))
		FUZZ_CHECK(auth_scopes_cover(longer, wanted));
	free(longer);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char	   *s = fuzz_cstring(data, size);
	char	   *nl = memchr(s, '\n', size);
	const char *wanted = "";
	const char *colon;
	bool		covered;

	if (nl != NULL)
	{
		*nl = '\0';
		wanted = nl + 1;
	}
	for (size_t i = 0; i < size; i++)
		FUZZ_CHECK(auth_scope_char((char) data[i]) ==
				   ref_scope_char((char) data[i]));

	covered = walk(s, wanted);
	FUZZ_CHECK(auth_scopes_cover(s, wanted) == covered);
	FUZZ_CHECK(auth_permission_covers("*", wanted));
	FUZZ_CHECK(auth_permission_covers(wanted, wanted));

	/* adding scopes never takes coverage away; adding the wanted scope
	 * itself, or its resource's wildcard, covers it */
	check_added(s, wanted, wanted, covered);
	if ((colon = strchr(wanted, ':')) != NULL)
	{
		char	   *wild = malloc(colon - wanted + 3);

		FUZZ_CHECK(wild != NULL);
		memcpy(wild, wanted, colon - wanted);
		strcpy(wild + (colon - wanted), ":*");
		check_added(s, wild, wanted, covered);
		free(wild);
	}
	free(s);
	return 0;
}
