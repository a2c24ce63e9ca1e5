/* tls_context.c — OpenSSL contexts from the configuration: a listener's
 * certificates (one context each, picked by SNI), their checks, ALPN, the
 * session ticket keys every worker shares, and a pool's client context. */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include "tls/tls_internal.h"

/* ---------------------------------------------------------------- reports */

struct reporter {
	const struct fc_config *cfg;
	fc_tls_report_fn fn;
	void *arg;
	size_t errors;
};

static void say(struct reporter *r, bool warning, const struct fc_config_pos *at, const char *key,
                const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static void say(struct reporter *r, bool warning, const struct fc_config_pos *at, const char *key,
                const char *fmt, ...)
{
	char msg[768], line[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (at && at->line)
		snprintf(line, sizeof(line), "%s:%u:%u: %s: %s", r->cfg->source, at->line, at->col,
		         key, msg);
	else
		snprintf(line, sizeof(line), "%s: %s: %s", r->cfg->source, key, msg);
	if (!warning)
		r->errors++;
	if (r->fn)
		r->fn(r->arg, warning, line);
}

/* The reason of the latest OpenSSL error of the thread; the queue is then cleared. */
static const char *ssl_reason(char *buf, size_t len)
{
	unsigned long e = ERR_peek_last_error();
	const char *why = e ? ERR_reason_error_string(e) : NULL;
	snprintf(buf, len, "%s", why ? why : "unknown OpenSSL error");
	ERR_clear_error();
	return buf;
}

/* ---------------------------------------------------------------- tickets */

/* Session ticket keys: one process-wide set, so a ticket issued by any
 * worker (or listener) resumes on any other. A new key every TICKET_ROTATE_S;
 * the one before still decrypts (and its tickets are renewed). */
#define TICKET_ROTATE_S (12 * 3600)

struct ticket_key {
	unsigned char name[16], aes[32], hmac[32];
};

static struct {
	pthread_rwlock_t lock;
	struct ticket_key keys[2]; /* [0] current, [1] previous */
	int n;
	time_t made;
} tickets = {.lock = PTHREAD_RWLOCK_INITIALIZER};

static int ticket_key_new(struct ticket_key *k)
{
	return RAND_bytes(k->name, sizeof(k->name)) == 1 &&
	                       RAND_bytes(k->aes, sizeof(k->aes)) == 1 &&
	                       RAND_bytes(k->hmac, sizeof(k->hmac)) == 1
	               ? 0
	               : -EIO;
}

/* Rotates when the current key is old (or missing). */
static void tickets_maybe_rotate(void)
{
	time_t now = time(NULL);
	pthread_rwlock_rdlock(&tickets.lock);
	bool fresh = tickets.n > 0 && now - tickets.made < TICKET_ROTATE_S;
	pthread_rwlock_unlock(&tickets.lock);
	if (fresh)
		return;
	struct ticket_key k;
	if (ticket_key_new(&k) < 0)
		return; /* keep the old key */
	pthread_rwlock_wrlock(&tickets.lock);
	if (tickets.n == 0 || now - tickets.made >= TICKET_ROTATE_S) {
		tickets.keys[1] = tickets.keys[0];
		tickets.keys[0] = k;
		tickets.n = tickets.n ? 2 : 1;
		tickets.made = now;
	}
	pthread_rwlock_unlock(&tickets.lock);
}

static int ticket_cb(SSL *ssl, unsigned char key_name[16], unsigned char *iv, EVP_CIPHER_CTX *cctx,
                     EVP_MAC_CTX *hctx, int enc)
{
	(void)ssl;
	struct ticket_key k;
	int rc = 1;
	if (enc)
		tickets_maybe_rotate();
	pthread_rwlock_rdlock(&tickets.lock);
	if (enc) {
		k = tickets.keys[0];
	} else {
		int i;
		for (i = 0; i < tickets.n; i++)
			if (memcmp(tickets.keys[i].name, key_name, 16) == 0)
				break;
		if (i == tickets.n) {
			pthread_rwlock_unlock(&tickets.lock);
			return 0; /* unknown or too old: a full handshake */
		}
		k = tickets.keys[i];
		/* 2: issue a new ticket. Always on TLS 1.3, whose clients use a
		 * ticket once (RFC 8446 C.4): without a new one their next
		 * connection would be a full handshake. On 1.2, when the key aged. */
		rc = i == 0 && SSL_version(ssl) != TLS1_3_VERSION ? 1 : 2;
	}
	pthread_rwlock_unlock(&tickets.lock);
	OSSL_PARAM params[] = {
	        OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY, k.hmac, sizeof(k.hmac)),
	        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0),
	        OSSL_PARAM_construct_end()};
	if (enc) {
		memcpy(key_name, k.name, 16);
		if (RAND_bytes(iv, 16) != 1 ||
		    EVP_EncryptInit_ex(cctx, EVP_aes_256_cbc(), NULL, k.aes, iv) != 1)
			rc = -1;
	} else if (EVP_DecryptInit_ex(cctx, EVP_aes_256_cbc(), NULL, k.aes, iv) != 1) {
		rc = -1;
	}
	if (rc > 0 && EVP_MAC_CTX_set_params(hctx, params) != 1)
		rc = -1;
	OPENSSL_cleanse(&k, sizeof(k));
	return rc;
}

