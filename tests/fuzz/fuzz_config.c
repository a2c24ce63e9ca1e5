/* fuzz_config.c — libFuzzer target for the YAML configuration loader: any
 * bytes must give a snapshot or an error message, never a crash or a leak. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "config/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Loads data as a configuration file and releases whatever comes back. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char err[4096];
	struct fc_config *cfg;

	cfg = fc_config_load_string((const char *)data, size, "fuzz.yaml", err, sizeof(err));
	if (cfg) {
		/* Exercise the read side the proxy uses on every request. */
		for (size_t i = 0; i < cfg->n_listeners; i++)
			(void)fc_config_route_match(&cfg->listeners[i], (const char *)data,
			                            size < 64 ? size : 64, "/api/x", 6);
		fc_config_unref(cfg);
	} else if (err[0] == '\0') {
		__builtin_trap(); /* a failure must always say why */
	}
	return 0;
}
