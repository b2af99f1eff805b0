/*
 * keys_at_rest.c: sealing secrets the extension must read back.
 *
 * A sealed value is 0x01 || nonce (12 bytes) || AES-256-GCM ciphertext ||
 * tag (16 bytes).  Its key is HKDF-SHA-256 of the root key with the
 * purpose as info, so each purpose has a key of its own; the row's id is
 * the associated data, so a ciphertext copied into another row does not
 * open.  The root key is 256 random bits in the file auth.root_key_file
 * (relative to the data directory), outside every table, so neither SQL,
 * pg_dump, the audit log nor an error message ever sees it.  A primary
 * creates the file on first need; a standby only reads it (streaming
 * replication copies the data directory, and so the file).
 */
#include "postgres.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/kdf.h>

#include "access/xlog.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "storage/fd.h"
#include "utils/builtins.h"
#include "utils/guc.h"

#include "catalog.h"
#include "keys_at_rest.h"

#define ROOT_KEY_LEN	32
#define SEAL_VERSION	1
#define SEAL_NONCE_LEN	12
#define SEAL_TAG_LEN	16
#define SEAL_OVERHEAD	(1 + SEAL_NONCE_LEN + SEAL_TAG_LEN)

static char *root_key_file = NULL;

/* The root key read last, and the file it came from. */
static uint8 root_key[ROOT_KEY_LEN];
static char root_key_path[MAXPGPATH] = "";

/*
 * The keys derived from that root key, by purpose: an HKDF costs several
 * times the AES-GCM opening it keys, and a TOTP check opens a seed each
 * time.  Kept no longer than the root key they come from.
 */
#define DERIVED_KEYS		4
#define DERIVED_PURPOSE_LEN 32
static struct
{
	char		purpose[DERIVED_PURPOSE_LEN];
	uint8		key[32];
}			derived[DERIVED_KEYS];
static int	nderived = 0;

static void
forget_derived_keys(void)
{
	explicit_bzero(derived, sizeof(derived));
	nderived = 0;
}

static void
assign_root_key_file(const char *newval, void *extra)
{
	/* read again from the file now named, on next need */
	explicit_bzero(root_key, sizeof(root_key));
	root_key_path[0] = '\0';
	forget_derived_keys();
}

void
auth_keys_at_rest_init(void)
{
	DefineCustomStringVariable("auth.root_key_file",
							   "File holding the root key that seals private "
							   "signing keys and other recoverable secrets.",
							   "Relative to the data directory; created "
							   "(mode 0600) on first need on a primary.",
							   &root_key_file, "auth_root.key",
							   PGC_SUSET, GUC_SUPERUSER_ONLY,
							   NULL, assign_root_key_file, NULL);
}

static void
resolve_path(char *path)
{
	if (root_key_file == NULL || root_key_file[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("auth.root_key_file is empty")));
	if (is_absolute_path(root_key_file))
		strlcpy(path, root_key_file, MAXPGPATH);
	else
		snprintf(path, MAXPGPATH, "%s/%s", DataDir, root_key_file);
}

/* Reads the root key from path into out; false when the file is absent. */
static bool
read_root_key(const char *path, uint8 *out)
{
	uint8		buf[ROOT_KEY_LEN + 1];
	int			fd = OpenTransientFile(path, O_RDONLY | PG_BINARY);
	ssize_t		n;
	struct stat st;

	if (fd < 0)
	{
		if (errno == ENOENT)
			return false;
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not open the root key file \"%s\": %m",
						path)));
	}
	/* a key others may read is no secret: refuse it before reading it */
	if (fstat(fd, &st) != 0)
	{
		CloseTransientFile(fd);
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not stat the root key file \"%s\": %m",
						path)));
	}
	if ((st.st_mode & (S_IRWXG | S_IRWXO)) != 0)
	{
		CloseTransientFile(fd);
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("the root key file \"%s\" is accessible to group or others",
						path),
				 errhint("chmod 0600 the file (as the server's operating system user).")));
	}
	n = read(fd, buf, sizeof(buf));
	CloseTransientFile(fd);
	if (n != ROOT_KEY_LEN)
	{
		explicit_bzero(buf, sizeof(buf));
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("the root key file \"%s\" does not hold a root key",
						path),
				 errdetail("A root key file holds exactly %d bytes.",
						   ROOT_KEY_LEN)));
	}
	memcpy(out, buf, ROOT_KEY_LEN);
	explicit_bzero(buf, sizeof(buf));
	return true;
}

/*
 * Creates the root key file: the key is written and synced under a name of
 * this backend's, then linked to its final name, which fails when another
 * backend got there first; so nobody ever reads a half-written file, and
 * whoever lost the race reads the winner's key.
 */
