/*
 * fuzz.h — what the libFuzzer targets share: the invariant check, a hash
 * for deriving choices from the input, and exact-size copies (so that a
 * read past the end is an ASan error).  Header-only.
 */
#ifndef MH_FUZZ_H
#define MH_FUZZ_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(cond) do {						\
	if (!(cond)) {							\
		fprintf(stderr, "%s:%d: invariant failed: %s\n",	\
		    __FILE__, __LINE__, #cond);				\
		abort();						\
	}								\
} while (0)

/* FNV-1a, 64-bit: a cheap, stable hash of the input. */
static inline uint64_t
fnv1a(const uint8_t *p, size_t n)
{
	uint64_t	h = 0xcbf29ce484222325ULL;

	while (n-- > 0)
		h = (h ^ *p++) * 0x100000001b3ULL;
	return h;
}

/* A malloc'd copy of exactly n bytes (1 byte allocated when n == 0). */
static inline char *
copy_of(const void *p, size_t n)
{
	char	*c = malloc(n > 0 ? n : 1);

	if (c == NULL)
		abort();
	if (n > 0)
		memcpy(c, p, n);
	return c;
}

#endif /* MH_FUZZ_H */
