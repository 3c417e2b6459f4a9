/* dht_glue.h - the session's DHT node (src/dht) on the peer port's UDP socket: bootstrap,
 * per-torrent get_peers/announce_peer lookups, the routing table saved across restarts and
 * the peer wire port message (BEP 5). See docs/dht.md, "The client's DHT". */
#ifndef BTT_CLIENT_DHT_GLUE_H
#define BTT_CLIENT_DHT_GLUE_H

#ifndef BTT_CLIENT_INTERNAL
#error "dht_glue.h is internal to src/client"
#endif

#include <stdbool.h>
#include <stdint.h>

#include "btt/addr.h"
#include "btt/session.h"

typedef struct dht_glue dht_glue;
struct peer;

/* Starts the node on the session's UDP socket (after udp_open): loads the saved state,
 * bootstraps, installs the socket hook and the timer. A failure is logged and leaves the
 * session without DHT. */
void dht_glue_open(btt_session *s);
/* Saves the state, unhooks the socket and closes the timer (counted in open_handles). */
void dht_glue_close(btt_session *s);
/* Frees the node once every handle is closed. */
void dht_glue_free(btt_session *s);
/* DHT is on for this torrent: the session runs it and the torrent is not private (BEP 27). */
bool dht_glue_on(btt_session *s, const btt_torrent *t);
typedef void (*dht_peer_fn)(void *ud, const btt_addr *a);
/* Peers for an info-hash no torrent of the session has yet (a magnet's metadata fetch): looked
 * up like a torrent's (get_peers, without announce_peer), every peer found goes to on_peer until
 * dht_glue_unwatch or until a torrent with that hash takes over. One watch per info-hash. False
 * if the DHT is off or out of memory. */
bool dht_glue_watch(btt_session *s, const uint8_t ih[20], dht_peer_fn on_peer, void *ud);
void dht_glue_unwatch(btt_session *s, const uint8_t ih[20]);
/* After a peer's handshake: sends our port message when both sides set the DHT bit. */
void dht_glue_peer_attached(struct peer *p);
/* A peer's port message: its DHT node at its IP and this port gets a ping. */
void dht_glue_port_msg(struct peer *p, uint16_t port);

#endif
