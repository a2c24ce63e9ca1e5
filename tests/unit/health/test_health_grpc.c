/* test_health_grpc.c — the grpc check. Its pure part: HealthCheckRequest
 * encoding, HealthCheckResponse decoding (unknown fields, malformed bytes),
 * the message reader fed in pieces, grpc-message decoding. Then checks
 * against a server thread on 127.0.0.1 answering HTTP/2 frames built here
 * byte by byte: SERVING passes, and every other answer fails with its
 * reason (NOT_SERVING, SERVICE_UNKNOWN, a grpc-status, HTTP 503, a wrong
 * content-type, HTTP/1, garbage, GOAWAY, RST_STREAM, a huge, truncated,
 * compressed or second message, header and byte floods, silence). The
 * request the check sent is decoded with nghttp2's HPACK inflater. */
#include <nghttp2/nghttp2.h>

#include "health/grpc.h"
#include "helpers.h"

/* ---------------------------------------------------------------- pure part */

static void test_request_encoding(void **state)
{
	(void)state;
	uint8_t b[64];
	/* the empty service: no field at all, a zero-length message */
	assert_int_equal(fc__grpc_check_request("", b, sizeof b), 5);
	assert_memory_equal(b, "\0\0\0\0\0", 5);
	assert_int_equal(fc__grpc_check_request(NULL, b, sizeof b), 5);
	assert_int_equal(fc__grpc_check_request("svc", b, sizeof b), 10);
	assert_memory_equal(b, "\0\0\0\0\x05\x0a\x03svc", 10);
	/* a length over 127 takes a two-byte varint */
	char name[301];
	memset(name, 'a', 300);
	name[300] = 0;
	uint8_t big[400];
	assert_int_equal(fc__grpc_check_request(name, big, sizeof big), 5 + 1 + 2 + 300);
	assert_memory_equal(big, "\0\0\0\x01\x2f\x0a\xac\x02", 8); /* 303 = 0x12f; 300 = ac 02 */
	/* does not fit */
	assert_int_equal(fc__grpc_check_request("svc", b, 12), 0);
}

static void test_response_decoding(void **state)
{
	(void)state;
	uint32_t st = 99;
	const char *why = NULL;
#define DEC(lit) fc__grpc_check_response((const uint8_t *)(lit), sizeof(lit) - 1, &st, &why)
	assert_int_equal(DEC("\x08\x01"), 0);
	assert_int_equal(st, FC__GRPC_SERVING);
	assert_int_equal(DEC("\x08\x02"), 0);
	assert_int_equal(st, FC__GRPC_NOT_SERVING);
	assert_int_equal(DEC("\x08\x03"), 0);
	assert_int_equal(st, FC__GRPC_SERVICE_UNKNOWN);
	/* absent: UNKNOWN; repeated: the last one */
	assert_int_equal(DEC(""), 0);
	assert_int_equal(st, FC__GRPC_UNKNOWN);
	assert_int_equal(DEC("\x08\x02\x08\x01"), 0);
	assert_int_equal(st, FC__GRPC_SERVING);
	/* unknown fields of every wire type are skipped */
	assert_int_equal(DEC("\x10\x05"
	                     "\x19"
	                     "12345678"
	                     "\x22\x02xy"
	                     "\x2d"
	                     "abcd"
	                     "\x08\x01"
	                     "\x80\x01\x00"),
	                 0);
	assert_int_equal(st, FC__GRPC_SERVING);
	/* a multi-byte varint value */
	assert_int_equal(DEC("\x08\x81\x00"), 0);
	assert_int_equal(st, 1);
	/* malformed */
	assert_int_equal(DEC("\x08"), -EBADMSG);
	assert_string_equal(why, "truncated varint");
	assert_int_equal(DEC("\x08\x81"), -EBADMSG);
	assert_int_equal(DEC("\x0f\x01"), -EBADMSG);
	assert_string_equal(why, "bad wire type");
	assert_int_equal(DEC("\x0b\x0c"), -EBADMSG); /* a group */
	assert_int_equal(DEC("\x0a\x01x"), -EBADMSG);
	assert_string_equal(why, "status is not a varint");
	assert_int_equal(DEC("\x12\x05xy"), -EBADMSG);
	assert_string_equal(why, "truncated field");
	assert_int_equal(DEC("\x12\xff\xff\xff\xff\x0f"), -EBADMSG);
	assert_int_equal(DEC("\x19"
	                     "1234"),
	                 -EBADMSG);
	assert_int_equal(DEC("\x00\x01"), -EBADMSG);
	assert_string_equal(why, "field number 0");
	assert_int_equal(DEC("\x08\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01"), -EBADMSG);
	assert_int_equal(DEC("\x80"), -EBADMSG);
	assert_string_equal(why, "truncated field key");
#undef DEC
	assert_string_equal(fc__grpc_serving_name(1), "SERVING");
	assert_string_equal(fc__grpc_serving_name(3), "SERVICE_UNKNOWN");
	assert_null(fc__grpc_serving_name(4));
	assert_string_equal(fc__grpc_code_name(0), "ok");
	assert_string_equal(fc__grpc_code_name(5), "not_found");
	assert_string_equal(fc__grpc_code_name(12), "unimplemented");
	assert_string_equal(fc__grpc_code_name(16), "unauthenticated");
	assert_null(fc__grpc_code_name(17));
	assert_null(fc__grpc_code_name(-1));
}

