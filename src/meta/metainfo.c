/* metainfo.c - parsing .torrent files (BEP 3 v1, BEP 12, BEP 19, BEP 27, BEP 47).
 *
 * BEP 3: "info: This maps to a dictionary ... name ... piece length ... pieces maps to a
 * string whose length is a multiple of 20 ... There is also a key length or a key files,
 * but not both or neither." The info-hash is the SHA-1 of the info dict's exact bytes. */
#include "btt/metainfo.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "btt/bencode.h"
#include "btt/checked.h"
#include "btt/path.h"

#define MAX_TORRENT_BYTES (64u << 20)
#define MAX_FILES 1000000u
#define MAX_PIECE_LENGTH (1u << 30)

static btt_err fail(btt_error *err, const char *field, const char *msg)
{
    return btt_error_set(err, BTT_EMETAINFO, "%s: %s", field, msg);
}

static char *dup_bytes(const uint8_t *p, size_t len)
{
    char *s = malloc(len + 1);
    if (!s) return NULL;
    memcpy(s, p, len);
    s[len] = 0;
    return s;
}

/* A string value as a new C string, or NULL if absent, not a string or containing NUL. */
static char *get_text(const btt_ben *n)
{
    const uint8_t *p;
    size_t len;
    if (!btt_ben_get_str(n, &p, &len) || memchr(p, 0, len)) return NULL;
    return dup_bytes(p, len);
}

static btt_err push_str(char ***arr, size_t *n, char *s)
{
    if (!s) return BTT_ENOMEM;
    char **a = realloc(*arr, (*n + 1) * sizeof *a);
    if (!a) {
        free(s);
        return BTT_ENOMEM;
    }
    a[(*n)++] = s;
    *arr = a;
    return BTT_OK;
}

static btt_err parse_trackers(btt_metainfo *mi, const btt_ben *root)
{
    const btt_ben *al = btt_ben_dict_get(root, "announce-list");
    for (const btt_ben *t = btt_ben_list_first(al); t; t = btt_ben_next(t)) {
        btt_tier tier = {NULL, 0};
        for (const btt_ben *u = btt_ben_list_first(t); u; u = btt_ben_next(u)) {
            char *url = get_text(u);
            if (url && !url[0]) {
                free(url); /* an empty URL names no tracker */
                continue;
            }
            if (url && push_str(&tier.urls, &tier.count, url)) goto nomem;
        }
        if (!tier.count) continue;
        btt_tier *tiers = realloc(mi->tiers, (mi->num_tiers + 1) * sizeof *tiers);
        if (!tiers) {
            for (size_t i = 0; i < tier.count; i++) free(tier.urls[i]);
            free(tier.urls);
            goto nomem;
        }
        mi->tiers = tiers;
        mi->tiers[mi->num_tiers++] = tier;
    }
    /* BEP 12: "If the announce-list key is present, the client will ignore the announce key" */
    if (mi->num_tiers == 0) {
        char *url = get_text(btt_ben_dict_get(root, "announce"));
        if (url && url[0]) {
            mi->tiers = calloc(1, sizeof *mi->tiers);
            if (!mi->tiers || push_str(&mi->tiers[0].urls, &mi->tiers[0].count, url)) {
                free(mi->tiers);
                mi->tiers = NULL;
                goto nomem;
            }
            mi->num_tiers = 1;
        } else {
            free(url);
        }
    }
    return BTT_OK;
nomem:
    return BTT_ENOMEM;
}

static btt_err parse_web_seeds(btt_metainfo *mi, const btt_ben *root)
{
    const btt_ben *ul = btt_ben_dict_get(root, "url-list");
    if (btt_ben_typeof(ul) == BTT_BEN_STR) {
        char *url = get_text(ul);
        if (url && url[0]) return push_str(&mi->web_seeds, &mi->num_web_seeds, url);
        free(url);
        return BTT_OK;
    }
    for (const btt_ben *u = btt_ben_list_first(ul); u; u = btt_ben_next(u)) {
        char *url = get_text(u);
        if (url && url[0]) {
            if (push_str(&mi->web_seeds, &mi->num_web_seeds, url)) return BTT_ENOMEM;
        } else {
            free(url);
        }
    }
    return BTT_OK;
}

