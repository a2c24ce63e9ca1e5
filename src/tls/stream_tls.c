/* stream_tls.c — the TLS layer of a stream. OpenSSL reads and writes the
 * socket through a BIO whose calls are the TCP stream's (so both loops work
 * unchanged). Writing never blocks OpenSSL: ciphertext the socket does not
 * take waits in the layer's own buffer (pend), and plaintext is taken only
 * while that buffer is empty, which is the backpressure. Receives decrypt
 * until the owner's room is full or the socket has nothing more, so a short
 * count still means an event follows (no decrypted bytes are left behind
 * that no edge would announce). */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <arpa/inet.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "tls/tls_internal.h"

/* Plaintext per SSL_write: one full record. */
#define CHUNK 16384

enum { HANDSHAKE, OPEN, FAILED };

struct tls_conn {
	struct fc_stream_layer base; /* first */
	SSL *ssl;
	struct fc_loop *loop; /* for the BIO calls */
	struct fc_stream *s;
	char *pend; /* ciphertext the socket did not take yet */
	uint32_t pend_len, pend_cap;
	int err;                      /* -errno the TCP side reported during an OpenSSL call */
	uint8_t state;                /* HANDSHAKE, OPEN, FAILED */
	bool connecting;              /* client: the TCP connect is not over */
	bool shut_wanted;             /* shutdown_write waits for pend to drain */
	bool drained;                 /* the last receive was short: no bytes until the next edge */
	char *why;                    /* the failure, for the log */
	struct fc_tls_server *server; /* referenced: its SNI callback may run until the end */
};

static const struct fc_stream_ops tls_ops;

static inline struct tls_conn *conn(struct fc_loop *loop, const struct fc_stream *s)
{
	return (struct tls_conn *)fc_stream_layer(loop, s);
}

/* s's TLS layer, or NULL (plain, or another layer). */
static inline struct tls_conn *tls_of(const struct fc_loop *loop, const struct fc_stream *s)
{
	struct fc_stream_layer *l = fc_stream_layer(loop, s);
	return l && l->ops == &tls_ops ? (struct tls_conn *)l : NULL;
}

/* ---------------------------------------------------------------- BIO */

static BIO_METHOD *bio_method;
static pthread_once_t bio_once = PTHREAD_ONCE_INIT;

static int bio_read(BIO *b, char *buf, int len)
{
	struct tls_conn *c = BIO_get_data(b);
	BIO_clear_retry_flags(b);
	if (c->drained) {
		/* the socket had no more a moment ago and no edge came since: the
		 * read(2) that would say EAGAIN is not worth its system call */
		c->drained = false;
		BIO_set_retry_read(b);
		return -1;
	}
	ssize_t n = fc_stream_tcp_recv(c->loop, c->s, buf, (size_t)len);
	if (n > 0) {
		c->drained = (size_t)n < (size_t)len;
		return (int)n;
	}
	if (n == 0)
		return 0;
	if (n == -EAGAIN) {
		BIO_set_retry_read(b);
	} else {
		c->err = (int)n;
	}
	return -1;
}

static bool pend_add(struct tls_conn *c, const char *p, size_t n)
{
	if (c->pend_len + n > c->pend_cap) {
		size_t cap = c->pend_cap ? c->pend_cap : 4096;
		while (cap < c->pend_len + n)
			cap *= 2;
		char *np = realloc(c->pend, cap);
		if (!np)
			return false;
		c->pend = np;
		c->pend_cap = (uint32_t)cap;
	}
	memcpy(c->pend + c->pend_len, p, n);
	c->pend_len += (uint32_t)n;
	return true;
}

static int bio_write(BIO *b, const char *buf, int len)
{
	struct tls_conn *c = BIO_get_data(b);
	BIO_clear_retry_flags(b);
	size_t took = 0;
	if (c->pend_len == 0) {
		struct iovec iov = {(void *)buf, (size_t)len};
		ssize_t n = fc_stream_tcp_send(c->loop, c->s, &iov, 1);
		if (n < 0 && n != -EAGAIN) {
			c->err = (int)n;
			return -1;
		}
		took = n > 0 ? (size_t)n : 0;
	}
	if (took < (size_t)len && !pend_add(c, buf + took, (size_t)len - took)) {
		c->err = -ENOMEM;
		return -1;
	}
	return len;
}

static long bio_ctrl(BIO *b, int cmd, long num, void *ptr)
{
	(void)b;
	(void)num;
	(void)ptr;
	return cmd == BIO_CTRL_FLUSH ? 1 : 0;
}

static void bio_init_method(void)
{
	bio_method = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "fulcrum stream");
	if (!bio_method)
		return;
	BIO_meth_set_read(bio_method, bio_read);
	BIO_meth_set_write(bio_method, bio_write);
	BIO_meth_set_ctrl(bio_method, bio_ctrl);
}

