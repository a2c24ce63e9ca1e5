/* status_page.c — GET / on the admin listener: the status page compiled in
 * from src/admin/status.html, with the policy that lets only its own inline
 * script and style run (docs/operations.md, "Status page"). */
#include "admin/admin_internal.h"
#include "admin/status_page.h"

void fc_admin_status_page(struct fc_admin_resp *r)
{
	r->status = 200;
	r->content_type = "text/html; charset=utf-8";
	r->csp = fc_status_csp;
	fc_json_raw(&r->body, (const char *)fc_status_html, fc_status_html_len);
}