static struct fc__grpc_reader rd;

static void test_reader(void **state)
{
	(void)state;
	static const uint8_t one[] = {0, 0, 0, 0, 2, 0x08, 0x01};
	/* whole, then byte by byte */
	fc__grpc_reader_init(&rd);
	assert_int_equal(fc__grpc_reader_feed(&rd, one, sizeof one), 0);
	assert_int_equal(rd.n_messages, 1);
	assert_int_equal(rd.want, 2);
	assert_memory_equal(rd.msg, "\x08\x01", 2);
	assert_int_equal(fc__grpc_reader_end(&rd), 0);
	fc__grpc_reader_init(&rd);
	for (size_t i = 0; i < sizeof one; i++) {
		assert_int_equal(rd.n_messages, 0);
		assert_int_equal(fc__grpc_reader_feed(&rd, one + i, 1), 0);
	}
	assert_int_equal(rd.n_messages, 1);
	assert_int_equal(fc__grpc_reader_end(&rd), 0);
	/* an empty message counts */
	fc__grpc_reader_init(&rd);
	assert_int_equal(fc__grpc_reader_feed(&rd, (const uint8_t *)"\0\0\0\0\0", 5), 0);
	assert_int_equal(rd.n_messages, 1);
	assert_int_equal(rd.want, 0);
	/* a second message is refused, and stays refused */
	fc__grpc_reader_init(&rd);
	assert_int_equal(fc__grpc_reader_feed(&rd, one, sizeof one), 0);
	assert_int_equal(fc__grpc_reader_feed(&rd, one, 1), -EBADMSG);
	assert_string_equal(rd.why, "more than one response message");
	assert_int_equal(fc__grpc_reader_feed(&rd, one, 0), -EBADMSG);
	assert_int_equal(fc__grpc_reader_end(&rd), -EBADMSG);
	/* truncated in the message, in the prefix */
	fc__grpc_reader_init(&rd);
	assert_int_equal(fc__grpc_reader_feed(&rd, one, 6), 0);
	assert_int_equal(fc__grpc_reader_end(&rd), -EBADMSG);
	assert_string_equal(rd.why, "truncated response message (1 of 2 bytes)");
	fc__grpc_reader_init(&rd);
	assert_int_equal(fc__grpc_reader_feed(&rd, one, 3), 0);
	assert_int_equal(fc__grpc_reader_end(&rd), -EBADMSG);
	assert_string_equal(rd.why, "truncated message prefix (3 of 5 bytes)");
	/* huge: refused from the prefix, nothing more is awaited */
	fc__grpc_reader_init(&rd);
	assert_int_equal(fc__grpc_reader_feed(&rd, (const uint8_t *)"\0\x05\xf5\xe1\x00", 5),
	                 -EBADMSG);
	assert_string_equal(rd.why, "response message of 100000000 bytes, over 16384");
	fc__grpc_reader_init(&rd);
	static uint8_t max[5 + FC__GRPC_MSG_MAX] = {0, 0, 0, FC__GRPC_MSG_MAX >> 8, 0};
	assert_int_equal(fc__grpc_reader_feed(&rd, max, sizeof max), 0);
	assert_int_equal(rd.n_messages, 1);
	/* compressed, or flags that mean nothing */
	fc__grpc_reader_init(&rd);
	assert_int_equal(fc__grpc_reader_feed(&rd, (const uint8_t *)"\x01\0\0\0\x02", 5), -EBADMSG);
	assert_string_equal(rd.why, "compressed response message (no compression was offered)");
	fc__grpc_reader_init(&rd);
	assert_int_equal(fc__grpc_reader_feed(&rd, (const uint8_t *)"\x80\0\0\0\x02", 5), -EBADMSG);
	assert_string_equal(rd.why, "bad message flags 0x80");
}

static void test_message_decode(void **state)
{
	(void)state;
	char out[32];
#define MD(lit) fc__grpc_message_decode(lit, sizeof(lit) - 1, out, sizeof out)
	assert_int_equal(MD("Method%20not%20found"), 16);
	assert_string_equal(out, "Method not found");
	/* UTF-8 and controls become '?'; a bad or cut escape stays as it is */
	MD("caf%C3%A9%0A");
	assert_string_equal(out, "caf???");
	MD("100%zz 5%");
	assert_string_equal(out, "100%zz 5%");
	MD("50%2");
	assert_string_equal(out, "50%2");
	/* cut to fit */
	assert_int_equal(MD("0123456789012345678901234567890123456789"), 31);
	char one[1];
	assert_int_equal(fc__grpc_message_decode("abc", 3, one, 1), 0);
	assert_string_equal(one, "");
#undef MD
}

