/*
 * keys_at_rest.c: sealing secrets the extension must read back.
 *
 * A sealed value is 0x01 || nonce (12 bytes) || AES-256-GCM ciphertext ||
 * tag (16 bytes).  Its key is HKDF-SHA-256 of the root key with the
 * purpose as info, so each purpose has a key of its own; the row's id is
 * the associated data, so a ciphertext copied into another row does not
 * open.  The root key is 256 random bits in the file auth.root_key_file
 * (relative to the data directory), outside every table, so neither SQL,
 * pg_dump, the audit log nor an error message ever sees it; it is created
 * (mode 0600) on first need.
 */
#include "postgres.h"

#include <fcntl.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/kdf.h>

#include "miscadmin.h"
#include "storage/fd.h"
#include "utils/guc.h"

#include "keys_at_rest.h"

#define ROOT_KEY_LEN	32
#define SEAL_VERSION	1
#define SEAL_NONCE_LEN	12
#define SEAL_TAG_LEN	16
#define SEAL_OVERHEAD	(1 + SEAL_NONCE_LEN + SEAL_TAG_LEN)

static char *root_key_file = NULL;
static uint8 root_key[ROOT_KEY_LEN];
static bool root_key_loaded = false;

static void
assign_root_key_file(const char *newval, void *extra)
{
	/* read again from the file now named, on next need */
	explicit_bzero(root_key, sizeof(root_key));
	root_key_loaded = false;
}

void
auth_keys_at_rest_init(void)
{
	DefineCustomStringVariable("auth.root_key_file",
							   "File holding the root key that seals "
							   "recoverable secrets (TOTP seeds).",
							   "Relative to the data directory; created "
							   "(mode 0600) on first need.",
							   &root_key_file, "auth_root.key",
							   PGC_SIGHUP, GUC_SUPERUSER_ONLY,
							   NULL, assign_root_key_file, NULL);
}

/* Reads exactly len bytes; false at a short read. */
static bool
read_all(int fd, uint8 *buf, Size len)
{
	Size		done = 0;

	while (done < len)
	{
		ssize_t		n = read(fd, buf + done, len - done);

		if (n <= 0)
			return false;
		done += n;
	}
	return true;
}

/* The root key, read from its file, or created there on first need. */
static const uint8 *
get_root_key(void)
{
	char		path[MAXPGPATH];
	int			fd;

	if (root_key_loaded)
		return root_key;
	if (is_absolute_path(root_key_file))
		strlcpy(path, root_key_file, sizeof(path));
	else
		snprintf(path, sizeof(path), "%s/%s", DataDir, root_key_file);
	fd = open(path, O_RDONLY | PG_BINARY, 0);
	if (fd < 0 && errno == ENOENT)
	{
		uint8		fresh[ROOT_KEY_LEN];

		if (!pg_strong_random(fresh, sizeof(fresh)))
			ereport(ERROR,
					(errcode(ERRCODE_INTERNAL_ERROR),
					 errmsg("could not generate random bytes")));
		/* O_EXCL: of two backends creating it at once, one file wins */
		fd = open(path, O_WRONLY | O_CREAT | O_EXCL | PG_BINARY, 0600);
		if (fd >= 0)
		{
			bool		ok = write(fd, fresh, sizeof(fresh)) ==
				(ssize_t) sizeof(fresh) && pg_fsync(fd) == 0;

			close(fd);
			if (!ok)
			{
				unlink(path);
				ereport(ERROR,
						(errcode_for_file_access(),
						 errmsg("could not write the root key file \"%s\"",
								path)));
			}
		}
		explicit_bzero(fresh, sizeof(fresh));
		fd = open(path, O_RDONLY | PG_BINARY, 0);
	}
	if (fd < 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not open the root key file \"%s\"", path)));
	if (!read_all(fd, root_key, ROOT_KEY_LEN))
	{
		close(fd);
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("could not read the root key file \"%s\"", path),
				 errdetail("It must hold %d bytes.", ROOT_KEY_LEN)));
	}
	close(fd);
	root_key_loaded = true;
	return root_key;
}

