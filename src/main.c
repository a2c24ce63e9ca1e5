/* main.c — the fulcrum command: flags, configuration, worker threads,
 * signals. The main thread becomes the control thread once workers run. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "admin/admin.h"
#include "admin/journal.h"
#include "config/config.h"
#include "core/log.h"
#include "core/notify.h"
#include "core/sock.h"
#include "proxy/control.h"
#include "proxy/proxy.h"
#include "proxy/state.h"
#include "tls/tls.h"

#define MAX_TO 256

static void usage(FILE *f)
{
	fprintf(f,
	        "Usage: fulcrum -c FILE [--check | --reload] [--log-level LEVEL] [--workers N]\n"
	        "       fulcrum --listen ADDR --to URL [--to URL ...] [--algorithm NAME]\n"
	        "               [--workers N] [--log-level LEVEL]\n"
	        "\n"
	        "An HTTP load balancer and reverse proxy.\n"
	        "\n"
	        "  -c, --config FILE     configuration file (YAML); also FULCRUM_CONFIG\n"
	        "      --check           validate the configuration and exit 0 (valid) or 1\n"
	        "      --reload          validate it, make the running fulcrum (pid_file:) reload\n"
	        "                        it, and exit 0 when the reload worked, 1 when not\n"
	        "      --listen ADDR     without a file: listen on ADDR (127.0.0.1:8080, :8080)\n"
	        "      --to URL          without a file: a server (http://host:port), repeatable\n"
	        "      --algorithm NAME  without a file: balancing algorithm (round_robin)\n"
	        "      --workers N       worker threads (default: one per CPU); also "
	        "FULCRUM_WORKERS\n"
	        "      --log-level L     debug, info, warn or error; also FULCRUM_LOG_LEVEL\n"
	        "  -v, --version         print the version\n"
	        "  -h, --help            this help\n"
	        "\n"
	        "Signals: SIGINT/SIGTERM stop gracefully (in-flight requests finish),\n"
	        "         SIGUSR1 reopens the log files (after rotation).\n"
	        "Docs: README.md, docs/configuration.md, docs/balancing.md\n");
}

/* Raises the soft limit on open files to the hard one, as HAProxy does; each
 * client connection may need a second descriptor for its server. */
static void raise_fd_limit(const struct fc_config *cfg)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return;
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	rlim_t need = (rlim_t)cfg->max_connections + 256;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < need)
		fc_warn("client.max_connections %u needs at least %llu open files (twice that with "
		        "a server connection each); the limit is %llu (raise it with ulimit -n or "
		        "LimitNOFILE=)",
		        cfg->max_connections, (unsigned long long)need,
		        (unsigned long long)rl.rlim_cur);
}

/* The config's levels and the error log's are the same scale. */
_Static_assert((int)FC_LOG_DEBUG == FC_LOG_LEVEL_DEBUG && (int)FC_LOG_INFO == FC_LOG_LEVEL_INFO &&
                       (int)FC_LOG_WARN == FC_LOG_LEVEL_WARN &&
                       (int)FC_LOG_ERROR == FC_LOG_LEVEL_ERROR,
               "log levels of config.h and log.h differ");

/* Certificates and keys are read (and checked) before anything starts. */
static void tls_report(void *arg, bool warning, const char *msg)
{
	(void)arg;
	fprintf(stderr, "%s%s\n", msg, warning ? " (warning)" : "");
}

/* --check: a sticky pool without sticky.secret signs its cookies with a
 * secret of this instance's own (docs/cluster.md). */
static void sticky_report(const struct fc_config *cfg)
{
	for (size_t i = 0; i < cfg->n_pools; i++) {
		const struct fc_config_pool *p = &cfg->pools[i];
		if (p->sticky.enabled && !p->sticky.secret)
			fprintf(stderr,
			        "%s: pool %s: sticky cookies will not be shared with other "
			        "instances: "
			        "without sticky.secret each instance signs them with its own "
			        "secret "
			        "(set the same sticky.secret on every instance) (warning)\n",
			        cfg->source, p->name);
	}
}

/* --check: resolve: leaves host names to run time, so they are not checked
 * here; a pool with resolve: and no name has nothing to resolve. */
