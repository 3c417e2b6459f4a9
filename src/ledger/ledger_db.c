/* ledger_db.c - a ledger backed by a store (btt/ledger_store.h).
 *
 * The in-memory ledger is the state; the store is its write-ahead log. submit applies a batch
 * to the ledger, appends the accepted operations in one store transaction (one fsync), and only
 * then returns. The ledger has no cheap copy, so a failed append is undone by rebuilding the
 * ledger from the store (a full replay: O(log length) signature checks). That only happens on a
 * store failure and has the useful property that afterwards memory equals exactly what the store
 * holds, whatever a failed commit did or did not write. */
#include <stdlib.h>
#include <string.h>

#include "btt/ledger_store.h"

struct btt_ledger_db {
    btt_ledger_store *store;
    btt_genesis genesis;
    uint8_t id[BTT_LEDGER_ID_LEN];
    btt_ledger *ledger;
    bool broken;
    btt_buf enc;                   /* encodings of a batch's accepted operations */
    btt_ledger_store_entry *ents;  /* their log entries */
    size_t *off;                   /* offset of each encoding in enc */
    size_t cap;
};

static btt_err replay_one(const btt_ledger_store_entry *e, void *ud, btt_error *err)
{
    btt_ledger *l = ud;
    btt_ledger_op op;
    btt_error sub = {0};
    if (e->reason != BTT_LEDGER_OK)
        return btt_error_set(err, BTT_EIO, "log entry %llu: unknown entry kind (reason %d)", (unsigned long long)e->seq,
                             (int)e->reason);
    if (btt_ledger_op_decode(e->op, e->op_len, &op, &sub) != BTT_OK)
        return btt_error_set(err, BTT_EIO, "log entry %llu does not decode: %s", (unsigned long long)e->seq, sub.msg);
    btt_ledger_receipt rc;
    btt_err x = btt_ledger_apply(l, &op, e->now, &rc, &sub);
    if (x == BTT_ENOMEM) return btt_error_set(err, BTT_ENOMEM, "replay: out of memory");
    if (x != BTT_OK)
        return btt_error_set(err, BTT_EIO, "log entry %llu is rejected on replay: %s", (unsigned long long)e->seq,
                             btt_error_str(&sub));
    if (rc.height != e->seq)
        return btt_error_set(err, BTT_EIO, "log entry %llu replays at height %llu", (unsigned long long)e->seq,
                             (unsigned long long)rc.height);
    return BTT_OK;
}

/* A fresh ledger from the genesis plus the whole log, invariant checked. */
static btt_err rebuild(btt_ledger_db *db, btt_ledger **out, btt_error *err)
{
    btt_ledger *l = NULL;
    btt_err e = btt_ledger_new(&db->genesis, &l, err);
    if (e != BTT_OK) return e;
    e = db->store->ops->replay(db->store, replay_one, l, err);
    if (e == BTT_OK) {
        btt_error sub = {0};
        if (btt_ledger_check_invariant(l, &sub) != BTT_OK)
            e = btt_error_set(err, BTT_EIO, "replayed ledger breaks the invariant: %s", sub.msg);
    }
    if (e != BTT_OK) {
        btt_ledger_free(l);
        return e;
    }
    *out = l;
    return BTT_OK;
}

btt_err btt_ledger_db_open(btt_ledger_store *store, const btt_genesis *genesis_if_new, btt_ledger_db **out,
                           btt_error *err)
{
    *out = NULL;
    btt_ledger_db *db = calloc(1, sizeof *db);
    if (!db) {
        btt_ledger_store_close(store);
        return btt_error_set(err, BTT_ENOMEM, "out of memory");
    }
    db->store = store;
    btt_buf_init(&db->enc, (size_t)-1);
    btt_err e = store->ops->genesis(store, genesis_if_new, &db->genesis, db->id, err);
    if (e == BTT_OK) e = rebuild(db, &db->ledger, err);
    if (e == BTT_OK && memcmp(btt_ledger_id(db->ledger), db->id, BTT_LEDGER_ID_LEN) != 0)
        e = btt_error_set(err, BTT_EIO, "the store's ledger id does not match its genesis");
    if (e != BTT_OK) {
        btt_ledger_db_close(db);
        return e;
    }
    *out = db;
    return BTT_OK;
}

