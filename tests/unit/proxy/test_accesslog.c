/* test_accesslog.c — the access log's hand formatting against what printf
 * wrote before (milliseconds with "%.3f", integers, whole lines in both
 * formats, escaping), and the per-second timestamp cache. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "core/log.h"
#include "proxy/accesslog.h"

static uint64_t rng = 0x9E3779B97F4A7C15ull;

static uint64_t next(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static void expect_ms(uint64_t ns)
{
	char want[64], got[64];
	snprintf(want, sizeof(want), "%.3f", (double)ns / 1e6);
	size_t n = fc_accesslog_format_ms(got, ns);
	got[n] = 0;
	if (strcmp(want, got) != 0)
		fail_msg("ns %llu: printf %s, by hand %s", (unsigned long long)ns, want, got);
}

static void test_ms_small_and_ties(void **state)
{
	(void)state;
	/* every value up to 2 ms: sub-millisecond, every tie (x500 ns) */
	for (uint64_t ns = 0; ns <= 2000000; ns++)
		expect_ms(ns);
	/* exact binary ties printf rounds to even, and their neighbours */
	static const uint64_t v[] = {62500,   187500,   312500,   437500,   562500,    687500,
	                             812500,  937500,   999500,   999499,   999999,    1000500,
	                             1999500, 12345500, 62500000, 62562500, 1062500000};
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++)
		expect_ms(v[i]);
	assert_true(1);
}

static void test_ms_large_and_random(void **state)
{
	(void)state;
	static const uint64_t v[] = {
	        123000,
	        456789,
	        1000000,
	        999999999,
	        1000000000,
	        60000000000ull,
	        3600000000000ull,
	        86400000000000ull,
	        1000000000000ull,
	        (1ull << 53) - 1,
	        (1ull << 53) - 500,
	        9007199254740500ull,
	};
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++)
		expect_ms(v[i]);
	/* random values of every magnitude below 2^53, and their ties */
	for (int i = 0; i < 2000000; i++) {
		int bits = 1 + (int)(next() % 53);
		uint64_t ns = next() & ((1ull << bits) - 1);
		expect_ms(ns);
		expect_ms(ns / 1000 * 1000 + 500);
	}
	/* beyond 2^53 the exact decimal, rounded half up */
	char got[64];
	got[fc_accesslog_format_ms(got, UINT64_MAX)] = 0;
	assert_string_equal(got, "18446744073709.552");
}

static void test_u64(void **state)
{
	(void)state;
	char want[32], got[32];
	static const uint64_t v[] = {0,         1, 9, 10, 99, 100, 4294967295ull, 4294967296ull,
	                             UINT64_MAX};
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]) + 100000; i++) {
		uint64_t x = i < sizeof(v) / sizeof(v[0]) ? v[i] : next() >> (next() % 64);
		snprintf(want, sizeof(want), "%llu", (unsigned long long)x);
		got[fc_accesslog_format_u64(got, x)] = 0;
		assert_string_equal(got, want);
	}
}

/* ---- the lines as the printf code wrote them (a copy, as the reference) */

static const char hex[] = "0123456789abcdef";

static size_t ref_json_escape(char *out, size_t cap, const char *s, size_t n)
{
	size_t o = 0;
	for (size_t i = 0; i < n && o + 7 < cap; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '"' || c == '\\') {
			out[o++] = '\\';
			out[o++] = (char)c;
		} else if (c < 0x20 || c >= 0x7f) {
			memcpy(out + o, "\\u00", 4);
			out[o + 4] = hex[c >> 4];
			out[o + 5] = hex[c & 15];
			o += 6;
		} else {
			out[o++] = (char)c;
		}
	}
	return o;
}

static size_t ref_text_escape(char *out, size_t cap, const char *s, size_t n)
{
	size_t o = 0;
	for (size_t i = 0; i < n && o + 5 < cap; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '"' || c == '\\' || c < 0x20 || c >= 0x7f) {
			out[o++] = '\\';
			out[o++] = 'x';
			out[o++] = hex[c >> 4];
			out[o++] = hex[c & 15];
		} else {
			out[o++] = (char)c;
		}
	}
	return o;
}

