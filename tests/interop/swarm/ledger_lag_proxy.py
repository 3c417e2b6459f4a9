#!/usr/bin/python3
"""An HTTP proxy in front of a btt ledger that plays a lagging view of it (a replica that has not
seen the newest channels yet): the first LAG lookups of each channel (GET /v1/channels/ID) are
answered 404 unknown-channel, as the ledger answers for a channel it does not hold; every other
request is passed through unchanged.

usage: ledger_lag_proxy.py UPSTREAM-URL [--lag N] [--delay S]
--delay S: every channel lookup is answered S seconds late (a slow ledger) instead.
Prints "listening on 127.0.0.1:PORT", then "lagged ID" for each lookup it answered itself or
delayed."""
import argparse
import http.client
import http.server
import sys
import threading
import time
import urllib.parse


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("upstream")
    ap.add_argument("--lag", type=int, default=1)
    ap.add_argument("--delay", type=float, default=0.0)
    a = ap.parse_args()
    up = urllib.parse.urlsplit(a.upstream)
    seen = {}
    lock = threading.Lock()

    class H(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def answer(self, code, body, ctype="application/json"):
            self.send_response(code)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def forward(self):
            n = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(n) if n else None
            path = self.path
            if self.command == "GET" and path.startswith("/v1/channels/"):
                cid = path[len("/v1/channels/"):]
                with lock:
                    k = seen.get(cid, 0)
                    seen[cid] = k + 1
                if a.delay:
                    print("lagged", cid, flush=True)
                    time.sleep(a.delay)
                elif k < a.lag:
                    print("lagged", cid, flush=True)
                    self.answer(404, b'{"error":"unknown-channel","message":"no such open channel (lagging view)"}')
                    return
            c = http.client.HTTPConnection(up.hostname, up.port, timeout=30)
            hdrs = {k: v for k, v in self.headers.items() if k.lower() in ("content-type", "content-length")}
            c.request(self.command, path, body=body, headers=hdrs)
            r = c.getresponse()
            data = r.read()
            self.answer(r.status, data, r.getheader("Content-Type") or "application/json")
            c.close()

        do_GET = forward
        do_POST = forward

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
    print("listening on 127.0.0.1:%d" % srv.server_address[1], flush=True)
    srv.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