static unsigned parse_attr(const btt_ben *n)
{
    const uint8_t *p;
    size_t len;
    unsigned a = 0;
    if (!btt_ben_get_str(n, &p, &len)) return 0;
    for (size_t i = 0; i < len; i++) {
        if (p[i] == 'p') a |= BTT_FILE_PAD;
        else if (p[i] == 'x') a |= BTT_FILE_EXEC;
        else if (p[i] == 'h') a |= BTT_FILE_HIDDEN;
        else if (p[i] == 'l') a |= BTT_FILE_SYMLINK;
    }
    return a;
}

/* Joins a list of path components after checking each; field names the list for errors. */
static btt_err parse_path(const btt_ben *list, const char *field, char **out, btt_error *err)
{
    if (btt_ben_typeof(list) != BTT_BEN_LIST) return fail(err, field, "missing or not a list");
    if (btt_ben_count(list) == 0) return fail(err, field, "empty path");
    btt_buf b;
    btt_buf_init(&b, 4095);
    size_t i = 0;
    for (const btt_ben *c = btt_ben_list_first(list); c; c = btt_ben_next(c), i++) {
        const uint8_t *p;
        size_t len;
        if (!btt_ben_get_str(c, &p, &len)) {
            btt_buf_free(&b);
            return btt_error_set(err, BTT_EMETAINFO, "%s[%zu]: not a string", field, i);
        }
        btt_err e = btt_path_check_component((const char *)p, len, err);
        if (e) {
            btt_buf_free(&b);
            btt_error_prefix(err, "%s[%zu]", field, i);
            return e;
        }
        if ((i && btt_buf_append_byte(&b, '/')) || btt_buf_append(&b, p, len)) {
            btt_buf_free(&b);
            return fail(err, field, "path longer than 4095 bytes");
        }
    }
    *out = (char *)btt_buf_steal(&b, NULL);
    return *out ? BTT_OK : btt_error_set(err, BTT_ENOMEM, "out of memory");
}

