/* dns_ttl.h — the lowest TTL of a DNS answer (RFC 1035 §4.1), which c-ares's
 * SRV parser does not hand out. The message comes from the network: every
 * read is bounds-checked, and a malformed message gives what was read
 * before the fault. */
#ifndef FC_PROXY_DNS_TTL_H
#define FC_PROXY_DNS_TTL_H

#include <stddef.h>
#include <stdint.h>

/* The lowest TTL (seconds) of the answer section of the message b; UINT64_MAX
 * when it has no (well-formed) answer record. */
uint64_t fc_dns_answer_min_ttl(const unsigned char *b, size_t len);

#endif
