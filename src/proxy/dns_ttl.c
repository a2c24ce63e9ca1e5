/* dns_ttl.c — the lowest TTL of a DNS answer (dns_ttl.h). */
#include "proxy/dns_ttl.h"

/* The offset just past the (possibly compressed) name at off, or 0 when it
 * runs out of the message or uses a reserved label type. */
static size_t skip_name(const unsigned char *b, size_t len, size_t off)
{
	while (off < len) {
		unsigned c = b[off];
		if (c == 0)
			return off + 1;
		if ((c & 0xc0) == 0xc0) /* a pointer ends the name */
			return off + 2 <= len ? off + 2 : 0;
		if (c & 0xc0)
			return 0;
		off += (size_t)c + 1;
	}
	return 0;
}

uint64_t fc_dns_answer_min_ttl(const unsigned char *b, size_t len)
{
	uint64_t min = UINT64_MAX;
	if (!b || len < 12)
		return min;
	unsigned qd = (unsigned)b[4] << 8 | b[5], an = (unsigned)b[6] << 8 | b[7];
	size_t off = 12;
	for (unsigned i = 0; i < qd; i++) {
		off = skip_name(b, len, off);
		if (!off || off + 4 > len)
			return min;
		off += 4; /* type, class */
	}
	for (unsigned i = 0; i < an; i++) {
		off = skip_name(b, len, off);
		if (!off || off + 10 > len)
			break;
		uint32_t ttl = (uint32_t)b[off + 4] << 24 | (uint32_t)b[off + 5] << 16 |
		               (uint32_t)b[off + 6] << 8 | b[off + 7];
		if (ttl > 0x7fffffffu)
			ttl = 0; /* RFC 2181 §8: a TTL with the top bit set is read as 0 */
		size_t rdlen = (size_t)b[off + 8] << 8 | b[off + 9];
		if (off + 10 + rdlen > len)
			break; /* its data runs out of the message: not a record */
		off += 10 + rdlen;
		if (ttl < min)
			min = ttl;
	}
	return min;
}
