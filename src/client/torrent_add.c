/* torrent_add.c - adding a torrent: storage, file selection, resume data, the startup
 * check of existing data on the thread pool, then the announcer and the running state. */
#define BTT_CLIENT_INTERNAL
#include "client/client_int.h"
#include "client/speed.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "btt/hasher.h"
#include "btt/path.h"
#include "btt/resume.h"

#define CHECK_WINDOW 16

typedef struct checker {
    btt_torrent *t;
    btt_bitfield to_check; /* pieces to hash */
    uint32_t next, inflight, good;
} checker;

static void ann_stats(void *ud, btt_announcer_stats *out)
{
    btt_torrent *t = ud;
    out->uploaded = t->uploaded;
    out->downloaded = t->downloaded;
    uint64_t left = 0;
    for (uint32_t i = 0; i < t->mi->num_pieces; i++)
        if (btt_picker_wants(t->pk, i)) left += btt_metainfo_piece_size(t->mi, i);
    out->left = left;
    speed_announce(t, &out->bidannounce, &out->bid, &out->sortbid);
}

static void ann_peers(void *ud, const btt_addr *peers, size_t n)
{
    btt_torrent *t = ud;
    for (size_t i = 0; i < n; i++) btt_torrent_add_peer(t, &peers[i]);
}

static void ann_bids(void *ud, const btt_addr *peers, const uint64_t *bids, size_t n)
{
    btt_torrent *t = ud;
    for (size_t i = 0; i < n; i++) torrent_set_hint_bid(t, &peers[i], bids[i]);
}

static void ann_status(void *ud, const char *url, btt_err result, const char *message)
{
    (void)ud;
    if (result) BTT_LOGW(LOG_MOD, "tracker %s: %s", url, message ? message : btt_err_message(result));
    else if (message) BTT_LOGI(LOG_MOD, "tracker %s: %s", url, message);
}

static void start_running(btt_torrent *t)
{
    t->state = T_RUNNING;
    t->started_ms = uv_now(t->s->loop);
    btt_choker_init(&t->choker, &btt_choke_tit_for_tat, t->s->o.unchoke_slots, t->s->o.optimistic_slots,
                    session_rand(t->s));
    btt_error serr = {0};
    if (speed_torrent_start(t, &serr) != BTT_OK) BTT_LOGW(LOG_MOD, "speed off for this torrent: %s", btt_error_str(&serr));
    if (t->mi->num_tiers && !t->s->o.no_trackers) {
        btt_announcer_cbs cbs = {.ud = t, .stats = ann_stats, .peers = ann_peers, .bids = ann_bids, .status = ann_status};
        btt_addr me = btt_session_listen_addr(t->s);
        btt_error err = {0};
        if (btt_announcer_new(t->s->trackers, t->mi->tiers, t->mi->num_tiers, t->mi->info_hash, t->s->peer_id, me.port,
                              &cbs, &t->ann, &err))
            BTT_LOGW(LOG_MOD, "trackers: %s", btt_error_str(&err));
    }
    if (t->o.on_ready) t->o.on_ready(t->o.ud, t);
    if (t->state != T_RUNNING) return;
    if (btt_picker_left(t->pk) == 0) {
        t->complete = true;
        speed_torrent_completed(t);
        torrent_create_empty_files(t);
        if (t->ann && btt_picker_have_bitfield(t->pk)->count == t->mi->num_pieces) btt_announcer_completed(t->ann);
        if (t->o.on_complete && !t->notified_complete) {
            t->notified_complete = true;
            t->o.on_complete(t->o.ud, t);
        }
    }
    torrent_tick(t, uv_now(t->s->loop)); /* connect to known peers now */
}

static void check_next(checker *c);

static void on_checked(void *ud, uint32_t piece, btt_err result)
{
    checker *c = ud;
    btt_torrent *t = c->t;
    c->inflight--;
    if (result == BTT_OK) {
        btt_picker_set_have(t->pk, piece);
        t->bytes_have += btt_metainfo_piece_size(t->mi, piece);
        c->good++;
    }
    if (t->state == T_STOPPING) {
        t->hashing--;
        if (c->inflight == 0) {
            btt_bitfield_free(&c->to_check);
            free(c);
        }
        torrent_maybe_stopped(t);
        return;
    }
    t->hashing--;
    check_next(c);
}

