#!/usr/bin/python3
"""libtorrent seeder for btt's swarm tests.

usage: lt_seed.py TORRENT SAVE_PATH [--bind IP] [--port N] [--peer HOST:PORT]...
                  [--upload-limit BYTES_PER_S] [--timeout S] [--utp] [--no-trackers] [--fast]

Checks the data under SAVE_PATH (it must be complete), prints "listening on IP:PORT" and then
"ready", and seeds until SIGTERM/SIGINT (exit 0) or until --timeout seconds (default 600) have
passed (exit 3). Peers given with --peer are (re)connected every 2 s while not connected.

TORRENT "none" (with --dht or --dht-node) runs a DHT node only: no torrent, SAVE_PATH unused;
it prints "ready" at once and then "dht: N nodes" whenever the routing table size changes.
"""
import argparse
import time

import ltpeer as L


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    L.common_args(p)
    p.set_defaults(timeout=600.0)
    a = p.parse_args()
    peers = [L.parse_peer(x) for x in a.peer]
    L.install_signals()
    ses = L.make_session(a)
    start = time.time()
    if a.torrent == "none":
        if not a.dht:
            L.die("TORRENT none is a DHT node only: give --dht or --dht-node")
        L.say("ready")
        while not L.Stop.flag:
            L.drain(ses)
            L.dht_tick(ses, None, a, time.time(), False)
            if time.time() - start > a.timeout:
                L.err("timeout: ran for %.0f s without being stopped" % a.timeout)
                return 3
            time.sleep(0.1)
        ses.pause()
        return 0
    h, ti = L.add_torrent(ses, a)

    # 1. the startup check must find every piece
    while True:
        L.drain(ses)
        st = h.status()
        name = L.state_name(st)
        if st.is_seeding:
            break
        if name in ("downloading", "finished") and st.num_pieces < ti.num_pieces():
            L.die("data under %s does not match %s: %d/%d pieces after the check"
                  % (a.save_path, a.torrent, st.num_pieces, ti.num_pieces()), 1)
        if st.errc.value() != 0:
            L.die("torrent error: %s" % st.errc.message(), 1)
        if time.time() - start > min(a.timeout, 120):
            L.die("timeout: the startup check did not finish (state %s, %d/%d pieces)"
                  % (name, st.num_pieces, ti.num_pieces()), 3)
        if L.Stop.flag:
            return 0
        time.sleep(0.05)
    L.say("ready")

    # 2. seed
    last_connect = 0.0
    last_report = time.time()
    while not L.Stop.flag:
        L.drain(ses)
        now = time.time()
        st = h.status()
        if peers and st.num_peers < len(peers) and now - last_connect >= 2.0:
            L.connect_peers(h, peers)
            last_connect = now
        L.dht_tick(ses, h, a, now, st.num_peers > 0)
        if not a.quiet and now - last_report >= 2.0:
            L.say("progress: seeding, %d peers, uploaded %d bytes, up %d B/s"
                  % (st.num_peers, st.total_payload_upload, st.upload_payload_rate))
            last_report = now
        if now - start > a.timeout:
            L.err("timeout: seeded for %.0f s without being stopped" % a.timeout)
            return 3
        time.sleep(0.1)
    ses.pause()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
