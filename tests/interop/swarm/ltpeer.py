#!/usr/bin/python3
"""Common code of lt_seed.py and lt_get.py: a libtorrent 2.0 session set up for tests on
loopback or inside a test network namespace (no LSD, UPnP, NAT-PMP; no DHT unless --dht;
several connections per IP allowed; TCP only unless --utp; --utp-only turns TCP off), argument
parsing, and progress/timeout reporting.

With --dht (or --dht-node) the session runs libtorrent's DHT on its listen port with no
bootstrap routers, and with the restrictions that would keep it from working on one IP
(dht_restrict_routing_ips, dht_restrict_search_ips) off; --dht-node HOST:PORT adds a node
(add_dht_node, repeatable). The torrent is announced to the DHT (get_peers + announce_peer)
every --dht-announce seconds (default 3) until it has peers, then every 30 s.

Everything printed on stdout is flushed at once, so a shell test can wait for lines:
  listening on IP:PORT            the session listens (parse the port when --port 0)
  ready                           (seeder) the data checked and the torrent is seeding
  progress: P/N pieces, R bytes received, K peers
  complete: downloaded D bytes in S s   (downloader) every piece verified
Errors go to stderr, prefixed with the program name; exit status 3 means a timeout.
"""
import os
import signal
import sys
import time
import warnings

import libtorrent as lt

PROG = os.path.basename(sys.argv[0])


def say(*a):
    print(*a, flush=True)


def err(msg):
    print("%s: %s" % (PROG, msg), file=sys.stderr, flush=True)


def die(msg, code=2):
    err(msg)
    sys.exit(code)