/* The fields after total_ms (connect and head times, retries, user agent,
 * a tunnel's bytes_in) and the line's end, with printf. */
static int ref_new_fields(char *out, size_t cap, bool json, const struct fc_accesslog_fields *f)
{
	static const char *const names[] = {"-",
	                                    "connect_refused",
	                                    "connect_failed",
	                                    "connect_timeout",
	                                    "tls_handshake",
	                                    "tls",
	                                    "reset",
	                                    "eof",
	                                    "stale",
	                                    "timeout",
	                                    "status_502",
	                                    "status_503",
	                                    "status_504"};
	char conn[32], head[32], why[256] = "", ua[128 * 6 + 8];
	const char *none = json ? "null" : "-";
	snprintf(conn, sizeof(conn), "%.3f", (double)f->connect_ns / 1e6);
	snprintf(head, sizeof(head), "%.3f", (double)f->head_ns / 1e6);
	for (unsigned i = 0; i < f->retries && i < 8; i++) {
		const char *w = names[(f->retry_why >> (4 * i)) & 15];
		size_t l = strlen(why);
		snprintf(why + l, sizeof(why) - l, json ? "%s\"%s\"" : "%s%s", i ? "," : "", w);
	}
	if (!json && !f->retries)
		strcpy(why, "-");
	char uaf[sizeof(ua) + 2];
	if (f->ua) {
		size_t ul = (json ? ref_json_escape : ref_text_escape)(ua, sizeof(ua), f->ua,
		                                                       f->ua_len);
		snprintf(uaf, sizeof(uaf), "\"%.*s\"", (int)ul, ua);
	} else {
		snprintf(uaf, sizeof(uaf), "%s", none);
	}
	char tun[48] = "";
	if (f->tunnel)
		snprintf(tun, sizeof(tun), json ? ",\"bytes_in\":%llu" : " bytes_in=%llu",
		         (unsigned long long)f->bytes_in);
	if (json)
		return snprintf(out, cap,
		                ",\"connect_ms\":%s,\"head_ms\":%s,\"retries\":%u,"
		                "\"retry_reasons\":[%s],\"user_agent\":%s%s}\n",
		                f->has_connect ? conn : none, f->has_head ? head : none,
		                (unsigned)f->retries, why, uaf, tun);
	return snprintf(out, cap,
	                " connect_ms=%s head_ms=%s retries=%u retry_reasons=%s user_agent=%s%s\n",
	                f->has_connect ? conn : none, f->has_head ? head : none,
	                (unsigned)f->retries, why, uaf, tun);
}

static int ref_line(char *out, size_t cap, bool json, const struct fc_accesslog_fields *f)
{
	const char *m, *p, *v, *s = f->line, *end = f->line + f->line_len;
	int ml, pl, vl;
	const char *sp1 = memchr(s, ' ', f->line_len);
	const char *sp2 = sp1 ? memchr(sp1 + 1, ' ', (size_t)(end - sp1 - 1)) : NULL;
	if (!sp1 || !sp2) {
		m = "-";
		ml = 1;
		p = f->line_len ? f->line : "-";
		pl = f->line_len ? (int)f->line_len : 1;
		v = "-";
		vl = 1;
	} else {
		m = s;
		ml = (int)(sp1 - s);
		p = sp1 + 1;
		pl = (int)(sp2 - sp1 - 1);
		v = sp2 + 1;
		vl = (int)(end - sp2 - 1);
	}
	size_t (*esc)(char *, size_t, const char *, size_t) =
	        json ? ref_json_escape : ref_text_escape;
	char em[64], ep[256 * 6 + 8], ev[64], ts[32], client[64];
	int eml = (int)esc(em, sizeof(em), m, (size_t)ml);
	int epl = (int)esc(ep, sizeof(ep), p, (size_t)pl);
	int evl = (int)esc(ev, sizeof(ev), v, (size_t)vl);
	memcpy(ts, f->time, FC_LOG_TIMESTAMP_LEN);
	ts[FC_LOG_TIMESTAMP_LEN] = 0;
	memcpy(client, f->client, f->client_len);
	client[f->client_len] = 0;
	double up_ms = (double)f->upstream_ns / 1e6, total_ms = (double)f->total_ns / 1e6;
	int n;
	if (json)
		n = snprintf(
		        out, cap,
		        "{\"time\":\"%s\",\"client\":\"%s\",\"method\":\"%.*s\",\"path\":\"%.*s\","
		        "\"proto\":\"%.*s\",\"status\":%d,\"bytes\":%llu,\"pool\":\"%s\","
		        "\"server\":\"%s\",\"upstream_ms\":%.3f,\"total_ms\":%.3f",
		        ts, client, eml, em, epl, ep, evl, ev, f->status,
		        (unsigned long long)f->bytes, f->pool, f->server, up_ms, total_ms);
	else
		n = snprintf(out, cap,
		             "%s %s \"%.*s %.*s %.*s\" %d %llu pool=%s server=%s upstream_ms=%.3f "
		             "total_ms=%.3f",
		             ts, client, eml, em, epl, ep, evl, ev, f->status,
		             (unsigned long long)f->bytes, f->pool, f->server, up_ms, total_ms);
	return n + ref_new_fields(out + n, cap - (size_t)n, json, f);
}

