/* Unit tests for the disk module: storage (I/O across files, padding, missing/short files,
 * sparse files), resume data (save/load, invalidation on change, rejection) and the hasher
 * (scan, compute, asynchronous check and write). Every test works in its own mkdtemp
 * directory under /tmp, removed afterwards. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <uv.h>

#include "btt/bencode.h"
#include "btt/bitfield.h"
#include "btt/buf.h"
#include "btt/checked.h"
#include "btt/error.h"
#include "btt/hasher.h"
#include "btt/metainfo.h"
#include "btt/resume.h"
#include "btt/sha1.h"
#include "btt/storage.h"

#define OK(x) assert_int_equal((x), BTT_OK)

/* ------------------------------------------------------------------ fixture */

typedef struct fspec {
    const char *path; /* components joined with '/' */
    uint64_t length;
    const char *attr; /* NULL: none */
} fspec;

typedef struct fixture {
    char *tmp;
    btt_metainfo *mi;
    uint8_t *data; /* the whole byte stream, pad regions zero */
} fixture;

static void fill_pseudo(uint8_t *p, size_t n, uint32_t seed)
{
    uint32_t x = seed * 2654435761u + 1;
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        p[i] = (uint8_t)(x >> 8);
    }
}

/* Builds and parses a torrent with correct piece hashes over pseudo-random data.
 * nfiles == 0: single-file torrent of files[0].length bytes named `name`. */
static btt_metainfo *make_torrent(const char *name, const fspec *files, size_t nfiles, uint32_t plen, uint32_t seed,
                                  uint8_t **data_out)
{
    uint64_t total = 0;
    size_t count = nfiles ? nfiles : 1;
    for (size_t i = 0; i < count; i++) total += files[i].length;
    uint8_t *data = malloc(total ? total : 1);
    assert_non_null(data);
    fill_pseudo(data, total, seed);
    uint64_t off = 0;
    for (size_t i = 0; i < count; i++) {
        if (files[i].attr && strchr(files[i].attr, 'p')) memset(data + off, 0, files[i].length);
        off += files[i].length;
    }
    uint32_t npieces = (uint32_t)btt_div_ceil_u64(total, plen);
    uint8_t *pieces = malloc((size_t)npieces * 20);
    assert_non_null(pieces);
    for (uint32_t i = 0; i < npieces; i++) {
        uint64_t start = (uint64_t)i * plen;
        uint64_t len = total - start < plen ? total - start : plen;
        btt_sha1(data + start, len, pieces + 20 * (size_t)i);
    }

    btt_buf b;
    btt_buf_init(&b, 64u << 20);
    OK(btt_benc_dict(&b));
    OK(btt_benc_cstr(&b, "info"));
    OK(btt_benc_dict(&b));
    if (nfiles) {
        OK(btt_benc_cstr(&b, "files"));
        OK(btt_benc_list(&b));
        for (size_t i = 0; i < nfiles; i++) {
            OK(btt_benc_dict(&b));
            if (files[i].attr) {
                OK(btt_benc_cstr(&b, "attr"));
                OK(btt_benc_cstr(&b, files[i].attr));
            }
            OK(btt_benc_cstr(&b, "length"));
            OK(btt_benc_int(&b, (int64_t)files[i].length));
            OK(btt_benc_cstr(&b, "path"));
            OK(btt_benc_list(&b));
            const char *p = files[i].path;
            for (;;) {
                const char *slash = strchr(p, '/');
                size_t n = slash ? (size_t)(slash - p) : strlen(p);
                OK(btt_benc_str(&b, p, n));
                if (!slash) break;
                p = slash + 1;
            }
            OK(btt_benc_end(&b));
            OK(btt_benc_end(&b));
        }
        OK(btt_benc_end(&b));
    } else {
        OK(btt_benc_cstr(&b, "length"));
        OK(btt_benc_int(&b, (int64_t)total));
    }
    OK(btt_benc_cstr(&b, "name"));
    OK(btt_benc_cstr(&b, name));
    OK(btt_benc_cstr(&b, "piece length"));
    OK(btt_benc_int(&b, plen));
    OK(btt_benc_cstr(&b, "pieces"));
    OK(btt_benc_str(&b, pieces, (size_t)npieces * 20));
    OK(btt_benc_end(&b));
    OK(btt_benc_end(&b));

    btt_metainfo *mi = NULL;
    btt_error err = {0};
    btt_err rc = btt_metainfo_parse(b.data, b.len, &mi, &err);
    if (rc != BTT_OK) fail_msg("fixture torrent rejected: %s", err.msg);
    assert_int_equal(mi->total_size, total);
    assert_int_equal(mi->num_pieces, npieces);
    btt_buf_free(&b);
    free(pieces);
    if (data_out)
        *data_out = data;
    else
        free(data);
    return mi;
}

static char *pathf(const char *f, ...)
{
    va_list ap;
    va_start(ap, f);
    char *s = NULL;
    assert_true(vasprintf(&s, f, ap) >= 0);
    va_end(ap);
    return s;
}

static int rm_cb(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    return remove(p);
}