/* ---------------------------------------------------------------- names */

static bool name_matches(const char *pattern, const char *name)
{
	if (strcasecmp(pattern, name) == 0)
		return true;
	if (pattern[0] != '*' || pattern[1] != '.')
		return false;
	/* "*.example.com" covers exactly one more label: a.example.com */
	const char *dot = strchr(name, '.');
	return dot && dot != name && strcasecmp(dot, pattern + 1) == 0;
}

const struct fc__tls_cert *fc__tls_server_find(const struct fc_tls_server *t, const char *name)
{
	if (name) {
		for (size_t i = 0; i < t->n_certs; i++) /* exact names first */
			for (size_t k = 0; k < t->certs[i].n_names; k++)
				if (strcasecmp(t->certs[i].names[k], name) == 0)
					return &t->certs[i];
		for (size_t i = 0; i < t->n_certs; i++)
			for (size_t k = 0; k < t->certs[i].n_names; k++)
				if (name_matches(t->certs[i].names[k], name))
					return &t->certs[i];
	}
	return &t->certs[0];
}

static int add_name(struct fc__tls_cert *c, const char *s, size_t len)
{
	if (len == 0 || len > 253 || memchr(s, '\0', len))
		return 0; /* not a usable DNS name: skip */
	char **n = realloc(c->names, (c->n_names + 1) * sizeof(*n));
	if (!n)
		return -ENOMEM;
	c->names = n;
	if (!(n[c->n_names] = strndup(s, len)))
		return -ENOMEM;
	for (char *p = n[c->n_names]; *p; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p - 'A' + 'a');
	c->n_names++;
	return 0;
}

/* The DNS names of the certificate: its SANs, or its CN when it has none. */
static int collect_names(struct fc__tls_cert *c, X509 *x)
{
	int rc = 0;
	GENERAL_NAMES *sans = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
	if (sans) {
		for (int i = 0; i < sk_GENERAL_NAME_num(sans) && rc == 0; i++) {
			const GENERAL_NAME *g = sk_GENERAL_NAME_value(sans, i);
			if (g->type == GEN_DNS)
				rc = add_name(c, (const char *)ASN1_STRING_get0_data(g->d.dNSName),
				              (size_t)ASN1_STRING_length(g->d.dNSName));
		}
		GENERAL_NAMES_free(sans);
		if (c->n_names || rc)
			return rc;
	}
	X509_NAME *subj = X509_get_subject_name(x);
	int at = subj ? X509_NAME_get_index_by_NID(subj, NID_commonName, -1) : -1;
	if (at >= 0) {
		ASN1_STRING *cn = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subj, at));
		rc = add_name(c, (const char *)ASN1_STRING_get0_data(cn),
		              (size_t)ASN1_STRING_length(cn));
	}
	return rc;
}