/* ---------------------------------------------------------------- HTTP/2 by hand */

struct out {
	uint8_t b[80000];
	size_t n;
};

static void put(struct out *o, const void *p, size_t n)
{
	assert_true(o->n + n <= sizeof o->b);
	if (n) /* p may be NULL then */
		memcpy(o->b + o->n, p, n);
	o->n += n;
}

static void frame(struct out *o, uint8_t type, uint8_t flags, uint32_t sid, const void *payload,
                  size_t len)
{
	uint8_t h[9] = {
	        (uint8_t)(len >> 16), (uint8_t)(len >> 8),  (uint8_t)len,        type,        flags,
	        (uint8_t)(sid >> 24), (uint8_t)(sid >> 16), (uint8_t)(sid >> 8), (uint8_t)sid};
	put(o, h, 9);
	put(o, payload, len);
}

#define F_DATA      0
#define F_HEADERS   1
#define F_RST       3
#define F_SETTINGS  4
#define F_PING      6
#define F_GOAWAY    7
#define F_WINDOW    8
#define END_STREAM  0x1
#define END_HEADERS 0x4

/* An HPACK integer with an n-bit prefix (RFC 7541 5.1). */
static void hpack_int(struct out *o, uint8_t first, unsigned bits, size_t v)
{
	size_t max = (1u << bits) - 1;
	if (v < max) {
		uint8_t c = (uint8_t)(first | v);
		put(o, &c, 1);
		return;
	}
	uint8_t c = (uint8_t)(first | max);
	put(o, &c, 1);
	for (v -= max; v >= 128; v >>= 7) {
		c = (uint8_t)(v % 128 + 128);
		put(o, &c, 1);
	}
	c = (uint8_t)v;
	put(o, &c, 1);
}

/* A literal header field without indexing, new name, no Huffman. */
static void hpack(struct out *o, const char *name, const char *value)
{
	hpack_int(o, 0x00, 4, 0);
	hpack_int(o, 0x00, 7, strlen(name));
	put(o, name, strlen(name));
	hpack_int(o, 0x00, 7, strlen(value));
	put(o, value, strlen(value));
}

static struct out block;

/* HEADERS on stream 1 with the NULL-terminated name, value pairs. */
static void headers(struct out *o, bool end_stream, ...)
{
	va_list ap;
	va_start(ap, end_stream);
	block.n = 0;
	for (const char *n; (n = va_arg(ap, const char *));)
		hpack(&block, n, va_arg(ap, const char *));
	va_end(ap);
	frame(o, F_HEADERS, END_HEADERS | (end_stream ? END_STREAM : 0), 1, block.b, block.n);
}

static void settings(struct out *o)
{
	frame(o, F_SETTINGS, 0, 0, NULL, 0);
}

/* One gRPC message (flags, declared length, the bytes given) as DATA. */
static void grpc_data(struct out *o, uint8_t flags, uint32_t declared, const void *msg, size_t n,
                      bool end_stream)
{
	uint8_t b[64];
	b[0] = flags;
	b[1] = (uint8_t)(declared >> 24);
	b[2] = (uint8_t)(declared >> 16);
	b[3] = (uint8_t)(declared >> 8);
	b[4] = (uint8_t)declared;
	assert_true(n <= sizeof b - 5);
	memcpy(b + 5, msg, n);
	frame(o, F_DATA, end_stream ? END_STREAM : 0, 1, b, 5 + n);
}

static void response_head(struct out *o)
{
	settings(o);
	headers(o, false, ":status", "200", "content-type", "application/grpc", NULL);
}

static void trailers_ok(struct out *o)
{
	headers(o, true, "grpc-status", "0", NULL);
}

/* A complete answer with HealthCheckResponse{status}. */
static void answer(struct out *o, uint8_t status)
{
	uint8_t m[2] = {0x08, status};
	o->n = 0;
	response_head(o);
	grpc_data(o, 0, 2, m, 2, false);
	trailers_ok(o);
}

/* ---------------------------------------------------------------- checks */

struct fix {
	struct fc_loop loop;
	struct fc_pool *pool;
	struct fc_health *h;
	struct fc_config_pool cp;
	struct fc_config_server cs;
	struct fc_server *srv;
	struct fc_health_server *hs;
	uint64_t want_checks;
};

static struct out resp;

/* One server api-1 at 127.0.0.1:port with a grpc check (interval 300 ms,
 * timeout 200 ms, rise and fall 1), service svc (NULL: none), host (NULL:
 * none). An epoll loop, as the control thread's is. */
