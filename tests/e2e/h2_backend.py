"""An HTTP/2 (h2c, prior knowledge) backend for the e2e tests of pools with
protocol: h2, on python3-h2: run it with /usr/bin/python3 (Debian's, which
sees python3-h2); never imported by the harness, which stays standard
library only (test files drive it through a pipe).

    h2_backend.py --name NAME [--status NNN] [--retry-after]

Listens on a kernel-picked 127.0.0.1 port and prints "h2_backend NAME
listening on 127.0.0.1:PORT". Every request is read whole, then answered:
with --status, that status (and Retry-After: 1 with --retry-after) and the
body "NNN from NAME"; otherwise 200 with the request's body back. Every
answer carries x-server: NAME. One line on stdin, "stats", is answered with
one JSON line: {"requests": N, "bodies": [length of each request body]}.
EOF on stdin stops it."""
import argparse
import json
import select
import socket
import sys

import h2.config
import h2.connection
import h2.events


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--name", default="h2")
    ap.add_argument("--status", type=int, default=0)
    ap.add_argument("--retry-after", action="store_true")
    a = ap.parse_args()
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", 0))
    ls.listen(64)
    print("h2_backend %s listening on 127.0.0.1:%d" % (a.name, ls.getsockname()[1]), flush=True)
    conns = {}  # socket -> (H2Connection, {stream id: bytearray})
    bodies = []
    pending = {}  # (socket, stream id) -> answer bytes the windows held back

    def answer(sock, conn, sid, body):
        bodies.append(len(body))
        if a.status:
            out = b"%d from %s" % (a.status, a.name.encode())
            hdrs = [(":status", str(a.status)), ("x-server", a.name), ("content-length", str(len(out)))]
            if a.retry_after:
                hdrs.append(("retry-after", "1"))
        else:
            out = bytes(body)
            hdrs = [(":status", "200"), ("x-server", a.name), ("content-length", str(len(out)))]
        conn.send_headers(sid, hdrs, end_stream=not out)
        if out:
            pending[(sock, sid)] = out
            push(sock, conn)

    def push(sock, conn):
        """Sends what the windows let through of the answers waiting on sock."""
        for key in [k for k in pending if k[0] is sock]:
            sid, out = key[1], pending[key]
            while out:
                try:
                    n = min(len(out), conn.local_flow_control_window(sid), conn.max_outbound_frame_size)
                except Exception:  # the stream is gone
                    out = b""
                    break
                if n <= 0:
                    break  # a WINDOW_UPDATE brings the rest
                conn.send_data(sid, out[:n], end_stream=n == len(out))
                out = out[n:]
            if out:
                pending[key] = out
            else:
                del pending[key]

    while True:
        r, _, _ = select.select([ls, sys.stdin] + list(conns), [], [], 30)
        for s in r:
            if s is sys.stdin:
                line = sys.stdin.readline()
                if not line:
                    return
                if line.strip() == "stats":
                    print(json.dumps({"requests": len(bodies), "bodies": bodies}), flush=True)
            elif s is ls:
                c, _ = ls.accept()
                conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=False))
                conn.initiate_connection()
                c.sendall(conn.data_to_send())
                conns[c] = (conn, {})
            else:
                conn, streams = conns[s]
                try:
                    data = s.recv(65536)
                except OSError:
                    data = b""
                if not data:
                    s.close()
                    del conns[s]
                    for key in [k for k in pending if k[0] is s]:
                        del pending[key]
                    continue
                for ev in conn.receive_data(data):
                    if isinstance(ev, h2.events.RequestReceived):
                        streams[ev.stream_id] = bytearray()
                        if ev.stream_ended:
                            answer(s, conn, ev.stream_id, streams.pop(ev.stream_id))
                    elif isinstance(ev, h2.events.DataReceived):
                        streams.setdefault(ev.stream_id, bytearray()).extend(ev.data)
                        conn.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
                    elif isinstance(ev, h2.events.StreamEnded):
                        if ev.stream_id in streams:
                            answer(s, conn, ev.stream_id, streams.pop(ev.stream_id))
                    elif isinstance(ev, h2.events.StreamReset):
                        streams.pop(ev.stream_id, None)
                        pending.pop((s, ev.stream_id), None)
                    elif isinstance(ev, h2.events.WindowUpdated):
                        push(s, conn)
                try:
                    s.sendall(conn.data_to_send())
                except OSError:
                    pass


if __name__ == "__main__":
    main()
