#!/usr/bin/python3
"""A lossy UDP relay for the uTP tests (the kernel here has no netem).

usage: udp_relay.py --target HOST:PORT [--bind IP] [--port N] [--loss PCT] [--reorder PCT]
                    [--delay MS] [--jitter MS] [--seed N]

Listens on BIND:PORT and relays datagrams between one client (whoever sends from an address
other than the target) and the target, both ways through the same socket. Each datagram is
dropped with probability LOSS %, otherwise delivered after DELAY ms; REORDER % of them get an
extra random 1..JITTER ms, so later datagrams overtake them. Prints "listening on IP:PORT" at
start and, on SIGTERM/SIGINT, "relay: N in, F forwarded, D dropped, R reordered" and exits 0.
"""
import argparse
import heapq
import random
import select
import signal
import socket
import sys
import time


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--target", required=True)
    p.add_argument("--bind", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--loss", type=float, default=0.0)
    p.add_argument("--reorder", type=float, default=0.0)
    p.add_argument("--delay", type=float, default=2.0)
    p.add_argument("--jitter", type=float, default=10.0)
    p.add_argument("--seed", type=int, default=1)
    a = p.parse_args()
    host, _, port = a.target.rpartition(":")
    target = (host.strip("[]"), int(port))
    rng = random.Random(a.seed)

    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
    s.bind((a.bind, a.port))
    s.setblocking(False)
    print("listening on %s:%d" % s.getsockname(), flush=True)

    stop = [False]

    def on_signal(signum, frame):
        stop[0] = True
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    client = None
    queue = []  # (due, seq, data, dest)
    seq = 0
    n_in = n_fwd = n_drop = n_reord = 0
    while not stop[0]:
        now = time.monotonic()
        timeout = max(0.0, queue[0][0] - now) if queue else 0.2
        try:
            r, _, _ = select.select([s], [], [], timeout)
        except InterruptedError:
            continue
        if r:
            for _ in range(256):
                try:
                    data, src = s.recvfrom(65536)
                except BlockingIOError:
                    break
                n_in += 1
                if src == target:
                    dest = client
                else:
                    client = src
                    dest = target
                if dest is None:
                    continue
                if rng.random() * 100 < a.loss:
                    n_drop += 1
                    continue
                due = time.monotonic() + a.delay / 1000
                if rng.random() * 100 < a.reorder:
                    due += rng.uniform(1, a.jitter) / 1000
                    n_reord += 1
                seq += 1
                heapq.heappush(queue, (due, seq, data, dest))
        now = time.monotonic()
        while queue and queue[0][0] <= now:
            _, _, data, dest = heapq.heappop(queue)
            try:
                s.sendto(data, dest)
                n_fwd += 1
            except (BlockingIOError, OSError):
                n_drop += 1
    print("relay: %d in, %d forwarded, %d dropped, %d reordered" % (n_in, n_fwd, n_drop, n_reord), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
