"""Open-file limit: fulcrum raises its soft limit to the hard one at start, and
warns when even that cannot hold client.max_connections."""
import resource

import harness as h

HARD = 4096


def soft_limit(pid):
    with open("/proc/%d/limits" % pid) as f:
        for line in f:
            if line.startswith("Max open files"):
                return int(line.split()[3])
    return -1


def setup():
    # children inherit this: a low soft limit under a modest hard one
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (256, min(hard, HARD)))
    return min(hard, HARD)


@h.test
def soft_limit_raised_to_hard():
    hard = setup()
    f = h.start_proxy([h.Echo()], client={"max_connections": 1000})
    h.eq(soft_limit(f.proc.pid), hard, "fulcrum's soft open-file limit")
    h.eq(h.get(f.port, "/").status, 200, "serves")
    h.check("open files" not in f.stderr_text(), "no warning when the limit suffices: %r" % f.stderr_text())


@h.test
def warns_when_limit_too_low():
    setup()
    f = h.start_proxy([h.Echo()], client={"max_connections": 100000})
    text = f.wait_for_output(lambda t: "open files" in t, timeout=3, which="stderr")
    h.check("max_connections 100000" in text and "open files" in text,
            "a warning names max_connections and the limit: %r" % text)
    h.eq(h.get(f.port, "/").status, 200, "still serves")


if __name__ == "__main__":
    h.main()