/* The fields after total_ms that expect_line's lines carry. */
static struct fc_accesslog_fields more;

static void expect_fields(const struct fc_accesslog_fields *fp)
{
	struct fc_accesslog_fields f = *fp;
	for (int json = 0; json <= 1; json++) {
		char want[8192];
		char *got = malloc(fc_accesslog_line_max(&f));
		assert_non_null(got);
		int wn = ref_line(want, sizeof(want), json, &f);
		assert_true(wn > 0 && (size_t)wn < sizeof(want));
		size_t n = fc_accesslog_format_line(got, json, &f);
		assert_true(n <= fc_accesslog_line_max(&f));
		if ((size_t)wn != n || memcmp(want, got, n) != 0)
			fail_msg("%s line differs:\nprintf:  %.*sby hand: %.*s",
			         json ? "json" : "text", wn, want, (int)n, got);
		free(got);
	}
}

static void expect_line(const char *line, size_t line_len, int status, uint64_t bytes, uint64_t up,
                        uint64_t total)
{
	struct fc_accesslog_fields f = {
	        .time = "2026-12-02T03:35:09.120Z",
	        .client = "2001:db8::1",
	        .client_len = 11,
	        .line = line,
	        .line_len = line_len,
	        .status = status,
	        .bytes = bytes,
	        .pool = "web",
	        .pool_len = 3,
	        .server = "srv-1",
	        .server_len = 5,
	        .upstream_ns = up,
	        .total_ns = total,
	        .connect_ns = more.connect_ns,
	        .head_ns = more.head_ns,
	        .has_connect = more.has_connect,
	        .has_head = more.has_head,
	        .retries = more.retries,
	        .retry_why = more.retry_why,
	        .ua = more.ua,
	        .ua_len = more.ua_len,
	        .tunnel = more.tunnel,
	        .bytes_in = more.bytes_in,
	};
	expect_fields(&f);
}

/* The fields after total_ms, at random: times present or not, 0..8
 * retries with any reasons, a user agent of random bytes or none, a tunnel. */
static char ua_bytes[128];

static void random_more(void)
{
	more.has_connect = next() % 3 != 0;
	more.connect_ns = next() >> (11 + next() % 53);
	more.has_head = next() % 3 != 0;
	more.head_ns = next() >> (11 + next() % 53);
	more.retries = (uint8_t)(next() % 4 == 0 ? next() % 9 : 0);
	more.retry_why = 0;
	for (unsigned i = 0; i < more.retries; i++)
		more.retry_why |= (uint32_t)(1 + next() % (FC_RETRY_N - 1)) << (4 * i);
	more.ua_len = next() % (sizeof(ua_bytes) + 1);
	for (size_t k = 0; k < more.ua_len; k++) {
		uint64_t r = next();
		ua_bytes[k] = r % 4 == 0 ? (char)(r >> 8) : (char)(' ' + r % 95);
	}
	more.ua = next() % 5 ? ua_bytes : NULL;
	more.tunnel = next() % 8 == 0;
	more.bytes_in = next() >> (next() % 64);
}