static btt_err grow(btt_ledger_db *db, size_t n, btt_error *err)
{
    if (n <= db->cap) return BTT_OK;
    btt_ledger_store_entry *ents = realloc(db->ents, n * sizeof *ents);
    if (!ents) return btt_error_set(err, BTT_ENOMEM, "out of memory");
    db->ents = ents;
    size_t *off = realloc(db->off, n * sizeof *off);
    if (!off) return btt_error_set(err, BTT_ENOMEM, "out of memory");
    db->off = off;
    db->cap = n;
    return BTT_OK;
}

btt_err btt_ledger_db_submit(btt_ledger_db *db, const btt_ledger_op *ops, size_t n, uint64_t now,
                             btt_ledger_receipt *receipts, btt_error *err)
{
    return btt_ledger_db_submit_verified(db, ops, NULL, n, now, receipts, err);
}

btt_err btt_ledger_db_submit_verified(btt_ledger_db *db, const btt_ledger_op *ops, const bool *sig_verified, size_t n,
                                      uint64_t now, btt_ledger_receipt *receipts, btt_error *err)
{
    if (db->broken)
        return btt_error_set(err, BTT_EIO, "the ledger database failed earlier and must be reopened");
    if (n == 0) return BTT_OK;
    btt_err e = grow(db, n, err);
    if (e != BTT_OK) return e;
    btt_buf_reset(&db->enc);
    size_t accepted = 0;
    for (size_t i = 0; i < n; i++) {
        btt_error sub = {0};
        btt_err x = sig_verified && sig_verified[i] ? btt_ledger_apply_verified(db->ledger, &ops[i], now, &receipts[i], &sub)
                                                     : btt_ledger_apply(db->ledger, &ops[i], now, &receipts[i], &sub);
        if (x == BTT_ELEDGER) continue; /* rejected: nothing changed, nothing to log */
        if (x != BTT_OK) {
            e = btt_error_set(err, x, "%s", btt_error_str(&sub));
            break;
        }
        db->off[accepted] = db->enc.len;
        if ((e = btt_ledger_op_encode(&ops[i], &db->enc)) != BTT_OK) {
            btt_error_set(err, e, "encoding an accepted operation failed");
            break;
        }
        db->ents[accepted] = (btt_ledger_store_entry){
            .seq = receipts[i].height, .op_len = db->enc.len - db->off[accepted], .now = now,
            .reason = BTT_LEDGER_OK};
        accepted++;
    }
    if (e == BTT_OK && accepted > 0) {
        for (size_t k = 0; k < accepted; k++) db->ents[k].op = db->enc.data + db->off[k];
        e = db->store->ops->append(db->store, db->ents, accepted, err);
    }
    if (e == BTT_OK) return BTT_OK;
    /* Undo: memory must equal the store again. */
    btt_ledger *fresh = NULL;
    btt_error rerr = {0};
    if (rebuild(db, &fresh, &rerr) != BTT_OK) {
        db->broken = true;
        btt_error_prefix(err, "(and rebuilding from the store failed: %s)", rerr.msg);
        return e;
    }
    btt_ledger_free(db->ledger);
    db->ledger = fresh;
    return e;
}

const btt_ledger *btt_ledger_db_ledger(const btt_ledger_db *db)
{
    return db->ledger;
}

btt_ledger_store *btt_ledger_db_store(btt_ledger_db *db)
{
    return db->store;
}

void btt_ledger_db_close(btt_ledger_db *db)
{
    if (!db) return;
    btt_ledger_free(db->ledger);
    btt_ledger_store_close(db->store);
    btt_buf_free(&db->enc);
    free(db->ents);
    free(db->off);
    free(db);
}
