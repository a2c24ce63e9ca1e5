/* addr.c — IP addresses and CIDR blocks without sockets, and the real client IP
 * from a forwarding header (GoDoxy's real_ip: header / from / recursive). */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "balance/balance.h"

static const uint8_t V4MAPPED[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

static int parse_v4(const char *s, size_t len, uint8_t out[4])
{
	size_t i = 0;
	for (int part = 0; part < 4; part++) {
		if (part) {
			if (i >= len || s[i] != '.')
				return -EINVAL;
			i++;
		}
		unsigned v = 0, digits = 0;
		while (i < len && s[i] >= '0' && s[i] <= '9') {
			v = v * 10 + (unsigned)(s[i] - '0');
			if (++digits > 3 || v > 255)
				return -EINVAL;
			i++;
		}
		if (!digits || (digits > 1 && s[i - digits] == '0'))
			return -EINVAL; /* no leading zeros: "010" is octal to some parsers */
		out[part] = (uint8_t)v;
	}
	return i == len ? 0 : -EINVAL;
}

/* libc alone here: core/hex.h's fc_hex_digit, kept apart */
static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static int parse_v6(const char *s, size_t len, uint8_t out[16])
{
	uint16_t head[8], tail[8];
	int nh = 0, nt = 0;
	bool gap = false;
	size_t i = 0;
	if (len >= 2 && s[0] == ':' && s[1] == ':') {
		gap = true;
		i = 2;
	} else if (len && s[0] == ':') {
		return -EINVAL;
	}
	uint8_t v4[4];
	bool has_v4 = false;
	while (i < len) {
		/* an embedded dotted quad ends the address */
		size_t j = i;
		while (j < len && s[j] != ':' && s[j] != '.')
			j++;
		if (j < len && s[j] == '.') {
			if (parse_v4(s + i, len - i, v4) < 0 || nh + nt > 6)
				return -EINVAL;
			has_v4 = true;
			i = len;
			break;
		}
		unsigned v = 0;
		int d = 0;
		while (i < len && hexval(s[i]) >= 0) {
			v = (v << 4) | (unsigned)hexval(s[i]);
			if (++d > 4)
				return -EINVAL;
			i++;
		}
		if (!d)
			return -EINVAL;
		if (nh + nt >= 8)
			return -EINVAL;
		if (gap)
			tail[nt++] = (uint16_t)v;
		else
			head[nh++] = (uint16_t)v;
		if (i == len)
			break;
		if (s[i] != ':')
			return -EINVAL;
		i++;
		if (i < len && s[i] == ':') {
			if (gap)
				return -EINVAL; /* a second "::" */
			gap = true;
			i++;
			if (i == len)
				break;
		} else if (i == len) {
			return -EINVAL; /* trailing single ':' */
		}
	}
	int groups = nh + nt + (has_v4 ? 2 : 0);
	if (groups > 8 || (!gap && groups != 8) || (gap && groups == 8))
		return -EINVAL;
	memset(out, 0, 16);
	for (int k = 0; k < nh; k++) {
		out[2 * k] = (uint8_t)(head[k] >> 8);
		out[2 * k + 1] = (uint8_t)head[k];
	}
	int end = has_v4 ? 6 : 8;
	for (int k = 0; k < nt; k++) {
		int g = end - nt + k;
		out[2 * g] = (uint8_t)(tail[k] >> 8);
		out[2 * g + 1] = (uint8_t)tail[k];
	}
	if (has_v4)
		memcpy(out + 12, v4, 4);
	return 0;
}

int fc_addr_parse(const char *s, size_t len, struct fc_addr *out)
{
	struct fc_addr a;
	memset(&a, 0, sizeof a);
	memset(out, 0, sizeof *out);
	if (!s || !len)
		return -EINVAL;
	if (s[0] == '[') {
		if (len < 3 || s[len - 1] != ']')
			return -EINVAL;
		s++;
		len -= 2;
		if (parse_v6(s, len, a.bytes) < 0)
			return -EINVAL;
		a.family = 6;
	} else if (memchr(s, ':', len)) {
		if (parse_v6(s, len, a.bytes) < 0)
			return -EINVAL;
		a.family = 6;
	} else {
		if (parse_v4(s, len, a.bytes) < 0)
			return -EINVAL;
		a.family = 4;
	}
	if (a.family == 6 && memcmp(a.bytes, V4MAPPED, 12) == 0) {
		/* ::ffff:a.b.c.d is the v4 client of a dual-stack socket */
		memmove(a.bytes, a.bytes + 12, 4);
		memset(a.bytes + 4, 0, 12);
		a.family = 4;
	}
	*out = a;
	return 0;
}

size_t fc_addr_format(const struct fc_addr *a, char *buf, size_t len)
{
	char tmp[48];
	size_t n = 0;
	if (a->family == 4) {
		n = (size_t)snprintf(tmp, sizeof tmp, "%u.%u.%u.%u", a->bytes[0], a->bytes[1],
		                     a->bytes[2], a->bytes[3]);
	} else if (a->family == 6) {
		uint16_t g[8];
		for (int i = 0; i < 8; i++)
			g[i] = (uint16_t)(a->bytes[2 * i] << 8 | a->bytes[2 * i + 1]);
		int best = -1, bestlen = 1; /* RFC 5952: longest run of >= 2 zero groups */
		for (int i = 0; i < 8;) {
			if (g[i]) {
				i++;
				continue;
			}
			int j = i;
			while (j < 8 && !g[j])
				j++;
			if (j - i > bestlen) {
				best = i;
				bestlen = j - i;
			}
			i = j;
		}
		for (int i = 0; i < 8; i++) {
			if (i == best) {
				n += (size_t)snprintf(tmp + n, sizeof tmp - n, "::");
				i += bestlen - 1;
				continue;
			}
			n += (size_t)snprintf(tmp + n, sizeof tmp - n, "%s%x",
			                      i && !(best >= 0 && i == best + bestlen) ? ":" : "",
			                      g[i]);
		}
	}
	tmp[n] = 0;
	if (buf && len) {
		size_t c = n < len - 1 ? n : len - 1;
		memcpy(buf, tmp, c);
		buf[c] = 0;
	}
	return n;
}

bool fc_addr_equal(const struct fc_addr *a, const struct fc_addr *b)
{
	if (a->family != b->family)
		return false;
	size_t n = a->family == 4 ? 4 : a->family == 6 ? 16 : 0;
	return memcmp(a->bytes, b->bytes, n) == 0;
}

int fc_cidr_parse(const char *s, size_t len, struct fc_cidr *out)
{
	memset(out, 0, sizeof *out);
	if (!s)
		return -EINVAL;
	const char *slash = memchr(s, '/', len);
	size_t alen = slash ? (size_t)(slash - s) : len;
	struct fc_addr a;
	if (fc_addr_parse(s, alen, &a) < 0)
		return -EINVAL;
	/* a v4-mapped v6 block was turned into v4: its prefix counts 96 bits fewer */
	bool mapped = a.family == 4 && memchr(s, ':', alen) != NULL;
	unsigned max = a.family == 4 ? 32 : 128, bits = mapped ? 128 : max;
	if (slash) {
		size_t i = alen + 1;
		if (i == len)
			return -EINVAL;
		bits = 0;
		for (; i < len; i++) {
			if (s[i] < '0' || s[i] > '9' || bits > 128)
				return -EINVAL;
			bits = bits * 10 + (unsigned)(s[i] - '0');
		}
	}
	if (mapped) {
		if (bits < 96 || bits > 128)
			return -EINVAL;
		bits -= 96;
	}
	if (bits > max)
		return -EINVAL;
	for (unsigned b = bits; b < max; b++)
		a.bytes[b / 8] &= (uint8_t) ~(0x80u >> (b % 8));
	out->addr = a;
	out->bits = bits;
	return 0;
}

bool fc_cidr_contains(const struct fc_cidr *c, const struct fc_addr *a)
{
	if (!a || a->family == 0 || a->family != c->addr.family)
		return false;
	unsigned full = c->bits / 8, rest = c->bits % 8;
	if (memcmp(c->addr.bytes, a->bytes, full) != 0)
		return false;
	if (!rest)
		return true;
	uint8_t mask = (uint8_t)(0xff00u >> rest);
	return (a->bytes[full] & mask) == (c->addr.bytes[full] & mask);
}

static bool trusted(const struct fc_clientip_options *o, const struct fc_addr *a)
{
	for (size_t i = 0; i < o->n_trusted; i++)
		if (fc_cidr_contains(&o->trusted[i], a))
			return true;
	return false;
}

/* One list element: trims blanks, accepts "addr", "[v6]", "[v6]:port", "v4:port". */
static int parse_elem(const char *s, size_t len, struct fc_addr *out)
{
	while (len && (*s == ' ' || *s == '\t')) {
		s++;
		len--;
	}
	while (len && (s[len - 1] == ' ' || s[len - 1] == '\t'))
		len--;
	if (fc_addr_parse(s, len, out) == 0)
		return 0;
	if (len && s[0] == '[') {
		const char *rb = memchr(s, ']', len);
		if (rb && rb + 1 < s + len && rb[1] == ':')
			return fc_addr_parse(s, (size_t)(rb - s) + 1, out);
		return -EINVAL;
	}
	const char *colon = memchr(s, ':', len);
	if (colon && !memchr(colon + 1, ':', len - (size_t)(colon - s) - 1))
		return fc_addr_parse(s, (size_t)(colon - s), out); /* v4:port */
	return -EINVAL;
}

void fc_clientip_resolve(const struct fc_clientip_options *o, const struct fc_addr *peer,
                         const char *header_value, size_t len, struct fc_addr *out)
{
	struct fc_addr p = *peer, found;
	*out = p;
	if (!o || !header_value || !len || !trusted(o, &p))
		return; /* an untrusted peer cannot tell us who the client is */
	size_t end = len;
	struct fc_addr last = p;
	bool any = false;
	while (end > 0 || !any) {
		size_t start = end;
		while (start > 0 && header_value[start - 1] != ',')
			start--;
		if (parse_elem(header_value + start, end - start, &found) < 0) {
			*out = p; /* malformed: trust nothing from this header */
			return;
		}
		any = true;
		if (!o->recursive || !trusted(o, &found)) {
			*out = found;
			return;
		}
		last = found; /* a trusted hop: keep walking left */
		if (start == 0)
			break;
		end = start - 1;
	}
	*out = last; /* every hop trusted: the leftmost is the client */
}
