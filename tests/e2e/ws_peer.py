"""The WebSocket end of the tunnel tests, on python3-websockets: run it with
/usr/bin/python3 (Debian's, which sees python3-websockets), never imported by
the harness (standard library only).

    ws_peer.py server [--name NAME]
        An echo backend on a kernel-picked loopback port; prints
        "ws_peer NAME listening on 127.0.0.1:PORT". Every message comes back as
        it came (text or binary). Paths: /name sends the server's name first;
        /frag sends one message in three fragments first; a request without
        Upgrade gets a plain 200 with the name as its body.
    ws_peer.py client SCENARIO PORT [ARGS]
        Runs a scenario through ws://127.0.0.1:PORT (wss:// when WS_TLS=1 is
        in the environment, not verifying the certificate) and prints one JSON line;
        exit status 0 when every check passed:
          basic              text, binary, 1 MiB both kinds, fragments both
                             ways, ping/pong, the close handshake
          many N             N WebSockets at once, each echoing messages
          idle HOLD          one WebSocket idle for HOLD s, then an echo, then
                             wait for the proxy to close it: "closed_after" s
          hold               open /name, print {"open": NAME}, then wait for
                             stdin's EOF (close) or the far end closing
No keep-alive pings anywhere: a test's idle connection must stay idle."""
import asyncio
import http
import json
import os
import sys
import time

import websockets

MAX = 4 << 20
OPTS = dict(ping_interval=None, compression=None, max_size=MAX, close_timeout=5)
SCHEME = "ws"
CLIENT_OPTS = dict(OPTS)
if os.environ.get("WS_TLS") == "1":
    import ssl

    _ctx = ssl.create_default_context()
    _ctx.check_hostname = False
    _ctx.verify_mode = ssl.CERT_NONE
    SCHEME = "wss"
    CLIENT_OPTS["ssl"] = _ctx


def out(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


# ------------------------------------------------------------------ server

async def serve(name):
    async def plain(path, headers):
        if "upgrade" not in headers:
            body = name.encode()
            return http.HTTPStatus.OK, [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))], body
        return None

    async def handler(ws, path):
        if path == "/name":
            await ws.send(name)
        elif path == "/frag":
            await ws.send(["frag-", "ment-", "ed"])
        try:
            async for m in ws:
                await ws.send(m)
        except websockets.ConnectionClosed:
            pass

    async with websockets.serve(handler, "127.0.0.1", 0, process_request=plain, **OPTS) as srv:
        port = srv.sockets[0].getsockname()[1]
        print("ws_peer %s listening on 127.0.0.1:%d" % (name, port), flush=True)
        await asyncio.Future()


# ------------------------------------------------------------------ client

def check(cond, what):
    if not cond:
        raise AssertionError(what)


async def echo(ws, m):
    await ws.send(m)
    got = await asyncio.wait_for(ws.recv(), 30)
    check(type(got) is type(m) and got == m, "echo of a %s of %d" % (type(m).__name__, len(m)))


async def basic(port):
    url = SCHEME + "://127.0.0.1:%d" % port
    async with websockets.connect(url + "/frag", **CLIENT_OPTS) as ws:
        check(await asyncio.wait_for(ws.recv(), 10) == "frag-ment-ed", "server's fragments joined")
        await echo(ws, "hello")
        await echo(ws, "héllo ✓")
        await echo(ws, bytes(range(256)))
        await echo(ws, os.urandom(1 << 20))
        await echo(ws, "x" * (1 << 20))
        await ws.send(["one ", "two ", "three"])  # one message, three frames
        check(await asyncio.wait_for(ws.recv(), 10) == "one two three", "client's fragments joined")
        await ws.send([b"\x00\x01", b"\x02"])
        check(await asyncio.wait_for(ws.recv(), 10) == b"\x00\x01\x02", "binary fragments joined")
        pong = await ws.ping(b"are you there")
        await asyncio.wait_for(pong, 10)
        await ws.close(1000, "bye")
        check(ws.close_code == 1000, "close code %r" % ws.close_code)
    return {"ok": True, "close_code": ws.close_code}


async def many(port, n):
    url = SCHEME + "://127.0.0.1:%d/" % port

    async def one(i):
        async with websockets.connect(url, open_timeout=30, **CLIENT_OPTS) as ws:
            for k in range(5):
                await echo(ws, "ws %d message %d" % (i, k))
            await echo(ws, os.urandom(20000))
        return True

    res = await asyncio.gather(*[one(i) for i in range(n)])
    check(all(res), "all echoed")
    return {"ok": True, "n": len(res)}


async def idle(port, hold):
    async with websockets.connect(SCHEME + "://127.0.0.1:%d/" % port, **CLIENT_OPTS) as ws:
        await asyncio.sleep(hold)
        await echo(ws, "still there")
        t0 = time.monotonic()
        try:
            await asyncio.wait_for(ws.recv(), 60)
            check(False, "a message nobody sent")
        except websockets.ConnectionClosed:
            pass
        return {"ok": True, "closed_after": time.monotonic() - t0}


async def hold(port):
    async with websockets.connect(SCHEME + "://127.0.0.1:%d/name" % port, **CLIENT_OPTS) as ws:
        out({"open": await asyncio.wait_for(ws.recv(), 10)})
        loop = asyncio.get_running_loop()
        stdin = loop.run_in_executor(None, sys.stdin.read)
        closed = asyncio.ensure_future(ws.wait_closed())
        t0 = time.monotonic()
        done, _ = await asyncio.wait([stdin, closed], return_when=asyncio.FIRST_COMPLETED)
        out({"ok": True, "closed_by_peer": closed in done, "after": time.monotonic() - t0})
        os._exit(0)  # the stdin reader thread may still wait: asyncio.run would join it


def main():
    if sys.argv[1] == "server":
        name = sys.argv[sys.argv.index("--name") + 1] if "--name" in sys.argv else "ws"
        asyncio.run(serve(name))
        return
    scenario, port, args = sys.argv[2], int(sys.argv[3]), sys.argv[4:]
    run = {"basic": lambda: basic(port), "many": lambda: many(port, int(args[0])),
           "idle": lambda: idle(port, float(args[0])), "hold": lambda: hold(port)}[scenario]
    try:
        out(asyncio.run(run()))
    except Exception as e:  # the test prints this and fails
        out({"ok": False, "error": "%s: %s" % (type(e).__name__, e)})
        sys.exit(1)


if __name__ == "__main__":
    main()