#define LINE(s) s, sizeof(s) - 1

static void test_lines_as_printf_wrote_them(void **state)
{
	(void)state;
	expect_line(LINE("GET /log/1?q=1 HTTP/1.1"), 200, 1234, 123456, 456789);
	expect_line(LINE("POST /status/404 HTTP/1.0"), 404, 0, 0, 500);
	expect_line(LINE("GET /q\"x\\y\x1b[31mred\x7f HTTP/1.1"), 502, 0, 0, 62500);
	expect_line(LINE("GET /\xc3\xa9\xff HTTP/1.1"), 200, UINT64_MAX, 1, 1000000000000ull);
	expect_line(LINE("garbage"), 400, 11, 0, 1); /* no spaces: "-" method and protocol */
	expect_line(LINE("GET /only-one"), 400, 11, 0, 1);
	expect_line("", 0, 408, 0, 0, 999500); /* nothing read: all "-" */
	expect_line(LINE("GET / HTTP/1.1"), 0, 0, 0, 0);
	expect_line(LINE("GET / HTTP/1.1"), -1, 0, 0, 0);
	/* a method and protocol long enough to hit the old 64-byte cut */
	char big[256];
	memset(big, '\x01', sizeof(big));
	big[40] = ' ';
	big[100] = ' ';
	expect_line(big, sizeof(big), 200, 1, 2, 3);
	memset(big, '"', sizeof(big));
	big[70] = ' ';
	big[72] = ' ';
	expect_line(big, sizeof(big), 200, 1, 2, 3);
	memset(big, 'A', sizeof(big)); /* clean: the copy is cut where the loop was */
	big[100] = ' ';
	big[180] = ' ';
	expect_line(big, sizeof(big), 200, 1, 2, 3);
	big[3] = '"';
	big[190] = '\n';
	expect_line(big, sizeof(big), 200, 1, 2, 3);
	/* random request lines of random bytes */
	for (int i = 0; i < 20000; i++) {
		size_t n = next() % 256;
		for (size_t k = 0; k < n; k++) {
			uint64_t r = next();
			big[k] = r % 8 == 0  ? ' '
			         : r % 8 < 4 ? (char)(r >> 8)
			                     : (char)('a' + r % 26);
		}
		random_more();
		expect_line(big, n, (int)(next() % 1000), next() >> (next() % 64),
		            next() >> (11 + next() % 53), next() >> (11 + next() % 53));
	}
	memset(&more, 0, sizeof(more));
}

/* ---- the timestamp */

static void ref_time(char out[32], int64_t sec, unsigned ms)
{
	time_t t = (time_t)sec;
	struct tm tm;
	gmtime_r(&t, &tm);
	snprintf(out, 32, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", (tm.tm_year + 1900) % 10000,
	         (tm.tm_mon + 1) % 100, tm.tm_mday % 100, tm.tm_hour % 100, tm.tm_min % 100,
	         tm.tm_sec % 100, (int)ms % 1000);
}

static void expect_time(struct fc_log_clock *c, int64_t sec, unsigned ms)
{
	char want[32], got[32];
	ref_time(want, sec, ms);
	fc_log_format_time(c, sec, ms, got);
	got[FC_LOG_TIMESTAMP_LEN] = 0;
	if (strcmp(want, got) != 0)
		fail_msg("%lld.%03u: gmtime %s, by hand %s", (long long)sec, ms, want, got);
}

