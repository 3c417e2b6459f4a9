#!/usr/bin/python3
"""A stand-in for the btt binary, built on libtorrent, to test the swarm tests themselves.

It follows btt's CLI contract for `get` and `seed` (flags, output lines, exit codes, resume data
in $BTT_STATE_DIR) and hands every other command (create, info, verify) to the real btt named by
$BTT_SHIM_REAL. Run a swarm test against it with:
  BTT_SHIM_REAL=build/release/btt BTT_BIN=tests/interop/swarm/lt_btt_shim.py BTT_SRC=. \
      bash tests/interop/swarm/resume.sh
A test that fails against the shim is wrong (or libtorrent differs from the contract); a test
that passes here and fails against btt points at btt.
"""
import argparse
import os
import signal
import sys
import time

import libtorrent as lt

HERE = os.path.dirname(os.path.abspath(__file__))


def say(*a):
    print(*a, flush=True)


def err(msg):
    print("btt: %s" % msg, file=sys.stderr, flush=True)


def parse_files(spec, n):
    out = set()
    for part in spec.split(","):
        part = part.strip()
        if "-" in part:
            a, b = part.split("-", 1)
            out.update(range(int(a), int(b) + 1))
        else:
            out.add(int(part))
    for i in out:
        if i < 0 or i >= n:
            err("--files: index %d out of range (0..%d)" % (i, n - 1))
            sys.exit(2)
    return out


def main():
    if len(sys.argv) < 2 or sys.argv[1] not in ("get", "seed"):
        real = os.environ.get("BTT_SHIM_REAL")
        if not real:
            err("BTT_SHIM_REAL must name the real btt for commands other than get/seed")
            return 2
        os.execv(real, [real] + sys.argv[1:])
    cmd = sys.argv[1]
    p = argparse.ArgumentParser(prog="btt " + cmd)
    p.add_argument("torrent")
    p.add_argument("-d", dest="dir", required=True)
    p.add_argument("--peer", action="append", default=[])
    p.add_argument("--bind", default="0.0.0.0")
    p.add_argument("--port", type=int, default=6881)
    p.add_argument("-v", "--verbose", action="count", default=0)  # accepted, ignored
    p.add_argument("--no-trackers", action="store_true")
    if cmd == "get":
        p.add_argument("--seed", action="store_true")
        p.add_argument("--sequential", action="store_true")
        p.add_argument("--files")
    a = p.parse_args(sys.argv[2:])
    seeding_only = cmd == "seed"

    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    signal.signal(signal.SIGINT, lambda *_: stop.append(1))

    try:
        ti = lt.torrent_info(a.torrent)
    except Exception as e:
        err("cannot read %s: %s" % (a.torrent, e))
        return 2
    ses = lt.session({
        "listen_interfaces": "%s:%d" % (a.bind, a.port),
        "enable_dht": False, "enable_lsd": False, "enable_upnp": False, "enable_natpmp": False,
        "allow_multiple_connections_per_ip": True,
        "enable_outgoing_utp": False, "enable_incoming_utp": False,
        "alert_mask": lt.alert.category_t.error_notification | lt.alert.category_t.peer_notification
        | lt.alert.category_t.status_notification,
    })
    while ses.listen_port() == 0:
        time.sleep(0.02)
    say("listening on %s:%d" % (a.bind, ses.listen_port()))

    state_dir = os.environ.get("BTT_STATE_DIR") or os.path.expanduser("~/.local/state/btt")
    os.makedirs(state_dir, exist_ok=True)
    ih = str(ti.info_hashes().v1)
    rpath = os.path.join(state_dir, ih + ".resume")
    atp = None
    if os.path.exists(rpath) and not seeding_only:
        with open(rpath, "rb") as f:
            atp = lt.read_resume_data(f.read())
        if os.path.abspath(atp.save_path) != os.path.abspath(a.dir):
            atp = None  # resume data of another download of the same torrent
    if atp is None:
        atp = lt.add_torrent_params()
    atp.ti = ti
    atp.save_path = os.path.abspath(a.dir)
    h = ses.add_torrent(atp)
    if a.no_trackers:
        h.replace_trackers([])
    n = ti.num_pieces()
    if not seeding_only and a.files:
        sel = parse_files(a.files, ti.files().num_files())
        h.prioritize_files([4 if i in sel else 0 for i in range(ti.files().num_files())])
    if not seeding_only and a.sequential:
        h.set_flags(lt.torrent_flags.sequential_download)

    def alerts():
        for al in ses.pop_alerts():
            if isinstance(al, lt.peer_ban_alert):
                ep = al.endpoint
                err("banned %s:%d (sent data that failed the hash check)" % (ep[0], ep[1]))
            elif isinstance(al, lt.peer_error_alert):
                pass

    # startup check
    while True:
        alerts()
        st = h.status()
        if str(st.state).split(".")[-1] not in ("checking_files", "checking_resume_data", "allocating"):
            break
        time.sleep(0.05)
    say("have: %d/%d pieces verified" % (st.num_pieces, n))
    if seeding_only and st.num_pieces < n:
        err("data is incomplete: %d/%d pieces" % (st.num_pieces, n))
        return 2
    for s in a.peer:
        host, _, port = s.rpartition(":")
        h.connect_peer((host, int(port)), 0)

    start = time.time()
    last = start
    done = False
    while not stop:
        alerts()
        st = h.status()
        now = time.time()
        if not seeding_only and not done and st.is_finished:
            say("complete: downloaded %d bytes in %.1f s" % (st.total_payload_download, now - start))
            done = True
            if not a.seed:
                break
        if now - last >= 2.0:
            say("progress: %d/%d pieces, %d peers, down %d B/s, up %d B/s"
                % (st.num_pieces, n, st.num_peers, st.download_payload_rate, st.upload_payload_rate))
            last = now
        time.sleep(0.05)

    # save resume data
    h.save_resume_data(lt.torrent_handle.save_info_dict)
    deadline = time.time() + 10
    saved = False
    while time.time() < deadline and not saved:
        ses.wait_for_alert(500)
        for al in ses.pop_alerts():
            if isinstance(al, lt.save_resume_data_alert):
                with open(rpath + ".tmp", "wb") as f:
                    f.write(lt.write_resume_data_buf(al.params))
                os.replace(rpath + ".tmp", rpath)
                saved = True
            elif isinstance(al, lt.save_resume_data_failed_alert):
                saved = True
    ses.pause()
    return 0


if __name__ == "__main__":
    sys.exit(main())