/* ---------------------------------------------------------------- files */

static bool readable(struct reporter *r, const char *file, const struct fc_config_pos *at,
                     const char *key)
{
	FILE *f = fopen(file, "r");
	if (!f) {
		say(r, false, at, key, "cannot read %s: %s", file, strerror(errno));
		return false;
	}
	fclose(f);
	return true;
}

static void time_text(const ASN1_TIME *t, char *buf, size_t len)
{
	struct tm tm;
	if (ASN1_TIME_to_tm(t, &tm) == 1)
		strftime(buf, len, "%Y-%m-%d %H:%M:%S UTC", &tm);
	else
		snprintf(buf, len, "?");
}

/* Loads cert (with its chain) and key into ctx. False after an error. */
static bool load_pair(struct reporter *r, SSL_CTX *ctx, const struct fc_config_cert *c,
                      const char *key_path)
{
	char ck[300], kk[300], why[256], when[64];
	snprintf(ck, sizeof(ck), "%s.cert", key_path);
	snprintf(kk, sizeof(kk), "%s.key", key_path);
	bool cert_ok = readable(r, c->cert, &c->cert_at, ck);
	bool key_ok = readable(r, c->key, &c->key_at, kk);
	if (!cert_ok || !key_ok)
		return false;
	ERR_clear_error();
	if (SSL_CTX_use_certificate_chain_file(ctx, c->cert) != 1) {
		say(r, false, &c->cert_at, ck, "%s is not a usable PEM certificate: %s", c->cert,
		    ssl_reason(why, sizeof(why)));
		return false;
	}
	bool loaded = SSL_CTX_use_PrivateKey_file(ctx, c->key, SSL_FILETYPE_PEM) == 1;
	/* a key of the certificate's type that is not its key fails right here */
	if (!loaded && ERR_GET_REASON(ERR_peek_last_error()) != X509_R_KEY_VALUES_MISMATCH) {
		say(r, false, &c->key_at, kk, "%s is not a usable PEM private key: %s", c->key,
		    ssl_reason(why, sizeof(why)));
		return false;
	}
	if (!loaded || SSL_CTX_check_private_key(ctx) != 1) {
		ERR_clear_error();
		say(r, false, &c->key_at, kk, "%s does not match the certificate in %s", c->key,
		    c->cert);
		return false;
	}
	X509 *x = SSL_CTX_get0_certificate(ctx);
	if (x && X509_cmp_current_time(X509_get0_notAfter(x)) <= 0) {
		time_text(X509_get0_notAfter(x), when, sizeof(when));
		say(r, true, &c->cert_at, ck, "the certificate in %s expired on %s", c->cert, when);
	} else if (x && X509_cmp_current_time(X509_get0_notBefore(x)) >= 0) {
		time_text(X509_get0_notBefore(x), when, sizeof(when));
		say(r, true, &c->cert_at, ck, "the certificate in %s is not valid before %s",
		    c->cert, when);
	}
	return true;
}

/* ---------------------------------------------------------------- server */

/* What a listener offers, in its order of preference (RFC 7301 wire form). */
static const unsigned char alpn_h1[] = "\x08http/1.1";
static const unsigned char alpn_h2[] = "\x02h2\x08http/1.1";

static int alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                       const unsigned char *in, unsigned int inlen, void *arg)
{
	(void)ssl;
	const unsigned char *offer = arg ? alpn_h2 : alpn_h1;
	unsigned int offer_len = arg ? sizeof(alpn_h2) - 1 : sizeof(alpn_h1) - 1;
	unsigned char *sel = NULL;
	if (SSL_select_next_proto(&sel, outlen, offer, offer_len, in, inlen) !=
	    OPENSSL_NPN_NEGOTIATED)
		return SSL_TLSEXT_ERR_ALERT_FATAL; /* RFC 7301: no_application_protocol */
	*out = sel;
	return SSL_TLSEXT_ERR_OK;
}