static void resolve_report(const struct fc_config *cfg)
{
	for (size_t i = 0; i < cfg->n_pools; i++) {
		const struct fc_config_pool *p = &cfg->pools[i];
		if (p->resolve.type == FC_DISCOVER_NONE)
			continue;
		size_t n = 0;
		for (size_t k = 0; k < p->n_servers; k++)
			n += p->servers[k].resolve;
		if (n)
			fprintf(stderr,
			        "%s: pool %s: %zu server%s with a host name: resolved at run time "
			        "(resolve:), not now\n",
			        cfg->source, p->name, n, n == 1 ? "" : "s");
		else
			fprintf(stderr,
			        "%s:%u: pool %s: resolve: no server's url has a host name; nothing "
			        "is resolved (warning)\n",
			        cfg->source, p->resolve.at.line, p->name);
	}
}

/* --check: what the admin API's journal changes, on stdout. */
static void journal_print(void *arg, bool warning, const char *msg)
{
	(void)arg;
	printf("%s%s\n", msg, warning ? " (warning)" : "");
}

/* At start and reload: the same into the error log. */
static void journal_log(void *arg, bool warning, const char *msg)
{
	(void)arg;
	if (warning)
		fc_warn("%s", msg);
	else
		fc_info("%s", msg);
}

/* Every freshly loaded config (start, reload): the journal on top. */
static int apply_journal(struct fc_config *cfg, char *err, size_t errlen)
{
	if (!cfg->admin.enabled)
		return 0;
	return fc_journal_apply(cfg, fc_state_dir(cfg), journal_log, NULL, err, errlen);
}

/* The admin API: started once the workers run, on the control loop. */
static struct fc_admin *admin;
static struct fc_config *admin_cfg; /* the start's: the admin: section is read once */

static void admin_view(void *arg, struct fc_admin_view *v)
{
	struct fc_control *ctl = arg;
	v->rt = fc_control_runtime(ctl);
	v->health = v->rt->health;
	v->ws = fc_control_workers(ctl, &v->n_workers);
	v->glimits = fc_control_glimits(ctl);
}

static int admin_reload(void *arg, char *err, size_t errlen)
{
	return fc_control_reload(arg, err, errlen);
}

static int admin_wake(void *arg, const char *pool, const char **state)
{
	return fc_control_wake(arg, pool, state);
}

static int admin_start(struct fc_control *ctl, struct fc_loop *loop, char *err, size_t errlen)
{
	if (!admin_cfg->admin.enabled)
		return 0;
	struct fc_admin_hooks ah = {.view = admin_view,
	                            .reload = admin_reload,
	                            .wake = admin_wake,
	                            .reload_stats = fc_control_reload_stats(ctl),
	                            .discovery = fc_control_discovery(ctl),
	                            .arg = ctl};
	return fc_admin_create(loop, admin_cfg, &ah, &admin, err, errlen);
}

static void admin_stop(struct fc_control *ctl)
{
	(void)ctl;
	fc_admin_destroy(admin);
	admin = NULL;
}

/* sd_notify: what systemd (Type=notify-reload or notify) hears. */
static void notify_ready(void)
{
	fc_notify("READY=1");
}

static void notify_reloading(void)
{
	fc_notify_reloading();
}

static void notify_stopping(void)
{
	fc_notify("STOPPING=1");
}

/* fulcrum --reload: signals the instance in cfg's pid_file with a token and
 * waits for its answer in <pid_file>.reload. Exit status 0 or 1. */
