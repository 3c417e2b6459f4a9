/* btt/speed_book.h - the durable book of BitTorrent Speed payments: every channel this client
 * paid through or was paid through, its best voucher, and what each torrent's pieces cost or
 * earned in it. The client writes it before a voucher leaves (payer) and before a voucher counts
 * as earned (payee), so a restarted client continues its channels and settles what it earned;
 * `btt wallet history` reads it so every unit spent or earned can be traced.
 *
 * SQLite in WAL mode with synchronous=NORMAL: a write survives the process being killed at any
 * moment (the WAL is in the kernel's page cache once the commit returns), not a power loss of the
 * machine; that costs no fsync per piece (a lost voucher costs at most the pieces it paid for).
 * One file per state directory (speed.sqlite), shared by the wallets used there. */
#ifndef BTT_SPEED_BOOK_H
#define BTT_SPEED_BOOK_H

#include <stdbool.h>
#include <stdint.h>

#include "btt/account.h"
#include "btt/amount.h"
#include "btt/error.h"
#include "btt/voucher.h"

#define BTT_SPEED_BOOK_FILE "speed.sqlite"

typedef enum { BTT_BOOK_PAYER = 1, BTT_BOOK_PAYEE = 2 } btt_book_role;
typedef enum { BTT_BOOK_OPEN = 0, BTT_BOOK_SETTLED = 1 } btt_book_state;

typedef struct btt_book_channel {
    uint8_t id[BTT_CHANNEL_ID_LEN];
    uint8_t ledger[BTT_LEDGER_ID_LEN];
    btt_book_role role;        /* our side */
    btt_account me, peer;      /* our account, the other side's */
    btt_amount deposit;        /* locked in the channel, as far as we know */
    btt_amount amount;         /* the best voucher's cumulative amount (promised or received) */
    uint64_t seq;              /* its sequence number (0: none yet) */
    uint8_t sig[BTT_SIG_LEN];  /* payee: its signature (to settle with); payer: zero */
    uint64_t expiry;           /* seconds since the epoch */
    uint64_t opened;           /* when we first wrote it, seconds since the epoch */
    btt_book_state state;
    btt_amount settled;        /* settled: what the payee got on the ledger */
} btt_book_channel;

typedef struct btt_speed_book btt_speed_book;

/* Opens (creating, mode 0600, if create) the book at path. BTT_ENOENT without create if missing,
 * BTT_EINVAL for a file that is not a btt Speed book, BTT_EVERSION for a newer one, BTT_EIO. */
BTT_WUR btt_err btt_speed_book_open(const char *path, bool create, btt_speed_book **out, btt_error *err);
void btt_speed_book_close(btt_speed_book *b); /* NULL-safe */

/* Writes the channel's row (inserted or replaced by id). */
BTT_WUR btt_err btt_speed_book_put(btt_speed_book *b, const btt_book_channel *c, btt_error *err);
/* Adds `amount` and one piece to what torrent info_hash moved through channel id. */
BTT_WUR btt_err btt_speed_book_add_piece(btt_speed_book *b, const uint8_t id[BTT_CHANNEL_ID_LEN],
                                         const uint8_t info_hash[20], btt_amount amount, btt_error *err);

/* Groups the writes between begin and commit into one transaction (one WAL commit instead of
 * one per write). Nesting is not supported. */
BTT_WUR btt_err btt_speed_book_begin(btt_speed_book *b, btt_error *err);
BTT_WUR btt_err btt_speed_book_commit(btt_speed_book *b, btt_error *err);

/* Every channel of account me (NULL: of every account) in the order they were opened. */
typedef void btt_book_channel_cb(const btt_book_channel *c, void *ud);
BTT_WUR btt_err btt_speed_book_channels(btt_speed_book *b, const btt_account *me, btt_book_channel_cb *cb, void *ud,
                                        btt_error *err);
/* What each torrent moved through channel id. */
typedef void btt_book_flow_cb(const uint8_t info_hash[20], btt_amount amount, uint64_t pieces, void *ud);
BTT_WUR btt_err btt_speed_book_flows(btt_speed_book *b, const uint8_t id[BTT_CHANNEL_ID_LEN], btt_book_flow_cb *cb,
                                     void *ud, btt_error *err);

#endif
