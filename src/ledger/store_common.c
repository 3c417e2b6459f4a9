/* store_common.c - what the ledger store backends share (store_int.h), and btt_ledger_store_close. */
#include <inttypes.h>
#include <string.h>

#include "ledger/store_int.h"

void btt_ledger_store_close(btt_ledger_store *s)
{
    if (s) s->ops->close(s);
}

/* The genesis in its text form: btt_genesis_parse reads it back. */
static btt_err genesis_text(const btt_genesis *g, btt_buf *b)
{
    char amt[BTT_AMOUNT_STRLEN], grant[BTT_AMOUNT_STRLEN];
    btt_err e = btt_buf_printf(b, "name = %s\nsupply = %s\nfaucet.grant = %s\nfaucet.difficulty = %u\nremainder = %s\n",
                               g->name, btt_amount_format(g->supply, amt), btt_amount_format(g->faucet_grant, grant),
                               g->faucet_bits, btt_genesis_pool_name(g->remainder));
    for (int p = 0; e == BTT_OK && p < BTT_POOL_COUNT; p++) {
        char acct[BTT_ACCOUNT_STR_LEN + 1];
        e = btt_buf_printf(b, "pool.%s = %s %" PRIu32 "\n", btt_genesis_pool_name((btt_genesis_pool)p),
                           btt_account_format(&g->pool_key[p], acct), g->pool_bp[p]);
    }
    return e;
}

static btt_err genesis_new(const btt_genesis *if_new, btt_buf *text, btt_buf *idb, btt_genesis *g,
                           uint8_t id[BTT_LEDGER_ID_LEN], btt_error *err)
{
    btt_error sub = {0};
    btt_err e = btt_genesis_ledger_id(if_new, id, err);
    if (e != BTT_OK) return e;
    btt_buf_reset(text);
    btt_buf_reset(idb);
    if (genesis_text(if_new, text) != BTT_OK || btt_buf_append(idb, id, BTT_LEDGER_ID_LEN) != BTT_OK)
        return btt_error_set(err, BTT_ENOMEM, "out of memory");
    /* Round-trip check: what we store must read back as the same ledger. */
    uint8_t back_id[BTT_LEDGER_ID_LEN];
    if (btt_genesis_parse((const char *)text->data, text->len, g, &sub) != BTT_OK ||
        btt_genesis_ledger_id(g, back_id, &sub) != BTT_OK || memcmp(back_id, id, BTT_LEDGER_ID_LEN) != 0)
        return btt_error_set(err, BTT_EINVAL, "genesis does not survive its text form: %s", sub.msg);
    return BTT_OK;
}

btt_err btt_store_genesis_resolve(const char *name, const btt_genesis *if_new, btt_buf *text, bool found_text,
                                  btt_buf *idb, bool found_id, btt_genesis *g, uint8_t id[BTT_LEDGER_ID_LEN],
                                  bool *store_it, btt_error *err)
{
    btt_error sub = {0};
    *store_it = false;
    if (!found_text) {
        if (found_id) return btt_error_set(err, BTT_EIO, "%s: database is damaged (ledger id without genesis)", name);
        if (!if_new)
            return btt_error_set(err, BTT_ENOENT, "%s: the database has no genesis yet and none was given", name);
        btt_err e = genesis_new(if_new, text, idb, g, id, err);
        *store_it = e == BTT_OK;
        return e;
    }
    if (!found_id || idb->len != BTT_LEDGER_ID_LEN)
        return btt_error_set(err, BTT_EIO, "%s: database is damaged (missing or bad ledger id)", name);
    if (btt_genesis_parse((const char *)text->data, text->len, g, &sub) != BTT_OK)
        return btt_error_set(err, BTT_EIO, "%s: database is damaged (stored genesis: %s)", name, sub.msg);
    btt_err e = btt_genesis_ledger_id(g, id, err);
    if (e != BTT_OK) return e;
    if (memcmp(id, idb->data, BTT_LEDGER_ID_LEN) != 0)
        return btt_error_set(err, BTT_EIO, "%s: database is damaged (genesis does not hash to the stored ledger id)",
                             name);
    if (if_new) {
        uint8_t want[BTT_LEDGER_ID_LEN];
        if ((e = btt_genesis_ledger_id(if_new, want, err)) != BTT_OK) return e;
        if (memcmp(want, id, BTT_LEDGER_ID_LEN) != 0)
            return btt_error_set(err, BTT_EEXIST, "%s: the database holds a different ledger ('%s')", name, g->name);
    }
    return BTT_OK;
}

btt_err btt_store_check_batch(const char *name, uint64_t last, const btt_ledger_store_entry *e, size_t n,
                              btt_error *err)
{
    for (size_t i = 0; i < n; i++) {
        if (e[i].seq != last + 1 + i)
            return btt_error_set(err, BTT_EINVAL, "%s: append: seq %" PRIu64 " does not continue the log at %" PRIu64,
                                 name, e[i].seq, last + 1 + i);
        if (!e[i].op || e[i].op_len == 0 || e[i].op_len > BTT_LEDGER_OP_MAX || e[i].now > INT64_MAX ||
            (unsigned)e[i].reason >= BTT_LEDGER_REASON_COUNT)
            return btt_error_set(err, BTT_EINVAL, "%s: append: entry %" PRIu64 " is out of range", name, e[i].seq);
    }
    return BTT_OK;
}

btt_err btt_store_check_row(const char *name, uint64_t want, int64_t seq, const uint8_t *op, int64_t len, int64_t now,
                            int64_t reason, btt_ledger_store_entry *out, btt_error *err)
{
    if (seq < 1 || (uint64_t)seq != want)
        return btt_error_set(err, BTT_EIO, "%s: database is damaged (log entry %" PRIu64 " is missing)", name, want);
    if (!op || len <= 0 || len > BTT_LEDGER_OP_MAX || now < 0 || reason < 0 || reason >= BTT_LEDGER_REASON_COUNT)
        return btt_error_set(err, BTT_EIO, "%s: database is damaged (log entry %" PRIu64 " is malformed)", name, want);
    *out = (btt_ledger_store_entry){.seq = (uint64_t)seq, .op = op, .op_len = (size_t)len, .now = (uint64_t)now,
                                    .reason = (btt_ledger_reason)reason};
    return BTT_OK;
}