static int setup(void **state)
{
    fixture *fx = calloc(1, sizeof *fx);
    if (!fx) return -1;
    char tmpl[] = "/tmp/btt-test-disk-XXXXXX";
    if (!mkdtemp(tmpl)) return -1;
    fx->tmp = strdup(tmpl);
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    fixture *fx = *state;
    if (!fx) return 0;
    btt_metainfo_free(fx->mi);
    free(fx->data);
    if (fx->tmp) nftw(fx->tmp, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
    free(fx->tmp);
    free(fx);
    return 0;
}

/* three files: f0 [0,10000) sub/f1 [10000,30000) f2 [30000,35000); 3 pieces of 16 KiB */
static const fspec THREE[] = {{"f0", 10000, NULL}, {"sub/f1", 20000, NULL}, {"f2", 5000, NULL}};

static btt_storage *open_st(fixture *fx, unsigned mode)
{
    btt_storage *st = NULL;
    btt_error err = {0};
    btt_err rc = btt_storage_open(fx->mi, fx->tmp, mode, &st, &err);
    if (rc != BTT_OK) fail_msg("storage_open: %s", err.msg);
    assert_non_null(st);
    return st;
}

static void write_all(fixture *fx)
{
    btt_storage *st = open_st(fx, BTT_STORAGE_WRITE);
    btt_error err = {0};
    btt_err rc = btt_storage_write(st, 0, fx->data, fx->mi->total_size, &err);
    if (rc != BTT_OK) fail_msg("write: %s", err.msg);
    OK(btt_storage_sync(st, &err));
    btt_storage_close(st);
}

static void read_file(const char *path, uint8_t **out, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) fail_msg("open %s: %s", path, strerror(errno));
    assert_int_equal(fseek(f, 0, SEEK_END), 0);
    long n = ftell(f);
    assert_true(n >= 0);
    rewind(f);
    *out = malloc((size_t)n + 1);
    assert_non_null(*out);
    assert_int_equal(fread(*out, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *len = (size_t)n;
}

static void patch_file(const char *path, off_t off, const void *p, size_t n)
{
    int fd = open(path, O_WRONLY);
    assert_true(fd >= 0);
    assert_int_equal(pwrite(fd, p, n, off), (ssize_t)n);
    close(fd);
}

/* ------------------------------------------------------------------ storage */

static void test_write_read_across_files(void **state)
{
    fixture *fx = *state;
    fx->mi = make_torrent("three", THREE, 3, 16384, 1, &fx->data);
    btt_storage *st = open_st(fx, BTT_STORAGE_WRITE);
    btt_error err = {0};

    /* one write spanning all three files, then the edges */
    OK(btt_storage_write(st, 5000, fx->data + 5000, 28000, &err));
    OK(btt_storage_write(st, 0, fx->data, 5000, &err));
    OK(btt_storage_write(st, 33000, fx->data + 33000, 2000, &err));
    OK(btt_storage_sync(st, &err));

    uint8_t *buf = malloc(35000);
    assert_non_null(buf);
    memset(buf, 0xee, 35000);
    OK(btt_storage_read(st, 0, buf, 35000, &err));
    assert_memory_equal(buf, fx->data, 35000);
    /* reads across each boundary */
    OK(btt_storage_read(st, 9990, buf, 20, &err));
    assert_memory_equal(buf, fx->data + 9990, 20);
    OK(btt_storage_read(st, 29999, buf, 2, &err));
    assert_memory_equal(buf, fx->data + 29999, 2);
    OK(btt_storage_read(st, 34999, buf, 1, &err));
    assert_int_equal(buf[0], fx->data[34999]);
    OK(btt_storage_read(st, 100, buf, 0, &err));

    /* past the end of the torrent */
    assert_int_not_equal(btt_storage_read(st, 34990, buf, 20, &err), BTT_OK);
    assert_int_not_equal(btt_storage_read(st, 35000, buf, 1, &err), BTT_OK);
    assert_int_not_equal(btt_storage_read(st, UINT64_MAX - 5, buf, 10, &err), BTT_OK);
    assert_int_not_equal(btt_storage_write(st, 34990, buf, 20, &err), BTT_OK);
    assert_int_not_equal(btt_storage_write(st, UINT64_MAX - 5, buf, 10, &err), BTT_OK);

    /* paths and stat */
    char *want = pathf("%s/three/sub/f1", fx->tmp);
    assert_string_equal(btt_storage_file_path(st, 1), want);
    free(want);
    uint64_t size = 0;
    int64_t mtime = 0;
    assert_true(btt_storage_file_stat(st, 1, &size, &mtime));
    assert_int_equal(size, 20000);
    struct stat sb;
    assert_int_equal(stat(btt_storage_file_path(st, 1), &sb), 0);
    assert_true(mtime == (int64_t)sb.st_mtim.tv_sec * 1000000000 + sb.st_mtim.tv_nsec);
    btt_storage_close(st);

    /* what is on disk, file by file */
    const char *names[] = {"f0", "sub/f1", "f2"};
    uint64_t off = 0;
    for (int i = 0; i < 3; i++) {
        char *p = pathf("%s/three/%s", fx->tmp, names[i]);
        uint8_t *content;
        size_t len;
        read_file(p, &content, &len);
        assert_int_equal(len, THREE[i].length);
        assert_memory_equal(content, fx->data + off, len);
        off += len;
        free(content);
        free(p);
    }

    /* a read-only storage reads the same and refuses to write */
    st = open_st(fx, BTT_STORAGE_READONLY);
    memset(buf, 0, 35000);
    OK(btt_storage_read(st, 0, buf, 35000, &err));
    assert_memory_equal(buf, fx->data, 35000);
    assert_int_not_equal(btt_storage_write(st, 0, fx->data, 10, &err), BTT_OK);
    btt_storage_close(st);
    free(buf);
}

static void test_single_file_layout(void **state)
{
    fixture *fx = *state;
    const fspec one[] = {{"ignored", 50000, NULL}};
    fx->mi = make_torrent("solo.bin", one, 0, 16384, 2, &fx->data);
    write_all(fx);
    char *p = pathf("%s/solo.bin", fx->tmp);
    uint8_t *content;
    size_t len;
    read_file(p, &content, &len);
    assert_int_equal(len, 50000);
    assert_memory_equal(content, fx->data, len);
    free(content);
    btt_storage *st = open_st(fx, BTT_STORAGE_READONLY);
    assert_string_equal(btt_storage_file_path(st, 0), p);
    btt_storage_close(st);
    free(p);
}

static void test_pad_files(void **state)
{
    fixture *fx = *state;
    const fspec files[] = {{"a", 1000, NULL}, {".pad/15384", 15384, "p"}, {"b", 20000, NULL}};
    fx->mi = make_torrent("padded", files, 3, 16384, 3, &fx->data);
    assert_true(fx->mi->files[1].attr & BTT_FILE_PAD);
    write_all(fx);

    btt_storage *st = open_st(fx, BTT_STORAGE_READONLY);
    btt_error err = {0};
    uint8_t *buf = malloc(36384);
    assert_non_null(buf);
    memset(buf, 0xaa, 36384);
    OK(btt_storage_read(st, 1000, buf, 15384, &err));
    for (size_t i = 0; i < 15384; i++)
        if (buf[i] != 0) fail_msg("pad byte %zu reads as 0x%02x", i, buf[i]);
    memset(buf, 0xaa, 36384);
    OK(btt_storage_read(st, 0, buf, 36384, &err));
    assert_memory_equal(buf, fx->data, 36384);

    /* the padding file does not exist on disk */
    struct stat sb;
    errno = 0;
    assert_int_equal(stat(btt_storage_file_path(st, 1), &sb), -1);
    assert_int_equal(errno, ENOENT);
    char *p = pathf("%s/padded/.pad/15384", fx->tmp);
    assert_int_equal(stat(p, &sb), -1);
    free(p);
    p = pathf("%s/padded/b", fx->tmp);
    assert_int_equal(stat(p, &sb), 0);
    assert_int_equal(sb.st_size, 20000);
    free(p);

    /* and pieces over it verify */
    btt_bitfield have;
    OK(btt_bitfield_init(&have, fx->mi->num_pieces));
    btt_scan_result res = {0};
    OK(btt_hash_scan(st, fx->mi, &have, NULL, &res, NULL, NULL, &err));
    assert_int_equal(res.good, fx->mi->num_pieces);
    assert_int_equal(res.missing, 0);
    btt_bitfield_free(&have);
    btt_storage_close(st);

    /* a storage over a directory holding only the real files still reads the pad as zeros
     * without ever needing the pad file, even from a region that starts inside it */
    st = open_st(fx, BTT_STORAGE_READONLY);
    memset(buf, 0xaa, 36384);
    OK(btt_storage_read(st, 16000, buf, 1000, &err));
    for (size_t i = 0; i < 384; i++) assert_int_equal(buf[i], 0);
    assert_memory_equal(buf + 384, fx->data + 16384, 616);
    btt_storage_close(st);
    free(buf);
}

static void test_missing_and_short_files(void **state)
{
    fixture *fx = *state;
    fx->mi = make_torrent("three", THREE, 3, 16384, 4, &fx->data);
    btt_error err = {0};
    uint8_t buf[2048];

    /* nothing on disk */
    btt_storage *st = open_st(fx, BTT_STORAGE_READONLY);
    assert_int_equal(btt_storage_read(st, 0, buf, 100, &err), BTT_ENOENT);
    assert_int_equal(err.code, BTT_ENOENT);
    assert_non_null(strstr(err.msg, "f0"));
    assert_int_equal(btt_storage_read(st, 20000, buf, 100, &err), BTT_ENOENT);
    assert_non_null(strstr(err.msg, "f1"));
    uint64_t size;
    int64_t mtime;
    assert_false(btt_storage_file_stat(st, 0, &size, &mtime));
    btt_storage_close(st);

    /* all there, then f2 cut short to 1000 of its 5000 bytes */
    write_all(fx);
    char *f2 = pathf("%s/three/f2", fx->tmp);
    assert_int_equal(truncate(f2, 1000), 0);
    st = open_st(fx, BTT_STORAGE_READONLY);
    OK(btt_storage_read(st, 30000, buf, 1000, &err)); /* what is there reads fine */
    assert_memory_equal(buf, fx->data + 30000, 1000);
    assert_int_equal(btt_storage_read(st, 30500, buf, 1000, &err), BTT_ENOENT); /* straddles the end */
    assert_non_null(strstr(err.msg, "f2"));
    assert_int_equal(btt_storage_read(st, 33000, buf, 100, &err), BTT_ENOENT);

    /* the hasher reports those pieces as missing, not bad */
    uint8_t per_piece[3] = {0xff, 0xff, 0xff};
    btt_bitfield have;
    OK(btt_bitfield_init(&have, 3));
    btt_scan_result res = {0};
    OK(btt_hash_scan(st, fx->mi, &have, per_piece, &res, NULL, NULL, &err));
    assert_int_equal(res.good, 1);
    assert_int_equal(res.missing, 2);
    assert_int_equal(res.bad, 0);
    assert_int_equal(per_piece[0], BTT_OK);
    assert_int_equal(per_piece[1], BTT_ENOENT);
    assert_int_equal(per_piece[2], BTT_ENOENT);
    assert_true(btt_bitfield_get(&have, 0));
    assert_int_equal(have.count, 1);
    btt_bitfield_free(&have);
    btt_storage_close(st);

    /* a removed middle file */
    char *f1 = pathf("%s/three/sub/f1", fx->tmp);
    assert_int_equal(unlink(f1), 0);
    st = open_st(fx, BTT_STORAGE_READONLY);
    assert_int_equal(btt_storage_read(st, 9000, buf, 2000, &err), BTT_ENOENT);
    btt_storage_close(st);
    free(f1);
    free(f2);
}

static void test_sparse(void **state)
{
    fixture *fx = *state;
    const uint64_t total = 64u << 20;
    const uint32_t plen = 1u << 20;
    const fspec one[] = {{"x", total, NULL}};
    fx->mi = make_torrent("sparse.bin", one, 0, plen, 5, &fx->data);

    btt_storage *st = open_st(fx, BTT_STORAGE_WRITE);
    btt_error err = {0};
    uint64_t last = total - plen;
    OK(btt_storage_write(st, last, fx->data + last, plen, &err));
    OK(btt_storage_sync(st, &err));
    btt_storage_close(st);

    char *p = pathf("%s/sparse.bin", fx->tmp);
    struct stat sb;
    assert_int_equal(stat(p, &sb), 0);
    assert_int_equal((uint64_t)sb.st_size, total);
    /* 1 MiB written: allocation must be far below 64 MiB */
    if ((uint64_t)sb.st_blocks * 512 > 4u << 20)
        fail_msg("not sparse: %lld bytes allocated for 1 MiB written", (long long)sb.st_blocks * 512);
    free(p);
}

static void test_storage_threads(void **state)
{
    /* several threads hitting the storage at once (the fd cache is shared) */
    fixture *fx = *state;
    const fspec files[] = {{"a", 300000, NULL}, {"b", 1, NULL}, {"c", 250000, NULL}, {"d/e", 70000, NULL}};
    fx->mi = make_torrent("mt", files, 4, 16384, 6, &fx->data);
    write_all(fx);
    btt_storage *st = open_st(fx, BTT_STORAGE_READONLY);
    for (int round = 0; round < 3; round++) {
        btt_bitfield have;
        OK(btt_bitfield_init(&have, fx->mi->num_pieces));
        btt_scan_result res = {0};
        btt_error err = {0};
        OK(btt_hash_scan(st, fx->mi, &have, NULL, &res, NULL, NULL, &err));
        assert_int_equal(res.good, fx->mi->num_pieces);
        btt_bitfield_free(&have);
    }
    btt_storage_close(st);
}

/* ------------------------------------------------------------------ resume */

static void full_have(const btt_metainfo *mi, btt_bitfield *have)
{
    OK(btt_bitfield_init(have, mi->num_pieces));
    btt_bitfield_set_all(have);
}

/* Loads resume data into a fresh `have`; recheck (may be NULL) is initialized here too. */
static btt_err load_resume_re(fixture *fx, const char *path, const btt_metainfo *mi, btt_bitfield *have,
                              btt_bitfield *recheck, btt_error *err)
{
    btt_storage *st = NULL;
    OK(btt_storage_open(mi, fx->tmp, BTT_STORAGE_READONLY, &st, err));
    OK(btt_bitfield_init(have, mi->num_pieces));
    if (recheck) OK(btt_bitfield_init(recheck, mi->num_pieces));
    memset(err, 0, sizeof *err);
    btt_err rc = btt_resume_load(path, mi, st, have, recheck, err);
    btt_storage_close(st);
    return rc;
}

static btt_err load_resume(fixture *fx, const char *path, const btt_metainfo *mi, btt_bitfield *have,
                           btt_error *err)
{
    return load_resume_re(fx, path, mi, have, NULL, err);
}

static void save_resume(fixture *fx, const char *path, const btt_bitfield *have)
{
    btt_storage *st = open_st(fx, BTT_STORAGE_READONLY);
    btt_error err = {0};
    btt_err rc = btt_resume_save(path, fx->mi, st, have, &err);
    if (rc != BTT_OK) fail_msg("resume save: %s", err.msg);
    btt_storage_close(st);
}

static void test_resume_round_trip(void **state)
{
    fixture *fx = *state;
    fx->mi = make_torrent("three", THREE, 3, 16384, 7, &fx->data);
    write_all(fx);
    char *dir = pathf("%s/res", fx->tmp);
    assert_int_equal(mkdir(dir, 0755), 0);
    char *path = pathf("%s/three.resume", dir);

    btt_bitfield have, got;
    btt_error err;
    /* no file yet */
    assert_int_equal(load_resume(fx, path, fx->mi, &got, &err), BTT_ENOENT);
    assert_int_equal(got.count, 0);
    btt_bitfield_free(&got);

    OK(btt_bitfield_init(&have, 3));
    btt_bitfield_set(&have, 0);
    btt_bitfield_set(&have, 2);
    save_resume(fx, path, &have);
    OK(load_resume(fx, path, fx->mi, &got, &err));
    assert_int_equal(got.count, 2);
    assert_true(btt_bitfield_get(&got, 0));
    assert_false(btt_bitfield_get(&got, 1));
    assert_true(btt_bitfield_get(&got, 2));
    btt_bitfield_free(&got);
    /* nothing changed on disk: nothing to recheck */
    btt_bitfield recheck;
    OK(load_resume_re(fx, path, fx->mi, &got, &recheck, &err));
    assert_int_equal(got.count, 2);
    assert_int_equal(recheck.count, 0);
    btt_bitfield_free(&recheck);
    btt_bitfield_free(&got);

    /* saving again replaces it; the write is atomic (no temporary file left behind) */
    btt_bitfield_set_all(&have);
    save_resume(fx, path, &have);
    OK(load_resume(fx, path, fx->mi, &got, &err));
    assert_true(btt_bitfield_full(&got));
    btt_bitfield_free(&got);
    DIR *d = opendir(dir);
    assert_non_null(d);
    int entries = 0;
    for (struct dirent *e; (e = readdir(d));)
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) entries++;
    closedir(d);
    assert_int_equal(entries, 1);

    /* the file is bencoded */
    uint8_t *content;
    size_t len;
    read_file(path, &content, &len);
    btt_ben_doc *doc = NULL;
    OK(btt_ben_decode(content, len, BTT_BEN_TOLERANT, NULL, &doc, &err));
    assert_int_equal(btt_ben_typeof(btt_ben_root(doc)), BTT_BEN_DICT);
    btt_ben_free(doc);
    free(content);

    btt_bitfield_free(&have);
    free(path);
    free(dir);
}

static void test_resume_invalidation(void **state)
{
    fixture *fx = *state;
    fx->mi = make_torrent("three", THREE, 3, 16384, 8, &fx->data);
    write_all(fx);
    char *path = pathf("%s/three.resume", fx->tmp);
    btt_bitfield have, got;
    btt_error err;
    full_have(fx->mi, &have);
    save_resume(fx, path, &have);

    /* f1 (pieces 0 and 1) modified: its mtime moves an hour back */
    char *f1 = pathf("%s/three/sub/f1", fx->tmp);
    struct timespec ts[2] = {{0, UTIME_OMIT}, {time(NULL) - 3600, 0}};
    assert_int_equal(utimensat(AT_FDCWD, f1, ts, 0), 0);
    OK(load_resume(fx, path, fx->mi, &got, &err));
    assert_false(btt_bitfield_get(&got, 0));
    assert_false(btt_bitfield_get(&got, 1));
    assert_true(btt_bitfield_get(&got, 2));
    assert_int_equal(got.count, 1);
    btt_bitfield_free(&got);
    /* the dropped pieces are offered for rechecking */
    btt_bitfield recheck;
    OK(load_resume_re(fx, path, fx->mi, &got, &recheck, &err));
    assert_int_equal(got.count, 1);
    assert_true(btt_bitfield_get(&got, 2));
    assert_int_equal(recheck.count, 2);
    assert_true(btt_bitfield_get(&recheck, 0));
    assert_true(btt_bitfield_get(&recheck, 1));
    btt_bitfield_free(&recheck);
    btt_bitfield_free(&got);

    /* a sub-second change counts too */
    save_resume(fx, path, &have);
    struct stat sb;
    assert_int_equal(stat(f1, &sb), 0);
    struct timespec ts2[2] = {{0, UTIME_OMIT}, sb.st_mtim};
    ts2[1].tv_nsec = (ts2[1].tv_nsec + 500000000) % 1000000000;
    assert_int_equal(utimensat(AT_FDCWD, f1, ts2, 0), 0);
    OK(load_resume(fx, path, fx->mi, &got, &err));
    assert_int_equal(got.count, 1);
    assert_true(btt_bitfield_get(&got, 2));
    btt_bitfield_free(&got);

    /* f0 (piece 0) truncated, keeping its mtime */
    save_resume(fx, path, &have);
    char *f0 = pathf("%s/three/f0", fx->tmp);
    assert_int_equal(stat(f0, &sb), 0);
    assert_int_equal(truncate(f0, 5000), 0);
    struct timespec keep[2] = {{0, UTIME_OMIT}, sb.st_mtim};
    assert_int_equal(utimensat(AT_FDCWD, f0, keep, 0), 0);
    OK(load_resume(fx, path, fx->mi, &got, &err));
    assert_false(btt_bitfield_get(&got, 0));
    assert_true(btt_bitfield_get(&got, 1));
    assert_true(btt_bitfield_get(&got, 2));
    btt_bitfield_free(&got);

    /* f2 (pieces 1 and 2) deleted */
    char *f2 = pathf("%s/three/f2", fx->tmp);
    assert_int_equal(unlink(f2), 0);
    OK(load_resume(fx, path, fx->mi, &got, &err));
    assert_int_equal(got.count, 0);
    btt_bitfield_free(&got);

    btt_bitfield_free(&have);
    free(f0);
    free(f1);
    free(f2);
    free(path);
}

static void test_resume_pad_and_empty(void **state)
{
    /* padding files never exist and empty files may not: neither costs any piece */
    fixture *fx = *state;
    const fspec files[] = {{"a", 1000, NULL}, {".pad/15384", 15384, "p"}, {"empty", 0, NULL}, {"b", 20000, NULL}};
    fx->mi = make_torrent("pe", files, 4, 16384, 14, &fx->data);
    write_all(fx);
    char *path = pathf("%s/pe.resume", fx->tmp);
    btt_bitfield have, got;
    btt_error err;
    full_have(fx->mi, &have);
    save_resume(fx, path, &have);
    OK(load_resume(fx, path, fx->mi, &got, &err));
    assert_int_equal(got.count, fx->mi->num_pieces);
    btt_bitfield_free(&got);

    /* touching b drops only b's pieces (1 and 2), not piece 0 that holds a and the pad */
    char *b = pathf("%s/pe/b", fx->tmp);
    struct timespec ts[2] = {{0, UTIME_OMIT}, {time(NULL) - 7200, 0}};
    assert_int_equal(utimensat(AT_FDCWD, b, ts, 0), 0);
    OK(load_resume(fx, path, fx->mi, &got, &err));
    assert_int_equal(got.count, 1);
    assert_true(btt_bitfield_get(&got, 0));
    btt_bitfield_free(&got);
    btt_bitfield_free(&have);
    free(b);
    free(path);
}

static void write_bytes(const char *path, const void *p, size_t n)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    if (n) assert_int_equal(fwrite(p, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
}

static void test_resume_rejected(void **state)
{
    fixture *fx = *state;
    fx->mi = make_torrent("three", THREE, 3, 16384, 9, &fx->data);
    write_all(fx);
    char *path = pathf("%s/three.resume", fx->tmp);
    btt_bitfield have, got;
    btt_error err;
    full_have(fx->mi, &have);
    save_resume(fx, path, &have);

    uint8_t *good;
    size_t len;
    read_file(path, &good, &len);
    assert_true(len > 10);

    /* cut in half */
    write_bytes(path, good, len / 2);
    assert_int_equal(load_resume(fx, path, fx->mi, &got, &err), BTT_ERESUME);
    assert_int_equal(got.count, 0);
    assert_true(strlen(err.msg) > 0);
    btt_bitfield_free(&got);

    /* garbage */
    write_bytes(path, "this is not a resume file", 25);
    assert_int_equal(load_resume(fx, path, fx->mi, &got, &err), BTT_ERESUME);
    assert_int_equal(got.count, 0);
    btt_bitfield_free(&got);

    /* empty file, empty dict, wrong type */
    write_bytes(path, "", 0);
    assert_int_equal(load_resume(fx, path, fx->mi, &got, &err), BTT_ERESUME);
    btt_bitfield_free(&got);
    write_bytes(path, "de", 2);
    assert_int_equal(load_resume(fx, path, fx->mi, &got, &err), BTT_ERESUME);
    assert_int_equal(got.count, 0);
    btt_bitfield_free(&got);
    write_bytes(path, "li1ee", 5);
    assert_int_equal(load_resume(fx, path, fx->mi, &got, &err), BTT_ERESUME);
    btt_bitfield_free(&got);

    /* every truncation of the good file is rejected, never trusted */
    for (size_t cut = 0; cut < len; cut += (len > 200 ? len / 100 : 1)) {
        write_bytes(path, good, cut);
        btt_err rc = load_resume(fx, path, fx->mi, &got, &err);
        if (rc != BTT_ERESUME) fail_msg("resume cut at %zu of %zu: %s", cut, len, btt_err_name(rc));
        assert_int_equal(got.count, 0);
        btt_bitfield_free(&got);
    }

    /* intact again: accepted */
    write_bytes(path, good, len);
    OK(load_resume(fx, path, fx->mi, &got, &err));
    assert_int_equal(got.count, 3);
    btt_bitfield_free(&got);

    /* for another torrent with the same layout (other name, other info-hash) */
    btt_metainfo *other = make_torrent("three", THREE, 3, 16384, 10, NULL);
    assert_memory_not_equal(other->info_hash, fx->mi->info_hash, 20);
    assert_int_equal(load_resume(fx, path, other, &got, &err), BTT_ERESUME);
    assert_int_equal(got.count, 0);
    btt_bitfield_free(&got);
    btt_metainfo_free(other);

    /* for a torrent with a different number of pieces */
    const fspec bigger[] = {{"f0", 10000, NULL}, {"sub/f1", 20000, NULL}, {"f2", 50000, NULL}};
    other = make_torrent("three", bigger, 3, 16384, 9, NULL);
    assert_int_equal(load_resume(fx, path, other, &got, &err), BTT_ERESUME);
    assert_int_equal(got.count, 0);
    btt_bitfield_free(&got);
    btt_metainfo_free(other);

    free(good);
    btt_bitfield_free(&have);
    free(path);
}

/* ------------------------------------------------------------------ hasher */

/* 100000 + 300000 + 50000 bytes, 28 pieces of 16 KiB */
static const fspec HFILES[] = {{"one.bin", 100000, NULL}, {"two/two.bin", 300000, NULL}, {"three.bin", 50000, NULL}};

typedef struct progress_rec {
    unsigned calls;
    uint32_t max_done, total;
} progress_rec;

static void on_progress(void *ud, uint32_t done, uint32_t total)
{
    progress_rec *p = ud;
    p->calls++;
    if (done > p->max_done) p->max_done = done;
    p->total = total;
}

static void test_hash_scan_corrupt(void **state)
{
    fixture *fx = *state;
    fx->mi = make_torrent("hashed", HFILES, 3, 16384, 11, &fx->data);
    const uint32_t n = fx->mi->num_pieces;
    assert_int_equal(n, 28);
    write_all(fx);

    btt_storage *st = open_st(fx, BTT_STORAGE_READONLY);
    btt_error err = {0};
    btt_bitfield have;
    OK(btt_bitfield_init(&have, n));
    uint8_t per_piece[28];
    memset(per_piece, 0xff, sizeof per_piece);
    btt_scan_result res = {0};
    progress_rec pr = {0};
    OK(btt_hash_scan(st, fx->mi, &have, per_piece, &res, on_progress, &pr, &err));
    assert_int_equal(res.good, n);
    assert_int_equal(res.bad + res.missing + res.io_errors, 0);
    assert_true(btt_bitfield_full(&have));
    for (uint32_t i = 0; i < n; i++) assert_int_equal(per_piece[i], BTT_OK);
    assert_true(pr.calls >= 1);
    assert_true(pr.max_done <= n);
    btt_bitfield_free(&have);
    btt_storage_close(st);

    /* flip one byte at stream offset 123456: file two.bin at 23456, piece 7 */
    const uint64_t at = 123456;
    const uint32_t bad_piece = (uint32_t)(at / 16384);
    assert_int_equal(bad_piece, 7);
    char *two = pathf("%s/hashed/two/two.bin", fx->tmp);
    uint8_t flipped = fx->data[at] ^ 0x01;
    patch_file(two, (off_t)(at - 100000), &flipped, 1);

    st = open_st(fx, BTT_STORAGE_READONLY);
    OK(btt_bitfield_init(&have, n));
    memset(per_piece, 0xff, sizeof per_piece);
    memset(&res, 0, sizeof res);
    OK(btt_hash_scan(st, fx->mi, &have, per_piece, &res, NULL, NULL, &err));
    assert_int_equal(res.bad, 1);
    assert_int_equal(res.good, n - 1);
    assert_int_equal(res.missing, 0);
    assert_int_equal(have.count, n - 1);
    for (uint32_t i = 0; i < n; i++) {
        assert_int_equal(per_piece[i], i == bad_piece ? BTT_EHASH : BTT_OK);
        assert_int_equal(btt_bitfield_get(&have, i), i != bad_piece);
    }
    btt_bitfield_free(&have);

    /* btt_hash_compute now differs from the torrent in exactly that piece, and matches a
     * per-piece btt_sha1 of what is on disk */
    uint8_t *out = malloc((size_t)n * 20);
    assert_non_null(out);
    OK(btt_hash_compute(st, fx->mi, out, NULL, NULL, &err));
    fx->data[at] = flipped;
    for (uint32_t i = 0; i < n; i++) {
        uint8_t md[20];
        btt_sha1(fx->data + (size_t)i * 16384, btt_metainfo_piece_size(fx->mi, i), md);
        assert_memory_equal(out + 20 * i, md, 20);
        if (i == bad_piece)
            assert_memory_not_equal(out + 20 * i, fx->mi->pieces + 20 * i, 20);
        else
            assert_memory_equal(out + 20 * i, fx->mi->pieces + 20 * i, 20);
    }
    free(out);
    btt_storage_close(st);
    free(two);
}

static void test_hash_compute(void **state)
{
    fixture *fx = *state;
    fx->mi = make_torrent("hashed", HFILES, 3, 16384, 12, &fx->data);
    const uint32_t n = fx->mi->num_pieces;
    btt_error err = {0};

    /* nothing on disk yet: the error names a file */
    btt_storage *st = open_st(fx, BTT_STORAGE_READONLY);
    uint8_t *out = malloc((size_t)n * 20);
    assert_non_null(out);
    btt_err rc = btt_hash_compute(st, fx->mi, out, NULL, NULL, &err);
    assert_int_equal(rc, BTT_ENOENT);
    assert_non_null(strstr(err.msg, ".bin"));
    btt_storage_close(st);

    write_all(fx);
    st = open_st(fx, BTT_STORAGE_READONLY);
    progress_rec pr = {0};
    memset(out, 0, (size_t)n * 20);
    OK(btt_hash_compute(st, fx->mi, out, on_progress, &pr, &err));
    for (uint32_t i = 0; i < n; i++) {
        uint8_t md[20];
        btt_sha1(fx->data + (size_t)i * 16384, btt_metainfo_piece_size(fx->mi, i), md);
        assert_memory_equal(out + 20 * i, md, 20);
    }
    assert_memory_equal(out, fx->mi->pieces, (size_t)n * 20);
    assert_true(pr.calls >= 1);
    assert_true(pr.max_done <= n);
    free(out);
    btt_storage_close(st);
}

typedef struct async_rec {
    int calls;
    uint32_t piece;
    btt_err result;
} async_rec;

static void on_hashed(void *ud, uint32_t piece, btt_err result)
{
    async_rec *r = ud;
    r->calls++;
    r->piece = piece;
    r->result = result;
}

static void test_hash_async(void **state)
{
    fixture *fx = *state;
    fx->mi = make_torrent("hashed", HFILES, 3, 16384, 13, &fx->data);
    btt_storage *st = open_st(fx, BTT_STORAGE_WRITE);
    btt_error err = {0};
    uv_loop_t loop;
    assert_int_equal(uv_loop_init(&loop), 0);

    /* a wrong piece is not written */
    const uint32_t p = 6; /* [98304, 114688): one.bin and two.bin */
    uint32_t psize = btt_metainfo_piece_size(fx->mi, p);
    uint8_t *buf = malloc(psize);
    assert_non_null(buf);
    memcpy(buf, fx->data + (size_t)p * 16384, psize);
    buf[100] ^= 0x80;
    async_rec r = {0};
    OK(btt_hash_write_async(&loop, st, fx->mi, p, buf, on_hashed, &r));
    assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(r.calls, 1);
    assert_int_equal(r.piece, p);
    assert_int_equal(r.result, BTT_EHASH);
    struct stat sb;
    assert_int_equal(stat(btt_storage_file_path(st, 0), &sb), -1);
    assert_int_equal(stat(btt_storage_file_path(st, 1), &sb), -1);

    /* the right one is */
    buf[100] ^= 0x80;
    memset(&r, 0, sizeof r);
    OK(btt_hash_write_async(&loop, st, fx->mi, p, buf, on_hashed, &r));
    assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(r.calls, 1);
    assert_int_equal(r.result, BTT_OK);
    memset(buf, 0, psize);
    OK(btt_storage_read(st, (uint64_t)p * 16384, buf, psize, &err));
    assert_memory_equal(buf, fx->data + (size_t)p * 16384, psize);

    /* the last (short) piece */
    const uint32_t last = fx->mi->num_pieces - 1;
    uint32_t lsize = btt_metainfo_piece_size(fx->mi, last);
    assert_int_equal(lsize, 450000 - 27 * 16384);
    memset(&r, 0, sizeof r);
    OK(btt_hash_write_async(&loop, st, fx->mi, last, fx->data + (size_t)last * 16384, on_hashed, &r));
    assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(r.result, BTT_OK);

    /* checks: written pieces match, a piece never written reads as zeros (sparse) and fails,
     * many checks in flight at once all report back */
    async_rec recs[28];
    memset(recs, 0, sizeof recs);
    for (uint32_t i = 0; i < fx->mi->num_pieces; i++)
        OK(btt_hash_check_async(&loop, st, fx->mi, i, on_hashed, &recs[i]));
    assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
    for (uint32_t i = 0; i < fx->mi->num_pieces; i++) {
        assert_int_equal(recs[i].calls, 1);
        assert_int_equal(recs[i].piece, i);
        if (i == p || i == last)
            assert_int_equal(recs[i].result, BTT_OK);
        else
            assert_int_not_equal(recs[i].result, BTT_OK);
    }

    assert_int_equal(uv_loop_close(&loop), 0);
    btt_storage_close(st);
    free(buf);
}

int main(void)
{
    btt_hasher_setup_threads();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_write_read_across_files, setup, teardown),
        cmocka_unit_test_setup_teardown(test_single_file_layout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pad_files, setup, teardown),
        cmocka_unit_test_setup_teardown(test_missing_and_short_files, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sparse, setup, teardown),
        cmocka_unit_test_setup_teardown(test_storage_threads, setup, teardown),
        cmocka_unit_test_setup_teardown(test_resume_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_resume_invalidation, setup, teardown),
        cmocka_unit_test_setup_teardown(test_resume_rejected, setup, teardown),
        cmocka_unit_test_setup_teardown(test_resume_pad_and_empty, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hash_scan_corrupt, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hash_compute, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hash_async, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
