/* speed_int.h - state shared by the client's Speed modules: speed.c (negotiation, bids,
 * auction, guard), speed_pay.c (channels, vouchers, settlement) and speed_proof.c (source
 * proofs). Internal to src/client. */
#ifndef BTT_CLIENT_SPEED_INT_H
#define BTT_CLIENT_SPEED_INT_H

#include "client/speed.h"

#include "btt/speed_guard.h"
#include "btt/speed_msg.h"
#include "btt/speed_price.h"
#include "btt/speed_reserve.h"

#define SPEED_ALLOWANCE_MIN (4u << 20) /* bytes a paying peer may owe at least (the guard) */
#define SPEED_BID_GRACE_MS 3000 /* a Speed peer's bid may take this long: no free slot before it */
#define SPEED_CHANNEL_LIFETIME_S 86400 /* the least channel lifetime a seeder asks for (bid_response expiry) */

typedef struct speed_pay speed_pay; /* speed_pay.c: channels, the ledger worker */

struct speed_session {
    const btt_wallet *wallet;
    btt_account me;
    uint8_t ledger[BTT_LEDGER_ID_LEN];
    char url[256];
    uint32_t permille;
    btt_amount budget, spent, earned;
    btt_amount locked;  /* deposits this run locked in channels (opens and top-ups asked for), less
                           what settled channels gave back */
    bool exhausted;     /* the budget (--max-spend) is used up: no more bids nor payments */
    uint64_t reserve_base, reserve_growth, reserve_cap;
    uint32_t guard_hold_ms;
    uint32_t reserve_hour_ms; /* 0: a real hour */
    uint8_t secret[20]; /* the challenge PRNG's secret */
    struct {
        btt_account account;
        uint64_t until_ms;
    } banned[64];       /* accounts refused for a while: a ring, the newest overwrite the oldest */
    size_t nbanned;     /* bans ever made */
    speed_pay *pay;
};

struct speed_torrent {
    btt_autobid autobid;
    uint64_t bid;        /* our current bid (downloading) */
    bool reserve_on;     /* complete: the reserve clock runs */
    btt_reserve reserve;
    uint64_t last_price; /* the reserve price last sent */
    btt_challenge chal;
    btt_amount spent, earned;
};

struct speed_peer {
    uint8_t ext_id;                /* its id for btt_speed; 0 until a valid hello (or legacy) */
    bool active;                   /* both pops verified */
    btt_speed_hello theirs;
    uint8_t our_ch[BTT_SPEED_CHALLENGE_LEN];
    unsigned malformed;
    uint16_t listen_port;          /* the "p" of its extension handshake (BEP 10), 0 if none */
    /* we upload to it */
    uint64_t bid;                  /* its bid */
    uint64_t rate_told;            /* the rate of our last bid_response (0: free) */
    btt_guard guard;
    bool channel_checking, channel_ok;
    uint8_t channel[BTT_CHANNEL_ID_LEN];
    bool has_early;                /* a pay that came while the channel was being checked */
    bool deposit_recheck;          /* a voucher above the known deposit sent us to the ledger again */
    btt_speed_msg early;           /* (the latest: vouchers are cumulative) */
    unsigned bad_proofs;
    uint64_t bad_proof_ms;
    /* we download from it */
    uint64_t bid_sent;
    uint64_t reserve;              /* its reserve price */
    bool has_reserve, proof_sent;
    uint32_t ch_piece, ch_chunk;   /* its challenge */
    uint64_t pay_rate;             /* the rate it charges us (its bid_response) */
    uint64_t paid_rx;              /* bytes received from it at a price (its guard's allowance grows) */
    btt_account payee;
    btt_amount lock;
    uint64_t expiry_need;
};

/* speed.c */
/* The floor of the guard's allowance, bytes: max(2 pieces, 4 MiB); the guard grows it with what
 * the peer was served (btt_guard_allowance). */
uint64_t speed_allowance(const btt_torrent *t);
void speed_send(peer *p, const btt_speed_msg *m);
void speed_refuse(peer *p, const char *code, const char *text);
/* The same naming the channel the refusal is about (docs/speed-protocol.md 3.8; id NULL: none). */
void speed_refuse_channel(peer *p, const char *code, const char *text, const uint8_t id[BTT_CHANNEL_ID_LEN]);
void speed_malformed(btt_torrent *t, peer *p, const char *why);
void speed_ban(btt_torrent *t, peer *p, const char *why); /* disconnect; refuse address and account */
void speed_reserve_changed(btt_torrent *t); /* price or challenge changed: tell every Speed peer */
/* The budget is used up (docs/speed-protocol.md 3.4, --max-spend): bids go to 0 at once and the
 * seeders that charge us are left at the next tick; from then on we are a non-bidding peer. */
void speed_budget_exhausted(btt_session *s, const char *why);
/* A seller's channel can no longer be opened or topped up within the budget: from now on we bid
 * 0 to it (its connections that charge us are left at the next tick, or at once on a new
 * bid_response) and take only its free data; other sellers' funded channels go on. */
void speed_seller_unpayable(btt_session *s, const btt_account *payee);
/* Whether we bid to / pay this account (speed_pay.c keeps the sellers it gave up on). */
bool speed_pay_unpayable(const btt_session *s, const btt_account *payee);
/* We owe payee for verified pieces and the channel open or top-up that lets us pay is in flight. */
bool speed_pay_owes(const btt_session *s, const btt_account *payee);

/* speed_proof.c */
void speed_on_proof(btt_torrent *t, peer *p, const btt_speed_msg *m);
void speed_maybe_prove(btt_torrent *t, peer *p); /* we hold its challenged block: send a proof */

/* speed_pay.c */
BTT_WUR btt_err speed_pay_init(btt_session *s, btt_error *err);
void speed_pay_free(btt_session *s);
void speed_pay_channel_needed(btt_torrent *t, peer *p); /* a seeder charges us: make sure a channel exists */
void speed_pay_on_channel(btt_torrent *t, peer *p, const uint8_t id[BTT_CHANNEL_ID_LEN]);
void speed_pay_on_voucher(btt_torrent *t, peer *p, const btt_speed_msg *m);
/* The seeder refused our channel (id: the one it names, NULL if it named none). */
void speed_pay_channel_refused(btt_torrent *t, peer *p, const uint8_t *id);
void speed_pay_tick(btt_torrent *t, uint64_t now_ms);

#endif
