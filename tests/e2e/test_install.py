"""make install and running as a service: `make install-only` of this build
into a temporary DESTDIR with a temporary PREFIX puts every file where
docs/operations.md says; examples/embed.c builds with `pkg-config --cflags
--libs fulcrum` against the staged libfulcrum and runs; the unit passes
`systemd-analyze verify`; fulcrum(1) renders without a warning and lists the
options of `fulcrum --help`; and fulcrum tells a NOTIFY_SOCKET READY=1 once
its listener accepts and STOPPING=1 when SIGTERM begins the drain.

Runs once (CTest e2e_install, labels e2e and install), in builds without a
sanitizer. FULCRUM_BUILD_DIR is the build to install (default build/)."""
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import threading
import time

import harness as h

BUILD_DIR = os.environ.get("FULCRUM_BUILD_DIR") or os.path.join(h.ROOT, "build")
PREFIX = "/opt/fulcrum-e2e"  # never created: everything lands under DESTDIR

_staged = {}


def run(args, env=None, timeout=60, cwd=None):
    e = dict(os.environ)
    for k, v in (env or {}).items():
        if v is None:
            e.pop(k, None)
        else:
            e[k] = v
    p = h.spawn(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=e, cwd=cwd)
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        p.communicate()
        h.fail("%s did not finish within %d s" % (" ".join(args), timeout))
    return subprocess.CompletedProcess(args, p.returncode, out.decode(errors="replace"),
                                       err.decode(errors="replace"))


def staged():
    """One install per file, shared by its tests: (DESTDIR, DESTDIR + PREFIX)."""
    if not _staged:
        dest = h.tmpdir()
        p = run(["make", "--no-print-directory", "-C", h.ROOT, "install-only",
                 "BUILD=" + BUILD_DIR, "PREFIX=" + PREFIX, "DESTDIR=" + dest],
                env={"SYSTEMD_UNIT_DIR": ""})
        h.eq(p.returncode, 0, "make install-only exit code (stderr %s)" % p.stderr[-2000:])
        _staged.update(dest=dest, root=dest + PREFIX, log=p.stdout)
    return _staged["dest"], _staged["root"]


def read(path):
    with open(path) as f:
        return f.read()


EXECUTABLES = ["bin/fulcrum", "bin/fulcrum-echo"]
FILES = [
    "lib/libfulcrum.a",
    "include/fulcrum/fulcrum.h",
    "include/fulcrum/algorithm.h",
    "lib/pkgconfig/fulcrum.pc",
    "share/man/man1/fulcrum.1",
    "lib/systemd/system/fulcrum.service",
    "share/doc/fulcrum/README.md",
    "share/doc/fulcrum/operations.md",
    "share/doc/fulcrum/configuration.md",
    "share/doc/fulcrum/examples/fulcrum.yaml",
    "share/doc/fulcrum/examples/quickstart.yaml",
    "share/doc/fulcrum/examples/embed.c",
]


@h.test
def make_install_puts_every_file_in_place():
    dest, root = staged()
    for rel in EXECUTABLES:
        path = os.path.join(root, rel)
        h.check(os.path.isfile(path), "installed: %s" % rel)
        h.check(os.access(path, os.X_OK), "executable: %s" % rel)
    for rel in FILES:
        path = os.path.join(root, rel)
        h.check(os.path.isfile(path) and os.path.getsize(path) > 0, "installed: %s" % rel)
        h.check(not os.access(path, os.X_OK), "not executable: %s" % rel)
    # every public header, and nothing outside DESTDIR + PREFIX
    headers = sorted(os.listdir(os.path.join(h.ROOT, "include", "fulcrum")))
    h.eq(sorted(os.listdir(os.path.join(root, "include", "fulcrum"))), headers, "headers")
    for top in os.listdir(dest):
        h.eq(top, PREFIX.strip("/").split("/")[0], "only PREFIX under DESTDIR")
    h.check(not os.path.exists(os.path.join(dest, "etc")), "nothing written to /etc")
    # the staged binary is this build's, and --check passes the example the
    # unit's ExecStartPre would check once it is copied to /etc/fulcrum
    fulcrum = os.path.join(root, "bin", "fulcrum")
    v = run([fulcrum, "--version"])
    h.eq(v.stdout.strip(), "fulcrum " + h.run_fulcrum(["--version"]).stdout.split()[1], "version")
    example = os.path.join(root, "share/doc/fulcrum/examples/fulcrum.yaml")
    c = run([fulcrum, "--check", "--config", example])
    h.eq(c.returncode, 0, "installed fulcrum --check of the installed example (%s)" % c.stderr)
    # the library is libfulcrum_balance.a under its installed name
    with open(os.path.join(BUILD_DIR, "libfulcrum_balance.a"), "rb") as a, \
            open(os.path.join(root, "lib/libfulcrum.a"), "rb") as b:
        h.check(a.read() == b.read(), "lib/libfulcrum.a is the build's libfulcrum_balance.a")


