/* speed.h - BitTorrent Speed inside the client (docs/speed-protocol.md): the glue between the
 * pure Speed cores (btt/speed_msg.h, speed_price.h, speed_reserve.h, speed_guard.h, the auction
 * in btt/choker.h) and the torrent's peers. Internal to src/client; torrent.c calls these hooks
 * and each is a no-op for a torrent or peer without Speed. All on the loop thread. */
#ifndef BTT_CLIENT_SPEED_H
#define BTT_CLIENT_SPEED_H

#ifndef BTT_CLIENT_INTERNAL
#error "speed.h is internal to src/client"
#endif

#include "client/client_int.h"

#define EXT_BTT_SPEED 3 /* our BEP 10 id for btt_speed */

/* Session: copies what it needs from opts->speed (Speed stays off without a wallet). */
BTT_WUR btt_err speed_session_init(btt_session *s, btt_error *err);
void speed_session_free(btt_session *s);

/* Torrent: when it starts running (complete or not) and when it is freed. */
BTT_WUR btt_err speed_torrent_start(btt_torrent *t, btt_error *err);
void speed_torrent_free(btt_torrent *t);
/* The torrent just completed: the reserve price clock starts at its base. */
void speed_torrent_completed(btt_torrent *t);

/* Our extension handshake, with the btt_speed hello when Speed is on for the torrent. */
BTT_WUR btt_err speed_build_ext_handshake(btt_torrent *t, peer *p, btt_buf *b);
/* The peer's extension handshake: reads its btt_speed hello and answers with our pop. */
void speed_on_ext_handshake(btt_torrent *t, peer *p, const btt_ext_handshake *h);
/* A message on our btt_speed id. */
void speed_on_message(btt_torrent *t, peer *p, const uint8_t *data, size_t len);
void speed_peer_free(peer *p);

/* Choking: the auction's inputs for one peer, then (after the choker ran) the bid_response
 * that must precede an unchoke, or a choke first when a winner's rate changed. */
void speed_choke_inputs(btt_torrent *t, const peer *p, btt_choke_peer *cp);
uint64_t speed_reserve_price(btt_torrent *t);
/* Called for a peer the choker wants unchoked, before do_unchoke: sends bid_response if the rate
 * it pays changes (choking it first if it is unchoked). */
void speed_before_unchoke(btt_torrent *t, peer *p, uint64_t price, void (*choke)(btt_torrent *, peer *));

/* A free slot for an interested peer right away? Not for a Speed peer whose bid has not come
 * yet (for a few seconds): it would get for free what it is about to bid for. */
bool speed_defer_unchoke(btt_torrent *t, const peer *p);

/* Serving: may a block of len bytes go to p now (the payment guard), and it went. */
bool speed_may_serve(btt_torrent *t, peer *p, uint32_t len);
void speed_served(btt_torrent *t, peer *p, uint32_t piece, uint32_t begin, uint32_t len);

/* Serving: p pays for what it gets now (a Speed winner) */
bool speed_pays(const peer *p);

/* Downloading: the rate p charges for blocks it sends now (0: free). */
uint64_t speed_rate_of(const peer *p);
/* Downloading: a block of `length` bytes came from p; returns the rate it costs (0: free). */
uint64_t speed_block_received(peer *p, uint32_t length);

/* Downloading: we owe p (its seller) for verified pieces, and the voucher waits for a channel
 * open or top-up in flight: keep the connection so the voucher reaches it. */
bool speed_owes(const peer *p);
/* The same for any seller of the session: closing waits (a few seconds at most) for it. */
bool speed_session_owes(const btt_session *s);
/* Sends every voucher held back to cover several pieces (docs/speed-protocol.md 3.7); no-op
 * without Speed. */
void speed_pay_flush(btt_session *s);

/* A piece passed its hash check: pay each seeder for the blocks it sent (pb->rate). */
void speed_piece_passed(btt_torrent *t, const pbuf *pb);
/* What an announce says of Speed: bidannounce with our bid when downloading, with sortbid
 * when seeding (the highest bidders first); nothing without Speed. */
void speed_announce(const btt_torrent *t, bool *bidannounce, uint64_t *bid, bool *sortbid);
/* Once a second. */
void speed_tick(btt_torrent *t, uint64_t now_ms);
void speed_stats(const btt_torrent *t, btt_torrent_stats *out);
/* The session is closing: settle what we earned (close channels with the best vouchers); done
 * is called once that is over (at once without Speed). */
void speed_session_settle(btt_session *s, void (*done)(btt_session *s));

#endif
