/* create.c - making a .torrent from a file or a directory tree. */
#include <dirent.h>
#include <errno.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "btt/bencode.h"
#include "btt/checked.h"
#include "btt/hasher.h"
#include "btt/metainfo.h"
#include "btt/path.h"
#include "btt/storage.h"

#define MIN_PIECE (16u << 10)
#define MAX_PIECE (16u << 20)
#define TARGET_PIECES 2048u

uint32_t btt_create_auto_piece_length(uint64_t total_size)
{
    uint32_t pl = MIN_PIECE;
    while (pl < MAX_PIECE && btt_div_ceil_u64(total_size, pl) > TARGET_PIECES) pl *= 2;
    return pl;
}

typedef struct walk {
    btt_file *files;
    size_t n, cap;
    uint64_t total;
    size_t depth;
} walk;

static btt_err add_file(walk *w, const char *rel, uint64_t len, btt_error *err)
{
    if (w->n == w->cap) {
        size_t cap = w->cap ? w->cap * 2 : 16;
        btt_file *f = realloc(w->files, cap * sizeof *f);
        if (!f) return btt_error_set(err, BTT_ENOMEM, "out of memory");
        w->files = f;
        w->cap = cap;
    }
    if (!(w->files[w->n].path = strdup(rel))) return btt_error_set(err, BTT_ENOMEM, "out of memory");
    w->files[w->n].length = len;
    w->files[w->n].attr = 0;
    w->n++;
    if (!btt_add_u64(w->total, len, &w->total) || w->total > (uint64_t)INT64_MAX)
        return btt_error_set(err, BTT_EOVERFLOW, "total size overflows");
    return BTT_OK;
}

/* Collects regular files under abs (rel is the path inside the torrent, "" at the top). */
static btt_err walk_dir(walk *w, const char *abs, const char *rel, btt_error *err)
{
    if (++w->depth > 64) return btt_error_set(err, BTT_EPATH, "%s: directories nested too deep", abs);
    DIR *d = opendir(abs);
    if (!d) return btt_error_errno(err, errno, abs);
    btt_err e = BTT_OK;
    struct dirent *de;
    while (!e && (de = readdir(d))) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
        if ((e = btt_path_check_component(de->d_name, strlen(de->d_name), err))) break;
        char *a = btt_path_join(abs, de->d_name);
        char *r = rel[0] ? btt_path_join(rel, de->d_name) : strdup(de->d_name);
        struct stat sb;
        if (!a || !r) e = btt_error_set(err, BTT_ENOMEM, "out of memory");
        else if (stat(a, &sb) != 0) e = btt_error_errno(err, errno, a);
        else if (S_ISDIR(sb.st_mode)) e = walk_dir(w, a, r, err);
        else if (S_ISREG(sb.st_mode)) e = add_file(w, r, (uint64_t)sb.st_size, err);
        /* sockets, fifos and devices are not shared */
        free(a);
        free(r);
    }
    closedir(d);
    w->depth--;
    return e;
}

static int cmp_file(const void *a, const void *b)
{
    return strcmp(((const btt_file *)a)->path, ((const btt_file *)b)->path);
}

static btt_err encode_path(btt_buf *b, const char *path)
{
    btt_err e = btt_benc_list(b);
    for (const char *s = path; !e;) {
        const char *slash = strchr(s, '/');
        size_t n = slash ? (size_t)(slash - s) : strlen(s);
        e = btt_benc_str(b, s, n);
        if (!slash) break;
        s = slash + 1;
    }
    return e ? e : btt_benc_end(b);
}

/* Keys in sorted order, as BEP 3 requires. */
static btt_err encode_torrent(btt_buf *b, const btt_metainfo *mi, const btt_create_opts *o)
{
    btt_err e = btt_benc_dict(b);
    if (o->num_trackers) {
        e |= btt_benc_cstr(b, "announce");
        e |= btt_benc_cstr(b, o->trackers[0]);
        if (o->num_trackers > 1) {
            e |= btt_benc_cstr(b, "announce-list");
            e |= btt_benc_list(b);
            for (size_t i = 0; i < o->num_trackers; i++) {
                e |= btt_benc_list(b);
                e |= btt_benc_cstr(b, o->trackers[i]);
                e |= btt_benc_end(b);
            }
            e |= btt_benc_end(b);
        }
    }
    if (o->comment) {
        e |= btt_benc_cstr(b, "comment");
        e |= btt_benc_cstr(b, o->comment);
    }
    e |= btt_benc_cstr(b, "created by");
    e |= btt_benc_cstr(b, o->created_by ? o->created_by : "btt/" BTT_VERSION);
    if (o->creation_date >= 0) {
        e |= btt_benc_cstr(b, "creation date");
        e |= btt_benc_int(b, o->creation_date ? o->creation_date : (int64_t)time(NULL));
    }
    e |= btt_benc_cstr(b, "info");
    e |= btt_benc_dict(b);
    if (mi->multi_file) {
        e |= btt_benc_cstr(b, "files");
        e |= btt_benc_list(b);
        for (size_t i = 0; i < mi->num_files; i++) {
            e |= btt_benc_dict(b);
            e |= btt_benc_cstr(b, "length");
            e |= btt_benc_int(b, (int64_t)mi->files[i].length);
            e |= btt_benc_cstr(b, "path");
            e |= encode_path(b, mi->files[i].path);
            e |= btt_benc_end(b);
        }
        e |= btt_benc_end(b);
    } else {
        e |= btt_benc_cstr(b, "length");
        e |= btt_benc_int(b, (int64_t)mi->total_size);
    }
    e |= btt_benc_cstr(b, "name");
    e |= btt_benc_cstr(b, mi->name);
    e |= btt_benc_cstr(b, "piece length");
    e |= btt_benc_int(b, mi->piece_length);
    e |= btt_benc_cstr(b, "pieces");
    e |= btt_benc_str(b, mi->pieces, (size_t)mi->num_pieces * BTT_SHA1_LEN);
    if (o->is_private) {
        e |= btt_benc_cstr(b, "private");
        e |= btt_benc_int(b, 1);
    }
    e |= btt_benc_end(b); /* info */
    if (o->num_web_seeds) {
        e |= btt_benc_cstr(b, "url-list");
        e |= btt_benc_list(b);
        for (size_t i = 0; i < o->num_web_seeds; i++) e |= btt_benc_cstr(b, o->web_seeds[i]);
        e |= btt_benc_end(b);
    }
    e |= btt_benc_end(b);
    return e ? BTT_ENOMEM : BTT_OK;
}

