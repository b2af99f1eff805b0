/*
 * keys_at_rest.h: secrets that must be recovered, not just checked (private
 * signing keys, HMAC secrets, later TOTP seeds), sealed with AES-256-GCM
 * under a key derived per purpose from a root key kept in a file (layer 2).
 */
#ifndef AUTH_KEYS_AT_REST_H
#define AUTH_KEYS_AT_REST_H

#include "postgres.h"

#include "utils/uuid.h"

/* Purposes: each derives a key of its own from the root key. */
#define AUTH_SEAL_SIGNING_KEY	"signing-key"

extern void auth_keys_at_rest_init(void);
extern bytea *auth_seal(const char *purpose, const pg_uuid_t *id,
						const uint8 *plain, Size len);
extern bool auth_unseal(const char *purpose, const pg_uuid_t *id,
						const bytea *sealed, uint8 **plain, Size *len);

#endif							/* AUTH_KEYS_AT_REST_H */
