/*
 * ascii.h — locale-independent character classes for the parsers (the C
 * library's isdigit/isxdigit/tolower depend on the locale).  Header-only.
 */
#ifndef MH_ASCII_H
#define MH_ASCII_H

#include <stdbool.h>

static inline bool
ascii_is_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

/* Value of one hexadecimal digit, or -1. */
static inline int
ascii_hex_value(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static inline bool
ascii_is_hex(unsigned char c)
{
	return ascii_hex_value(c) >= 0;
}

#endif /* MH_ASCII_H */
