#!/usr/bin/python3
"""libtorrent downloader for btt's swarm tests.

usage: lt_get.py TORRENT SAVE_PATH [--bind IP] [--port N] [--peer HOST:PORT]...
                 [--download-limit BYTES_PER_S] [--timeout S] [--seed] [--utp] [--no-trackers]
                 [--report-peers]

Downloads into SAVE_PATH (peers from --peer and from the torrent's trackers), prints
"listening on IP:PORT", "progress: ..." every 2 s, and "complete: downloaded D bytes in S s"
once every piece is verified; then exits 0, or with --seed keeps seeding until SIGTERM/SIGINT.
After --timeout seconds (default 120) without completing it prints why and exits 3.
With --report-peers it prints "peer IP:PORT sources S" for every peer it is connected to, once,
where S names how libtorrent learned of it (tracker, dht, pex, lsd, resume_data, incoming).
"""
import argparse
import time

import ltpeer as L


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    L.common_args(p)
    p.add_argument("--seed", action="store_true", help="keep seeding after completion")
    p.add_argument("--report-peers", action="store_true", help="print each connected peer and its sources")
    a = p.parse_args()
    peers = [L.parse_peer(x) for x in a.peer]
    L.install_signals()
    ses = L.make_session(a)
    h, ti = L.add_torrent(ses, a)
    start = time.time()
    last_connect = 0.0
    last_report = start
    last_peers = 0.0
    seen = set()
    done = False
    while not L.Stop.flag:
        L.drain(ses)
        now = time.time()
        if a.report_peers and now - last_peers >= 0.5:
            last_peers = now
            L.report_peers(h, seen)
        st = h.status()
        name = L.state_name(st)
        if st.errc.value() != 0:
            L.die("torrent error: %s" % st.errc.message(), 1)
        checking = name in ("checking_files", "checking_resume_data", "allocating")
        if ti is None:  # a magnet link: wait for the metadata (BEP 9) from the peers
            if st.has_metadata:
                ti = h.torrent_file()
                L.say("metadata: received %d bytes" % ti.metadata_size())
            elif peers and st.num_peers < len(peers) and now - last_connect >= 2.0:
                L.connect_peers(h, peers)
                last_connect = now
            if ti is None:
                if now - start > a.timeout:
                    L.err("timeout: no metadata after %.0f s" % a.timeout)
                    return 3
                time.sleep(0.05)
                continue
        if not done and st.is_finished and not checking and st.num_pieces == ti.num_pieces():
            L.say("complete: downloaded %d bytes in %.2f s" % (st.total_payload_download, now - start))
            done = True
            if not a.seed:
                break
        if peers and not checking and st.num_peers < len(peers) and now - last_connect >= 2.0:
            L.connect_peers(h, peers)
            last_connect = now
        if not checking:
            L.dht_tick(ses, h, a, now, st.num_peers > 0)
        if not a.quiet and now - last_report >= 2.0:
            L.say(L.progress_line(st, ti))
            last_report = now
        if not done and now - start > a.timeout:
            L.err("timeout: not complete after %.0f s: %d/%d pieces, %d bytes received, %d peers, state %s"
                  % (a.timeout, st.num_pieces, ti.num_pieces(), st.total_payload_download,
                     st.num_peers, name))
            for pi in h.get_peer_info():
                L.err("  peer %s:%d client %r flags %#x down %d up %d"
                      % (pi.ip[0], pi.ip[1], pi.client, int(pi.flags), pi.total_download, pi.total_upload))
            return 3
        time.sleep(0.05 if not done else 0.2)
    # Let libtorrent write everything out before the process ends.
    ses.pause()
    h.flush_cache()
    time.sleep(0.2)
    L.drain(ses)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