static int servername_cb(SSL *ssl, int *alert, void *arg)
{
	(void)alert;
	const struct fc_tls_server *t = arg;
	const char *name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
	const struct fc__tls_cert *c = fc__tls_server_find(t, name);
	if (c->ctx != SSL_get_SSL_CTX(ssl) && !SSL_set_SSL_CTX(ssl, c->ctx))
		return SSL_TLSEXT_ERR_ALERT_FATAL;
	return SSL_TLSEXT_ERR_OK;
}

/* h2: the listener offers HTTP/2 (ALPN h2 first). */
static SSL_CTX *server_ctx(const struct fc_config_listener_tls *cfg, bool h2)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	if (!ctx)
		return NULL;
	SSL_CTX_set_min_proto_version(ctx,
	                              cfg->min_version == 13 ? TLS1_3_VERSION : TLS1_2_VERSION);
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_IGNORE_UNEXPECTED_EOF |
	                                 SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_COMPRESSION);
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
	/* stateless resumption only: tickets, whose keys every worker shares */
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_num_tickets(ctx, 1);
	SSL_CTX_set_timeout(ctx, TICKET_ROTATE_S);
	SSL_CTX_set_session_id_context(ctx, (const unsigned char *)"fulcrum", 7);
	SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx, ticket_cb);
	/* any non-NULL pointer says h2 */
	SSL_CTX_set_alpn_select_cb(ctx, alpn_select, h2 ? (void *)alpn_h2 : NULL);
	return ctx;
}

void fc_tls_server_ref(struct fc_tls_server *t)
{
	atomic_fetch_add_explicit(&t->refs, 1, memory_order_relaxed);
}

void fc_tls_server_destroy(struct fc_tls_server *t)
{
	if (!t || atomic_fetch_sub_explicit(&t->refs, 1, memory_order_acq_rel) != 1)
		return;
	for (size_t i = 0; i < t->n_certs; i++) {
		SSL_CTX_free(t->certs[i].ctx);
		for (size_t k = 0; k < t->certs[i].n_names; k++)
			free(t->certs[i].names[k]);
		free(t->certs[i].names);
	}
	free(t->certs);
	free(t);
}

static bool covered(const struct fc_tls_server *t, const char *host)
{
	for (size_t i = 0; i < t->n_certs; i++)
		for (size_t k = 0; k < t->certs[i].n_names; k++)
			if (name_matches(t->certs[i].names[k], host))
				return true;
	return false;
}

static struct fc_tls_server *server_create(struct reporter *r, size_t li)
{
	const struct fc_config_listener *l = &r->cfg->listeners[li];
	const struct fc_config_listener_tls *cfg = l->tls;
	size_t errors = r->errors;
	char key[200];
	struct fc_tls_server *t = calloc(1, sizeof(*t));
	if (t)
		atomic_init(&t->refs, 1);
	if (!t || !(t->certs = calloc(cfg->n_certs, sizeof(*t->certs))))
		goto oom;
	for (size_t i = 0; i < cfg->n_certs; i++) {
		struct fc__tls_cert *c = &t->certs[t->n_certs];
		snprintf(key, sizeof(key), "listeners[%zu].tls.certificates[%zu]", li, i);
		if (!(c->ctx = server_ctx(cfg, l->http2 == FC_HTTP2_ON)))
			goto oom;
		t->n_certs++;
		if (!load_pair(r, c->ctx, &cfg->certs[i], key))
			continue;
		if (collect_names(c, SSL_CTX_get0_certificate(c->ctx)) < 0)
			goto oom;
		if (c->n_names == 0)
			say(r, true, &cfg->certs[i].cert_at, key,
			    "the certificate in %s names no host (no DNS SAN or CN): only used as "
			    "the default",
			    cfg->certs[i].cert);
	}
	if (r->errors != errors)
		goto fail;
	SSL_CTX_set_tlsext_servername_callback(t->certs[0].ctx, servername_cb);
	SSL_CTX_set_tlsext_servername_arg(t->certs[0].ctx, t);
	for (size_t i = 0; i < l->n_routes; i++) {
		const struct fc_config_route *rt = &l->routes[i];
		if (rt->host && !covered(t, rt->host)) {
			snprintf(key, sizeof(key), "listeners[%zu].routes[%zu].host", li, i);
			say(r, true, &rt->host_at, key,
			    "no certificate of this listener covers %s: clients asking for it get "
			    "the default certificate (%s) and a name mismatch",
			    rt->host, cfg->certs[0].cert);
		}
	}
	return t;
oom:
	snprintf(key, sizeof(key), "listeners[%zu].tls", li);
	say(r, false, NULL, key, "out of memory building the TLS context");
fail:
	fc_tls_server_destroy(t);
	return NULL;
}