btt_err btt_metainfo_create(const char *path, const btt_create_opts *opts, btt_buf *out, btt_metainfo **mi_out,
                            btt_error *err)
{
    static const btt_create_opts defaults;
    const btt_create_opts *o = opts ? opts : &defaults;
    if (mi_out) *mi_out = NULL;

    struct stat sb;
    if (stat(path, &sb) != 0) return btt_error_errno(err, errno, path);

    /* The torrent's name is the last component of the absolute path ("." names its directory). */
    char *copy = realpath(path, NULL);
    if (!copy) return btt_error_errno(err, errno, path);
    char *copy2 = strdup(copy);
    if (!copy2) {
        free(copy);
        return btt_error_set(err, BTT_ENOMEM, "out of memory");
    }
    path = copy2;
    const char *name = basename(copy);
    char *parent_buf = strdup(copy2);
    if (!parent_buf) {
        free(copy);
        free(copy2);
        return btt_error_set(err, BTT_ENOMEM, "out of memory");
    }
    const char *parent = dirname(parent_buf);

    btt_metainfo mi = {0};
    walk w = {0};
    btt_err e = btt_path_check_component(name, strlen(name), err);
    if (e) {
        btt_error_prefix(err, "%s: cannot be a torrent's name", path);
        goto out;
    }
    mi.name = (char *)name;
    if (S_ISDIR(sb.st_mode)) {
        mi.multi_file = true;
        if ((e = walk_dir(&w, path, "", err))) goto out;
        if (w.n > 1) qsort(w.files, w.n, sizeof *w.files, cmp_file);
    } else if (S_ISREG(sb.st_mode)) {
        if ((e = add_file(&w, name, (uint64_t)sb.st_size, err))) goto out;
    } else {
        e = btt_error_set(err, BTT_EINVAL, "%s: not a regular file or directory", path);
        goto out;
    }
    if (w.total == 0) {
        e = btt_error_set(err, BTT_EINVAL, "%s: nothing to share (no data)", path);
        goto out;
    }
    for (size_t i = 0, off = 0; i < w.n; off += w.files[i].length, i++) w.files[i].offset = off;
    mi.files = w.files;
    mi.num_files = w.n;
    mi.total_size = w.total;
    mi.piece_length = o->piece_length ? o->piece_length : btt_create_auto_piece_length(w.total);
    uint64_t np = btt_div_ceil_u64(w.total, mi.piece_length);
    if (np > UINT32_MAX) {
        e = btt_error_set(err, BTT_ERANGE, "%s: too many pieces; use a larger piece size", path);
        goto out;
    }
    mi.num_pieces = (uint32_t)np;
    if (!(mi.pieces = malloc((size_t)np * BTT_SHA1_LEN))) {
        e = btt_error_set(err, BTT_ENOMEM, "out of memory");
        goto out;
    }

    btt_storage *st;
    if ((e = btt_storage_open(&mi, parent, BTT_STORAGE_READONLY, &st, err))) goto out;
    e = btt_hash_compute(st, &mi, mi.pieces, o->progress, o->progress_ud, err);
    btt_storage_close(st);
    if (e) goto out;

    size_t start = out->len;
    if ((e = encode_torrent(out, &mi, o))) {
        btt_error_set(err, e, "torrent too large to encode");
        goto out;
    }
    if (mi_out && (e = btt_metainfo_parse(out->data + start, out->len - start, mi_out, err))) goto out;
out:
    free(mi.pieces);
    for (size_t i = 0; i < w.n; i++) free(w.files[i].path);
    free(w.files);
    free(copy);
    free(copy2);
    free(parent_buf);
    return e;
}