static struct fix *fix_new(uint16_t port, const char *svc, const char *host)
{
	struct fix *f = calloc(1, sizeof *f);
	assert_non_null(f);
	assert_int_equal(fc_loop_init(&f->loop), 0);
	f->pool = t_pool("api");
	f->cp.name = "api";
	t_passive_default(&f->cp.passive);
	assert_int_equal(fc_health_create(&f->loop, NULL, &f->h), 0);
	f->srv = t_server(f->pool, "api-1");
	t_health_http(&f->cs.health, "/");
	f->cs.health.type = FC_HEALTH_GRPC;
	f->cs.health.service = (char *)svc;
	f->cs.health.host = (char *)host;
	f->cs.health.interval_ms = 300;
	f->cs.health.fast_interval_ms = 100;
	f->cs.health.timeout_ms = 200;
	f->cs.health.rise = 1;
	f->cs.health.fall = 1;
	f->cs.host = "127.0.0.1";
	f->cs.port = port;
	struct sockaddr_in a = t_addr(port);
	assert_int_equal(fc_health_add_server(f->h, f->pool, &f->cp, &f->cs, f->srv,
	                                      (struct sockaddr *)&a, sizeof a, &f->hs),
	                 0);
	assert_int_equal(fc_health_start(f->h), 0);
	return f;
}

static void fix_free(struct fix *f)
{
	fc_health_destroy(f->h);
	fc_pool_destroy(f->pool);
	fc_loop_fini(&f->loop);
	free(f);
}

static bool checks_done(void *arg)
{
	struct fix *f = arg;
	return f->hs->n_checks >= f->want_checks;
}

static void run_checks(struct fix *f, uint64_t n)
{
	f->want_checks = f->hs->n_checks + n;
	assert_true(t_run(&f->loop, checks_done, f, 3000));
}

/* One check of a server answering resp (then after); returns its result text. */
static const char *check_once(struct t_srv *s, enum t_after after, bool *ok)
{
	static char text[128];
	t_srv_set_bytes(s, resp.b, resp.n, after);
	struct fix *f = fix_new(s->port, NULL, NULL);
	run_checks(f, 1);
	*ok = f->hs->last_ok;
	snprintf(text, sizeof text, "%s", f->hs->last_result);
	if (!*ok)
		assert_int_equal(t_state(f->srv), FC_SERVER_DEAD);
	else
		assert_int_equal(t_state(f->srv), FC_SERVER_HEALTHY);
	fix_free(f);
	return text;
}

static void expect_fail(struct t_srv *s, enum t_after after, const char *want_prefix)
{
	bool ok = true;
	const char *got = check_once(s, after, &ok);
	if (ok || strncmp(got, want_prefix, strlen(want_prefix)) != 0)
		fail_msg("got %s \"%s\", want a failure \"%s...\"", ok ? "pass" : "failure", got,
		         want_prefix);
}

struct req {
	char path[128], method[16], scheme[16], authority[128], ct[64], te[32], ua[64], timeout[16];
	uint8_t body[64];
	size_t body_len;
	bool end_stream;
};

static void copy_val(char *dst, size_t cap, const nghttp2_nv *nv)
{
	size_t n = nv->valuelen < cap - 1 ? nv->valuelen : cap - 1;
	memcpy(dst, nv->value, n);
	dst[n] = 0;
}