/* A tunnel's line: the same fields, then the bytes the client sent through it. */
static void test_tunnel_line(void **state)
{
	(void)state;
	struct fc_accesslog_fields f = {
	        .time = "2026-12-02T03:35:09.120Z",
	        .client = "10.0.0.1",
	        .client_len = 8,
	        .line = "GET /chat HTTP/1.1",
	        .line_len = 18,
	        .status = 101,
	        .bytes = 2048,
	        .pool = "ws",
	        .pool_len = 2,
	        .server = "a",
	        .server_len = 1,
	        .upstream_ns = 1500000,
	        .total_ns = 61000000000ull,
	        .tunnel = true,
	        .bytes_in = 512,
	};
	char out[1024];
	assert_true(fc_accesslog_line_max(&f) <= sizeof(out));
	size_t n = fc_accesslog_format_line(out, false, &f);
	const char *text =
	        "2026-12-02T03:35:09.120Z 10.0.0.1 \"GET /chat HTTP/1.1\" 101 2048 pool=ws "
	        "server=a upstream_ms=1.500 total_ms=61000.000 connect_ms=- head_ms=- retries=0 "
	        "retry_reasons=- user_agent=- bytes_in=512\n";
	assert_int_equal(n, strlen(text));
	assert_memory_equal(out, text, n);
	n = fc_accesslog_format_line(out, true, &f);
	const char *json =
	        "{\"time\":\"2026-12-02T03:35:09.120Z\",\"client\":\"10.0.0.1\",\"method\":"
	        "\"GET\",\"path\":\"/chat\",\"proto\":\"HTTP/1.1\",\"status\":101,\"bytes\":"
	        "2048,\"pool\":\"ws\",\"server\":\"a\",\"upstream_ms\":1.500,\"total_ms\":"
	        "61000.000,\"connect_ms\":null,\"head_ms\":null,\"retries\":0,\"retry_reasons\":[],"
	        "\"user_agent\":null,\"bytes_in\":512}\n";
	assert_int_equal(n, strlen(json));
	assert_memory_equal(out, json, n);
}

/* The fields after total_ms, written out: a request retried twice, with a
 * user agent that needs escaping in both formats. */
static void test_timing_retries_user_agent(void **state)
{
	(void)state;
	static const char ua[] = "Mozilla/5.0 \"x\\y\" \xc3\xa9\x01";
	struct fc_accesslog_fields f = {
	        .time = "2026-12-02T03:35:09.120Z",
	        .client = "10.0.0.1",
	        .client_len = 8,
	        .line = "GET / HTTP/1.1",
	        .line_len = 14,
	        .status = 200,
	        .bytes = 99,
	        .pool = "web",
	        .pool_len = 3,
	        .server = "b",
	        .server_len = 1,
	        .upstream_ns = 202500000,
	        .total_ns = 203000000,
	        .connect_ns = 250000,
	        .has_connect = true,
	        .head_ns = 202750000,
	        .has_head = true,
	        .retries = 2,
	        .retry_why = FC_RETRY_CONNECT_REFUSED | FC_RETRY_STALE << 4,
	        .ua = ua,
	        .ua_len = sizeof(ua) - 1,
	};
	char out[2048];
	assert_true(fc_accesslog_line_max(&f) <= sizeof(out));
	size_t n = fc_accesslog_format_line(out, false, &f);
	const char *text = "2026-12-02T03:35:09.120Z 10.0.0.1 \"GET / HTTP/1.1\" 200 99 pool=web "
	                   "server=b upstream_ms=202.500 total_ms=203.000 connect_ms=0.250 "
	                   "head_ms=202.750 retries=2 retry_reasons=connect_refused,stale "
	                   "user_agent=\"Mozilla/5.0 \\x22x\\x5cy\\x22 \\xc3\\xa9\\x01\"\n";
	assert_int_equal(n, strlen(text));
	assert_memory_equal(out, text, n);
	n = fc_accesslog_format_line(out, true, &f);
	const char *json =
	        "{\"time\":\"2026-12-02T03:35:09.120Z\",\"client\":\"10.0.0.1\",\"method\":"
	        "\"GET\",\"path\":\"/\",\"proto\":\"HTTP/1.1\",\"status\":200,\"bytes\":99,"
	        "\"pool\":\"web\",\"server\":\"b\",\"upstream_ms\":202.500,\"total_ms\":"
	        "203.000,\"connect_ms\":0.250,\"head_ms\":202.750,\"retries\":2,"
	        "\"retry_reasons\":[\"connect_refused\",\"stale\"],\"user_agent\":"
	        "\"Mozilla/5.0 \\\"x\\\\y\\\" \\u00c3\\u00a9\\u0001\"}\n";
	assert_int_equal(n, strlen(json));
	assert_memory_equal(out, json, n);
	/* every reason by its name; more retries than reasons kept list 8 */
	for (int r = FC_RETRY_NONE; r < FC_RETRY_N; r++)
		assert_non_null(fc_accesslog_retry_name((enum fc_retry_why)r));
	assert_string_equal(fc_accesslog_retry_name(FC_RETRY_CONNECT_TIMEOUT), "connect_timeout");
	assert_string_equal(fc_accesslog_retry_name(FC_RETRY_TIMEOUT), "timeout");
	assert_string_equal(fc_accesslog_retry_name(FC_RETRY_STATUS_503), "status_503");
	assert_string_equal(fc_accesslog_retry_name(FC_RETRY_N), "-");
	f.retries = 9;
	f.retry_why = 0x76543217u;
	f.ua = "";
	f.ua_len = 0;
	f.has_connect = f.has_head = false;
	n = fc_accesslog_format_line(out, false, &f);
	out[n] = 0;
	assert_non_null(strstr(out, " connect_ms=- head_ms=- retries=9 retry_reasons=eof,"
	                            "connect_refused,connect_failed,connect_timeout,tls_handshake,"
	                            "tls,reset,eof user_agent=\"\"\n"));
}