/* ---------------------------------------------------------------- helpers */

/* Hands pend to the socket. True when it is empty. */
static bool flush_pend(struct tls_conn *c)
{
	while (c->pend_len) {
		struct iovec iov = {c->pend, c->pend_len};
		ssize_t n = fc_stream_tcp_send(c->loop, c->s, &iov, 1);
		if (n == -EAGAIN || n == 0)
			return false;
		if (n < 0) {
			c->err = (int)n;
			c->pend_len = 0;
			break;
		}
		memmove(c->pend, c->pend + n, c->pend_len - (size_t)n);
		c->pend_len -= (uint32_t)n;
	}
	if (c->pend_cap > 16384) { /* a big burst is over: give it back */
		free(c->pend);
		c->pend = NULL;
		c->pend_cap = 0;
	}
	if (c->shut_wanted) {
		c->shut_wanted = false;
		fc_stream_tcp_shutdown_write(c->loop, c->s);
	}
	return true;
}

static void fail(struct tls_conn *c, const char *why)
{
	c->state = FAILED;
	if (!c->err)
		c->err = -EPROTO;
	if (!c->why && why)
		c->why = strdup(why);
}

/* Records why an OpenSSL call failed (ssl error code e). */
static void fail_ssl(struct tls_conn *c, int e)
{
	char buf[256];
	unsigned long code = ERR_peek_last_error();
	long vr = SSL_get_verify_result(c->ssl);
	if (vr != X509_V_OK && SSL_is_server(c->ssl) == 0) {
		snprintf(buf, sizeof(buf), "certificate verify failed: %s",
		         X509_verify_cert_error_string(vr));
	} else if (code) {
		const char *r = ERR_reason_error_string(code);
		snprintf(buf, sizeof(buf), "%s", r ? r : "TLS error");
	} else if (e == SSL_ERROR_SYSCALL || c->err) {
		snprintf(buf, sizeof(buf), "connection lost during TLS (%s)",
		         c->err ? strerror(-c->err) : "end of input");
	} else {
		snprintf(buf, sizeof(buf), "TLS error %d", e);
	}
	ERR_clear_error();
	int err = c->err;
	fail(c, buf);
	/* a TCP error stays what it is; anything else is a TLS failure */
	c->err = err ? err : -EPROTO;
}

/* Runs the handshake: 1 done, 0 wants more I/O, -1 failed. */
static int handshake(struct tls_conn *c)
{
	if (c->state == OPEN)
		return 1;
	if (c->state == FAILED)
		return -1;
	int r = SSL_do_handshake(c->ssl);
	flush_pend(c);
	if (r == 1) {
		c->state = OPEN;
		return 1;
	}
	int e = SSL_get_error(c->ssl, r);
	if ((e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) && !c->err)
		return 0;
	fail_ssl(c, e);
	return -1;
}

/* ---------------------------------------------------------------- events */

static void on_event(struct fc_loop *loop, struct fc_io *io, uint32_t ev)
{
	struct fc_stream *s = (struct fc_stream *)io;
	struct tls_conn *c = conn(loop, s);
	fc_io_fn owner = c->base.handler;
	if (ev & (EPOLLIN | EPOLLHUP | EPOLLERR))
		c->drained = false;
	if (c->connecting) {
		if (!(ev & (EPOLLOUT | EPOLLERR | EPOLLHUP)))
			return;
		int e = fc_stream_tcp_connect_result(loop, s);
		if (e) {
			c->err = e;
			c->state = FAILED;
			owner(loop, io, ev | EPOLLOUT);
			return;
		}
		c->connecting = false;
		fc_stream_tcp_connected(loop, s);
	}
	if (ev & EPOLLOUT)
		flush_pend(c);
	if (c->state == HANDSHAKE) {
		int r = handshake(c);
		if (r == 0)
			return; /* the owner has nothing to do yet */
		/* done or failed: the owner retries both ways and learns which */
		ev |= EPOLLIN | EPOLLOUT;
	}
	owner(loop, io, ev);
}

/* ---------------------------------------------------------------- ops */

/* 0 once the stream can carry bytes (the handshake runs on the way), else
 * what a receive or send answers now: -EAGAIN, or the failure. */
static int not_open(struct tls_conn *c)
{
	if (c->connecting)
		return -EAGAIN;
	int h = handshake(c);
	return h > 0 ? 0 : h == 0 ? -EAGAIN : c->err;
}

