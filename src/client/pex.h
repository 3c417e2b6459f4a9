/* pex.h - peer exchange (BEP 11, ut_pex) for the client's torrents: what torrent.c calls. Internal
 * to src/client. The message codec is btt/pex.h. */
#ifndef BTT_CLIENT_PEX_H
#define BTT_CLIENT_PEX_H

#ifndef BTT_CLIENT_INTERNAL
#error "pex.h is internal to src/client"
#endif

#include "client/client_int.h"

#define EXT_UT_PEX 1               /* our BEP 10 id for ut_pex */
#define PEX_INTERVAL_MS 60000u     /* BEP 11: at most one message a minute to a peer */
#define PEX_FIRST_MS 3000u         /* the first one once the handshakes have settled */
#define PEX_ACCEPT_PER_MSG 100     /* added peers taken from one message */
#define PEX_ACCEPT_PER_TORRENT 500 /* new addresses PEX may add to one torrent */

/* PEX runs for a torrent unless the session has it off (--no-pex) or the torrent is private
 * (BEP 27). */
bool pex_enabled(const btt_torrent *t);
/* The peer's extension handshake: its ut_pex id and its listen port. */
void pex_on_ext_handshake(btt_torrent *t, peer *p, const btt_ext_handshake *h);
/* A ut_pex message from the peer (our id EXT_UT_PEX). */
void pex_on_message(btt_torrent *t, peer *p, const uint8_t *data, size_t len);
/* Sends the peers that are due their message (added and dropped since the last one). */
void pex_tick(btt_torrent *t, uint64_t now_ms);
void pex_peer_free(peer *p);

#endif