static void check_next(checker *c)
{
    btt_torrent *t = c->t;
    while (c->inflight < CHECK_WINDOW && (c->next = btt_bitfield_next_set(&c->to_check, c->next)) < c->to_check.nbits) {
        uint32_t piece = c->next++;
        if (btt_hash_check_async(t->s->loop, t->st, t->mi, piece, on_checked, c)) break;
        c->inflight++;
        t->hashing++;
    }
    if (c->inflight) return;
    t->checked_pieces = btt_picker_have_bitfield(t->pk)->count;
    btt_bitfield_free(&c->to_check);
    free(c);
    t->resume_dirty = true;
    start_running(t);
}

static bool any_file_exists(btt_torrent *t)
{
    for (size_t i = 0; i < t->mi->num_files; i++) {
        uint64_t size;
        int64_t mt;
        if (!(t->mi->files[i].attr & BTT_FILE_PAD) && btt_storage_file_stat(t->st, i, &size, &mt)) return true;
    }
    return false;
}

/* Decides which pieces to trust and which to hash. Allocates everything it needs, so the
 * torrent can be linked into the session only once nothing can fail any more. */
static checker *prepare_check(btt_torrent *t, btt_error *err)
{
    checker *c = calloc(1, sizeof *c);
    btt_bitfield have = {0};
    if (!c || btt_bitfield_init(&c->to_check, t->mi->num_pieces) || btt_bitfield_init(&have, t->mi->num_pieces)) {
        if (c) btt_bitfield_free(&c->to_check);
        free(c);
        btt_error_set(err, BTT_ENOMEM, "out of memory");
        return NULL;
    }
    c->t = t;
    btt_error rerr = {0};
    btt_err r = t->o.seed_only ? BTT_ENOENT : btt_resume_load(t->resume_path, t->mi, t->st, &have, &c->to_check, &rerr);
    if (r == BTT_OK) {
        for (uint32_t i = btt_bitfield_next_set(&have, 0); i < have.nbits; i = btt_bitfield_next_set(&have, i + 1)) {
            btt_picker_set_have(t->pk, i);
            t->bytes_have += btt_metainfo_piece_size(t->mi, i);
        }
    } else {
        if (r != BTT_ENOENT) BTT_LOGW(LOG_MOD, "%s; checking the data instead", btt_error_str(&rerr));
        if (t->o.seed_only || any_file_exists(t)) btt_bitfield_set_all(&c->to_check);
    }
    btt_bitfield_free(&have);
    return c;
}

static btt_err select_files(btt_torrent *t, btt_error *err)
{
    const btt_metainfo *mi = t->mi;
    if (t->o.seed_only) { /* never download */
        for (uint32_t i = 0; i < mi->num_pieces; i++) btt_picker_set_priority(t->pk, i, 0);
        return BTT_OK;
    }
    if (!t->o.files) return BTT_OK;
    for (uint32_t i = 0; i < mi->num_pieces; i++) btt_picker_set_priority(t->pk, i, 0);
    for (size_t k = 0; k < t->o.num_files; k++) {
        uint32_t f = t->o.files[k];
        if (f >= mi->num_files) return btt_error_set(err, BTT_EINVAL, "file index %u: the torrent has %zu files", f, mi->num_files);
        const btt_file *fl = &mi->files[f];
        if (fl->length == 0 || (fl->attr & BTT_FILE_PAD)) continue;
        uint32_t first = (uint32_t)(fl->offset / mi->piece_length);
        uint32_t last = (uint32_t)((fl->offset + fl->length - 1) / mi->piece_length);
        for (uint32_t i = first; i <= last; i++) btt_picker_set_priority(t->pk, i, 1);
    }
    return BTT_OK;
}

static char *resume_path_for(btt_session *s, const btt_metainfo *mi, const char *dir, btt_error *err)
{
    char *real = realpath(dir, NULL);
    uint8_t dh[20];
    btt_sha1(real ? real : dir, strlen(real ? real : dir), dh);
    free(real);
    char hex[41], dhex[41];
    btt_hex(mi->info_hash, 20, hex);
    btt_hex(dh, 4, dhex);
    char path[4096];
    int n = snprintf(path, sizeof path, "%s/resume/%s-%s.resume", s->state_dir, hex, dhex);
    if (n < 0 || (size_t)n >= sizeof path) {
        btt_error_set(err, BTT_EINVAL, "state directory path too long");
        return NULL;
    }
    if (btt_path_mkparents(path, err)) return NULL;
    return strdup(path);
}