static int signal_reload(const struct fc_config *cfg)
{
	if (!cfg->pid_file) {
		fprintf(stderr,
		        "fulcrum: --reload: %s has no pid_file: (send SIGHUP to the running "
		        "fulcrum instead)\n",
		        cfg->source);
		return 1;
	}
	FILE *f = fopen(cfg->pid_file, "r");
	long pid = 0;
	if (!f || fscanf(f, "%ld", &pid) != 1 || pid <= 1) {
		fprintf(stderr, "fulcrum: --reload: cannot read a pid from %s: %s\n", cfg->pid_file,
		        f ? "no pid in it" : strerror(errno));
		if (f)
			fclose(f);
		return 1;
	}
	fclose(f);
	char answer[4200];
	snprintf(answer, sizeof(answer), "%s.reload", cfg->pid_file);
	int token = 0;
	while (!token)
		token = (int)(fc_time_ns() & 0x7fffffff) ^ (int)getpid();
	union sigval v = {.sival_int = token};
	if (sigqueue((pid_t)pid, SIGHUP, v) < 0) {
		fprintf(stderr, "fulcrum: --reload: cannot signal pid %ld (%s): %s\n", pid,
		        cfg->pid_file, strerror(errno));
		return 1;
	}
	for (int i = 0; i < 3000; i++) { /* 30 s */
		char line[4200] = "";
		FILE *a = fopen(answer, "r");
		if (a) {
			int got = 0;
			if (fscanf(a, "%d ", &got) == 1 && got == token &&
			    fgets(line, sizeof(line), a)) {
				fclose(a);
				if (strncmp(line, "ok", 2) == 0) {
					printf("fulcrum (pid %ld) reloaded %s\n", pid, cfg->source);
					return 0;
				}
				fprintf(stderr, "fulcrum (pid %ld): reload %s", pid, line);
				return 1;
			}
			fclose(a);
		}
		if (kill((pid_t)pid, 0) < 0 && errno == ESRCH) {
			fprintf(stderr, "fulcrum: --reload: pid %ld is gone\n", pid);
			return 1;
		}
		usleep(10000);
	}
	fprintf(stderr, "fulcrum: --reload: no answer from pid %ld within 30 s\n", pid);
	return 1;
}

