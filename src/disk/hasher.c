/* hasher.c - piece hashing on libuv's thread pool.
 *
 * Workers read a piece in chunks small enough to stay in the CPU cache and feed them to
 * SHA-1; whole-torrent scans batch small pieces into one job so queueing costs little. */
#include "btt/hasher.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CHUNK (256u << 10)    /* read size: fits the L2 cache */
#define MIN_JOB_BYTES (1u << 20)

/* Page-aligned: the kernel's copy into an unaligned buffer is several times slower. */
static uint8_t *chunk_alloc(void)
{
    void *p = NULL;
    return posix_memalign(&p, 4096, CHUNK) == 0 ? p : NULL;
}

void btt_hasher_setup_threads(void)
{
    if (getenv("UV_THREADPOOL_SIZE")) return;
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    if (n < 4) n = 4;
    if (n > 64) n = 64;
    char buf[16];
    snprintf(buf, sizeof buf, "%ld", n);
    setenv("UV_THREADPOOL_SIZE", buf, 0);
}

/* Reads piece i through buf (CHUNK bytes) and hashes it. */
static btt_err hash_piece(btt_storage *st, const btt_metainfo *mi, uint32_t i, uint8_t *buf,
                          uint8_t out[BTT_SHA1_LEN], btt_error *err)
{
    uint32_t size = btt_metainfo_piece_size(mi, i);
    uint64_t off = (uint64_t)i * mi->piece_length;
    if (size <= CHUNK) {
        btt_err e = btt_storage_read(st, off, buf, size, err);
        if (!e) btt_sha1(buf, size, out);
        return e;
    }
    btt_sha1_ctx *c = btt_sha1_new();
    if (!c) return btt_error_set(err, BTT_ENOMEM, "out of memory");
    for (uint32_t done = 0; done < size;) {
        uint32_t n = size - done < CHUNK ? size - done : CHUNK;
        btt_err e = btt_storage_read(st, off + done, buf, n, err);
        if (e) {
            btt_sha1_final(c, out);
            return e;
        }
        btt_sha1_update(c, buf, n);
        done += n;
    }
    btt_sha1_final(c, out);
    return BTT_OK;
}

static btt_err check_piece(btt_storage *st, const btt_metainfo *mi, uint32_t i, uint8_t *buf, btt_error *err)
{
    uint8_t h[BTT_SHA1_LEN];
    btt_err e = hash_piece(st, mi, i, buf, h, err);
    if (e) return e;
    return memcmp(h, mi->pieces + (size_t)i * BTT_SHA1_LEN, BTT_SHA1_LEN) ? BTT_EHASH : BTT_OK;
}

/* ---- asynchronous single-piece jobs ---- */

typedef struct async_job {
    uv_work_t req;
    btt_storage *st;
    const btt_metainfo *mi;
    uint32_t piece;
    const uint8_t *src; /* hash-and-write: the piece's data */
    btt_err result;
    btt_hash_cb cb;
    void *ud;
} async_job;

static void async_check_work(uv_work_t *req)
{
    async_job *j = req->data;
    uint8_t *buf = chunk_alloc();
    j->result = buf ? check_piece(j->st, j->mi, j->piece, buf, NULL) : BTT_ENOMEM;
    free(buf);
}

static void async_write_work(uv_work_t *req)
{
    async_job *j = req->data;
    uint32_t size = btt_metainfo_piece_size(j->mi, j->piece);
    uint8_t h[BTT_SHA1_LEN];
    btt_sha1(j->src, size, h);
    if (memcmp(h, j->mi->pieces + (size_t)j->piece * BTT_SHA1_LEN, BTT_SHA1_LEN)) {
        j->result = BTT_EHASH;
        return;
    }
    j->result = btt_storage_write(j->st, (uint64_t)j->piece * j->mi->piece_length, j->src, size, NULL);
}

static void async_done(uv_work_t *req, int status)
{
    async_job *j = req->data;
    j->cb(j->ud, j->piece, status == UV_ECANCELED ? BTT_ECANCELED : j->result);
    free(j);
}

static btt_err queue_async(uv_loop_t *loop, btt_storage *st, const btt_metainfo *mi, uint32_t piece,
                           const uint8_t *src, btt_hash_cb cb, void *ud)
{
    if (piece >= mi->num_pieces) return BTT_ERANGE;
    async_job *j = calloc(1, sizeof *j);
    if (!j) return BTT_ENOMEM;
    *j = (async_job){.st = st, .mi = mi, .piece = piece, .src = src, .cb = cb, .ud = ud};
    j->req.data = j;
    if (uv_queue_work(loop, &j->req, src ? async_write_work : async_check_work, async_done)) {
        free(j);
        return BTT_ENOMEM;
    }
    return BTT_OK;
}

btt_err btt_hash_check_async(uv_loop_t *loop, btt_storage *st, const btt_metainfo *mi, uint32_t piece,
                             btt_hash_cb cb, void *ud)
{
    return queue_async(loop, st, mi, piece, NULL, cb, ud);
}

btt_err btt_hash_write_async(uv_loop_t *loop, btt_storage *st, const btt_metainfo *mi, uint32_t piece,
                             const uint8_t *buf, btt_hash_cb cb, void *ud)
{
    return queue_async(loop, st, mi, piece, buf, cb, ud);
}

