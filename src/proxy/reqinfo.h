/* reqinfo.h — reading cookies, query parameters and the request target. */
#ifndef FC_REQINFO_H
#define FC_REQINFO_H

#include <fulcrum/fulcrum.h>
#include <stddef.h>

#include "http/h1.h"

/* The value of cookie name in the head's Cookie headers, or NULL; *len is its
 * length. Points into the head's buffer. */
const char *fc_req_cookie(const struct fc_h1_head *hd, const char *name, size_t name_len,
                          size_t *len);

/* The value of query parameter name in url, or NULL ("" for "?name"). */
const char *fc_req_query(const char *url, size_t url_len, const char *name, size_t name_len,
                         size_t *len);

/* Splits the request target: the path without query, and for absolute-form
 * targets (http://host/path) the host, which then replaces *host. */
void fc_req_target(const struct fc_h1_head *hd, const char **host, size_t *host_len,
                   const char **path, size_t *path_len);

/* Formats a client address for X-Forwarded-For (IPv4 without printf). Returns
 * the length; buf must hold 46 bytes. */
size_t fc_req_format_ip(const struct fc_addr *a, char *buf, size_t len);

#endif