struct fc_tls_server *fc_tls_server_create(const struct fc_config *cfg, size_t li,
                                           fc_tls_report_fn report, void *arg)
{
	struct reporter r = {cfg, report, arg, 0};
	return server_create(&r, li);
}

/* ---------------------------------------------------------------- client */

static const unsigned char alpn_client[] = "\x08http/1.1";
static const unsigned char alpn_client_h2[] = "\x02h2";

void fc_tls_client_destroy(struct fc_tls_client *t)
{
	if (!t)
		return;
	SSL_CTX_free(t->ctx);
	free(t);
}

static struct fc_tls_client *client_create(struct reporter *r, size_t pi)
{
	const struct fc_config_pool *p = &r->cfg->pools[pi];
	const struct fc_config_pool_tls *cfg = &p->tls;
	char key[300], why[256];
	size_t errors = r->errors;
	struct fc_tls_client *t = calloc(1, sizeof(*t));
	if (!t || !(t->ctx = SSL_CTX_new(TLS_client_method()))) {
		snprintf(key, sizeof(key), "pools.%s.tls", p->name);
		say(r, false, NULL, key, "out of memory building the TLS context");
		fc_tls_client_destroy(t);
		return NULL;
	}
	SSL_CTX *ctx = t->ctx;
	t->verify = cfg->verify;
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_IGNORE_UNEXPECTED_EOF |
	                                 SSL_OP_NO_COMPRESSION);
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
	if (p->protocol == FC_POOL_H2)
		SSL_CTX_set_alpn_protos(ctx, alpn_client_h2, sizeof(alpn_client_h2) - 1);
	else
		SSL_CTX_set_alpn_protos(ctx, alpn_client, sizeof(alpn_client) - 1);
	if (cfg->verify) {
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
		if (cfg->ca) {
			snprintf(key, sizeof(key), "pools.%s.tls.ca", p->name);
			if (readable(r, cfg->ca, &cfg->ca_at, key) &&
			    SSL_CTX_load_verify_locations(ctx, cfg->ca, NULL) != 1)
				say(r, false, &cfg->ca_at, key,
				    "%s holds no usable PEM certificate: %s", cfg->ca,
				    ssl_reason(why, sizeof(why)));
		} else if (SSL_CTX_set_default_verify_paths(ctx) != 1) {
			ERR_clear_error();
		}
	} else {
		SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	}
	if (cfg->client.cert) {
		snprintf(key, sizeof(key), "pools.%s.tls", p->name);
		load_pair(r, ctx, &cfg->client, key);
	}
	if (r->errors != errors) {
		fc_tls_client_destroy(t);
		return NULL;
	}
	return t;
}

struct fc_tls_client *fc_tls_client_create(const struct fc_config *cfg, size_t pi,
                                           fc_tls_report_fn report, void *arg)
{
	struct reporter r = {cfg, report, arg, 0};
	return client_create(&r, pi);
}

size_t fc_tls_check_config(const struct fc_config *cfg, fc_tls_report_fn report, void *arg)
{
	struct reporter r = {cfg, report, arg, 0};
	for (size_t i = 0; i < cfg->n_listeners; i++)
		if (cfg->listeners[i].tls)
			fc_tls_server_destroy(server_create(&r, i));
	for (size_t i = 0; i < cfg->n_pools; i++)
		if (cfg->pools[i].has_tls_servers)
			fc_tls_client_destroy(client_create(&r, i));
	return r.errors;
}
