"""A real dnsmasq for the DNS tests (test_discovery.py, test_resolve.py): it
listens on a free loopback port and answers for app.test only, from records
the test sets."""
import os
import shutil
import signal
import time

import harness as h

DNSMASQ = shutil.which("dnsmasq") or "/usr/sbin/dnsmasq"


class Dns:
    """dnsmasq answering for app.test only (TTL 1 s, no negative cache), from
    a file that set() rewrites; stop() and start() take it down and up on the
    same port."""

    def __init__(self):
        self.dir = h.tmpdir()
        self.port = h.free_port()
        self.conf = os.path.join(self.dir, "dnsmasq.conf")
        self.records = os.path.join(self.dir, "records.conf")
        with open(self.records, "w") as f:
            f.write("")
        with open(self.conf, "w") as f:
            f.write("port=%d\nlisten-address=127.0.0.1\nbind-interfaces\nno-resolv\nno-hosts\n"
                    "no-negcache\nlocal=/app.test/\nlocal-ttl=1\nconf-file=%s\n"
                    % (self.port, self.records))
        self.proc = None
        self.start()

    def start(self):
        self.proc = h.spawn([DNSMASQ, "--keep-in-foreground", "--conf-file=" + self.conf,
                             "--pid-file=", "--log-facility=" + os.path.join(self.dir, "dnsmasq.log")])
        time.sleep(0.3 * h.SLOW)
        h.check(self.proc.poll() is None, "dnsmasq runs")

    def set(self, srv=(), a=()):
        """srv: (target, port, priority, weight); a: (name, ip). Targets get
        127.0.0.1 unless a names them."""
        lines = []
        named = {n for n, _ in a}
        for target, port, prio, weight in srv:
            lines.append("srv-host=_http._tcp.app.test,%s,%d,%d,%d" % (target, port, prio, weight))
            if target not in named:
                lines.append("host-record=%s,127.0.0.1" % target)
                named.add(target)
        for name, ip in a:
            lines.append("host-record=%s,%s" % (name, ip))
        # dnsmasq rereads host-record/srv-host only on a restart (SIGHUP
        # rereads hosts files): restart it on the same port
        with open(self.records, "w") as f:
            f.write("\n".join(lines) + "\n")
        self.stop()
        self.start()

    def stop(self, sig=signal.SIGTERM):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(timeout=5)
