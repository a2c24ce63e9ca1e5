"""wake_helper.py — the wake: commands of test_wake.py, run by fulcrum
itself (without a shell): start a fulcrum-echo that outlives this command
(a session of its own, its output to a file, its pid in a file), stop it,
or fail and hang on purpose. Standard library only.

    wake_helper.py start ECHO PORT PIDFILE [DELAY]  fulcrum-echo listens on PORT after DELAY s
    wake_helper.py stop PIDFILE                     stops it (SIGTERM, waits for it to go)
    wake_helper.py fail                             says why on stdout, exits 1
    wake_helper.py hang PIDFILE                     says it starts, then never ends (30 s)
Every run appends its command to PIDFILE.log (the test counts the starts)."""
import os
import signal
import subprocess
import sys
import time


def note(pidfile, what):
    with open(pidfile + ".log", "a") as f:
        f.write(what + "\n")


def start(echo, port, pidfile, delay):
    note(pidfile, "start")
    out = open(pidfile + ".echo.out", "ab")
    if delay > 0:
        # the server comes up a while after this command has exited
        args = [sys.executable, __file__, "delayed", str(delay), echo, port]
    else:
        args = [echo, "-port", port, "-name", "sleeper"]
    p = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=out, stderr=out,
                         start_new_session=True)
    with open(pidfile, "w") as f:
        f.write("%d\n" % p.pid)
    print("started fulcrum-echo on port %s (pid %d)" % (port, p.pid))
    print("second line of output")
    return 0


def delayed(delay, echo, port):
    time.sleep(delay)
    os.execv(echo, [echo, "-port", port, "-name", "sleeper"])


def stop(pidfile):
    note(pidfile, "stop")
    try:
        with open(pidfile) as f:
            pid = int(f.read().strip())
    except (OSError, ValueError):
        print("nothing to stop")
        return 0
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        pass
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and os.path.exists("/proc/%d" % pid):
        try:
            # a zombie until its parent (long gone: init) reaps it
            with open("/proc/%d/stat" % pid) as f:
                if f.read().split(") ")[-1].startswith("Z"):
                    break
        except OSError:
            break
        time.sleep(0.02)
    os.unlink(pidfile)
    print("stopped pid %d" % pid)
    return 0


def main(argv):
    cmd = argv[1]
    if cmd == "start":
        return start(argv[2], argv[3], argv[4], float(argv[5]) if len(argv) > 5 else 0.0)
    if cmd == "delayed":
        delayed(float(argv[2]), argv[3], argv[4])
    if cmd == "stop":
        return stop(argv[2])
    if cmd == "fail":
        print("cannot start the service: no such unit")
        return 1
    if cmd == "hang":
        note(argv[2], "hang")
        with open(argv[2], "w") as f:
            f.write("%d\n" % os.getpid())
        print("starting, slowly")
        sys.stdout.flush()
        time.sleep(30)
        return 0
    print("unknown command %r" % cmd)
    return 2


sys.exit(main(sys.argv))