@h.test
def default_prefix_is_usr_local():
    p = run(["make", "--no-print-directory", "-n", "-C", h.ROOT, "install-only",
             "BUILD=" + BUILD_DIR], env={"PREFIX": None, "DESTDIR": None})
    h.eq(p.returncode, 0, "make -n install-only")
    h.check('--prefix "/usr/local"' in p.stdout, "default PREFIX /usr/local: %r" % p.stdout)


def pc_env(dest, root, how):
    if how == "sysroot":
        return {"PKG_CONFIG_PATH": os.path.join(dest + PREFIX, "lib/pkgconfig"),
                "PKG_CONFIG_SYSROOT_DIR": dest}
    return {"PKG_CONFIG_PATH": os.path.join(root, "lib/pkgconfig"), "PKG_CONFIG_SYSROOT_DIR": ""}


@h.test
def embed_example_builds_with_pkg_config():
    dest, root = staged()
    pc = read(os.path.join(root, "lib/pkgconfig/fulcrum.pc"))
    h.check(re.search(r"^prefix=%s$" % re.escape(PREFIX), pc, re.M), "prefix in fulcrum.pc:\n%s" % pc)
    version = run(["pkg-config", "--modversion", "fulcrum"], env=pc_env(dest, root, "sysroot"))
    h.eq(version.stdout.strip(), h.run_fulcrum(["--version"]).stdout.split()[1], "pkg-config --modversion")
    for how, extra in (("sysroot", []), ("define-prefix", ["--define-prefix"])):
        env = pc_env(dest, root, how)
        p = run(["pkg-config"] + extra + ["--cflags", "--libs", "fulcrum"], env=env)
        h.eq(p.returncode, 0, "pkg-config %s (%s)" % (how, p.stderr))
        flags = p.stdout.split()
        h.check("-I%s/include" % root in flags, "%s: -I into DESTDIR: %r" % (how, p.stdout))
        h.check("-L%s/lib" % root in flags, "%s: -L into DESTDIR: %r" % (how, p.stdout))
        h.check("-lfulcrum" in flags, "%s: -lfulcrum: %r" % (how, p.stdout))
        out = os.path.join(h.tmpdir(), "embed")
        cc = shutil.which("cc") or shutil.which("gcc") or h.fail("no C compiler")
        b = run([cc, "-std=c11", "-Wall", "-Wextra", "-Werror", "-o", out,
                 os.path.join(root, "share/doc/fulcrum/examples/embed.c")] + flags + ["-Wl,-t"])
        h.eq(b.returncode, 0, "%s: cc embed.c $(pkg-config ...) failed:\n%s" % (how, b.stderr[-3000:]))
        h.check(os.path.join(root, "lib", "libfulcrum.a") in b.stdout + b.stderr,
                "%s: linked the staged libfulcrum.a (ld -t):\n%s" % (how, b.stdout[-2000:]))
        r = run([out])
        h.eq(r.returncode, 0, "%s: embed runs (stderr %r)" % (how, r.stderr))
        h.check(re.search(r"^request 9 -> app\d \(10\.0\.0\.\d:8080\)$", r.stdout, re.M),
                "embed picked servers:\n%s" % r.stdout)
        h.check("app1: weight 3, 6 requests, 0 active" in r.stdout, "embed's stats:\n%s" % r.stdout)


def unit_text():
    dest, root = staged()
    return read(os.path.join(root, "lib/systemd/system/fulcrum.service"))


@h.test
def unit_names_the_real_bindir():
    text = unit_text()
    conf = "--config /etc/fulcrum/fulcrum.yaml"
    want = {
        "Type": "notify",
        "ExecStartPre": "%s/bin/fulcrum --check %s" % (PREFIX, conf),
        "ExecStart": "%s/bin/fulcrum %s" % (PREFIX, conf),
        "ExecReload": "%s/bin/fulcrum --reload %s" % (PREFIX, conf),
        "StateDirectory": "fulcrum",
        "RuntimeDirectory": "fulcrum",
        "AmbientCapabilities": "CAP_NET_BIND_SERVICE",
        "CapabilityBoundingSet": "CAP_NET_BIND_SERVICE",
        "NoNewPrivileges": "yes",
        "ProtectSystem": "strict",
        "DynamicUser": "yes",
    }
    keys = dict(re.findall(r"^(\w+)=(.*)$", text, re.M))
    for k, v in want.items():
        h.eq(keys.get(k), v, "fulcrum.service %s=" % k)
    h.check(int(keys.get("LimitNOFILE", "0")) >= 65536, "LimitNOFILE= high")
    h.check("@FC_" not in text, "no @FC_...@ placeholder left:\n%s" % text)