/* Parses what the check sent: preface, frames, HEADERS decoded. */
static void parse_request(const uint8_t *p, size_t n, struct req *r)
{
	static const char preface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
	memset(r, 0, sizeof *r);
	assert_true(n >= 24);
	assert_memory_equal(p, preface, 24);
	nghttp2_hd_inflater *inf;
	assert_int_equal(nghttp2_hd_inflate_new(&inf), 0);
	bool settings_seen = false;
	for (size_t i = 24; i + 9 <= n;) {
		size_t len = (size_t)p[i] << 16 | (size_t)p[i + 1] << 8 | p[i + 2];
		uint8_t type = p[i + 3], flags = p[i + 4];
		uint32_t sid = (uint32_t)(p[i + 5] & 0x7f) << 24 | (uint32_t)p[i + 6] << 16 |
		               (uint32_t)p[i + 7] << 8 | p[i + 8];
		const uint8_t *pl = p + i + 9;
		if (i + 9 + len > n)
			break;
		if (type == F_SETTINGS && !(flags & 1)) {
			settings_seen = true;
			/* ENABLE_PUSH 0 is among them */
			bool push_off = false;
			for (size_t k = 0; k + 6 <= len; k += 6)
				push_off |= pl[k] == 0 && pl[k + 1] == 2 && pl[k + 5] == 0;
			assert_true(push_off);
		} else if (type == F_HEADERS && sid == 1) {
			assert_true(flags & END_HEADERS);
			const uint8_t *in = pl;
			size_t left = len;
			for (;;) {
				nghttp2_nv nv;
				int fl = 0;
				ssize_t rv = nghttp2_hd_inflate_hd2(inf, &nv, &fl, in, left, 1);
				assert_true(rv >= 0);
				in += rv;
				left -= (size_t)rv;
				if (fl & NGHTTP2_HD_INFLATE_EMIT) {
#define IS(lit) (nv.namelen == sizeof(lit) - 1 && memcmp(nv.name, lit, nv.namelen) == 0)
					if (IS(":path"))
						copy_val(r->path, sizeof r->path, &nv);
					else if (IS(":method"))
						copy_val(r->method, sizeof r->method, &nv);
					else if (IS(":scheme"))
						copy_val(r->scheme, sizeof r->scheme, &nv);
					else if (IS(":authority"))
						copy_val(r->authority, sizeof r->authority, &nv);
					else if (IS("content-type"))
						copy_val(r->ct, sizeof r->ct, &nv);
					else if (IS("te"))
						copy_val(r->te, sizeof r->te, &nv);
					else if (IS("user-agent"))
						copy_val(r->ua, sizeof r->ua, &nv);
					else if (IS("grpc-timeout"))
						copy_val(r->timeout, sizeof r->timeout, &nv);
#undef IS
				}
				if (fl & NGHTTP2_HD_INFLATE_FINAL) {
					nghttp2_hd_inflate_end_headers(inf);
					break;
				}
				if (rv == 0 && left == 0)
					break;
			}
		} else if (type == F_DATA && sid == 1) {
			assert_true(r->body_len + len <= sizeof r->body);
			memcpy(r->body + r->body_len, pl, len);
			r->body_len += len;
			r->end_stream |= flags & END_STREAM;
		}
		i += 9 + len;
	}
	nghttp2_hd_inflate_del(inf);
	assert_true(settings_seen);
}

static bool finished_one(void *arg)
{
	return t_srv_finished(arg) > 0;
}

static void test_serving_passes_and_request_is_right(void **state)
{
	(void)state;
	struct t_srv *s = t_srv_start("");
	answer(&resp, 1);
	t_srv_set_bytes(s, resp.b, resp.n, T_HOLD_AND_DRAIN);
	struct fix *f = fix_new(s->port, "fulcrum.test.Echo", NULL);
	run_checks(f, 2);
	assert_int_equal(t_state(f->srv), FC_SERVER_HEALTHY);
	assert_int_equal(f->hs->checks_ok, 2);
	assert_non_null(strstr(f->hs->last_result, "grpc SERVING in "));
	struct fc_health_info in;
	fc_health_server_info(f->hs, &in);
	assert_true(in.last_check_ok);
	/* the check closed its connection: the server saw every byte */
	assert_true(t_run(&f->loop, finished_one, s, 2000));
	pthread_mutex_lock(&s->mu);
	struct req r;
	parse_request((const uint8_t *)s->raw, s->raw_len, &r);
	pthread_mutex_unlock(&s->mu);
	char want[64];
	snprintf(want, sizeof want, "127.0.0.1:%u", s->port);
	assert_string_equal(r.method, "POST");
	assert_string_equal(r.scheme, "http");
	assert_string_equal(r.path, "/grpc.health.v1.Health/Check");
	assert_string_equal(r.authority, want);
	assert_string_equal(r.ct, "application/grpc");
	assert_string_equal(r.te, "trailers");
	assert_string_equal(r.ua, "fulcrum-health");
	assert_string_equal(r.timeout, "200m");
	assert_int_equal(r.body_len, 5 + 2 + 17);
	assert_memory_equal(r.body,
	                    "\0\0\0\0\x13\x0a\x11"
	                    "fulcrum.test.Echo",
	                    r.body_len);
	assert_true(r.end_stream);
	fix_free(f);

	/* health.host is the :authority; the empty service sends an empty message */
	t_srv_stop(s);
	s = t_srv_start("");
	t_srv_set_bytes(s, resp.b, resp.n, T_HOLD_AND_DRAIN);
	f = fix_new(s->port, NULL, "grpc.internal:50051");
	run_checks(f, 1);
	assert_true(f->hs->last_ok);
	assert_true(t_run(&f->loop, finished_one, s, 2000));
	pthread_mutex_lock(&s->mu);
	parse_request((const uint8_t *)s->raw, s->raw_len, &r);
	pthread_mutex_unlock(&s->mu);
	assert_string_equal(r.authority, "grpc.internal:50051");
	assert_int_equal(r.body_len, 5);
	assert_memory_equal(r.body, "\0\0\0\0\0", 5);
	fix_free(f);
	t_srv_stop(s);
}

