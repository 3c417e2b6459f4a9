#!/usr/bin/python3
"""libtorrent side of bench/dht.sh: M libtorrent DHT nodes in one process on 127.0.0.1 that
join a loopback DHT of btt nodes (tests/tools/dht_net), then run get_peers lookups.

usage: dht_lt.py --nodes M --port P --btt-port B --btt-nodes N --dir DIR

Node i listens on P+i (its DHT on the same UDP port), with no bootstrap routers, the same-IP
restrictions off and the per-IP rate limits raised (every node is 127.0.0.1), and is given
three random btt nodes and the previous libtorrent node with add_dht_node. Prints
"lt nodes up", then waits for DIR/btt.done, reads the info-hashes in DIR/hashes and looks each
up (session.dht_get_peers) from node k % M, one at a time:
  lookup HASH queries Q first_peer_ms F peers P
Q counts this node's outgoing get_peers for that hash (dht_outgoing_get_peers_alert); the
lookup is taken as finished when no query for it went out for 3 s. F is the time from the
call to the first dht_get_peers_reply_alert carrying peers (0: none). Finally
"table: median M nodes" (libtorrent's routing tables) and "lt done".
"""
import argparse
import os
import random
import statistics
import sys
import time
import warnings

import libtorrent as lt


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--nodes", type=int, default=10)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--btt-port", type=int, required=True)
    p.add_argument("--btt-nodes", type=int, required=True)
    p.add_argument("--dir", required=True)
    p.add_argument("--timeout", type=float, default=600)
    a = p.parse_args()
    cat = lt.alert.category_t
    sessions = []
    for i in range(a.nodes):
        s = lt.session({
            "listen_interfaces": "127.0.0.1:%d" % (a.port + i),
            "enable_dht": True,
            "dht_bootstrap_nodes": "",
            "dht_restrict_routing_ips": False,
            "dht_restrict_search_ips": False,
            "dht_ignore_dark_internet": False,
            "dht_block_ratelimit": 1000000,
            "dht_upload_rate_limit": 100000000,
            "enable_lsd": False,
            "enable_upnp": False,
            "enable_natpmp": False,
            "alert_queue_size": 100000,
            "alert_mask": cat.dht_notification | cat.dht_operation_notification | cat.error_notification,
        })
        for _ in range(3):
            s.add_dht_node(("127.0.0.1", a.btt_port + random.randrange(a.btt_nodes)))
        if sessions:
            s.add_dht_node(("127.0.0.1", a.port + i - 1))
        sessions.append(s)
    print("lt nodes up", flush=True)
    start = time.time()
    done = os.path.join(a.dir, "btt.done")
    while not os.path.exists(done):
        for s in sessions:
            s.pop_alerts()
        if time.time() - start > a.timeout:
            print("dht_lt.py: timeout waiting for %s" % done, file=sys.stderr)
            return 3
        time.sleep(0.2)
    hashes = [h.strip() for h in open(os.path.join(a.dir, "hashes")) if h.strip()]
    for k, h in enumerate(hashes):
        s = sessions[k % len(sessions)]
        for x in sessions:
            x.pop_alerts()
        ih = lt.sha1_hash(bytes.fromhex(h))
        target = str(ih)
        t0 = time.time()
        s.dht_get_peers(ih)
        queries = 0
        first = 0.0
        peers = set()
        last_query = t0
        while time.time() - last_query < 3.0 and time.time() - t0 < 30:
            s.wait_for_alert(20)
            now = time.time()
            for al in s.pop_alerts():
                if isinstance(al, lt.dht_outgoing_get_peers_alert) and str(al.info_hash) == target:
                    queries += 1
                    last_query = now
                elif isinstance(al, lt.dht_get_peers_reply_alert) and str(al.info_hash) == target:
                    if al.num_peers() > 0 and not first:
                        first = now - t0
                    for pe in al.peers():
                        peers.add(pe)
        print("lookup %s queries %d first_peer_ms %d peers %d" % (h, queries, int(first * 1000), len(peers)),
              flush=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        sizes = [s.status().dht_nodes for s in sessions]
    print("table: median %d nodes per routing table (min %d, max %d)"
          % (statistics.median(sizes), min(sizes), max(sizes)), flush=True)
    print("lt done", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
