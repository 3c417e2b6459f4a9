/* btt/ledger_store.h - the ledger's durable store and the database that sits on it.
 *
 * The store is an append-only log of accepted operations; the ledger state (balances, nonces,
 * channels) is never stored. Opening a database replays the log from the genesis through the
 * pure state machine (btt/ledger.h) and so rebuilds exactly the state that was acknowledged.
 *
 *   store        a small vtable (btt_ledger_store_ops): genesis, append a batch, replay, close.
 *                SQLite (src/ledger/store_sqlite.c) or PostgreSQL (src/ledger/store_pg.c); what
 *                both share is in src/ledger/store_common.c.
 *   database     btt_ledger_db (src/ledger/ledger_db.c): owns a store and the in-memory ledger;
 *                submit validates operations against the ledger and returns only once the
 *                accepted ones are durable.
 *
 * What is logged: only accepted operations. A rejected operation changes nothing, so replaying
 * the accepted ones in order, each with the `now` it was applied at, reproduces the state; the
 * log's sequence number of an entry equals the ledger height after it (1, 2, ...). Each entry
 * keeps its receipt reason (always BTT_LEDGER_OK today) so a later format could log rejections
 * without a schema change.
 *
 * Threads: a store and a database are used by one thread at a time. */
#ifndef BTT_LEDGER_STORE_H
#define BTT_LEDGER_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "btt/error.h"
#include "btt/ledger.h"

/* ========================================================================= store */

/* One log entry. In append the pointers are the caller's (read during the call only); in replay
 * they point into the store's memory and are valid during the callback only. */
typedef struct btt_ledger_store_entry {
    uint64_t seq;       /* 1, 2, ...: the ledger height after this operation */
    const uint8_t *op;  /* canonical encoding (btt_ledger_op_encode), at most BTT_LEDGER_OP_MAX bytes */
    size_t op_len;
    uint64_t now;       /* the time it was applied with (<= INT64_MAX) */
    btt_ledger_reason reason; /* its receipt's reason: BTT_LEDGER_OK for every logged operation */
} btt_ledger_store_entry;

/* Replay callback: a non-BTT_OK return stops the replay and is returned by replay. */
typedef btt_err btt_ledger_store_replay_cb(const btt_ledger_store_entry *e, void *ud, btt_error *err);

typedef struct btt_ledger_store btt_ledger_store;

typedef struct btt_ledger_store_ops {
    /* Reads the store's genesis into *g and its ledger id into id. An empty store records
     * genesis_if_new (which must then be non-NULL: otherwise BTT_ENOENT); a store that already has
     * one refuses a different genesis_if_new (BTT_EEXIST) and checks that the recorded genesis
     * still hashes to the recorded id (BTT_EIO if not: damaged). Called once, before the others. */
    BTT_WUR btt_err (*genesis)(btt_ledger_store *s, const btt_genesis *genesis_if_new, btt_genesis *g,
                               uint8_t id[BTT_LEDGER_ID_LEN], btt_error *err);
    /* Appends n entries atomically and durably: one transaction, one fsync (group commit).
     * Their seqs must continue the log (last + 1, last + 2, ...: BTT_EINVAL otherwise). On any
     * error nothing was appended as far as the store can tell (see btt_ledger_db_submit). */
    BTT_WUR btt_err (*append)(btt_ledger_store *s, const btt_ledger_store_entry *e, size_t n, btt_error *err);
    /* Calls cb for every entry in seq order (from one consistent snapshot). BTT_EIO if the log
     * is damaged (a gap in the seqs, an oversized or negative field). */
    BTT_WUR btt_err (*replay)(btt_ledger_store *s, btt_ledger_store_replay_cb *cb, void *ud, btt_error *err);
    /* Closes and frees the store. NULL-safe through btt_ledger_store_close. */
    void (*close)(btt_ledger_store *s);
} btt_ledger_store_ops;

/* Every backend's struct starts with this. */
struct btt_ledger_store {
    const btt_ledger_store_ops *ops;
};

void btt_ledger_store_close(btt_ledger_store *s); /* NULL-safe */

/* SQLite backend. Opens (or, with create, creates: mode 0600) the database at path: WAL
 * journal, synchronous=FULL, BEGIN IMMEDIATE transactions, prepared statements. Errors with a
 * message naming the file:
 *   BTT_ENOENT   no such file and create is false
 *   BTT_EINVAL   not a SQLite database, or a SQLite database that is not a btt ledger
 *   BTT_EVERSION a btt ledger with a newer schema version than this program knows
 *   BTT_EIO      any other SQLite failure
 * *out is the caller's: close with btt_ledger_store_close (or hand it to btt_ledger_db_open). */