static void test_trailers_only_and_interim(void **state)
{
	(void)state;
	struct t_srv *s = t_srv_start("");
	/* grpc-status 0 in a trailers-only answer, but no message: fails */
	resp.n = 0;
	settings(&resp);
	headers(&resp, true, ":status", "200", "content-type", "application/grpc", "grpc-status",
	        "0", NULL);
	expect_fail(s, T_HOLD_AND_DRAIN, "grpc: no response message");
	/* an interim 100 first, then the answer: passes */
	answer(&resp, 1);
	struct out with_interim = {.n = 0};
	settings(&with_interim);
	headers(&with_interim, false, ":status", "100", NULL);
	put(&with_interim, resp.b + 9, resp.n - 9); /* the answer without its SETTINGS */
	resp = with_interim;
	bool ok = false;
	const char *got = check_once(s, T_HOLD_AND_DRAIN, &ok);
	assert_true(ok);
	assert_non_null(strstr(got, "grpc SERVING"));
	t_srv_stop(s);
}

/* A server on the check's own loop that answers as soon as it accepted,
 * before the request came: its before_wait hook accepts and writes, so the
 * answer is there when the check sees its connect complete. The check must
 * still send its request first (nghttp2 drops an answer on a stream it has
 * not opened yet). */
struct eager {
	int lfd, fd;
	size_t off;
	bool shut;
};

static void eager_tick(struct fc_loop *loop, void *arg)
{
	(void)loop;
	struct eager *e = arg;
	int fd = accept4(e->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd >= 0) {
		if (e->fd >= 0)
			close(e->fd);
		e->fd = fd;
		e->off = 0;
		e->shut = false;
	}
	if (e->fd < 0)
		return;
	while (e->off < resp.n) {
		ssize_t n = send(e->fd, resp.b + e->off, resp.n - e->off, MSG_NOSIGNAL);
		if (n <= 0)
			break;
		e->off += (size_t)n;
	}
	if (e->off == resp.n && !e->shut) {
		shutdown(e->fd, SHUT_WR);
		e->shut = true;
	}
	char sink[4096];
	while (recv(e->fd, sink, sizeof sink, 0) > 0)
		;
}

static void test_server_answering_at_once(void **state)
{
	(void)state;
	struct eager e = {.fd = -1};
	e.lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	struct sockaddr_in a = t_addr(0);
	socklen_t al = sizeof a;
	assert_int_equal(bind(e.lfd, (struct sockaddr *)&a, sizeof a), 0);
	assert_int_equal(listen(e.lfd, 16), 0);
	getsockname(e.lfd, (struct sockaddr *)&a, &al);
	answer(&resp, 1);
	struct fix *f = fix_new(ntohs(a.sin_port), NULL, NULL);
	f->loop.before_wait = eager_tick;
	f->loop.before_wait_arg = &e;
	run_checks(f, 2);
	assert_int_equal(f->hs->checks_ok, 2);
	assert_non_null(strstr(f->hs->last_result, "grpc SERVING in "));
	fix_free(f);
	if (e.fd >= 0)
		close(e.fd);
	close(e.lfd);
}

static void test_statuses_fail(void **state)
{
	(void)state;
	struct t_srv *s = t_srv_start("");
	answer(&resp, 2);
	expect_fail(s, T_HOLD_AND_DRAIN, "grpc: NOT_SERVING");
	answer(&resp, 3);
	expect_fail(s, T_HOLD_AND_DRAIN, "grpc: SERVICE_UNKNOWN");
	answer(&resp, 0);
	expect_fail(s, T_HOLD_AND_DRAIN, "grpc: UNKNOWN");
	answer(&resp, 9);
	expect_fail(s, T_HOLD_AND_DRAIN, "grpc: status 9 (no such serving status)");
	/* trailers-only with an error */
	resp.n = 0;
	settings(&resp);
	headers(&resp, true, ":status", "200", "content-type", "application/grpc", "grpc-status",
	        "12", "grpc-message", "Method%20not%20found!", NULL);
	expect_fail(s, T_HOLD_AND_DRAIN, "grpc-status 12: unimplemented: Method not found!");
	/* grpc-status in the trailers after a message: it wins */
	resp.n = 0;
	response_head(&resp);
	grpc_data(&resp, 0, 2, "\x08\x01", 2, false);
	headers(&resp, true, "grpc-status", "14", NULL);
	expect_fail(s, T_HOLD_AND_DRAIN, "grpc-status 14: unavailable");
	resp.n = 0;
	response_head(&resp);
	headers(&resp, true, "grpc-status", "99", NULL);
	expect_fail(s, T_HOLD_AND_DRAIN, "grpc-status 99: (no such code)");
	resp.n = 0;
	response_head(&resp);
	headers(&resp, true, "grpc-status", "zero", NULL);
	expect_fail(s, T_HOLD_AND_DRAIN, "grpc: grpc-status is not a number");
	/* no grpc-status at all */
	resp.n = 0;
	response_head(&resp);
	grpc_data(&resp, 0, 2, "\x08\x01", 2, true);
	expect_fail(s, T_HOLD_AND_DRAIN, "grpc: no grpc-status in the response");
	/* not 200, not gRPC */
	resp.n = 0;
	settings(&resp);
	headers(&resp, true, ":status", "503", NULL);
	expect_fail(s, T_HOLD_AND_DRAIN, "grpc: HTTP 503");
	resp.n = 0;
	settings(&resp);
	headers(&resp, true, ":status", "404", "grpc-status", "12", NULL);
	expect_fail(s, T_HOLD_AND_DRAIN, "grpc: HTTP 404 (grpc-status 12)");
	resp.n = 0;
	settings(&resp);
	headers(&resp, false, ":status", "200", "content-type", "text/html", NULL);
	frame(&resp, F_DATA, END_STREAM, 1, "<html>", 6);
	expect_fail(s, T_HOLD_AND_DRAIN, "grpc: content-type text/html, not application/grpc");
	/* application/grpc+proto is gRPC */
	resp.n = 0;
	settings(&resp);
	headers(&resp, false, ":status", "200", "content-type", "application/grpc+proto", NULL);
	grpc_data(&resp, 0, 2, "\x08\x01", 2, false);
	trailers_ok(&resp);
	bool ok = false;
	check_once(s, T_HOLD_AND_DRAIN, &ok);
	assert_true(ok);
	t_srv_stop(s);
}

