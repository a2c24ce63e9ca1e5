/* fuzz_chunked.c — libFuzzer target for chunked request bodies: the input
 * follows a "Transfer-Encoding: chunked" head and runs through fc_h1_body
 * once in one piece and once in pieces whose sizes the input chooses. Where
 * the message ends, whether it fails, and the decoded bytes must not depend
 * on how the bytes arrived. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_util.h"
#include "http/h1.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char head[] =
        "POST /upload HTTP/1.1\r\nHost: fuzz\r\nTransfer-Encoding: chunked\r\n\r\n";

struct sink {
	char *p;
	size_t len, cap;
};

static void on_body(void *ctx, const char *at, size_t len)
{
	struct sink *s = ctx;
	CHECK(len <= s->cap - s->len); /* decoded bytes never outnumber the input */
	memcpy(s->p + s->len, at, len);
	s->len += len;
}

struct run {
	int rc;          /* last result */
	size_t consumed; /* bytes of this message */
};

/* Feeds data in pieces: piece i is 1 + sizes[i % n_sizes] % 23 bytes, or
 * everything at once when n_sizes is 0. */
static struct run feed(const uint8_t *data, size_t size, const uint8_t *sizes, size_t n_sizes,
                       struct sink *sink)
{
	static struct fc_h1_head hd;
	struct fc_h1 h;
	const char *err = NULL;
	fc_h1_init(&h, false);
	CHECK(fc_h1_parse_head(&h, head, sizeof(head) - 1, &hd, false, &err) == FC_H1_OK);
	CHECK(hd.chunked);
	struct run r = {FC_H1_OK, 0};
	size_t off = 0, i = 0;
	do {
		size_t n = n_sizes ? (size_t)(1 + sizes[i++ % n_sizes] % 23) : size - off;
		if (n > size - off)
			n = size - off;
		size_t consumed = (size_t)-1;
		err = NULL;
		r.rc = fc_h1_body(&h, (const char *)data + off, n, &consumed, on_body, sink, &err);
		CHECK(r.rc == FC_H1_OK || r.rc == FC_H1_COMPLETE || r.rc == FC_H1_ERROR);
		if (r.rc == FC_H1_ERROR) {
			CHECK(err != NULL);
			break;
		}
		CHECK(consumed <= n);
		CHECK(r.rc == FC_H1_COMPLETE || consumed == n);
		off += consumed;
		r.consumed = off;
	} while (r.rc == FC_H1_OK && off < size);
	return r;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sink one = {malloc(size + 1), 0, size}, split = {malloc(size + 1), 0, size};
	if (!one.p || !split.p)
		goto out;
	struct run a = feed(data, size, NULL, 0, &one);
	/* the piece sizes come from the data itself, read from the end */
	uint8_t sizes[64] = {0};
	size_t n_sizes = size < sizeof(sizes) ? size : sizeof(sizes);
	for (size_t i = 0; i < n_sizes; i++)
		sizes[i] = data[size - 1 - i];
	struct run b = feed(data, size, sizes, n_sizes ? n_sizes : 1, &split);
	CHECK(a.rc == b.rc);
	if (a.rc != FC_H1_ERROR) {
		CHECK(a.consumed == b.consumed);
		CHECK(a.consumed <= size);
		CHECK(a.rc == FC_H1_COMPLETE || a.consumed == size);
		CHECK(one.len == split.len && memcmp(one.p, split.p, one.len) == 0);
	}
out:
	free(one.p);
	free(split.p);
	return 0;
}