@h.test
def unit_passes_systemd_analyze_verify():
    sa = shutil.which("systemd-analyze")
    if not sa:
        print("SKIP systemd-analyze verify: systemd-analyze is not installed")
        return
    dest, root = staged()
    text = unit_text()
    # The unit names PREFIX's binaries, which exist under DESTDIR only: verify
    # a copy whose PREFIX paths point into DESTDIR, with nothing else changed.
    # MANPATH lets its Documentation=man:fulcrum(1) find the staged page.
    d = h.tmpdir()
    path = os.path.join(d, "fulcrum.service")
    with open(path, "w") as f:
        f.write(text.replace(PREFIX + "/", root + "/"))
    env = {"MANPATH": os.path.join(root, "share/man"), "SYSTEMD_LOG_COLOR": "0", "SYSTEMD_PAGER": ""}
    v = run([sa, "verify", path], env=env)
    # verify exits 0 after a warning such as "Unknown key": any output fails
    h.check(v.returncode == 0 and not (v.stdout + v.stderr).strip(),
            "systemd-analyze verify (exit %d):\n%s%s" % (v.returncode, v.stdout, v.stderr))
    # and it does look: a misspelt key and a binary that is not there are reported
    bad = os.path.join(d, "broken.service")
    with open(bad, "w") as f:
        f.write(text.replace(PREFIX + "/", root + "/").replace("Restart=", "Restrat=")
                .replace(root + "/bin/fulcrum --reload", root + "/bin/no-such-fulcrum --reload"))
    v = run([sa, "verify", bad], env=env)
    out = v.stdout + v.stderr
    h.check("Restrat" in out and "no-such-fulcrum" in out, "verify reports a broken unit:\n%s" % out)


def man_text(path):
    groff = shutil.which("groff")
    if groff:
        w = run([groff, "-man", "-ww", "-z", "-Tutf8", path])
        h.check(w.returncode == 0 and not w.stderr.strip(), "groff -ww warnings:\n%s" % w.stderr)
        r = run([groff, "-man", "-Tascii", "-P-c", path])
    elif shutil.which("man"):
        r = run(["man", "-l", "-Tascii", path], env={"MANWIDTH": "80"})
    else:
        print("SKIP rendering fulcrum.1: neither groff nor man is installed")
        return None
    h.eq(r.returncode, 0, "rendering fulcrum.1 (%s)" % r.stderr)
    return re.sub(r".\x08", "", r.stdout)


def help_options(text):
    """The options of a usage text's option list: {'--check', '-c', ...}."""
    opts = set()
    for line in text.splitlines():
        m = re.match(r"^ {2,8}((?:-\w, )?--[\w-]+)", line)
        if m:
            opts.update(re.findall(r"--?[\w-]+", m.group(1)))
    return opts


@h.test
def man_page_renders_and_matches_help():
    dest, root = staged()
    text = man_text(os.path.join(root, "share/man/man1/fulcrum.1"))
    if text is None:
        return
    sections = dict(re.findall(r"^([A-Z][A-Z ]+)\n(.*?)(?=^[A-Z][A-Z ]+\n|\Z)", text, re.M | re.S))
    for s in ("NAME", "SYNOPSIS", "OPTIONS", "SIGNALS", "ENVIRONMENT", "FILES", "EXIT STATUS", "SEE ALSO"):
        h.check(s in sections, "fulcrum(1) has a %s section: %s" % (s, sorted(sections)))
    usage = h.run_fulcrum(["--help"]).stdout
    want = help_options(usage)
    h.check({"--config", "-c", "--check", "--help"} <= want, "parsed --help: %r" % want)
    # every option of --help is documented, and the page documents no other
    got = help_options(sections["OPTIONS"])
    h.eq(sorted(got), sorted(want), "options in fulcrum(1) against fulcrum --help")
    for sig in ("SIGHUP", "SIGUSR1", "SIGTERM", "SIGINT"):
        h.check(sig in sections["SIGNALS"], "SIGNALS names %s" % sig)
    for var in ("FULCRUM_LOG_LEVEL", "FULCRUM_WORKERS", "FULCRUM_ADMIN_TOKEN", "FULCRUM_CONFIG",
                "NOTIFY_SOCKET"):
        h.check(re.search(r"^ +%s$" % var, sections["ENVIRONMENT"], re.M), "ENVIRONMENT lists %s" % var)
    for f in ("/etc/fulcrum/fulcrum.yaml", "/var/lib/fulcrum", "/run/fulcrum/fulcrum.pid"):
        h.check(f in sections["FILES"], "FILES lists %s" % f)
    version = h.run_fulcrum(["--version"]).stdout.strip()
    h.check(version in text, "the page is for %s" % version)
    h.check("docs/" in sections["SEE ALSO"] and "operations.md" in sections["SEE ALSO"],
            "SEE ALSO points to the docs")


