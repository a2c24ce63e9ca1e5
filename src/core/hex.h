/* hex.h — hexadecimal digits (percent-decoding, addresses). libfulcrum,
 * which depends on libc alone, keeps its own copy (balance/addr.c). */
#ifndef FC_HEX_H
#define FC_HEX_H

/* The value of a hex digit, or -1. */
static inline int fc_hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

#endif