static int cmp_paths(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Two files at one path, or a file that is also another's directory, would collide on disk. */
static btt_err check_collisions(const btt_metainfo *mi, btt_error *err)
{
    if (mi->num_files < 2) return BTT_OK;
    char **v = malloc(mi->num_files * sizeof *v);
    if (!v) return btt_error_set(err, BTT_ENOMEM, "out of memory");
    for (size_t i = 0; i < mi->num_files; i++) v[i] = mi->files[i].path;
    qsort(v, mi->num_files, sizeof *v, cmp_paths);
    btt_err e = BTT_OK;
    for (size_t i = 1; i < mi->num_files && !e; i++) {
        size_t l = strlen(v[i - 1]);
        if (strcmp(v[i - 1], v[i]) == 0)
            e = btt_error_set(err, BTT_EMETAINFO, "info.files: '%s' appears twice", v[i]);
        else if (strncmp(v[i - 1], v[i], l) == 0 && v[i][l] == '/')
            e = btt_error_set(err, BTT_EMETAINFO, "info.files: '%s' is both a file and a directory", v[i - 1]);
    }
    free(v);
    return e;
}

static btt_err parse_files(btt_metainfo *mi, const btt_ben *files, btt_error *err)
{
    if (btt_ben_typeof(files) != BTT_BEN_LIST) return fail(err, "info.files", "not a list");
    size_t n = btt_ben_count(files);
    if (n == 0) return fail(err, "info.files", "empty list");
    if (n > MAX_FILES) return fail(err, "info.files", "too many files");
    mi->files = calloc(n, sizeof *mi->files);
    if (!mi->files) return btt_error_set(err, BTT_ENOMEM, "out of memory");
    size_t i = 0;
    uint64_t total = 0;
    for (const btt_ben *f = btt_ben_list_first(files); f; f = btt_ben_next(f), i++) {
        char field[64];
        snprintf(field, sizeof field, "info.files[%zu]", i);
        if (btt_ben_typeof(f) != BTT_BEN_DICT) return fail(err, field, "not a dictionary");
        int64_t len;
        if (!btt_ben_get_int(btt_ben_dict_get(f, "length"), &len))
            return btt_error_set(err, BTT_EMETAINFO, "%s.length: missing or not an integer", field);
        if (len < 0) return btt_error_set(err, BTT_EMETAINFO, "%s.length: negative", field);
        char pfield[80];
        snprintf(pfield, sizeof pfield, "%s.path", field);
        btt_err e = parse_path(btt_ben_dict_get(f, "path"), pfield, &mi->files[i].path, err);
        mi->num_files = i + 1; /* so free releases the path */
        if (e) return e;
        mi->files[i].length = (uint64_t)len;
        mi->files[i].offset = total;
        mi->files[i].attr = parse_attr(btt_ben_dict_get(f, "attr"));
        if (!btt_add_u64(total, (uint64_t)len, &total) || total > (uint64_t)INT64_MAX)
            return fail(err, "info.files", "total size overflows");
    }
    mi->total_size = total;
    return check_collisions(mi, err);
}

static btt_err parse_info(btt_metainfo *mi, const btt_ben *info, btt_error *err)
{
    const uint8_t *p;
    size_t len;
    if (btt_ben_typeof(info) != BTT_BEN_DICT) return fail(err, "info", "missing or not a dictionary");

    if (!btt_ben_get_str(btt_ben_dict_get(info, "name"), &p, &len))
        return fail(err, "info.name", "missing or not a string");
    btt_err e = btt_path_check_component((const char *)p, len, err);
    if (e) {
        btt_error_prefix(err, "info.name");
        return e;
    }
    if (!(mi->name = dup_bytes(p, len))) return btt_error_set(err, BTT_ENOMEM, "out of memory");

    int64_t pl;
    if (!btt_ben_get_int(btt_ben_dict_get(info, "piece length"), &pl))
        return fail(err, "info.piece length", "missing or not an integer");
    if (pl <= 0 || pl > MAX_PIECE_LENGTH) return fail(err, "info.piece length", "must be between 1 and 1 GiB");
    mi->piece_length = (uint32_t)pl;

    if (!btt_ben_get_str(btt_ben_dict_get(info, "pieces"), &p, &len))
        return fail(err, "info.pieces", "missing or not a string");
    if (len % BTT_SHA1_LEN) return fail(err, "info.pieces", "length is not a multiple of 20");

    const btt_ben *files = btt_ben_dict_get(info, "files");
    const btt_ben *length = btt_ben_dict_get(info, "length");
    if (files && length) return fail(err, "info", "has both 'length' and 'files'");
    if (files) {
        mi->multi_file = true;
        if ((e = parse_files(mi, files, err))) return e;
    } else {
        int64_t l;
        if (!btt_ben_get_int(length, &l)) return fail(err, "info.length", "missing or not an integer");
        if (l < 0) return fail(err, "info.length", "negative");
        mi->files = calloc(1, sizeof *mi->files);
        if (!mi->files || !(mi->files[0].path = strdup(mi->name)))
            return btt_error_set(err, BTT_ENOMEM, "out of memory");
        mi->num_files = 1;
        mi->files[0].length = (uint64_t)l;
        mi->files[0].attr = parse_attr(btt_ben_dict_get(info, "attr"));
        mi->total_size = (uint64_t)l;
    }
    if (mi->total_size == 0) return fail(err, "info", "the torrent holds no data (total size 0)");

    uint64_t want = btt_div_ceil_u64(mi->total_size, mi->piece_length);
    if (want != len / BTT_SHA1_LEN)
        return btt_error_set(err, BTT_EMETAINFO,
                             "info.pieces: %zu hashes for %llu bytes in pieces of %u (expected %llu)",
                             len / BTT_SHA1_LEN, (unsigned long long)mi->total_size, mi->piece_length,
                             (unsigned long long)want);
    if (want > UINT32_MAX) return fail(err, "info.pieces", "too many pieces");
    mi->num_pieces = (uint32_t)want;
    if (!(mi->pieces = malloc(len ? len : 1))) return btt_error_set(err, BTT_ENOMEM, "out of memory");
    memcpy(mi->pieces, p, len);

    int64_t priv;
    mi->is_private = btt_ben_get_int(btt_ben_dict_get(info, "private"), &priv) && priv == 1;

    const uint8_t *raw = btt_ben_raw(info, &len);
    if (!(mi->info_raw = malloc(len))) return btt_error_set(err, BTT_ENOMEM, "out of memory");
    memcpy(mi->info_raw, raw, len);
    mi->info_len = len;
    btt_sha1(raw, len, mi->info_hash);
    return BTT_OK;
}

btt_err btt_metainfo_parse(const uint8_t *p, size_t len, btt_metainfo **out, btt_error *err)
{
    *out = NULL;
    btt_ben_limits lim = {64, 20000000, MAX_TORRENT_BYTES};
    btt_ben_doc *doc;
    btt_err e = btt_ben_decode(p, len, BTT_BEN_TOLERANT, &lim, &doc, err);
    if (e) return e;
    const btt_ben *root = btt_ben_root(doc);
    btt_metainfo *mi = calloc(1, sizeof *mi);
    if (!mi) {
        btt_ben_free(doc);
        return btt_error_set(err, BTT_ENOMEM, "out of memory");
    }
    if (btt_ben_typeof(root) != BTT_BEN_DICT) {
        e = fail(err, "torrent", "not a dictionary");
        goto out;
    }
    if ((e = parse_info(mi, btt_ben_dict_get(root, "info"), err))) goto out;
    if (parse_trackers(mi, root) || parse_web_seeds(mi, root)) {
        e = btt_error_set(err, BTT_ENOMEM, "out of memory");
        goto out;
    }
    mi->comment = get_text(btt_ben_dict_get(root, "comment"));
    mi->created_by = get_text(btt_ben_dict_get(root, "created by"));
    if (!btt_ben_get_int(btt_ben_dict_get(root, "creation date"), &mi->creation_date)) mi->creation_date = 0;
out:
    btt_ben_free(doc);
    if (e) {
        btt_metainfo_free(mi);
        return e;
    }
    *out = mi;
    return BTT_OK;
}

btt_err btt_metainfo_load(const char *path, btt_metainfo **out, btt_error *err)
{
    *out = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return btt_error_errno(err, errno, path);
    struct stat st;
    if (fstat(fd, &st) != 0) {
        btt_err e = btt_error_errno(err, errno, path);
        close(fd);
        return e;
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return btt_error_set(err, BTT_EMETAINFO, "%s: not a regular file", path);
    }
    if ((uint64_t)st.st_size > MAX_TORRENT_BYTES) {
        close(fd);
        return btt_error_set(err, BTT_ETOOBIG, "%s: %lld bytes is too large for a torrent file", path,
                             (long long)st.st_size);
    }
    size_t size = (size_t)st.st_size;
    uint8_t *data = malloc(size ? size : 1);
    if (!data) {
        close(fd);
        return btt_error_set(err, BTT_ENOMEM, "out of memory");
    }
    size_t got = 0;
    while (got < size) {
        ssize_t r = read(fd, data + got, size - got);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        got += (size_t)r;
    }
    close(fd);
    btt_err e = btt_metainfo_parse(data, got, out, err);
    free(data);
    if (e) btt_error_prefix(err, "%s", path);
    return e;
}

void btt_metainfo_free(btt_metainfo *mi)
{
    if (!mi) return;
    free(mi->name);
    free(mi->pieces);
    for (size_t i = 0; i < mi->num_files; i++) free(mi->files[i].path);
    free(mi->files);
    for (size_t t = 0; t < mi->num_tiers; t++) {
        for (size_t i = 0; i < mi->tiers[t].count; i++) free(mi->tiers[t].urls[i]);
        free(mi->tiers[t].urls);
    }
    free(mi->tiers);
    for (size_t i = 0; i < mi->num_web_seeds; i++) free(mi->web_seeds[i]);
    free(mi->web_seeds);
    free(mi->comment);
    free(mi->created_by);
    free(mi->info_raw);
    free(mi);
}

uint32_t btt_metainfo_piece_size(const btt_metainfo *mi, uint32_t i)
{
    if (i + 1 < mi->num_pieces) return mi->piece_length;
    if (i >= mi->num_pieces) return 0;
    return (uint32_t)(mi->total_size - (uint64_t)i * mi->piece_length);
}

/* Index of the file holding byte off (skipping empty files). */
static size_t file_at(const btt_metainfo *mi, uint64_t off)
{
    size_t lo = 0, hi = mi->num_files;
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (mi->files[mid].offset <= off) lo = mid;
        else hi = mid;
    }
    while (lo < mi->num_files && mi->files[lo].length == 0) lo++;
    return lo;
}

void btt_metainfo_piece_files(const btt_metainfo *mi, uint32_t i, size_t *first, size_t *last)
{
    uint64_t start = (uint64_t)i * mi->piece_length;
    uint64_t end = start + btt_metainfo_piece_size(mi, i) - 1;
    *first = file_at(mi, start);
    *last = file_at(mi, end);
}

void btt_metainfo_hash_hex(const btt_metainfo *mi, char out[41]) { btt_hex(mi->info_hash, BTT_SHA1_LEN, out); }
