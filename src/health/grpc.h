/* grpc.h — the parts of gRPC a health check speaks, without I/O: the
 * length-prefixed messages of gRPC over HTTP/2 (grpc's PROTOCOL-HTTP2.md:
 * one flag byte, a 4-byte big-endian length, the message), the two messages
 * of grpc.health.v1 (health.proto) in protobuf's wire format, written and
 * read by hand, the status code names and grpc-message's percent-encoding. */
#ifndef FC_HEALTH_GRPC_H
#define FC_HEALTH_GRPC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FC__GRPC_PREFIX 5 /* flag byte and length before each message */
/* A response message longer than this is refused (a HealthCheckResponse
 * is 2 bytes; room for fields a newer server may add). */
#define FC__GRPC_MSG_MAX 16384
/* Room fc__grpc_check_request needs for a service name of n bytes. */
#define FC__GRPC_CHECK_REQUEST_MAX(n) (FC__GRPC_PREFIX + 1 + 10 + (size_t)(n))

/* HealthCheckResponse.ServingStatus */
enum fc__grpc_serving {
	FC__GRPC_UNKNOWN = 0,
	FC__GRPC_SERVING = 1,
	FC__GRPC_NOT_SERVING = 2,
	FC__GRPC_SERVICE_UNKNOWN = 3,
};

/** Writes HealthCheckRequest{service = service} as one uncompressed,
 * length-prefixed gRPC message into out (cap bytes). Returns its length, or
 * 0 when it does not fit (FC__GRPC_CHECK_REQUEST_MAX says how much will). */
size_t fc__grpc_check_request(const char *service, uint8_t *out, size_t cap);

/** Decodes a HealthCheckResponse from p[0..n) (the message, no prefix):
 * *status is its field 1 (the last one when repeated, as protobuf reads it;
 * 0, UNKNOWN, when absent). Unknown fields are skipped. Returns 0, or
 * -EBADMSG with *why (static text) for bytes that are no protobuf message
 * or a field 1 that is not a varint. */
int fc__grpc_check_response(const uint8_t *p, size_t n, uint32_t *status, const char **why);

/** "SERVING", "NOT_SERVING", ...; NULL for a value health.proto lacks. */
const char *fc__grpc_serving_name(uint32_t status);

/** A status code's name, lower case ("unimplemented", "not_found"); NULL
 * outside 0..16. */
const char *fc__grpc_code_name(int code);

/* The messages of one response stream, fed as DATA arrives. A unary
 * response has one: it is kept (up to FC__GRPC_MSG_MAX bytes); a second
 * one, a compressed one or an over-long one is an error. */
struct fc__grpc_reader {
	uint8_t prefix[FC__GRPC_PREFIX];
	uint8_t prefix_len;            /* bytes of the next prefix seen */
	bool in_message;               /* the prefix is complete, the message is being read */
	uint32_t want, got;            /* its length and the bytes of it seen */
	uint32_t n_messages;           /* complete messages */
	char why[96];                  /* the error, once there was one */
	uint8_t msg[FC__GRPC_MSG_MAX]; /* the first message */
};

void fc__grpc_reader_init(struct fc__grpc_reader *r);
/** Takes n more bytes of the stream. 0, or -EBADMSG with r->why (and every
 * later call fails the same way). */
int fc__grpc_reader_feed(struct fc__grpc_reader *r, const uint8_t *p, size_t n);
/** The stream ended: 0 between two messages, -EBADMSG with r->why inside
 * one (truncated). */
int fc__grpc_reader_end(struct fc__grpc_reader *r);

/** Decodes grpc-message's percent-encoding of in[0..n) into out (cap > 0
 * bytes, NUL-terminated, cut to fit), for a log line: bytes outside
 * printable ASCII become '?'. Returns the length written. */
size_t fc__grpc_message_decode(const char *in, size_t n, char *out, size_t cap);

#endif
