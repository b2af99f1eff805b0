/*
 * identity_value.h: the text form of an identity, as auth.identity holds it.
 *
 * Layer 1, pure C: no server headers, so the fuzz targets link it alone.
 *
 *   ""                                       nobody
 *   <kind>:<user>[:<credential>][:<org>][!2][#<tag>][/<scope> <scope> ...]
 *
 * "!2": the assurance level aal2 (a second factor was shown); aal1 is
 * written as nothing, so a value without it is aal1.
 * Which parts a kind carries is its syntax: a credential id (a session's,
 * a key's), a tag (16 hex digits naming the secret that was shown) and
 * scopes.  Uuids are canonical, lowercase when formatted.
 */
#ifndef AUTH_IDENTITY_VALUE_H
#define AUTH_IDENTITY_VALUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "scope.h"

#define AUTH_UUID_BYTES		16
#define AUTH_KEY_TAG_LEN	8	/* first bytes of the SHA-256 of a secret */
#define AUTH_KIND_NAME_MAX	16

/*
 * Inside the server a uuid is PostgreSQL's pg_uuid_t; the fuzz targets
 * build without server headers and use a struct of the same layout.
 */
#ifdef PG_VERSION_NUM
typedef pg_uuid_t AuthUuid;
#else
typedef struct AuthUuid
{
	unsigned char data[AUTH_UUID_BYTES];
} AuthUuid;
#endif

/* What the value of one kind of identity carries. */
typedef struct AuthKindSyntax
{
	const char *name;			/* "session": lowercase letters and _ */
	bool		credential_id;	/* a second uuid, the credential's */
	bool		tag;			/* "#<16 hex digits>", required */
	bool		scopes;			/* "/<scopes>", optional */
} AuthKindSyntax;

/* An identity: kind 0 is nobody; others index the caller's kinds + 1. */
typedef struct AuthIdentity
{
	int			kind;
	AuthUuid	user_id;
	AuthUuid	credential_id;	/* all zero unless the kind carries one */
	bool		has_org;		/* the active organization, if any */
	AuthUuid	org_id;
	uint8_t		aal;			/* assurance level: 2, else aal1 */
	uint8_t		tag[AUTH_KEY_TAG_LEN];	/* which secret was shown */
	char		scopes[AUTH_SCOPES_BUFLEN];	/* space-separated */
} AuthIdentity;

/* The longest value auth_identity_value_format writes, with its NUL. */
#define AUTH_IDENTITY_VALUE_MAX \
	(AUTH_KIND_NAME_MAX + 3 * 37 + 2 + 1 + 2 * AUTH_KEY_TAG_LEN + 1 + \
	 AUTH_SCOPES_BUFLEN + 1)

extern bool auth_identity_value_parse(const char *s,
									  const AuthKindSyntax *const *kinds,
									  int nkinds, AuthIdentity *out);
extern bool auth_identity_value_format(const AuthIdentity *ident,
									   const AuthKindSyntax *syntax,
									   char *buf, size_t buflen);

#endif							/* AUTH_IDENTITY_VALUE_H */
