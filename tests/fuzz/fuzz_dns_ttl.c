/* fuzz_dns_ttl.c — libFuzzer target for the DNS answer TTL reader: any bytes
 * (a lying or broken DNS server's answer) give a TTL of 0..2^31-1 or "none",
 * read only inside the message; the same bytes with anything after them give
 * no lower TTL than what was read before (appended bytes can only add
 * records the count promised). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_util.h"
#include "proxy/dns_ttl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* an exact-size copy: ASan sees every read past the end */
	unsigned char *b = malloc(size ? size : 1);
	if (!b)
		return 0;
	memcpy(b, data, size);
	uint64_t ttl = fc_dns_answer_min_ttl(b, size);
	CHECK(ttl == UINT64_MAX || ttl <= 0x7fffffffu);
	for (size_t cut = 0; cut < size && cut < 64; cut++) {
		uint64_t t = fc_dns_answer_min_ttl(b, cut);
		CHECK(t == UINT64_MAX || t >= ttl); /* a prefix has fewer records */
	}
	free(b);
	return 0;
}
