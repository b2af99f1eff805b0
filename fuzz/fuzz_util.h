/*
 * fuzz_util.h: what the libFuzzer targets share.
 *
 * FUZZ_CHECK aborts with the failed condition, so a round trip that does not
 * hold is reported (and its input saved) like a memory error.
 */
#ifndef AUTH_FUZZ_UTIL_H
#define AUTH_FUZZ_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FUZZ_CHECK(cond) \
	do { \
		if (!(cond)) \
		{ \
			fprintf(stderr, "%s:%d: check failed: %s\n", \
					__FILE__, __LINE__, #cond); \
			abort(); \
		} \
	} while (0)

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The input as a NUL-terminated string in a heap block of its own size. */
static inline char *
fuzz_cstring(const uint8_t *data, size_t size)
{
	char	   *s = malloc(size + 1);

	FUZZ_CHECK(s != NULL);
	if (size > 0)
		memcpy(s, data, size);
	s[size] = '\0';
	return s;
}

/* A copy of n bytes in a heap block of exactly n bytes, so ASan sees reads past it. */
static inline char *
fuzz_exact_copy(const void *data, size_t n)
{
	char	   *s = malloc(n > 0 ? n : 1);

	FUZZ_CHECK(s != NULL);
	if (n > 0)
		memcpy(s, data, n);
	return s;
}

/* Reads the input as a stream of bytes; zeros once it runs out. */
typedef struct FuzzReader
{
	const uint8_t *p;
	size_t		left;
} FuzzReader;

static inline uint8_t
fuzz_take(FuzzReader *r)
{
	if (r->left == 0)
		return 0;
	r->left--;
	return *r->p++;
}

static inline uint32_t
fuzz_take32(FuzzReader *r)
{
	uint32_t	v = 0;

	for (int i = 0; i < 4; i++)
		v = (v << 8) | fuzz_take(r);
	return v;
}

static inline void
fuzz_take_bytes(FuzzReader *r, void *out, size_t n)
{
	uint8_t    *o = out;

	for (size_t i = 0; i < n; i++)
		o[i] = fuzz_take(r);
}

static inline bool
fuzz_all_zero(const void *p, size_t n)
{
	const uint8_t *b = p;

	for (size_t i = 0; i < n; i++)
		if (b[i] != 0)
			return false;
	return true;
}

#endif							/* AUTH_FUZZ_UTIL_H */
