/*
 * phc.c: reading and writing the text forms of password hashes.
 *
 * auth.verify_password() is public, so the hash string is outside input:
 * it is parsed strictly (plain decimal numbers that fit, canonical base64),
 * and its cost is bounded by the caller (password.c) before any work.
 */
#include <stdio.h>
#include <string.h>

#include "phc.h"

static const char b64std[] =
"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/*
 * Decodes canonical unpadded base64 of s[0..len); returns the byte count or
 * -1.  Canonical, as libargon2 requires: another spelling of the same bytes
 * would be another hash string that verifies the same password.
 */
static int
decode_b64_unpadded(const char *s, size_t len, uint8_t *out, size_t outmax)
{
	uint32_t	acc = 0;
	int			bits = 0;
	size_t		n = 0;

	for (size_t i = 0; i < len; i++)
	{
		const char *pos = s[i] ? strchr(b64std, s[i]) : NULL;

		if (pos == NULL)
			return -1;
		acc = (acc << 6) | (uint32_t) (pos - b64std);
		bits += 6;
		if (bits >= 8)
		{
			bits -= 8;
			if (n >= outmax)
				return -1;
			out[n++] = (acc >> bits) & 0xFF;
		}
	}
	/* canonical: no whole character left over, and its spare bits zero */
	if (bits >= 6 || (acc & ((1u << bits) - 1)) != 0)
		return -1;
	return (int) n;
}

static size_t
encode_b64_unpadded(const uint8_t *data, size_t len, char *out)
{
	char	   *p = out;

	for (size_t i = 0; i < len; i += 3)
	{
		uint32_t	v = (uint32_t) data[i] << 16;
		size_t		left = len - i;

		if (left > 1)
			v |= (uint32_t) data[i + 1] << 8;
		if (left > 2)
			v |= data[i + 2];
		*p++ = b64std[(v >> 18) & 63];
		*p++ = b64std[(v >> 12) & 63];
		if (left > 1)
			*p++ = b64std[(v >> 6) & 63];
		if (left > 2)
			*p++ = b64std[v & 63];
	}
	return p - out;
}

/*
 * Parses "<name>=<decimal>" at s, then the separator sep; returns the text
 * after it or NULL.  At most 10 digits, no sign, no space, and it fits.
 */
static const char *
parse_param(const char *s, const char *name, char sep, uint32_t *out)
{
	size_t		nlen = strlen(name);
	uint64_t	v = 0;
	int			digits = 0;

	if (strncmp(s, name, nlen) != 0 || s[nlen] != '=')
		return NULL;
	for (s += nlen + 1; *s >= '0' && *s <= '9'; s++)
	{
		if (++digits > 10)
			return NULL;
		v = v * 10 + (uint64_t) (*s - '0');
	}
	if (digits == 0 || v > UINT32_MAX || *s != sep)
		return NULL;
	*out = (uint32_t) v;
	return s + 1;
}

/* Parses "$argon2{id,i,d}$[v=N$]m=M,t=T,p=P$salt$hash"; false if not one. */
bool
auth_phc_parse(const char *s, AuthPhc *p)
{
	static const struct
	{
		const char *tag;
		AuthArgon2Type type;
	}			types[] = {
		{"$argon2id$", AUTH_ARGON2ID},
		{"$argon2i$", AUTH_ARGON2I},
		{"$argon2d$", AUTH_ARGON2D},
	};
	const char *salt,
			   *hash,
			   *next;
	int			len;
	bool		known = false;

	memset(p, 0, sizeof(*p));
	for (int i = 0; i < 3 && !known; i++)
		if (strncmp(s, types[i].tag, strlen(types[i].tag)) == 0)
		{
			p->type = types[i].type;
			s += strlen(types[i].tag);
			known = true;
		}
	if (!known)
		return false;
	p->version = AUTH_ARGON2_VERSION_10;
	if ((next = parse_param(s, "v", '$', &p->version)) != NULL)
		s = next;
	if ((s = parse_param(s, "m", ',', &p->m_cost)) == NULL ||
		(s = parse_param(s, "t", ',', &p->t_cost)) == NULL ||
		(s = parse_param(s, "p", '$', &p->lanes)) == NULL)
		return false;
	salt = s;
	hash = strchr(salt, '$');
	if (hash == NULL)
		return false;
	len = decode_b64_unpadded(salt, hash - salt, p->salt, sizeof(p->salt));
	if (len < 8)
		return false;
	p->saltlen = len;
	hash++;
	len = decode_b64_unpadded(hash, strlen(hash), p->hash, sizeof(p->hash));
	if (len < 4)
		return false;
	p->hashlen = len;
	return (p->version == AUTH_ARGON2_VERSION_10 ||
			p->version == AUTH_ARGON2_VERSION_13) &&
		p->lanes >= 1 && p->lanes <= 64 && p->t_cost >= 1 &&
		p->m_cost >= 8 * p->lanes;
}

/* Writes p as a PHC string into buf; false when it does not fit. */
bool
auth_phc_format(const AuthPhc *p, char *buf, size_t buflen)
{
	char		tmp[AUTH_PHC_MAX];
	int			n;

	if (p->saltlen > sizeof(p->salt) || p->hashlen > sizeof(p->hash))
		return false;
	n = snprintf(tmp, sizeof(tmp), "$%s$v=%u$m=%u,t=%u,p=%u$",
				 p->type == AUTH_ARGON2ID ? "argon2id" :
				 p->type == AUTH_ARGON2I ? "argon2i" : "argon2d",
				 (unsigned) p->version, (unsigned) p->m_cost,
				 (unsigned) p->t_cost, (unsigned) p->lanes);
	if (n < 0 ||
		(size_t) n + (sizeof(p->salt) + sizeof(p->hash)) * 4 / 3 + 4 >
		sizeof(tmp))
		return false;
	n += encode_b64_unpadded(p->salt, p->saltlen, tmp + n);
	tmp[n++] = '$';
	n += encode_b64_unpadded(p->hash, p->hashlen, tmp + n);
	tmp[n++] = '\0';
	if ((size_t) n > buflen)
		return false;
	memcpy(buf, tmp, n);
	return true;
}

/* "$2a$NN$" + 53 characters ($2b$ and $2y$ too) */
bool
auth_is_bcrypt(const char *s, size_t len)
{
	return len == 60 && s[0] == '$' && s[1] == '2' &&
		(s[2] == 'a' || s[2] == 'b' || s[2] == 'y') && s[3] == '$' &&
		s[4] >= '0' && s[4] <= '9' && s[5] >= '0' && s[5] <= '9' &&
		s[6] == '$';
}

/* The cost of a string auth_is_bcrypt accepted. */
int
auth_bcrypt_cost(const char *s)
{
	return (s[4] - '0') * 10 + (s[5] - '0');
}

static bool
is_hex(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f') ||
			  (s[i] >= 'A' && s[i] <= 'F')))
			return false;
	return true;
}

/* better-auth: "<32 hex salt>:<128 hex key>" */
bool
auth_is_better_auth_scrypt(const char *s, size_t len)
{
	return len == AUTH_SCRYPT_SALT_HEX + 1 + 2 * AUTH_SCRYPT_KEY_LEN &&
		s[AUTH_SCRYPT_SALT_HEX] == ':' && is_hex(s, AUTH_SCRYPT_SALT_HEX) &&
		is_hex(s + AUTH_SCRYPT_SALT_HEX + 1, 2 * AUTH_SCRYPT_KEY_LEN);
}
