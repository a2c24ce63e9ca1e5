/* grpc.c — gRPC's message framing, the grpc.health.v1 messages in
 * protobuf's wire format (varint keys: field number << 3 | wire type), the
 * status code names; pure functions for the gRPC health check. */
#include "core/hex.h"
#include "health/grpc.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static size_t put_varint(uint8_t *p, uint64_t v)
{
	size_t n = 0;
	while (v >= 0x80) {
		p[n++] = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	p[n++] = (uint8_t)v;
	return n;
}

/* A varint at p[*i..n): at most 10 bytes, the last without its top bit. */
static int get_varint(const uint8_t *p, size_t n, size_t *i, uint64_t *out)
{
	uint64_t v = 0;
	for (unsigned shift = 0; shift < 70; shift += 7) {
		if (*i >= n)
			return -EBADMSG;
		uint8_t c = p[(*i)++];
		v |= (uint64_t)(c & 0x7f) << shift;
		if (!(c & 0x80)) {
			*out = v;
			return 0;
		}
	}
	return -EBADMSG; /* over 10 bytes */
}

size_t fc__grpc_check_request(const char *service, uint8_t *out, size_t cap)
{
	size_t sl = service ? strlen(service) : 0;
	if (cap < FC__GRPC_CHECK_REQUEST_MAX(sl))
		return 0;
	size_t n = FC__GRPC_PREFIX;
	/* proto3: an empty string is not written at all */
	if (sl) {
		out[n++] = 1 << 3 | 2; /* field 1, length-delimited */
		n += put_varint(out + n, sl);
		memcpy(out + n, service, sl);
		n += sl;
	}
	uint32_t len = (uint32_t)(n - FC__GRPC_PREFIX);
	out[0] = 0; /* not compressed */
	out[1] = (uint8_t)(len >> 24);
	out[2] = (uint8_t)(len >> 16);
	out[3] = (uint8_t)(len >> 8);
	out[4] = (uint8_t)len;
	return n;
}

int fc__grpc_check_response(const uint8_t *p, size_t n, uint32_t *status, const char **why)
{
	size_t i = 0;
	uint64_t key, v;
	*status = FC__GRPC_UNKNOWN;
	while (i < n) {
		if (get_varint(p, n, &i, &key) < 0) {
			*why = "truncated field key";
			return -EBADMSG;
		}
		uint64_t field = key >> 3;
		unsigned type = key & 7;
		if (field == 0) {
			*why = "field number 0";
			return -EBADMSG;
		}
		switch (type) {
		case 0: /* varint */
			if (get_varint(p, n, &i, &v) < 0) {
				*why = "truncated varint";
				return -EBADMSG;
			}
			if (field == 1)
				*status = (uint32_t)v; /* an enum is an int32: keep the low bits */
			continue;
		case 1: /* 64-bit */
			v = 8;
			break;
		case 2: /* length-delimited */
			if (get_varint(p, n, &i, &v) < 0) {
				*why = "truncated length";
				return -EBADMSG;
			}
			break;
		case 5: /* 32-bit */
			v = 4;
			break;
		default: /* 3, 4: groups, gone from proto3; 6, 7: none */
			*why = "bad wire type";
			return -EBADMSG;
		}
		if (field == 1) {
			*why = "status is not a varint";
			return -EBADMSG;
		}
		if (v > n - i) {
			*why = "truncated field";
			return -EBADMSG;
		}
		i += (size_t)v;
	}
	return 0;
}

const char *fc__grpc_serving_name(uint32_t status)
{
	static const char *const names[] = {"UNKNOWN", "SERVING", "NOT_SERVING", "SERVICE_UNKNOWN"};
	return status < sizeof(names) / sizeof(names[0]) ? names[status] : NULL;
}

const char *fc__grpc_code_name(int code)
{
	static const char *const names[] = {
	        "ok",
	        "cancelled",
	        "unknown",
	        "invalid_argument",
	        "deadline_exceeded",
	        "not_found",
	        "already_exists",
	        "permission_denied",
	        "resource_exhausted",
	        "failed_precondition",
	        "aborted",
	        "out_of_range",
	        "unimplemented",
	        "internal",
	        "unavailable",
	        "data_loss",
	        "unauthenticated",
	};
	return code >= 0 && code < (int)(sizeof(names) / sizeof(names[0])) ? names[code] : NULL;
}

void fc__grpc_reader_init(struct fc__grpc_reader *r)
{
	r->prefix_len = 0;
	r->in_message = false;
	r->want = r->got = 0;
	r->n_messages = 0;
	r->why[0] = 0;
}

int fc__grpc_reader_feed(struct fc__grpc_reader *r, const uint8_t *p, size_t n)
{
	if (r->why[0])
		return -EBADMSG;
	while (n) {
		if (!r->in_message) {
			if (r->n_messages) {
				snprintf(r->why, sizeof(r->why), "more than one response message");
				return -EBADMSG;
			}
			size_t take = FC__GRPC_PREFIX - r->prefix_len;
			if (take > n)
				take = n;
			memcpy(r->prefix + r->prefix_len, p, take);
			r->prefix_len += (uint8_t)take;
			p += take;
			n -= take;
			if (r->prefix_len < FC__GRPC_PREFIX)
				return 0;
			uint32_t len = (uint32_t)r->prefix[1] << 24 | (uint32_t)r->prefix[2] << 16 |
			               (uint32_t)r->prefix[3] << 8 | r->prefix[4];
			if (r->prefix[0] == 1) {
				snprintf(
				        r->why, sizeof(r->why),
				        "compressed response message (no compression was offered)");
				return -EBADMSG;
			}
			if (r->prefix[0] != 0) {
				snprintf(r->why, sizeof(r->why), "bad message flags 0x%02x",
				         r->prefix[0]);
				return -EBADMSG;
			}
			if (len > FC__GRPC_MSG_MAX) {
				snprintf(r->why, sizeof(r->why),
				         "response message of %u bytes, over %u", len,
				         FC__GRPC_MSG_MAX);
				return -EBADMSG;
			}
			r->in_message = true;
			r->want = len;
			r->got = 0;
		}
		size_t take = r->want - r->got;
		if (take > n)
			take = n;
		memcpy(r->msg + r->got, p, take);
		r->got += (uint32_t)take;
		p += take;
		n -= take;
		if (r->got == r->want) {
			r->in_message = false;
			r->prefix_len = 0;
			r->n_messages++;
		}
	}
	return 0;
}

int fc__grpc_reader_end(struct fc__grpc_reader *r)
{
	if (r->why[0])
		return -EBADMSG;
	if (r->in_message) {
		snprintf(r->why, sizeof(r->why), "truncated response message (%u of %u bytes)",
		         r->got, r->want);
		return -EBADMSG;
	}
	if (r->prefix_len) {
		snprintf(r->why, sizeof(r->why), "truncated message prefix (%u of %u bytes)",
		         (unsigned)r->prefix_len, FC__GRPC_PREFIX);
		return -EBADMSG;
	}
	return 0;
}

size_t fc__grpc_message_decode(const char *in, size_t n, char *out, size_t cap)
{
	size_t o = 0;
	for (size_t i = 0; i < n && o + 1 < cap; i++) {
		unsigned char c = (unsigned char)in[i];
		int hi, lo;
		if (c == '%' && i + 2 < n && (hi = fc_hex_digit(in[i + 1])) >= 0 &&
		    (lo = fc_hex_digit(in[i + 2])) >= 0) {
			c = (unsigned char)(hi << 4 | lo);
			i += 2;
		}
		out[o++] = c >= 0x20 && c < 0x7f ? (char)c : '?';
	}
	out[o] = 0;
	return o;
}
