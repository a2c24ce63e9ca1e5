"""FULCRUM_CONFIG names the file; FULCRUM_LOG_LEVEL and --log-level override the
file's log level (debug shows more than warn)."""
import time

import harness as h


def traffic(port, n=5):
    for i in range(n):
        h.eq(h.get(port, "/t%d" % i).status, 200, "status")
    time.sleep(0.3)


@h.test
def fulcrum_config_env_names_file():
    e = h.Echo()
    port = h.free_port()
    path = h.write_file(h.config(port, [e]))
    f = h.Fulcrum([], port=port, env={"FULCRUM_CONFIG": path})
    r = h.get(port, "/")
    h.eq(r.status, 200, "proxy started from FULCRUM_CONFIG")
    h.eq(r.json()["name"], e.name, "backend")


def stderr_after_traffic(level_in_file, env=None, args=()):
    e = h.Echo()
    port = h.free_port()
    f = h.Fulcrum.from_config(h.config(port, [e], log_level=level_in_file), port=port, env=env,
                              extra_args=args)
    traffic(port)
    f.stop()
    return f.stderr_text()


@h.test
def env_log_level_overrides_file():
    quiet = stderr_after_traffic("warn")
    loud = stderr_after_traffic("warn", env={"FULCRUM_LOG_LEVEL": "debug"})
    h.check(len(loud) > len(quiet), "FULCRUM_LOG_LEVEL=debug logs more than level warn "
            "(%d vs %d bytes)\nwarn: %r\ndebug: %r" % (len(loud), len(quiet), quiet[-300:], loud[-300:]))


@h.test
def flag_log_level_overrides_file():
    quiet = stderr_after_traffic("warn")
    loud = stderr_after_traffic("warn", args=["--log-level", "debug"])
    h.check(len(loud) > len(quiet), "--log-level debug logs more than level warn (%d vs %d bytes)"
            % (len(loud), len(quiet)))
    loud_file = stderr_after_traffic("debug")
    quiet_flag = stderr_after_traffic("debug", args=["--log-level", "error"])
    h.check(len(quiet_flag) < len(loud_file), "--log-level error quieter than file's debug (%d vs %d)"
            % (len(quiet_flag), len(loud_file)))


@h.test
def debug_shows_more_than_warn():
    quiet = stderr_after_traffic("warn")
    loud = stderr_after_traffic("debug")
    h.check(len(loud) > len(quiet), "level debug logs more than warn (%d vs %d bytes)"
            % (len(loud), len(quiet)))
    h.check(loud.strip(), "debug level says something")


h.main()
