/* btt/hasher.h - piece hashing on libuv's thread pool, off the event loop.
 *
 * Worker threads only read, hash and write; results come back on the loop thread. The
 * thread pool has libuv's size: call btt_hasher_setup_threads() before the first libuv use
 * to size it to the machine's cores. */
#ifndef BTT_HASHER_H
#define BTT_HASHER_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "btt/bitfield.h"
#include "btt/error.h"
#include "btt/metainfo.h"
#include "btt/storage.h"

/* Sets UV_THREADPOOL_SIZE to the number of online CPUs (at least 4) unless the user set it. */
void btt_hasher_setup_threads(void);

/* Result for one piece: BTT_OK (hash matches / computed), BTT_EHASH (mismatch),
 * BTT_ENOENT (data missing), BTT_EIO. */
typedef void (*btt_hash_cb)(void *ud, uint32_t piece, btt_err result);

/* Asynchronous check of piece i of st against mi->pieces; cb runs on loop. The caller keeps
 * st and mi alive until cb. Returns BTT_ENOMEM (cb will not run) or BTT_OK. */
BTT_WUR btt_err btt_hash_check_async(uv_loop_t *loop, btt_storage *st, const btt_metainfo *mi, uint32_t piece,
                                     btt_hash_cb cb, void *ud);

/* Asynchronous hash-and-write of a downloaded piece held in buf (piece size bytes): if it
 * matches, it is written to st and cb gets BTT_OK; otherwise BTT_EHASH and nothing is
 * written. buf must stay valid until cb. */
BTT_WUR btt_err btt_hash_write_async(uv_loop_t *loop, btt_storage *st, const btt_metainfo *mi, uint32_t piece,
                                     const uint8_t *buf, btt_hash_cb cb, void *ud);

typedef struct btt_scan_result {
    uint32_t good, bad, missing, io_errors;
} btt_scan_result;

/* Checks every piece, all cores. have (initialized to num_pieces) receives the good ones;
 * per_piece, if non-NULL, receives each piece's btt_err. progress, if non-NULL, is called
 * now and then on the calling thread. */
BTT_WUR btt_err btt_hash_scan(btt_storage *st, const btt_metainfo *mi, btt_bitfield *have, uint8_t *per_piece,
                              btt_scan_result *res, void (*progress)(void *ud, uint32_t done, uint32_t total),
                              void *ud, btt_error *err);

/* Computes every piece's SHA-1 into out (num_pieces * 20 bytes), all cores. Any read
 * failure is returned with err naming the file. Used by torrent creation. */
BTT_WUR btt_err btt_hash_compute(btt_storage *st, const btt_metainfo *mi, uint8_t *out,
                                 void (*progress)(void *ud, uint32_t done, uint32_t total), void *ud,
                                 btt_error *err);

#endif