static ssize_t tls_recv(struct fc_loop *loop, struct fc_stream *s, char *dst, size_t room)
{
	struct tls_conn *c = conn(loop, s);
	int rc = not_open(c);
	if (rc)
		return rc;
	size_t total = 0;
	int e = SSL_ERROR_NONE;
	while (total < room) {
		size_t got = 0;
		if (SSL_read_ex(c->ssl, dst + total, room - total, &got) == 1) {
			total += got;
			continue;
		}
		e = SSL_get_error(c->ssl, 0);
		break;
	}
	if (c->pend_len)
		flush_pend(c);
	if (total)
		return (ssize_t)total;
	switch (e) {
	case SSL_ERROR_NONE:
		return -EAGAIN; /* room was 0 */
	case SSL_ERROR_WANT_READ:
	case SSL_ERROR_WANT_WRITE:
		if (!c->err)
			return -EAGAIN;
		break;
	case SSL_ERROR_ZERO_RETURN:
		return 0; /* close_notify, or the end without one */
	}
	fail_ssl(c, e);
	return c->err;
}

static ssize_t tls_send(struct fc_loop *loop, struct fc_stream *s, const struct iovec *iov, int n)
{
	static _Thread_local char stage[CHUNK];
	struct tls_conn *c = conn(loop, s);
	int rc = not_open(c);
	if (rc)
		return rc;
	if (!flush_pend(c))
		return c->err ? c->err : -EAGAIN;
	size_t took = 0;
	int i = 0;
	size_t off = 0; /* into iov[i] */
	while (i < n && c->pend_len == 0) {
		const char *p;
		size_t len;
		if (iov[i].iov_len - off >= CHUNK) { /* a full record straight from it */
			p = (const char *)iov[i].iov_base + off;
			len = CHUNK;
			off += CHUNK;
		} else { /* gather small pieces into one record */
			len = 0;
			while (i < n && len < CHUNK) {
				size_t k = iov[i].iov_len - off;
				if (k > CHUNK - len)
					k = CHUNK - len;
				memcpy(stage + len, (const char *)iov[i].iov_base + off, k);
				len += k;
				off += k;
				if (off == iov[i].iov_len) {
					i++;
					off = 0;
				}
			}
			p = stage;
		}
		if (i < n && off == iov[i].iov_len) {
			i++;
			off = 0;
		}
		if (len == 0)
			continue;
		size_t w = 0;
		if (SSL_write_ex(c->ssl, p, len, &w) != 1 || w != len) {
			int e = SSL_get_error(c->ssl, 0);
			fail_ssl(c, e);
			return took ? (ssize_t)took : c->err;
		}
		took += len;
	}
	return (ssize_t)took;
}

static bool tls_flushed(struct fc_loop *loop, struct fc_stream *s)
{
	struct tls_conn *c = conn(loop, s);
	return flush_pend(c) && fc_stream_tcp_flushed(loop, s);
}

static int tls_shutdown_write(struct fc_loop *loop, struct fc_stream *s)
{
	struct tls_conn *c = conn(loop, s);
	if (c->state == OPEN && !(SSL_get_shutdown(c->ssl) & SSL_SENT_SHUTDOWN)) {
		SSL_shutdown(c->ssl); /* close_notify */
		ERR_clear_error();
	}
	if (!flush_pend(c)) {
		c->shut_wanted = true;
		return 0;
	}
	return fc_stream_tcp_shutdown_write(loop, s);
}

static void tls_close(struct fc_loop *loop, struct fc_stream *s)
{
	struct tls_conn *c = conn(loop, s);
	if (c->state == OPEN && !(SSL_get_shutdown(c->ssl) & SSL_SENT_SHUTDOWN)) {
		SSL_shutdown(c->ssl); /* best effort: the socket may take it */
		flush_pend(c);
	}
	ERR_clear_error();
	s->io.cb = c->base.handler;
	fc_stream_set_layer(loop, s, NULL);
	SSL_free(c->ssl);
	fc_tls_server_destroy(c->server);
	free(c->pend);
	free(c->why);
	free(c);
}

static int tls_connect_result(struct fc_loop *loop, struct fc_stream *s)
{
	struct tls_conn *c = conn(loop, s);
	if (c->state == FAILED)
		return c->err ? c->err : -EPROTO;
	return c->state == OPEN ? 0 : -EAGAIN;
}

static const struct fc_stream_ops tls_ops = {
        .recv = tls_recv,
        .send = tls_send,
        .flushed = tls_flushed,
        .shutdown_write = tls_shutdown_write,
        .close = tls_close,
        .connect_result = tls_connect_result,
};

/* ---------------------------------------------------------------- setup */