static void test_bad_messages_fail(void **state)
{
	(void)state;
	struct t_srv *s = t_srv_start("");
	/* a length prefix of 100 MB: refused at once, the rest never awaited */
	resp.n = 0;
	response_head(&resp);
	grpc_data(&resp, 0, 100000000, "", 0, false);
	expect_fail(s, T_HOLD_AND_DRAIN, "grpc: response message of 100000000 bytes, over 16384");
	/* truncated: the trailers come in the middle of the message */
	resp.n = 0;
	response_head(&resp);
	grpc_data(&resp, 0, 2, "\x08", 1, false);
	trailers_ok(&resp);
	expect_fail(s, T_HOLD_AND_DRAIN, "grpc: truncated response message (1 of 2 bytes)");
	/* truncated: the connection ends in the message */
	resp.n = 0;
	response_head(&resp);
	grpc_data(&resp, 0, 2, "\x08", 1, false);
	expect_fail(s, T_SHUT_AND_DRAIN, "connection closed in the response");
	/* two messages */
	resp.n = 0;
	response_head(&resp);
	grpc_data(&resp, 0, 2, "\x08\x01", 2, false);
	grpc_data(&resp, 0, 2, "\x08\x01", 2, false);
	trailers_ok(&resp);
	expect_fail(s, T_HOLD_AND_DRAIN, "grpc: more than one response message");
	/* compressed */
	resp.n = 0;
	response_head(&resp);
	grpc_data(&resp, 1, 2, "\x08\x01", 2, false);
	trailers_ok(&resp);
	expect_fail(s, T_HOLD_AND_DRAIN, "grpc: compressed response message");
	/* no protobuf */
	resp.n = 0;
	response_head(&resp);
	grpc_data(&resp, 0, 3, "\x0f\xff\xff", 3, false);
	trailers_ok(&resp);
	expect_fail(s, T_HOLD_AND_DRAIN, "grpc: malformed HealthCheckResponse (bad wire type)");
	t_srv_stop(s);
}