/* The key of a purpose: HKDF-SHA-256(root key, info = purpose). */
static void
derive_key(const char *purpose, uint8 *out)
{
	const uint8 *root = get_root_key();
	static const char salt[] = "auth keys at rest v1";
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_id(EVP_PKEY_HKDF, NULL);
	size_t		outlen = 32;
	bool		ok;

	ok = ctx != NULL &&
		EVP_PKEY_derive_init(ctx) > 0 &&
		EVP_PKEY_CTX_set_hkdf_md(ctx, EVP_sha256()) > 0 &&
		EVP_PKEY_CTX_set1_hkdf_salt(ctx, (const unsigned char *) salt,
									sizeof(salt) - 1) > 0 &&
		EVP_PKEY_CTX_set1_hkdf_key(ctx, root, ROOT_KEY_LEN) > 0 &&
		EVP_PKEY_CTX_add1_hkdf_info(ctx, (const unsigned char *) purpose,
									strlen(purpose)) > 0 &&
		EVP_PKEY_derive(ctx, out, &outlen) > 0 && outlen == 32;
	EVP_PKEY_CTX_free(ctx);
	if (!ok)
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not derive a key")));
}

/* Seals len bytes of plain for the row id under purpose's key. */
bytea *
auth_seal(const char *purpose, const pg_uuid_t *id, const uint8 *plain,
		  Size len)
{
	uint8		key[32];
	bytea	   *out = palloc(VARHDRSZ + SEAL_OVERHEAD + len);
	uint8	   *p = (uint8 *) VARDATA(out);
	EVP_CIPHER_CTX *ctx;
	int			n1 = 0,
				n2 = 0;
	bool		ok;

	derive_key(purpose, key);
	p[0] = SEAL_VERSION;
	if (!pg_strong_random(p + 1, SEAL_NONCE_LEN))
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not generate random bytes")));
	ctx = EVP_CIPHER_CTX_new();
	ok = ctx != NULL &&
		EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL) == 1 &&
		EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, SEAL_NONCE_LEN,
							NULL) == 1 &&
		EVP_EncryptInit_ex(ctx, NULL, NULL, key, p + 1) == 1 &&
		EVP_EncryptUpdate(ctx, NULL, &n1, id->data, UUID_LEN) == 1 &&
		EVP_EncryptUpdate(ctx, p + 1 + SEAL_NONCE_LEN, &n1, plain,
						  (int) len) == 1 &&
		EVP_EncryptFinal_ex(ctx, p + 1 + SEAL_NONCE_LEN + n1, &n2) == 1 &&
		(Size) (n1 + n2) == len &&
		EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, SEAL_TAG_LEN,
							p + 1 + SEAL_NONCE_LEN + len) == 1;
	EVP_CIPHER_CTX_free(ctx);
	explicit_bzero(key, sizeof(key));
	if (!ok)
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not seal a secret")));
	SET_VARSIZE(out, VARHDRSZ + SEAL_OVERHEAD + len);
	return out;
}

/*
 * Opens a sealed value of the row id: the plaintext, palloc'd (the caller
 * wipes it after use), or false when it does not open (another root key,
 * another row, altered).
 */
bool
auth_unseal(const char *purpose, const pg_uuid_t *id, const bytea *sealed,
			uint8 **plain, Size *len)
{
	const uint8 *p = (const uint8 *) VARDATA_ANY(sealed);
	Size		total = VARSIZE_ANY_EXHDR(sealed);
	uint8		key[32];
	uint8	   *out;
	Size		ctlen;
	EVP_CIPHER_CTX *ctx;
	int			n1 = 0,
				n2 = 0;
	bool		ok;

	if (total < SEAL_OVERHEAD || p[0] != SEAL_VERSION)
		return false;
	ctlen = total - SEAL_OVERHEAD;
	derive_key(purpose, key);
	out = palloc(ctlen + 1);
	ctx = EVP_CIPHER_CTX_new();
	ok = ctx != NULL &&
		EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL) == 1 &&
		EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, SEAL_NONCE_LEN,
							NULL) == 1 &&
		EVP_DecryptInit_ex(ctx, NULL, NULL, key, p + 1) == 1 &&
		EVP_DecryptUpdate(ctx, NULL, &n1, id->data, UUID_LEN) == 1 &&
		EVP_DecryptUpdate(ctx, out, &n1, p + 1 + SEAL_NONCE_LEN,
						  (int) ctlen) == 1 &&
		EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, SEAL_TAG_LEN,
							(void *) (p + 1 + SEAL_NONCE_LEN + ctlen)) == 1 &&
		EVP_DecryptFinal_ex(ctx, out + n1, &n2) == 1;
	EVP_CIPHER_CTX_free(ctx);
	explicit_bzero(key, sizeof(key));
	if (!ok)
	{
		explicit_bzero(out, ctlen);
		pfree(out);
		return false;
	}
	*plain = out;
	*len = ctlen;
	return true;
}
