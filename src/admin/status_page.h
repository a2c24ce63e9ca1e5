/* status_page.h — the live status page (src/admin/status.html), compiled in
 * by cmake/embed_status.cmake so fulcrum serves it with nothing on disk. */
#ifndef FC_ADMIN_STATUS_PAGE_H
#define FC_ADMIN_STATUS_PAGE_H

#include <stddef.h>

/** The page, byte for byte as in the repository (UTF-8 HTML, not
 * NUL-terminated): serve it as `text/html; charset=utf-8`. Immutable, any
 * thread. */
extern const unsigned char fc_status_html[];
extern const size_t fc_status_html_len;

/** The Content-Security-Policy header value to serve with the page: its one
 * inline script and one inline style by SHA-256, fetches to its own origin
 * only, nothing else. Computed from the page at build time, so an edited
 * page keeps working and an injected script does not run. NUL-terminated. */
extern const char fc_status_csp[];

#endif
