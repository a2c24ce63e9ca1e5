/* fuzz_response_head.c — libFuzzer target for response heads: parse, decide
 * passthrough, rewrite for the client with extras chosen by the input, and
 * parse the rewrite again: same status line, same framing (or de-chunked),
 * no hop-by-hop header but what the writer states itself. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_util.h"
#include "http/h1.h"
#include "http/h1_write.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_head(const struct fc_h1_head *hd, const char *buf, size_t len)
{
	fuzz_check_head_bounds(hd, buf, len);
	CHECK(!hd->close_delimited || hd->has_body);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct fc_h1_head hd, hd2;
	const char *buf = (const char *)data;
	size_t end = fc_h1_head_end(buf, size, 0);
	CHECK(end <= size);
	if (end == 0)
		return 0;
	/* the last byte (after the head, when there is one) picks the options */
	uint8_t opt = end < size ? data[size - 1] : 0;
	bool head_request = opt & 1;

	struct fc_h1 h;
	const char *err = NULL;
	fc_h1_init(&h, true);
	int rc = fc_h1_parse_head(&h, buf, end, &hd, head_request, &err);
	if (rc == FC_H1_ERROR) {
		CHECK(err != NULL);
		return 0;
	}
	check_head(&hd, buf, end);
	CHECK((rc == FC_H1_OK) == hd.has_body);
	CHECK(!head_request || rc == FC_H1_COMPLETE);

	struct fc_h1_resp_extra x = {
	        .close = opt & 2,
	        .keep_alive = opt & 4,
	        .dechunk = (opt & 8) && hd.chunked,
	        .set_cookie = (opt & 16) ? "fc_s=abc; Path=/" : NULL,
	        .set_cookie_len = (opt & 16) ? 16 : 0,
	};
	if (fc_h1_response_passthrough(&hd, &x)) {
		/* sent byte for byte: only the framing (Transfer-Encoding) and a
		 * Connection saying keep-alive may be hop-by-hop; nothing was to
		 * be added, and a 1.0 keep-alive client gets the server's header */
		CHECK(!x.close && !x.dechunk && !x.set_cookie);
		CHECK(!x.keep_alive || (hd.conn_keepalive && !hd.conn_close));
		for (uint32_t i = 0; i < hd.n_headers; i++)
			CHECK(!hd.h[i].hop || FC_H1_NAME_IS(&hd.h[i], "transfer-encoding") ||
			      (FC_H1_NAME_IS(&hd.h[i], "connection") && !hd.conn_close));
	}
	size_t cap = 2 * end + 512;
	char *out = malloc(cap);
	if (!out)
		return 0;
	size_t n = fc_h1_write_response(out, cap, &hd, &x);
	if (fuzz_reparse(out, n, cap, true, head_request, &hd2) ==
	    FC_H1_ERROR) { /* as the client reads it */
		free(out);
		return 0;
	}
	check_head(&hd2, out, n);
	CHECK(hd2.status == hd.status);
	CHECK(hd2.first_line_len == hd.first_line_len &&
	      memcmp(hd2.first_line, hd.first_line, hd.first_line_len) == 0);
	CHECK(hd2.has_body == hd.has_body);
	if (!x.dechunk)
		CHECK(hd2.chunked == hd.chunked);
	else
		CHECK(!hd2.chunked && hd2.close_delimited == hd.has_body);
	CHECK(hd2.has_cl == hd.has_cl);
	CHECK(!hd.has_cl || hd2.content_length == hd.content_length);
	if (x.close)
		CHECK(hd2.conn_close && !hd2.keep_alive);
	for (uint32_t i = 0; i < hd2.n_headers; i++) {
		const struct fc_h1_header *o = &hd2.h[i];
		if (!o->hop)
			continue;
		CHECK((hd2.has_te && FC_H1_NAME_IS(o, "transfer-encoding")) ||
		      ((x.close || x.keep_alive) && FC_H1_NAME_IS(o, "connection")));
	}
	free(out);
	return 0;
}