def common_args(p):
    p.add_argument("torrent")
    p.add_argument("save_path", help="directory the torrent's NAME lives in")
    p.add_argument("--bind", default="127.0.0.1", help="listen address (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=0, help="listen port (0: ephemeral)")
    p.add_argument("--peer", action="append", default=[], metavar="HOST:PORT",
                   help="connect to this peer (repeatable)")
    p.add_argument("--upload-limit", type=int, default=0, help="bytes/s, 0 = unlimited")
    p.add_argument("--download-limit", type=int, default=0, help="bytes/s, 0 = unlimited")
    p.add_argument("--timeout", type=float, default=120.0, help="give up after this many seconds")
    p.add_argument("--utp", action="store_true", help="also allow uTP (default: TCP only)")
    p.add_argument("--utp-only", action="store_true", help="uTP only: no TCP in or out")
    p.add_argument("--no-trackers", action="store_true", help="ignore the torrent's trackers")
    p.add_argument("--tracker", action="append", default=[], metavar="URL",
                   help="also announce to this tracker (repeatable)")
    p.add_argument("--fast", action="store_true",
                   help="start from libtorrent's high_performance_seed settings (benchmarks)")
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    p.add_argument("--encryption", choices=["enabled", "forced", "disabled"], default="enabled",
                   help="libtorrent's in/out encryption policy (pe_enabled by default; forced: MSE "
                        "with RC4 only on every connection, plaintext refused)")
    p.add_argument("--dht", action="store_true", help="run the DHT (no public bootstrap routers)")
    p.add_argument("--dht-node", action="append", default=[], metavar="HOST:PORT",
                   help="add this DHT node (repeatable; implies --dht)")
    p.add_argument("--dht-announce", type=float, default=3.0, metavar="S",
                   help="announce to the DHT this often while the torrent has no peers")


def parse_peer(s):
    host, sep, port = s.rpartition(":")
    if not sep or not port.isdigit():
        die("bad --peer %r (want HOST:PORT)" % s)
    return host.strip("[]"), int(port)


def make_session(a):
    if a.fast:
        pack = lt.high_performance_seed()
    else:
        pack = lt.default_settings()
    pack.update({
        "listen_interfaces": ("[%s]:%d" if ":" in a.bind else "%s:%d") % (a.bind, a.port),
        "outgoing_interfaces": a.bind if a.bind not in ("0.0.0.0", "") else "",
        "enable_dht": False,
        "enable_lsd": False,
        "enable_upnp": False,
        "enable_natpmp": False,
        "allow_multiple_connections_per_ip": True,
        "enable_outgoing_utp": bool(a.utp or a.utp_only),
        "enable_incoming_utp": bool(a.utp or a.utp_only),
        "enable_outgoing_tcp": not a.utp_only,
        "enable_incoming_tcp": not a.utp_only,
        "upload_rate_limit": a.upload_limit,
        "download_rate_limit": a.download_limit,
        # Test peers all live on one host (loopback or a private test subnet).
        "no_connect_privileged_ports": False,
        # Keep retrying peers given with --peer that are not up yet (the default gives up on a
        # peer after 3 failed connects).
        "max_failcount": 1000,
        "min_reconnect_time": 1,
        "announce_to_all_trackers": True,
        "announce_to_all_tiers": True,
        "anonymous_mode": False,
        "alert_mask": lt.alert.category_t.error_notification | lt.alert.category_t.status_notification
        | lt.alert.category_t.peer_notification | lt.alert.category_t.tracker_notification,
        # Rate limits count payload only, so a limit gives a predictable transfer time.
        "rate_limit_ip_overhead": False,
        "out_enc_policy": {"enabled": 1, "forced": 0, "disabled": 2}[a.encryption],
        "in_enc_policy": {"enabled": 1, "forced": 0, "disabled": 2}[a.encryption],
        "allowed_enc_level": 2 if a.encryption == "forced" else 3,  # pe_rc4 / pe_both
    })
    if a.dht or a.dht_node:
        a.dht = True
        pack.update({
            "enable_dht": True,
            "dht_bootstrap_nodes": "",           # never the public routers
            "dht_restrict_routing_ips": False,   # every test node shares one IP
            "dht_restrict_search_ips": False,
            "dht_ignore_dark_internet": False,
            "dht_upload_rate_limit": 1000000,
        })
        pack["alert_mask"] |= lt.alert.category_t.dht_notification
    ses = lt.session(pack)
    for x in a.dht_node:
        ses.add_dht_node(parse_peer(x))
    if a.upload_limit or a.download_limit:
        # By default loopback and private-network peers are in the local peer class, which the
        # global rate limits do not touch; put every address in the global class instead.
        flt = lt.ip_filter()
        flt.add_rule("0.0.0.0", "255.255.255.255", 1 << lt.session.global_peer_class_id)
        ses.set_peer_class_filter(flt)
    # Wait until the listen socket is up, then report the real port.
    deadline = time.time() + 10
    while ses.listen_port() == 0 and time.time() < deadline:
        drain(ses, quiet=True)
        time.sleep(0.05)
    port = ses.listen_port()
    if port == 0:
        die("could not listen on %s:%d" % (a.bind, a.port))
    say("listening on %s:%d" % (a.bind, port))
    return ses


def add_torrent(ses, a, seed=False):
    """Adds a .torrent, or a magnet link (then ti is None until the metadata arrived)."""
    if a.torrent.startswith("magnet:"):
        ti = None
        atp = lt.parse_magnet_uri(a.torrent)
    else:
        try:
            ti = lt.torrent_info(a.torrent)
        except Exception as e:
            die("cannot load %s: %s" % (a.torrent, e))
        atp = lt.add_torrent_params()
        atp.ti = ti
    atp.save_path = a.save_path
    # Never start in "upload only"/seed mode blindly: check the data.
    h = ses.add_torrent(atp)
    if a.no_trackers:
        h.replace_trackers([])
    for i, url in enumerate(a.tracker):
        h.add_tracker({"url": url, "tier": 100 + i})
    if a.upload_limit:
        h.set_upload_limit(a.upload_limit)
    if a.download_limit:
        h.set_download_limit(a.download_limit)
    return h, ti


class DhtState:
    last_announce = 0.0
    last_nodes = -1


def dht_tick(ses, h, a, now, have_peers):
    """--dht: reports the routing table size when it changes ("dht: N nodes") and announces
    the torrent (h may be None: a DHT node only)."""
    if not a.dht:
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        n = ses.status().dht_nodes
    if n != DhtState.last_nodes:
        say("dht: %d nodes" % n)
        DhtState.last_nodes = n
    every = 30.0 if have_peers else a.dht_announce
    if h is not None and n > 0 and now - DhtState.last_announce >= every:
        h.force_dht_announce()
        DhtState.last_announce = now


def drain(ses, quiet=False):
    for al in ses.pop_alerts():
        if isinstance(al, lt.tracker_reply_alert):
            say("tracker reply: %s" % al.message())
        cat = al.category()
        if cat & lt.alert.category_t.error_notification and not quiet:
            err("alert: %s" % al.message())
        if os.environ.get("LT_DEBUG"):
            err("debug: %s: %s" % (type(al).__name__, al.message()))


def connect_peers(h, peers):
    for host, port in peers:
        try:
            h.connect_peer((host, port), 0)
        except Exception as e:
            err("connect_peer(%s:%d): %s" % (host, port, e))


SOURCES = [("tracker", lt.peer_info.tracker), ("dht", lt.peer_info.dht), ("pex", lt.peer_info.pex),
           ("lsd", lt.peer_info.lsd), ("resume_data", lt.peer_info.resume_data),
           ("incoming", getattr(lt.peer_info, "incoming", 0x20))]


def report_peers(h, seen):
    """Prints "peer IP:PORT sources S,S" for each connected peer not reported yet."""
    for pi in h.get_peer_info():
        key = (pi.ip[0], pi.ip[1])
        if key in seen:
            continue
        seen.add(key)
        src = ",".join(n for n, bit in SOURCES if int(pi.source) & int(bit)) or "none"
        say("peer %s:%d sources %s" % (pi.ip[0], pi.ip[1], src))


def state_name(st):
    return str(st.state).split(".")[-1]


class Stop:
    flag = False


def install_signals():
    def handler(signum, frame):
        Stop.flag = True
    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


def progress_line(st, ti):
    return "progress: %d/%d pieces, %d bytes received, %d peers, %s, down %d B/s, up %d B/s" % (
        st.num_pieces, ti.num_pieces(), st.total_payload_download, st.num_peers, state_name(st),
        st.download_payload_rate, st.upload_payload_rate)