# ---------------------------------------------------------------------------
# sd_notify


class NotifySocket:
    """A unix datagram socket in the place of systemd's, with SO_PASSCRED so
    each message comes with its sender's pid (systemd's NotifyAccess=main
    takes messages from the main pid only)."""

    def __init__(self, abstract=False):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        if abstract:
            name = "fulcrum-e2e-notify-%d-%d" % (os.getpid(), int(time.monotonic() * 1e6))
            self.sock.bind("\0" + name)
            self.env = "@" + name
        else:
            self.env = os.path.join(h.tmpdir(), "notify")
            self.sock.bind(self.env)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)

    def recv(self, timeout):
        """(text, sender pid) of the next message, or (None, None)."""
        self.sock.settimeout(timeout * h.SLOW)
        try:
            data, anc, _, _ = self.sock.recvmsg(4096, socket.CMSG_SPACE(12))
        except socket.timeout:
            return None, None
        pid = None
        for level, kind, payload in anc:
            if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
                pid = struct.unpack("iII", payload[:12])[0]
        return data.decode(), pid

    def close(self):
        self.sock.close()


def notify_round(abstract):
    n = NotifySocket(abstract=abstract)
    try:
        e = h.Echo()
        port = h.free_port()
        f = h.Fulcrum.from_config(h.config(port, [e], log_level="info"), port=port, wait=False,
                                  env={"NOTIFY_SOCKET": n.env})
        msg, pid = n.recv(15)
        h.eq(msg, "READY=1", "first notification (fulcrum log:\n%s)" % f.stderr_text()[-2000:])
        h.eq(pid, f.pid, "sent by fulcrum's main process")
        # ready means accepting: no wait, no retry
        c = socket.create_connection(("127.0.0.1", port), timeout=2)
        c.close()
        h.eq(h.get(port, "/after-ready").status, 200, "a request right after READY=1")
        # STOPPING=1 when the drain begins, while a request is still in flight
        slow = {}
        t = threading.Thread(target=lambda: slow.update(r=h.get(port, "/sleep/1000", timeout=10)),
                             daemon=True)
        t.start()
        h.wait_until(lambda: e.requests() >= 2, timeout=3, what="the slow request at the backend")
        f.send_signal(signal.SIGTERM)
        t0 = time.monotonic()
        msg, pid = n.recv(5)
        h.eq(msg, "STOPPING=1", "notification after SIGTERM")
        h.eq(pid, f.pid, "STOPPING=1 from the main process")
        h.check(time.monotonic() - t0 < 0.9, "STOPPING=1 comes as the drain begins, not at its end")
        t.join(10 * h.SLOW)
        h.eq(slow.get("r") and slow["r"].status, 200, "the in-flight request finished")
        h.eq(f.wait(10), 0, "exit code after the drain")
        msg, _ = n.recv(0.3)
        h.eq(msg, None, "nothing after STOPPING=1")
        h.check("NOTIFY_SOCKET" not in f.stderr_text(), "no notify error: %s" % f.stderr_text())
    finally:
        n.close()


@h.test
def notify_ready_and_stopping_on_a_path_socket():
    notify_round(abstract=False)


@h.test
def notify_ready_and_stopping_on_an_abstract_socket():
    notify_round(abstract=True)


@h.test
def notify_socket_pointing_nowhere_is_logged_not_fatal():
    e = h.Echo()
    port = h.free_port()
    nowhere = os.path.join(h.tmpdir(), "no-such-socket")
    f = h.Fulcrum.from_config(h.config(port, [e]), port=port, env={"NOTIFY_SOCKET": nowhere})
    f.wait_for_log("NOTIFY_SOCKET=%s: cannot send READY=1: No such file or directory" % nowhere)
    h.eq(h.get(port, "/").status, 200, "serves without systemd listening")
    f.send_signal(signal.SIGTERM)
    h.eq(f.wait(10), 0, "stops cleanly")
    h.check("cannot send STOPPING=1" in f.stderr_text(), "STOPPING=1's failure logged too")
    # a value that is no unix socket name at all
    port = h.free_port()
    f = h.Fulcrum.from_config(h.config(port, [e]), port=port, env={"NOTIFY_SOCKET": "vsock:2:9"})
    f.wait_for_log("NOTIFY_SOCKET=vsock:2:9: not a socket path or @abstract name")
    h.eq(h.get(port, "/").status, 200, "serves with a NOTIFY_SOCKET it cannot use")


h.main()
