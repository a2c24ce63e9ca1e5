/* tls.h — TLS (OpenSSL 3) for both sides of the proxy.
 *  - struct fc_tls_server: one listener's certificates, chosen by SNI (exact
 *    names and wildcards, from each certificate's own SAN/CN; the first is
 *    the default), ALPN, session tickets whose keys every worker shares.
 *  - struct fc_tls_client: one pool's way to servers: verification (system
 *    CAs or the pool's ca:), an optional client certificate.
 *  - fc_tls_accept / fc_tls_connect put a TLS layer on a stream
 *    (core/stream.h); the owner then reads and sends through the fc_stream_*
 *    calls as on plain TCP and sees the same events. The layer runs the
 *    handshake by itself: a server stream's first receive starts it, a
 *    client stream's connect finishes (EPOLLOUT) only once it is done.
 * Contexts are built once per configuration and shared by all workers. */
#ifndef FC_TLS_H
#define FC_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#include "config/config.h"
#include "core/stream.h"

struct fc_tls_server;
struct fc_tls_client;

/* Receives one finished message, "file:line:col: key.path: text". */
typedef void (*fc_tls_report_fn)(void *arg, bool warning, const char *msg);

/* Reads the certificates of listener li of cfg. Problems go to report
 * (errors: unreadable file, key not matching its certificate; warnings:
 * expired or not yet valid certificate, a route host no certificate covers).
 * Returns NULL when there was an error. */
struct fc_tls_server *fc_tls_server_create(const struct fc_config *cfg, size_t li,
                                           fc_tls_report_fn report, void *arg);
/* Drops a reference (the creator holds the first; every connection accepted
 * with it holds one until it closes, so a reload may drop the listener's old
 * certificates while handshakes on them go on). */
void fc_tls_server_destroy(struct fc_tls_server *t);
void fc_tls_server_ref(struct fc_tls_server *t);

/* The same for pool pi's tls: (servers with https:// URLs). */
struct fc_tls_client *fc_tls_client_create(const struct fc_config *cfg, size_t pi,
                                           fc_tls_report_fn report, void *arg);
void fc_tls_client_destroy(struct fc_tls_client *t);

/* Builds and drops every context of cfg: what --check reports. Returns the
 * number of errors. */
size_t fc_tls_check_config(const struct fc_config *cfg, fc_tls_report_fn report, void *arg);

/* Registers an accepted fd (s->io set as for fc_stream_open) with a TLS
 * server layer. 0 or -errno. */
int fc_tls_accept(struct fc_loop *loop, struct fc_stream *s, struct fc_tls_server *t);
/* Connects as fc_stream_connect does, then runs the handshake with host as
 * SNI and the name to verify; EPOLLOUT reaches the owner once both are
 * done (fc_stream_connect_result: 0, -errno from the connect, -EPROTO
 * from TLS: see fc_tls_failure). */
int fc_tls_connect(struct fc_loop *loop, struct fc_stream *s, const struct sockaddr *addr,
                   socklen_t len, struct fc_tls_client *t, const char *host);
/* The same, offering alpn (one protocol name, "h2") in ALPN instead of the
 * pool's http/1.1: what the server chose is read with fc_tls_alpn once
 * connected. -EINVAL for an empty or over-long name. */
int fc_tls_connect_alpn(struct fc_loop *loop, struct fc_stream *s, const struct sockaddr *addr,
                        socklen_t len, struct fc_tls_client *t, const char *host, const char *alpn);

/* True while s has a TLS layer whose handshake is not over. */
bool fc_tls_handshaking(const struct fc_loop *loop, const struct fc_stream *s);
/* Why s's TLS failed ("certificate verify failed: certificate has expired"),
 * or NULL. Valid until s closes. */
const char *fc_tls_failure(const struct fc_loop *loop, const struct fc_stream *s);
/* The TLS version s negotiated ("TLSv1.3"), or NULL for plain TCP. */
const char *fc_tls_version(const struct fc_loop *loop, const struct fc_stream *s);
/* True when the handshake of s chose ALPN h2. */
bool fc_tls_alpn_h2(const struct fc_loop *loop, const struct fc_stream *s);

#endif