static struct tls_conn *layer_new(struct fc_loop *loop, struct fc_stream *s, SSL_CTX *ctx)
{
	pthread_once(&bio_once, bio_init_method);
	if (!bio_method)
		return NULL;
	struct tls_conn *c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->ssl = SSL_new(ctx);
	BIO *b = c->ssl ? BIO_new(bio_method) : NULL;
	if (!b) {
		SSL_free(c->ssl);
		free(c);
		ERR_clear_error();
		return NULL;
	}
	BIO_set_data(b, c);
	BIO_set_init(b, 1);
	SSL_set_bio(c->ssl, b, b);
	SSL_set_read_ahead(c->ssl, 1); /* whole records (and more) per receive */
	c->base.ops = &tls_ops;
	c->base.handler = s->io.cb;
	c->loop = loop;
	c->s = s;
	c->state = HANDSHAKE;
	return c;
}

int fc_tls_accept(struct fc_loop *loop, struct fc_stream *s, struct fc_tls_server *t)
{
	struct tls_conn *c = layer_new(loop, s, t->certs[0].ctx);
	if (!c)
		return -ENOMEM;
	SSL_set_accept_state(c->ssl);
	fc_tls_server_ref(t);
	c->server = t;
	int rc = fc_stream_set_layer(loop, s, &c->base);
	if (rc == 0) {
		s->io.cb = on_event;
		rc = fc_stream_open(loop, s);
		if (rc < 0)
			tls_close(loop, s);
	} else {
		SSL_free(c->ssl);
		fc_tls_server_destroy(t);
		free(c);
	}
	return rc;
}

static bool is_ip(const char *host)
{
	unsigned char buf[16];
	return inet_pton(AF_INET, host, buf) == 1 || inet_pton(AF_INET6, host, buf) == 1;
}

int fc_tls_connect(struct fc_loop *loop, struct fc_stream *s, const struct sockaddr *addr,
                   socklen_t len, struct fc_tls_client *t, const char *host)
{
	return fc_tls_connect_alpn(loop, s, addr, len, t, host, NULL);
}

int fc_tls_connect_alpn(struct fc_loop *loop, struct fc_stream *s, const struct sockaddr *addr,
                        socklen_t len, struct fc_tls_client *t, const char *host, const char *alpn)
{
	struct tls_conn *c = layer_new(loop, s, t->ctx);
	if (!c)
		return -ENOMEM;
	SSL_set_connect_state(c->ssl);
	if (alpn) {
		/* this connection offers alpn alone instead of the context's list */
		unsigned char wire[256];
		size_t n = strlen(alpn);
		if (n == 0 || n > 255) {
			SSL_free(c->ssl);
			free(c);
			return -EINVAL;
		}
		wire[0] = (unsigned char)n;
		memcpy(wire + 1, alpn, n);
		if (SSL_set_alpn_protos(c->ssl, wire, (unsigned)n + 1) != 0) {
			SSL_free(c->ssl);
			free(c);
			ERR_clear_error();
			return -ENOMEM;
		}
	}
	bool ip = is_ip(host);
	if (!ip)
		SSL_set_tlsext_host_name(c->ssl, host);
	if (t->verify) {
		X509_VERIFY_PARAM *vp = SSL_get0_param(c->ssl);
		int ok = ip ? X509_VERIFY_PARAM_set1_ip_asc(vp, host) : SSL_set1_host(c->ssl, host);
		if (ok != 1) {
			SSL_free(c->ssl);
			free(c);
			ERR_clear_error();
			return -EINVAL;
		}
	}
	c->connecting = true;
	fc_io_fn owner = s->io.cb;
	s->io.cb = on_event;
	int rc = fc_stream_connect_layer(loop, s, addr, len, &c->base);
	if (rc < 0) {
		s->io.cb = owner;
		SSL_free(c->ssl);
		free(c);
	}
	return rc;
}

bool fc_tls_handshaking(const struct fc_loop *loop, const struct fc_stream *s)
{
	struct tls_conn *c = tls_of(loop, s);
	return c && c->state == HANDSHAKE;
}

const char *fc_tls_failure(const struct fc_loop *loop, const struct fc_stream *s)
{
	struct tls_conn *c = tls_of(loop, s);
	return c ? c->why : NULL;
}

const char *fc_tls_version(const struct fc_loop *loop, const struct fc_stream *s)
{
	struct tls_conn *c = tls_of(loop, s);
	return c ? SSL_get_version(c->ssl) : NULL;
}

bool fc_tls_alpn_h2(const struct fc_loop *loop, const struct fc_stream *s)
{
	struct tls_conn *c = tls_of(loop, s);
	if (!c)
		return false;
	const unsigned char *p = NULL;
	unsigned int n = 0;
	SSL_get0_alpn_selected(c->ssl, &p, &n);
	return n == 2 && p[0] == 'h' && p[1] == '2';
}