int main(int argc, char **argv)
{
	const char *config_path = NULL, *listen = NULL, *algorithm = NULL, *log_level = NULL;
	const char *to[MAX_TO];
	size_t n_to = 0;
	long workers = -1;
	bool check = false, reload = false;
	enum {
		OPT_RELOAD = 300,
		OPT_CHECK = 256,
		OPT_LISTEN,
		OPT_TO,
		OPT_ALGO,
		OPT_WORKERS,
		OPT_LOGLEVEL
	};
	static const struct option opts[] = {
	        {"config", required_argument, NULL, 'c'},
	        {"check", no_argument, NULL, OPT_CHECK},
	        {"reload", no_argument, NULL, OPT_RELOAD},
	        {"listen", required_argument, NULL, OPT_LISTEN},
	        {"to", required_argument, NULL, OPT_TO},
	        {"algorithm", required_argument, NULL, OPT_ALGO},
	        {"workers", required_argument, NULL, OPT_WORKERS},
	        {"log-level", required_argument, NULL, OPT_LOGLEVEL},
	        {"version", no_argument, NULL, 'v'},
	        {"help", no_argument, NULL, 'h'},
	        {0, 0, 0, 0},
	};
	int c;
	while ((c = getopt_long(argc, argv, "c:vh", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			config_path = optarg;
			break;
		case OPT_CHECK:
			check = true;
			break;
		case OPT_RELOAD:
			reload = true;
			break;
		case OPT_LISTEN:
			listen = optarg;
			break;
		case OPT_TO:
			if (n_to == MAX_TO) {
				fprintf(stderr, "fulcrum: at most %d --to servers\n", MAX_TO);
				return 2;
			}
			to[n_to++] = optarg;
			break;
		case OPT_ALGO:
			algorithm = optarg;
			break;
		case OPT_WORKERS: {
			uint32_t n = 0;
			if (fc_config_parse_workers(optarg, &n) < 0) {
				fprintf(stderr,
				        "fulcrum: --workers: must be auto or 1..256, got '%s'\n",
				        optarg);
				return 2;
			}
			workers = n ? (long)n : 0;
			break;
		}
		case OPT_LOGLEVEL:
			log_level = optarg;
			break;
		case 'v':
			printf("fulcrum %s\n", FULCRUM_VERSION);
			return 0;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "fulcrum: unexpected argument '%s'\n", argv[optind]);
		usage(stderr);
		return 2;
	}
	if (!config_path && !listen && n_to == 0)
		config_path = getenv("FULCRUM_CONFIG");
	if (config_path && (listen || n_to || algorithm)) {
		fprintf(stderr, "fulcrum: --listen/--to/--algorithm and a configuration file "
		                "cannot be combined\n");
		return 2;
	}

	char err[4096] = "";
	struct fc_config *cfg = NULL;
	if (config_path) {
		cfg = fc_config_load_file(config_path, err, sizeof(err));
	} else if (listen || n_to) {
		if (!listen || !n_to) {
			fprintf(stderr,
			        "fulcrum: file-less mode needs --listen ADDR and at least one "
			        "--to URL\n");
			return 2;
		}
		cfg = fc_config_from_args(listen, to, n_to, algorithm,
		                          workers > 0 ? (uint32_t)workers : 0, err, sizeof(err));
	} else {
		fprintf(stderr, "fulcrum: no configuration: use -c FILE, FULCRUM_CONFIG, or "
		                "--listen ADDR --to URL\n");
		usage(stderr);
		return 2;
	}
	if (!cfg) {
		fprintf(stderr, "%s%s", err, err[0] && err[strlen(err) - 1] == '\n' ? "" : "\n");
		return 1;
	}
	if (fc_config_apply_env(cfg, err, sizeof(err)) < 0) {
		fprintf(stderr, "fulcrum: %s\n", err);
		fc_config_unref(cfg);
		return 1;
	}
	if (log_level && fc_config_parse_log_level(log_level, &cfg->log_level) < 0) {
		fprintf(stderr,
		        "fulcrum: --log-level: must be debug, info, warn or error, got '%s'\n",
		        log_level);
		fc_config_unref(cfg);
		return 2;
	}
	if (workers > 0)
		cfg->workers = (uint32_t)workers;
	else if (workers == 0)
		fc_config_parse_workers("auto", &cfg->workers);
	if (check || reload) {
		/* the journal of the admin API (only with an admin: section) */
		if (cfg->admin.enabled && (fc_admin_check_config(cfg, err, sizeof(err)) < 0 ||
		                           fc_journal_preview(cfg, fc_state_dir_peek(cfg),
		                                              check ? journal_print : journal_log,
		                                              NULL, err, sizeof(err)) < 0)) {
			fprintf(stderr, "%s\n", err);
			fc_config_unref(cfg);
			return 1;
		}
		if (fc_tls_check_config(cfg, tls_report, NULL) > 0) {
			fc_config_unref(cfg);
			return 1;
		}
		if (check) {
			sticky_report(cfg);
			resolve_report(cfg);
		}
		if (reload) {
			int rc = signal_reload(cfg);
			fc_config_unref(cfg);
			return rc;
		}
		printf("%s: configuration is valid (%zu listener%s, %zu pool%s)\n", cfg->source,
		       cfg->n_listeners, cfg->n_listeners == 1 ? "" : "s", cfg->n_pools,
		       cfg->n_pools == 1 ? "" : "s");
		fc_config_unref(cfg);
		return 0;
	}

	fc_log_level = (int)cfg->log_level;
	int rc = fc_log_open(cfg->error_log);
	if (rc < 0) {
		fprintf(stderr, "fulcrum: log.error: %s: %s\n", cfg->error_log, strerror(-rc));
		fc_config_unref(cfg);
		return 1;
	}
	if (apply_journal(cfg, err, sizeof(err)) < 0) {
		fc_error("%s", err);
		fc_config_unref(cfg);
		fc_log_close();
		return 1;
	}
	admin_cfg = cfg;
	raise_fd_limit(cfg);
	signal(SIGPIPE, SIG_IGN);
	struct fc_control_source src = {.path = config_path,
	                                .log_level = log_level,
	                                .prepare = apply_journal,
	                                .started = admin_start,
	                                .stopping = admin_stop,
	                                .notify_ready = notify_ready,
	                                .notify_reloading = notify_reloading,
	                                .notify_stopping = notify_stopping};
	int status = fc_control_run(cfg, cfg->workers ? cfg->workers : 1, &src);
	fc_config_unref(cfg);
	fc_log_close();
	return status;
}
