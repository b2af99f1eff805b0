/*
 * scope.h: scopes and permissions ("*", "resource:*", "resource:action").
 *
 * Layer 1, pure C: no server headers, so the fuzz targets link it alone.
 */
#ifndef AUTH_SCOPE_H
#define AUTH_SCOPE_H

#include <stdbool.h>
#include <stddef.h>

/*
 * An API key holds at most AUTH_MAX_SCOPES scopes of at most
 * AUTH_MAX_SCOPE_LEN characters each, so a space-separated list of them
 * fits the identity inline.
 */
#define AUTH_MAX_SCOPES		32
#define AUTH_MAX_SCOPE_LEN	64
#define AUTH_SCOPES_BUFLEN	(AUTH_MAX_SCOPES * (AUTH_MAX_SCOPE_LEN + 1) + 1)

extern bool auth_scope_char(char c);
extern const char *auth_scope_next(const char **cursor, size_t *len);
extern bool auth_permission_covers(const char *granted, const char *wanted);
extern bool auth_scopes_cover(const char *scopes, const char *scope);

#endif							/* AUTH_SCOPE_H */