static void
create_root_key(const char *path)
{
	char		tmp[MAXPGPATH];
	uint8		key[ROOT_KEY_LEN];
	int			fd;
	bool		ok;

	if (RecoveryInProgress())
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("the root key file \"%s\" is missing", path),
				 errdetail("A standby never creates a root key."),
				 errhint("Copy the primary's root key file to this server.")));
	snprintf(tmp, sizeof(tmp), "%s.%d.tmp", path, MyProcPid);
	fd = OpenTransientFilePerm(tmp, O_CREAT | O_EXCL | O_WRONLY | PG_BINARY,
							   S_IRUSR | S_IWUSR);
	if (fd < 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not create the root key file \"%s\": %m",
						tmp)));
	if (!pg_strong_random(key, sizeof(key)))
	{
		CloseTransientFile(fd);
		unlink(tmp);
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not generate random bytes")));
	}
	ok = write(fd, key, sizeof(key)) == sizeof(key) && pg_fsync(fd) == 0;
	explicit_bzero(key, sizeof(key));
	CloseTransientFile(fd);
	if (!ok)
	{
		unlink(tmp);
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not write the root key file \"%s\": %m",
						tmp)));
	}
	if (link(tmp, path) != 0 && errno != EEXIST)
	{
		int			save = errno;

		unlink(tmp);
		errno = save;
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not create the root key file \"%s\": %m",
						path)));
	}
	unlink(tmp);
	strlcpy(tmp, path, sizeof(tmp));
	get_parent_directory(tmp);
	fsync_fname(tmp[0] ? tmp : ".", true);
}

static AuthQuery sealed_query = {
	.sql = "SELECT 1 FROM auth.signing_keys k WHERE k.private_key IS NOT NULL",
	.nargs = 0,
	.read_only = true,
	.latest_snapshot = true,
};

/*
 * Whether any row holds a value sealed under some root key: a new root key
 * would orphan them (the file was moved away, or auth.root_key_file names
 * another one).
 */
static bool
sealed_rows_exist(void)
{
	return auth_query_run_as_owner(&sealed_query, NULL, 1, NULL, NULL) > 0;
}

/*
 * The root key, read on first need; created (on a primary) only to seal,
 * never to open: a missing file with sealed rows about is an error, not a
 * new key.
 */
static const uint8 *
get_root_key(bool create)
{
	char		path[MAXPGPATH];

	resolve_path(path);
	if (strcmp(path, root_key_path) == 0)
		return root_key;
	forget_derived_keys();
	root_key_path[0] = '\0';
	if (!read_root_key(path, root_key))
	{
		if (!create)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("the root key file \"%s\" is missing", path),
					 errhint("Restore the root key file the keys were sealed with; see auth.check().")));
		if (sealed_rows_exist())
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("the root key file \"%s\" is missing", path),
					 errdetail("Signing keys sealed with a root key exist: a new root key would leave them unopenable."),
					 errhint("Restore the root key file the keys were sealed with (auth.root_key_file); see auth.check().")));
		create_root_key(path);
		if (!read_root_key(path, root_key))
			ereport(ERROR,
					(errcode_for_file_access(),
					 errmsg("could not read the root key file \"%s\"",
							path)));
	}
	strlcpy(root_key_path, path, MAXPGPATH);
	return root_key;
}

/* The key of a purpose: HKDF-SHA-256(root key, info = purpose). */
static void
derive_key(const char *purpose, bool create, uint8 *out)
{
	const uint8 *root = get_root_key(create);
	static const char salt[] = "auth keys at rest v1";
	EVP_PKEY_CTX *ctx;
	size_t		outlen = 32;
	bool		ok;

	for (int i = 0; i < nderived; i++)
		if (strcmp(derived[i].purpose, purpose) == 0)
		{
			memcpy(out, derived[i].key, 32);
			return;
		}
	ctx = EVP_PKEY_CTX_new_id(EVP_PKEY_HKDF, NULL);
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
	if (nderived < DERIVED_KEYS && strlen(purpose) < DERIVED_PURPOSE_LEN)
	{
		strlcpy(derived[nderived].purpose, purpose, DERIVED_PURPOSE_LEN);
		memcpy(derived[nderived].key, out, 32);
		nderived++;
	}
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

	derive_key(purpose, true, key);
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
 * another row, altered).  An unreadable root key is an error.
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
	derive_key(purpose, false, key);
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

/*
 * SQL function: auth._sealed_opens(purpose text, id uuid, sealed bytea)
 *   returns boolean
 * Whether a sealed value opens with the current root key, for
 * auth.check(); the plaintext is wiped at once.
 */
PG_FUNCTION_INFO_V1(auth_sealed_opens);
Datum
auth_sealed_opens(PG_FUNCTION_ARGS)
{
	uint8	   *plain;
	Size		len;
	char	   *purpose = text_to_cstring(PG_GETARG_TEXT_PP(0));
	char		path[MAXPGPATH];
	struct stat st;

	resolve_path(path);
	if (stat(path, &st) != 0)
		PG_RETURN_BOOL(false);
	if (!auth_unseal(purpose, PG_GETARG_UUID_P(1), PG_GETARG_BYTEA_PP(2),
					 &plain, &len))
		PG_RETURN_BOOL(false);
	explicit_bzero(plain, len);
	PG_RETURN_BOOL(true);
}