/* ---- whole-torrent scans on a private loop ---- */

typedef struct scan scan;

typedef struct scan_job {
    uv_work_t req;
    scan *s;
    uint32_t first, count;
    uint8_t *buf;
    uint8_t *results;  /* count entries of btt_err (check mode) */
    btt_error err;     /* first hard failure (compute mode) */
    btt_err failure;
} scan_job;

struct scan {
    uv_loop_t loop;
    btt_storage *st;
    const btt_metainfo *mi;
    bool compute;      /* compute hashes into out, else check */
    uint8_t *out;
    uint32_t next, done, per_job;
    btt_bitfield *have;
    uint8_t *per_piece;
    btt_scan_result res;
    btt_err failure;
    btt_error *err;
    void (*progress)(void *, uint32_t, uint32_t);
    void *ud;
};

static void scan_work(uv_work_t *req)
{
    scan_job *j = req->data;
    scan *s = j->s;
    for (uint32_t k = 0; k < j->count; k++) {
        uint32_t i = j->first + k;
        if (s->compute) {
            if (!j->failure)
                j->failure = hash_piece(s->st, s->mi, i, j->buf, s->out + (size_t)i * BTT_SHA1_LEN, &j->err);
        } else {
            j->results[k] = (uint8_t)check_piece(s->st, s->mi, i, j->buf, NULL);
        }
    }
}

static void scan_queue(scan_job *j);

static void scan_done(uv_work_t *req, int status)
{
    scan_job *j = req->data;
    scan *s = j->s;
    (void)status;
    if (s->compute) {
        if (j->failure && !s->failure) {
            s->failure = j->failure;
            if (s->err) *s->err = j->err;
        }
    } else {
        for (uint32_t k = 0; k < j->count; k++) {
            btt_err r = j->results[k];
            uint32_t i = j->first + k;
            if (s->per_piece) s->per_piece[i] = (uint8_t)r;
            if (r == BTT_OK) {
                s->res.good++;
                if (s->have) btt_bitfield_set(s->have, i);
            } else if (r == BTT_EHASH) {
                s->res.bad++;
            } else if (r == BTT_ENOENT) {
                s->res.missing++;
            } else {
                s->res.io_errors++;
            }
        }
    }
    s->done += j->count;
    if (s->progress) s->progress(s->ud, s->done, s->mi->num_pieces);
    scan_queue(j);
}

/* Gives the job the next range of pieces, or frees it when there are none (or we failed). */
static void scan_queue(scan_job *j)
{
    scan *s = j->s;
    if (s->next >= s->mi->num_pieces || s->failure) {
        free(j->buf);
        free(j->results);
        free(j);
        return;
    }
    j->first = s->next;
    j->count = s->mi->num_pieces - s->next < s->per_job ? s->mi->num_pieces - s->next : s->per_job;
    j->failure = BTT_OK;
    s->next += j->count;
    uv_queue_work(&s->loop, &j->req, scan_work, scan_done); /* cannot fail with a valid loop */
}

static btt_err run_scan(scan *s)
{
    const char *env = getenv("UV_THREADPOOL_SIZE");
    long threads = env ? atol(env) : 4;
    if (threads < 1) threads = 4;
    uint32_t jobs = (uint32_t)threads * 2;
    s->per_job = s->mi->piece_length >= MIN_JOB_BYTES ? 1 : MIN_JOB_BYTES / s->mi->piece_length;
    if (uv_loop_init(&s->loop)) return btt_error_set(s->err, BTT_ENOMEM, "cannot start an event loop");
    btt_err e = BTT_OK;
    for (uint32_t k = 0; k < jobs; k++) {
        scan_job *j = calloc(1, sizeof *j);
        if (j) {
            j->s = s;
            j->req.data = j;
            j->buf = chunk_alloc();
            j->results = malloc(s->per_job);
        }
        if (!j || !j->buf || !j->results) {
            if (j) {
                free(j->buf);
                free(j->results);
            }
            free(j);
            e = btt_error_set(s->err, BTT_ENOMEM, "out of memory");
            s->failure = e; /* let running jobs drain */
            break;
        }
        scan_queue(j);
    }
    uv_run(&s->loop, UV_RUN_DEFAULT);
    uv_loop_close(&s->loop);
    return e ? e : s->failure;
}

btt_err btt_hash_scan(btt_storage *st, const btt_metainfo *mi, btt_bitfield *have, uint8_t *per_piece,
                      btt_scan_result *res, void (*progress)(void *ud, uint32_t done, uint32_t total), void *ud,
                      btt_error *err)
{
    scan s = {.st = st, .mi = mi, .have = have, .per_piece = per_piece, .progress = progress, .ud = ud, .err = err};
    btt_err e = run_scan(&s);
    if (res) *res = s.res;
    return e;
}

btt_err btt_hash_compute(btt_storage *st, const btt_metainfo *mi, uint8_t *out,
                         void (*progress)(void *ud, uint32_t done, uint32_t total), void *ud, btt_error *err)
{
    scan s = {.st = st, .mi = mi, .compute = true, .out = out, .progress = progress, .ud = ud, .err = err};
    return run_scan(&s);
}