btt_err btt_torrent_add(btt_session *s, btt_metainfo *mi, const btt_torrent_opts *opts, btt_torrent **out,
                        btt_error *err)
{
    *out = NULL;
    if (session_find_torrent(s, mi->info_hash)) return btt_error_set(err, BTT_EINVAL, "torrent already added");
    struct stat sb;
    if (stat(opts->dir, &sb) != 0) return btt_error_errno(err, errno, opts->dir);
    if (!S_ISDIR(sb.st_mode)) return btt_error_set(err, BTT_EINVAL, "%s: not a directory", opts->dir);
    btt_torrent *t = calloc(1, sizeof *t);
    if (!t) return btt_error_set(err, BTT_ENOMEM, "out of memory");
    t->s = s;
    t->o = *opts;
    t->state = T_CHECKING;
    t->dir = strdup(opts->dir);
    t->pb = calloc(mi->num_pieces ? mi->num_pieces : 1, sizeof *t->pb);
    if (opts->files && opts->num_files) {
        t->files_sel = malloc(opts->num_files * sizeof *t->files_sel);
        if (t->files_sel) memcpy(t->files_sel, opts->files, opts->num_files * sizeof *t->files_sel);
        t->o.files = t->files_sel;
    }
    btt_err e = BTT_OK;
    if (!t->dir || !t->pb || (opts->files && opts->num_files && !t->files_sel)) {
        e = btt_error_set(err, BTT_ENOMEM, "out of memory");
        goto fail;
    }
    t->mi = mi;
    if ((e = btt_storage_open(mi, opts->dir, opts->seed_only ? BTT_STORAGE_READONLY : BTT_STORAGE_WRITE, &t->st, err)))
        goto fail;
    if ((e = btt_picker_new(mi->num_pieces, mi->piece_length, mi->total_size, session_rand(s), &t->pk))) {
        btt_error_set(err, e, "out of memory");
        goto fail;
    }
    btt_picker_set_sequential(t->pk, opts->sequential);
    if ((e = select_files(t, err))) goto fail;
    if (!(t->resume_path = resume_path_for(s, mi, opts->dir, err))) {
        e = err ? err->code : BTT_EIO;
        goto fail;
    }
    checker *c = prepare_check(t, err);
    if (!c) {
        e = BTT_ENOMEM;
        goto fail;
    }
    uv_timer_init(s->loop, &t->reaper); /* cannot fail for a valid loop */
    t->reaper.data = t;
    s->open_handles++;
    t->next = s->torrents;
    s->torrents = t;
    *out = t;
    check_next(c); /* may finish at once, and even complete and stop the torrent */
    return BTT_OK;
fail:
    t->mi = NULL; /* the caller keeps mi on failure */
    btt_picker_free(t->pk);
    btt_storage_close(t->st);
    free(t->dir);
    free(t->pb);
    free(t->files_sel);
    free(t->resume_path);
    free(t);
    return e;
}

void btt_torrent_stats_get(const btt_torrent *t, btt_torrent_stats *out)
{
    uint64_t now = uv_now(t->s->loop);
    memset(out, 0, sizeof *out);
    const btt_bitfield *have = btt_picker_have_bitfield(t->pk);
    out->pieces_have = have->count;
    out->pieces_total = t->mi->num_pieces;
    out->pieces_wanted_left = btt_picker_left(t->pk);
    out->bytes_have = t->bytes_have;
    uint64_t wanted = 0;
    for (uint32_t i = 0; i < t->mi->num_pieces; i++)
        if (btt_picker_wants(t->pk, i) || btt_picker_have(t->pk, i)) wanted += btt_metainfo_piece_size(t->mi, i);
    out->bytes_wanted = wanted;
    out->downloaded = t->downloaded;
    out->uploaded = t->uploaded;
    out->down_rate = rate_get(&t->down, now);
    out->up_rate = rate_get(&t->up, now);
    for (const peer *p = t->peers; p; p = p->next)
        if (p->attached && p->state == P_ACTIVE) {
            out->peers++;
            out->seeds += p->seed;
        }
    out->checked_pieces = t->checked_pieces;
    out->complete = t->complete;
    speed_stats(t, out);
}

const btt_metainfo *btt_torrent_metainfo(const btt_torrent *t) { return t->mi; }
