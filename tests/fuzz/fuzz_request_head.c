/* fuzz_request_head.c — libFuzzer target for request heads: find the end,
 * parse, rewrite for the upstream, and parse the rewrite again. What the
 * proxy sends must parse, mean the same request and carry no hop-by-hop
 * header but the re-stated Transfer-Encoding: chunked and, for an upgrade
 * (never to h2c), Upgrade and Connection: upgrade. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_util.h"
#include "http/h1.h"
#include "http/h1_write.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Checks that everything the parser points at lies inside the head. */
static void check_head(const struct fc_h1_head *hd, const char *buf, size_t len)
{
	fuzz_check_head_bounds(hd, buf, len);
	CHECK(fuzz_within(hd->url, hd->url_len, buf, len));
	CHECK(hd->host < (int)hd->n_headers);
	CHECK(hd->xff < (int)hd->n_headers);
	CHECK(hd->ua < (int)hd->n_headers);
	CHECK((hd->host >= 0) == (hd->n_host > 0));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct fc_h1_head hd, hd2;
	const char *buf = (const char *)data;
	size_t end = fc_h1_head_end(buf, size, 0);
	CHECK(end <= size);
	if (end == 0)
		return 0;
	/* a resumed scan finds the same end from any earlier length */
	size_t k = data[0] % end;
	CHECK(fc_h1_head_end(buf, k, 0) == 0);
	CHECK(fc_h1_head_end(buf, size, k) == end);

	struct fc_h1 h;
	const char *err = NULL;
	fc_h1_init(&h, false);
	int rc = fc_h1_parse_head(&h, buf, end, &hd, false, &err);
	if (rc == FC_H1_ERROR) {
		CHECK(err != NULL);
		return 0;
	}
	CHECK(rc == FC_H1_OK || rc == FC_H1_COMPLETE);
	check_head(&hd, buf, end);

	/* what the proxy writes: the rewrite fits in twice the head plus the
	 * added headers, so 0 here means the writer lost track */
	struct fc_h1_req_extra x = {.client_ip = "192.0.2.1", .client_ip_len = 9, .proto = "http"};
	if (hd.host < 0) {
		x.host = "localhost";
		x.host_len = 9;
	}
	size_t cap = 2 * end + 512;
	char *out = malloc(cap);
	if (!out)
		return 0;
	size_t n = fc_h1_write_request(out, cap, &hd, &x);
	int rc2 = fuzz_reparse(out, n, cap, false, false, &hd2); /* as the upstream reads it */
	if (rc2 == FC_H1_ERROR) {
		free(out);
		return 0;
	}
	check_head(&hd2, out, n);
	CHECK(hd2.method == hd.method);
	CHECK(hd2.url_len == hd.url_len && memcmp(hd2.url, hd.url, hd.url_len) == 0);
	CHECK(hd2.major == 1 && hd2.minor == 1);
	CHECK(hd2.n_host >= 1);
	/* same framing */
	CHECK(hd2.chunked == hd.chunked);
	CHECK(hd2.has_cl == hd.has_cl);
	CHECK(!hd.has_cl || hd2.content_length == hd.content_length);
	CHECK((rc2 == FC_H1_COMPLETE) == (rc == FC_H1_COMPLETE));
	/* an upgrade stays one, and only an upgrade is one; never to h2c */
	CHECK(hd2.upgrade == hd.upgrade);
	/* nothing hop-by-hop but the re-stated chunked, and an upgrade's
	 * Upgrade and Connection: upgrade */
	for (uint32_t i = 0; i < hd2.n_headers; i++) {
		const struct fc_h1_header *o = &hd2.h[i];
		if (hd2.upgrade && FC_H1_NAME_IS(o, "upgrade")) {
			const char *s = o->value, *e = o->value + o->value_len, *t;
			size_t tl;
			while (fc_h1_next_token(&s, e, &t, &tl))
				CHECK(fc_h1_upgrade_token_ok(t, tl));
			continue;
		}
		if (hd2.upgrade && FC_H1_NAME_IS(o, "connection")) {
			CHECK(o->value_len == 7 && memcmp(o->value, "upgrade", 7) == 0);
			continue;
		}
		CHECK(!o->hop || (hd2.chunked && FC_H1_NAME_IS(o, "transfer-encoding")));
	}
	/* one X-Forwarded-For, ending with the client */
	const struct fc_h1_header *xff = fc_h1_find(&hd2, "x-forwarded-for", 15);
	CHECK(xff && xff->value_len >= 9 &&
	      memcmp(xff->value + xff->value_len - 9, "192.0.2.1", 9) == 0);
	free(out);
	return 0;
}
