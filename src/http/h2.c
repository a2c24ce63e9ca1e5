/* h2.c — nghttp2's output into fulcrum's buffers. */
#include "http/h2.h"

#include <string.h>

static size_t put(struct fc_h2_pending *pend, struct fc_buf *out)
{
	size_t k = pend->n < fc_buf_room(out) ? pend->n : fc_buf_room(out);
	memcpy(out->data + out->wpos, pend->p, k);
	out->wpos += (uint32_t)k;
	pend->p += k;
	pend->n -= k;
	return k;
}

ssize_t fc_h2_fill(nghttp2_session *sess, struct fc_h2_pending *pend, struct fc_buf *out)
{
	size_t copied = 0;
	if (fc_buf_room(out) < 512)
		fc_buf_compact(out);
	for (;;) {
		if (pend->n) {
			copied += put(pend, out);
			if (pend->n)
				return (ssize_t)copied; /* full */
		}
		if (!fc_buf_room(out))
			return (ssize_t)copied;
		const uint8_t *p = NULL;
		ssize_t n = nghttp2_session_mem_send(sess, &p);
		if (n < 0)
			return n;
		if (n == 0)
			return (ssize_t)copied;
		pend->p = p;
		pend->n = (size_t)n;
	}
}

ssize_t fc_h2_no_send(nghttp2_session *sess, const uint8_t *data, size_t len, int flags, void *ud)
{
	(void)sess;
	(void)data;
	(void)len;
	(void)flags;
	(void)ud;
	return NGHTTP2_ERR_CALLBACK_FAILURE;
}