static void test_time_format(void **state)
{
	(void)state;
	struct fc_log_clock c;
	fc_log_clock_init(&c);
	static const int64_t v[] = {0,          59,         86399,      86400,       68169599,
	                            951782400,  951868799,  951868800,  4107542399,  4107542400,
	                            1796182509, 2147483647, 2147483648, 253402300799};
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++)
		expect_time(&c, v[i], 120);
	for (int i = 0; i < 200000; i++)
		expect_time(&c, (int64_t)(next() % 253402300800ull), (unsigned)(next() % 1000));
	char ts[32];
	fc_log_timestamp(ts);
	assert_int_equal(strlen(ts), FC_LOG_TIMESTAMP_LEN);
	assert_true(ts[10] == 'T' && ts[19] == '.' && ts[23] == 'Z');
}

static void test_time_cache(void **state)
{
	(void)state;
	struct fc_log_clock c;
	fc_log_clock_init(&c);
	char got[32] = "";
	/* 2026-12-02T03:35:09: the prefix is kept, each line its own millis */
	int64_t s = 1796182509;
	static const unsigned ms[] = {120, 0, 1, 999, 500, 7};
	for (size_t i = 0; i < sizeof(ms) / sizeof(ms[0]); i++) {
		char want[32];
		fc_log_format_time(&c, s, ms[i], got);
		snprintf(want, sizeof(want), "2026-12-02T03:35:09.%03uZ", ms[i]);
		assert_memory_equal(got, want, FC_LOG_TIMESTAMP_LEN);
		assert_int_equal(c.sec, s);
	}
	/* the next second, the next day and a step back are all picked up */
	fc_log_format_time(&c, s + 1, 0, got);
	assert_memory_equal(got, "2026-12-02T03:35:10.000Z", FC_LOG_TIMESTAMP_LEN);
	fc_log_format_time(&c, s + 86400 - 9, 5, got);
	assert_memory_equal(got, "2026-12-03T03:35:00.005Z", FC_LOG_TIMESTAMP_LEN);
	fc_log_format_time(&c, s, 120, got);
	assert_memory_equal(got, "2026-12-02T03:35:09.120Z", FC_LOG_TIMESTAMP_LEN);
	/* a second that differs but looks the same in a stale cache: recomputed */
	fc_log_format_time(&c, s + 60, 120, got);
	assert_memory_equal(got, "2026-12-02T03:36:09.120Z", FC_LOG_TIMESTAMP_LEN);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_ms_small_and_ties),
	        cmocka_unit_test(test_ms_large_and_random),
	        cmocka_unit_test(test_u64),
	        cmocka_unit_test(test_lines_as_printf_wrote_them),
	        cmocka_unit_test(test_tunnel_line),
	        cmocka_unit_test(test_timing_retries_user_agent),
	        cmocka_unit_test(test_time_format),
	        cmocka_unit_test(test_time_cache),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