static void test_bad_connections_fail(void **state)
{
	(void)state;
	struct t_srv *s = t_srv_start("");
	/* an HTTP/1.1 server */
	resp.n = 0;
	put(&resp, "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n", 47);
	expect_fail(s, T_SHUT_AND_DRAIN,
	            "not HTTP/2: the server answered in HTTP/1 (\"HTTP/1.1 400 Bad Request\")");
	/* fewer than 5 bytes, then the end */
	resp.n = 0;
	put(&resp, "OK\n", 3);
	expect_fail(s, T_SHUT_AND_DRAIN, "connection closed after 3 bytes (not HTTP/2)");
	/* garbage where SETTINGS should be */
	resp.n = 0;
	put(&resp, "\x00\x00\x05\x09\xff\x00\x00\x00\x07garbage garbage garbage", 33);
	expect_fail(s, T_HOLD_AND_DRAIN,
	            "HTTP/2: the server's first frame is not SETTINGS (no HTTP/2 server?)");
	/* garbage after a good SETTINGS: a frame of a reserved type is skipped,
	 * a DATA frame on stream 0 is a connection error */
	resp.n = 0;
	settings(&resp);
	frame(&resp, 0x42, 0, 0, "junk", 4);
	frame(&resp, F_DATA, 0, 0, "junk", 4);
	expect_fail(s, T_HOLD_AND_DRAIN, "HTTP/2: PROTOCOL_ERROR: DATA: stream_id == 0");
	/* nothing, then the end */
	resp.n = 0;
	expect_fail(s, T_SHUT_AND_DRAIN, "connection closed without an answer");
	/* SETTINGS, then the end */
	settings(&resp);
	expect_fail(s, T_SHUT_AND_DRAIN, "connection closed before the response headers");
	/* GOAWAY before our stream: refused */
	resp.n = 0;
	settings(&resp);
	frame(&resp, F_GOAWAY, 0, 0, "\0\0\0\0\0\0\0\0bye", 11);
	expect_fail(s, T_HOLD_AND_DRAIN, "GOAWAY from the server (NO_ERROR: \"bye\")");
	resp.n = 0;
	settings(&resp);
	frame(&resp, F_GOAWAY, 0, 0, "\0\0\0\0\0\0\0\x0b", 8);
	expect_fail(s, T_SHUT_AND_DRAIN, "GOAWAY from the server (ENHANCE_YOUR_CALM)");
	/* a GOAWAY that lets stream 1 finish does not fail it */
	answer(&resp, 1);
	struct out g = {.n = 0};
	settings(&g);
	frame(&g, F_GOAWAY, 0, 0, "\0\0\0\x01\0\0\0\0", 8);
	put(&g, resp.b + 9, resp.n - 9);
	resp = g;
	bool ok = false;
	check_once(s, T_HOLD_AND_DRAIN, &ok);
	assert_true(ok);
	/* the stream reset */
	resp.n = 0;
	settings(&resp);
	frame(&resp, F_RST, 0, 1, "\0\0\0\x02", 4);
	expect_fail(s, T_HOLD_AND_DRAIN, "stream reset by the server (INTERNAL_ERROR)");
	/* a response the HTTP/2 rules refuse (uppercase header name) */
	resp.n = 0;
	settings(&resp);
	headers(&resp, true, ":status", "200", "Grpc-Status", "0", NULL);
	expect_fail(s, T_HOLD_AND_DRAIN, "HTTP/2: Invalid HTTP header field was received");
	t_srv_stop(s);
}

static void test_floods_fail(void **state)
{
	(void)state;
	struct t_srv *s = t_srv_start("");
	/* headers over 16 KiB decoded */
	resp.n = 0;
	settings(&resp);
	block.n = 0;
	hpack(&block, ":status", "200");
	for (int i = 0; i < 600; i++)
		hpack(&block, "x-a", "b");
	frame(&resp, F_HEADERS, END_HEADERS, 1, block.b, block.n);
	expect_fail(s, T_HOLD_AND_DRAIN, "response headers over 16384 bytes");
	/* 70 KB of WINDOW_UPDATEs: over the bytes one check may read */
	resp.n = 0;
	settings(&resp);
	while (resp.n < 70000)
		frame(&resp, F_WINDOW, 0, 0, "\0\0\0\x01", 4);
	expect_fail(s, T_HOLD_AND_DRAIN, "response over 65536 bytes");
	/* PINGs, which nghttp2 answers: a flood of them fails the check too */
	resp.n = 0;
	settings(&resp);
	while (resp.n < 70000)
		frame(&resp, F_PING, 0, 0, "12345678", 8);
	expect_fail(s, T_HOLD_AND_DRAIN, "");
	t_srv_stop(s);
}

static void test_timeouts(void **state)
{
	(void)state;
	struct t_srv *s = t_srv_start("");
	t_srv_set(s, T_SILENT, NULL);
	struct fix *f = fix_new(s->port, NULL, NULL);
	run_checks(f, 1);
	assert_false(f->hs->last_ok);
	assert_string_equal(f->hs->last_result, "timeout after 200 ms (connected, no answer)");
	assert_int_equal(f->hs->results[FC_HEALTH_RESULT_TIMEOUT], 1);
	fix_free(f);
	resp.n = 0;
	settings(&resp);
	expect_fail(s, T_HOLD_AND_DRAIN, "timeout after 200 ms (connected, no response headers)");
	resp.n = 0;
	response_head(&resp);
	expect_fail(s, T_HOLD_AND_DRAIN, "timeout after 200 ms (reading the response)");
	t_srv_stop(s);
	/* nothing listens */
	f = fix_new(t_free_port(), NULL, NULL);
	run_checks(f, 1);
	assert_string_equal(f->hs->last_result, "connect refused");
	fix_free(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_request_encoding),
	        cmocka_unit_test(test_response_decoding),
	        cmocka_unit_test(test_reader),
	        cmocka_unit_test(test_message_decode),
	        cmocka_unit_test(test_serving_passes_and_request_is_right),
	        cmocka_unit_test(test_trailers_only_and_interim),
	        cmocka_unit_test(test_server_answering_at_once),
	        cmocka_unit_test(test_statuses_fail),
	        cmocka_unit_test(test_bad_messages_fail),
	        cmocka_unit_test(test_bad_connections_fail),
	        cmocka_unit_test(test_floods_fail),
	        cmocka_unit_test(test_timeouts),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
