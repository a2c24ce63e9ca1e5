/* tls_internal.h — what tls_context.c and stream_tls.c share. */
#ifndef FC_TLS_INTERNAL_H
#define FC_TLS_INTERNAL_H

#include <openssl/ssl.h>
#include <stdatomic.h>

#include "tls/tls.h"

/* One certificate's context and the names it covers (lower case; a
 * wildcard is kept as "*.example.com"). */
struct fc__tls_cert {
	SSL_CTX *ctx;
	char **names;
	size_t n_names;
};

struct fc_tls_server {
	_Atomic unsigned refs;      /* its runtime, and each connection of its listener */
	struct fc__tls_cert *certs; /* certs[0]: the default */
	size_t n_certs;
};

struct fc_tls_client {
	SSL_CTX *ctx;
	bool verify;
};

/* The certificate for an SNI name (the default when none covers it). */
const struct fc__tls_cert *fc__tls_server_find(const struct fc_tls_server *t, const char *name);

#endif
