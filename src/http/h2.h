/* h2.h — glue between nghttp2 sessions and fulcrum's buffers, for both
 * sides (the client connections of proxy/client_h2.c and the server
 * connections of proxy/upstream_h2.c). */
#ifndef FC_H2_H
#define FC_H2_H

#include <nghttp2/nghttp2.h>
#include <stddef.h>
#include <sys/types.h>

#include "core/buf.h"

/* The part of a serialized frame that did not fit the output buffer yet: it
 * points into nghttp2's own buffer, valid until the next mem_send. */
struct fc_h2_pending {
	const uint8_t *p;
	size_t n;
};

/* Copies what sess has to send into out (from wpos), first what pend
 * holds, stopping when out is full (pend then keeps the rest). Returns the
 * bytes copied, or a negative nghttp2 error. */
ssize_t fc_h2_fill(nghttp2_session *sess, struct fc_h2_pending *pend, struct fc_buf *out);

/* The send callback of a session whose output is only taken with
 * nghttp2_session_mem_send (fc_h2_fill): nghttp2 needs one; it fails. */
ssize_t fc_h2_no_send(nghttp2_session *sess, const uint8_t *data, size_t len, int flags, void *ud);

#endif
