"""Log rotation: after the files are moved away, SIGUSR1 makes fulcrum reopen
its access and error logs by path; no line is lost or written to the old file
after the signal."""
import os
import signal
import time

import harness as h


def wait_file(path, pred, timeout=5):
    end = time.time() + timeout
    text = ""
    while time.time() < end:
        if os.path.exists(path):
            with open(path) as f:
                text = f.read()
            if pred(text):
                return text
        time.sleep(0.05)
    return text


@h.test
def sigusr1_reopens_both_logs():
    d = h.tmpdir()
    access = os.path.join(d, "access.log")
    error = os.path.join(d, "error.log")
    b = h.Echo(name="rot")
    # the harness's config sends the error log to stderr: point it at a file
    cfg = h.config(h.free_port(), [b], access=access, log_level="info")
    cfg = cfg.replace("error: stderr", "error: %s" % error)
    port = int(cfg.split("address: 127.0.0.1:")[1].split("\n")[0])
    f = h.Fulcrum.from_config(cfg, port=port)

    h.eq(h.get(f.port, "/before").status, 200, "first request")
    wait_file(access, lambda t: "/before" in t)
    os.rename(access, access + ".1")
    os.rename(error, error + ".1")
    os.kill(f.proc.pid, signal.SIGUSR1)
    text = wait_file(error, lambda t: "logs reopened" in t)
    h.check("logs reopened" in text, "error log reopened at its path: %r" % text)
    h.eq(h.get(f.port, "/after").status, 200, "request after the signal")
    new = wait_file(access, lambda t: "/after" in t)
    h.check("/after" in new and "/before" not in new, "new access log has only the new line: %r" % new)
    with open(access + ".1") as fh:
        old = fh.read()
    h.check("/before" in old and "/after" not in old, "rotated access log keeps the old line only: %r" % old)
    f.stop()


if __name__ == "__main__":
    h.main()