#define BTT_LEDGER_STORE_SQLITE_SCHEMA 1
BTT_WUR btt_err btt_ledger_store_sqlite_open(const char *path, bool create, btt_ledger_store **out, btt_error *err);

/* Test hook: while on, every write fails inside SQLite (PRAGMA query_only), so tests can make an
 * append fail reliably (file modes do not stop root). s must be a SQLite store. */
BTT_WUR btt_err btt_ledger_store_sqlite_test_readonly(btt_ledger_store *s, bool on, btt_error *err);

/* PostgreSQL backend (libpq). Connects with conninfo ("host=... dbname=..." or a postgresql://
 * URI) and opens the ledger in the session's current schema (normally public), or, with create
 * and no tables there yet, creates it. The session commits with synchronous_commit=on; append is
 * one COPY (one transaction) per batch; replay reads one REPEATABLE READ snapshot through a
 * cursor. One process owns a ledger: a session advisory lock, released when the connection
 * ends (open waits up to 2 s for a killed owner's session to go). The store does not
 * reconnect: after a lost connection every call fails; reopen it. Errors with a message naming
 * the database, host and port (never the user or password):
 *   BTT_ENOENT   no tables in the schema and create is false
 *   BTT_EINVAL   a bad conninfo, or a schema with tables that is not a btt ledger
 *   BTT_EVERSION a btt ledger with a newer schema version than this program knows
 *   BTT_ENET     the connection failed or was lost
 *   BTT_EIO      in use by another btt process, or any other PostgreSQL failure
 * *out is the caller's: close with btt_ledger_store_close (or hand it to btt_ledger_db_open). */
#define BTT_LEDGER_STORE_PG_SCHEMA 1
BTT_WUR btt_err btt_ledger_store_pg_open(const char *conninfo, bool create, btt_ledger_store **out, btt_error *err);

/* Test hook: while on, the session's transactions are read-only (default_transaction_read_only),
 * so every append fails inside PostgreSQL. s must be a PostgreSQL store. */
BTT_WUR btt_err btt_ledger_store_pg_test_readonly(btt_ledger_store *s, bool on, btt_error *err);

/* ====================================================================== database */

typedef struct btt_ledger_db btt_ledger_db; /* opaque */

/* Takes ownership of store (always, also on failure: it is closed then). Reads or records the
 * genesis (as the store's genesis op), replays the whole log through a fresh ledger, checking
 * that every entry is accepted again at its seq, then checks the invariant. A log that does not
 * replay is BTT_EIO. Cost: O(log length) signature verifications. *out: btt_ledger_db_close. */
BTT_WUR btt_err btt_ledger_db_open(btt_ledger_store *store, const btt_genesis *genesis_if_new, btt_ledger_db **out,
                                   btt_error *err);

/* Applies ops[0..n) in order at time now to the in-memory ledger, writing receipts[i] (rejected
 * ones have their reason and change nothing), then appends the accepted ones to the store in one
 * batch (one fsync) and only then returns. So BTT_OK means: every accepted operation is durable
 * (acknowledged). On any error (the append failed, out of memory) no operation of the batch is
 * acknowledged and the in-memory ledger is rebuilt by replaying the store (O(log length); only on
 * failure), so it equals what the store holds; receipts are then meaningless. If even that
 * rebuild fails the database is broken: every later submit fails with BTT_EIO; reopen it.
 * n may be 0. */
BTT_WUR btt_err btt_ledger_db_submit(btt_ledger_db *db, const btt_ledger_op *ops, size_t n, uint64_t now,
                                     btt_ledger_receipt *receipts, btt_error *err);

/* submit where sig_verified[i] (if sig_verified is not NULL) says the caller already checked
 * ops[i]'s signature for this ledger (btt_ledger_apply_verified): the group committer then does
 * not verify it again under its lock. */
BTT_WUR btt_err btt_ledger_db_submit_verified(btt_ledger_db *db, const btt_ledger_op *ops, const bool *sig_verified,
                                              size_t n, uint64_t now, btt_ledger_receipt *receipts, btt_error *err);

/* The in-memory ledger, for lookups. Valid until the next submit or close; do not apply to it. */
const btt_ledger *btt_ledger_db_ledger(const btt_ledger_db *db);
/* The store (owned by db), e.g. for the SQLite test hook. */
btt_ledger_store *btt_ledger_db_store(btt_ledger_db *db);
/* Frees the ledger and closes the store. NULL-safe. */
void btt_ledger_db_close(btt_ledger_db *db);

#endif
