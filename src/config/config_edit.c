/* config_edit.c — servers added to and removed from a config that is not
 * shared yet (the admin API's journal, applied at start and reload), checked
 * and resolved exactly as a servers: entry of the file. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config_internal.h"

void fc_config_server_fini(struct fc_config_server *cs)
{
	free(cs->name);
	free(cs->url);
	free(cs->host);
	fc__cfg_health_fini(&cs->health);
	memset(cs, 0, sizeof(*cs));
}

int fc_config_server_parse(const struct fc_config_pool *cp, const char *url, const char *name,
                           unsigned weight, struct fc_config_server *out, char *err, size_t errlen)
{
	char why[512];
	fc__cfg_server_defaults(out);
	if (weight > 1000) {
		snprintf(err, errlen, "weight must be 0..1000 (got %u)", weight);
		return -EINVAL;
	}
	out->weight = weight;
	out->max_conns = cp->max_conns;
	if (name && !fc__cfg_is_label(name)) {
		snprintf(err, errlen,
		         "name must be 1..128 printable characters without spaces, quotes or '/' "
		         "(got \"%.64s\")",
		         name);
		return -EINVAL;
	}
	if (!url || !url[0]) {
		snprintf(err, errlen, "url is required (http://host:port)");
		return -EINVAL;
	}
	int rc = fc__cfg_parse_upstream(url, out, false, why, sizeof(why));
	if (rc == 0 && name && !(out->name = strdup(name)))
		rc = -ENOMEM;
	if (rc == 0)
		rc = fc__cfg_server_default_name(out);
	if (rc == 0)
		rc = fc__cfg_health_copy(&out->health, &cp->health);
	if (rc < 0) {
		if (rc == -ENOMEM)
			snprintf(err, errlen, "out of memory");
		else
			snprintf(err, errlen, "url: %s", why);
		fc_config_server_fini(out);
		return rc;
	}
	return 0;
}

long fc_config_server_index(const struct fc_config_pool *cp, const char *name)
{
	return fc__cfg_server_named(cp, cp->n_servers, name);
}

int fc_config_pool_add_server(struct fc_config_pool *cp, struct fc_config_server *cs)
{
	struct fc_config_server *v = realloc(cp->servers, (cp->n_servers + 1) * sizeof(*v));
	if (!v)
		return -ENOMEM;
	cp->servers = v;
	v[cp->n_servers++] = *cs;
	cp->has_tls_servers |= cs->tls;
	memset(cs, 0, sizeof(*cs));
	return 0;
}

int fc_config_pool_remove_server(struct fc_config_pool *cp, const char *name)
{
	long i = fc_config_server_index(cp, name);
	if (i < 0)
		return -ENOENT;
	fc_config_server_fini(&cp->servers[i]);
	memmove(&cp->servers[i], &cp->servers[i + 1],
	        (cp->n_servers - (size_t)i - 1) * sizeof(cp->servers[0]));
	cp->n_servers--;
	bool tls = false;
	for (size_t k = 0; k < cp->n_servers; k++)
		tls |= cp->servers[k].tls;
	cp->has_tls_servers = tls;
	return 0;
}
