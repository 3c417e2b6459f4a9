/* store_int.h - what the ledger store backends (store_sqlite.c, store_pg.c) share: the genesis
 * as stored, the checks on a batch before it is appended and on an entry read back in replay.
 * Messages start with name (the file or the database) as every store error does. */
#ifndef BTT_LEDGER_STORE_INT_H
#define BTT_LEDGER_STORE_INT_H

#include "btt/buf.h"
#include "btt/ledger_store.h"

/* Decides a store's genesis from its meta entries: text (the 'genesis' value, found_text) and idb
 * (the 'ledger_id' value, found_id).
 *   nothing stored: needs if_new (BTT_ENOENT otherwise); fills *g and id, replaces text and idb
 *                   with the values to store and sets *store_it. The text form is checked to read
 *                   back as the same ledger (BTT_EINVAL if not).
 *   stored:         checks it (BTT_EIO if damaged) and that if_new, if given, is the same ledger
 *                   (BTT_EEXIST); fills *g and id; *store_it = false. */
BTT_WUR btt_err btt_store_genesis_resolve(const char *name, const btt_genesis *if_new, btt_buf *text,
                                          bool found_text, btt_buf *idb, bool found_id, btt_genesis *g,
                                          uint8_t id[BTT_LEDGER_ID_LEN], bool *store_it, btt_error *err);

/* Checks a batch before appending it after last: seqs last + 1, last + 2, ..., fields in range
 * (BTT_EINVAL otherwise). */
BTT_WUR btt_err btt_store_check_batch(const char *name, uint64_t last, const btt_ledger_store_entry *e, size_t n,
                                      btt_error *err);

/* Checks a row read back in replay, with its columns as the database holds them (signed), and
 * fills *out (op points at op). want is the seq it must have. BTT_EIO if damaged. */
BTT_WUR btt_err btt_store_check_row(const char *name, uint64_t want, int64_t seq, const uint8_t *op, int64_t len,
                                    int64_t now, int64_t reason, btt_ledger_store_entry *out, btt_error *err);

#endif
